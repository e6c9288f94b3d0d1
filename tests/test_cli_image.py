"""``shiftkit interrogate`` and ``shiftkit cluster-images`` on a tiny random open_clip model (no download)."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from image_fakes import CHROMIUM, screenshot, write_color_images, write_tiny_clip
from shiftkit.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return f"local-dir:{write_tiny_clip(tmp_path_factory.mktemp('tiny-clip'))}"


@pytest.fixture
def folder(tmp_path):
    """18 coloured PNGs (half in sub/), an RGBA image and a broken JPEG."""
    images = tmp_path / "images"
    write_color_images(images)
    rgba = Image.new("RGBA", (20, 20), (0, 0, 255, 0))
    rgba.putpixel((3, 3), (255, 0, 0, 255))
    rgba.save(images / "clear.png")
    (images / "broken.jpg").write_bytes(b"not a jpeg at all")
    return images


def _common(tiny_model, tmp_path):
    return ["--model", tiny_model, "--cache-dir", str(tmp_path / "cache")]


def _kmeans_gallery(folder, out, k, common):
    return runner.invoke(app, ["cluster-images", str(folder), "--out", str(out), "--method", "kmeans",
                               "--n-clusters", str(k), *common])  # fmt: skip


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_interrogate_a_folder_skips_the_broken_image_and_writes_sidecars(tiny_model, folder, tmp_path):
    out = tmp_path / "out" / "prompts.csv"
    args = [
        "interrogate",
        str(folder),
        "--out",
        str(out),
        "--mode",
        "fast",
        "--sidecar",
        "--caption",
        "a square",
    ]
    args += _common(tiny_model, tmp_path)
    result = runner.invoke(app, [*args, "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    assert f"skipped: cannot read image '{folder / 'broken.jpg'}'" in result.output
    assert "19 images interrogated (fast" in result.output and "1 skipped" in result.output
    rows = _rows(out)
    assert len(rows) == 19 and {r["path"] for r in rows} == {str(p) for p in folder.rglob("*.png")}
    for r in rows:
        assert r["prompt"].startswith("a square, ") and r["mode"] == "fast" and r["caption"] == "a square"
        assert -1 <= float(r["similarity"]) <= 1 and -1 <= float(r["caption_similarity"]) <= 1
        assert Path(r["path"]).with_suffix(".txt").read_text() == r["prompt"] + "\n"
    assert list((tmp_path / "cache").glob("*.safetensors"))  # bank embeddings cached

    # issue 21, items 19-20: an IMAGE.txt shiftkit did not write (hand-written captions) was overwritten
    again = runner.invoke(app, args)  # every sidecar holds the prompt --out records: shiftkit's own
    assert again.exit_code == 0, again.output
    mine = Path(rows[0]["path"]).with_suffix(".txt")
    mine.write_text("my own caption\n")
    refused = runner.invoke(app, args)
    assert refused.exit_code == 1 and f"{mine} exists and shiftkit did not write it" in refused.output
    assert "--overwrite" in refused.output and mine.read_text() == "my own caption\n"
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0
    assert mine.read_text() == rows[0]["prompt"] + "\n"
    folder_out = runner.invoke(
        app, ["interrogate", str(folder), "--out", str(tmp_path), *_common(tiny_model, tmp_path)]
    )
    assert folder_out.exit_code == 1 and "is a folder" in folder_out.output


@pytest.mark.parametrize("mode", ["best", "classic", "negative"])
def test_interrogate_one_image_in_each_mode(tiny_model, folder, tmp_path, mode):
    out = tmp_path / f"{mode}.csv"
    image = folder / "red0.png"
    result = runner.invoke(
        app,
        [
            "interrogate",
            str(image),
            "--out",
            str(out),
            "--mode",
            mode,
            "--banks",
            "mediums,negative",
            "--max-flavors",
            "3",
            *_common(tiny_model, tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    (row,) = _rows(out)
    assert row["mode"] == mode and row["prompt"] and f"prompt: {row['prompt']}" in result.output


def test_interrogate_errors_are_one_line(tiny_model, folder, tmp_path, monkeypatch):
    common = _common(tiny_model, tmp_path)
    bad = runner.invoke(app, ["interrogate", str(folder), "--out", str(folder / "red0.png"), *common])
    assert bad.exit_code == 1 and "is one of the input images" in bad.output
    broken_only = tmp_path / "broken"
    broken_only.mkdir()
    (broken_only / "x.png").write_bytes(b"nope")
    bad = runner.invoke(app, ["interrogate", str(broken_only), "--out", str(tmp_path / "x.csv"), *common])
    assert bad.exit_code == 1 and "none of the 1 images could be read" in bad.output
    assert not (tmp_path / "x.csv").exists()
    bad = runner.invoke(app, ["interrogate", str(folder), "--mode", "slow", *common])
    assert bad.exit_code == 1 and "--mode must be one of" in bad.output
    Image.new("RGB", (4, 4)).save(folder / "red0.jpg")
    bad = runner.invoke(app, ["interrogate", str(folder), "--sidecar", *common])
    assert bad.exit_code == 1 and "share the sidecar" in bad.output
    monkeypatch.delenv("SHIFTKIT_ALLOW_DOWNLOAD", raising=False)
    bad = runner.invoke(app, ["interrogate", str(folder), "--weights-dir", str(tmp_path / "none")])
    assert bad.exit_code == 1 and "not on this machine" in bad.output
    assert len([ln for ln in bad.output.splitlines() if ln.strip()]) == 1


def test_cluster_images_writes_the_set_and_replaces_it(tiny_model, folder, tmp_path):
    out = folder / "gallery"  # inside the input folder: its own outputs are never read as input
    common = _common(tiny_model, tmp_path)
    result = _kmeans_gallery(folder, out, 3, common)
    assert result.exit_code == 0, result.output
    rows = _rows(out / "clusters.csv")
    assert len(rows) == 19 and {int(r["cluster"]) for r in rows} == {0, 1, 2}
    summary = json.loads((out / "clusters.json").read_text())
    assert [c["size"] for c in summary["clusters"]] == sorted(
        (c["size"] for c in summary["clusters"]), reverse=True
    )
    assert sum(c["size"] for c in summary["clusters"]) == 19 and len(summary["skipped"]) == 1
    assert all(len(c["name"]) == 5 for c in summary["clusters"])
    assert sorted(p.name for p in out.glob("cluster-*.png")) == [
        "cluster-0.png",
        "cluster-1.png",
        "cluster-2.png",
    ]
    page = (out / "index.html").read_text()
    assert page.count("data:image/jpeg;base64,") == 19 and "Skipped (1)" in page

    (out / "cluster-notes.png").write_bytes(b"the user's")  # issue 21, item 21: it was deleted
    again = _kmeans_gallery(folder, out, 2, common)
    assert again.exit_code == 0, again.output
    assert "19 images in 2 clusters" in again.output  # the gallery's own PNGs were not read
    sheets = ["cluster-0.png", "cluster-1.png", "cluster-notes.png"]
    assert sorted(p.name for p in out.glob("cluster-*.png")) == sheets  # the third sheet went, not the user's
    assert (out / "cluster-notes.png").read_bytes() == b"the user's"
    assert not list(out.glob(".shiftkit-*"))


def test_cluster_images_option_errors(tiny_model, folder, tmp_path):
    common = _common(tiny_model, tmp_path)
    for args, message in [
        (["--method", "kmeans"], "--method kmeans needs --n-clusters"),
        (["--n-clusters", "3"], "--n-clusters is for --method kmeans"),
        (["--method", "dbscan"], "--method must be meanshift or kmeans"),
        (["--bandwidth", "-1"], "bandwidth"),
    ]:
        bad = runner.invoke(
            app, ["cluster-images", str(folder), "--out", str(tmp_path / "o"), *args, *common]
        )
        assert bad.exit_code == 1 and message in bad.output, bad.output
    bad = runner.invoke(app, ["cluster-images", str(folder / "red0.png"), *common])
    assert bad.exit_code == 1 and "is not a folder" in bad.output


@pytest.mark.slow
def test_cluster_images_as_a_real_command(tiny_model, folder, tmp_path):
    exe = Path(sys.executable).with_name("shiftkit")
    out = tmp_path / "real"
    proc = subprocess.run(
        [str(exe), "cluster-images", str(folder), "--out", str(out), *_common(tiny_model, tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "skipped: cannot read image" in proc.stderr and "19 images in" in proc.stdout
    assert (out / "index.html").is_file()


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium (Debian's chromium package) is not installed")
def test_the_gallery_renders_in_headless_chromium(tiny_model, folder, tmp_path):
    out = tmp_path / "gallery"
    result = _kmeans_gallery(folder, out, 3, _common(tiny_model, tmp_path))
    assert result.exit_code == 0, result.output
    shot = tmp_path / "shot.png"
    proc = screenshot(out / "index.html", shot, (1200, 1400), tmp_path / "profile")
    assert shot.is_file(), proc.stderr
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=int)
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    # the inlined thumbnails were decoded and drawn: strongly red, green and blue pixels on the page
    assert ((r > 150) & (g < 90) & (b < 90)).sum() > 500
    assert ((g > 140) & (r < 90) & (b < 100)).sum() > 500
    assert ((b > 150) & (r < 90) & (g < 100)).sum() > 500


def test_a_small_memory_budget_changes_batches_not_results(tiny_model, folder, tmp_path):
    outs = []
    for budget in ("512", "1"):
        out = tmp_path / f"budget-{budget}.csv"
        args = [
            "interrogate",
            str(folder / "sub"),
            "--out",
            str(out),
            "--mode",
            "fast",
            "--memory-budget",
            budget,
        ]
        result = runner.invoke(app, [*args, "--banks", "mediums", *_common(tiny_model, tmp_path)])
        assert result.exit_code == 0, result.output
        outs.append([(r["path"], r["prompt"]) for r in _rows(out)])
    assert outs[0] == outs[1] and len(outs[0]) == 9
    bad = runner.invoke(app, ["interrogate", str(folder), "--memory-budget", "0"])
    assert bad.exit_code != 0 and "memory-budget" in bad.output


def test_an_interrupted_run_keeps_its_prompts_and_resumes(tiny_model, folder, tmp_path, monkeypatch):
    from shiftkit.image import Interrogator

    out = tmp_path / "prompts.csv"
    args = ["interrogate", str(folder), "--out", str(out), "--mode", "fast", "--batch-size", "4"]
    args += ["--banks", "mediums", *_common(tiny_model, tmp_path)]
    real = Interrogator.interrogate
    calls = []

    def stop_at_the_third_batch(self, images, *a, **k):
        calls.append(len(images))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, images, *a, **k)

    monkeypatch.setattr(Interrogator, "interrogate", stop_at_the_third_batch)
    stopped = runner.invoke(app, args)
    assert stopped.exit_code == 130 and "--resume goes on from there" in stopped.output
    kept = _rows(out)
    assert (
        len(kept) == sum(calls[:2]) == 7
    )  # the two batches done (one lost the broken JPEG), written atomically
    # mark the kept rows: a resumed run must not redo them
    with open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(kept[0].keys())
        w.writerows([[r["path"], "KEPT", *list(r.values())[2:]] for r in kept])
    monkeypatch.setattr(Interrogator, "interrogate", real)
    resumed = runner.invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    rows = _rows(out)
    assert len(rows) == 19 and sum(r["prompt"] == "KEPT" for r in rows) == 7
    other = runner.invoke(app, [*args[:-4], "--mode", "classic", "--resume", *args[-4:]])
    assert other.exit_code == 1 and "holds prompts of mode 'fast', not 'classic'" in other.output


def test_resume_reads_a_csv_with_a_field_longer_than_csv_allows(tmp_path):
    # issue 21, item 22: "field larger than field limit (131072)" stopped --resume
    from shiftkit.cli._interrogate import CSV_COLUMNS, _previous_rows

    out = tmp_path / "prompts.csv"
    huge = "a long caption " * 20_000  # 300,000 characters
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        w.writerow(["img/1.png", huge, "0.3", "", "", "fast"])
    limit = csv.field_size_limit()
    rows = _previous_rows(out, "fast")
    assert rows["img/1.png"][1] == huge and csv.field_size_limit() == limit  # the limit is put back


def test_a_csv_that_cannot_be_resumed_is_said_before_the_model_loads(folder, tmp_path, monkeypatch):
    """--resume reads the earlier CSV once, before the encoder is built (it was read after, and again for
    the sidecars); with --sidecar its prompts tell shiftkit's sidecars from the user's."""
    from shiftkit.cli._image_options import ImageOptions
    from shiftkit.cli._interrogate import CSV_COLUMNS

    out = tmp_path / "prompts.csv"
    image = sorted(folder.glob("*.png"))[0]
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        w.writerow([str(image), "a red square", "0.3", "", "", "fast"])
    image.with_suffix(".txt").write_text("a red square\n", encoding="utf-8")  # shiftkit's, by the CSV
    built = []
    monkeypatch.setattr(
        ImageOptions, "encoder", lambda self: built.append(1) or (_ for _ in ()).throw(OSError)
    )
    args = ["interrogate", str(folder), "--out", str(out), "--sidecar", "--resume"]
    other = runner.invoke(app, [*args, "--mode", "classic"])
    assert other.exit_code == 1 and "holds prompts of mode 'fast', not 'classic'" in other.output
    assert built == []  # said before the model loads
    image.with_suffix(".txt").write_text("my own caption\n", encoding="utf-8")  # now the user's
    theirs = runner.invoke(app, [*args, "--mode", "fast"])
    assert theirs.exit_code == 1 and "shiftkit did not write it" in theirs.output and built == []
    image.with_suffix(".txt").write_text("a red square\n", encoding="utf-8")
    ours = runner.invoke(app, [*args, "--mode", "fast"])
    assert built == [1] and ours.exit_code != 0  # past the checks, to the (failing) encoder
