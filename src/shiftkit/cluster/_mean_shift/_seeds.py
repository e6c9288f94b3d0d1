"""Where mean shift starts: the points that move, what they climb over, and which seed each point follows.

Every algorithm is a `Start`: blurring moves the data themselves; standard
mean shift moves seeds (the points, given seeds, scikit-learn's bin seeds, or
the modes of the nearest-neighbor graph) over the fixed data; binned moves the
bin seeds over a summary of the data (the weighted means of fine cells).
Coordinates are centered on the data's mean; bin seeds are anchored at the
input's origin, as scikit-learn's ``get_bin_seeds``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from shiftkit._array import as_tensor
from shiftkit._validation import check_bandwidth
from shiftkit.cluster._base import Frame
from shiftkit.cluster._saddles import DensityGraph, hill_climb
from shiftkit.neighbors.cells import bin_centers, bin_counts, bin_means, centers_holding

__all__ = [
    "Start",
    "binned",
    "blurring",
    "from_bins",
    "from_graph",
    "from_points",
    "from_seeds",
    "get_bin_seeds",
    "seeds_from_bins",
    "seeds_over_summary",
]

# Side of the cells that summarise the data for algorithm='binned', in bandwidths. On 20 blobs of a
# million points with the flat kernel and bandwidth 2 (twice the blobs' spread), the flat density
# of the two closest blobs (3.2 spreads apart) peaks between them, and whether a seed climbs there
# and swallows both depends on rounding: with cells of 1/8 bandwidth the binned fit keeps them
# apart as exact bin-seeded mean shift and scikit-learn's do (ARI 0.983 / 0.987 with 'nearest');
# with 1/4 and 1/16 it merges them (0.946). benchmarks/bench_scale.py.
BIN_SIZE = 0.125


@dataclass(frozen=True)
class Start:
    """What the loops start from.

    Attributes
    ----------
    seeds : Tensor of shape (n_seeds, d) or None
        The moving points (centered); None for blurring, where the data move.
    seed_of_point : Tensor of shape (n,)
        The seed each point follows (-1: none); for blurring, each point itself.
    data : Tensor of shape (n_data, d)
        What the seeds climb over (centered): the points, or their cells' means.
    weights : Tensor of shape (n_data,) or None
    """

    seeds: Tensor | None
    seed_of_point: Tensor
    data: Tensor
    weights: Tensor | None

    @property
    def moving(self) -> Tensor:
        """The points that move: the seeds, or the data for blurring."""
        return self.data if self.seeds is None else self.seeds


def _identity(X: Tensor) -> Tensor:
    return torch.arange(X.shape[0], device=X.device)


def blurring(X_c: Tensor, w: Tensor | None) -> Start:
    """The data themselves move."""
    return Start(None, _identity(X_c), X_c, w)


def from_points(X_c: Tensor, w: Tensor | None) -> Start:
    """A seed at every point (scikit-learn's default)."""
    return Start(X_c, _identity(X_c), X_c, w)


def from_seeds(seeds: Any, X_c: Tensor, w: Tensor | None, frame: Frame) -> Start:
    """The user's seeds; no point follows one (points are labelled by the nearest center)."""
    S = as_tensor(seeds, name="seeds", dtype=torch.float64, device=X_c.device)
    if S.shape[1] != X_c.shape[1]:
        raise ValueError(f"seeds have {S.shape[1]} features but X has {X_c.shape[1]}")
    return Start(frame.to(S), torch.full((X_c.shape[0],), -1, device=X_c.device), X_c, w)


def from_bins(X_c: Tensor, w: Tensor | None, frame: Frame, bandwidth: float, min_bin_freq: float) -> Start:
    """Seeds at the cells of side ``bandwidth`` holding ``min_bin_freq`` or more (scikit-learn's bins).

    The cells are laid in the input's coordinates, anchored at its origin, as
    scikit-learn's ``get_bin_seeds``.
    """
    coords, freq, cell_of_point = bin_counts(frame.back(X_c), w, bandwidth * frame.unit)
    seeds, seed_of_cell = seeds_from_bins(coords, freq, frame, bandwidth, min_bin_freq)
    return Start(seeds, seed_of_cell[cell_of_point], X_c, w)


def seeds_from_bins(
    coords: Tensor,
    freq: Tensor,
    frame: Frame,
    bandwidth: float,
    min_bin_freq: float,
    hint: str = "lower min_bin_freq or use bin_seeding=False",
) -> tuple[Tensor, Tensor]:
    """The bin seeds (in the frame) from the cells of side ``bandwidth`` in the input's coordinates
    (``coords``, integer) and the weight in each: the cells holding ``min_bin_freq`` or more, and each
    cell's seed (-1: none). The counts come from the data here (`from_bins`) or are merged from blocks
    read elsewhere (`shiftkit.distributed`): the same rule either way."""
    # the centers in float64 in the input's coordinates, then into the frame
    seeds, seed_of_cell = centers_holding(coords, freq, bandwidth * frame.unit, min_bin_freq, torch.float64)
    if seeds.shape[0] == 0:
        raise ValueError(f"no grid cell holds min_bin_freq={min_bin_freq:g} points; {hint}")
    return frame.to(seeds), seed_of_cell


def seeds_over_summary(
    data: Tensor, weights: Tensor, frame: Frame, bandwidth: float, min_bin_freq: float
) -> tuple[Tensor, Tensor]:
    """The binned algorithm's seeds (in the frame) over its summary (the cells' means ``data`` and their
    weights): the summary binned on the seeding grid anchored at the input's origin, as scikit-learn's;
    and each summary cell's seed (-1: none). The summary is the data's (`binned`) or merged from blocks
    read elsewhere (`shiftkit.distributed`)."""
    coords, freq, cell_of_row = bin_counts(frame.back(data), weights, bandwidth * frame.unit)
    seeds, seed_of_cell = seeds_from_bins(coords, freq, frame, bandwidth, min_bin_freq, "lower min_bin_freq")
    return seeds, seed_of_cell[cell_of_row]


def from_graph(X_c: Tensor, w: Tensor | None, landscape: DensityGraph) -> Start:
    """One seed per mode of the graph, where every point climbs to its densest mutual neighbor.

    Mean shift then moves the seeds to the modes of the density, and a point
    goes where the seed of its graph basin goes. The rows are distinct (`MeanShift` merging through
    saddles runs on the distinct rows, each weighted by its copies).
    """
    modes = hill_climb(landscape.log_density, landscape.graph)
    peaks, seed_of_point = torch.unique(modes, return_inverse=True)
    return Start(X_c[peaks], seed_of_point, X_c, w)


def binned(X_c: Tensor, w: Tensor | None, frame: Frame, bandwidth: float, min_bin_freq: float) -> Start:
    """Bin seeds climbing over the data summarised by the weighted means of cells of BIN_SIZE bandwidths."""
    data, weights, cell_of_point = bin_means(
        X_c, X_c.new_ones(X_c.shape[0]) if w is None else w, BIN_SIZE * bandwidth
    )
    seeds, seed_of_cell = seeds_over_summary(data, weights, frame, bandwidth, min_bin_freq)
    return Start(seeds, seed_of_cell[cell_of_point], data, weights)


def get_bin_seeds(X: Any, bin_size: float, min_bin_freq: int = 1) -> Any:
    """Seeds for mean shift at the centers of the occupied cells of a grid (scikit-learn's signature).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    bin_size : float
        The side of the cells, centered on multiples of it; 0 returns ``X``
        itself.
    min_bin_freq : int, default=1
        Least number of points in a cell for it to give a seed.

    Returns
    -------
    bin_seeds : ndarray of shape (n_seeds, n_features), or ``X``
        The cells' centers, in lexicographic order; ``X`` itself (with a
        warning) when every point has a cell of its own, as scikit-learn does.

    Examples
    --------
    >>> from shiftkit import get_bin_seeds
    >>> get_bin_seeds([[1.0, 1.0], [1.4, 1.4], [2.0, 1.0], [0.0, 0.0]], 1, 2).tolist()
    [[1.0, 1.0]]
    """
    if bin_size == 0:
        return X
    size = check_bandwidth(bin_size, "bin_size")
    X_t = as_tensor(X, name="X", dtype=torch.float64, device="cpu")
    seeds, _ = bin_centers(X_t, None, size, float(min_bin_freq))
    if seeds.shape[0] == X_t.shape[0]:
        warnings.warn(
            f"Binning data failed with provided bin_size={size:f}, using data points as seeds.", stacklevel=2
        )
        return X
    return seeds.numpy()
