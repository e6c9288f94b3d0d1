"""k-means on Dask: Lloyd's iterations as per-block partial sums, k-means|| as tasks, files on the workers."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
import torch
from torch import Tensor

from shiftkit import KMeans
from shiftkit.cluster.stages import (
    compute_dtype,
    inertia,
    kmeans_initial_centers,
    kmeans_prepare,
    kmeans_store,
)
from shiftkit.distributed._blocks import _frame_of_blocks, _framed_block, _load_block


def _kmeans_block(
    X: np.ndarray, w: np.ndarray | None, C: np.ndarray, previous: np.ndarray | None, need_far: int
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, float, tuple[np.ndarray, ...]]:
    """One block's part of a Lloyd iteration (a task): offsets summed per center (float64), weight per
    center, labels changed, the labels, the weighted squared distances, and the ``need_far`` rows
    farthest from their centers (distances, rows, labels, weights) for empty clusters."""
    from shiftkit.cluster.stages import assign

    Xt, Ct = torch.from_numpy(X), torch.from_numpy(C)
    wt = None if w is None else torch.from_numpy(w)
    k, d = C.shape
    sums = torch.zeros((k, d), dtype=torch.float64)
    x2 = Xt.square().sum(1)
    labels, dist = assign(Xt, Ct, memory_budget=64 << 20, sums=sums, weights=wt, x2=x2)
    counts = (
        torch.bincount(labels, minlength=k).double()
        if wt is None
        else torch.zeros(k, dtype=torch.float64).index_add_(0, labels, wt.double())
    )
    labels_np = labels.numpy()
    changed = int(len(labels_np) if previous is None else (labels_np != previous).sum())
    cost = float(dist.double().sum() if wt is None else dist.double() @ wt.double())
    far: tuple[np.ndarray, ...] = ()
    if need_far:
        top = torch.topk(dist, min(need_far, len(dist))).indices.numpy()
        far = (dist.double().numpy()[top], X[top], labels_np[top], np.ones(len(top)) if w is None else w[top])
    return sums.numpy(), counts.numpy(), changed, labels_np, cost, far


def _nearest_sq(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Each row's squared distance to its nearest row of ``C`` (a task; float64)."""
    from shiftkit.cluster.stages import assign

    Xt = torch.from_numpy(X)
    _, dist = assign(Xt, torch.from_numpy(C), memory_budget=64 << 20, x2=Xt.square().sum(1))
    return dist.double().numpy()


def _potential(d2: np.ndarray, w: np.ndarray | None) -> float:
    return float(d2.sum() if w is None else d2 @ w)


def _sample(X: np.ndarray, d2: np.ndarray, w: np.ndarray | None, factor: float, seed: int) -> np.ndarray:
    """The rows kept with probability ``min(1, factor * w * d2)`` (a task)."""
    p = np.minimum(1.0, factor * d2 * (1.0 if w is None else w))
    return X[np.random.default_rng(seed).uniform(size=len(p)) < p]


def _candidate_weights(X: np.ndarray, w: np.ndarray | None, C: np.ndarray) -> np.ndarray:
    """The weight of the rows nearest each candidate (a task)."""
    from shiftkit.cluster.stages import assign

    labels, _ = assign(torch.from_numpy(X), torch.from_numpy(C), memory_budget=64 << 20)
    return np.bincount(labels.numpy(), weights=None if w is None else w, minlength=len(C))


def _kmeans_parallel_dask(
    client: Any,
    X_f: list,
    w_f: list,
    first: np.ndarray,
    k: int,
    rng: np.random.RandomState,
    rounds: int = 5,
    oversampling: float = 2.0,
) -> np.ndarray:
    """k-means|| (Bahmani et al. 2012) with its passes as tasks: each round, the blocks compute their
    rows' distances to the candidates (kept on the workers) and their potential, then sample; the
    candidates, weighted by the rows nearest them, are reduced to ``k`` by weighted k-means++ here."""
    from shiftkit.cluster.stages import kmeans_plusplus_indices

    candidates = first  # (1, d): the first center, drawn by the caller
    for _ in range(rounds):
        C_f = client.scatter(candidates, broadcast=True, hash=False)
        d2_f = [client.submit(_nearest_sq, x, C_f, pure=False) for x in X_f]
        potential = sum(
            client.gather([client.submit(_potential, d, w) for d, w in zip(d2_f, w_f, strict=True)])
        )
        if potential <= 0:
            break
        seeds = rng.randint(0, 2**31 - 1, size=len(X_f))
        factor = oversampling * k / potential
        new = client.gather(
            [
                client.submit(_sample, x, d, w, factor, int(seed), pure=False)
                for x, d, w, seed in zip(X_f, d2_f, w_f, seeds, strict=True)
            ]
        )
        candidates = np.unique(np.concatenate([candidates, *new]), axis=0)
    if len(candidates) <= k:
        return candidates
    C_f = client.scatter(candidates, broadcast=True, hash=False)
    weights = np.sum(
        client.gather(
            [client.submit(_candidate_weights, x, w, C_f, pure=False) for x, w in zip(X_f, w_f, strict=True)]
        ),
        axis=0,
    )
    keep = weights > 0
    candidates, weights = candidates[keep], weights[keep]
    if len(candidates) <= k:
        return candidates
    picked = kmeans_plusplus_indices(torch.from_numpy(candidates), k, weights, rng, memory_budget=64 << 20)
    return candidates[picked]


