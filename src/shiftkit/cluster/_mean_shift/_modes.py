"""The modes mean shift found, merged into cluster centers (scikit-learn's rule)."""

from __future__ import annotations

import torch
from torch import Tensor

from shiftkit.cluster._mean_shift._loops import Modes


def strongest_first(positions: Tensor, density: Tensor) -> Tensor:
    """Order by decreasing density, ties by decreasing coordinates (as scikit-learn)."""
    order = torch.arange(positions.shape[0], device=positions.device)
    keys = [positions[:, j] for j in reversed(range(positions.shape[1]))] + [density]
    for key in keys:  # stable sorts, least significant key first
        order = order[torch.sort(key[order], descending=True, stable=True).indices]
    return order


def merge_modes(modes: Modes, radius: float) -> tuple[Tensor, Tensor]:
    """Greedy merge of modes, strongest first: a mode within ``radius`` of a kept one joins it.

    Returns the indices of the kept modes, strongest first, and for every mode
    the index of the cluster it joined (-1 for modes with zero density: seeds
    that saw no data).
    """
    cluster_of_mode = torch.full(
        (modes.positions.shape[0],), -1, dtype=torch.long, device=modes.positions.device
    )
    order = strongest_first(modes.positions, modes.density)
    remaining = order[modes.density[order] > 0]
    kept: list[Tensor] = []
    while remaining.numel():
        top = remaining[0]
        near = (modes.positions[remaining] - modes.positions[top]).square().sum(1) <= radius**2
        cluster_of_mode[remaining[near]] = len(kept)
        kept.append(top)
        remaining = remaining[~near]
    return torch.stack(kept), cluster_of_mode
