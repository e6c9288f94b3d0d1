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
from typing import Annotated, Any

import numpy as np
import typer
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from shiftkit import DBSCAN, KMeans, KMeansStep, MeanShift, QuickShift, StepInfo
from shiftkit.cli._common import app, console, err_console, fail, one_line_errors, staged_outputs
from shiftkit.datasets import make_blobs
from shiftkit.io import atomic_write, load_data, save_csv, save_json

OUTPUT_FILES = ("labels.csv", "centers.csv", "summary.json", "clusters.png")


def _digits_that_tell_apart(centers: np.ndarray) -> int:
    """The fewest significant digits, 4 or more, at which different values of a column print differently
    (centers 3 apart at 1e9 are one "1e+09" at 4 digits)."""
    for digits in range(4, 18):
        if all(len({f"{v:.{digits}g}" for v in column}) == len(np.unique(column)) for column in centers.T):
            return digits
    return 17


def _summary_table(summary: dict[str, Any], centers: np.ndarray) -> Table:
    table = Table(title=f"{summary['n_clusters']} clusters in {summary['n_samples']} points")
    table.add_column("cluster", justify="right")
    table.add_column("size", justify="right")
    table.add_column("center")
    digits = _digits_that_tell_apart(centers[:, :4])
    for k, size in enumerate(summary["cluster_sizes"]):
        more = ", ..." if centers.shape[1] > 4 else ""
        coords = ", ".join(f"{v:.{digits}g}" for v in centers[k, :4]) + more
        table.add_row(str(k), str(size), coords)
    if summary["n_noise"]:
        table.add_row("-1", str(summary["n_noise"]), "(no cluster)")
    return table


def _picture(est: Any, X: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """What clusters.png shows: points, their labels, the centers, and what the view is.

    Where the modes were sought in a graph layout, a two-dimensional layout of the same rows (the fit's
    has five dimensions), each center at the median of its cluster there; else the data (on their first
    two principal components when there are more than two features)."""
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


def _axis_names(view: str, points: np.ndarray) -> tuple[str, str]:
    if view == "layout":
        return ("layout 1", "layout 2")
    return ("PC1", "PC2") if points.shape[1] > 2 else ("x0", "x1") if points.shape[1] == 2 else ("x0", "")


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
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
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


@dataclass
class _Choice:
    """The estimator `cluster` fits, and why."""

    estimator: Any
    method: str
    why: str


def _load(data: Path | None) -> tuple[np.ndarray, str]:
    """The data matrix and a description of where it came from."""
    if data is None:
        X, _, _ = make_blobs()
        return X.astype(np.float64), "built-in: the lesson's six blobs (make_blobs())"
    X, _ = load_data(data)
    return X, str(data)


def _choose(
    data: Path | None,
    method: str,
    mean_shift_options: dict[str, Any],
    other_options: dict[str, Any],
    common: dict[str, Any],
) -> _Choice:
    """QuickShift unless another method is asked for, by name or by its options (or the built-in data)."""
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
    if method == "quickshift":
        return _Choice(QuickShift(**common), "QuickShift", why)
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
    return _Choice(MeanShift(**options, **common), "MeanShift", why)


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
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )
    task = progress.add_task(type(estimator).__name__, total=None)
    if isinstance(estimator, MeanShift):

        def show_step(step: StepInfo) -> None:
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
    start = time.perf_counter()
    with progress:
        estimator.fit(X)
    return time.perf_counter() - start


