"""Clustering embeddings with no parameters: speed and quality against the anchors, in the same run.

    python benchmarks/bench_highdim.py [--n 100000] [--no-large] [--no-peers] [--switch] [--variants] [--cuts]
                                       [--many]

- **Speed** (default): an embedding-like mixture (`shiftkit.datasets.make_embedding_mixture`:
  30 anisotropic clusters of unequal size on a 16-dimensional subspace of 64 features, plus
  isotropic noise), ``--n`` rows, clustered by ``QuickShift()``, fast_hdbscan's ``HDBSCAN()`` and
  UMAP + HDBSCAN (umap-learn ``UMAP(n_components=5, n_neighbors=30, min_dist=0.0)``, then
  ``hdbscan.HDBSCAN(min_cluster_size=10)``), each in a fresh Python process: the seconds of the
  first fit in that process (what a script pays: imports done, numba compiling or loading its
  cache), of a second fit in the same process (warm), the ARI against the mixture's labels, the
  clusters found and the process's peak RSS. Then 1,000,000 x 64 for shiftkit (``--no-large``
  skips it), and the recall of the search that labels the rows not laid out (the 10 nearest
  laid-out rows among the rows of nearby cells, `shiftkit.neighbors.partitioned_kneighbors`)
  against the exhaustive search.
- ``--switch``: where a density stops working and the layout takes over. Mixtures of twelve
  clusters on a lattice (spacing 6, unit noise) in ``s`` = 1..8 of 32 features, clustered in
  each space (``space=``), with the number of signal axes parallel analysis counts; then the
  battery's high-dimensional sets (``../shared/data/clustering-dev``) in each space.
- ``--variants``: the layout's choices against the alternatives, over six seeds on the 13
  high-dimensional development sets (uci/, g2mg/ in more than 3 features, digits): the membership
  graph's symmetrisation (average, UMAP's union), the epochs (500 against 200), and the layout
  itself against umap-learn's (5 dimensions, 15 neighbors, ``min_dist=0``) under the same mode
  seeking.
- ``--cuts``: the clusters of a layout must be cut apart in the data's neighbor graph
  (`shiftkit.cluster._cuts`): clouds of correlated features with no clusters (normal, Student's t,
  uniform) found as one cluster or split, the sphere sets of ``bench_image.py`` and the
  development sets, with no such test and at three fractions.
- ``--many``: the least cluster a layout keeps by default (`shiftkit.cluster._spaces.layout_size`):
  0.5% of the rows (as before), half their square root (the default), or 100 rows
  asked for: embeddings in many small clusters (``make_embedding_mixture`` with 150 clusters in
  20,000 rows and 300 in 100,000, on 32-dimensional subspaces; fast_hdbscan's ``HDBSCAN()`` beside
  them, warm), the 30-cluster mixture of 100,000 rows, and structureless clouds of 50,000 and 200,000
  rows (normal, Student's t, uniform; 20, 32, 64 features) found as one cluster or torn.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table

BATTERY = Path(__file__).resolve().parents[2] / "shared" / "data" / "clustering-dev"

CHILD = r"""
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np
from sklearn.metrics import adjusted_rand_score
from shiftkit.datasets import make_embedding_mixture

method, n = sys.argv[1], int(sys.argv[2])
X, y = make_embedding_mixture(n, random_state=0)
if method == "shiftkit":
    from shiftkit import QuickShift
    fit = lambda X: QuickShift().fit(X).labels_
elif method == "fast_hdbscan":
    import fast_hdbscan
    fit = lambda X: fast_hdbscan.HDBSCAN().fit_predict(X)
else:
    import hdbscan, umap
    def fit(X):
        E = umap.UMAP(n_components=5, n_neighbors=30, min_dist=0.0).fit_transform(X)
        return hdbscan.HDBSCAN(min_cluster_size=10).fit(E).labels_
times = []
for _ in range(int(sys.argv[3])):
    start = time.perf_counter()
    labels = fit(X)
    times.append(time.perf_counter() - start)
