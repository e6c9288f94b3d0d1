"""Reading data files and writing results safely.

`load_data` reads CSV/TSV (a header row is detected) and ``.npy``; bad files
get one clear error naming the line or column. Writers go through
`atomic_write`: a temporary file in the target folder renamed into place, so an
interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["atomic_path", "atomic_write", "load_data", "save_csv", "save_json"]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_delimited(path: Path, delimiter: str | None) -> tuple[np.ndarray, list[str] | None]:
    with path.open(newline="") as f:
        sample = f.read(65536)
        f.seek(0)
        if delimiter is None:
            try:
                delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t ").delimiter
            except csv.Error:
                delimiter = ","
        rows = [r for r in csv.reader(f, delimiter=delimiter, skipinitialspace=True) if r]
    if not rows:
        raise ValueError(f"{path} holds no data")
    header = None
    if not all(_is_number(cell) for cell in rows[0]):
        header, rows = [c.strip() for c in rows[0]], rows[1:]
        if not rows:
            raise ValueError(f"{path} holds a header but no data rows")
    width = len(header) if header is not None else len(rows[0])
    first_line = 2 if header is not None else 1
    for i, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(f"{path}, line {first_line + i}: {len(row)} fields, expected {width}")
    columns = list(zip(*rows))
    data = np.empty((len(rows), width), dtype=np.float64)
    for j, col in enumerate(columns):
        try:
            data[:, j] = np.asarray(col, dtype=np.float64)
        except ValueError:
            i = next(i for i, cell in enumerate(col) if not _is_number(cell))
            name = f"column {header[j]!r}" if header is not None else f"column {j + 1}"
            raise ValueError(f"{path}: {name} is not numeric (line {first_line + i}: {col[i]!r})") from None
    return data, header


def load_data(path: str | os.PathLike[str]) -> tuple[np.ndarray, list[str] | None]:
    """Read a data matrix from a ``.npy``, ``.csv``, ``.tsv`` or other delimited text file.

    Parameters
    ----------
    path : str or path
        ``.npy``: a 2-D numeric array (1-D is read as one column). Text: one row
        per line, fields separated by commas (``.csv``), tabs (``.tsv``) or, for
        other names, whatever the first lines show; a first line that is not
        all numbers is the header.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    columns : list of str or None
        The header, if there was one.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Empty file, ragged rows, a non-numeric column (named, with the line), a
        ``.npy`` array that is not 1-D or 2-D numbers.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    if p.suffix.lower() == ".npy":
        try:
            X = np.load(p, allow_pickle=False)
        except ValueError as exc:
            raise ValueError(f"{p} is not a numeric .npy array: {exc}") from None
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2 or not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_):
            raise ValueError(f"{p} must hold a 2-D numeric array, got shape {X.shape} of {X.dtype}")
        return X.astype(np.float64, copy=False), None
    delimiter = {".csv": ",", ".tsv": "\t", ".tab": "\t"}.get(p.suffix.lower())
    return _read_delimited(p, delimiter)


def _default_file_mode() -> int:
    """What ``open()`` would give a new file: 0o666 less the umask (mkstemp makes files 0o600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix); on success it is renamed to ``path``, else removed.

    For writers that want a file name rather than an open file (e.g. matplotlib's
    animation writers).
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=target.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _default_file_mode())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success rename it to ``path``, else remove it."""
    with atomic_path(path) as tmp, open(tmp, mode) as f:
        yield f


def save_csv(path: str | os.PathLike[str], array: np.ndarray, header: list[str]) -> None:
    """Write a 1-D or 2-D array as CSV with a header line, atomically."""
    a = np.asarray(array)
    a = a[:, None] if a.ndim == 1 else a
    fmt = "%d" if np.issubdtype(a.dtype, np.integer) else "%.9g"
    with atomic_write(path) as f:
        np.savetxt(f, a, delimiter=",", header=",".join(header), comments="", fmt=fmt)


def save_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_write(path) as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
