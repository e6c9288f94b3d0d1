"""OpenCLIPEncoder on a tiny randomly initialised open_clip model: the real loading and tokenising path.

No test downloads anything: the network functions open_clip would use are
replaced by ones that fail the test if called.
"""

import numpy as np
import pytest
import torch
from PIL import Image

from image_fakes import TINY_CLIP_CONFIG, write_tiny_clip
from shiftkit.image import Interrogator, OpenCLIPEncoder, PhraseBank
from shiftkit.image._encoders import import_open_clip, resolve_pretrained

open_clip = import_open_clip()


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return write_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to download")

    import huggingface_hub
    import open_clip.pretrained as pretrained

    monkeypatch.setattr(pretrained, "hf_hub_download", refuse)
    monkeypatch.setattr(pretrained, "download_pretrained_from_url", refuse)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    return [Image.fromarray((rng.random((20 + i, 30, 3)) * 255).astype("uint8")) for i in range(n)]


def test_local_dir_matches_plain_open_clip(tiny_dir):
    enc = OpenCLIPEncoder(f"local-dir:{tiny_dir}", device="cpu")
    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{tiny_dir}")
    model.eval()
    tokenizer = open_clip.get_tokenizer(f"local-dir:{tiny_dir}")
    texts = ["a photo of a cat", "an oil painting", "a"]
    with torch.no_grad():
        T = model.encode_text(tokenizer(texts))
        images = _images(3)
        image_rows = model.encode_image(torch.stack([preprocess(im) for im in images]))
    torch.testing.assert_close(enc.encode_texts(texts), T / T.norm(dim=1, keepdim=True))
    torch.testing.assert_close(
        enc.encode_images(images), image_rows / image_rows.norm(dim=1, keepdim=True), atol=1e-6, rtol=1e-5
    )
    assert enc.context_length == 77 and enc.embedding_dim == TINY_CLIP_CONFIG["embed_dim"]
    assert enc.count_tokens(["a photo of a cat"]) == [int((tokenizer(["a photo of a cat"])[0] != 0).sum())]
    assert enc.name.startswith(f"open_clip {open_clip.__version__} local-dir:")


def test_batches_follow_the_memory_budget_and_change_nothing(tiny_dir):
    big = OpenCLIPEncoder(f"local-dir:{tiny_dir}", device="cpu")
    small = OpenCLIPEncoder(f"local-dir:{tiny_dir}", device="cpu", memory_budget=small_budget(big, 7))
    seen = []
    original = small.model.encode_text

    def spy(tokens):
        seen.append(tokens.shape[0])
        return original(tokens)

    small.model.encode_text = spy
    texts = [f"phrase number {i}" for i in range(30)]
    torch.testing.assert_close(small.encode_texts(texts), big.encode_texts(texts))
    assert max(seen) == 7 and sum(seen) == 30


def small_budget(enc, items):
    return enc._text_bytes * items


@pytest.mark.slow
def test_the_chain_is_bounded_by_the_budget_on_a_large_bank(tiny_dir):
    """clip-interrogator encodes a chain step's 2,048 candidates in one batch; here the budget caps it."""
    probe = OpenCLIPEncoder(f"local-dir:{tiny_dir}", device="cpu")
    enc = OpenCLIPEncoder(f"local-dir:{tiny_dir}", device="cpu", memory_budget=small_budget(probe, 64))
    seen = []
    original = enc.model.encode_text
    enc.model.encode_text = lambda tokens: seen.append(tokens.shape[0]) or original(tokens)
    bank = PhraseBank("flavors", [f"flavour {i}" for i in range(2048)])
    ci = Interrogator(enc, {"flavors": bank}, cache_dir=None, flavor_candidates=2048)
    f = enc.encode_images(_images(1))[0]
    result = ci.best(f, caption="a picture", min_flavors=1, max_flavors=2)
    assert max(seen) <= 64 and sum(seen) > 2 * 2047  # two chain steps of ~2,047 candidates each
    assert result.similarity == pytest.approx(ci.similarity(f, [result.prompt])[0], abs=1e-6)


def test_weights_file_with_a_registered_config_and_quick_gelu(tiny_dir, tmp_path):
    import json

    (tmp_path / "Tiny-Test.json").write_text(json.dumps(TINY_CLIP_CONFIG))
    open_clip.add_model_config(tmp_path / "Tiny-Test.json")
    weights = tiny_dir / "open_clip_model.safetensors"
    plain = OpenCLIPEncoder("Tiny-Test", weights=weights, device="cpu")
    quick = OpenCLIPEncoder("Tiny-Test", weights=weights, quick_gelu=True, device="cpu")
    assert type(plain.model.transformer.resblocks[0].mlp.gelu).__name__ == "GELU"
    assert type(quick.model.transformer.resblocks[0].mlp.gelu).__name__ == "QuickGELU"
    local = OpenCLIPEncoder(f"local-dir:{tiny_dir}", device="cpu")
    torch.testing.assert_close(plain.encode_texts(["a dog"]), local.encode_texts(["a dog"]))
    assert not torch.allclose(quick.encode_texts(["a dog"]), plain.encode_texts(["a dog"]))
    assert "quickgelu" in quick.name and plain.name != quick.name