def _small_part(part: tuple) -> tuple[np.ndarray, np.ndarray, int]:
    """What comes back to the client each iteration: the sums, the weights per center, the changes."""
    return part[0], part[1], part[2]


def _lloyd_on_blocks(
    km: KMeans, client: Any, X_f: list, w_f: list, C: np.ndarray, tol: float
) -> tuple[np.ndarray, list[np.ndarray], int]:
    """Lloyd's iterations over the blocks (futures): the centers, the labels per block, the iterations."""
    labels_f: list[Any] = [None] * len(X_f)
    strict, n_iter = False, 0
    for it in range(1, int(km.max_iter) + 1):
        n_iter = it
        C_f = client.scatter(C, broadcast=True, hash=False)
        futures = [
            client.submit(_kmeans_block, x, w, C_f, prev, 0, pure=False)
            for x, w, prev in zip(X_f, w_f, labels_f, strict=True)
        ]
        parts = client.gather([client.submit(_small_part, f, pure=False) for f in futures])
        labels_f = [client.submit(operator.getitem, f, 3, pure=False) for f in futures]  # stay on the workers
        sums = np.sum([p[0] for p in parts], axis=0)
        counts = np.sum([p[1] for p in parts], axis=0)
        changed = sum(p[2] for p in parts)
        sums += counts[:, None] * C.astype(np.float64)  # offsets -> sums of the rows
        empty = np.flatnonzero(counts == 0)
        if len(empty):  # scikit-learn's rule: the points farthest from their centers, across the blocks
            far_parts = client.gather(
                [
                    client.submit(_kmeans_block, x, w, C_f, None, len(empty), pure=False)
                    for x, w in zip(X_f, w_f, strict=True)
                ]
            )
            dist, rows, owner, weight = (np.concatenate([p[5][i] for p in far_parts]) for i in range(4))
            for new_id, j in zip(empty, np.argsort(-dist, kind="stable")[: len(empty)], strict=True):
                x = rows[j].astype(np.float64) * weight[j]
                sums[owner[j]] -= x
                counts[owner[j]] -= weight[j]
                sums[new_id] = x
                counts[new_id] = weight[j]
        C_new = (sums / counts[:, None]).astype(C.dtype)
        shift = float(((C_new.astype(np.float64) - C.astype(np.float64)) ** 2).sum())
        C = C_new
        if changed == 0:
            strict = True
            break
        if shift <= tol:
            break
    if strict:  # as on one machine: the labels the last update came from
        return C, client.gather(labels_f), n_iter
    C_f = client.scatter(C, broadcast=True, hash=False)  # a last assignment: labels that match the centers
    parts = client.gather(
        [client.submit(_kmeans_block, x, w, C_f, None, 0, pure=False) for x, w in zip(X_f, w_f, strict=True)]
    )
    return C, [p[3] for p in parts], n_iter


def _kmeans_dask(km: KMeans, X: Any, client: Any, block_rows: int, sample_weight: Any) -> KMeans:
    """Fit ``km`` with Lloyd iterations whose assignment and partial sums run as tasks on the blocks."""
    from sklearn.utils import check_random_state

    _check_kmeans(km)
    prep = kmeans_prepare(km, X, sample_weight)
    X_c, frame, w64, w_np, tol, init = prep.X_c, prep.frame, prep.w64, prep.w_np, prep.tol, prep.init
    n, k = X_c.shape[0], int(km.n_clusters)
    rng = check_random_state(km.random_state)
    X_np = X_c.numpy()
    wc = None if w64 is None else w64.to(X_c.dtype).numpy()
    blocks = [(s, min(n, s + block_rows)) for s in range(0, n, block_rows)]
    X_f = client.scatter([X_np[a:b] for a, b in blocks], hash=False)
    w_f = [None] * len(blocks) if wc is None else client.scatter([wc[a:b] for a, b in blocks], hash=False)
    if isinstance(init, str) and init == "k-means||":
        first = int(rng.choice(n, p=w_np / w_np.sum()))
        C = _kmeans_parallel_dask(client, X_f, w_f, X_np[first : first + 1].copy(), k, rng)
    else:
        C = kmeans_initial_centers(km, X_c, prep.X64, init, frame, w_np, rng).numpy().copy()
    C, labels_parts, n_iter = _lloyd_on_blocks(km, client, X_f, w_f, C, tol)
    labels = np.concatenate(labels_parts)
    Ct = torch.from_numpy(C)
    cost = inertia(X_c, Ct, torch.from_numpy(labels), w64, int(km.memory_budget))
    return kmeans_store(km, frame, Ct, labels, cost * prep.w_unit, n_iter)


