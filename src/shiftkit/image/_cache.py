"""Text embeddings of phrase banks, cached on disk as safetensors (never pickle).

A cache file is named by a hash of its key, and the full key is stored in the
file's metadata and compared on reading: the key covers the encoder's ``name``
(for open_clip: its version, the model name, the pretrained tag or the SHA-256
of the weights file's content), the bank's name and the SHA-256 of its phrases. A changed
bank or model therefore never reuses a stale file; a file that cannot be read or
does not match is recomputed and replaced (written atomically).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from torch import Tensor

from shiftkit.image._banks import PhraseBank
from shiftkit.image._encoders import Encoder
from shiftkit.io import atomic_path

CACHE_ENV = "SHIFTKIT_CACHE"
FORMAT = "shiftkit-bank-embeddings-1"


def default_cache_dir() -> Path:
    """``$SHIFTKIT_CACHE`` or ``$XDG_CACHE_HOME/shiftkit`` (``~/.cache/shiftkit``), + ``text-embeddings``."""
    root = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "shiftkit"
    )
    return Path(root) / "text-embeddings"


def cache_key(encoder: Encoder, bank: PhraseBank) -> dict[str, str]:
    """What a cached file must match to be used."""
    return {
        "format": FORMAT,
        "encoder": encoder.name,
        "bank": bank.name,
        "phrases_sha256": bank.digest,
        "n_phrases": str(len(bank)),
    }


def cache_file(cache_dir: str | os.PathLike[str], key: dict[str, str]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()[:24]
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in key["bank"])[:40]
    return Path(cache_dir) / f"{safe}-{digest}.safetensors"


def bank_embeddings(encoder: Encoder, bank: PhraseBank, cache_dir: str | os.PathLike[str] | None) -> Tensor:
    """(len(bank), d) unit float32 text embeddings of the bank's phrases, from the cache when it matches.

    ``cache_dir=None`` computes them without reading or writing a cache.
    """
    if cache_dir is None:
        return encoder.encode_texts(bank.phrases)
    from safetensors import safe_open
    from safetensors.torch import save_file

    key = cache_key(encoder, bank)
    path = cache_file(cache_dir, key)
    if path.is_file():
        try:
            with safe_open(str(path), framework="pt") as f:
                if f.metadata() == key:
                    E = f.get_tensor("embeddings")
                    if (
                        E.ndim == 2
                        and E.shape[0] == len(bank)
                        and E.dtype == torch.float32
                        and bool(torch.isfinite(E).all())
                        and bool(((E.norm(dim=1) - 1).abs() < 1e-3).all())
                    ):  # what is read is checked, not only its label: NaN or non-unit rows are recomputed
                        return E
        except Exception:  # a damaged or foreign file: recompute it
            pass
    E = encoder.encode_texts(bank.phrases).contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file({"embeddings": E}, str(tmp), metadata=key)
    return E
