"""Clusters a default could invent or miss: one feature, and one column among many.

    python benchmarks/bench_hidden.py [--one-feature] [--columns] [--rival] [--outliers] [--rounded]

- ``--one-feature``: one feature's density (`shiftkit.bandwidth.LOCAL_1D_ROWS`,
  `shiftkit.cluster._saddles.significance_for`). 48 samples with no clusters (normal and uniform,
  1,000 to 20,000 points, six draws each) and 24 mixtures (two to five Gaussians 3 to 6 standard
  deviations apart, weights 1:1 to 1:30, 200 to 5,000 points; the mean ARI over four draws each),
  clustered by ``QuickShift()`` under the rules before (30 neighbors whatever the rows, two standard
  errors), with the growing neighbor count only, and with the one-feature significance at
  ``c sqrt(ln m)`` for c = 1.4, 1.7 (the default) and 2; then each mixture before and with the default.
- ``--columns``: clusters apart along a few columns of many (`shiftkit.cluster._spaces.multimodal_features`):
  two Gaussians 6 standard deviations apart along column 0 of 8 or 32 (1,000 rows, the others noise,
  raw and z-scored, eight draws) and a grid of four along 2 of 20 z-scored columns (2,000 rows, six
  draws), found (ARI > 0.9) by ``QuickShift()`` with and without the look at each column alone, and by
  scikit-learn's ``HDBSCAN()`` in the same run; then 36 structureless samples (normal, uniform,
  Student's t with 3 degrees of freedom; 6 to 64 features; 500 to 10,000 rows; three draws), split
  or not, with and without; and what the look costs (``choose_space``, and the look within it).
- ``--rival``: a layout beside few principal axes (`shiftkit.cluster._spaces.weigh_rival`):
  scikit-learn's ``make_blobs`` (3 to 20 centers; 5 to 100 features; standard deviation 1, 2, 3;
  500 and 2,000 rows; its default box of centers), clustered by ``QuickShift()`` without the rival
  layout, with it (the default), and by scikit-learn's ``HDBSCAN()`` in the same run (mean ARI and the
  cases under 0.9, by the number of features); scikit-learn's wine, the same three; 432 structureless
  clouds (normal, Student's t with 3
  degrees of freedom, uniform, lognormal; one to three strong directions in 5 to 32 features; 200 to
  5,000 rows; two draws), split or not, without and with; and what the rival costs.

- ``--outliers``: rows far out (uniform in a box 10 or 100 times the blobs' box; 1% or 5% of the
  rows) beside 4 or 8 make_blobs in 6 to 32 z-scored features (1,000 and 5,000 rows; 48 tables),
  clustered by ``QuickShift()`` without the bandwidth's far-out fence (`shiftkit.bandwidth.FAR_OUT_IQR`),
  with it (the default), and by scikit-learn's ``HDBSCAN()`` (ARI on the blobs' rows); then four blobs
  in two features beside 50 such rows 1,000 times away, by ``MeanShift()`` and ``QuickShift()``.

- ``--rounded``: values on a grid. Five make_blobs blobs (10 apart) with both columns rounded
  (their rows repeat), three blobs with only the second column rounded beside a continuous first
  one, five blobs in 8 features all rounded, ten in 12 features three of them rounded (there the
  modes are sought in a layout, which takes the rows as given), and six blobs, some overlapping, both
  columns rounded (unrounded: ARI 0.55 to 0.85), clustered by ``QuickShift()``,
  ``MeanShift()`` and scikit-learn's ``HDBSCAN()`` (three draws each).

All five by default.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.cluster import HDBSCAN
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table
from shiftkit import QuickShift


@contextlib.contextmanager
def patched(module: object, **values: object) -> Iterator[None]:
    """``module``'s attributes set to ``values`` for the block, then put back."""
    saved = {name: getattr(module, name) for name in values}
    for name, value in values.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


def _clusters(labels: np.ndarray) -> int:
    return len(np.unique(labels[labels >= 0]))


