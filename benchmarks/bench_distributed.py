"""shiftkit on Dask: 1 and 2 worker processes against the single-machine fit, and dask-ml's KMeans, one run.

    python benchmarks/bench_distributed.py [--n 1000000] [--skip-dask-ml]

This machine has 2 cores: two workers of one thread each can at best match
one process with two threads; what the table shows is the overhead of the
distributed path (scatter, tasks, gather) and the traffic per step, which is
what decides whether renting machines pays. Cases: standard mean shift with
bin seeding on 1,000,000 points in 2-D (20 blobs; fixed data scattered once,
the seeds sent every step) and 20 Lloyd iterations of k-means (k = 64) on
1,000,000 x 32 float32 from the same initial centers (dask-ml's KMeans runs the
same number of iterations from the same centers on a dask array of the same
blocks). Then binned mean shift on the same 1,000,000 x 2 points written to 10
``.npy`` files that the workers read (the data never come to the client):
time and bytes to the client, against the in-memory binned fit. Then DBSCAN by slabs on the same
1,000,000 x 2 points written to 8 ``.npy`` files (``--only-dbscan`` runs this table alone): its labels
against scikit-learn's DBSCAN and shiftkit's on one machine (checked equal), the seconds, and the bytes
the client received. Then QuickShift() by slabs on the same 8 files (``--only-quickshift``): its labels
checked equal to the one-machine fit's, the seconds, and the bytes the client received per stage.
``--only-layout``: QuickShift() on an embedding-like mixture (``--layout-n`` rows, default 1,000,000,
x 64, `make_embedding_mixture`) in 8 ``.npy`` files, where one machine seeks the modes in a graph
layout: the Dask fit's labels checked equal to the one-machine fit's, the seconds and the bytes the
client received per stage. ``--client-memory``: the resident memory (before,
after, peak) of the process that calls
``fit(QuickShift(), files, client, labels_on_workers=True)`` on 250,000, 1,000,000 and 2,000,000 rows
(each in a fresh process; the files written part by part): what the client holds does not grow with
the rows.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table


def main() -> None:
    import dask.array as da
    import distributed

    from shiftkit import KMeans, MeanShift
    from shiftkit.distributed import fit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--skip-dask-ml", action="store_true")
    parser.add_argument("--only-files", action="store_true", help="the binned mean shift on files only")
    parser.add_argument("--only-dbscan", action="store_true", help="DBSCAN by slabs only")
    parser.add_argument("--only-quickshift", action="store_true", help="QuickShift by slabs only")
    parser.add_argument("--only-layout", action="store_true", help="QuickShift in a graph layout only")
    parser.add_argument("--layout-n", type=int, default=1_000_000, help="rows of --only-layout's mixture")
    parser.add_argument("--client-memory", action="store_true", help="QuickShift's client RSS by rows")
    parser.add_argument("--client-rss", type=int, help=argparse.SUPPRESS)  # one child of --client-memory
    args = parser.parse_args()
    if args.client_rss:
        client_rss(args.client_rss)
        return
    print(machine())
    rng = np.random.default_rng(0)
    centers = rng.uniform(-10, 10, (20, 2))
    X2 = (centers[rng.integers(0, 20, args.n)] + rng.normal(size=(args.n, 2))).astype(np.float32)
    c32 = rng.normal(scale=4.0, size=(64, 32))
    X32 = (c32[rng.integers(0, 64, args.n)] + rng.normal(size=(args.n, 32))).astype(np.float32)
    C0 = X32[rng.choice(args.n, 64, replace=False)]
    ms_params = {"bandwidth": 1.0, "algorithm": "standard", "bin_seeding": True}
    rows = []
    if args.only_files:
        files_table(X2)
        return
    if args.only_dbscan:
        dbscan_table(X2.astype(np.float64))
        return
    if args.only_quickshift:
        quick_shift_table(X2.astype(np.float64))
        return
    if args.only_layout:
        layout_table(args.layout_n)
        return
    if args.client_memory:
        client_memory_table()
        return

    t = time.perf_counter()
    ms_one = MeanShift(**ms_params).fit(X2)
    t_ms_one = time.perf_counter() - t
    t = time.perf_counter()
    km_one = KMeans(64, init=C0, max_iter=20, tol=0, algorithm="lloyd").fit(X32)
    t_km_one = time.perf_counter() - t
    rows.append(["one process (2 threads)", f"{t_ms_one:.2f}", "-", f"{t_km_one / km_one.n_iter_:.3f}", "-"])
    for workers in (1, 2):
        with distributed.LocalCluster(
            n_workers=workers, threads_per_worker=2 // workers, processes=True, host="127.0.0.1",
            dashboard_address=None,
        ) as cluster, distributed.Client(cluster) as client:  # fmt: skip
            fit(MeanShift(**ms_params), X2[:20000], client)  # warm the workers (imports, compilation)
            t = time.perf_counter()
            ms = fit(MeanShift(**ms_params), X2, client, block_rows=20000)
            t_ms = time.perf_counter() - t
            assert np.array_equal(ms.labels_, ms_one.labels_)
            traffic = np.median(ms.traffic_[1:]) if len(ms.traffic_) > 1 else ms.traffic_[0]
            t = time.perf_counter()
            km = fit(KMeans(64, init=C0, max_iter=20, tol=0), X32, client, block_rows=125_000)
            t_km = time.perf_counter() - t
            assert np.array_equal(km.labels_, km_one.labels_)
            per_iter_bytes = 64 * (32 + 1) * 8 * (len(range(0, args.n, 125_000))) + 64 * 32 * 4 * workers
            rows.append(
                [
                    f"Dask, {workers} worker process{'es' if workers > 1 else ''} x {2 // workers} thread"
                    + ("s" if 2 // workers > 1 else ""),
                    f"{t_ms:.2f}",
                    f"{traffic / 2**10:.0f} KB per step (the data, once: {ms.traffic_[0] / 2**20:.1f} MB)",
                    f"{t_km / km.n_iter_:.3f}",
                    f"{per_iter_bytes / 2**10:.0f} KB per iteration",
                ]
            )
            if workers == 2 and not args.skip_dask_ml:
                try:
                    from dask_ml.cluster import KMeans as DaskMLKMeans
                except ImportError:
                    print("dask-ml is not installed (pip install dask-ml): its row is left out")
                    continue

                Xd = da.from_array(X32, chunks=(125_000, 32)).persist()
                t = time.perf_counter()
                dml = DaskMLKMeans(n_clusters=64, init=C0, max_iter=20, tol=0, oversampling_factor=2).fit(Xd)
                t_dml = time.perf_counter() - t
                rows.append(
                    ["dask-ml KMeans, 2 worker processes", "-", "-", f"{t_dml / dml.n_iter_:.3f}", "-"]
                )
    print(
        f"\n{args.n:,} points: standard mean shift with bin seeding in 2-D (bandwidth 1.0), and k-means "
        f"({args.n:,} x 32, k = 64, s per Lloyd iteration, whole fit / iterations)\n"
    )
    print(
        markdown_table(
            ["where", "mean shift s", "mean-shift traffic", "k-means s / iteration", "k-means traffic"], rows
        )
    )

    files_table(X2)
    dbscan_table(X2.astype(np.float64))
    quick_shift_table(X2.astype(np.float64))
    layout_table(args.layout_n)


@contextlib.contextmanager
def _in_files_on_two_workers(X: np.ndarray, n_files: int) -> Iterator[tuple[list[Path], Any]]:
    """``X`` written to ``n_files`` .npy files in a temporary folder, and a client of 2 worker processes
    of one thread each."""
    import tempfile

    import distributed

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, part in enumerate(np.array_split(X, n_files)):
            paths.append(Path(tmp) / f"part{i}.npy")
            np.save(paths[-1], part)
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster, distributed.Client(cluster) as client:  # fmt: skip
            yield paths, client


def client_rss(n: int) -> None:
    """One child of `client_memory_table`: QuickShift by slabs on ``n`` rows in 8 files, labels on the
    workers; prints the rows, seconds, clusters and the peak RSS before and after (MB)."""
    import resource
    import tempfile

    import distributed

    from shiftkit import QuickShift
    from shiftkit.distributed import fit

    rng = np.random.default_rng(0)
    centers = rng.uniform(-10, 10, (20, 2))
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(8):  # part by part: this process never holds the data
            part = centers[rng.integers(0, 20, n // 8)] + rng.normal(size=(n // 8, 2))
            paths.append(Path(tmp) / f"part{i}.npy")
            np.save(paths[-1], part)
        del part
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster, distributed.Client(cluster) as client:  # fmt: skip
            before = _rss_mb()
            t = time.perf_counter()
            fitted = fit(QuickShift(), paths, client, labels_on_workers=True)
            seconds = time.perf_counter() - t
            after = _rss_mb()
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(n, f"{seconds:.1f}", len(fitted.cluster_centers_), f"{before:.0f}", f"{after:.0f}", f"{peak:.0f}",
          f"{sum(fitted.traffic_.values()) / 2**20:.2f}")  # fmt: skip


def _rss_mb() -> float:
    """This process's resident memory now (Linux), MB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def client_memory_table() -> None:
    """The client's peak RSS around a QuickShift by slabs whose labels stay on the workers, by rows."""
    import subprocess

    rows = []
    for n in (250_000, 1_000_000, 2_000_000):
        out = subprocess.run(
            [sys.executable, __file__, "--client-rss", str(n)], capture_output=True, text=True, check=True
        ).stdout.split()
        rows.append([f"{int(out[0]):,}", *out[1:]])
    print("\nQuickShift() by slabs, 8 files, 2 worker processes, labels left on the workers\n")
    print(markdown_table(
        ["rows", "s", "clusters", "client RSS before fit, MB", "after, MB", "peak, MB", "to the client, MB"],
        rows,
    ))  # fmt: skip


