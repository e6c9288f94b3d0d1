"""``shiftkit cluster``: load the data, choose and fit an estimator, summarise, write the results.

Each step a function: `_load`, `_choose`, `_fit`, `_summarise`, `_write`.
Writes are atomic (a temporary file renamed into place); matplotlib is imported
only when the plot is drawn.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable
from rich.text import Text

from shiftkit.cli._common import app, console, count, err_console, fail, one_line_errors, staged_outputs
from shiftkit.io import (
    MissingValueError,
    NotNumericError,
    Table,
    atomic_write,
    read_table,
    save_csv,
    save_json,
)

if TYPE_CHECKING:
    from shiftkit import KMeansStep, MeanShiftStep, QuickShiftStage

OUTPUT_FILES = ("labels.csv", "centers.csv", "summary.json", "clusters.png")


def _digits_that_tell_apart(centers: np.ndarray) -> int:
    """The fewest significant digits, 4 or more, at which different values of a column print differently
    (centers 3 apart at 1e9 are one "1e+09" at 4 digits)."""
    for digits in range(4, 18):
        if all(len({f"{v:.{digits}g}" for v in column}) == len(np.unique(column)) for column in centers.T):
            return digits
    return 17


SHOWN_CLUSTERS = 20


def _summary_table(
    summary: dict[str, Any], centers: np.ndarray, columns: list[str] | None = None
) -> RichTable:
    """The clusters, largest first: the 20 largest, and a line for the rest."""
    n = summary["n_clusters"]
    table = RichTable(title=f"{count(n, 'cluster')} in {count(summary['n_samples'], 'point')}")
    table.add_column("cluster", justify="right")
    table.add_column("size", justify="right")
    names = (columns or [f"x{j}" for j in range(centers.shape[1])])[:4]
    table.add_column("center (" + ", ".join(names) + (", ..." if centers.shape[1] > 4 else "") + ")")
    digits = _digits_that_tell_apart(centers[:, :4])
    sizes = np.asarray(summary["cluster_sizes"])
    order = np.argsort(-sizes, kind="stable")
    for k in order[:SHOWN_CLUSTERS]:
        more = ", ..." if centers.shape[1] > 4 else ""
        coords = ", ".join(f"{v:.{digits}g}" for v in centers[k, :4]) + more
        table.add_row(str(k), str(sizes[k]), coords)
    if n > SHOWN_CLUSTERS:
        rest = order[SHOWN_CLUSTERS:]
        table.add_row("...", str(int(sizes[rest].sum())), f"{len(rest)} smaller clusters (in centers.csv)")
    if summary["n_noise"]:
        table.add_row("-1", str(summary["n_noise"]), "(no cluster)")
    return table


def _picture(est: Any, X: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """What clusters.png shows: points, their labels, the centers, and what the view is.

    Where the modes were sought in a graph layout, a two-dimensional layout of the same rows (the fit's
    are three of five dimensions), each center at the median of its cluster there; else the data (on
    their first two principal components when there are more than two features)."""
    if getattr(est, "space_", "input") == "graph-layout":
        from shiftkit.embedding import graph_layout

        rows = est.embedding_rows_
        labels = est.labels_[rows]
        P = graph_layout(X[rows], n_components=2)
        shown = np.array(
            [np.median(P[labels == k], axis=0) for k in range(len(centers)) if (labels == k).any()]
        )
        return P, labels, shown, "layout"
    return X, est.labels_, centers, "data"


def _axis_names(view: str, points: np.ndarray, columns: list[str], scale: str = "none") -> tuple[str, str]:
    """The plot's axes: the layout's, the principal components' (more than two features), or the
    columns' names (scaled: said so)."""
    if view == "layout":
        return ("layout 1", "layout 2")
    if points.shape[1] > 2:
        return ("PC1", "PC2")
    named = [c if scale == "none" else f"{c} ({scale}-scaled)" for c in columns[:2]]
    return (named[0], named[1]) if len(named) == 2 else (named[0], "")