MIXTURES = {
    "2 at 3 sd": ([0.0, 3.0], [1, 1]),
    "2 at 4 sd": ([0.0, 4.0], [1, 1]),
    "2 at 6 sd, 1:9": ([0.0, 6.0], [9, 1]),
    "2 at 6 sd, 1:30": ([0.0, 6.0], [30, 1]),
    "5 at 5 sd": ([0.0, 5.0, 10.0, 15.0, 20.0], [1] * 5),
    "4 at 4 sd": ([0.0, 4.0, 8.0, 12.0], [1] * 4),
}


def _one_feature_row() -> tuple[int, int, dict[str, float]]:
    """(null samples split, samples, each mixture's mean ARI over its draws by "name, n") under the rules
    in force."""
    split = total = 0
    for n in (1000, 2000, 5000, 20000):
        for seed in range(6):
            rng = np.random.default_rng(seed)
            for X in (rng.normal(size=n), rng.uniform(size=n)):
                total += 1
                split += _clusters(QuickShift().fit(X[:, None]).labels_) > 1
    scores = {}
    for n in (200, 500, 1000, 5000):
        for name, (centers, weights) in MIXTURES.items():
            per_draw = []
            for seed in range(4):
                rng = np.random.default_rng(seed)
                y = rng.choice(len(centers), n, p=np.array(weights) / sum(weights))
                X = np.array(centers)[y] + rng.normal(size=n)
                per_draw.append(adjusted_rand_score(y, QuickShift().fit(X[:, None]).labels_))
            scores[f"{name}, {n:,} points"] = statistics.fmean(per_draw)
    return split, total, scores


def one_feature() -> None:
    import shiftkit.bandwidth as bandwidth
    import shiftkit.cluster._saddles as saddles

    rules = [
        ("before (30 neighbors, 2 standard errors)", {"LOCAL_1D_ROWS": 10**18}, 0.0),
        ("the neighbor count only", {}, 0.0),
        ("and 1.4 sqrt(ln m)", {}, 1.4),
        (f"and {saddles.SIGNIFICANCE_1D} sqrt(ln m) (the default)", {}, saddles.SIGNIFICANCE_1D),
        ("and 2 sqrt(ln m)", {}, 2.0),
    ]
    rows, each = [], {}
    for name, neighbor_rule, c in rules:
        start = time.perf_counter()
        with patched(bandwidth, **neighbor_rule), patched(saddles, SIGNIFICANCE_1D=c):
            split, total, scores = _one_feature_row()
        each[name] = scores
        rows.append([name, f"{split} of {total}", f"{statistics.fmean(scores.values()):.3f}"])
        print(" | ".join(rows[-1]), f"({time.perf_counter() - start:.0f} s)", flush=True)
    print()
    print(markdown_table(["one feature", "samples with no clusters split", "mixtures' mean ARI"], rows))
    before, default = rules[0][0], rules[3][0]
    print("\neach mixture (mean ARI over four draws), before and with the default\n")
    per = [[m, f"{each[before][m]:.2f}", f"{each[default][m]:.2f}"] for m in each[before]]
    print(markdown_table(["mixture", "before", "the default"], per))


