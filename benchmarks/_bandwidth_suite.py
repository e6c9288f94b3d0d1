"""The collection of data sets the bandwidth rules are compared on (benchmarks/bench_bandwidth.py).

Generated: blobs of equal and of different spreads, of different sizes, many
blobs, anisotropic blobs, rings, moons, uniform noise, blobs in 5, 10 and 20
dimensions. Real (embedded in scikit-learn, standardised): iris, wine, breast
cancer, digits. Each entry: (name with the true number of clusters, X, y).
"""

import numpy as np
from sklearn import datasets as skd
from sklearn.preprocessing import StandardScaler

from shiftkit.datasets import make_lesson_blobs


def suite(seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    X, y, _ = make_lesson_blobs()
    out.append(("lesson blobs (6)", X, y))
    X, y = skd.make_blobs(
        n_samples=1500, centers=4, cluster_std=[0.5, 1.0, 2.0, 3.0], random_state=1, center_box=(-20, 20)
    )
    out.append(("blobs, spreads 0.5-3 (4)", X, y))
    X, y = skd.make_blobs(
        n_samples=[1000, 300, 100, 50], centers=None, cluster_std=1.0, random_state=2, center_box=(-15, 15)
    )
    out.append(("blobs, sizes 1000-50 (4)", X, y))
    X, y = skd.make_blobs(n_samples=2000, centers=12, cluster_std=0.8, random_state=3, center_box=(-30, 30))
    out.append(("12 blobs (12)", X, y))
    X, y = skd.make_blobs(n_samples=1500, centers=3, random_state=170)
    out.append(("anisotropic blobs (3)", X @ np.array([[0.6, -0.6], [-0.4, 0.8]]), y))
    X, y = skd.make_circles(n_samples=1500, factor=0.4, noise=0.05, random_state=4)
    out.append(("rings (2)", X, y))
    X, y = skd.make_moons(n_samples=1500, noise=0.06, random_state=5)
    out.append(("moons (2)", X, y))
    out.append(("uniform noise (1)", rng.uniform(-1, 1, size=(1500, 2)), np.zeros(1500, dtype=int)))
    for d in (5, 10, 20):
        X, y = skd.make_blobs(
            n_samples=1500, centers=5, n_features=d, cluster_std=1.0, random_state=d, center_box=(-10, 10)
        )
        out.append((f"5 blobs in {d}-D (5)", X, y))
    for name, loader in [
        ("iris", skd.load_iris),
        ("wine", skd.load_wine),
        ("breast cancer", skd.load_breast_cancer),
        ("digits", skd.load_digits),
    ]:
        b = loader()
        out.append(
            (f"{name}, scaled ({len(set(b.target))})", StandardScaler().fit_transform(b.data), b.target)
        )
    return out
