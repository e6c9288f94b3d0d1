"""Reading data files and writing results safely.

`load_data` reads CSV/TSV (a header row is detected) and ``.npy``; bad files
get one clear error naming the line or column. Writers go through
`atomic_write`: a temporary file in the target folder renamed into place, so an
interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import os
import re
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


# The separator and the header are read from this many first lines (whole lines, however long).
_SAMPLE_LINES = 50
_CANDIDATES = (",", ";", "\t", " ")
_DECIMAL_COMMA = re.compile(r"^[-+]?\d*,\d+(?:[eE][-+]?\d+)?$")


def _encoding(path: Path) -> tuple[str, bool]:
    """How to read a text file: its encoding and whether it is gzip-compressed; a `ValueError` saying what
    the file looks like when it is not delimited text (a ZIP or Excel file, binary data, not UTF-8)."""
    with path.open("rb") as f:
        head = f.read(4096)
    compressed = head[:2] == b"\x1f\x8b"
    if compressed:
        import gzip

        try:
            with gzip.open(path, "rb") as g:
                head = g.read(4096)
        except (OSError, EOFError) as exc:
            raise ValueError(f"{path} looks gzip-compressed but cannot be read: {exc}") from None
    if head[:4] == b"PK\x03\x04":
        raise ValueError(
            f"{path} looks like a ZIP archive (an Excel .xlsx?), not delimited text: save it as CSV"
        )
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16", compressed
    if b"\x00" in head:
        raise ValueError(f"{path} looks like a binary file (it holds NUL bytes), not delimited text")
    try:
        head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not a character cut at the end of the sample
            raise ValueError(
                f"{path} is not UTF-8 text (byte 0x{head[exc.start]:02x} at offset {exc.start}): "
                "save it as UTF-8"
            ) from None
    return "utf-8-sig", compressed


def _open_text(path: Path, how: tuple[str, bool]) -> Any:
    """The file as text (gzip undone), in its encoding, newlines untranslated; ``how`` from `_encoding`."""
    encoding, compressed = how
    if compressed:
        import gzip

        return gzip.open(path, "rt", encoding=encoding, newline="")
    return path.open(encoding=encoding, newline="")


def _first_lines(path: Path, how: tuple[str, bool]) -> tuple[list[str], int]:
    """The first `_SAMPLE_LINES` non-blank lines of the file, each whole, and the number (from 1) of the
    first of them."""
    lines: list[str] = []
    first = 0
    with _open_text(path, how) as f:  # utf-8-sig: a byte-order mark is not data
        for number, line in enumerate(f, 1):
            if line.strip():
                first = first or number
                lines.append(line.rstrip("\r\n"))
                if len(lines) == _SAMPLE_LINES:
                    break
    return lines, first


def _fields(line: str, delimiter: str) -> list[str]:
    """The fields of one line: csv's rules where there are quotes, else a split (no field size limit:
    a line of 12,000 numbers is one field of 200 KB under a separator it does not use)."""
    if '"' in line:
        try:
            return next(csv.reader([line], delimiter=delimiter, skipinitialspace=True))
        except csv.Error:
            pass
    if delimiter == " ":
        return line.split()
    return [f.lstrip() for f in line.split(delimiter)]


def _separator(lines: list[str], preferred: str | None) -> str:
    """The separator the lines agree on: every line (the first, a possible header, too) the same number
    of fields, two or more; else the rows after the first agreeing (their header is then refused for
    its count); the name's (``.csv``: ``,``) first among equals, then ``, ; tab space``."""
    order = [c for c in ([preferred] if preferred else []) + list(_CANDIDATES) if c]
    order = list(dict.fromkeys(order))
    counts = {c: [len(_fields(line, c)) for line in lines] for c in order}
    for rows in (slice(0, None), slice(1, None)):
        for c in order:
            n = counts[c][rows]
            if n and min(n) == max(n) >= 2:
                return c
    return preferred or ","