def _save_plot(
    path: Path, X: np.ndarray, labels: np.ndarray, centers: np.ndarray, title: str, axes: tuple[str, str]
) -> None:
    import matplotlib.pyplot as plt

    from shiftkit.plot import plot_data

    largest = float(np.abs(X).max()) if X.size else 0.0
    if largest > 1e300:  # matplotlib's ticks overflow near float64's largest: drawn in units of 2^e
        unit = math.ldexp(1.0, math.frexp(largest)[1] - 1)
        X, centers = X / unit, centers / unit
        axes = tuple(f"{a} (x {unit:.3g})" if a else a for a in axes)  # type: ignore[assignment]
    fig, ax = plt.subplots(figsize=(6, 6))
    plot_data(X, labels, centers, ax=ax, title=title)
    # column names are the user's text: a "$" would start matplotlib's mathtext (and can fail to parse)
    ax.set_xlabel(axes[0].replace("$", r"\$"))
    ax.set_ylabel(axes[1].replace("$", r"\$"))
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def _parse_bandwidth(text: str | None) -> float | str | None:
    """A number stays a number; anything else is a rule name, checked by the estimator."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return text


METHODS = ("auto", "quickshift", "meanshift", "kmeans", "dbscan")


# The estimators' parameters that are options here, as the estimators name them in their messages.
_OPTIONS = (
    "prominence", "min_cluster_size", "n_neighbors", "n_clusters", "eps", "min_samples", "bandwidth",
    "kernel", "algorithm", "min_bin_freq", "max_iter", "tol", "engine", "dtype",
)  # fmt: skip


def _in_cli_words(message: str) -> str:
    """An estimator's message about a parameter, in the option's words: ``n_clusters must be an integer
    >= 1`` -> ``--n-clusters must be an integer >= 1`` (None is no option on the command line)."""
    for name in _OPTIONS:
        if message.startswith(f"{name} must be "):
            rest = message[len(name) :].replace(" must be None or ", " must be ", 1)
            return f"--{name.replace('_', '-')}{rest}"
    return message


@dataclass
class _Choice:
    """The estimator `cluster` fits, and why."""

    estimator: Any
    method: str
    why: str


def _split(names: list[str] | None) -> list[str] | None:
    """``--columns a,b --columns c``: the names a, b, c (None when the option is not given)."""
    if not names:
        return None
    return [n.strip() for value in names for n in value.split(",") if n.strip()]


def _load(
    data: Path | None,
    columns: list[str] | None = None,
    drop: list[str] | None = None,
    id_column: str | None = None,
    dropna: bool = False,
) -> tuple[Table, str]:
    """The table to cluster and a description of where it came from."""
    if data is None:
        from shiftkit.datasets import make_lesson_blobs

        if columns or drop or id_column:
            raise ValueError("--columns, --drop and --id-column choose columns of a DATA file; none given")
        X, _, _ = make_lesson_blobs()
        table = Table(X.astype(np.float64), ["x0", "x1"], np.ones(len(X), dtype=bool))
        return table, "built-in: the lesson's six blobs (make_lesson_blobs())"
    try:
        table = read_table(
            data, columns=_split(columns), drop=_split(drop), id_column=id_column, dropna=dropna
        )
    except NotNumericError as exc:
        them = "them" if len(exc.columns) > 1 else "it"
        hint = f"leave {them} out with --drop {','.join(exc.columns)}"
        if exc.id_like is not None:
            hint += f", or keep {exc.id_like!r} beside the labels with --id-column {exc.id_like}"
        raise ValueError(f"{exc}; {hint}") from None
    except MissingValueError as exc:
        raise ValueError(f"{exc}; --dropna leaves such rows out") from None
    return table, str(data)


@dataclass
class _Data:
    """What is clustered: the table read, the matrix fitted (scaled), and how it was scaled."""

    table: Table
    source: str
    X: np.ndarray  # (n_kept, d): the features as fitted
    scale: str
    center: np.ndarray  # (d,): X = (table.X - center) / spread
    spread: np.ndarray
    warnings: list[str]

    def to_input_units(self, points: np.ndarray) -> np.ndarray:
        return points * self.spread + self.center if self.scale != "none" else points


SCALES = ("none", "standard", "robust")
# Feature ranges further apart than this: the widest decides the clusters, and the user is told.
RANGE_RATIO_WARNING = 100.0


def _scaled(X: np.ndarray, scale: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X - center) / spread`` per column, and the center and spread: the mean and standard deviation
    (``standard``), the median and interquartile range (``robust``), or 0 and 1 (``none``). A constant
    column keeps a spread of 1, as scikit-learn's scalers do."""
    d = X.shape[1]
    if scale == "none":
        return X, np.zeros(d), np.ones(d)
    if scale == "standard":
        center, spread = X.mean(0), X.std(0)
    else:
        q1, center, q3 = np.percentile(X, [25, 50, 75], axis=0)
        spread = q3 - q1
    spread = np.where((spread > 0) & np.isfinite(spread), spread, 1.0)
    return (X - center) / spread, center, spread


