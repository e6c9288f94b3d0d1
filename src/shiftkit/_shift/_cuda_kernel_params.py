"""Constants shared by the CUDA engine and its kernel (kept apart so that reading them imports no numba)."""

MAX_FEATURES = 32  # size of the per-thread accumulator
