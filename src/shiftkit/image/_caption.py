"""Captions for the interrogator: a BLIP model through transformers (extra ``shiftkit[caption]``).

BLIP is trained to write a plausible caption, not to describe an image exactly;
the interrogator only starts from it. The model is loaded from a local folder
(``save_pretrained`` output) or from the Hugging Face cache, never from the
network unless downloads are allowed, like the encoders.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from shiftkit._array import resolve_device
from shiftkit.image._encoders import (
    ALLOW_DOWNLOAD_ENV,
    _download_host,
    allow_download_from_env,
    batches,
    check_reachable,
    import_torchvision,
)

DEFAULT_CAPTION_MODEL = "Salesforce/blip-image-captioning-base"


class BlipCaptioner:
    """Captions PIL images with a BLIP captioning model.

    Parameters
    ----------
    model : str or path-like
        A folder written by ``save_pretrained`` (model and processor), or a Hugging
        Face repo id (default ``Salesforce/blip-image-captioning-base``).
    allow_download : bool, optional
        Let transformers fetch a repo that is not cached (default ``SHIFTKIT_ALLOW_DOWNLOAD``).
    max_new_tokens : int
        Longest caption, in tokens.
    device : str or torch.device, optional
    batch_size : int
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = DEFAULT_CAPTION_MODEL,
        *,
        allow_download: bool | None = None,
        max_new_tokens: int = 32,
        device: Any = None,
        batch_size: int = 8,
    ) -> None:
        try:
            import_torchvision()
            from transformers import BlipForConditionalGeneration, BlipProcessor
        except ModuleNotFoundError:
            raise ImportError("captioning needs transformers: pip install 'shiftkit[caption]'") from None
        allow = allow_download_from_env() if allow_download is None else bool(allow_download)
        source = str(model)
        if allow and not os.path.isdir(source):
            from huggingface_hub import try_to_load_from_cache

            if not isinstance(try_to_load_from_cache(source, "config.json"), str):  # it would be downloaded
                check_reachable(_download_host({"hf_hub": source}), f"the caption model {source!r}")
        try:
            self.processor = BlipProcessor.from_pretrained(source, local_files_only=not allow)
            self.model = BlipForConditionalGeneration.from_pretrained(source, local_files_only=not allow)
        except OSError as exc:
            if allow or os.path.isdir(source):
                raise ValueError(f"cannot load the caption model {source!r}: {exc}") from None
            raise ValueError(
                f"the caption model {source!r} is not on this machine: save it with save_pretrained on a "
                f"connected machine and pass its folder, or allow downloads (--allow-download or "
                f"{ALLOW_DOWNLOAD_ENV}=1)"
            ) from None
        self.device = resolve_device(device)
        self.model.to(self.device).eval()  # type: ignore[arg-type]  # transformers' stubs wrap .to
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.name = source

    @torch.inference_mode()
    def caption(self, images: Sequence[Any]) -> list[str]:
        """One caption per image."""
        out: list[str] = []
        for part in batches(len(images), self.batch_size):
            inputs = self.processor(images=list(images[part]), return_tensors="pt").to(self.device)
            tokens = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens)
            out += [t.strip() for t in self.processor.batch_decode(tokens, skip_special_tokens=True)]
        return out
