"""Image files: found in folders, opened with Pillow, alpha flattened, failures listed rather than raised.

A folder is searched recursively for every extension Pillow can open; an image
with transparency (RGBA, LA, palette with a transparent colour) is composited on
white, so a batch never mixes channel counts; 16-bit and float grey images are
scaled to 8 bits (Pillow's own conversion clips them to white or black); an image that cannot be read is
skipped and reported with the reason, and the run goes on.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


def image_extensions() -> frozenset[str]:
    """Lower-case suffixes Pillow can open (``.png``, ``.jpg``, ``.webp``...)."""
    from PIL import Image

    return frozenset(ext.lower() for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)


def find_images(
    source: str | os.PathLike[str], recursive: bool = True, *, follow_symlinks: bool = False
) -> list[Path]:
    """The image files of a folder (sorted; hidden files and folders skipped), or a single file as a list.

    A file that is, or lies under, a symbolic link leading out of the folder is left out unless
    ``follow_symlinks`` (a gallery may be shared: a link must not pull in a file from elsewhere);
    `links_out_of` lists them.
    """
    root = Path(source)
    if root.is_file():
        return [root]
    found = _candidates(root, recursive)
    if not follow_symlinks:
        outside = set(links_out_of(root, recursive))
        found = [p for p in found if p not in outside]
    return found


def _candidates(root: Path, recursive: bool) -> list[Path]:
    if not root.is_dir():
        raise ValueError(f"{str(root)!r} is neither an image file nor a folder")
    suffixes = image_extensions()
    pattern = root.rglob("*") if recursive else root.glob("*")
    found = [
        p
        for p in pattern
        if p.is_file()
        and p.suffix.lower() in suffixes
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(found)


def links_out_of(source: str | os.PathLike[str], recursive: bool = True) -> list[Path]:
    """The image files `find_images` finds in the folder ``source`` only through a symbolic link that
    leads out of it (sorted)."""
    root = Path(source)
    if root.is_file():
        return []
    real_root = root.resolve()
    return [p for p in _candidates(root, recursive) if real_root not in p.resolve().parents]


# The longest side an image is read at: every model here looks at 224-384 pixels, a gallery at 256.
MAX_SIDE = 1024


def load_rgb(path: str | os.PathLike[str], max_side: int | None = MAX_SIDE) -> Any:
    """A PIL image in RGB, transparency composited on white; a `ValueError` naming the file if unreadable.

    Reduced as it is decoded to at most ``max_side`` pixels a side (None: full size): a JPEG is decoded
    at a fraction of its size, anything else shrunk before it becomes RGB, so that a batch holds small
    images (twelve one-bit PNGs of 9,400 x 9,400, 220 KB on disk, held 4.8 GB as full RGB decodes).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if max_side is not None:
                    im.draft("RGB", (max_side, max_side))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
                im.load()
                # a phone photo's pixels are stored sideways, with an EXIF tag saying how to turn them
                out = ImageOps.exif_transpose(im)
                if max_side is not None and max(out.size) > max_side:
                    if out.mode == "1":  # one bit a pixel: grey levels shrink it smoothly
                        out = out.convert("L")
                    out.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
                return flatten_alpha(out)
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
    ) as exc:
        reason = str(exc) or type(exc).__name__
        raise ValueError(f"cannot read image {str(path)!r}: {reason}") from None


def flatten_alpha(im: Any) -> Any:
    """RGB, with any transparency composited on a white background (and wide grey levels scaled to 8 bits)."""
    from PIL import Image

    im = _eight_bit(im)
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def _eight_bit(im: Any) -> Any:
    """16-bit, 32-bit integer and float grey images as 8-bit 'L'; other modes unchanged.

    Pillow's ``convert('RGB')`` clips them instead of scaling: a 16-bit PNG comes out
    white and a float TIFF of values in [0, 1] black. 16-bit levels are divided by
    257 (the full range kept); wider integers and floats outside [0, 1] are scaled
    from their smallest to their largest value; floats in [0, 1] by 255.
    """
    from PIL import Image

    if not (im.mode.startswith("I") or im.mode == "F"):
        return im
    a = np.asarray(im, dtype=np.float64)
    finite = a[np.isfinite(a)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if im.mode == "F" and 0.0 <= lo and hi <= 1.0:
        a = a * 255.0
    elif im.mode != "F" and 0.0 <= lo and hi <= 65535.0:
        a = a / 257.0 if hi > 255.0 else a
    else:
        a = (a - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(a)
    return Image.fromarray(np.nan_to_num(np.clip(a, 0, 255)).round().astype(np.uint8), mode="L")


@dataclass(frozen=True)
class Skipped:
    """An image that could not be read, and why."""

    path: Path
    reason: str


def read_batches(
    paths: Sequence[Path], batch_size: int
) -> Iterator[tuple[list[Path], list[Any], list[Skipped]]]:
    """Batches of (paths read, their RGB images, the files skipped in this batch)."""
    for start in range(0, len(paths), max(1, batch_size)):
        ok_paths, images, skipped = [], [], []
        for path in paths[start : start + max(1, batch_size)]:
            try:
                images.append(load_rgb(path))
                ok_paths.append(path)
            except ValueError as exc:
                skipped.append(Skipped(path, str(exc)))
        yield ok_paths, images, skipped