def _warnings(table: Table, scale: str) -> list[str]:
    """What the user should know before reading the clusters: a column that numbers the rows, and feature
    ranges so far apart that the widest alone decides (with no ``--scale``)."""
    X, names = table.X, table.columns
    found = []
    n = len(X)
    for j, name in enumerate(names):
        column = X[:, j]
        if n >= 10 and (np.array_equal(column, np.arange(n)) or np.array_equal(column, np.arange(1, n + 1))):
            found.append(
                f"column {name!r} numbers the rows ({column[0]:g}, {column[1]:g}, {column[2]:g}, ...): it is "
                f"clustered as a feature; --id-column {name} keeps it beside the labels, --drop {name} "
                "leaves it out"
            )
    if scale == "none" and X.shape[1] > 1 and n > 1:
        with np.errstate(over="ignore", invalid="ignore"):
            ranges = X.max(0) - X.min(0)
        varying = np.flatnonzero((ranges > 0) & np.isfinite(ranges))
        if len(varying) > 1:
            wide, narrow = varying[np.argmax(ranges[varying])], varying[np.argmin(ranges[varying])]
            ratio = ranges[wide] / ranges[narrow]
            if ratio > RANGE_RATIO_WARNING:
                found.append(
                    f"feature ranges differ {ratio:,.0f}x ({names[wide]!r} spans {ranges[wide]:.3g}, "
                    f"{names[narrow]!r} {ranges[narrow]:.3g}): the widest decides the clusters; "
                    "--scale standard (or robust) puts the features on one footing"
                )
    return found