def _timed(call: Any) -> tuple[Any, float]:
    """What ``call()`` returns, and the seconds it took."""
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def quick_shift_table(X2: np.ndarray) -> None:
    """QuickShift() by slabs on files read by 2 worker processes, against the one-machine fit."""

    from shiftkit import QuickShift
    from shiftkit.distributed import fit

    one, t_one = _timed(lambda: QuickShift().fit(X2))
    rows = [["shiftkit QuickShift(), one process (2 threads)", f"{t_one:.2f}", "-"]]
    with _in_files_on_two_workers(X2, 8) as (paths, client):
        many, t_many = _timed(lambda: fit(QuickShift(), paths, client))
        assert np.array_equal(many.labels_, one.labels_)
        assert np.array_equal(many.density_, one.density_)
        traffic = "; ".join(f"{k}: {v / 2**20:.2f} MB" for k, v in many.traffic_.items())
        rows.append([
            f"shiftkit QuickShift() by slabs, Dask, 2 worker processes, 8 files, "
            f"{len(many.slab_edges_) + 1} slabs",
            f"{t_many:.2f}",
            f"{traffic} (the data: {X2.nbytes / 2**20:.1f} MB)",
        ])  # fmt: skip
    print(
        f"\nQuickShift() on {len(X2):,} x 2 ({one.labels_.max() + 1} clusters): labels and densities equal "
        "to the one-machine fit's in every row\n"
    )
    print(markdown_table(["where", "s", "to the client"], rows))


