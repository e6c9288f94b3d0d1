"""shiftkit.image without CLIP: ranking, banks, the cache, the interrogator, files, clusters, gallery."""

import html
import re

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import adjusted_rand_score

from image_fakes import COLORS, ColorEncoder, write_color_images
from shiftkit.image import (
    BUILTIN_BANKS,
    Interrogator,
    PhraseBank,
    bank_embeddings,
    builtin_bank,
    cluster_embeddings,
    cluster_images,
    contact_sheet,
    find_images,
    gallery_html,
    load_banks,
    load_rgb,
    read_clip_interrogator_folder,
    top_k,
)
from shiftkit.image._cache import cache_file, cache_key
from shiftkit.image._files import read_batches

# -- exact top-k ------------------------------------------------------------------------------------


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("block_rows", [1, 7, 64, 10_000])
def test_top_k_is_the_exact_sort_in_blocks(reverse, block_rows):
    g = torch.Generator().manual_seed(0)
    E = torch.nn.functional.normalize(torch.randn(500, 16, generator=g), dim=1)
    E[300] = E[10]  # an exact tie: the lower index first
    Q = torch.nn.functional.normalize(torch.randn(3, 16, generator=g), dim=1)
    sims, idx = top_k(Q, E, 20, reverse=reverse, block_rows=block_rows)
    S = (Q @ E.T).double()
    for q in range(3):
        key = [((s if reverse else -s), i) for i, s in enumerate(S[q].tolist())]
        expected = [i for _, i in sorted(key)[:20]]
        assert idx[q].tolist() == expected
        torch.testing.assert_close(sims[q].double(), S[q, expected])


def test_top_k_reverse_keeps_the_least_similar_across_blocks():
    """The reference's large-bank re-rank dropped reverse; here each block's worst survive the merge."""
    E = torch.eye(6)
    q = torch.tensor([6.0, 5, 4, 3, 2, 1]) / 10
    _, idx = top_k(q, E, 2, reverse=True, block_rows=2)
    assert idx.tolist() == [5, 4]


def test_top_k_checks_shapes_and_k():
    with pytest.raises(ValueError, match="do not match"):
        top_k(torch.ones(3), torch.ones(4, 2), 1)
    with pytest.raises(ValueError, match="k must be at least 1"):
        top_k(torch.ones(2), torch.ones(4, 2), 0)
    _sims, idx = top_k(torch.ones(2), torch.ones(4, 2), 10)
    assert idx.tolist() == [0, 1, 2, 3]


# -- banks ------------------------------------------------------------------------------------------


def test_builtin_banks_are_ours_and_distinct():
    banks = load_banks()
    assert list(banks) == list(BUILTIN_BANKS)
    assert len(banks["flavors"]) >= 300 and len(banks["mediums"]) >= 50
    for bank in banks.values():
        assert len(set(bank.phrases)) == len(bank.phrases) and all(p and p == p.strip() for p in bank.phrases)
        assert not any(p.startswith("#") for p in bank.phrases)
    sites = builtin_bank("sites").phrases
    assert (
        "artstation" in sites and "trending on artstation" in sites and "artstation contest winner" in sites
    )
    assert "by Claude Monet" in builtin_bank("artists").phrases


def test_bank_files_user_banks_and_errors(tmp_path):
    f = tmp_path / "colours.txt"
    f.write_text("# my colours\nred\n\n  green  \nred\nblue light\n", encoding="utf-8")
    bank = PhraseBank.from_file(f)
    assert bank.name == "colours" and bank.phrases == ("red", "green", "blue light")
    banks = load_banks(["mediums"], [f])
    assert list(banks) == ["mediums", "colours"]
    with pytest.raises(ValueError, match="unknown phrase bank 'paintings'"):
        load_banks(["paintings"])
    with pytest.raises(ValueError, match="does not exist"):
        PhraseBank.from_file(tmp_path / "missing.txt")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ValueError, match="not UTF-8"):
        PhraseBank.from_file(tmp_path / "bad.txt")
    with pytest.raises(ValueError, match="holds no phrases"):
        PhraseBank("empty", ["", "  "])
    with pytest.raises(ValueError, match="no phrase banks chosen"):
        load_banks([])