def _layout(
    path: Path, delimiter: str | None, how: tuple[str, bool]
) -> tuple[str, str, list[str] | None, int]:
    """The separator, the decimal mark, the header (None when the first line is all numbers) and the
    first line's number. The separator is read from the data, whatever the file's name says (a ``.csv``
    of ``1,5;2,5`` rows is ``;``-separated with decimal commas)."""
    lines, first_line = _first_lines(path, how)
    if not lines:
        raise ValueError(f"{path} holds no data")
    delimiter = _separator(lines, delimiter)
    decimal = "."
    if delimiter != ",":
        cells = [c.strip() for line in lines[1:] or lines for c in _fields(line, delimiter)]
        if any(_DECIMAL_COMMA.match(c) for c in cells) and not any("." in c for c in cells if _is_number(c)):
            decimal = ","
    cells = _fields(lines[0], delimiter)
    as_number = [c.replace(",", ".") if decimal == "," else c for c in cells]
    header = None if all(_is_number(c) for c in as_number) else [c.strip() for c in cells]
    if header is not None:
        seen: dict[str, int] = {}
        for j, name in enumerate(header):
            if name in seen:
                raise ValueError(
                    f"{path}: the header names column {name!r} twice (fields {seen[name] + 1} and {j + 1})"
                )
            seen[name] = j
    if header is not None and len(lines) > 1:
        width = len(_fields(lines[1], delimiter))
        if len(header) != width:
            raise ValueError(
                f"{path}: the header has {len(header)} fields and the rows {width} "
                f"(separated by {delimiter!r}); every row needs a name for each of its fields"
            )
    return delimiter, decimal, header, first_line


def _data_lines(path: Path, first_line: int, how: tuple[str, bool]) -> list[int]:
    """The file's line number of each data row (blank lines skipped): for error messages only."""
    with _open_text(path, how) as f:
        return [i for i, line in enumerate(f, 1) if i >= first_line and line.strip()]


def _fields_on(path: Path, line: int, delimiter: str, how: tuple[str, bool]) -> int:
    """How many fields line ``line`` of the file holds."""
    with _open_text(path, how) as f:
        text = next(itertools.islice(f, line - 1, None))
    return len(_fields(text.rstrip("\r\n"), delimiter))


def _read_delimited(path: Path, delimiter: str | None) -> tuple[np.ndarray, list[str] | None]:
    """Parse with pandas' C engine (2M x 2 rows in well under a second); errors name the line and column."""
    import pandas as pd

    how = encoding, compressed = _encoding(path)
    delimiter, decimal, header, header_line = _layout(path, delimiter, how)
    first_data_line = header_line + 1 if header is not None else header_line
    options: dict[str, Any] = {
        "sep": delimiter,
        "decimal": decimal,
        "index_col": False,  # a row with a field more than the header is an error, not an index
        "header": None,
        "skiprows": first_data_line - 1,
        "encoding": encoding,
        "compression": "gzip" if compressed else None,
        "skipinitialspace": True,
        "skip_blank_lines": True,
        "engine": "c",
        "names": header,
    }
    try:
        # the fast path: numbers straight to float64
        fast = pd.read_csv(path, dtype=np.float64, **options)
        data = fast.to_numpy(dtype=np.float64)
        if len(fast) and not np.isnan(data).any():  # a missing field would read as NaN: look closer
            return _without_pandas_index(data, header)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        pass  # the slow path below says what is wrong, and where
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, **options)
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame(columns=header or [])
    except pd.errors.ParserError as exc:
        match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if match is None:
            raise ValueError(f"{path}: {exc}") from None
        expected, line, saw = match.groups()
        # pandas counts lines from the first it read; blank lines do not count
        row = int(line) - 1
        lines = _data_lines(path, first_data_line, how)
        where = lines[row] if row < len(lines) else int(line) + first_data_line - 1
        raise ValueError(f"{path}, line {where}: {saw} fields, expected {expected}") from None
    if len(frame) == 0:
        if header is not None:
            raise ValueError(f"{path} holds a header but no data rows")
        raise ValueError(f"{path} holds no data")
    width = frame.shape[1]
    data = np.empty((len(frame), width), dtype=np.float64)
    for j in range(width):
        column = frame.iloc[:, j]
        try:
            text = column.str.replace(",", ".", regex=False) if decimal == "," else column
            data[:, j] = text.to_numpy(dtype=np.float64)
        except ValueError:
            numbers = pd.to_numeric(column.str.strip(), errors="coerce")
            row = int(np.argmax(numbers.isna().to_numpy()))
            name = f"column {header[j]!r}" if header is not None else f"column {j + 1}"
            line = _data_lines(path, first_data_line, how)[row]
            n_fields = _fields_on(path, line, delimiter, how)
            if n_fields != width:  # pandas pads short rows with empty fields
                raise ValueError(f"{path}, line {line}: {n_fields} fields, expected {width}") from None
            raise ValueError(f"{path}: {name} is not numeric (line {line}: {column.iloc[row]!r})") from None
    return _without_pandas_index(data, header)


