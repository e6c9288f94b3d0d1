"""``shiftkit cluster-images FOLDER``: embed a collection with CLIP, cluster it, name and show each cluster.

Writes ``clusters.csv`` (path, cluster, similarity to its centre), ``clusters.json``
(each cluster's size and name phrases with their similarities), one contact sheet
``cluster-K.png`` per cluster (nearest to its centre first) and ``index.html``, a
gallery with every thumbnail inlined, which opens from disk with no server. The
outputs replace an earlier run's as one set (contact sheets it left are removed).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Annotated

import typer

from shiftkit.cli._common import app, console, count, err_console, fail, one_line_errors, staged_outputs
from shiftkit.cli._image_options import (
    AllowDownloadOpt,
    BankFileOpt,
    BanksOpt,
    BatchOpt,
    BudgetOpt,
    CacheOpt,
    CiDataOpt,
    DeviceOpt,
    ImageOptions,
    ModelOpt,
    NoCacheOpt,
    PretrainedOpt,
    WeightsDirOpt,
    WeightsOpt,
)
from shiftkit.cli._interrogate import progress_bar
from shiftkit.io import save_json


@app.command("cluster-images")
@one_line_errors
def cluster_images_command(
    folder: Annotated[Path, typer.Argument(help="a folder of images, searched recursively.")],
    out: Annotated[Path, typer.Option(help="output folder.")] = Path("shiftkit-images"),
    method: Annotated[
        str, typer.Option(help="meanshift (finds how many) or kmeans (needs --n-clusters).")
    ] = ("meanshift"),
    n_clusters: Annotated[int | None, typer.Option(min=1, help="clusters for --method kmeans.")] = None,
    bandwidth: Annotated[
        float | None,
        typer.Option(help="mean-shift bandwidth (a chord on the sphere; default: the local-scale rule)."),
    ] = None,
    dims: Annotated[
        int | None, typer.Option(min=0, help="principal axes for mean shift (default n/16, 2..16; 0: all).")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed of k-means.")] = 0,
    follow_symlinks: Annotated[
        bool, typer.Option("--follow-symlinks", help="include images linked from outside the folder.")
    ] = False,
    model: ModelOpt = "ViT-B-32-quickgelu",
    pretrained: PretrainedOpt = "openai",
    weights: WeightsOpt = None,
    allow_download: AllowDownloadOpt = False,
    weights_dir: WeightsDirOpt = None,
    device: DeviceOpt = None,
    batch_size: BatchOpt = 32,
    banks: BanksOpt = None,
    bank_file: BankFileOpt = None,
    ci_data: CiDataOpt = None,
    cache_dir: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    memory_budget: BudgetOpt = 512,
) -> None:
    """Cluster a folder of images by CLIP embedding; name each cluster; write a gallery."""
    from shiftkit.image import cluster_images, find_images, gallery_html, write_contact_sheets
    from shiftkit.image._files import links_out_of

    if method not in ("meanshift", "kmeans"):
        raise fail(f"--method must be meanshift or kmeans, got {method!r}")
    if method == "kmeans" and n_clusters is None:
        raise fail("--method kmeans needs --n-clusters")
    if method == "meanshift" and n_clusters is not None:
        raise fail("--n-clusters is for --method kmeans (mean shift finds how many)")
    if not folder.is_dir():
        raise fail(f"{folder} is not a folder")
    skip = out.resolve()
    found = find_images(folder, follow_symlinks=follow_symlinks)
    paths = [p for p in found if skip not in p.resolve().parents]  # never our own outputs
    if not follow_symlinks:
        for link in links_out_of(folder):
            err_console.print(f"skipped: {link} links out of the folder (--follow-symlinks)", soft_wrap=True)
    if not paths:
        raise fail(f"no image files in {folder}")
    options = ImageOptions.of(locals())
    encoder = options.encoder()
    interrogator = options.interrogator(encoder)
    with progress_bar() as progress:
        task = progress.add_task("embedding", total=len(paths))
        result = cluster_images(
            paths,
            encoder,
            interrogator=interrogator,
            method=method,
            n_clusters=n_clusters,
            bandwidth=bandwidth,
            dims="auto" if dims is None else (dims or None),
            batch_size=batch_size,
            random_state=seed,
            progress=lambda k: progress.advance(task, k),
        )
    for s in result.skipped:
        err_console.print(f"skipped: {s.reason}", highlight=False, soft_wrap=True)
    sheets = [f"cluster-{k}.png" for k in range(result.n_clusters)]
    names = ("clusters.csv", "clusters.json", "index.html", *sheets)
    with staged_outputs(out, names) as staging:  # an earlier run's extra sheets go; a user's files stay
        with open(staging / "clusters.csv", "w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(("path", "cluster", "similarity"))
            for path, label, sim in zip(result.paths, result.labels, result.similarity):
                writer.writerow((str(path), int(label), f"{sim:.4f}"))
        save_json(
            staging / "clusters.json",
            {
                "n_images": len(result.paths),
                "n_clusters": result.n_clusters,
                "method": method,
                "encoder": encoder.name,
                "skipped": [s.reason for s in result.skipped],
                "clusters": [
                    {
                        "cluster": k,
                        "size": len(result.members(k)),
                        "contact_sheet": sheets[k],
                        "name": [
                            {"phrase": r.phrase, "similarity": round(r.similarity, 4), "bank": r.bank}
                            for r in result.names[k]
                        ],
                    }
                    for k in range(result.n_clusters)
                ],
            },
        )
        write_contact_sheets(result, staging)
        (staging / "index.html").write_text(
            gallery_html(result, title=f"shiftkit: {folder.name or folder}", root=folder), encoding="utf-8"
        )
    console.print(
        f"{count(len(result.paths), 'image')} in {count(result.n_clusters, 'cluster')}; "
        f"{len(result.skipped)} skipped -> {out}{os.sep}index.html",
        highlight=False,
        soft_wrap=True,
    )
    for k in range(result.n_clusters):
        console.print(
            f"  {result.title(k)} ({len(result.members(k))} images)", highlight=False, soft_wrap=True
        )
