"""Clustering quality with no parameters, on the development battery of public benchmark sets.

    python benchmarks/bench_quality.py [BATTERY] [--skip-sklearn-meanshift] [--large] [--high-dim]
                                         [--given-k]

BATTERY defaults to ../shared/data/clustering-dev (beside the project); its
README says how the sets are scored, and this script does that: every set
rescaled once, ``X = (X - mean) / mean(std)``, fitted with defaults, the
adjusted Rand index between the reference labels (labels0, noise points left
out) and the predicted labels of the same points. Per set: ARI, clusters found
against the reference, seconds; then the median and mean over the sets of at
most 10,000 points (all of them, and without g2mg/, the 44 sets of the issue
that asked for this), for shiftkit's `QuickShift()` and `MeanShift()` and
scikit-learn's `MeanShift()` and `HDBSCAN()`, all measured in this run.
``--large`` adds the sets of 100,000 points (sipu/birch1, birch2, worms_2)
for shiftkit and HDBSCAN (scikit-learn's MeanShift() is not run there: its
default bandwidth makes every seed see a third of the data, hours per set).

``--high-dim`` scores the data people bring without a k instead: the battery's
uci/ and g2mg/ sets and scikit-learn's digits, every feature z-scored (mean 0,
standard deviation 1; constant features left at 0), for shiftkit's defaults,
scikit-learn's HDBSCAN() and UMAP + HDBSCAN (umap-learn's
``UMAP(n_components=5, n_neighbors=30, min_dist=0.0, random_state=0)``, then
``hdbscan.HDBSCAN(min_cluster_size=10)``, the recipe BERTopic popularised),
with where shiftkit sought the modes (``space_``) and each set's reference
number of clusters; then scikit-learn's other bundled tables with classes (wine, iris), z-scored, in a
table of their own.

``--given-k`` asks what the number of clusters buys on those 15 sets, as a ceiling for issue 20's target
(a mean ARI of 0.50): scikit-learn's k-means (``n_init=10``), Ward linkage and a Gaussian mixture of
diagonal covariances (``n_init=3``), each given the reference number of clusters, beside
``QuickShift()``; then the mean of the best of the four on each set, with and without the four g2mg
sets of 60% overlap (two Gaussians 2.3 to 2.5 standard deviations apart, whose density has no dip a
sample of 2,048 rows tells from noise: a default that does not split a flat top answers one cluster,
ARI 0).
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.cluster import HDBSCAN
from sklearn.cluster import MeanShift as SkMeanShift
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table
from shiftkit import MeanShift, QuickShift

DEFAULT_BATTERY = Path(__file__).resolve().parents[2] / "shared" / "data" / "clustering-dev"
SMALL = 10_000

METHODS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "shiftkit QuickShift()": lambda X: QuickShift().fit(X).labels_,
    "shiftkit MeanShift()": lambda X: MeanShift().fit(X).labels_,
    "scikit-learn HDBSCAN()": lambda X: HDBSCAN(copy=True).fit(X).labels_,
    "scikit-learn MeanShift()": lambda X: SkMeanShift(n_jobs=-1).fit(X).labels_,
}


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A set of the battery, rescaled as its README says: X, labels0."""
    X = np.loadtxt(path, ndmin=2)
    with gzip.open(str(path).replace(".data.gz", ".labels0.gz")) as f:
        y = np.loadtxt(f, dtype=int)
    return (X - X.mean(0)) / X.std(0).mean(), y


def zscored(X: np.ndarray) -> np.ndarray:
    """Every feature to mean 0 and standard deviation 1 (a constant feature to 0)."""
    std = X.std(0)
    return (X - X.mean(0)) / np.where(std > 0, std, 1.0)


def high_dim_sets(battery: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The battery's uci/ and g2mg/ sets and scikit-learn's digits, z-scored; labels 1.. (0: noise)."""
    from sklearn.datasets import load_digits

    sets = []
    for f in sorted([*battery.glob("uci/*.data.gz"), *battery.glob("g2mg/*.data.gz")]):
        X = np.loadtxt(f, ndmin=2)
        with gzip.open(str(f).replace(".data.gz", ".labels0.gz")) as g:
            y = np.loadtxt(g, dtype=int)
        sets.append((str(f.relative_to(battery))[: -len(".data.gz")], zscored(X), y))
    digits = load_digits()
    sets.append(("scikit-learn digits", zscored(digits.data), digits.target + 1))
    return sets


def umap_hdbscan(X: np.ndarray) -> np.ndarray:
    import hdbscan
    import umap

    E = umap.UMAP(n_components=5, n_neighbors=30, min_dist=0.0, random_state=0).fit_transform(X)
    return hdbscan.HDBSCAN(min_cluster_size=10).fit(E).labels_


_FITTED: dict[str, QuickShift] = {}  # the --high-dim table's last QuickShift fit, for its space_ column


def _quick_shift_kept(X: np.ndarray) -> np.ndarray:
    """``QuickShift().fit(X).labels_``, the estimator kept for the table's ``space_`` column (one fit)."""
    _FITTED["QuickShift"] = QuickShift().fit(X)
    return _FITTED["QuickShift"].labels_


HIGH_DIM_METHODS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "shiftkit QuickShift()": _quick_shift_kept,
    "shiftkit MeanShift()": lambda X: MeanShift().fit(X).labels_,
    "scikit-learn HDBSCAN()": lambda X: HDBSCAN(copy=True).fit(X).labels_,
    "UMAP + HDBSCAN": umap_hdbscan,
}