def _choose(
    data: Path | None,
    method: str,
    mean_shift_options: dict[str, Any],
    other_options: dict[str, Any],
    common: dict[str, Any],
    seeking_options: dict[str, Any] | None = None,
) -> _Choice:
    """QuickShift unless another method is asked for, by name or by its options (or the built-in data).

    ``seeking_options`` (``prominence``, ``min_cluster_size``, ``n_neighbors``) steer the mode seeking of
    QuickShift, and the first two MeanShift's merging; they keep the default QuickShift."""
    from shiftkit import DBSCAN, KMeans, MeanShift, QuickShift

    seeking = {k: v for k, v in (seeking_options or {}).items() if v is not None}
    given = sorted(k for k, v in mean_shift_options.items() if v is not None and k != "record_history")
    others = sorted(k for k, v in other_options.items() if v is not None)
    if method == "auto":
        if others:
            raise ValueError(f"--{others[0].replace('_', '-')} needs --method kmeans or dbscan (say which)")
        if data is None:
            method, why = "meanshift", "the built-in data are the lesson's, clustered as the lesson does"
        elif given:
            method, why = "meanshift", "mean-shift options given: " + ", ".join(given)
        elif mean_shift_options.get("record_history"):
            method, why = "meanshift", "--animate: mean shift's steps (QuickShift has none to show)"
        else:
            method, why = (
                "quickshift",
                "no options: QuickShift, the best default on the development battery "
                "(benchmarks/bench_quality.py)",
            )
    else:
        why = f"--method {method}"
    if method != "meanshift" and given:
        raise ValueError(f"--method {method} does not take the mean-shift options {', '.join(given)}")
    accepted = {"kmeans": {"n_clusters", "seed"}, "dbscan": {"eps", "min_samples"}}.get(method, set())
    stray = [k for k in others if k not in accepted]
    if stray:
        raise ValueError(f"--method {method} does not take --{stray[0].replace('_', '-')}")
    takes = {"quickshift": {"prominence", "min_cluster_size", "n_neighbors", "cluster_all"}}.get(
        method, {"prominence", "min_cluster_size", "cluster_all"} if method == "meanshift" else set()
    )
    stray = sorted(k for k in seeking if k not in takes)
    if stray:
        needs = "quickshift" if stray[0] == "n_neighbors" else "quickshift or meanshift"
        flag = "--no-cluster-all" if stray[0] == "cluster_all" else f"--{stray[0].replace('_', '-')}"
        raise ValueError(f"{flag} needs --method {needs}, not {method}")
    if method == "quickshift":
        return _Choice(QuickShift(**seeking, **common), "QuickShift", why)
    if method == "kmeans":
        if other_options.get("n_clusters") is None:
            raise ValueError("--method kmeans needs --n-clusters")
        seed = other_options.get("seed")
        estimator = KMeans(
            other_options["n_clusters"],
            random_state=0 if seed is None else seed,
            record_history=bool(mean_shift_options.get("record_history")),
            **common,
        )
        return _Choice(estimator, "KMeans", why)
    if method == "dbscan":
        params = {k: other_options[k] for k in ("eps", "min_samples") if other_options.get(k) is not None}
        return _Choice(DBSCAN(**params, device=common.get("device")), "DBSCAN", why)
    options = {k: v for k, v in mean_shift_options.items() if v is not None}
    if data is None and options.get("bandwidth") is None:
        options["bandwidth"] = 2.5  # the lesson's choice for its data
    return _Choice(MeanShift(**options, **seeking, **common), "MeanShift", why)


def _centers(est: Any, X: np.ndarray) -> np.ndarray:
    """The estimator's centers; for DBSCAN (which has none) the mean of each cluster's points."""
    if hasattr(est, "cluster_centers_"):
        return np.asarray(est.cluster_centers_, dtype=np.float64)
    labels = est.labels_
    k = int(labels.max()) + 1 if len(labels) else 0
    sums = np.zeros((k, X.shape[1]))
    np.add.at(sums, labels[labels >= 0], X[labels >= 0])
    return sums / np.maximum(np.bincount(labels[labels >= 0], minlength=k), 1)[:, None]


def _fit(estimator: Any, X: np.ndarray) -> float:
    """Fit with a progress line on a terminal; the seconds taken."""
    from shiftkit import KMeans, MeanShift, QuickShift

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )
    task = progress.add_task(type(estimator).__name__, total=None)
    if isinstance(estimator, MeanShift):

        def show_step(step: MeanShiftStep) -> None:
            progress.update(
                task,
                description=f"step {step.iteration}: largest move {step.largest_move:.3g}, "
                f"{step.n_moving} points still moving",
            )

        estimator.set_params(callback=show_step)
    elif isinstance(estimator, KMeans):

        def show_iteration(step: KMeansStep) -> None:
            progress.update(task, description=f"iteration {step.iteration}: inertia {step.inertia:.4g}")

        estimator.set_params(callback=show_iteration)
    elif isinstance(estimator, QuickShift):

        def show_stage(stage: QuickShiftStage) -> None:
            progress.update(
                task,
                description=f"QuickShift {stage.index}/{stage.total}: {stage.name}",
                total=stage.total,
                completed=stage.index - 1,
            )

        estimator.set_params(callback=show_stage)
    start = time.perf_counter()
    with progress:
        estimator.fit(X)
    return time.perf_counter() - start


