"""docs/images/gallery.png: the page ``shiftkit cluster-images`` writes, rendered by headless Chromium.

    python benchmarks/gallery_picture.py [--out docs/images/gallery.png]

No CLIP weights can be downloaded here, so the encoder is the tiny randomly
initialised open_clip model of the tests: it still separates colours, but it
knows no words, so the cluster names in the picture are noise. The images are
generated: circles, squares and triangles in three colours on white.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from image_fakes import CHROMIUM, screenshot, write_tiny_clip


def shapes(folder: Path, per_kind: int = 7, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    kinds = {"red-circle": (210, 40, 40), "blue-square": (40, 70, 200), "green-triangle": (40, 160, 60)}
    for name, colour in kinds.items():
        for i in range(per_kind):
            im = Image.new("RGB", (120, 96), "white")
            draw = ImageDraw.Draw(im)
            x, y, r = 60 + rng.integers(-15, 15), 48 + rng.integers(-10, 10), rng.integers(22, 34)
            fill = tuple(int(np.clip(c + rng.integers(-25, 25), 0, 255)) for c in colour)
            if "circle" in name:
                draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
            elif "square" in name:
                draw.rectangle((x - r, y - r, x + r, y + r), fill=fill)
            else:
                draw.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=fill)
            im.save(folder / f"{name}-{i}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent.parent / "docs/images/gallery.png")
    args = parser.parse_args()
    if CHROMIUM is None:
        sys.exit("needs headless Chromium (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "photos").mkdir()
        shapes(root / "photos")
        model = write_tiny_clip(root / "tiny-clip")
        exe = Path(sys.executable).with_name("shiftkit")
        subprocess.run(
            [
                str(exe),
                "cluster-images",
                str(root / "photos"),
                "--out",
                str(root / "gallery"),
                "--model",
                f"local-dir:{model}",
                "--no-cache",
            ],
            check=True,
        )
        shot = root / "shot.png"
        screenshot(root / "gallery" / "index.html", shot, (1100, 700), root / "profile").check_returncode()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        Image.open(shot).convert("RGB").quantize(64).save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
