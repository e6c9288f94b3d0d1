"""Pictures of a clustered collection: a contact sheet per cluster, one self-contained HTML gallery.

Contact sheets are drawn with Pillow (a grid of thumbnails, nearest to the
cluster's centre first). The gallery is a single HTML file with every thumbnail
inlined as a base64 JPEG and no script or external resource, so it opens from
disk in any browser, with no server.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shiftkit.image._collection import ImageClusters
from shiftkit.image._files import load_rgb


def thumbnail(path: str | os.PathLike[str], size: int) -> Any:
    """An RGB thumbnail fitting ``size`` x ``size`` (aspect kept)."""
    im = load_rgb(path)
    im.thumbnail((size, size))
    return im


def contact_sheet(
    paths: Sequence[str | os.PathLike[str]], columns: int = 8, size: int = 128, gap: int = 4
) -> Any:
    """A grid of thumbnails (in order, row by row) on white, each centred in a ``size`` square."""
    from PIL import Image

    if not paths:
        raise ValueError("a contact sheet needs at least one image")
    columns = max(1, min(columns, len(paths)))
    rows = -(-len(paths) // columns)
    sheet = Image.new("RGB", (columns * (size + gap) + gap, rows * (size + gap) + gap), "white")
    for i, path in enumerate(paths):
        im = thumbnail(path, size)
        x = gap + (i % columns) * (size + gap) + (size - im.width) // 2
        y = gap + (i // columns) * (size + gap) + (size - im.height) // 2
        sheet.paste(im, (x, y))
    return sheet


def _data_uri(im: Any) -> str:
    buffer = io.BytesIO()
    im.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


MAX_PER_CLUSTER = 200
"""Thumbnails a cluster shows in the gallery by default (each ~5 KB inlined)."""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; background: #fafafa; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin: 1.6rem 0 0.3rem; }
p.note { color: #555; margin: 0.2rem 0 0.6rem; }
div.grid { display: flex; flex-wrap: wrap; gap: 6px; }
figure { margin: 0; width: 140px; text-align: center; }
figure img { max-width: 140px; max-height: 140px; border-radius: 3px; }
figcaption { font-size: 0.7rem; color: #555; overflow-wrap: anywhere; }
"""


def gallery_html(
    result: ImageClusters,
    title: str = "shiftkit: image clusters",
    size: int = 140,
    root: str | os.PathLike[str] | None = None,
    max_per_cluster: int | None = MAX_PER_CLUSTER,
) -> str:
    """The gallery page: one section per cluster (named by its phrases), thumbnails inlined.

    At most ``max_per_cluster`` thumbnails a cluster (its nearest to the centre; None: all), so that a
    collection of 100,000 images still makes a page a browser opens; the page says how many it left
    out (every image is in clusters.csv).
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">{len(result.paths)} images in {result.n_clusters} clusters '
        f"({html.escape(result.method)}); each cluster is named by the phrases most similar to its mean "
        "embedding, with that cosine similarity; images are ordered by their similarity to the centre.</p>",
    ]
    for k in range(result.n_clusters):
        members = result.members(k)
        names = (
            ", ".join(f"{html.escape(r.phrase)} ({r.similarity:.3f})" for r in result.names[k][:5])
            if (result.names)
            else ""
        )
        heading = (
            f"Cluster {k}: {html.escape(', '.join(r.phrase for r in result.names[k][:3]))}"
            if (result.names and result.names[k])
            else f"Cluster {k}"
        )
        parts.append(f'<section id="cluster-{k}"><h2>{heading}</h2>')
        parts.append(
            f'<p class="note">{len(members)} images' + (f"; phrases: {names}" if names else "") + "</p>"
        )
        parts.append('<div class="grid">')
        shown_members = members if max_per_cluster is None else members[:max_per_cluster]
        for i in shown_members:
            path = result.paths[i]
            shown = os.path.relpath(path, root) if root is not None else path.name
            parts.append(
                f'<figure><img src="{_data_uri(thumbnail(path, size))}" alt="{html.escape(str(shown))}">'
                f"<figcaption>{html.escape(str(shown))} · {result.similarity[i]:.3f}</figcaption></figure>"
            )
        parts.append("</div>")
        if len(shown_members) < len(members):
            parts.append(
                f'<p class="note">... and {len(members) - len(shown_members)} more, farther from the centre '
                "(all are in clusters.csv)</p>"
            )
        parts.append("</section>")
    if result.skipped:
        parts.append(f"<h2>Skipped ({len(result.skipped)})</h2><ul>")
        parts += [f"<li>{html.escape(s.reason)}</li>" for s in result.skipped]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_contact_sheets(
    result: ImageClusters,
    folder: Path,
    columns: int = 8,
    size: int = 128,
    max_per_cluster: int | None = MAX_PER_CLUSTER,
) -> list[str]:
    """``cluster-K.png`` for every cluster into ``folder``: its images nearest the centre first, at most
    ``max_per_cluster`` of them, as the gallery shows them (a 5,000-image cluster made an 87-megapixel
    sheet; 200 of 128-pixel thumbnails make 1,060 x 3,304); the file names written."""
    names = []
    for k in range(result.n_clusters):
        name = f"cluster-{k}.png"
        members = result.members(k)
        shown = members if max_per_cluster is None else members[:max_per_cluster]
        contact_sheet([result.paths[i] for i in shown], columns, size).save(folder / name, "PNG")
        names.append(name)
    return names