def _space_summary(est: Any, X: np.ndarray, columns: list[str] | None = None) -> dict[str, Any] | None:
    """Where the modes were sought, and why (None for the estimators that have no ``space_``);
    ``columns``: the names of the features, to name the columns that fall into clusters alone."""
    if not hasattr(est, "space_"):
        return None
    with np.errstate(over="ignore"):  # rows near float64's largest: their norm is inf, not of unit length
        norms = np.linalg.norm(X, axis=1)
    unit = bool(len(norms)) and bool(np.all(np.abs(norms - 1) < 1e-3))
    features = getattr(est, "multimodal_features_", None)
    summary: dict[str, Any] = {
        "name": est.space_,
        "why": est.space_reason_,
        "n_features": int(X.shape[1]),
        "n_signal_features": est.n_signal_features_,
        # the columns that fall into clusters alone, the density's first directions (None: not looked for)
        "multimodal_features": None if features is None else [int(j) for j in features],
        "multimodal_feature_names": (
            None if features is None or columns is None else [str(columns[int(j)]) for j in features]
        ),
        "metric": "euclidean" + (" (rows of unit norm: the neighbors of cosine distance)" if unit else ""),
    }
    if est.space_ == "graph-layout":
        from shiftkit.cluster.stages import CUT_FRACTION, GRAPH_NEIGHBORS, LAYOUT_DIM, LAYOUT_SEEK_NEIGHBORS

        laid_out = len(est.embedding_rows_)
        summary["graph"] = {
            "neighbors": GRAPH_NEIGHBORS,
            "rows_laid_out": laid_out,
            "exact": True,  # the graph of the rows laid out: every neighbor is the true one
            "recall": 1.0,
            "layouts": int(est.embedding_.shape[1]) // LAYOUT_DIM,  # side by side, seeds 0, 1, ...
            "layout_dimensions": int(est.embedding_.shape[1]),  # all of them
            "neighbors_in_the_layouts": LAYOUT_SEEK_NEIGHBORS,  # of the mode seeking there
            # clusters merged where more than this share of the smaller one's edges in the graph join them
            "cut_fraction": CUT_FRACTION,
            "rows_assigned": int(X.shape[0]) - laid_out,  # labelled by their 10 nearest laid-out rows
        }
    return summary


def _level_hint(est: Any) -> list[tuple[float, int]] | None:
    """The mode seekers' sweep of levels: (prominence, clusters) where the number of clusters changes."""
    levels = getattr(est, "levels_", None)
    counts = getattr(est, "n_clusters_by_level_", None)
    if levels is None or counts is None or len(levels) < 2:
        return None
    steps = [(float(levels[0]), int(counts[0]))]
    for level, found in zip(levels[1:], counts[1:]):
        if int(found) != steps[-1][1]:
            steps.append((float(level), int(found)))
    return steps


def _summarise(choice: _Choice, data: _Data, centers: np.ndarray, seconds: float) -> dict[str, Any]:
    """summary.json (``centers``: `_centers` of the fit, in the space fitted)."""
    est = choice.estimator
    X = data.X
    labels = est.labels_
    sizes = np.bincount(labels[labels >= 0], minlength=len(centers))
    bandwidth = float(est.bandwidth_) if hasattr(est, "bandwidth_") else None
    chosen: dict[str, Any] = {} if bandwidth is None else {"bandwidth": bandwidth}
    for name in ("prominence_", "algorithm_", "merge_", "engine_", "n_iter_", "inertia_", "n_neighbors_"):
        if hasattr(est, name):
            value = getattr(est, name)
            chosen[name.rstrip("_")] = value if isinstance(value, str) else float(value)
    for name in ("n_iter", "n_neighbors"):
        if name in chosen:
            chosen[name] = int(chosen[name])
    parameters = {
        k: v for k, v in est.get_params().items() if v is None or isinstance(v, (bool, int, float, str))
    }
    table = data.table
    levels = _level_hint(est)
    return {
        "input": data.source,
        "n_samples": int(X.shape[0]),
        "n_features": int(X.shape[1]),
        "columns": list(table.columns),
        "id_column": table.id_column,
        "rows_in_file": len(table.kept),
        "rows_dropped": int((~table.kept).sum()),
        "scale": {
            "method": data.scale,
            "center": data.center.tolist(),
            "spread": data.spread.tolist(),
            "note": "the features were fitted as (x - center) / spread; centers.csv is in the input's units",
        },
        "warnings": list(data.warnings),
        "method": choice.method,
        "why": choice.why,
        "parameters": parameters,
        "chosen": chosen,
        "n_clusters_by_prominence": None if levels is None else [list(step) for step in levels],
        "space": _space_summary(est, X, list(data.table.columns)),
        "n_clusters": len(centers),
        "cluster_sizes": sizes.tolist(),
        "n_noise": int((labels < 0).sum()),
        "bandwidth": bandwidth,
        "kernel": getattr(est, "kernel", "gaussian") if bandwidth is not None else None,
        "seconds": round(seconds, 6),
    }


