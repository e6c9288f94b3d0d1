"""Phrase banks: the lists of phrases the interrogator ranks against an image.

shiftkit ships its own banks (``banks/*.txt``, written for shiftkit: mediums,
art movements, sites, artists, a few hundred general "flavours" and defects for
negative prompts). A user can add bank files of their own (one phrase a line,
``#`` comments) or point at a clip-interrogator ``data`` folder
(`read_clip_interrogator_folder`), whose files are read as they are.

Two banks are written out from their files rather than stored: ``sites`` (each
site also as "trending on X", "featured on X" and "X contest winner") and
``artists`` (each name as "by X" and "in the style of X"), because a bare name is
rarely how a prompt says it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

BUILTIN_BANKS = ("mediums", "movements", "sites", "artists", "flavors", "negative")
"""The banks shipped with shiftkit, in the order the interrogator uses them."""

POSITIVE_BANKS = ("mediums", "movements", "sites", "artists", "flavors")
"""The banks whose phrases describe an image (``negative`` describes defects)."""


@dataclass(frozen=True)
class PhraseBank:
    """A named list of distinct phrases.

    Parameters
    ----------
    name : str
        What the bank holds ("mediums", "flavors", a file's stem...).
    phrases : sequence of str
        The phrases, in order; blank entries and repeats are dropped (first kept).
    """

    name: str
    phrases: tuple[str, ...]

    def __init__(self, name: str, phrases: Iterable[str]) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a phrase bank needs a non-empty name, got {name!r}")
        kept: dict[str, None] = {}
        for phrase in phrases:
            if not isinstance(phrase, str):
                raise TypeError(f"bank {name!r}: phrases must be strings, got {type(phrase).__name__}")
            text = " ".join(phrase.split())
            if text:
                kept.setdefault(text, None)
        if not kept:
            raise ValueError(f"bank {name!r} holds no phrases")
        object.__setattr__(self, "name", name.strip())
        object.__setattr__(self, "phrases", tuple(kept))

    def __len__(self) -> int:
        return len(self.phrases)

    @property
    def digest(self) -> str:
        """SHA-256 of the phrases (one a line): any change of the bank changes it."""
        return hashlib.sha256("\n".join(self.phrases).encode("utf-8")).hexdigest()

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], name: str | None = None) -> PhraseBank:
        """Read a bank file: one phrase a line (UTF-8); blank lines and lines starting with ``#`` skipped."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ValueError(f"bank file {str(p)!r} does not exist") from None
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"bank file {str(p)!r} is not UTF-8 text: {exc.reason} at byte {exc.start}"
            ) from None
        return cls(name or p.stem, _phrase_lines(text))


def _phrase_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _expand(name: str, phrases: Sequence[str]) -> list[str]:
    """The phrases of a bank as prompts say them (see the module docstring)."""
    if name == "sites":
        return [
            *phrases,
            *(f"trending on {s}" for s in phrases),
            *(f"featured on {s}" for s in phrases),
            *(f"{s} contest winner" for s in phrases),
        ]
    if name == "artists":
        return [*(f"by {a}" for a in phrases), *(f"in the style of {a}" for a in phrases)]
    return list(phrases)


def builtin_bank(name: str) -> PhraseBank:
    """One of the banks shipped with shiftkit (`BUILTIN_BANKS`)."""
    if name not in BUILTIN_BANKS:
        raise ValueError(f"unknown phrase bank {name!r}; shiftkit ships {', '.join(BUILTIN_BANKS)}")
    text = resources.files("shiftkit.image").joinpath(f"banks/{name}.txt").read_text(encoding="utf-8")
    return PhraseBank(name, _expand(name, _phrase_lines(text)))


def read_clip_interrogator_folder(path: str | os.PathLike[str]) -> dict[str, PhraseBank]:
    """The banks of a clip-interrogator ``data`` folder (artists, flavors, mediums, movements, negative).

    Its ``artists.txt`` is written out as "by X" and "in the style of X"; sites come
    from shiftkit's own bank (the reference keeps them in its code, not in a file).
    Files that are missing are skipped; a folder with none of them is a `ValueError`.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"clip-interrogator data folder {str(folder)!r} is not a folder")
    banks: dict[str, PhraseBank] = {}
    for name in ("mediums", "movements", "artists", "flavors", "negative"):
        file = folder / f"{name}.txt"
        if file.is_file():
            raw = PhraseBank.from_file(file, name)
            banks[name] = PhraseBank(name, _expand(name, raw.phrases))
    if not banks:
        raise ValueError(f"{str(folder)!r} has none of mediums, movements, artists, flavors or negative .txt")
    banks.setdefault("sites", builtin_bank("sites"))
    return banks


def load_banks(
    names: Sequence[str] | None = None,
    files: Sequence[str | os.PathLike[str]] = (),
    clip_interrogator_data: str | os.PathLike[str] | None = None,
) -> dict[str, PhraseBank]:
    """The banks to rank against: built-in ones by name, then user files, keyed by name.

    Parameters
    ----------
    names : sequence of str, optional
        Built-in banks to use (default: all of `BUILTIN_BANKS`; ``[]`` for none).
        With ``clip_interrogator_data``, a name is taken from that folder first.
    files : sequence of path-like
        User bank files; each is a bank named by its file's stem (which replaces a
        built-in bank of that name).
    clip_interrogator_data : path-like, optional
        A clip-interrogator ``data`` folder (`read_clip_interrogator_folder`).
    """
    external = read_clip_interrogator_folder(clip_interrogator_data) if clip_interrogator_data else {}
    chosen = list(BUILTIN_BANKS if names is None else names)
    banks: dict[str, PhraseBank] = {}
    for name in chosen:
        banks[name] = external[name] if name in external else builtin_bank(name)
    for file in files:
        bank = PhraseBank.from_file(file)
        banks[bank.name] = bank
    if not banks:
        raise ValueError("no phrase banks chosen: name a built-in bank or give a bank file")
    return banks