print(json.dumps(dict(
    times=times, ari=adjusted_rand_score(y, labels), found=int(len(np.unique(labels[labels >= 0]))),
    noise=float((labels < 0).mean()), peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    data_mb=X.nbytes / 2**20,
)))
"""

PEERS = {
    "shiftkit QuickShift()": "shiftkit",
    "fast_hdbscan HDBSCAN()": "fast_hdbscan",
    "UMAP + HDBSCAN": "umap_hdbscan",
}


def in_fresh_process(method: str, n: int, fits: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, method, str(n), str(fits)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def speed(n: int, peers: bool) -> None:
    print(f"\n{n:,} x 64, 30 clusters: each method in a fresh process (first fit, then a second)\n")
    rows, results = [], {}
    for name, method in PEERS.items():
        if not peers and method != "shiftkit":
            continue
        r = results[name] = in_fresh_process(method, n, 2)
        print(name, r, flush=True)
    ours = results["shiftkit QuickShift()"]
    for name, r in results.items():
        first, second = r["times"]
        rows.append(
            [
                name,
                f"{first:.1f} s",
                f"{second:.1f} s",
                f"{first / ours['times'][0]:.1f}x",
                f"{second / ours['times'][1]:.1f}x",
                f"{r['ari']:.4f}",
                f"{r['found']} ({r['noise']:.1%} noise)",
                f"{r['peak_mb']:,.0f} MB",
            ]
        )
    header = ["method", "first fit", "second fit", "first / ours", "second / ours", "ARI", "clusters"]
    print()
    print(markdown_table([*header, "peak RSS"], rows))


def large() -> None:
    r = in_fresh_process("shiftkit", 1_000_000, 1)
    print("\n1,000,000 x 64, 30 clusters, QuickShift() in a fresh process\n")
    row = [
        f"{r['times'][0]:.1f}",
        f"{r['ari']:.4f}",
        r["found"],
        f"{r['peak_mb']:,.0f} MB",
        f"{r['data_mb']:.0f} MB",
    ]
    print(markdown_table(["seconds", "ARI", "clusters", "peak RSS (the process)", "the data"], [row]))


def recall(n: int) -> None:
    """The search that labels the rows not laid out, against the exhaustive one."""
    import torch

    from shiftkit.cluster import _spaces
    from shiftkit.datasets import make_embedding_mixture
    from shiftkit.neighbors import ExactIndex, _partition

    X, _ = make_embedding_mixture(n, random_state=0)
    X_t = torch.as_tensor(X - X.mean(0))
    G = _spaces.graph_coordinates(X_t, _spaces.graph_axes(X_t, np.arange(n)))
    m = 10_000  # the layout's rows of a run asking for 0.2% clusters; 4,000 by default
    laid_out, rest = G[:m], G[m:]
    k = _spaces.ASSIGN_NEIGHBORS
    start = time.perf_counter()
    _, exact = ExactIndex().fit(laid_out).kneighbors(rest, k)
    t_exact = time.perf_counter() - start
    start = time.perf_counter()
    _, found = _spaces.nearest_laid_out(laid_out, rest, k, 256 * 2**20)
    t_found = time.perf_counter() - start
    hits = np.mean([len(set(a) & set(b)) / k for a, b in zip(exact.numpy(), found.numpy())])
    first = float(np.mean(exact[:, 0].numpy() == found[:, 0].numpy()))
    print(f"\nthe {len(rest):,} rows not laid out: their {k} nearest of the {m:,} laid out\n")
    cells = f"cells of {_partition.CELL_SIZE} rows, the {_partition.N_PROBE} nearest cells searched"
    print(
        markdown_table(
            ["search", "seconds", "recall of the 10", "nearest found"],
            [["exhaustive (64 coordinates)", f"{t_exact:.2f}", "1", "1"],
             [cells, f"{t_found:.2f}", f"{hits:.4f}", f"{first:.4f}"]],
        )
    )  # fmt: skip


def _signal_mixture(s: int, seed: int, n: int = 2400, d: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Twelve Gaussian clusters (unit noise in all ``d`` features) whose centers are twelve points of a
    lattice of spacing 6 in ``s`` of the features, rotated at random: as separated at every ``s``."""
    import itertools

    rng = np.random.default_rng(seed)
    side = int(np.ceil(12 ** (1 / s) - 1e-9))
    lattice = np.array(list(itertools.product(range(side), repeat=s)), dtype=float)
    centers = np.zeros((12, d))
    centers[:, :s] = 6.0 * lattice[rng.choice(len(lattice), 12, replace=False)]
    y = rng.integers(0, 12, n)
    X = centers[y] + rng.normal(size=(n, d))
    return X @ np.linalg.qr(rng.normal(size=(d, d)))[0], y