def _save_labels(path: Path, labels: np.ndarray, table: Table) -> None:
    """labels.csv: a row per row of the file (the id first, when there is one); rows left out for a
    missing value have an empty label."""
    if table.ids is None and table.kept.all():
        save_csv(path, labels, ["label"])
        return
    import csv

    text = np.full(len(table.kept), "", dtype=object)
    text[table.kept] = labels.astype(str)
    with atomic_write(path) as f:
        writer = csv.writer(f, lineterminator="\n")
        if table.ids is None:
            writer.writerow(["label"])
            writer.writerows(zip(text))
        else:  # an id column named 'label' keeps its name; the clusters' column is then 'cluster'
            writer.writerow([table.id_column, "cluster" if table.id_column == "label" else "label"])
            writer.writerows(zip(table.ids, text))


def _write(
    out: Path,
    summary: dict[str, Any],
    choice: _Choice,
    data: _Data,
    centers: np.ndarray,
    plot: bool,
    animate: Path | None,
) -> None:
    from shiftkit import KMeans

    est = choice.estimator
    X = data.X
    names = OUTPUT_FILES if plot else OUTPUT_FILES[:3]
    # written into a temporary folder, then renamed into place together under a lock on --out
    with staged_outputs(out, names) as staging:  # an earlier run's clusters.png goes with --no-plot
        _save_labels(staging / "labels.csv", est.labels_, data.table)
        save_csv(staging / "centers.csv", data.to_input_units(centers), data.table.columns)
        save_json(staging / "summary.json", summary)
        if plot:
            points, labels, shown, view = _picture(est, X, centers)
            if view == "layout":
                detail = f", in a layout of the neighbor graph ({len(points):,} rows)"
            else:
                detail = f", bandwidth {est.bandwidth_:.3g}" if hasattr(est, "bandwidth_") else ""
            title = f"{count(len(centers), 'cluster')}, {choice.method}{detail}"
            axes = _axis_names(view, points, data.table.columns, data.scale)
            _save_plot(staging / "clusters.png", points, labels, shown, title, axes)
    if animate is not None:
        from shiftkit.plot import animate as make_animation
        from shiftkit.plot import save_animation

        animate.parent.mkdir(parents=True, exist_ok=True)
        standard = getattr(est, "algorithm_", "") in ("standard", "binned") or isinstance(est, KMeans)
        save_animation(make_animation(est, X=X if standard else None), animate)


