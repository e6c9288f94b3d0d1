"""End-to-end mean shift: shiftkit against scikit-learn, measured in the same run.

    python benchmarks/bench_meanshift.py [--sklearn-repeats 3] [--repeats 7]

Data: the fast.ai lesson's blobs (6 clusters x 250 points) and a 12,000-point
version (6 x 2,000). Both libraries use bandwidth 2.5; scikit-learn with
``n_jobs=-1``. Prints medians, the ratio, and each one's adjusted Rand index
against the true labels.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sklearn.cluster import MeanShift as SkMeanShift
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table, median_time
from shiftkit import MeanShift
from shiftkit.datasets import make_lesson_blobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs of shiftkit")
    parser.add_argument("--sklearn-repeats", type=int, default=3, help="timed runs of scikit-learn")
    args = parser.parse_args()

    print(f"machine: {machine()}\n")
    rows = []
    for per_cluster in (250, 2000):
        X, y, _ = make_lesson_blobs(n_samples=per_cluster)
        ours_t, ours = median_time(lambda X=X: MeanShift(bandwidth=2.5).fit(X), args.repeats)
        sk_t, sk = median_time(
            lambda X=X: SkMeanShift(bandwidth=2.5, n_jobs=-1).fit(X), args.sklearn_repeats, warmup=0
        )
        rows.append(
            [
                f"{len(X):,}",
                f"{sk_t:.3f} s",
                f"{ours_t * 1e3:.1f} ms",
                f"**{sk_t / ours_t:,.0f}x**",
                f"{len(sk.cluster_centers_)} / {adjusted_rand_score(y, sk.labels_):.3f}",
                f"{len(ours.cluster_centers_)} / {adjusted_rand_score(y, ours.labels_):.3f}",
                ours.engine_,
            ]
        )
    print(
        "MeanShift(bandwidth=2.5): scikit-learn (flat kernel, n_jobs=-1) vs shiftkit defaults "
        f"(Gaussian blurring); medians of {args.sklearn_repeats} and {args.repeats} runs\n"
    )
    print(
        markdown_table(
            [
                "points",
                "scikit-learn",
                "shiftkit",
                "speed-up",
                "sklearn clusters / ARI",
                "shiftkit clusters / ARI",
                "engine",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