def test_clip_interrogator_folder(tmp_path):
    (tmp_path / "artists.txt").write_text("Ada Painter\nBo Sculptor\n")
    (tmp_path / "flavors.txt").write_text("highly detailed\nsharp focus\n")
    banks = read_clip_interrogator_folder(tmp_path)
    assert banks["artists"].phrases == (
        "by Ada Painter",
        "by Bo Sculptor",
        "in the style of Ada Painter",
        "in the style of Bo Sculptor",
    )
    assert banks["flavors"].phrases == ("highly detailed", "sharp focus")
    assert banks["sites"] == builtin_bank("sites")
    chosen = load_banks(["flavors", "mediums"], clip_interrogator_data=tmp_path)
    assert chosen["flavors"].phrases == ("highly detailed", "sharp focus")
    assert chosen["mediums"] == builtin_bank("mediums")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="has none of"):
        read_clip_interrogator_folder(empty)
    with pytest.raises(ValueError, match="is not a folder"):
        read_clip_interrogator_folder(tmp_path / "flavors.txt")


# -- the cache --------------------------------------------------------------------------------------


def test_cache_is_reused_only_for_the_same_model_and_bank(tmp_path):
    enc = ColorEncoder()
    bank = PhraseBank("colors", ["red", "green", "blue", "red and green"])
    first = bank_embeddings(enc, bank, tmp_path)
    assert enc.text_batches == [4]
    files = list(tmp_path.glob("*.safetensors"))
    assert len(files) == 1 and files[0] == cache_file(tmp_path, cache_key(enc, bank))
    again = bank_embeddings(enc, bank, tmp_path)
    assert enc.text_batches == [4] and torch.equal(first, again)  # read, not recomputed

    changed = PhraseBank("colors", ["red", "green", "blue", "red and blue"])
    bank_embeddings(enc, changed, tmp_path)
    assert enc.text_batches == [4, 4] and len(list(tmp_path.glob("*.safetensors"))) == 2

    other_model = ColorEncoder(name="color-encoder v2")
    bank_embeddings(other_model, bank, tmp_path)
    assert other_model.text_batches == [4]

    files[0].write_bytes(b"garbage")  # a damaged file is recomputed and replaced
    assert torch.equal(bank_embeddings(enc, bank, tmp_path), first)
    assert enc.text_batches == [4, 4, 4]
    from safetensors import safe_open

    with safe_open(str(files[0]), framework="pt") as f:
        assert f.metadata() == cache_key(enc, bank)


def test_a_cache_file_with_another_key_is_not_used(tmp_path):
    """Even under the expected file name, a file whose stored key differs is recomputed."""
    from safetensors.torch import save_file

    enc = ColorEncoder()
    bank = PhraseBank("colors", ["red", "green"])
    path = cache_file(tmp_path, cache_key(enc, bank))
    stale = dict(cache_key(enc, bank), encoder="something else")
    save_file({"embeddings": torch.zeros(2, 8)}, str(path), metadata=stale)
    E = bank_embeddings(enc, bank, tmp_path)
    assert enc.text_batches == [2] and torch.all(E.norm(dim=1) > 0.99)


def test_a_cache_file_with_the_right_key_but_bad_rows_is_recomputed(tmp_path):
    # issue 21, item 8: matching metadata with NaN or non-unit rows was used as it was
    from safetensors.torch import save_file

    enc = ColorEncoder()
    bank = PhraseBank("colors", ["red", "green"])
    path = cache_file(tmp_path, cache_key(enc, bank))
    for bad in (torch.full((2, 8), float("nan")), torch.ones(2, 8)):
        save_file({"embeddings": bad}, str(path), metadata=cache_key(enc, bank))
        E = bank_embeddings(enc, bank, tmp_path)
        assert torch.isfinite(E).all() and torch.allclose(E.norm(dim=1), torch.ones(2), atol=1e-5)
    assert enc.text_batches == [2, 2]