@app.command()
@one_line_errors
def cluster(
    data: Annotated[
        Path | None,
        typer.Argument(help="CSV/TSV (header detected) or .npy file; default: the lesson's six blobs."),
    ] = None,
    method: Annotated[
        str,
        typer.Option(
            help="auto, quickshift, meanshift, kmeans or dbscan. auto: QuickShift for data with no "
            "mean-shift option, else MeanShift (and MeanShift on the built-in blobs)."
        ),
    ] = "auto",
    bandwidth: Annotated[
        str | None,
        typer.Option(
            help="Kernel bandwidth: a number, or a rule (auto, quantile, scott, silverman, sklearn, "
            "stability); default: auto (2.5 for the built-in blobs)."
        ),
    ] = None,
    kernel: Annotated[
        str | None, typer.Option(help="gaussian (default), flat, triangular or epanechnikov.")
    ] = None,
    algorithm: Annotated[
        str | None,
        typer.Option(help="auto (default), blurring (the data moves), standard (seeds climb) or binned."),
    ] = None,
    bin_seeding: Annotated[
        bool | None, typer.Option(help="Standard algorithm: seeds on a grid of side bandwidth.")
    ] = None,
    min_bin_freq: Annotated[
        float | None, typer.Option(help="Least points in a grid cell to seed it.")
    ] = None,
    cluster_all: Annotated[
        bool | None,
        typer.Option(
            help="Give every point a cluster. --no-cluster-all: QuickShift labels -1 (noise, drawn grey) "
            "the points below their cluster's core (the highest saddle where it meets another "
            "cluster); MeanShift the points with no mode farther than the bandwidth from every center."
        ),
    ] = None,
    max_iter: Annotated[int | None, typer.Option(help="Most mean-shift steps (default 300).")] = None,
    tol: Annotated[
        float | None, typer.Option(help="Convergence: a step of at most tol * bandwidth (default 1e-3).")
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(help="auto (default), dense, attention, fused, numba_cuda, grid or knn."),
    ] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, ...; default: CUDA if available.")] = None,
    dtype: Annotated[str, typer.Option(help="float32 or float64.")] = "float32",
    n_clusters: Annotated[int | None, typer.Option(help="--method kmeans: the number of clusters.")] = None,
    seed: Annotated[int | None, typer.Option(help="--method kmeans: seed of the initialisation (0).")] = None,
    eps: Annotated[
        float | None, typer.Option(help="--method dbscan: the neighborhood radius (default 0.5).")
    ] = None,
    min_samples: Annotated[
        float | None, typer.Option(help="--method dbscan: points within eps that make a core point (5).")
    ] = None,
    prominence: Annotated[
        float | None,
        typer.Option(
            help="QuickShift/MeanShift: merge modes whose density falls by less than this fraction "
            "(0 to 1) before meeting a higher mode; default: chosen from the data (the summary lists "
            "the clusters at each level)."
        ),
    ] = None,
    min_cluster_size: Annotated[
        float | None,
        typer.Option(
            help="QuickShift/MeanShift: smaller clusters are merged into their neighbors; a fraction of "
            "the points (below 1) or a count (default: 0.5%, and 15 points in a graph layout)."
        ),
    ] = None,
    n_neighbors: Annotated[
        int | None,
        typer.Option(help="QuickShift: neighbors per point in the graph the points climb (default 20)."),
    ] = None,
    columns: Annotated[
        list[str] | None,
        typer.Option(
            help="The feature columns, by name, comma-separated (x0, x1, ... in a file with no "
            "header); default: all but --drop and --id-column."
        ),
    ] = None,
    drop: Annotated[list[str] | None, typer.Option(help="Columns to leave out, comma-separated.")] = None,
    id_column: Annotated[
        str | None,
        typer.Option(
            help="A column written beside each label in labels.csv, not clustered (an id column named "
            "'label' makes the clusters' column 'cluster')."
        ),
    ] = None,
    dropna: Annotated[
        bool,
        typer.Option(
            help="Leave out rows with a missing value (empty, nan, NA, ?); labels.csv gives them an "
            "empty label."
        ),
    ] = False,
    scale: Annotated[
        str,
        typer.Option(
            help="none (default), standard (mean 0, standard deviation 1) or robust (median 0, "
            "interquartile range 1) per feature before clustering; centers.csv stays in the input's units."
        ),
    ] = "none",
    out: Annotated[
        Path, typer.Option(help="Folder for labels.csv, centers.csv, summary.json, clusters.png.")
    ] = Path("shiftkit-output"),
    plot: Annotated[bool, typer.Option(help="Write clusters.png.")] = True,
    animate: Annotated[
        Path | None,
        typer.Option(
            help="Also write an animation of the mean-shift steps: .gif, .mp4 (needs shiftkit[video]) "
            "or .html."
        ),
    ] = None,
) -> None:
    """Cluster DATA and write labels, centers, a summary and a plot."""
    if data is not None and any((out / name).resolve() == data.resolve() for name in OUTPUT_FILES):
        raise fail(f"refusing to overwrite the input file {data}")
    if out.exists() and not out.is_dir():
        raise fail(f"--out {out} exists and is not a folder")
    if method not in METHODS:
        raise fail(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if min_samples is not None and (min_samples < 1 or not float(min_samples).is_integer()):
        # the estimator's min_samples is a weight (rows may weigh less than one); here every row weighs one
        raise fail(f"--min-samples must be a whole number of points, at least 1, got {min_samples:g}")
    if scale not in SCALES:
        raise fail(f"--scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if animate is not None:
        if animate.suffix.lower() not in (".gif", ".mp4", ".html"):
            raise fail(f"--animate {animate}: the file name must end in .gif, .mp4 or .html")
        if data is not None and animate.resolve() == data.resolve():
            raise fail(f"refusing to overwrite the input file {data}")
    mean_shift_options = {
        "bandwidth": _parse_bandwidth(bandwidth),
        "kernel": kernel,
        "algorithm": algorithm,
        "bin_seeding": bin_seeding,
        "min_bin_freq": min_bin_freq,
        "max_iter": max_iter,
        "tol": tol,
        "engine": engine,
        "record_history": True if animate is not None else None,
    }
    try:
        table, source = _load(data, columns, drop, id_column, dropna)
        X, center, spread = _scaled(table.X, scale)
        loaded = _Data(table, source, X, scale, center, spread, _warnings(table, scale))
        other_options = {"n_clusters": n_clusters, "seed": seed, "eps": eps, "min_samples": min_samples}
        if animate is not None and method in ("dbscan", "quickshift"):
            raise ValueError(
                f"--animate shows iterations: --method meanshift or kmeans ({method} has none to show)"
            )
        if min_cluster_size is not None and min_cluster_size >= 1 and float(min_cluster_size).is_integer():
            min_cluster_size = int(min_cluster_size)  # a count of points (the estimator takes an int)
        seeking_options = {
            "prominence": prominence,
            "min_cluster_size": min_cluster_size,
            "n_neighbors": n_neighbors,
            "cluster_all": cluster_all,
        }
        choice = _choose(
            data,
            method,
            mean_shift_options,
            other_options,
            {"device": device, "dtype": dtype},
            seeking_options,
        )
        for warning in loaded.warnings:
            err_console.print(Text.assemble(("warning:", "bold yellow"), " ", warning), highlight=False)
        seconds = _fit(choice.estimator, X)
    except (ValueError, TypeError, OSError, RuntimeError) as exc:
        raise fail(_in_cli_words(str(exc))) from None
    centers = _centers(choice.estimator, X)
    summary = _summarise(choice, loaded, centers, seconds)
    try:
        _write(out, summary, choice, loaded, centers, plot, animate)
    except (OSError, ImportError) as exc:
        raise fail(f"cannot write the results: {exc}") from None

    console.print(_summary_table(summary, loaded.to_input_units(centers), table.columns))
    how = ", ".join(
        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in summary["chosen"].items()
    )
    console.print(f"{choice.method}: {how}; {seconds:.3f} s ({choice.why})")
    levels = summary["n_clusters_by_prominence"]
    if levels and prominence is None:
        steps = "; ".join(f"{level:.2g} -> {count}" for level, count in levels[:8])
        console.print(f"clusters by prominence (--prominence): {steps}")
    if summary["rows_dropped"]:
        dropped = summary["rows_dropped"]
        console.print(
            f"{dropped:,} row{'s' if dropped != 1 else ''} with a missing value left out (an empty label)"
        )
    written = OUTPUT_FILES if plot else OUTPUT_FILES[:3]
    console.print(
        f"wrote {', '.join(written)} to {out}/" + (f" and the animation to {animate}" if animate else "")
    )
