"""Encoders: images and texts to L2-normalised float32 embeddings, behind one small protocol.

`Encoder` is what the interrogator, the phrase-bank cache and the image clustering
need: ``encode_images``, ``encode_texts``, ``count_tokens``, ``context_length``
and a ``name`` that identifies the weights (it keys the text-embedding cache).
`OpenCLIPEncoder` is the real one (open_clip, extra ``shiftkit[clip]``); tests use
small fakes that satisfy the same protocol.

Offline by default. A model name with a pretrained tag is resolved to a file
already on this machine (the Hugging Face cache, or open_clip's URL cache) and
loaded from that file; if it is not there, the encoder refuses with one line that
says where to put it, unless downloads are allowed (``allow_download=True`` or
``SHIFTKIT_ALLOW_DOWNLOAD=1``). A local weights file (``weights=``) or a
``local-dir:`` folder (``open_clip_config.json`` beside the weights) never needs
the network.

QuickGELU. OpenAI's CLIP weights (and a few others: open_clip marks their tags
``quick_gelu``) were trained with the QuickGELU activation; open_clip's plain model
names (``ViT-B-32``) build GELU and, given such a tag, only warn. Loaded with GELU
the weights give embeddings that are subtly wrong. shiftkit builds QuickGELU
whenever the tag says so, and for a weights file takes ``quick_gelu=`` (or a
``-quickgelu`` model name, the spelling open_clip recommends).

Batches are sized by a memory budget: an estimate of one item's activations (the
widest layer's temporaries) divides the budget, so a bank of 100,000 phrases or
the greedy chain's 2,048 candidate prompts never go through the model at once.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from shiftkit._array import resolve_device

DEFAULT_MEMORY_BUDGET = 512 * 2**20
ALLOW_DOWNLOAD_ENV = "SHIFTKIT_ALLOW_DOWNLOAD"


@runtime_checkable
class Encoder(Protocol):
    """What shiftkit.image needs of an image-text encoder."""

    name: str
    """Identifies the model and its weights (keys the text-embedding cache)."""
    context_length: int
    """Tokens the text encoder reads, start and end tokens included (CLIP: 77)."""

    def encode_images(self, images: Sequence[Any]) -> Tensor:
        """PIL images (RGB) -> (n, d) float32 on the CPU, rows of unit length."""
        ...

    def encode_texts(self, texts: Sequence[str]) -> Tensor:
        """Texts -> (n, d) float32 on the CPU, rows of unit length."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text, start and end tokens included, before truncation."""
        ...


def normalize_rows(E: Tensor) -> Tensor:
    """Rows scaled to unit length, in float32 on the CPU (a zero row stays zero)."""
    E = E.detach().to("cpu", torch.float32)
    return E / E.norm(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)


