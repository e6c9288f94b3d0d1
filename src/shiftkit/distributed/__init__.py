"""shiftkit's estimators on Dask (``pip install 'shiftkit[dask]'``): the same fits, the heavy steps as tasks.

    from dask.distributed import Client
    from shiftkit import DBSCAN, KMeans, MeanShift, QuickShift
    from shiftkit.distributed import fit

    client = Client("tcp://scheduler:8786")        # any deployment: LocalCluster, dask-jobqueue, Kubernetes
    ms = fit(MeanShift(bandwidth=2.5), X, client)  # X: numpy, a dask array, or a list of .npy / CSV files
    km = fit(KMeans(256, init="k-means||"), X, client)
    db = fit(DBSCAN(eps=0.3, min_samples=10), X, client)
    qs = fit(QuickShift(), X, client)              # few features (the input space) or many (a layout)

Mean shift: every step is a map over blocks of query rows; each task runs
shiftkit's own engine against the data, which are scattered to the workers
once per step (blurring, whose data move) or once per fit (standard and
binned, whose data are fixed); only the moved rows come back. With
``tiles=True`` (compact kernels) a worker holds only a slab of the space and a
halo one support radius wide, and each query goes to its slab. Everything else
(the frame, the bandwidth, the seeds, the merge of modes, the labels) runs
where ``fit`` is called, exactly as on one machine, so the result is the
single-machine fit's (tested).

k-means: the data stay on the workers in blocks; every iteration sends the
centers and gets back, per block, float64 sums of the rows' offsets from their
centers and the weights per center (``k x (d + 1)`` numbers), and how many
labels changed; the labels stay where their block is. The iterations, stops
and empty-cluster rule are `KMeans`'s (``algorithm='lloyd'``). k-means|| runs
its passes as tasks (5 rounds; its random draws are per block, so its centers
differ from the single-machine k-means||'s); k-means++, random or given
centers are chosen where ``fit`` is called, on the data there.

KMeans, and MeanShift with ``algorithm='binned'`` or ``'standard'``, on a list
of files: each worker reads its files (a block each) and the data never come to
the client; the frame is combined from the blocks' statistics. Binned mean
shift sums each block by cells of 1/8 bandwidth on its worker; the client
merges the cells into the summary the binned algorithm climbs (the same cells
and float64 sums as on one machine: the same fit, tested). Standard mean shift
(seeds given, or bins counted per block) sends the seeds every step and gets
back each block's kernel sums, added in float64 (the same labels, centers to
float32 rounding, tested). The workers label their rows through their cells or
by the nearest center. This path needs a numeric bandwidth and the radius
merge, and takes no weights: where the fit needs all the data (the bandwidth
rules, the saddle merge, blurring, seeds at every point) the files are read
where ``fit`` is called, as is a dask array.

DBSCAN: slabs of the first coordinate with a halo of ``2 eps``, shiftkit's own
DBSCAN on each, the clusters that meet across slabs joined where ``fit`` is
called, the borders labelled on the workers: scikit-learn's labels and core
rows (`shiftkit.distributed._dbscan`; tested).

QuickShift, in the input space (at most 4 features): slabs of cell columns of
4 bandwidths with a halo that is checked after the fact (every row of a slab,
and each of its neighbors, must see its whole density and its whole k-nearest
neighbors; a slab whose halo falls short is done again with twice the halo);
the climbs followed across slabs, the basins' peaks and saddles merged where
``fit`` is called as on one machine, the labels made on the workers: one
machine's labels (`shiftkit.distributed._quick_shift`; tested). In more
features (embeddings, wide tables), where one machine seeks the modes in a graph
layout of its first distinct rows in content order: the blocks send their first
distinct rows (5,000 to 100,000 of them in all), the client chooses the space
and lays them out as one machine does, the workers place their other rows among
the laid-out ones and label them: one machine's labels
(`shiftkit.distributed._layout`; tested). Where the data choose the density on
principal axes instead, it says so (a ValueError): fit those on one machine.

There is no scheduler here: Dask's handles placement, retries (a task lost
with a worker is recomputed from its inputs) and data transfer.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from shiftkit import DBSCAN, KMeans, MeanShift, QuickShift
from shiftkit.cluster.stages import dbscan_store, fit_stepping, quick_shift_sought
from shiftkit.distributed._blocks import _load_block
from shiftkit.distributed._dbscan import DBSCAN_STAGES, fit_dbscan
from shiftkit.distributed._kmeans import _kmeans_dask, _kmeans_files
from shiftkit.distributed._layout import LAYOUT_DASK_STAGES, fit_quick_shift_layout
from shiftkit.distributed._mean_shift_files import _files_on_workers, _mean_shift_files
from shiftkit.distributed._quick_shift import QUICKSHIFT_STAGES, fit_quick_shift
from shiftkit.distributed._steps import DEFAULT_BLOCK_ROWS, DaskSteps

__all__ = ["DBSCAN_STAGES", "LAYOUT_DASK_STAGES", "QUICKSHIFT_STAGES", "DaskSteps", "fit"]


def _require_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ImportError("shiftkit.distributed needs Dask: pip install 'shiftkit[dask]'") from None
    return distributed


# -- where the data come from ------------------------------------------------------------------------


def _is_file_list(X: Any) -> bool:
    return isinstance(X, (list, tuple)) and bool(X) and all(isinstance(p, (str, Path)) for p in X)


def _materialise(X: Any) -> Any:
    """A dask array or a list of files as an in-memory array; anything else unchanged."""
    if _is_file_list(X):
        from shiftkit.io import load_data

        return np.concatenate([load_data(p)[0] for p in X])
    if hasattr(X, "dask") and hasattr(X, "compute"):
        return X.compute()
    return X


# -- the entry point --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _released_on_failure(client: Any) -> Iterator[None]:
    """On any failure, cancel the futures the fit made: the blocks read from files stayed pinned on the
    workers until the client closed (the exception's traceback holds the frames that hold the futures)."""
    before = set(client.futures)
    try:
        yield
    except BaseException:
        from distributed import Future

        made: list[Any] = [Future(key, client) for key in list(client.futures) if key not in before]
        if made:
            client.cancel(made, force=True)
        raise


def fit(
    estimator: Any,
    X: Any,
    client: Any = None,
    *,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    tiles: bool = False,
    sample_weight: Any = None,
    on_stage: Any = None,
    labels_on_workers: bool = False,
) -> Any:
    """Fit a shiftkit ``MeanShift``, ``KMeans``, ``DBSCAN`` or ``QuickShift`` with its heavy steps as tasks
    on ``client``; returns it.

    Parameters
    ----------
    estimator : MeanShift, KMeans, DBSCAN or QuickShift
    X : array-like, dask array, or a list of .npy / CSV paths
    client : dask.distributed.Client, default=None
        None: the current client (``distributed.get_client()``).
    block_rows : int, default=50,000
        Rows per task (DBSCAN, QuickShift: about the rows of a slab).
    tiles : bool, default=False
        Mean shift with a compact kernel: cut the space into slabs along the
        first coordinate (two per worker), each worker holding only its slab
        and a halo one support radius wide (for data that do not fit one
        worker); the result is the same.
    sample_weight : array-like, default=None
    on_stage : callable, default=None
        DBSCAN, QuickShift: called with the name of each of `DBSCAN_STAGES`,
        `QUICKSHIFT_STAGES` or (QuickShift in a graph layout)
        `LAYOUT_DASK_STAGES` as it starts.
    labels_on_workers : bool, default=False
        QuickShift: leave every row's label and density on the workers, so that
        nothing of the size of the data comes to the client: ``labels_`` and
        ``density_`` are then None and ``label_blocks_`` holds one future per
        block (per file) of (its rows' labels, their densities), in order.
    """
    # 0 ran a 360 s MeanShift or raised "range() arg 3 must not be zero", -5 a scheduler error
    if isinstance(block_rows, bool) or not isinstance(block_rows, numbers.Integral) or block_rows < 1:
        raise ValueError(f"block_rows must be a whole number of rows >= 1, got {block_rows!r}")
    if labels_on_workers and not isinstance(estimator, QuickShift):
        raise ValueError("labels_on_workers is taken by QuickShift only")
    distributed = _require_distributed()
    if client is None:
        client = distributed.get_client()
    if isinstance(estimator, KMeans) and _is_file_list(X):
        if sample_weight is not None:
            raise ValueError("sample_weight is not taken with files read by the workers")
        with _released_on_failure(client):
            return _kmeans_files(estimator, list(X), client)
    if isinstance(estimator, DBSCAN):
        with _released_on_failure(client):
            return _dbscan_by_slabs(estimator, X, client, int(block_rows), sample_weight, on_stage)
    if isinstance(estimator, QuickShift):
        if sample_weight is not None:
            raise ValueError("QuickShift takes no sample_weight")
        with _released_on_failure(client):
            return _quick_shift_by_slabs(estimator, X, client, int(block_rows), on_stage, labels_on_workers)
    if isinstance(estimator, MeanShift) and _is_file_list(X) and _files_on_workers(estimator, sample_weight):
        with _released_on_failure(client):
            return _mean_shift_files(estimator, list(X), client, sample_weight)
    X = _materialise(X)
    if isinstance(estimator, MeanShift):
        steps = DaskSteps(client, block_rows, tiles=tiles)
        return fit_stepping(estimator, X, sample_weight, steps)  # with traffic_ and most_rows_held_
    if isinstance(estimator, KMeans):
        return _kmeans_dask(estimator, X, client, int(block_rows), sample_weight)
    raise TypeError(
        f"shiftkit.distributed fits MeanShift, KMeans, DBSCAN and QuickShift, not {type(estimator).__name__}"
    )


def _blocks_of(X: Any, client: Any, block_rows: int) -> tuple[list[Any], np.ndarray | None]:
    """Futures of the rows in blocks: a file each, read by the workers; anything else checked and split
    into blocks of ``block_rows`` where ``fit`` is called, then scattered. And the array (None for files)."""
    if _is_file_list(X):
        return [client.submit(_load_block, str(p), pure=False) for p in X], None
    data = np.asarray(_materialise(X), dtype=np.float64)
    if data.ndim != 2 or data.shape[0] == 0:
        raise ValueError(f"X must be a non-empty 2-D array, got shape {data.shape}")
    if not np.isfinite(data).all():
        raise ValueError("X contains NaN or infinity")
    cuts = range(0, data.shape[0], block_rows)
    # hash=False: a second fit of the same rows must not share (and lose) the first fit's keys
    return [client.scatter(data[i : i + block_rows], hash=False) for i in cuts], data


def _quick_shift_by_slabs(
    estimator: QuickShift, X: Any, client: Any, block_rows: int, on_stage: Any, labels_on_workers: bool
) -> QuickShift:
    """QuickShift by slabs (`shiftkit.distributed._quick_shift`)."""
    report = on_stage or (lambda name: None)
    report(QUICKSHIFT_STAGES[0])
    blocks, _ = _blocks_of(X, client, block_rows)
    d = int(client.submit(_width, blocks[0], pure=False).result())
    sought = quick_shift_sought(estimator, d)
    if sought in ("auto", "graph-layout"):  # many features: the first distinct rows laid out
        return fit_quick_shift_layout(estimator, blocks, client, sought, on_stage, labels_on_workers)
    return fit_quick_shift(estimator, blocks, client, block_rows, on_stage, labels_on_workers)


def _width(X: np.ndarray) -> int:
    """A block's columns (a task)."""
    return int(X.shape[1])


def _dbscan_by_slabs(
    estimator: DBSCAN, X: Any, client: Any, block_rows: int, sample_weight: Any, on_stage: Any
) -> DBSCAN:
    """DBSCAN by slabs (`shiftkit.distributed._dbscan`): files read by the workers, anything else split
    into blocks of ``block_rows`` where ``fit`` is called and scattered."""
    params = estimator.get_params()
    if params["metric"] != "euclidean":
        raise ValueError(f"DBSCAN on Dask takes metric='euclidean', got {params['metric']!r}")
    eps, min_samples = params["eps"], params["min_samples"]
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 < float(eps) < np.inf:
        raise ValueError(f"eps must be a number > 0, got {eps!r}")
    if isinstance(min_samples, bool) or not isinstance(min_samples, numbers.Real) or float(min_samples) < 1:
        raise ValueError(f"min_samples must be a number >= 1, got {min_samples!r}")
    report = on_stage or (lambda name: None)
    report(DBSCAN_STAGES[0])
    if _is_file_list(X) and sample_weight is not None:
        raise ValueError("sample_weight is not taken with files read by the workers")
    blocks, data = _blocks_of(X, client, block_rows)
    weights = None
    if data is None:
        d = client.submit(lambda b: b.shape[1], blocks[0], pure=False).result()
    else:
        d = data.shape[1]
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float64)
            if w.shape != (data.shape[0],) or not np.isfinite(w).all() or (w < 0).any():
                raise ValueError("sample_weight must be one finite weight >= 0 per row on Dask")
            cuts = range(0, data.shape[0], block_rows)
            weights = [client.scatter(w[i : i + block_rows], hash=False) for i in cuts]
    labels, core, received, edges = fit_dbscan(estimator, blocks, weights, client, block_rows, on_stage)
    components = None if data is None else data[core].copy()
    # traffic_: bytes the client received, per stage; slab_edges_: where the slabs meet (first coordinate)
    extra = {"traffic_": received, "slab_edges_": edges}
    return dbscan_store(estimator, "dask-slabs", labels, core, components, n_features_in=d, extra=extra)