def switch(battery: Path) -> None:
    import warnings

    from sklearn.metrics import adjusted_rand_score

    from shiftkit import QuickShift

    spaces = ("input", "principal-axes", "graph-layout")
    rows = []
    for s in range(1, 9):
        scores = {sp: [] for sp in spaces}
        counted = []
        for seed in range(3):
            X, y = _signal_mixture(s, seed)
            counted.append(QuickShift().fit(X).n_signal_features_)
            for sp in spaces:
                scores[sp].append(adjusted_rand_score(y, QuickShift(space=sp).fit(X).labels_))
        rows.append(
            [s, f"{statistics.fmean(counted):.1f}", *(f"{statistics.fmean(scores[sp]):.2f}" for sp in spaces)]
        )
    print("\ntwelve clusters differing along s of 32 features (mean ARI of 3 draws) in each space\n")
    print(markdown_table(["s", "signal axes counted", *spaces], rows))
    if not battery.is_dir():
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_quality import high_dim_sets, score

    rows = []
    for name, X, y in high_dim_sets(battery):
        if X.shape[1] <= 3:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            auto = QuickShift().fit(X)
            row = [name, f"{X.shape[1]}", str(auto.n_signal_features_), auto.space_]
            row += [f"{score(y, QuickShift(space=sp).fit(X).labels_):.2f}" for sp in spaces]
        rows.append(row)
        print(" | ".join(row), flush=True)
    print("\nthe development sets in more than three features (z-scored): ARI in each space\n")
    print(markdown_table(["set", "features", "signal axes", "auto chose", *spaces], rows))


def variants(battery: Path) -> None:
    import warnings

    import torch

    from shiftkit.bandwidth import local_bandwidth
    from shiftkit.cluster._mode_seeking import seek_modes
    from shiftkit.cluster._spaces import LAYOUT_MIN_GAP_POINTS
    from shiftkit.embedding import layout_graph, membership_graph
    from shiftkit.embedding._layout import knn_of_distinct

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_quality import high_dim_sets, score

    sets = [(name, X, y) for name, X, y in high_dim_sets(battery) if X.shape[1] > 3]

    def seek(E: np.ndarray) -> np.ndarray:
        E_t = torch.as_tensor(E, dtype=torch.float64)
        return seek_modes(
            E_t, n_neighbors=None, bandwidth=local_bandwidth(E_t), prominence=None,
            min_cluster_size=0.005, memory_budget=2**28, min_gap_points=LAYOUT_MIN_GAP_POINTS,
        ).labels  # fmt: skip

    def umap_layout(X: np.ndarray, seed: int) -> np.ndarray:
        import umap

        return umap.UMAP(n_components=5, n_neighbors=15, min_dist=0.0, random_state=seed).fit_transform(X)

    results: dict[str, list[list[float]]] = {}
    seconds: dict[str, float] = {}
    for name, X, y in sets:
        X32 = torch.as_tensor(X, dtype=torch.float32)
        distances, indices = knn_of_distinct(X32, 14, 2**28)
        average, union = membership_graph(distances, indices), _fuzzy_union(distances, indices)
        per: dict[str, list[float]] = {}
        for seed in range(6):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for label, W, epochs in (
                    ("ours: average, 500 epochs", average, 500),
                    ("union of memberships (UMAP's)", union, 500),
                    ("200 epochs", average, 200),
                ):
                    start = time.perf_counter()
                    E = layout_graph(W, X, n_components=5, n_epochs=epochs, seed=seed)
                    seconds[label] = seconds.get(label, 0.0) + time.perf_counter() - start
                    per.setdefault(label, []).append(score(y, seek(E)))
                label = "umap-learn's layout"
                start = time.perf_counter()
                E = umap_layout(X, seed)
                seconds[label] = seconds.get(label, 0.0) + time.perf_counter() - start
                per.setdefault(label, []).append(score(y, seek(E)))
        for label, scores in per.items():
            results.setdefault(label, []).append(scores)
        print(name, {k: round(statistics.fmean(v), 3) for k, v in per.items()}, flush=True)
    digits = [name for name, _, _ in sets].index("scikit-learn digits")
    rows = []
    for label, per_set in results.items():
        means = [statistics.fmean(s) for s in per_set]
        rows.append(
            [label, f"{statistics.fmean(means):.3f}", f"{statistics.fmean(per_set[digits]):.3f}",
             f"{min(per_set[digits]):.2f}-{max(per_set[digits]):.2f}", f"{seconds[label]:.1f} s"]
        )  # fmt: skip
    print(f"\nthe layout's variants, six seeds on the {len(sets)} sets (mode seeking as QuickShift's)\n")
    print(markdown_table(["variant", "mean ARI", "digits (mean)", "digits (range)", "layout time"], rows))