def test_a_weights_file_is_known_by_its_content(tmp_path):
    # issue 21, item 8: keyed on size and time, a same-size model copied with cp -p reused the old bank
    import os

    from shiftkit.image._encoders import _file_identity

    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"\x00" * 4096)
    b.write_bytes(b"\x01" * 4096)
    stamp = os.stat(a)
    os.utime(b, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert os.stat(b).st_size == stamp.st_size and os.stat(b).st_mtime_ns == stamp.st_mtime_ns
    first = _file_identity(a)
    assert _file_identity(b) != first
    a.write_bytes(b"\x01" * 4096)  # the same name, size and (below) time, other weights
    os.utime(a, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert _file_identity(a) != first  # read again (its change time moved)


# -- the interrogator -------------------------------------------------------------------------------


@pytest.fixture
def red_image():
    return Image.new("RGB", (16, 16), COLORS["red"])


def _banks():
    return {
        "mediums": PhraseBank("mediums", ["a photo", "a red painting", "a drawing"]),
        "flavors": PhraseBank(
            "flavors",
            [
                "red",
                "bright red",
                "green",
                "blue",
                "dark",
                "calm",
                "red and blue",
                "soft",
                "loud",
                "crisp",
                "warm red light",
            ],
        ),
        "negative": PhraseBank("negative", ["blurry", "green noise", "blue cast"]),
    }


def _reference_chain(enc, f, phrases, start, min_count, max_count, reverse=False):
    """clip-interrogator 0.6's chain, plainly: every candidate prompt of a step encoded at once."""
    sign = -1.0 if reverse else 1.0
    phrases = list(dict.fromkeys(phrases))
    if start:
        best, best_sim = start, sign * float(enc.encode_texts([start])[0] @ f)
    else:
        sims = sign * (enc.encode_texts(phrases) @ f)
        best = phrases[int(sims.argmax())]
        best_sim = float(sims.max())
        phrases.remove(best)
    cur, cur_sim = best, best_sim
    for idx in range(max_count):
        trials = [f"{cur}, {p}" for p in phrases]
        if not trials:
            break
        sims = sign * (enc.encode_texts(trials) @ f)
        j = int(sims.argmax())
        sim = float(sims[j])
        if sim > best_sim:
            best, best_sim = trials[j], sim
        if not (sim > cur_sim or idx < min_count):
            break
        cur, cur_sim = trials[j], sim
        phrases.pop(j)
    return best


def test_best_mode_chain_matches_the_plain_reference(red_image):
    enc = ColorEncoder()
    ci = Interrogator(enc, _banks(), cache_dir=None)
    f = ci.image_features([red_image])[0]
    result = ci.best(f, caption="a picture", min_flavors=2, max_flavors=6)
    pool = [r.phrase for r in ci.rank(f, k=ci.flavor_candidates)]
    chained = _reference_chain(enc, f, pool, "a picture", 2, 6)
    assert result.candidates["chain"] == pytest.approx(float(enc.encode_texts([chained])[0] @ f), abs=1e-6)
    assert result.similarity == pytest.approx(max(result.candidates.values()))
    assert set(result.candidates) == {"caption", "fast", "classic", "chain"}
    assert result.similarity == pytest.approx(float(enc.encode_texts([result.prompt])[0] @ f), abs=1e-6)
    assert "red" in result.prompt and result.caption_similarity == pytest.approx(result.candidates["caption"])


def test_negative_mode_chains_towards_the_least_similar(red_image):
    enc = ColorEncoder()
    ci = Interrogator(enc, _banks(), cache_dir=None)
    f = ci.image_features([red_image])[0]
    result = ci.negative(f, max_flavors=4)
    pool = [r.phrase for r in ci.rank(f, ["flavors"], k=ci.flavor_candidates, reverse=True)]
    pool += [r.phrase for r in ci.rank(f, ["negative"], k=3, reverse=True)]
    assert result.prompt == _reference_chain(enc, f, pool, None, 1, 4, reverse=True)
    assert "red" not in result.prompt and result.mode == "negative"
    assert result.similarity < min(r.similarity for r in ci.rank(f, ["flavors"], k=3))


def test_fast_and_classic_prompts(red_image):
    enc = ColorEncoder(context_length=12)
    ci = Interrogator(enc, _banks(), cache_dir=None)
    f = ci.image_features([red_image])[0]
    fast = ci.fast(f, caption="a thing", max_flavors=20)
    assert fast.prompt.startswith("a thing, ") and enc.count_tokens([fast.prompt])[0] <= 12
    tops = ci.rank(f, k=20)
    assert [t.phrase for t in fast.terms] == [t.phrase for t in tops[: len(fast.terms)]]
    assert all(
        t.similarity == pytest.approx(float(enc.encode_texts([t.phrase])[0] @ f), abs=1e-6)
        for t in fast.terms
    )
    classic = ci.classic(f, caption="a thing")
    assert classic.prompt.startswith("a thing, a red painting")  # the caption, then the best medium
    assert classic.caption_similarity == pytest.approx(float(enc.encode_texts(["a thing"])[0] @ f), abs=1e-6)


def test_the_chain_never_returns_a_prompt_longer_than_the_context(red_image):
    enc = ColorEncoder(context_length=9)
    ci = Interrogator(enc, _banks(), cache_dir=None)
    f = ci.image_features([red_image])[0]
    result = ci.best(f, caption="an image of", min_flavors=8, max_flavors=32)
    assert enc.count_tokens([result.prompt])[0] <= 9


def test_interrogate_batches_captions_and_errors(red_image):
    enc = ColorEncoder()
    ci = Interrogator(enc, _banks(), cache_dir=None)
    blue = Image.new("RGB", (8, 8), COLORS["blue"])
    results = ci.interrogate([red_image, blue], mode="fast", captions=["one", None], max_flavors=3)
    assert enc.image_batches == [2]
    assert results[0].prompt.startswith("one, ") and results[1].caption is None
    assert "blue" in results[1].terms[0].phrase and "red" in results[0].terms[0].phrase
    with pytest.raises(ValueError, match="mode must be one of"):
        ci.interrogate([red_image], mode="slow")
    with pytest.raises(ValueError, match="2 captions for 1 images"):
        ci.interrogate([red_image], captions=["a", "b"])
    with pytest.raises(TypeError, match=r"must satisfy shiftkit\.image\.Encoder"):
        Interrogator(object())
    with pytest.raises(ValueError, match="no phrase bank 'artists'"):
        ci.embeddings("artists")

    class Captions:
        def caption(self, images):
            return [f"caption {i}" for i in range(len(images))]

    ci.captioner = Captions()
    assert [r.caption for r in ci.interrogate([red_image, blue], mode="classic")] == [
        "caption 0",
        "caption 1",
    ]


# -- files ------------------------------------------------------------------------------------------


def test_find_images_recursive_and_hidden(tmp_path):
    truth = write_color_images(tmp_path, per_color=2)
    (tmp_path / ".hidden").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / ".hidden" / "x.png")
    (tmp_path / "notes.txt").write_text("not an image")
    assert [str(p) for p in find_images(tmp_path)] == sorted(truth)
    assert len(find_images(tmp_path, recursive=False)) == 3
    with pytest.raises(ValueError, match="neither an image file nor a folder"):
        find_images(tmp_path / "nope")


def test_alpha_is_flattened_on_white_and_broken_files_are_named(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (0, 0, 255, 255))
    rgba.save(tmp_path / "a.png")
    im = load_rgb(tmp_path / "a.png")
    assert im.mode == "RGB" and im.getpixel((1, 1)) == (255, 255, 255) and im.getpixel((0, 0)) == (0, 0, 255)
    pal = Image.new("P", (2, 2), 0)
    pal.putpalette([0, 255, 0] + [0] * 765)
    pal.save(tmp_path / "p.png", transparency=0)
    assert load_rgb(tmp_path / "p.png").getpixel((0, 0)) == (255, 255, 255)
    Image.new("LA", (2, 2), (10, 255)).save(tmp_path / "la.png")
    assert load_rgb(tmp_path / "la.png").getpixel((0, 0)) == (10, 10, 10)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "broken.jpg"))):
        load_rgb(tmp_path / "broken.jpg")
    paths = sorted(tmp_path.iterdir())
    batches = list(read_batches(paths, 2))
    read = [p for ok, _, _ in batches for p in ok]
    skipped = [s.path for _, _, bad in batches for s in bad]
    assert skipped == [tmp_path / "broken.jpg"] and len(read) == 3
    assert all(im.mode == "RGB" for _, ims, _ in batches for im in ims)