def layout_table(n: int) -> None:
    """QuickShift() in a graph layout on Dask (64 features, files read by 2 worker processes) against the
    one-machine fit: the same labels, the seconds and what the client received."""
    from sklearn.metrics import adjusted_rand_score

    from shiftkit import QuickShift
    from shiftkit.datasets import make_embedding_mixture
    from shiftkit.distributed import fit

    X, y = make_embedding_mixture(n, random_state=0)
    X = X.astype(np.float64)
    one, t_one = _timed(lambda: QuickShift().fit(X))
    rows = [["shiftkit QuickShift(), one process (2 threads)", f"{t_one:.2f}", "-"]]
    with _in_files_on_two_workers(X, 8) as (paths, client):
        many, t_many = _timed(lambda: fit(QuickShift(), paths, client, labels_on_workers=True))
        labels = np.concatenate([p[0] for p in client.gather(many.label_blocks_)])
        assert many.space_ == one.space_ == "graph-layout"
        assert np.array_equal(labels, one.labels_)
        traffic = "; ".join(f"{k}: {v / 2**20:.2f} MB" for k, v in many.traffic_.items())
        rows.append([
            "shiftkit QuickShift() in a layout, Dask, 2 worker processes, 8 files, labels on the workers",
            f"{t_many:.2f}",
            f"{traffic} (the data: {X.nbytes / 2**20:.1f} MB)",
        ])  # fmt: skip
    print(
        f"\nQuickShift() on {n:,} x 64 (`make_embedding_mixture`; {one.labels_.max() + 1} clusters, ARI "
        f"{adjusted_rand_score(y, one.labels_):.4f}; {len(one.embedding_rows_):,} rows laid out): labels "
        "equal to the one-machine fit's in every row\n"
    )
    print(markdown_table(["where", "s", "to the client"], rows))