def _fuzzy_union(distances: np.ndarray, indices: np.ndarray):
    """UMAP's default symmetrisation of the same memberships: ``a + b - ab``."""
    import scipy.sparse as sp

    from shiftkit.embedding._membership import MIN_SIGMA_SCALE, _sigmas

    n, k = distances.shape
    excess = np.maximum(distances - distances[:, :1], 0.0)
    sigma = _sigmas(excess, np.log2(k + 1), MIN_SIGMA_SCALE * float(distances.mean()))
    w = np.exp(-excess / sigma[:, None])
    W = sp.csr_matrix((w.ravel(), indices.ravel(), np.arange(0, n * k + 1, k)), shape=(n, n))
    return (W + W.T - W.multiply(W.T)).tocsr()


def _cloud(kind: str, d: int, spectrum: tuple[float, float], n: int, seed: int) -> np.ndarray:
    """One cloud of ``n`` rows in ``d`` correlated, z-scored features (no clusters): normal, Student's t
    with 3 degrees of freedom, or uniform, through a random matrix whose rows are scaled from
    ``spectrum[0]`` down to ``spectrum[1]``."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d)) * np.geomspace(*spectrum, d)[:, None]
    draw = {"normal": rng.normal, "t3": lambda size: rng.standard_t(3, size=size), "uniform": rng.uniform}
    X = draw[kind](size=(n, d)) @ A
    return (X - X.mean(0)) / X.std(0)


CLOUDS = [
    (kind, d, spectrum, n, seed)
    for kind in ("normal", "t3", "uniform")
    for d, spectrum in ((20, (3.0, 0.3)), (64, (3.0, 0.3)), (32, (10.0, 0.1)), (128, (3.0, 1.0)))
    for n in (500, 2_000, 10_000)
    for seed in range(2)
]


def cut_test(battery: Path) -> None:
    """The --cuts table: clusters of a layout cut apart in the data's graph, at several fractions."""
    import warnings

    import torch
    from sklearn.metrics import adjusted_rand_score

    from bench_image import SPHERES, sphere
    from bench_quality import high_dim_sets, score
    from shiftkit import QuickShift
    from shiftkit.cluster import _cuts
    from shiftkit.image import cluster_embeddings

    def clusters(X: np.ndarray) -> np.ndarray:
        return QuickShift().fit(X).labels_

    sets = high_dim_sets(battery) if battery.is_dir() else []
    chosen, rows = _cuts.CUT_FRACTION, []
    for fraction in (np.inf, 0.5, 0.3, 0.2):
        _cuts.CUT_FRACTION = fraction
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = [len(np.unique(clusters(_cloud(*c)))) for c in CLOUDS]
            ari = {name: (score(y, labels := clusters(X)), len(np.unique(labels))) for name, X, y in sets}
            spheres = []
            for sizes, noise in SPHERES.values():
                E, y = sphere(sizes, noise, seed=len(sizes))
                labels, _ = cluster_embeddings(torch.tensor(E, dtype=torch.float32))
                spheres.append(adjusted_rand_score(y, labels))
        split = [k for k in found if k > 1]
        row = [
            "none" if fraction == np.inf else f"{fraction}",
            f"{len(split)} of {len(CLOUDS)}" + (f" (2 to {max(split)})" if split else ""),
            f"{min(spheres):.2f}",
        ]
        if sets:
            digits, wdbc = ari["scikit-learn digits"], ari["uci/wdbc"]
            mean = statistics.fmean(a for a, _ in ari.values())
            row += [f"{mean:.3f}", f"{digits[0]:.2f} ({digits[1]})", f"{wdbc[0]:.2f} ({wdbc[1]})"]
        rows.append(row)
        print(" | ".join(row), flush=True)
    _cuts.CUT_FRACTION = chosen
    print(
        f"\nclusters of a layout merged where more than the fraction of the smaller one's edges join them "
        f"(the default: {chosen}); {len(CLOUDS)} clouds of correlated features (normal, t3, uniform; 20 to "
        "128 features; 500 to 10,000 rows; two draws), the 9 sphere sets of bench_image.py, the 15 "
        "--high-dim sets\n"
    )
    header = ["cut fraction", "clouds split", "sphere sets: least ARI"]
    print(markdown_table(header + (["--high-dim mean ARI", "digits", "uci/wdbc"] if sets else []), rows))