# -- clusters and the gallery -----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["meanshift", "kmeans"])
def test_cluster_images_finds_the_colours_and_names_them(tmp_path, method):
    truth = write_color_images(tmp_path)
    enc = ColorEncoder()
    namer = Interrogator(
        enc, {"colors": PhraseBank("colors", ["red", "green", "blue", "grey"])}, cache_dir=None
    )
    result = cluster_images(
        tmp_path,
        enc,
        interrogator=namer,
        method=method,
        n_clusters=3 if method == "kmeans" else None,
        batch_size=5,
    )
    assert enc.image_batches == [5, 5, 5, 3]
    y = [truth[str(p)] for p in result.paths]
    assert result.n_clusters == 3 and adjusted_rand_score(y, result.labels) == 1.0
    for k in range(3):
        colour = {y[i] for i in result.members(k)}
        assert len(colour) == 1 and result.names[k][0].phrase == colour.pop()
    assert np.all(result.similarity > 0.9) and np.all(result.similarity <= 1 + 1e-6)
    torch.testing.assert_close(result.centers.norm(dim=1), torch.ones(3))
    sims = result.similarity[result.members(0)]
    assert np.all(np.diff(sims) <= 0)  # nearest to the centre first


def test_cluster_embeddings_is_invariant_to_order_and_checks_input():
    g = torch.Generator().manual_seed(1)
    C = torch.nn.functional.normalize(torch.randn(4, 64, generator=g), dim=1)
    E = torch.nn.functional.normalize(
        C.repeat_interleave(30, 0) + 0.05 * torch.randn(120, 64, generator=g), dim=1
    )
    labels, _centers = cluster_embeddings(E)
    assert len(set(labels.tolist())) == 4
    perm = torch.randperm(120, generator=g)
    permuted, _ = cluster_embeddings(E[perm])
    assert adjusted_rand_score(labels[perm.numpy()], permuted) == 1.0
    with pytest.raises(ValueError, match="needs n_clusters"):
        cluster_embeddings(E, "kmeans")
    with pytest.raises(ValueError, match="between 1 and the 120 images"):
        cluster_embeddings(E, "kmeans", n_clusters=121)
    with pytest.raises(ValueError, match="method must be one of"):
        cluster_embeddings(E, "dbscan")
    with pytest.raises(ValueError, match="no embeddings"):
        cluster_embeddings(torch.empty(0, 0))
    one, _ = cluster_embeddings(E[:1])
    assert one.tolist() == [0]


