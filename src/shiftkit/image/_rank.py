"""Exact top-k by cosine similarity, a block of the bank at a time.

clip-interrogator ranks a bank larger than its chunk size approximately: it keeps
``chunk_size / n_chunks`` phrases per chunk and re-ranks those, so a chunk holding
more than its quota of the best phrases loses some, and its final re-rank drops
``reverse`` (negative mode then ranks the survivors the wrong way round).
Here every block's own top k is merged with the running top k, so the result is
the exact top k of the whole bank, with ties broken by the lower index, in
either direction.
"""

from __future__ import annotations

import torch
from torch import Tensor

from shiftkit.image._encoders import batches

DEFAULT_BLOCK_ROWS = 65_536


def top_k(
    queries: Tensor,
    embeddings: Tensor,
    k: int,
    *,
    reverse: bool = False,
    block_rows: int = DEFAULT_BLOCK_ROWS,
) -> tuple[Tensor, Tensor]:
    """The ``k`` rows of ``embeddings`` most similar to each query (least, with ``reverse``).

    Parameters
    ----------
    queries : Tensor of shape (m, d) or (d,)
    embeddings : Tensor of shape (n, d)
        Unit rows, so that the dot product is the cosine similarity.
    k : int
        At most ``n`` are returned.
    reverse : bool
        Rank from the least similar.
    block_rows : int
        Rows of ``embeddings`` compared at a time ((m, block_rows) similarities).

    Returns
    -------
    similarities : Tensor of shape (m, k) (or (k,)), best first
    indices : Tensor of shape (m, k) (or (k,)), int64 rows of ``embeddings``
    """
    single = queries.ndim == 1
    Q = queries[None] if single else queries  # (m, d)
    if Q.ndim != 2 or embeddings.ndim != 2 or Q.shape[1] != embeddings.shape[1]:
        raise ValueError(
            f"queries {tuple(queries.shape)} and embeddings {tuple(embeddings.shape)} do not match"
        )
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    n = embeddings.shape[0]
    k = min(k, n)
    sign = -1.0 if reverse else 1.0
    best_score = Q.new_full((Q.shape[0], 0), float("-inf"))
    best_index = torch.empty((Q.shape[0], 0), dtype=torch.int64, device=Q.device)
    for part in batches(n, block_rows):
        score = sign * (Q @ embeddings[part].to(Q).T)  # (m, b)
        index = torch.arange(part.start, part.stop, device=Q.device).expand_as(score)
        best_score, best_index = _keep_best(
            torch.cat([best_score, score], 1), torch.cat([best_index, index], 1), k
        )
    return (sign * best_score[0], best_index[0]) if single else (sign * best_score, best_index)


def _keep_best(score: Tensor, index: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The k highest scores of each row, ties to the lower index (two stable sorts)."""
    by_index = index.argsort(dim=1, stable=True)
    score, index = score.gather(1, by_index), index.gather(1, by_index)
    order = score.argsort(dim=1, descending=True, stable=True)[:, :k]
    return score.gather(1, order), index.gather(1, order)