def dbscan_table(X2: np.ndarray, eps: float = 0.05, min_samples: int = 10) -> None:
    """DBSCAN by slabs on files read by the workers, against scikit-learn's and shiftkit's on one machine."""
    from sklearn.cluster import DBSCAN as SkDBSCAN

    from shiftkit import DBSCAN
    from shiftkit.distributed import fit

    t = time.perf_counter()
    sk = SkDBSCAN(eps=eps, min_samples=min_samples, n_jobs=-1).fit(X2)
    t_sk = time.perf_counter() - t
    t = time.perf_counter()
    one = DBSCAN(eps=eps, min_samples=min_samples).fit(X2)
    t_one = time.perf_counter() - t
    assert np.array_equal(one.labels_, sk.labels_)
    n_clusters = int(sk.labels_.max()) + 1
    rows = [
        ["scikit-learn DBSCAN, one process", f"{t_sk:.2f}", "-"],
        ["shiftkit DBSCAN, one process", f"{t_one:.2f}", "-"],
    ]
    with _in_files_on_two_workers(X2, 8) as (paths, client):
        fit(DBSCAN(eps=eps, min_samples=min_samples), paths[:1], client)  # warm the workers
        t = time.perf_counter()
        many = fit(DBSCAN(eps=eps, min_samples=min_samples), paths, client)
        t_many = time.perf_counter() - t
        assert np.array_equal(many.labels_, sk.labels_)
        assert np.array_equal(many.core_sample_indices_, sk.core_sample_indices_)
        pieces, labels = many.traffic_["pieces and the pairs that meet"], many.traffic_["labels"]
        rows.append([
            f"shiftkit DBSCAN by slabs, Dask, 2 worker processes, 8 files, {len(many.slab_edges_) + 1} "
            "slabs",
            f"{t_many:.2f}",
            f"{pieces / 2**10:.0f} KB pieces and pairs that meet + {labels / 2**20:.1f} MB labels "
            f"(the data: {X2.nbytes / 2**20:.1f} MB)",
        ])  # fmt: skip
    print(
        f"\nDBSCAN on {len(X2):,} x 2 (eps {eps}, min_samples {min_samples}; {n_clusters} clusters, "
        f"{(sk.labels_ < 0).mean():.1%} noise): labels and core rows equal to scikit-learn's in every row\n"
    )
    print(markdown_table(["where", "s", "to the client"], rows))


def files_table(X2: np.ndarray) -> None:
    """Binned mean shift on files read by the workers against the in-memory binned fit."""
    import tempfile

    import distributed

    from shiftkit import MeanShift
    from shiftkit.distributed import fit

    params = {"bandwidth": 1.0, "algorithm": "binned"}
    t = time.perf_counter()
    one = MeanShift(**params).fit(X2)
    t_one = time.perf_counter() - t
    rows = [["one process, in memory (2 threads)", f"{t_one:.2f}", "-", len(one.cluster_centers_)]]
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, part in enumerate(np.array_split(X2, 10)):
            paths.append(Path(tmp) / f"part{i}.npy")
            np.save(paths[-1], part)
        for workers in (1, 2):
            with distributed.LocalCluster(
                n_workers=workers, threads_per_worker=2 // workers, processes=True, host="127.0.0.1",
                dashboard_address=None,
            ) as cluster, distributed.Client(cluster) as client:  # fmt: skip
                fit(MeanShift(**params), paths[:1], client)  # warm the workers
                t = time.perf_counter()
                many = fit(MeanShift(**params), paths, client)
                t_many = time.perf_counter() - t
                assert np.array_equal(many.labels_, one.labels_)
                stats, summaries, labels = many.traffic_
                rows.append([
                    f"Dask, {workers} worker process{'es' if workers > 1 else ''}, 10 files",
                    f"{t_many:.2f}",
                    f"{stats / 2**10:.1f} KB statistics + {summaries / 2**20:.2f} MB cell sums + "
                    f"{labels / 2**20:.1f} MB labels (the data: {X2.nbytes / 2**20:.1f} MB)",
                    len(many.cluster_centers_),
                ])  # fmt: skip
    print(f"\nbinned mean shift on {len(X2):,} x 2 (bandwidth 1.0): labels equal in every row\n")
    print(markdown_table(["where", "s", "to the client", "clusters"], rows))


if __name__ == "__main__":
    main()