def test_gallery_is_self_contained_and_contact_sheets_are_ordered(tmp_path):
    truth = write_color_images(tmp_path / "imgs", per_color=4)
    enc = ColorEncoder()
    namer = Interrogator(enc, {"colors": PhraseBank("colors", ["red", "green", "blue"])}, cache_dir=None)
    result = cluster_images(tmp_path / "imgs", enc, interrogator=namer)
    page = gallery_html(result, title="colours & <tests>", root=tmp_path / "imgs")
    assert page.startswith("<!DOCTYPE html>") and "colours &amp; &lt;tests&gt;" in page
    assert page.count('<img src="data:image/jpeg;base64,') == len(truth)
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing to fetch: opens with no server
    assert "<script" not in page
    for k in range(3):
        assert f"<h2>Cluster {k}: {html.escape(result.names[k][0].phrase)}" in page
    sheet = contact_sheet([result.paths[i] for i in result.members(0)], columns=2, size=20, gap=2)
    assert sheet.size == (2 * 22 + 2, 2 * 22 + 2)
    first = result.paths[result.members(0)[0]]
    expected = np.asarray(load_rgb(first).resize((20, 15)), dtype=float).mean((0, 1))
    got = np.asarray(sheet, dtype=float)[5:15, 4:20].mean((0, 1))
    assert np.abs(got - expected).max() < 25