def batches(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` of ``range(n)``."""
    for start in range(0, n, max(1, size)):
        yield slice(start, min(n, start + max(1, size)))


def allow_download_from_env() -> bool:
    """``SHIFTKIT_ALLOW_DOWNLOAD`` set to 1/true/yes."""
    return os.environ.get(ALLOW_DOWNLOAD_ENV, "").strip().lower() in {"1", "true", "yes"}


def import_torchvision() -> None:
    """``import torchvision``, working around wheels built for another torch.

    PyPI's torchvision wheels are built against CUDA torch: beside a CPU-only torch
    their compiled operators cannot load, and torchvision 0.2x then fails at import
    on registering a fake kernel for ``torchvision::nms`` (the operator never got
    defined). open_clip and transformers need only torchvision's pure-Python
    transforms, so in that case the two schemas are defined and the import retried;
    the compiled operators (detection boxes) stay unavailable, and shiftkit never
    calls them.
    """
    try:
        import torchvision
    except RuntimeError as exc:
        if "torchvision::" not in str(exc):
            raise
        for module in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[module]
        _define_torchvision_schemas()
        import torchvision  # noqa: F401


def import_open_clip() -> Any:
    """``import open_clip`` (after `import_torchvision`), with a clear error if the extra is missing."""
    try:
        import_torchvision()
        import open_clip
    except ModuleNotFoundError:
        raise ImportError(
            "shiftkit.image needs open_clip: pip install 'shiftkit[clip]' (torchvision for your torch first)"
        ) from None
    return open_clip


_SCHEMA_LIBRARY: list[Any] = []


def _define_torchvision_schemas() -> None:
    if _SCHEMA_LIBRARY:
        return
    lib = torch.library.Library("torchvision", "FRAGMENT")
    for op in ("nms", "qnms"):
        if not torch._C._dispatch_has_kernel(f"torchvision::{op}"):
            lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _SCHEMA_LIBRARY.append(lib)  # a Library deregisters what it defined when collected


def _cached_hf_file(repo_id: str, filenames: Sequence[str], cache_dir: str | None) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    for filename in filenames:
        found = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir)
        if isinstance(found, str) and os.path.isfile(found):
            return found
    return None


def resolve_pretrained(model: str, tag: str, cache_dir: str | None) -> tuple[str | None, dict[str, Any]]:
    """The local file of a pretrained tag, if it is on this machine, and the tag's config.

    Looks where open_clip would put it (the Hugging Face cache for ``hf_hub`` tags,
    ``cache_dir`` or ``~/.cache/clip`` for URL tags) without touching the network.
    """
    open_clip = import_open_clip()
    cfg = open_clip.get_pretrained_cfg(model, tag)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(model)
        raise ValueError(
            f"{model!r} has no pretrained tag {tag!r}; open_clip knows {', '.join(tags) or 'none'}"
            " (or pass weights=FILE)"
        )
    if cfg.get("hf_hub"):
        repo_id, filename = os.path.split(cfg["hf_hub"])  # as open_clip reads it: "org/repo/[file]"
        names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        found = _cached_hf_file(repo_id, names, cache_dir)
        if found is not None:
            return found, cfg
    url = cfg.get("url", "")
    if url:  # open_clip's (and OpenAI's clip package's) own download folder
        local = Path(cache_dir or os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
        if local.is_file():
            return str(local), cfg
    return None, cfg


def _download_host(cfg: dict[str, Any]) -> str:
    """The host a download of ``cfg``'s weights would come from."""
    from urllib.parse import urlparse

    if cfg.get("hf_hub") or not cfg.get("url"):
        return urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").netloc
    return urlparse(cfg["url"]).netloc


def check_reachable(host: str, what: str, timeout: float = 3.0) -> None:
    """A `ValueError` at once when ``host`` cannot be reached (no network): the download libraries retry
    for about a minute and print every retry (48 lines) before failing."""
    import socket

    name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
    try:
        socket.create_connection((name or host, int(port) if port else 443), timeout=timeout).close()
    except OSError as exc:
        raise ValueError(
            f"cannot download {what}: {host} cannot be reached ({exc.strerror or exc}); "
            "copy the weights onto this machine and point --weights-dir (or --weights) at them"
        ) from None


def _where_to_put(model: str, tag: str, cfg: dict[str, Any], cache_dir: str | None) -> str:
    if cfg.get("hf_hub"):
        repo = os.path.split(cfg["hf_hub"])[0]
        where = f"the Hugging Face cache ({cache_dir or 'HF_HUB_CACHE, default ~/.cache/huggingface/hub'})"
        source = f"the Hugging Face repo {repo}"
    else:
        where = cache_dir or "~/.cache/clip"
        source = cfg.get("url", "open_clip")
    return (
        f"the weights of {model}/{tag} are not on this machine: copy them from {source} into {where} "
        f"(--weights-dir), give the file (--weights), or allow downloads (--allow-download, "
        f"{ALLOW_DOWNLOAD_ENV}=1)"
    )


class OpenCLIPEncoder:
    """An open_clip model as an `Encoder`.

    Parameters
    ----------
    model : str
        An open_clip model name (``'ViT-B-32-quickgelu'``), or ``'local-dir:FOLDER'``
        (``open_clip_config.json`` and the weights in FOLDER), or ``'hf-hub:ORG/REPO'``
        (needs downloads allowed unless cached by open_clip).
    pretrained : str, optional
        A pretrained tag of ``model`` (``'openai'``, ``'laion2b_s34b_b79k'``...).
    weights : path-like, optional
        A local weights file for ``model`` (instead of a tag).
    quick_gelu : bool, optional
        Build QuickGELU activations (OpenAI's weights need it). Default: what the
        tag says, else what the model name says (``-quickgelu``).
    allow_download : bool, optional
        Let open_clip fetch missing weights. Default: ``SHIFTKIT_ALLOW_DOWNLOAD``.
    cache_dir : path-like, optional
        Where pretrained weights are looked for (and downloaded to).
    device : str or torch.device, optional
        ``None``: CUDA when torch sees it, else CPU.
    memory_budget : int
        Bytes of activations per batch (sets the batch sizes).
    batch_size : int, optional
        A fixed batch size instead (images and texts).
    """

    def __init__(
        self,
        model: str = "ViT-B-32-quickgelu",
        pretrained: str | None = "openai",
        *,
        weights: str | os.PathLike[str] | None = None,
        quick_gelu: bool | None = None,
        allow_download: bool | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        device: Any = None,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        batch_size: int | None = None,
    ) -> None:
        if not isinstance(memory_budget, int | np.integer) or memory_budget < 1:
            raise ValueError(f"memory_budget must be a positive number of bytes, got {memory_budget!r}")
        if batch_size is not None and (not isinstance(batch_size, int | np.integer) or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        open_clip = import_open_clip()
        self.device = resolve_device(device)
        self.memory_budget = int(memory_budget)
        self.batch_size = batch_size
        allow = allow_download_from_env() if allow_download is None else bool(allow_download)
        cache = None if cache_dir is None else str(cache_dir)
        kwargs: dict[str, Any] = {"device": self.device, "cache_dir": cache}
        identity: str
        if model.startswith("local-dir:"):
            folder = Path(model[len("local-dir:") :])
            if not (folder / "open_clip_config.json").is_file():
                raise ValueError(f"{model!r}: no open_clip_config.json in {str(folder)!r}")
            source, identity = model, f"{model} ({_file_identity(folder)})"
        elif model.startswith("hf-hub:"):
            if not allow:
                raise ValueError(
                    f"{model!r} would be fetched from the Hugging Face hub; allow downloads "
                    f"(allow_download=True, --allow-download or {ALLOW_DOWNLOAD_ENV}=1) or download the "
                    "repo on a connected machine and pass model='local-dir:FOLDER'"
                )
            check_reachable(_download_host({"hf_hub": model}), model)
            source, identity = model, model
        elif weights is not None:
            path = Path(weights)
            if not path.is_file():
                raise ValueError(f"weights file {str(path)!r} does not exist")
            source, kwargs["pretrained"] = model, str(path)
            identity = f"{model} {path.name} ({_file_identity(path)})"
        elif pretrained is not None:
            local, cfg = resolve_pretrained(model, pretrained, cache)
            tag_quick_gelu = bool(cfg.get("quick_gelu", False))
            if quick_gelu is None and tag_quick_gelu and not model.endswith("-quickgelu"):
                quick_gelu = True
            if local is not None:
                kwargs["pretrained"] = local
                kwargs.update(_preprocess_of(cfg))
            elif allow:
                check_reachable(_download_host(cfg), f"the weights of {model}/{pretrained}")
                kwargs["pretrained"] = pretrained
            else:
                raise ValueError(_where_to_put(model, pretrained, cfg, cache))
            source, identity = model, f"{model}/{pretrained}"
        else:
            raise ValueError(
                "give pretrained=TAG, weights=FILE, or model='local-dir:FOLDER' (no random weights)"
            )
        if quick_gelu:
            kwargs["force_quick_gelu"] = True
        self.model, _, self.preprocess = open_clip.create_model_and_transforms(source, **kwargs)
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(source, cache_dir=cache)
        self.context_length = int(getattr(self.tokenizer, "context_length", 77))
        self.quick_gelu = bool(quick_gelu) or model.endswith("-quickgelu")
        self.name = f"open_clip {open_clip.__version__} {identity}" + (" quickgelu" if quick_gelu else "")
        self._text_bytes, self._image_bytes = self._bytes_per_item()

    def _bytes_per_item(self) -> tuple[int, int]:
        """Activation bytes of one text and one image through the widest layer (an upper estimate)."""
        text_width = _width(getattr(self.model, "transformer", None))
        visual = getattr(self.model, "visual", None)
        image_width = _width(getattr(visual, "transformer", None))
        tokens = int(np.prod(getattr(visual, "grid_size", (16, 16)))) + 1
        heads = max(1, image_width // 64)
        per_token = 4 * (8 * text_width)  # q, k, v, the 4x MLP hidden and the residual, float32
        text = self.context_length * per_token + 4 * heads * self.context_length**2
        image = tokens * 4 * (8 * image_width) + 4 * heads * tokens**2
        return 3 * text, 3 * image  # x3: tokens, outputs, the allocator (benchmarks/bench_image.py)

    def _size(self, per_item: int) -> int:
        return self.batch_size or max(1, min(1024, self.memory_budget // per_item))

    @torch.inference_mode()
    def encode_images(self, images: Sequence[Any]) -> Tensor:
        rows = []
        for part in batches(len(images), self._size(self._image_bytes)):
            pixels = torch.stack([self.preprocess(im) for im in images[part]]).to(self.device)  # (b, 3, s, s)
            rows.append(normalize_rows(self.model.encode_image(pixels)))
        return torch.cat(rows) if rows else torch.empty(0, self.embedding_dim)

    @torch.inference_mode()
    def encode_texts(self, texts: Sequence[str]) -> Tensor:
        # filled a batch at a time into one tensor: a bank of a million phrases is not held twice (the
        # batches, then their concatenation)
        out: Tensor | None = None
        for part in batches(len(texts), self._size(self._text_bytes)):
            tokens = self.tokenizer(list(texts[part])).to(self.device)  # (b, context_length)
            rows = normalize_rows(self.model.encode_text(tokens))
            if out is None:
                out = torch.empty((len(texts), rows.shape[1]), dtype=rows.dtype)
            out[part] = rows
        return out if out is not None else torch.empty(0, self.embedding_dim)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        encode = getattr(self.tokenizer, "encode", None)
        if encode is None:  # Hugging Face tokenizers: count without the context cut
            inner = self.tokenizer.tokenizer
            return [len(inner(t)["input_ids"]) for t in texts]
        return [len(encode(t)) + 2 for t in texts]  # CLIP's BPE: start and end tokens around the text

    @property
    def embedding_dim(self) -> int:
        proj = getattr(self.model, "text_projection", None)
        if isinstance(proj, torch.Tensor):
            return int(proj.shape[1])
        return int(getattr(self.model, "embed_dim", 0) or self.encode_texts(["a"]).shape[1])

    def __repr__(self) -> str:
        return f"OpenCLIPEncoder({self.name!r}, device={str(self.device)!r})"


def _width(transformer: Any) -> int:
    """The residual width of an open_clip transformer (1024 where the model does not say)."""
    return int(getattr(transformer, "width", 1024))


def _preprocess_of(cfg: dict[str, Any]) -> dict[str, Any]:
    """The image preprocessing a pretrained tag declares (open_clip applies it only when loading by tag)."""
    out: dict[str, Any] = {}
    for key, arg in (
        ("mean", "image_mean"),
        ("std", "image_std"),
        ("interpolation", "image_interpolation"),
        ("resize_mode", "image_resize_mode"),
    ):
        if cfg.get(key) is not None:
            out[arg] = cfg[key]
    return out


_CONTENT_DIGESTS: dict[tuple[str, int, int, int, int, int], str] = {}


def _content_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB pieces; remembered for the process under the file's
    path, device, inode, size, modification and change times (a write, or a time set back, changes the
    last: a file rewritten in place is read again)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key not in _CONTENT_DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for piece in iter(lambda: f.read(1 << 20), b""):
                h.update(piece)
        _CONTENT_DIGESTS[key] = h.hexdigest()
    return _CONTENT_DIGESTS[key]


def _file_identity(path: Path) -> str:
    """A short hash of the content of a file, or of the files in a folder: a model copied over another
    of the same size and time (``cp -p``, ``rsync -a``) is another model, as it should be."""
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    parts = [f"{p.name}:{_content_digest(p)}" for p in files]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:12]
