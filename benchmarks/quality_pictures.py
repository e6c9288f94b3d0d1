"""Pictures for the README: the defaults on a success and a failure of the development battery.

    python benchmarks/quality_pictures.py [BATTERY] [--out docs/images]

For each chosen set: the reference partition beside QuickShift()'s, and the
number of clusters QuickShift keeps at each level it sweeps (those that rise
above the density's noise; the lifetime criterion picks the level from the
longest run of the counts before that test). Writes battery-success.png and
battery-failure.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_quality import DEFAULT_BATTERY, load, score
from shiftkit import QuickShift
from shiftkit.plot import plot_data

CASES = {
    "battery-success.png": "other/chameleon_t7_10k",
    "battery-failure.png": "wut/trajectories",
}


def picture(battery: Path, name: str, path: Path) -> None:
    X, y = load(battery / f"{name}.data.gz")
    qs = QuickShift().fit(X)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), gridspec_kw={"width_ratios": [1, 1, 0.8]})
    reference = f"{name}: reference, {len(np.unique(y[y > 0]))} clusters (grey: noise)"
    plot_data(X, y - 1, ax=axes[0], title=reference)
    plot_data(
        X,
        qs.labels_,
        qs.cluster_centers_,
        ax=axes[1],
        title=f"QuickShift(): {len(qs.cluster_centers_)} clusters, ARI {score(y, qs.labels_):.2f}",
    )
    ax = axes[2]
    ax.semilogx(qs.levels_, qs.n_clusters_by_level_, marker=".")
    ax.axvline(qs.prominence_, color="C3", linestyle="--", label=f"chosen level {qs.prominence_:.2f}")
    ax.set_xlabel("level (relative prominence a mode needs)")
    ax.set_ylabel("clusters of at least 0.5% of the points")
    ax.set_title("clusters kept at each level", fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("battery", nargs="?", type=Path, default=DEFAULT_BATTERY)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "images")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for file, name in CASES.items():
        picture(args.battery, name, args.out / file)


if __name__ == "__main__":
    main()