def _sphere(sizes, noise, seed, d=512):
    rng = np.random.default_rng(seed)
    common = rng.normal(size=d)
    C = rng.normal(size=(len(sizes), d))
    C = 0.6 * common / np.linalg.norm(common) + 0.8 * C / np.linalg.norm(C, axis=1, keepdims=True)
    X = np.vstack([C[i] + rng.normal(size=(n, d)) * noise for i, n in enumerate(sizes)])
    return torch.tensor(X / np.linalg.norm(X, axis=1, keepdims=True)), np.repeat(np.arange(len(sizes)), sizes)


@pytest.mark.parametrize(
    ("sizes", "noise"),
    [([6, 6, 6], 0.032), ([50, 4, 50, 3, 30], 0.032), ([8] * 8, 0.03), ([20] * 50, 0.03)],
)
def test_small_collections_in_512_dimensions(sizes, noise):
    """Few images: few principal axes (16 axes of 18 images are mostly noise and merge the clusters).
    50 clusters of 20 images, apart in every layout: the mode seeking there with 20 neighbors joined them
    into 39 (`_spaces.LAYOUT_SEEK_NEIGHBORS`)."""
    E, y = _sphere(sizes, noise, seed=len(sizes))
    labels, _ = cluster_embeddings(E)
    if sizes == [50, 4, 50, 3, 30]:
        # the groups of 4 and 3 images are a coin flip of the layout: found by 4 of 8 seeds (0, 3, ..., 21)
        # of `_spaces.LAYOUT_SEED`, whether the layout's axes are snapped (`SnappedAxes`) or not; the three
        # large ones are found by every seed
        large = np.isin(y, [0, 2, 4])
        assert adjusted_rand_score(y[large], labels[large]) == 1.0
        assert all(len(set(labels[y == small].tolist())) == 1 for small in (1, 3))
    else:
        assert adjusted_rand_score(y, labels) > 0.95
    if sizes == [6, 6, 6]:
        merged, _ = cluster_embeddings(E, dims=16)
        assert len(set(merged.tolist())) == 1
    with pytest.raises(ValueError, match="dims must be 'auto', None or a non-negative integer"):
        cluster_embeddings(E, dims=-1)


def test_wide_grey_levels_are_scaled_not_clipped(tmp_path):
    """Pillow's convert('RGB') clips 16-bit levels (almost all white) and [0, 1] floats; load_rgb scales."""
    ramp16 = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65,520
    Image.fromarray(ramp16).save(tmp_path / "deep.png")
    assert (np.asarray(Image.open(tmp_path / "deep.png").convert("RGB")) == 255).mean() > 0.99  # clipped
    deep = np.asarray(load_rgb(tmp_path / "deep.png"))[..., 0].astype(int)
    np.testing.assert_array_equal(deep, np.round(ramp16 / 257).astype(int))
    unit = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    Image.fromarray(unit).save(tmp_path / "unit.tif")
    got = np.asarray(load_rgb(tmp_path / "unit.tif"))
    assert got.shape == (32, 32, 3) and got[0, 0, 0] == 0 and got[-1, -1, 0] == 255
    np.testing.assert_array_equal(got[..., 0], np.round(unit.astype(np.float64) * 255).astype(np.uint8))
    wide = np.linspace(-5, 5, 16 * 16, dtype=np.float32).reshape(16, 16)
    Image.fromarray(wide).save(tmp_path / "wide.tif")
    got = np.asarray(load_rgb(tmp_path / "wide.tif"))[..., 0]
    assert got.min() == 0 and got.max() == 255 and np.all(np.diff(got.ravel().astype(int)) >= 0)


def test_the_gallery_shows_at_most_max_per_cluster(tmp_path):
    write_color_images(tmp_path / "imgs", per_color=6)
    enc = ColorEncoder()
    namer = Interrogator(enc, {"colors": PhraseBank("colors", ["red", "green", "blue"])}, cache_dir=None)
    result = cluster_images(tmp_path / "imgs", enc, interrogator=namer)
    page = gallery_html(result, max_per_cluster=2)
    assert (
        page.count("data:image/jpeg;base64,") == 6
        and page.count("... and 4 more, farther from the centre") == 3
    )
    assert gallery_html(result, max_per_cluster=None).count("data:image/jpeg;base64,") == 18


