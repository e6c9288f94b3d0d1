"""Where clustering happens when the data have many features: principal axes and graph layouts.

- `principal_axes`: PCA, and how many axes carry signal (Horn's parallel analysis); `SnappedAxes`:
  PCA that gives the same coordinates, bit for bit, for the data scaled by any factor.
- `histogram_dips` / `dip_threshold`: how deep each feature's histogram dips (clusters apart along
  one feature, which parallel analysis does not see).
- `membership_graph`: UMAP's membership weights of a k-nearest-neighbor graph, symmetrized.
- `layout_graph` / `graph_layout`: a few-dimensional layout of that graph (a spectral
  start, then stochastic gradient steps with negative samples), in which the
  graph's clusters are dense regions apart from each other.

The estimators of `shiftkit.cluster` use them by default on data of more than
three features (see `QuickShift`'s ``space``).
"""

from shiftkit.embedding._layout import default_epochs, graph_layout, layout_graph
from shiftkit.embedding._membership import membership_graph
from shiftkit.embedding._subspace import (
    PrincipalAxes,
    SnappedAxes,
    dip_threshold,
    histogram_dips,
    principal_axes,
)

__all__ = [
    "PrincipalAxes",
    "SnappedAxes",
    "default_epochs",
    "dip_threshold",
    "graph_layout",
    "histogram_dips",
    "layout_graph",
    "membership_graph",
    "principal_axes",
]