def _without_pandas_index(data: np.ndarray, header: list[str] | None) -> tuple[np.ndarray, list[str] | None]:
    """Drop the unnamed first column that pandas' ``to_csv()`` writes (its index: 0, 1, 2, ...), which
    would otherwise be clustered as a feature."""
    if header and header[0] == "" and data.shape[1] > 1 and np.array_equal(data[:, 0], np.arange(len(data))):
        return data[:, 1:], header[1:]
    return data, header


def _read_npy(p: Path) -> np.ndarray:
    """A 2-D real array from a ``.npy`` file, its header checked against the file before allocating."""
    with p.open("rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(f)
        except (ValueError, EOFError, OSError) as exc:
            raise ValueError(f"{p} is not a .npy file: {exc or 'empty'}") from None
        offset = f.tell()
    if dtype.kind == "c":
        raise TypeError(f"{p} holds complex numbers ({dtype}): pass the real part, e.g. np.real(X)")
    if dtype.kind not in "biuf" or dtype.hasobject:
        raise ValueError(f"{p} must hold a 2-D numeric array, got {dtype}")
    if len(shape) not in (1, 2):
        raise ValueError(f"{p} must hold a 2-D numeric array, got shape {shape}")
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    available = p.stat().st_size - offset
    if expected != available:
        raise ValueError(
            f"{p} is damaged: its header says shape {shape} of {dtype} ({expected:,} bytes) "
            f"but the file holds {available:,} bytes of data"
        )
    X = np.load(p, allow_pickle=False)
    if X.ndim == 1:
        X = X[:, None]
    return X.astype(np.float64, copy=False)


def load_data(path: str | os.PathLike[str]) -> tuple[np.ndarray, list[str] | None]:
    """Read a data matrix from a ``.npy``, ``.csv``, ``.tsv`` or other delimited text file.

    Parameters
    ----------
    path : str or path
        ``.npy``: a 2-D numeric array (1-D is read as one column). Text: one row
        per line, fields separated by whatever the first 50 lines agree on
        (``,`` ``;`` tab or spaces; the name's own first among equals), decimal
        commas where the separator is not a comma; a first line that is not all
        numbers is the header (as many names as the rows have fields); pandas'
        unnamed index column (0, 1, 2, ...) is dropped.

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
    if p.is_dir():
        raise IsADirectoryError(f"{p} is a folder, not a data file")
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    if p.suffix.lower() == ".npy":
        return _read_npy(p), None
    suffix = p.suffix.lower()
    if suffix == ".gz" and len(p.suffixes) > 1:  # data.csv.gz: the name before the compression's
        suffix = p.suffixes[-2].lower()
    delimiter = {".csv": ",", ".tsv": "\t", ".tab": "\t"}.get(suffix)
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
    if np.issubdtype(a.dtype, np.integer):
        with atomic_write(path) as f:
            np.savetxt(f, a, delimiter=",", header=",".join(header), comments="", fmt="%d")
        return
    # each value as the shortest text that reads back to it in its own dtype: no digit lost (two centers
    # 3 apart at 1e9 were both "1e+09" at 9 digits), no float32 noise ("3.4", not "3.4000001")
    with atomic_write(path) as f:
        f.write(",".join(header) + "\n")
        for row in a:
            f.write(",".join(map(str, row)) + "\n")


def save_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_write(path) as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