def test_exif_orientation_is_applied(tmp_path):
    # issue 21, item 9: phone photos were embedded and shown sideways (40 x 20 instead of 20 x 40)
    from PIL import Image

    from shiftkit.image import load_rgb

    im = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees to display
    im.save(tmp_path / "phone.jpg", exif=exif)
    assert load_rgb(tmp_path / "phone.jpg").size == (20, 40)


def test_links_out_of_the_folder_are_not_followed(tmp_path):
    # issue 21, item 12: a link to a file outside the folder ended up as a thumbnail in a shareable gallery
    from PIL import Image

    from shiftkit.image import find_images
    from shiftkit.image._files import links_out_of

    folder, elsewhere = tmp_path / "photos", tmp_path / "private"
    folder.mkdir()
    elsewhere.mkdir()
    for path in (folder / "a.png", elsewhere / "secret.png"):
        Image.new("RGB", (8, 8)).save(path)
    (folder / "secret.png").symlink_to(elsewhere / "secret.png")
    (folder / "again.png").symlink_to(folder / "a.png")  # inside the folder: kept
    (folder / "sub").symlink_to(elsewhere, target_is_directory=True)
    assert find_images(folder) == [folder / "a.png", folder / "again.png"]
    links = links_out_of(folder)  # (a linked folder is walked by some Pythons' rglob, not by others)
    assert folder / "secret.png" in links
    assert set(links) <= {folder / "secret.png", folder / "sub" / "secret.png"}
    assert set(find_images(folder, follow_symlinks=True)) == {folder / "a.png", folder / "again.png", *links}


def test_large_images_are_reduced_as_they_are_decoded(tmp_path):
    # issue 21, item 13: twelve one-bit PNGs of 9,400 x 9,400 (220 KB) held 4.8 GB as full RGB decodes
    from shiftkit.image import load_rgb
    from shiftkit.image._files import MAX_SIDE

    bits = Image.fromarray(np.random.default_rng(0).random((3000, 2000)) > 0.5).convert("1")
    bits.save(tmp_path / "bits.png")
    Image.new("RGB", (4000, 3000), (10, 200, 30)).save(tmp_path / "photo.jpg")
    small = load_rgb(tmp_path / "bits.png")
    assert small.mode == "RGB" and small.size == (round(MAX_SIDE * 2 / 3), MAX_SIDE)
    assert 100 < np.asarray(small).mean() < 155  # half the pixels white: grey on average, not aliased
    photo = load_rgb(tmp_path / "photo.jpg")
    assert photo.size == (MAX_SIDE, 768) and np.asarray(photo)[0, 0, 1] > 190
    assert load_rgb(tmp_path / "photo.jpg", max_side=None).size == (4000, 3000)


def test_contact_sheets_are_capped_as_the_gallery_is(tmp_path):
    # issue 21, item 23: a 5,000-image cluster made an 87-megapixel PNG
    from PIL import Image as PILImage

    from shiftkit.image import ImageClusters, write_contact_sheets

    paths = []
    for i in range(230):
        path = tmp_path / f"im{i:03d}.png"
        PILImage.new("RGB", (12, 12), (i, 255 - i, 0)).save(path)
        paths.append(path)
    labels = np.zeros(230, dtype=np.int64)
    labels[-5:] = 1
    similarity = np.linspace(1.0, 0.5, 230)
    result = ImageClusters(paths, torch.zeros(230, 4), labels, torch.zeros(2, 4), similarity)
    out = tmp_path / "sheets"
    out.mkdir()
    assert write_contact_sheets(result, out, columns=10, size=16) == ["cluster-0.png", "cluster-1.png"]
    with PILImage.open(out / "cluster-0.png") as big, PILImage.open(out / "cluster-1.png") as small:
        assert big.size == (10 * 20 + 4, 20 * 20 + 4)  # 200 thumbnails of the 225: ten columns, twenty rows
        assert small.size == (5 * 20 + 4, 1 * 20 + 4)
        # the nearest to the centre first: the first thumbnail is the first image's colour
        assert big.convert("RGB").getpixel((4 + 8, 4 + 8)) == (0, 255, 0)
    write_contact_sheets(result, out, columns=10, size=16, max_per_cluster=None)
    with PILImage.open(out / "cluster-0.png") as every:
        assert every.size == (10 * 20 + 4, 23 * 20 + 4)
