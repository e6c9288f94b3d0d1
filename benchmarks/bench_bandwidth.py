"""Which automatic bandwidth? Every rule of shiftkit.select_bandwidth on a varied collection.

    python benchmarks/bench_bandwidth.py [--no-sklearn]

For each data set (see _bandwidth_suite.py) and rule, MeanShift (Gaussian)
runs with the rule's bandwidth as a number, so modes closer than one bandwidth
are merged as in scikit-learn; the table gives the adjusted Rand index (ARI)
against the true labels and the number of clusters found. Then shiftkit's
defaults, MeanShift() (the 'auto' bandwidth with the modes merged through
saddles) and QuickShift(), and scikit-learn's own MeanShift() with its
defaults (flat kernel, estimate_bandwidth at quantile 0.3). The last rows are
the mean ARI and the seconds spent choosing the bandwidth.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.cluster import MeanShift as SkMeanShift
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).parent))
from _bandwidth_suite import suite
from _common import machine, markdown_table
from shiftkit import BANDWIDTH_RULES, MeanShift, QuickShift, select_bandwidth

DEFAULTS = {"MeanShift()": MeanShift, "QuickShift()": QuickShift}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn's MeanShift() column")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    rules = list(BANDWIDTH_RULES)
    print(f"machine: {machine()}\n")
    rows, scores = [], {r: [] for r in [*rules, *DEFAULTS, "scikit-learn MeanShift()"]}
    seconds = dict.fromkeys(rules, 0.0)
    for name, X, y in suite():
        X = X.astype(np.float64)
        row = [name]
        for rule in rules:
            start = time.perf_counter()
            h = select_bandwidth(X, rule)
            seconds[rule] += time.perf_counter() - start
            labels = MeanShift(bandwidth=h).fit(X).labels_
            score = adjusted_rand_score(y, labels)
            scores[rule].append(score)
            row.append(f"{score:.2f} ({labels.max() + 1})")
        for default, estimator in DEFAULTS.items():
            labels = estimator().fit(X).labels_
            scores[default].append(adjusted_rand_score(y, labels))
            row.append(f"{scores[default][-1]:.2f} ({labels.max() + 1})")
        if not args.no_sklearn:
            labels = SkMeanShift(n_jobs=-1).fit(X).labels_
            score = adjusted_rand_score(y, labels)
            scores["scikit-learn MeanShift()"].append(score)
            row.append(f"{score:.2f} ({labels.max() + 1})")
        rows.append(row)
        print(" | ".join(row), flush=True)
    columns = [*rules, *DEFAULTS] + ([] if args.no_sklearn else ["scikit-learn MeanShift()"])
    rows.append(["**mean ARI**"] + [f"**{np.mean(scores[c]):.3f}**" for c in columns])
    rows.append(
        ["seconds choosing (all sets)"]
        + [f"{seconds[r]:.1f}" for r in rules]
        + ["-"] * (len(columns) - len(rules))
    )
    print("\nARI (clusters found) of MeanShift(bandwidth=rule's number), and of the defaults\n")
    print(markdown_table(["data set (true clusters)", *columns], rows))


if __name__ == "__main__":
    main()
