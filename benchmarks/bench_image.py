"""shiftkit.image: encoder throughput, the greedy chain's peak memory, exact ranking, clustering embeddings.

    python benchmarks/bench_image.py [--quick]

No weights are downloaded: the models are open_clip architectures with random
weights, saved as ``local-dir:`` folders and loaded through `OpenCLIPEncoder`'s
real path (the tiny test model, and ViT-B-32 at full size, whose speed and
memory do not depend on the values of its weights).

1. Images/s and phrases/s of `OpenCLIPEncoder` on this CPU.
2. Peak memory of one greedy-chain step (2,048 candidate prompts) encoded the
   reference's way, in one batch, against shiftkit's batches under the default
   memory budget (512 MiB): peak RSS above the loaded model (the peak reset through
   /proc/self/clear_refs after loading), each in a fresh process.
3. Ranking a 100,000-phrase bank: clip-interrogator 0.6's chunked approximation
   (keep ``chunk / n_chunks`` per chunk of 2,048, re-rank; its final re-rank drops
   ``reverse``), re-implemented here, against `top_k`: how many of the true top 64
   each finds (the 100 best phrases sit in one chunk, as in a bank sorted by theme),
   and the time.
4. Clustering unit embeddings (synthetic clusters on the 512-d sphere): ARI of
   shiftkit.image's mean shift (n/16 principal axes, 2 to 16; local scale at the
   third neighbour), the same on 16 axes always, MeanShift's data-free default on
   16 axes, k-means given the true k, and mean shift on the raw 512-d sphere at
   three bandwidths.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from _common import machine, markdown_table, median_time
from image_fakes import TINY_CLIP_CONFIG
from shiftkit.image._encoders import import_open_clip

CHAIN = r"""
import json, sys, time
import torch
from shiftkit.image import OpenCLIPEncoder
how, folder, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
enc = OpenCLIPEncoder(f"local-dir:{folder}", device="cpu")
prompts = [f"a photograph of a landscape, soft lighting, phrase number {i}" for i in range(n)]
enc.encode_texts(prompts[:4])
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak RSS (VmHWM) to the current RSS: loading's own peak does not count
base = status("VmRSS:")
t = time.perf_counter()
with torch.inference_mode():
    if how == "one batch":
        E = enc.model.encode_text(enc.tokenizer(prompts))
    else:
        E = enc.encode_texts(prompts)
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "peak_mb": (status("VmHWM:") - base) / 1024, "rows": E.shape[0]}))
"""


def write_random_model(folder: Path, config: dict) -> Path:
    from safetensors.torch import save_file

    open_clip = import_open_clip()
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = open_clip.CLIP(**config)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": config, "preprocess_cfg": {}}))
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(folder / "open_clip_model.safetensors"),
    )
    return folder


def throughput(folder: Path, n_images: int, n_texts: int) -> tuple[float, float]:
    from PIL import Image

    from shiftkit.image import OpenCLIPEncoder

    enc = OpenCLIPEncoder(f"local-dir:{folder}", device="cpu")
    rng = np.random.default_rng(0)
    images = [Image.fromarray((rng.random((256, 320, 3)) * 255).astype("uint8")) for _ in range(n_images)]
    texts = [f"an oil painting of a harbour at dusk, phrase {i}" for i in range(n_texts)]
    t_img, _ = median_time(lambda: enc.encode_images(images), repeats=3)
    t_txt, _ = median_time(lambda: enc.encode_texts(texts), repeats=3)
    return n_images / t_img, n_texts / t_txt


def reference_rank(q: torch.Tensor, E: torch.Tensor, k: int, chunk: int, reverse: bool) -> list[int]:
    """clip-interrogator 0.6's LabelTable.rank for a bank larger than its chunk size, re-implemented."""
    n_chunks = -(-E.shape[0] // chunk)
    keep = chunk // n_chunks
    kept = []
    for c in range(n_chunks):
        part = E[c * chunk : (c + 1) * chunk]
        s = part @ q
        s = -s if reverse else s
        kept += (c * chunk + s.topk(min(keep, part.shape[0])).indices).tolist()
    s = E[kept] @ q  # the final re-rank: reverse dropped, as in the reference
    return [kept[i] for i in s.topk(k).indices.tolist()]


def ranking(n: int, d: int, k: int) -> list[list[str]]:
    from shiftkit.image import top_k

    g = torch.Generator().manual_seed(0)
    # a bank whose best phrases cluster in one chunk (as a list sorted by theme does)
    E = torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=1)
    q = torch.nn.functional.normalize(torch.randn(d, generator=g), dim=0)
    E[:100] = torch.nn.functional.normalize(q + 0.6 * torch.randn(100, d, generator=g) / d**0.5, dim=1)
    rows = []
    for reverse in (False, True):
        s = (E @ q).double()
        truth = set((s.argsort(descending=not reverse)[:k]).tolist())
        t_ref, ref = median_time(lambda reverse=reverse: reference_rank(q, E, k, 2048, reverse), repeats=3)
        t_ours, (_, ours) = median_time(lambda reverse=reverse: top_k(q, E, k, reverse=reverse), repeats=3)
        rows.append(
            [
                "least similar" if reverse else "most similar",
                f"{len(truth & set(ref))}/{k}",
                f"{t_ref * 1e3:.1f} ms",
                f"{len(truth & set(ours.tolist()))}/{k}",
                f"{t_ours * 1e3:.1f} ms",
            ]
        )
    return rows


