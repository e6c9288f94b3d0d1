"""Stand-ins for the image tests: an encoder that sees colour, coloured image files, a tiny open_clip."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import torch
from PIL import Image

COLORS = {"red": (220, 30, 30), "green": (30, 190, 40), "blue": (30, 40, 220)}
DIM = 8


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _hashed(text: str) -> np.ndarray:
    """A fixed pseudo-random unit vector for a text."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return _unit(np.random.default_rng(seed).normal(size=DIM))


class ColorEncoder:
    """An `Encoder` that embeds an image by its mean colour and a text by the colour words it names.

    Image: (r, g, b) of the mean colour in the first three coordinates plus a small
    fixed part. Text: each colour word adds its axis; every text also gets a small
    hashed part, so different texts differ. Records every batch it is given.
    """

    def __init__(self, context_length: int = 77, name: str = "color-encoder v1") -> None:
        self.name = name
        self.context_length = context_length
        self.text_batches: list[int] = []
        self.image_batches: list[int] = []

    def encode_images(self, images):
        self.image_batches.append(len(images))
        rows = []
        for im in images:
            rgb = np.asarray(im.convert("RGB"), dtype=np.float64).reshape(-1, 3).mean(0) / 255.0
            rows.append(_unit(np.concatenate([rgb, np.full(DIM - 3, 0.05)])))
        return torch.tensor(np.array(rows), dtype=torch.float32).reshape(len(images), DIM)

    def encode_texts(self, texts):
        self.text_batches.append(len(texts))
        rows = []
        for t in texts:
            v = 0.3 * _hashed(t)
            for axis, word in enumerate(COLORS):
                v[axis] += t.count(word)
            rows.append(_unit(v))
        return torch.tensor(np.array(rows), dtype=torch.float32).reshape(len(texts), DIM)

    def count_tokens(self, texts):
        return [len(t.replace(",", " ,").split()) + 2 for t in texts]


def write_color_images(folder: Path, per_color: int = 6, seed: int = 0) -> dict[str, str]:
    """PNG files of three noisy colours (half in a subfolder); their true colour by file path."""
    rng = np.random.default_rng(seed)
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    truth = {}
    for name, rgb in COLORS.items():
        for i in range(per_color):
            a = np.clip(np.array(rgb) + rng.normal(0, 20, (24, 32, 3)), 0, 255).astype("uint8")
            path = folder / ("sub" if i % 2 else "") / f"{name}{i}.png"
            Image.fromarray(a).save(path)
            truth[str(path)] = name
    return truth


TINY_CLIP_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def write_tiny_clip(folder: Path, seed: int = 0) -> Path:
    """A randomly initialised open_clip model in ``local-dir`` form (config JSON + safetensors weights)."""
    from safetensors.torch import save_file

    from shiftkit.image._encoders import import_open_clip

    open_clip = import_open_clip()
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = open_clip.CLIP(**TINY_CLIP_CONFIG)
    (folder / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": TINY_CLIP_CONFIG, "preprocess_cfg": {}})
    )
    save_file(model.state_dict(), str(folder / "open_clip_model.safetensors"))
    return folder


CAPTION_WORDS = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "[DEC]",
    "a",
    "red",
    "green",
    "blue",
    "square",
    "of",
]


def write_tiny_blip(folder: Path, seed: int = 0) -> Path:
    """A randomly initialised BLIP captioning model and its processor, saved with save_pretrained."""
    from shiftkit.image._encoders import import_torchvision

    import_torchvision()
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(CAPTION_WORDS) + "\n")
    tokenizer = BertTokenizer(str(folder / "vocab.txt"), bos_token="[DEC]")
    small = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
    config = BlipConfig(
        text_config={
            **small,
            "vocab_size": len(CAPTION_WORDS),
            "max_position_embeddings": 40,
            "bos_token_id": 5,
            "pad_token_id": 0,
            "sep_token_id": 3,
        },
        vision_config={**small, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    torch.manual_seed(seed)
    BlipForConditionalGeneration(config).save_pretrained(folder)
    BlipProcessor(
        image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tokenizer
    ).save_pretrained(folder)
    return folder


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(page: Path, out: Path, size: tuple[int, int], profile: Path) -> subprocess.CompletedProcess:
    """Headless Chromium's screenshot of a local page (flags that keep it off the network)."""
    if CHROMIUM is None:
        raise RuntimeError("needs headless Chromium (Debian: apt-get install chromium)")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    command = [
        CHROMIUM,
        *flags,
        f"--user-data-dir={profile}",
        f"--window-size={size[0]},{size[1]}",
        f"--screenshot={out}",
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)