def _along_columns(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "grid":
        y = rng.integers(0, 4, 2000)
        X = rng.normal(size=(2000, 20))
        X[:, 3] += 6 * (y % 2)
        X[:, 11] += 6 * (y // 2)
        return (X - X.mean(0)) / X.std(0), y
    d, z_scored = int(kind.split()[0]), kind.endswith("z-scored")
    X = rng.normal(size=(1000, d))
    X[500:, 0] += 6.0
    return ((X - X.mean(0)) / X.std(0) if z_scored else X), np.repeat([0, 1], 500)


def _structureless(kind: str, d: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "normal":
        return rng.normal(size=(n, d))
    return rng.uniform(size=(n, d)) if kind == "uniform" else rng.standard_t(3, size=(n, d))


def columns() -> None:
    import shiftkit.cluster._spaces as spaces
    from shiftkit._rows import distinct_rows

    cases = {"8 raw": 8, "32 raw": 8, "8 z-scored": 8, "32 z-scored": 8, "grid": 6}
    names = {
        "8 raw": "two Gaussians along column 0 of 8",
        "32 raw": "two Gaussians along column 0 of 32",
        "8 z-scored": "the same of 8, z-scored",
        "32 z-scored": "the same of 32, z-scored",
        "grid": "four along 2 of 20 columns, z-scored",
    }
    rows = []
    for kind, draws in cases.items():
        found = {"with": 0, "without": 0, "hdbscan": 0}
        for seed in range(draws):
            X, y = _along_columns(kind, seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found["with"] += adjusted_rand_score(y, QuickShift().fit(X).labels_) > 0.9
                with patched(spaces, multimodal_features=lambda A: ()):
                    found["without"] += adjusted_rand_score(y, QuickShift().fit(X).labels_) > 0.9
                found["hdbscan"] += adjusted_rand_score(y, HDBSCAN(copy=True).fit(X).labels_) > 0.9
        rows.append([names[kind], *(f"{found[k]} of {draws}" for k in ("without", "with", "hdbscan"))])
        print(" | ".join(rows[-1]), flush=True)
    configs = [
        (k, d, n) for k in ("normal", "uniform", "t3") for d in (6, 10, 20, 64) for n in (500, 2000, 10000)
    ]
    split = {"with": 0, "without": 0}
    for kind, d, n in configs:
        for seed in range(3):
            X = _structureless(kind, d, n, seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                split["with"] += _clusters(QuickShift().fit(X).labels_) > 1
                with patched(spaces, multimodal_features=lambda A: ()):
                    split["without"] += _clusters(QuickShift().fit(X).labels_) > 1
    total = 3 * len(configs)
    cost = []
    rng = np.random.default_rng(0)
    for label, X in (
        ("10,000 x 128 normal", rng.normal(size=(10000, 128))),
        ("5,000 x 768 normal", rng.normal(size=(5000, 768))),
        ("5,000 x 100, ten integer values each", rng.integers(0, 10, (5000, 100)).astype(np.float64)),
    ):
        X_c = torch.as_tensor(X - X.mean(0))
        start = time.perf_counter()
        chosen = spaces.choose_space(X_c)
        whole = time.perf_counter() - start
        A = X_c[torch.as_tensor(distinct_rows(X_c, scale_free=True).first[: spaces.AXES_MAX_ROWS])]
        start = time.perf_counter()
        spaces.multimodal_features(A.numpy())
        cost.append([label, f"{whole:.2f} s ({chosen.name})", f"{time.perf_counter() - start:.2f} s"])
    rows.append(
        [
            "no clusters (split: fewer is better)",
            f"{split['without']} of {total}",
            f"{split['with']} of {total}",
            "",
        ]
    )
    print()
    header = ["data", "QuickShift() without the columns' look", "QuickShift()", "scikit-learn HDBSCAN()"]
    print(markdown_table(header, rows))
    print("\nwhat the look costs: choosing the space, and the look within it\n")
    print(markdown_table(["data", "choose_space", "the columns' look"], cost))


def _cloud(kind: str, d: int, k: int, n: int, seed: int) -> np.ndarray:
    """No clusters: ``k`` strong directions (standard deviation 3 to 1.8) of ``kind`` in ``d`` z-scored
    features, plus unit normal noise."""
    rng = np.random.default_rng(seed)
    draw = {
        "normal": rng.normal,
        "t3": lambda size: rng.standard_t(3, size=size),
        "uniform": lambda size: rng.uniform(-1, 1, size=size),
        "lognormal": lambda size: rng.lognormal(0, 0.7, size=size),
    }[kind]
    strong = draw(size=(n, k)) * np.linspace(1, 0.6, k)
    X = 3 * strong @ np.linalg.qr(rng.normal(size=(d, k)))[0].T + rng.normal(size=(n, d))
    return (X - X.mean(0)) / X.std(0)


def rival() -> None:
    from sklearn.datasets import make_blobs

    import shiftkit.cluster._spaces as spaces

    def fit(X: np.ndarray, with_rival: bool) -> np.ndarray:
        least = spaces.LAYOUT_RIVAL_LEAST_VALUES if with_rival else sys.maxsize  # no rival at all
        with warnings.catch_warnings(), patched(spaces, LAYOUT_RIVAL_LEAST_VALUES=least):
            warnings.simplefilter("ignore")
            return QuickShift().fit(X).labels_

    features = (5, 10, 20, 50, 100)
    scores: dict[int, dict[str, list[float]]] = {
        d: {"without": [], "with": [], "hdbscan": []} for d in features
    }
    for c in (3, 5, 8, 12, 20):
        for d in features:
            for sd in (1.0, 2.0, 3.0):
                for n in (500, 2000):
                    X, y = make_blobs(
                        n_samples=n, centers=c, n_features=d, cluster_std=sd, random_state=c * 1000 + d
                    )
                    scores[d]["without"].append(adjusted_rand_score(y, fit(X, False)))
                    scores[d]["with"].append(adjusted_rand_score(y, fit(X, True)))
                    scores[d]["hdbscan"].append(adjusted_rand_score(y, HDBSCAN(copy=True).fit(X).labels_))

    def cell(values: list[float]) -> str:
        return f"{statistics.fmean(values):.3f} ({sum(v < 0.9 for v in values)} under 0.9)"

    rows = [
        [f"{d} features", *(cell(scores[d][k]) for k in ("without", "with", "hdbscan"))] for d in features
    ]
    rows.append(
        [
            "all 150",
            *(cell([v for d in features for v in scores[d][k]]) for k in ("without", "with", "hdbscan")),
        ]
    )
    print("\nmake_blobs: 3, 5, 8, 12, 20 centers; standard deviation 1, 2, 3; 500 and 2,000 rows: mean ARI\n")
    print(
        markdown_table(
            ["make_blobs", "QuickShift() without the rival", "QuickShift()", "scikit-learn HDBSCAN()"], rows
        )
    )
    from sklearn.datasets import load_wine

    wine, classes = load_wine(return_X_y=True)
    wine = (wine - wine.mean(0)) / wine.std(0)
    found = {
        name: (adjusted_rand_score(classes, labels), _clusters(labels))
        for name, labels in (
            ("without the rival", fit(wine, False)),
            ("QuickShift()", fit(wine, True)),
            ("HDBSCAN()", HDBSCAN(copy=True).fit(wine).labels_),
        )
    }
    print(
        "\nscikit-learn's wine, z-scored (3 classes): "
        + ", ".join(f"{name} {ari:.2f} ({k} clusters)" for name, (ari, k) in found.items())
    )
    split = {"without": 0, "with": 0}
    total = 0
    for kind in ("normal", "t3", "uniform", "lognormal"):
        for d in (5, 6, 8, 12, 16, 32):
            for k in (1, 2, 3):
                for n in (200, 1000, 5000):
                    for seed in (0, 1):
                        X = _cloud(kind, d, k, n, seed)
                        total += 1
                        split["without"] += _clusters(fit(X, False)) > 1
                        split["with"] += _clusters(fit(X, True)) > 1
    print(
        f"\n{total} structureless clouds split: without the rival {split['without']}, "
        f"with it {split['with']}\n"
    )
    cost = []
    rng = np.random.default_rng(0)
    two = rng.normal(size=(100_000, 8))
    two[50_000:, :2] += 4.0
    for label, X in (
        ("100,000 x 8, two Gaussians", two),
        ("10,000 x 128 normal", rng.normal(size=(10_000, 128))),
        ("20,000 x 10, make_blobs 12 centers", make_blobs(20_000, 10, centers=12, random_state=0)[0]),
    ):
        times = {}
        for with_rival in (False, True):
            start = time.perf_counter()
            labels = fit(X, with_rival)
            times[with_rival] = (time.perf_counter() - start, _clusters(labels))
        cost.append([label, *(f"{t:.2f} s ({k})" for t, k in (times[False], times[True]))])
    print(markdown_table(["data", "QuickShift() without the rival (clusters)", "QuickShift()"], cost))


def _with_outliers(c: int, d: int, n: int, share: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n_samples=n, centers=c, n_features=d, cluster_std=1.0, random_state=c + d)
    far = np.random.default_rng(c * d).uniform(-1, 1, size=(int(share * n), d)) * scale * 10
    return np.vstack([X, far]), y


def outliers() -> None:
    import shiftkit.bandwidth as bandwidth
    from shiftkit import MeanShift

    def fit(estimator: type, X: np.ndarray, fence: bool) -> np.ndarray:
        far_out = bandwidth.FAR_OUT_IQR if fence else np.inf
        with warnings.catch_warnings(), patched(bandwidth, FAR_OUT_IQR=far_out):
            warnings.simplefilter("ignore")
            return estimator().fit(X).labels_

    scores: dict[str, list[float]] = {"without": [], "with": [], "hdbscan": []}
    for c in (4, 8):
        for d in (6, 12, 32):
            for n in (1000, 5000):
                for share in (0.01, 0.05):
                    for scale in (10.0, 100.0):
                        X, y = _with_outliers(c, d, n, share, scale)
                        X = (X - X.mean(0)) / X.std(0)
                        scores["without"].append(adjusted_rand_score(y, fit(QuickShift, X, False)[:n]))
                        scores["with"].append(adjusted_rand_score(y, fit(QuickShift, X, True)[:n]))
                        hdbscan = HDBSCAN(copy=True).fit(X).labels_[:n]
                        scores["hdbscan"].append(adjusted_rand_score(y, hdbscan))

    def cell(values: list[float]) -> str:
        return f"{statistics.fmean(values):.3f} ({sum(v < 0.9 for v in values)} under 0.9)"

    header = [
        "48 tables with outliers",
        "QuickShift() without the fence",
        "QuickShift()",
        "scikit-learn HDBSCAN()",
    ]
    print(markdown_table(header, [["mean ARI", *(cell(scores[k]) for k in ("without", "with", "hdbscan"))]]))
    X, y = _with_outliers(4, 2, 5000, 0.01, 100.0)  # 50 rows within 1,000 times the blobs' box
    rows = []
    for estimator in (MeanShift, QuickShift):
        found = [fit(estimator, X, fence) for fence in (False, True)]
        rows.append(
            [estimator.__name__, *(f"{adjusted_rand_score(y, f[:5000]):.2f} ({_clusters(f)})" for f in found)]
        )
    print("\nfour blobs in two features, 50 rows 1,000 times away: ARI (clusters)\n")
    print(markdown_table(["estimator", "without the fence", "with it (the default)"], rows))


FIVE_CENTERS = [[-10.0, -10.0], [0.0, 0.0], [10.0, 10.0], [-10.0, 10.0], [10.0, -10.0]]
THREE_CENTERS = [[-6.0, 0.0], [6.0, 0.0], [0.0, 8.0]]


def rounded() -> None:
    """Values on a grid: rows that repeat, and a column rounded beside a continuous one."""
    from sklearn.datasets import make_blobs

    from shiftkit import MeanShift

    def cell(X: np.ndarray, y: np.ndarray, make: Callable[[], Any]) -> tuple[int, float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            labels = make().fit(X).labels_
        return _clusters(labels), adjusted_rand_score(y, labels)

    methods: dict[str, Callable[[], Any]] = {
        "QuickShift()": QuickShift,
        "MeanShift()": MeanShift,
        "scikit-learn HDBSCAN()": lambda: HDBSCAN(copy=True),
    }

    def blobs(n: int, centers: list[list[float]], step: float, one_column: bool) -> Callable[[int], Any]:
        def make(seed: int) -> tuple[np.ndarray, np.ndarray]:
            X, y = make_blobs(n, centers=centers, random_state=seed)
            if one_column:
                X[:, 1] = np.round(X[:, 1] / step) * step
            else:
                X = np.round(X / step) * step
            return X, y

        return make

    def eight(seed: int) -> tuple[np.ndarray, np.ndarray]:
        X, y = make_blobs(2000, n_features=8, centers=5, center_box=(-15, 15), random_state=seed)
        return np.round(X / 2) * 2, y

    def twelve(seed: int) -> tuple[np.ndarray, np.ndarray]:
        X, y = make_blobs(
            3000, n_features=12, centers=10, cluster_std=1.5, center_box=(-6, 6), random_state=seed
        )
        step = X[:, :3].std(0)  # each rounded to its own deviation
        X[:, :3] = np.round(X[:, :3] / step) * step
        return (X - X.mean(0)) / X.std(0), y

    def six(seed: int) -> tuple[np.ndarray, np.ndarray]:
        X, y = make_blobs(4000, centers=6, random_state=seed)
        return np.round(X / 0.5) * 0.5, y

    cases: list[tuple[str, int, Callable[[int], Any]]] = [
        ("five blobs, both columns rounded to 1", 1500, blobs(1500, FIVE_CENTERS, 1.0, False)),
        ("the same, rounded to 0.5", 1500, blobs(1500, FIVE_CENTERS, 0.5, False)),
        ("the same, 10,000 rows rounded to 1", 10_000, blobs(10_000, FIVE_CENTERS, 1.0, False)),
        ("three blobs, the second column rounded to 0.5", 1000, blobs(1000, THREE_CENTERS, 0.5, True)),
        ("the same, 5,000 rows", 5000, blobs(5000, THREE_CENTERS, 0.5, True)),
        ("three blobs, the second column rounded to 1", 1000, blobs(1000, THREE_CENTERS, 1.0, True)),
        ("the same, rounded to 2", 1000, blobs(1000, THREE_CENTERS, 2.0, True)),
        ("five blobs in 8 features (a box of 30), all rounded to 2", 2000, eight),
        (
            "ten blobs in 12 features (sd 1.5, a box of 12), 3 rounded to their deviation, z-scored",
            3000,
            twelve,
        ),
        ("six blobs in a box of 20, some overlapping, both columns rounded to 0.5", 4000, six),
    ]
    rows = []
    for name, n, make in cases:
        found: dict[str, list[tuple[int, float]]] = {m: [] for m in methods}
        distinct = []
        for seed in range(3):
            X, y = make(seed)
            distinct.append(len(np.unique(X, axis=0)))
            for m, method in methods.items():
                found[m].append(cell(X, y, method))

        def summary(results: list[tuple[int, float]]) -> str:
            k = sorted({c for c, _ in results})
            span = str(k[0]) if len(k) == 1 else f"{k[0]}-{k[-1]}"
            return f"{statistics.fmean(a for _, a in results):.2f} ({span})"

        few, most = min(distinct), max(distinct)
        label = f"{name} ({few if few == most else f'{few}-{most}'} distinct rows of {n:,})"
        rows.append([label, *(summary(found[m]) for m in methods)])
    print("\nvalues on a grid (make_blobs, sd 1 unless said; three draws): mean ARI (clusters found)\n")
    print(markdown_table(["data", *methods], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one-feature", action="store_true", help="only the one-feature table")
    parser.add_argument("--columns", action="store_true", help="only the columns table")
    parser.add_argument("--rival", action="store_true", help="only the rival layout's tables")
    parser.add_argument("--outliers", action="store_true", help="only the far-out fence's tables")
    parser.add_argument("--rounded", action="store_true", help="only the table of values on a grid")
    args = parser.parse_args()
    both = not (args.one_feature or args.columns or args.rival or args.outliers or args.rounded)
    print(f"machine: {machine()}")
    if args.one_feature or both:
        one_feature()
    if args.columns or both:
        columns()
    if args.rival or both:
        rival()
    if args.outliers or both:
        outliers()
    if args.rounded or both:
        rounded()


if __name__ == "__main__":
    main()