def _fake_hf_cache(root, repo_id, filename, source):
    folder = root / ("models--" + repo_id.replace("/", "--"))
    snapshot = folder / "snapshots" / "0123456789abcdef"
    snapshot.mkdir(parents=True)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text("0123456789abcdef")
    (snapshot / filename).write_bytes(source.read_bytes())
    return snapshot / filename


def test_a_tag_resolves_to_the_local_cache_and_builds_quick_gelu(tiny_dir, tmp_path, monkeypatch):
    """A tag marked quick_gelu (as OpenAI's are) builds QuickGELU from a plain model name, offline."""
    import json

    import open_clip.pretrained as pretrained

    (tmp_path / "Tiny-Tag.json").write_text(json.dumps(TINY_CLIP_CONFIG))
    open_clip.add_model_config(tmp_path / "Tiny-Tag.json")
    cfg = {
        "url": "",
        "hf_hub": "shiftkit-test/tiny-clip/",
        "quick_gelu": True,
        "mean": (0.5, 0.5, 0.5),
        "std": (0.25, 0.25, 0.25),
    }
    monkeypatch.setitem(pretrained._PRETRAINED, "Tiny-Tag", {"fake": cfg})
    cache = tmp_path / "hf"
    with pytest.raises(ValueError, match=r"not on this machine.*allow downloads"):
        OpenCLIPEncoder("Tiny-Tag", "fake", cache_dir=cache, device="cpu", allow_download=False)
    path = _fake_hf_cache(
        cache,
        "shiftkit-test/tiny-clip",
        "open_clip_model.safetensors",
        tiny_dir / "open_clip_model.safetensors",
    )
    local, found = resolve_pretrained("Tiny-Tag", "fake", str(cache))
    assert local == str(path) and found["quick_gelu"]
    enc = OpenCLIPEncoder("Tiny-Tag", "fake", cache_dir=cache, device="cpu")
    assert type(enc.model.transformer.resblocks[0].mlp.gelu).__name__ == "QuickGELU"
    normalize = next(t for t in enc.preprocess.transforms if type(t).__name__ == "Normalize")
    assert tuple(normalize.mean) == (0.5, 0.5, 0.5) and tuple(normalize.std) == (0.25, 0.25, 0.25)
    assert enc.name.endswith("Tiny-Tag/fake quickgelu")
    # a tag with a URL: the file where open_clip's URL download (or OpenAI's clip package) puts it
    url_cfg = {
        "url": "https://example.invalid/tiny/tiny-tag.pt",
        "hf_hub": "shiftkit-test/absent/",
        "quick_gelu": True,
    }
    monkeypatch.setitem(pretrained._PRETRAINED, "Tiny-Tag", {"fake": cfg, "url": url_cfg})
    (tmp_path / "clip").mkdir()
    (tmp_path / "clip" / "tiny-tag.pt").write_bytes((tiny_dir / "open_clip_model.safetensors").read_bytes())
    local, _ = resolve_pretrained("Tiny-Tag", "url", str(tmp_path / "clip"))
    assert local == str(tmp_path / "clip" / "tiny-tag.pt")


def test_refusals_are_one_clear_line(tiny_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("SHIFTKIT_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(ValueError, match="no pretrained tag 'nope'"):
        OpenCLIPEncoder("ViT-B-32", "nope")
    with pytest.raises(ValueError, match="not on this machine"):
        OpenCLIPEncoder("ViT-B-32-quickgelu", "openai", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="Hugging Face hub; allow downloads"):
        OpenCLIPEncoder("hf-hub:someone/some-clip")
    with pytest.raises(ValueError, match=r"no open_clip_config\.json"):
        OpenCLIPEncoder(f"local-dir:{tmp_path}")
    with pytest.raises(ValueError, match=r"weights file .* does not exist"):
        OpenCLIPEncoder("ViT-B-32", weights=tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="no random weights"):
        OpenCLIPEncoder("ViT-B-32", None)
    with pytest.raises(ValueError, match="memory_budget must be a positive"):
        OpenCLIPEncoder(f"local-dir:{tiny_dir}", memory_budget=0)
    monkeypatch.setenv("SHIFTKIT_ALLOW_DOWNLOAD", "1")
    import socket
    import time

    with socket.socket() as server:  # a host that answers: open_clip does try (refused here)
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        with pytest.raises(RuntimeError, match="tried to download"):
            OpenCLIPEncoder("ViT-B-32-quickgelu", "openai", cache_dir=tmp_path)
        closed = server.getsockname()[1]
    # no network (a port nobody listens on): one line at once, not a minute of retries (issue 22)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed}")
    start = time.perf_counter()
    with pytest.raises(
        ValueError,
        match=rf"cannot download the weights of ViT-B-32-quickgelu/openai: 127\.0\.0\.1:{closed} "
        r"cannot be reached .*--weights-dir",
    ):
        OpenCLIPEncoder("ViT-B-32-quickgelu", "openai", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="cannot download hf-hub:someone/some-clip"):
        OpenCLIPEncoder("hf-hub:someone/some-clip")
    assert time.perf_counter() - start < 10
