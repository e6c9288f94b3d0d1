"""Locality-sensitive hashing for Euclidean neighbors: random projections, several tables, multi-probe,
exact re-rank of the candidates (Datar, Immorlica, Indyk & Mirrokni 2004; Lv et al. 2007).

Each table projects the data on ``n_projections`` random Gaussian directions,
shifts by a random offset and cuts every projection into slabs of width
``bucket_width``: points with the same slab numbers share a bucket (a 64-bit
hash of the numbers, sorted once, looked up by binary search). A query visits
its own bucket in every table and, with ``n_probes`` > 1, the buckets across
the slab boundaries it is nearest to; the union of what it finds is ranked by
exact distance. More tables and probes raise recall and cost; a wider bucket
gives more candidates per probe. ``bucket_width=None`` picks the width at
which a point's bucket holds about ``bucket_size`` points.

Where it pays: data of low intrinsic dimension (embeddings, images, anything
on a low-dimensional manifold) in many features. On full-dimensional data
distances concentrate and no hashing beats brute force at high recall (see the
README's table, ``benchmarks/bench_neighbors.py``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from shiftkit._ops import DEFAULT_MEMORY_BUDGET
from shiftkit.neighbors._indexes import Neighborhoods, _check_k, _csr

__all__ = ["LSHIndex"]

_MULT = 0x9E3779B97F4A7C15 - (1 << 64)  # an odd 64-bit constant (as a signed integer): mixes slab numbers


def _keys(codes: Tensor) -> Tensor:
    """A 64-bit key of each row of slab numbers (m, K) (wrapping integer arithmetic)."""
    key = torch.zeros(codes.shape[:-1], dtype=torch.long, device=codes.device)
    for j in range(codes.shape[-1]):
        key = (key ^ codes[..., j]) * _MULT
        key = key ^ (key >> 29)
    return key


class LSHIndex:
    """Approximate nearest neighbors: Euclidean LSH, multi-probe, exact re-ranking (torch, any device).

    Parameters
    ----------
    n_tables : int, default=16
    n_projections : int, default=8
        Projections per table (the bucket is the cell of a K-dimensional lattice).
    n_probes : int, default=8
        Buckets visited per table: the query's own and those across its nearest
        slab boundaries.
    bucket_width : float, default=None
        Slab width, in the data's units; None: chosen so that a point's bucket
        holds about ``bucket_size`` points.
    bucket_size : int, default=64
    max_bucket : int, default=None
        Candidates taken from one bucket at most (None: 8 x ``bucket_size``).
    rerank : int, default=256
        Candidates per query ranked by exact distance: those found by the most
        probes (true neighbors collide in many tables).
    random_state : int, default=0
    memory_budget : int, default=256 MiB
    """

    exact = False

    def __init__(
        self,
        *,
        n_tables: int = 16,
        n_projections: int = 8,
        n_probes: int = 8,
        bucket_width: float | None = None,
        bucket_size: int = 64,
        max_bucket: int | None = None,
        rerank: int = 256,
        random_state: int = 0,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
    ) -> None:
        for name, value in (
            ("n_tables", n_tables),
            ("n_projections", n_projections),
            ("n_probes", n_probes),
            ("bucket_size", bucket_size),
            ("rerank", rerank),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if bucket_width is not None and not (math.isfinite(bucket_width) and bucket_width > 0):
            raise ValueError(f"bucket_width must be > 0 and finite, got {bucket_width!r}")
        self.n_tables = n_tables
        self.n_projections = n_projections
        self.n_probes = n_probes
        self.bucket_width = bucket_width
        self.bucket_size = bucket_size
        self.max_bucket = max_bucket
        self.rerank = rerank
        self.random_state = random_state
        self.memory_budget = memory_budget

    def fit(self, X: Tensor) -> LSHIndex:
        if not isinstance(X, Tensor):
            raise TypeError(f"LSHIndex.fit takes a torch tensor (torch.as_tensor(X)), got {type(X).__name__}")
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(
                f"LSHIndex.fit needs a 2-D tensor with at least one row, got shape {tuple(X.shape)}"
            )
        n, d = X.shape
        g = torch.Generator(device="cpu").manual_seed(self.random_state)
        L, K = self.n_tables, self.n_projections
        self.X_ = X
        self.sq_norms_ = X.square().sum(1)
        self.mean_ = X.mean(0)
        A = torch.randn((d, L * K), generator=g, dtype=torch.float64).to(X.device, X.dtype)
        self.A_ = A
        P = self._project(X)  # (n, L, K)
        self.width_ = self.bucket_width if self.bucket_width is not None else self._auto_width(P, n)
        self.offsets_ = (torch.rand((L, K), generator=g, dtype=torch.float64) * self.width_).to(
            X.device, X.dtype
        )
        self.keys_, self.order_ = [], []
        for t in range(L):
            keys = _keys(torch.floor((P[:, t] + self.offsets_[t]) / self.width_).long())
            sorted_keys, order = torch.sort(keys)
            self.keys_.append(sorted_keys)
            self.order_.append(order)
        return self

    def _project(self, Y: Tensor) -> Tensor:
        return ((Y - self.mean_) @ self.A_).reshape(Y.shape[0], self.n_tables, self.n_projections)

    def _auto_width(self, P: Tensor, n: int) -> float:
        """The slab width at which a point's bucket in the first table holds about ``bucket_size`` points
        (bisection on the log of the width, on a sample of at most 100,000 points)."""
        m = min(n, 100_000)
        sample = P[torch.randperm(n, generator=torch.Generator().manual_seed(self.random_state))[:m], 0]
        target = self.bucket_size * m / n  # the sample's share of a bucket
        spread = float(sample.std(0).mean()) or 1.0
        lo, hi = math.log(spread * 1e-3), math.log(spread * 1e3)
        for _ in range(30):
            mid = 0.5 * (lo + hi)
            _, counts = torch.unique(_keys(torch.floor(sample / math.exp(mid)).long()), return_counts=True)
            seen = float((counts.double().square().sum()) / m)  # the bucket size a random point sees
            if seen < max(target, 1.0):
                lo = mid
            else:
                hi = mid
        return math.exp(0.5 * (lo + hi))

    def _candidates(self, Y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(query row, data row) pairs from every table's probes, without repeats, and how many probes
        found each pair."""
        L, K = self.n_tables, self.n_projections
        P = self._project(Y)  # (m, L, K)
        cap = self.max_bucket if self.max_bucket is not None else 8 * self.bucket_size
        rows, found = [], []
        n_flip = min(self.n_probes - 1, 2 * K)
        for t in range(L):
            z = (P[:, t] + self.offsets_[t]) / self.width_  # (m, K)
            codes = torch.floor(z).long()
            frac = z - codes
            probes = [codes]
            if n_flip:
                # the nearest slab boundaries: below (frac) or above (1 - frac) in each projection
                margin = torch.cat([frac, 1 - frac], 1)  # (m, 2K)
                nearest = margin.topk(n_flip, dim=1, largest=False).indices  # (m, n_flip)
                for f in range(n_flip):
                    j = nearest[:, f]
                    step = torch.where(j < K, -1, 1)
                    code = codes.clone()
                    code.scatter_add_(1, (j % K)[:, None], step[:, None])
                    probes.append(code)
            keys = _keys(torch.stack(probes, 1))  # (m, probes)
            lo = torch.searchsorted(self.keys_[t], keys)
            hi = torch.searchsorted(self.keys_[t], keys, right=True)
            count = (hi - lo).clamp_max_(cap)
            total = int(count.sum())
            if total == 0:
                continue
            flat_count = count.flatten()
            which = torch.repeat_interleave(torch.arange(flat_count.numel(), device=Y.device), flat_count)
            first = torch.cumsum(flat_count, 0) - flat_count
            pos = lo.flatten()[which] + (torch.arange(total, device=Y.device) - first[which])
            rows.append(which // keys.shape[1])
            found.append(self.order_[t][pos])
        if not rows:
            empty = torch.zeros(0, dtype=torch.long, device=Y.device)
            return empty, empty, empty
        n = self.X_.shape[0]
        pair, hits = torch.unique(torch.cat(rows) * n + torch.cat(found), return_counts=True)
        return pair // n, pair % n, hits

    def _chunks(self) -> int:
        """Queries per block: each makes up to ``tables x probes x bucket`` candidate pairs (five int64
        arrays of them at most) and gathers ``rerank`` rows of the data."""
        pairs = self.n_tables * self.n_probes * min(self.bucket_size * 8, self.X_.shape[0]) * 5 * 8
        rows = max(self.rerank, 16) * self.X_.shape[1] * self.X_.element_size() * 2
        return max(1, self.memory_budget // (pairs + rows))

    def kneighbors(self, Y: Tensor | None, n_neighbors: int) -> tuple[Tensor, Tensor]:
        """Approximate k nearest rows (distances, indices), nearest first; -1 / inf where fewer were found."""
        n = self.X_.shape[0]
        own = Y is None
        _check_k(n_neighbors, n - 1 if own else n)
        queries = self.X_ if Y is None else Y
        k = n_neighbors
        out_d, out_i = [], []
        step = self._chunks()
        for s in range(0, queries.shape[0], step):
            Q = queries[s : s + step]
            r, c, hits = self._candidates(Q)
            if own:
                keep = c != r + s
                r, c, hits = r[keep], c[keep], hits[keep]
            b = Q.shape[0]
            counts = torch.bincount(r, minlength=b)
            width = max(k, int(counts.max()) if counts.numel() else 0)
            first = torch.cumsum(counts, 0) - counts
            slot = torch.arange(len(r), device=Q.device) - first[r]
            found_i = torch.full((b, width), -1, dtype=torch.long, device=Q.device)
            found_i[r, slot] = c
            # the candidates found by the most probes (true neighbors collide in many tables) ...
            n_hits = torch.zeros((b, width), dtype=torch.long, device=Q.device)
            n_hits[r, slot] = hits
            keep_m = min(width, max(k, self.rerank))
            found_i = found_i.gather(1, n_hits.topk(keep_m, dim=1).indices)  # (b, m)
            # ... ranked by exact distance
            rows = self.X_.index_select(0, found_i.clamp(min=0).flatten()).view(b, keep_m, -1)
            dist = (rows - Q[:, None, :]).square_().sum(2)
            dist.masked_fill_(found_i < 0, math.inf)
            top = dist.topk(k, dim=1, largest=False)  # sorted, nearest first
            out_d.append(top.values.sqrt())
            out_i.append(found_i.gather(1, top.indices))
        if not out_d:  # no queries
            return self.X_.new_zeros((0, k)), torch.zeros((0, k), dtype=torch.long, device=self.X_.device)
        return torch.cat(out_d), torch.cat(out_i)

    def radius_neighbors(self, Y: Tensor | None, radius: float) -> Neighborhoods:
        """Rows within ``radius`` of each query among the candidates (approximate: some may be missed)."""
        queries = self.X_ if Y is None else Y
        found, dists = [], []
        step = self._chunks()
        for s in range(0, queries.shape[0], step):
            Q = queries[s : s + step]
            r, c, _ = self._candidates(Q)
            if Y is None:
                keep = c != r + s
                r, c = r[keep], c[keep]
            dist = (self.X_.index_select(0, c) - Q.index_select(0, r)).square_().sum(1).sqrt_()
            keep = dist <= radius
            r, c, dist = r[keep], c[keep], dist[keep]
            order = torch.argsort(dist, stable=True)  # by query, then by distance (any radius, inf too)
            order = order[torch.argsort(r[order], stable=True)]
            r, c, dist = r[order], c[order], dist[order]
            counts = torch.bincount(r, minlength=Q.shape[0]).tolist()
            found += list(torch.split(c, counts))
            dists += list(torch.split(dist, counts))
        return _csr(found, dists, self.X_.dtype, self.X_.device)