def bundled_tables() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """scikit-learn's other bundled tables with classes (its breast cancer table is uci/wdbc), z-scored."""
    from sklearn.datasets import load_iris, load_wine

    tables = {"wine": load_wine(), "iris": load_iris()}
    return [(f"scikit-learn {name}", zscored(t.data), t.target + 1) for name, t in tables.items()]


def high_dim(battery: Path) -> None:
    """The --high-dim tables (see the module docstring)."""
    sets = high_dim_sets(battery)
    rows, results = _high_dim_rows(sets)
    print("\nARI with defaults (clusters found; noise counts as one), every feature z-scored\n")
    print(markdown_table(["set", "n x d", "clusters", "QuickShift space_", *HIGH_DIM_METHODS], rows))
    reference = [len(np.unique(y[y > 0])) for _, _, y in sets]
    summary = []
    for method, runs in results.items():
        ari = [r["ari"] for r in runs]
        shattered = sum(r["found"] > 3 * k for r, k in zip(runs, reference))
        digits = runs[-1]
        summary.append(
            [
                method,
                f"**{statistics.fmean(ari):.3f}**",
                f"{statistics.median(ari):.3f}",
                f"{digits['ari']:.2f} ({digits['found']})",
                str(shattered),
                f"{sum(r['seconds'] for r in runs):.1f} s",
            ]
        )
    print(f"\nmean and median ARI over the {len(sets)} sets\n")
    header = ["method", "mean ARI", "median ARI", "digits", "sets with > 3x the clusters", "time"]
    print(markdown_table(header, summary))
    print("\nscikit-learn's other bundled tables, z-scored (not in the mean above)\n")
    rows, _ = _high_dim_rows(bundled_tables())
    print(markdown_table(["set", "n x d", "clusters", "QuickShift space_", *HIGH_DIM_METHODS], rows))


