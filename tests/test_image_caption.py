"""BlipCaptioner on a tiny randomly initialised BLIP saved to a folder (no download)."""

import pytest
import torch
from PIL import Image

from image_fakes import CAPTION_WORDS, write_tiny_blip

pytest.importorskip("transformers")

from shiftkit.image import BlipCaptioner, Interrogator, PhraseBank


@pytest.fixture(scope="module")
def tiny_blip(tmp_path_factory):
    return write_tiny_blip(tmp_path_factory.mktemp("tiny-blip"))


def test_captions_equal_plain_transformers(tiny_blip):
    from transformers import BlipForConditionalGeneration, BlipProcessor

    images = [
        Image.new("RGB", (40, 30), (200, 0, 0)),
        Image.new("RGBA", (20, 30), (0, 0, 200, 255)).convert("RGB"),
        Image.new("RGB", (64, 64), (0, 180, 0)),
    ]
    captioner = BlipCaptioner(tiny_blip, max_new_tokens=6, batch_size=2, device="cpu")
    processor = BlipProcessor.from_pretrained(tiny_blip)
    model = BlipForConditionalGeneration.from_pretrained(tiny_blip).eval()
    with torch.no_grad():
        tokens = model.generate(**processor(images=images, return_tensors="pt"), max_new_tokens=6)
    expected = [t.strip() for t in processor.batch_decode(tokens, skip_special_tokens=True)]
    got = captioner.caption(images)
    assert got == expected and len(got) == 3
    assert all(set(c.split()) <= set(CAPTION_WORDS) for c in got)


def test_the_interrogator_starts_from_the_model_caption(tiny_blip):
    from image_fakes import ColorEncoder

    captioner = BlipCaptioner(tiny_blip, max_new_tokens=4, device="cpu")
    ci = Interrogator(
        ColorEncoder(),
        {"flavors": PhraseBank("flavors", ["red", "blue"])},
        captioner=captioner,
        cache_dir=None,
    )
    image = Image.new("RGB", (32, 32), (200, 0, 0))
    (result,) = ci.interrogate([image], mode="fast", max_flavors=1)
    assert result.caption == captioner.caption([image])[0]
    expected = f"{result.caption}, red" if result.caption else "red"
    assert result.prompt == expected


def test_a_missing_model_is_refused_without_the_network(tmp_path, monkeypatch):
    monkeypatch.delenv("SHIFTKIT_ALLOW_DOWNLOAD", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ValueError, match="is not on this machine"):
        BlipCaptioner("someone/some-blip")
    with pytest.raises(ValueError, match="cannot load the caption model"):
        BlipCaptioner(tmp_path)


def test_interrogate_command_with_a_caption_model(tiny_blip, tmp_path):
    import csv

    from typer.testing import CliRunner

    from image_fakes import write_tiny_clip
    from shiftkit.cli import app

    Image.new("RGB", (32, 32), (200, 0, 0)).save(tmp_path / "red.png")
    clip = write_tiny_clip(tmp_path / "clip")
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(
        app,
        [
            "interrogate",
            str(tmp_path / "red.png"),
            "--out",
            str(out),
            "--mode",
            "fast",
            "--caption-model",
            str(tiny_blip),
            "--model",
            f"local-dir:{clip}",
            "--banks",
            "mediums",
            "--no-cache",
        ],
    )
    assert result.exit_code == 0, result.output
    with open(out, newline="") as f:
        (row,) = list(csv.DictReader(f))
    caption = BlipCaptioner(tiny_blip).caption([Image.open(tmp_path / "red.png").convert("RGB")])[0]
    assert row["caption"] == caption and row["prompt"].startswith(caption)
    both = CliRunner().invoke(
        app, ["interrogate", str(tmp_path / "red.png"), "--caption", "x", "--caption-model", str(tiny_blip)]
    )
    assert both.exit_code == 1 and "not both" in both.output


def test_downloads_allowed_with_no_network_fail_at_once(tmp_path, monkeypatch):
    # issue 22: --allow-download retried for a minute; a model not in the cache checks the host first
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nobody listens here once the socket is closed
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed}")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    start = time.perf_counter()
    with pytest.raises(
        ValueError, match=rf"cannot download the caption model 'someone/blip': 127\.0\.0\.1:{closed}"
    ):
        BlipCaptioner("someone/blip", allow_download=True)
    assert time.perf_counter() - start < 10