# The synthetic sets of unit embeddings: the clusters' sizes, the noise (`sphere`, seeded by the count).
SPHERES = {
    "6 clusters, 25-120 each": ([80, 40, 120, 30, 60, 25], 0.032),
    "5 clusters, 3-50 each": ([50, 4, 50, 3, 30], 0.032),
    "3 clusters, wider": ([60, 60, 60], 0.045),
    "10 clusters of 200": ([200] * 10, 0.04),
    "3 clusters of 6": ([6, 6, 6], 0.02),
    "3 clusters of 6, wider": ([6, 6, 6], 0.032),
    "8 clusters of 8": ([8] * 8, 0.03),
    "50 clusters of 20": ([20] * 50, 0.03),
    "one cluster of 40": ([40], 0.032),
}


def sphere(sizes: list[int], noise: float, seed: int, d: int = 512) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    common = rng.normal(size=d)
    common /= np.linalg.norm(common)
    C = rng.normal(size=(len(sizes), d))
    C = 0.6 * common + 0.8 * C / np.linalg.norm(C, axis=1, keepdims=True)
    X = np.vstack([C[i] + rng.normal(size=(n, d)) * noise for i, n in enumerate(sizes)])
    return X / np.linalg.norm(X, axis=1, keepdims=True), np.repeat(np.arange(len(sizes)), sizes)


def clustering() -> list[list[str]]:
    from sklearn.metrics import adjusted_rand_score

    from shiftkit import KMeans, MeanShift
    from shiftkit.image import cluster_embeddings
    from shiftkit.image._collection import _principal, principal_dims

    rows = []
    for name, (sizes, noise) in SPHERES.items():
        X, y = sphere(sizes, noise, seed=len(sizes))
        E = torch.tensor(X, dtype=torch.float32)

        def score(labels, y=y):
            return f"{len(set(labels.tolist()))} / {adjusted_rand_score(y, labels):.2f}"

        ours, _ = cluster_embeddings(E)
        axes, _ = cluster_embeddings(E, dims=principal_dims(len(y)))
        sixteen, _ = cluster_embeddings(E, dims=16)
        default = MeanShift().fit(_principal(X, 16)).labels_
        km = KMeans(len(sizes), metric="cosine", random_state=0, n_init=4).fit(X).labels_
        raw = [MeanShift(bandwidth=h).fit(X).labels_ for h in (0.1, 0.2, 0.3)]
        rows.append(
            [
                name,
                len(y),
                len(sizes),
                score(ours),
                score(axes),
                score(sixteen),
                score(default),
                score(km),
                *map(score, raw),
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the tiny model only, smaller runs")
    parser.add_argument("--clustering", action="store_true", help="only the clustering table")
    args = parser.parse_args()
    print(f"machine: {machine()}; torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    if args.clustering:
        clustering_table()
        return
    with tempfile.TemporaryDirectory() as tmp:
        models = {"tiny (test model)": write_random_model(Path(tmp) / "tiny", TINY_CLIP_CONFIG)}
        if not args.quick:
            open_clip = import_open_clip()
            models["ViT-B-32 (random weights)"] = write_random_model(
                Path(tmp) / "vitb32", open_clip.get_model_config("ViT-B-32-quickgelu")
            )
        rows = []
        for name, folder in models.items():
            n_img, n_txt = (64, 512) if "tiny" in name else (16, 128)
            images_s, texts_s = throughput(folder, n_img, n_txt)
            rows.append([name, f"{images_s:,.1f}", f"{texts_s:,.1f}"])
        print("## Encoder throughput (OpenCLIPEncoder, CPU, median of 3)\n")
        print(markdown_table(["model", "images/s (256x320 in)", "phrases/s"], rows))

        print("\n## One greedy-chain step: 2,048 candidate prompts (fresh process each)\n")
        rows = []
        for name, folder in models.items():
            for how in ("one batch", "shiftkit"):
                out = subprocess.run(
                    [sys.executable, "-c", CHAIN, how, str(folder), "2048"],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                r = json.loads(out.strip().splitlines()[-1])
                label = (
                    "one batch (clip-interrogator 0.6)" if how == "one batch" else "shiftkit, 512 MiB budget"
                )
                rows.append([name, label, f"{r['peak_mb']:,.0f} MB", f"{r['seconds']:.2f} s"])
        print(markdown_table(["model", "how", "peak RSS above the model", "time"], rows))

    print("\n## Ranking a bank of 100,000 phrases (512-d), top 64\n")
    print(
        markdown_table(
            ["rank", "reference: true top-64 found", "time", "shiftkit top_k: found", "time"],
            ranking(100_000, 512, 64),
        )
    )
    clustering_table()


def clustering_table() -> None:
    print("\n## Clustering unit embeddings on the 512-d sphere: clusters found / ARI\n")
    print(
        markdown_table(
            [
                "data",
                "n",
                "true k",
                "shiftkit.image (meanshift)",
                "n/16 axes, 3rd-neighbour bandwidth",
                "the same, 16 axes",
                "MeanShift() on 16 axes",
                "KMeans(true k, cosine)",
                "MeanShift(0.1), 512-d",
                "MeanShift(0.2), 512-d",
                "MeanShift(0.3), 512-d",
            ],
            clustering(),
        )
    )


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"\n({time.perf_counter() - start:.0f} s)")