def given_k(battery: Path) -> None:
    """The --given-k table (see the module docstring)."""
    from sklearn.cluster import AgglomerativeClustering, KMeans
    from sklearn.mixture import GaussianMixture

    fits: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
        "k-means, k given": lambda X, k: KMeans(k, n_init=10, random_state=0).fit_predict(X),
        "Ward, k given": lambda X, k: AgglomerativeClustering(k).fit_predict(X),
        "Gaussian mixture, k given": lambda X, k: GaussianMixture(
            k, covariance_type="diag", n_init=3, random_state=0
        ).fit_predict(X),
        "shiftkit QuickShift()": lambda X, k: QuickShift().fit(X).labels_,
    }
    sets = high_dim_sets(battery)
    ari: dict[str, list[float]] = {m: [] for m in fits}
    rows = []
    for name, X, y in sets:
        k = len(np.unique(y[y > 0]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for method, fit in fits.items():
                ari[method].append(score(y, fit(X, k)))
        rows.append([name, str(k), *(f"{ari[m][-1]:.2f}" for m in fits)])
        print(" | ".join(rows[-1]), flush=True)
    print("\nARI of methods given the reference number of clusters, every feature z-scored\n")
    print(markdown_table(["set", "clusters", *fits], rows))
    best = [max(a) for a in zip(*ari.values())]
    flat = [name.endswith("_60") for name, _, _ in sets]  # the g2mg sets of 60% overlap
    summary = [[m, f"{statistics.fmean(a):.3f}"] for m, a in ari.items()]
    summary.append(["the best of the four on each set", f"{statistics.fmean(best):.3f}"])
    summary.append(
        [
            f"the same, the {sum(flat)} sets of 60% overlap at 0 (one cluster)",
            f"{statistics.fmean(0.0 if f else b for b, f in zip(best, flat)):.3f}",
        ]
    )
    print(f"\nmean ARI over the {len(sets)} sets\n")
    print(markdown_table(["method", "mean ARI"], summary))


def _high_dim_rows(
    sets: list[tuple[str, np.ndarray, np.ndarray]],
) -> tuple[list[list[str]], dict[str, list[dict]]]:
    """Each of ``HIGH_DIM_METHODS`` on each set: the table's rows, and the ARI, clusters and seconds."""
    rows: list[list[str]] = []
    results: dict[str, list[dict]] = {m: [] for m in HIGH_DIM_METHODS}
    for name, X, y in sets:
        row = [name, f"{len(X):,} x {X.shape[1]}", str(len(np.unique(y[y > 0])))]
        for method, fit in HIGH_DIM_METHODS.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                labels = fit(X)
                seconds = time.perf_counter() - start
            found = len(np.unique(labels[labels >= 0])) + int((labels < 0).any())
            results[method].append(dict(ari=score(y, labels), found=found, seconds=seconds))
            row.append(f"{results[method][-1]['ari']:.2f} ({found})")
        row.insert(3, _FITTED["QuickShift"].space_)  # the timed fit's
        rows.append(row)
        print(" | ".join(row), flush=True)
    return rows, results


def score(y: np.ndarray, labels: np.ndarray) -> float:
    known = y > 0  # 0 marks noise points, which carry no reference label
    return float(adjusted_rand_score(y[known], labels[known]))


def evaluate(sets: list[tuple[str, np.ndarray, np.ndarray]], methods: list[str]) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {m: [] for m in methods}
    for name, X, y in sets:
        line = [f"{name} ({len(X):,} x {X.shape[1]}, {len(np.unique(y[y > 0]))} clusters)"]
        for method in methods:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                labels = METHODS[method](X)
                seconds = time.perf_counter() - start
            found = len(np.unique(labels))
            results[method].append(dict(name=name, ari=score(y, labels), found=found, seconds=seconds))
            line.append(f"{method}: {results[method][-1]['ari']:.3f} ({found}) {seconds:.2f}s")
        print(" | ".join(line), flush=True)
    return results


def summary_rows(
    results: dict[str, list[dict]], sets: list[tuple[str, np.ndarray, np.ndarray]]
) -> list[list[str]]:
    reference = {name: len(np.unique(y[y > 0])) for name, _, y in sets}
    rows = []
    for method, runs in results.items():
        ari = [r["ari"] for r in runs]
        no_g2mg = [r["ari"] for r in runs if not r["name"].startswith("g2mg/")]
        single = sum(1 for r in runs if r["found"] == 1 and reference[r["name"]] > 1)
        rows.append(
            [
                method,
                f"**{statistics.median(ari):.3f}** / {statistics.fmean(ari):.3f}",
                f"**{statistics.median(no_g2mg):.3f}** / {statistics.fmean(no_g2mg):.3f}",
                str(single),
                f"{sum(r['seconds'] for r in runs):.1f} s",
            ]
        )
    return rows


def per_set_rows(
    results: dict[str, list[dict]], sets: list[tuple[str, np.ndarray, np.ndarray]]
) -> list[list[str]]:
    rows = []
    for i, (name, X, y) in enumerate(sets):
        row = [name, f"{len(X):,} x {X.shape[1]}", str(len(np.unique(y[y > 0])))]
        for runs in results.values():
            r = runs[i]
            row.append(f"{r['ari']:.2f} ({r['found']})")
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("battery", nargs="?", type=Path, default=DEFAULT_BATTERY)
    parser.add_argument("--skip-sklearn-meanshift", action="store_true", help="the slowest peer (~5 min)")
    parser.add_argument("--large", action="store_true", help="also the sets of 100,000 points")
    parser.add_argument("--high-dim", action="store_true", help="the uci/, g2mg/ and digits table only")
    parser.add_argument(
        "--given-k", action="store_true", help="what the reference number of clusters buys on those sets"
    )
    args = parser.parse_args()
    if not args.battery.is_dir():
        sys.exit(f"no battery at {args.battery}: pass its path")
    if args.high_dim or args.given_k:
        print(f"machine: {machine()}\nbattery: {args.battery}\n")
        if args.high_dim:
            high_dim(args.battery)
        if args.given_k:
            given_k(args.battery)
        return
    files = sorted(args.battery.glob("*/*.data.gz"))
    data = [(str(f.relative_to(args.battery))[: -len(".data.gz")], *load(f)) for f in files]
    small = [s for s in data if len(s[1]) <= SMALL]
    large = [s for s in data if len(s[1]) > SMALL]
    methods = [m for m in METHODS if not (args.skip_sklearn_meanshift and m == "scikit-learn MeanShift()")]
    print(f"machine: {machine()}\nbattery: {args.battery} ({len(small)} sets of at most {SMALL:,} points)\n")
    results = evaluate(small, methods)
    header = ["set", "n x d", "clusters", *(m.replace("scikit-learn", "sklearn") for m in methods)]
    print("\nARI with defaults (clusters found), every set of at most 10,000 points\n")
    print(markdown_table(header, per_set_rows(results, small)))
    print("\nmedian / mean ARI; sets answered with one cluster where the reference has several\n")
    print(
        markdown_table(
            [
                "method (defaults)",
                f"all {len(small)} sets",
                f"the {sum(not s[0].startswith('g2mg/') for s in small)} without g2mg/",
                "one cluster for several",
                "time, all sets",
            ],
            summary_rows(results, small),
        )
    )
    if args.large:
        big_methods = [m for m in methods if m != "scikit-learn MeanShift()"]
        print()
        large_results = evaluate(large, big_methods)
        rows = [
            [name, f"{len(X):,} x {X.shape[1]}", str(len(np.unique(y[y > 0])))]
            + [
                f"{runs[i]['ari']:.3f} ({runs[i]['found']}), {runs[i]['seconds']:.1f} s"
                for runs in large_results.values()
            ]
            for i, (name, X, y) in enumerate(large)
        ]
        print("\nthe large sets: ARI (clusters found), seconds\n")
        print(markdown_table(["set", "n x d", "clusters", *big_methods], rows))


if __name__ == "__main__":
    main()