def _space_summary(est: Any, X: np.ndarray) -> dict[str, Any] | None:
    """Where the modes were sought, and why (None for the estimators that have no ``space_``)."""
    if not hasattr(est, "space_"):
        return None
    with np.errstate(over="ignore"):  # rows near float64's largest: their norm is inf, not of unit length
        norms = np.linalg.norm(X, axis=1)
    unit = bool(len(norms)) and bool(np.all(np.abs(norms - 1) < 1e-3))
    summary: dict[str, Any] = {
        "name": est.space_,
        "why": est.space_reason_,
        "n_features": int(X.shape[1]),
        "n_signal_features": est.n_signal_features_,
        "metric": "euclidean" + (" (rows of unit norm: the neighbors of cosine distance)" if unit else ""),
    }
    if est.space_ == "graph-layout":
        laid_out = len(est.embedding_rows_)
        summary["graph"] = {
            "neighbors": 15,
            "rows_laid_out": laid_out,
            "exact": True,  # the graph of the rows laid out: every neighbor is the true one
            "recall": 1.0,
            "layout_dimensions": int(est.embedding_.shape[1]),
            "rows_assigned": int(X.shape[0]) - laid_out,  # labelled by their 10 nearest laid-out rows
        }
    return summary


def _summarise(choice: _Choice, X: np.ndarray, source: str, seconds: float) -> dict[str, Any]:
    est = choice.estimator
    labels = est.labels_
    centers = _centers(est, X)
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
    return {
        "input": source,
        "n_samples": int(X.shape[0]),
        "n_features": int(X.shape[1]),
        "method": choice.method,
        "why": choice.why,
        "parameters": parameters,
        "chosen": chosen,
        "space": _space_summary(est, X),
        "n_clusters": len(centers),
        "cluster_sizes": sizes.tolist(),
        "n_noise": int((labels < 0).sum()),
        "bandwidth": bandwidth,
        "kernel": getattr(est, "kernel", "gaussian") if bandwidth is not None else None,
        "seconds": round(seconds, 6),
    }


def _write(
    out: Path, summary: dict[str, Any], choice: _Choice, X: np.ndarray, plot: bool, animate: Path | None
) -> None:
    est = choice.estimator
    centers = _centers(est, X)
    names = OUTPUT_FILES if plot else OUTPUT_FILES[:3]
    # written into a temporary folder, then renamed into place together under a lock on --out
    with staged_outputs(out, names) as staging:  # an earlier run's clusters.png goes with --no-plot
        save_csv(staging / "labels.csv", est.labels_, ["label"])
        save_csv(staging / "centers.csv", centers, [f"x{j}" for j in range(centers.shape[1])])
        save_json(staging / "summary.json", summary)
        if plot:
            points, labels, shown, view = _picture(est, X, centers)
            if view == "layout":
                detail = f", in a layout of the neighbor graph ({len(points):,} rows)"
            else:
                detail = f", bandwidth {est.bandwidth_:.3g}" if hasattr(est, "bandwidth_") else ""
            title = f"{len(centers)} clusters, {choice.method}{detail}"
            _save_plot(staging / "clusters.png", points, labels, shown, title, _axis_names(view, points))
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
        bool | None, typer.Option(help="Give every point a cluster (else far outliers get -1).")
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
        "cluster_all": cluster_all,
        "max_iter": max_iter,
        "tol": tol,
        "engine": engine,
        "record_history": True if animate is not None else None,
    }
    try:
        X, source = _load(data)
        other_options = {"n_clusters": n_clusters, "seed": seed, "eps": eps, "min_samples": min_samples}
        if animate is not None and method in ("dbscan", "quickshift"):
            raise ValueError(
                f"--animate shows iterations: --method meanshift or kmeans ({method} has none to show)"
            )
        choice = _choose(data, method, mean_shift_options, other_options, {"device": device, "dtype": dtype})
        seconds = _fit(choice.estimator, X)
    except (ValueError, TypeError, OSError, RuntimeError) as exc:
        raise fail(str(exc)) from None
    summary = _summarise(choice, X, source, seconds)
    try:
        _write(out, summary, choice, X, plot, animate)
    except (OSError, ImportError) as exc:
        raise fail(f"cannot write the results: {exc}") from None

    console.print(_summary_table(summary, _centers(choice.estimator, X)))
    how = ", ".join(
        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in summary["chosen"].items()
    )
    console.print(f"{choice.method}: {how}; {seconds:.3f} s ({choice.why})")
    written = OUTPUT_FILES if plot else OUTPUT_FILES[:3]
    console.print(
        f"wrote {', '.join(written)} to {out}/" + (f" and the animation to {animate}" if animate else "")
    )
