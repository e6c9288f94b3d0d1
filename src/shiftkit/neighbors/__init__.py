"""Neighbor indexes and the k-nearest-neighbor graph, for every estimator that needs them.

One protocol (``fit``, ``kneighbors``, ``radius_neighbors``) and several indexes: `GridIndex` (exact,
few features, CPU), `ExactIndex` (exact brute force in torch, any device),
`TreeIndex` (scikit-learn's trees), `FaissIndex` (optional, HNSW for large
data), `LSHIndex` (approximate: random projections, multi-probe, exact re-rank).
`make_index` picks one; `knn_graph` builds the graph of a fitted set;
`partitioned_kneighbors` searches many queries among fixed rows by cells (approximate).

Two modules hold what several algorithms share: `shiftkit.neighbors.cells` (points binned on a
lattice: the grid engine, the grid index, binned seeds, DBSCAN's grid) and
`shiftkit.neighbors.union_find` (numba disjoint sets: DBSCAN, the saddle merge).
"""

from shiftkit.neighbors._graph import GRAPH_LEAST_NEIGHBORS, KNNGraph, knn_graph, mutual_mask, neighbors_for
from shiftkit.neighbors._indexes import (
    ExactIndex,
    FaissIndex,
    GridIndex,
    Neighborhoods,
    NeighborIndex,
    TreeIndex,
    faiss_available,
    make_index,
)
from shiftkit.neighbors._lsh import LSHIndex
from shiftkit.neighbors._partition import partitioned_kneighbors

__all__ = [
    "GRAPH_LEAST_NEIGHBORS",
    "ExactIndex",
    "FaissIndex",
    "GridIndex",
    "KNNGraph",
    "LSHIndex",
    "NeighborIndex",
    "Neighborhoods",
    "TreeIndex",
    "faiss_available",
    "knn_graph",
    "make_index",
    "mutual_mask",
    "neighbors_for",
    "partitioned_kneighbors",
]
