"""The data-free defaults on small data: neighbor counts capped at a tenth of the points, or not.

    python benchmarks/bench_small_data.py

44 synthetic sets of 18 to 160 points (11 layouts of 2 to 8 Gaussian clusters
in 2 to 4 dimensions, centers at least 8 standard deviations apart, four seeds
each), clustered by `MeanShift()` and `QuickShift()` with the cap
(`shiftkit.neighbors.neighbors_for`) and without it (``SMALL_DATA_SHARE = 1``:
ten and twenty neighbors whatever the size). Prints, per layout and in all, how
many sets each finds (ARI above 0.95) and the mean ARI.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).parent))
import shiftkit.neighbors._graph as graph
from _common import machine, markdown_table
from shiftkit import MeanShift, QuickShift

LAYOUTS = [  # cluster sizes, standard deviation, dimensions
    ([6] * 3, 0.3, 2),
    ([10] * 4, 0.3, 2),
    ([8] * 5, 0.3, 3),
    ([25] * 2, 0.5, 2),
    ([15] * 4, 0.5, 2),
    ([40] * 3, 0.6, 2),
    ([30, 10], 0.4, 2),
    ([50, 50, 5], 0.4, 2),
    ([20] * 5, 0.5, 4),
    ([60, 60], 0.8, 2),
    ([12] * 8, 0.3, 2),
]
SEEDS = range(4)


def blobs(sizes: list[int], sd: float, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    while True:
        C = rng.uniform(-5, 5, (len(sizes), dim))
        gaps = [np.linalg.norm(C[i] - C[j]) for i in range(len(C)) for j in range(i)]
        if not gaps or min(gaps) > 8 * sd:
            break
    X = np.vstack([rng.normal(c, sd, (n, dim)) for c, n in zip(C, sizes, strict=True)])
    return X, np.repeat(np.arange(len(sizes)), sizes)


def main() -> None:
    print(f"machine: {machine()}\n")
    rows = []
    for share, label in ((graph.SMALL_DATA_SHARE, "capped"), (1, "not capped")):
        graph.SMALL_DATA_SHARE = share
        for name, make in (("MeanShift()", MeanShift), ("QuickShift()", QuickShift)):
            found, scores = [], []
            for sizes, sd, dim in LAYOUTS:
                ari = [adjusted_rand_score(y, make().fit(X).labels_) for X, y in
                       (blobs(sizes, sd, dim, s) for s in SEEDS)]  # fmt: skip
                found.append(sum(a > 0.95 for a in ari))
                scores += ari
            rows.append(
                [f"{name}, {label}", *found, f"{sum(found)} / {len(scores)}", f"{np.mean(scores):.3f}"]
            )
    names = [f"{len(s)}x{s[0]}" if len(set(s)) == 1 else "+".join(map(str, s)) for s, _, _ in LAYOUTS]
    header = ["defaults", *names, "found", "mean ARI"]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