MANY_CLOUDS = [
    (kind, d, spectrum)
    for kind in ("normal", "t3", "uniform")
    for d, spectrum in ((20, (3.0, 0.3)), (64, (3.0, 0.3)), (32, (10.0, 0.1)))
]


def many_clusters() -> None:
    """The --many table: the layout's default least cluster against the fraction and a fixed count."""
    import warnings

    import fast_hdbscan
    from sklearn.metrics import adjusted_rand_score

    from shiftkit import QuickShift
    from shiftkit.cluster import _spaces
    from shiftkit.datasets import make_embedding_mixture

    warnings.simplefilter("ignore")
    mixtures = {
        "20,000 rows, 150 clusters": make_embedding_mixture(
            20_000, n_clusters=150, n_subspace=32, random_state=0
        ),
        "100,000 rows, 300 clusters": make_embedding_mixture(
            100_000, n_clusters=300, n_subspace=32, random_state=0
        ),
        "100,000 rows, 30 clusters": make_embedding_mixture(100_000, random_state=0),
    }
    fast_hdbscan.HDBSCAN().fit(mixtures["20,000 rows, 150 clusters"][0][:2000])  # compiled before it is timed
    default_rule, rows = _spaces._layout_min_size, []

    def fraction(size: float | None, total: float, root: bool = False) -> float:
        return default_rule(size, total)  # the rule of the axes and the input space: 0.5%

    rules = {
        "0.5% of the rows (before)": (fraction, None),
        "half the square root of the rows (default)": (default_rule, None),
        "min_cluster_size=100": (default_rule, 100),
    }

    def found(X: np.ndarray, y: np.ndarray, fit) -> str:
        start = time.perf_counter()
        labels = fit(X)
        seconds = time.perf_counter() - start
        return f"{len(np.unique(labels[labels >= 0]))}, {adjusted_rand_score(y, labels):.3f}, {seconds:.1f} s"

    try:
        for name, (rule, asked) in rules.items():
            _spaces._layout_min_size = rule
            row = [name] + [
                found(X, y, lambda X, asked=asked: QuickShift(min_cluster_size=asked).fit(X).labels_)
                for X, y in mixtures.values()
            ]
            for n in (50_000, 200_000):
                torn = [
                    len(np.unique(QuickShift(min_cluster_size=asked).fit(_cloud(*c, n, 0)).labels_))
                    for c in MANY_CLOUDS
                ]
                row.append(
                    f"{sum(k > 1 for k in torn)} of {len(torn)}"
                    + (f" ({max(torn)} at most)" if max(torn) > 1 else "")
                )
            rows.append(row)
            print(" | ".join(row), flush=True)
    finally:
        _spaces._layout_min_size = default_rule
    rows.append(
        ["fast_hdbscan HDBSCAN() (warm)"]
        + [found(X, y, lambda X: fast_hdbscan.HDBSCAN().fit_predict(X)) for X, y in mixtures.values()]
        + ["", ""]
    )
    print(
        "\nQuickShift() with each least cluster (clusters found, ARI, seconds); structureless clouds torn\n"
    )
    header = ["least cluster", *mixtures, "clouds of 50,000 torn", "clouds of 200,000 torn"]
    print(markdown_table(header, rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--no-large", action="store_true", help="skip 1,000,000 x 64")
    parser.add_argument("--no-peers", action="store_true", help="shiftkit only")
    parser.add_argument("--switch", action="store_true", help="only the space table")
    parser.add_argument("--variants", action="store_true", help="only the layout's variants")
    parser.add_argument("--cuts", action="store_true", help="only the cut test's table")
    parser.add_argument("--many", action="store_true", help="only the least cluster's table")
    parser.add_argument("--battery", type=Path, default=BATTERY)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    if args.switch:
        switch(args.battery)
        return
    if args.variants:
        variants(args.battery)
        return
    if args.cuts:
        cut_test(args.battery)
        return
    if args.many:
        many_clusters()
        return
    speed(args.n, not args.no_peers)
    recall(args.n)
    if not args.no_large:
        large()


if __name__ == "__main__":
    main()
