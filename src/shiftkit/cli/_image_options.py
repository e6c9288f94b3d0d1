"""What ``interrogate`` and ``cluster-images`` share: the encoder's and the phrase banks' options."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any

import typer

ModelOpt = Annotated[
    str,
    typer.Option(help="open_clip model name (OpenAI weights: a -quickgelu name), or local-dir:FOLDER."),
]
PretrainedOpt = Annotated[
    str, typer.Option(help="pretrained tag of --model (weights already on this machine).")
]
WeightsOpt = Annotated[Path | None, typer.Option(help="a local weights file for --model (instead of a tag).")]
AllowDownloadOpt = Annotated[
    bool,
    typer.Option(
        "--allow-download", help="let open_clip download missing weights (or SHIFTKIT_ALLOW_DOWNLOAD=1)."
    ),
]
WeightsDirOpt = Annotated[Path | None, typer.Option(help="where pretrained weights are looked for.")]
DeviceOpt = Annotated[str | None, typer.Option(help="torch device (default: CUDA if available, else CPU).")]
BatchOpt = Annotated[int, typer.Option(min=1, help="images read and embedded at a time.")]
BanksOpt = Annotated[
    str | None,
    typer.Option(
        help="built-in phrase banks, comma-separated (default: all: mediums,movements,sites,artists,"
        "flavors,negative)."
    ),
]
BankFileOpt = Annotated[list[Path] | None, typer.Option(help="a bank file of your own (repeatable).")]
CiDataOpt = Annotated[Path | None, typer.Option(help="a clip-interrogator data folder to take banks from.")]
CacheOpt = Annotated[
    Path | None,
    typer.Option(
        help="text-embedding cache folder (default $SHIFTKIT_CACHE, else "
        "$XDG_CACHE_HOME/shiftkit or ~/.cache/shiftkit, + /text-embeddings)."
    ),
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="compute bank embeddings without a cache.")]
BudgetOpt = Annotated[
    int, typer.Option(min=1, help="MiB of activations per encoder batch (lower it on a small GPU).")
]


@dataclass
class ImageOptions:
    """The shared options, as given."""

    model: str
    pretrained: str
    weights: Path | None
    allow_download: bool
    weights_dir: Path | None
    device: str | None
    banks: str | None
    bank_file: list[Path] | None
    ci_data: Path | None
    cache_dir: Path | None
    no_cache: bool
    memory_budget: int = 512  # MiB

    @classmethod
    def of(cls, given: dict[str, Any]) -> ImageOptions:
        """The shared options among a command's parameters (its ``locals()``)."""
        return cls(**{f.name: given[f.name] for f in fields(cls)})

    def encoder(self) -> Any:
        from shiftkit.image import OpenCLIPEncoder

        local = self.model.startswith("local-dir:")
        return OpenCLIPEncoder(
            self.model,
            None if (local or self.weights is not None) else self.pretrained,
            weights=self.weights,
            allow_download=True if self.allow_download else None,
            cache_dir=self.weights_dir,
            device=self.device,
            memory_budget=self.memory_budget * 2**20,
        )

    def interrogator(self, encoder: Any, captioner: Any = None) -> Any:
        from shiftkit.image import Interrogator, default_cache_dir, load_banks

        names = None if self.banks is None else [b.strip() for b in self.banks.split(",") if b.strip()]
        banks = load_banks(names, self.bank_file or (), self.ci_data)
        cache = None if self.no_cache else (self.cache_dir or default_cache_dir())
        return Interrogator(encoder, banks, captioner=captioner, cache_dir=cache)