def _check_kmeans(km: KMeans) -> None:
    from shiftkit._validation import check_params
    from shiftkit.cluster.stages import KMEANS_PARAMETER_RULES as PARAMETER_RULES

    check_params(km, PARAMETER_RULES)
    if km.metric != "euclidean":
        raise ValueError("shiftkit.distributed fits KMeans with metric='euclidean' only")
    if km.n_init not in ("auto", 1):
        raise ValueError("shiftkit.distributed fits KMeans with n_init=1 (one run: pass n_init=1)")
    if km.n_init == "auto" and (callable(km.init) or (isinstance(km.init, str) and km.init == "random")):
        raise ValueError("shiftkit.distributed fits KMeans with n_init=1 (one run: pass n_init=1)")


def _block_inertia(X: np.ndarray, C: np.ndarray, labels: np.ndarray) -> float:
    """Sum of squared distances of a block's rows to their centers, explicit differences, float64."""
    return float(((X.astype(np.float64) - C.astype(np.float64)[labels]) ** 2).sum())


def _kmeans_files(km: KMeans, paths: list, client: Any) -> KMeans:
    """KMeans over files that the workers read, one block per file: the data never come to the client;
    the frame is built from the blocks' statistics (Chan et al.'s pairwise combination)."""
    from sklearn.utils import check_random_state

    _check_kmeans(km)
    init = km.init
    if isinstance(init, str) and init != "k-means||":
        raise ValueError("fitting KMeans on files read by the workers needs init='k-means||' or an array")
    raw = [client.submit(_load_block, str(p), pure=False) for p in paths]
    compute = compute_dtype(km, torch.float64)
    frame, stats, n, mean_variance = _frame_of_blocks(client, raw, compute)
    d, k = frame.origin.shape[0], int(km.n_clusters)
    if n < k:
        raise ValueError(f"n_samples={n} should be >= n_clusters={k}.")
    dtype = str(compute).replace("torch.", "")
    X_f = [client.submit(_framed_block, f, frame.origin.numpy(), frame.scale, dtype, pure=False) for f in raw]
    del raw  # the raw blocks are released once framed
    w_f: list[Any] = [None] * len(X_f)
    tol = mean_variance / frame.scale / frame.scale * float(km.tol) if km.tol > 0 else 0.0
    rng = check_random_state(km.random_state)
    if isinstance(init, str):
        sizes = np.array([st[0] for st in stats])
        first = int(rng.choice(n))
        b = int(np.searchsorted(np.cumsum(sizes), first, side="right"))
        row = client.submit(operator.getitem, X_f[b], first - int(sizes[:b].sum()), pure=False).result()
        C = _kmeans_parallel_dask(client, X_f, w_f, np.asarray(row)[None, :].copy(), k, rng)
    else:
        C0 = np.asarray(init.detach().cpu() if isinstance(init, Tensor) else init, dtype=np.float64)
        if C0.shape != (k, d):
            raise ValueError(f"init has shape {C0.shape}; expected ({k}, {d})")
        C = frame.to(torch.from_numpy(C0)).numpy()
    C, labels_parts, n_iter = _lloyd_on_blocks(km, client, X_f, w_f, C, tol)
    C_f = client.scatter(C, broadcast=True, hash=False)
    cost = sum(
        client.gather(
            [
                client.submit(_block_inertia, x, C_f, lab, pure=False)
                for x, lab in zip(X_f, client.scatter(labels_parts, hash=False), strict=True)
            ]
        )
    )
    km.n_features_in_ = d
    if hasattr(km, "feature_names_in_"):
        del km.feature_names_in_
    return kmeans_store(km, frame, torch.from_numpy(C), np.concatenate(labels_parts), cost, n_iter)
