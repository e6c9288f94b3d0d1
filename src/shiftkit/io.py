"""Reading data files and writing results safely.

`load_data` reads CSV/TSV (a header row is detected) and ``.npy``; bad files
get one clear error naming the line or column. Writers go through
`atomic_write`: a temporary file in the target folder renamed into place, so an
interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "MissingValueError",
    "NotNumericError",
    "Table",
    "atomic_path",
    "atomic_write",
    "load_data",
    "read_table",
    "save_csv",
    "save_json",
]


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


def _read_options(path: Path, delimiter: str | None) -> tuple[dict[str, Any], list[str] | None, int, Any]:
    """pandas' options for the file, its header, the line number of its first data row, and how it is
    encoded (for `_data_lines`)."""
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
    return options, header, first_data_line, how


def _read_numbers(path: Path, options: dict[str, Any], header: list[str] | None) -> np.ndarray | None:
    """The fast path: every field a number, none missing, straight to float64 (2M x 2 rows in well under
    a second); None when that is not so (the slow path then says what, and where)."""
    import pandas as pd

    try:
        data = pd.read_csv(path, dtype=np.float64, **options).to_numpy(dtype=np.float64)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    return data if len(data) and not np.isnan(data).any() else None


def _read_text(path: Path, options: dict[str, Any], header: list[str] | None) -> Any:
    """Every field as text (a pandas DataFrame of str); ragged rows and empty files are errors here."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, **options)
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame(columns=header or [])
    except pd.errors.ParserError as exc:
        match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if match is None:
            raise ValueError(f"{path}: {exc}") from None
        expected, line, saw = match.groups()
        # pandas counts the file's lines from its top, the rows skipped and blank lines included (the
        # header's line was counted twice: the line after the bad one was reported)
        raise ValueError(f"{path}, line {line}: {saw} fields, expected {expected}") from None
    if len(frame) == 0:
        if header is not None:
            raise ValueError(f"{path} holds a header but no data rows")
        raise ValueError(f"{path} holds no data")
    return frame


# Cells read as a missing value (pandas' own list, less the empty string's variants, plus "?")
MISSING = frozenset(
    {"", "nan", "NaN", "NAN", "-nan", "-NaN", "NA", "N/A", "n/a", "NULL", "null", "None", "#N/A", "<NA>", "?"}
)


@dataclass(frozen=True)
class _Column:
    """One column read as numbers: the values (NaN where missing) and the first bad cell, if any."""

    values: np.ndarray
    missing: np.ndarray  # (n,) bool
    bad_row: int | None  # the first cell that is neither a number nor missing
    bad_text: str | None


def _column_numbers(column: Any, decimal: str) -> _Column:
    import pandas as pd

    text = column.str.strip()
    if decimal == ",":
        text = text.str.replace(",", ".", regex=False)
    missing = text.isin(MISSING).to_numpy()
    numbers = pd.to_numeric(text.where(~text.isin(MISSING), "nan"), errors="coerce").to_numpy(
        dtype=np.float64
    )
    bad = np.isnan(numbers) & ~missing
    if bad.any():
        row = int(np.argmax(bad))
        return _Column(numbers, missing, row, str(column.iloc[row]))
    return _Column(numbers, missing, None, None)


def _read_delimited(path: Path, delimiter: str | None) -> tuple[np.ndarray, list[str] | None]:
    """Parse with pandas' C engine; errors name the line and column."""
    options, header, first_data_line, how = _read_options(path, delimiter)
    data = _read_numbers(path, options, header)
    if data is not None:
        return _without_pandas_index(data, header)
    frame = _read_text(path, options, header)
    width = frame.shape[1]
    data = np.empty((len(frame), width), dtype=np.float64)
    for j in range(width):
        column = _column_numbers(frame.iloc[:, j], options["decimal"])
        name = f"column {header[j]!r}" if header is not None else f"column {j + 1}"
        if column.bad_row is not None:
            line = _data_lines(path, first_data_line, how)[column.bad_row]
            n_fields = _fields_on(path, line, options["sep"], how)
            if n_fields != width:  # pandas pads short rows with empty fields
                raise ValueError(f"{path}, line {line}: {n_fields} fields, expected {width}") from None
            raise ValueError(f"{path}: {name} is not numeric (line {line}: {column.bad_text!r})")
        if column.missing.any():
            line = _data_lines(path, first_data_line, how)[int(np.argmax(column.missing))]
            n_fields = _fields_on(path, line, options["sep"], how)
            if n_fields != width:
                raise ValueError(f"{path}, line {line}: {n_fields} fields, expected {width}")
            raise MissingValueError(f"{path}: missing value at line {line}, {name}")
        data[:, j] = column.values
    return _without_pandas_index(data, header)


def _is_pandas_index(header: list[str] | None, first: np.ndarray, width: int) -> bool:
    """Whether the first column is the unnamed index pandas' ``to_csv()`` writes (0, 1, 2, ...), which
    would otherwise be clustered as a feature."""
    if not header or header[0] != "" or width < 2:
        return False
    return bool(np.array_equal(first, np.arange(len(first))))


def _without_pandas_index(data: np.ndarray, header: list[str] | None) -> tuple[np.ndarray, list[str] | None]:
    """``data`` and ``header`` without pandas' index column (`_is_pandas_index`)."""
    if _is_pandas_index(header, data[:, 0], data.shape[1]):
        assert header is not None
        return data[:, 1:], header[1:]
    return data, header


def _delimiter_from_name(p: Path) -> str | None:
    """The separator a file's name suggests (``.csv``, ``.tsv``, ``.tab``; ``data.csv.gz`` by the name
    before the compression's), the first among equals when the data are read."""
    suffix = p.suffix.lower()
    if suffix == ".gz" and len(p.suffixes) > 1:
        suffix = p.suffixes[-2].lower()
    return {".csv": ",", ".tsv": "\t", ".tab": "\t"}.get(suffix)


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
    return _read_delimited(p, _delimiter_from_name(p))


@dataclass(frozen=True)
class Table:
    """A data file read for clustering: the feature matrix, its column names, the ids and the rows kept.

    Attributes
    ----------
    X : ndarray of shape (n_kept, n_features), float64
        The feature columns of the rows kept.
    columns : list of str
        The name of each column of ``X``: the header's, or ``x0``, ``x1``, ... by
        position in the file when there is none.
    kept : ndarray of shape (n_rows,) of bool
        The rows in ``X``; False where a row was dropped for a missing value.
    id_column : str or None
        The name of the id column.
    ids : ndarray of shape (n_rows,) of str, or None
        The id column's text, every row of the file.
    """

    X: np.ndarray
    columns: list[str]
    kept: np.ndarray
    id_column: str | None = None
    ids: np.ndarray | None = None


class NotNumericError(ValueError):
    """Feature columns that hold text: ``columns`` names them all; ``id_like``, the first if its values
    are all different (an id column)."""

    def __init__(self, message: str, columns: list[str], id_like: str | None) -> None:
        super().__init__(message)
        self.columns = columns
        self.id_like = id_like


class MissingValueError(ValueError):
    """A feature column with an empty or not-a-number cell (``dropna=True`` leaves such rows out)."""


def _names(spec: Sequence[str] | None, header: list[str], path: Path) -> list[str]:
    """The column names ``spec`` gives, checked against the file's."""
    names = list(spec or [])
    unknown = [n for n in names if n not in header]
    if unknown:
        shown = ", ".join(header[:20]) + (", ..." if len(header) > 20 else "")
        raise ValueError(f"{path} has no column {unknown[0]!r}; its columns: {shown}")
    return names


def read_table(
    path: str | os.PathLike[str],
    *,
    columns: Sequence[str] | None = None,
    drop: Sequence[str] | None = None,
    id_column: str | None = None,
    dropna: bool = False,
) -> Table:
    """Read a data file for clustering: choose its columns, keep an id column, drop rows with gaps.

    Parameters
    ----------
    path : str or path
        As `load_data` reads it (``.npy``, or delimited text with or without a header).
    columns : list of str, optional
        The feature columns, by name (``x0``, ``x1``, ... when the file has no
        header). Default: every column but ``drop`` and ``id_column``.
    drop : list of str, optional
        Columns left out.
    id_column : str, optional
        A column carried beside the labels (its text as written), not clustered.
    dropna : bool, default=False
        Leave out the rows with a missing value (an empty cell, ``nan``, ``NA``,
        ``?``, ...) in a feature column; else such a row is an error.

    Returns
    -------
    Table

    Raises
    ------
    ValueError
        What `load_data` raises; an unknown column name; every feature column
        that is not numeric, named at once, with the first line of each; a
        missing value (its line and column) without ``dropna``.
    """
    p = Path(path)
    wanted = _Wanted(columns, drop, id_column, dropna)
    if p.suffix.lower() == ".npy" or p.is_dir() or not p.is_file():
        X, _ = load_data(p)
        names = [f"x{j}" for j in range(X.shape[1])]
        return _select_numbers(p, X, names, wanted, _Rows("row"))
    options, header, first_data_line, how = _read_options(p, _delimiter_from_name(p))
    lines = _Rows("line", lambda: _data_lines(p, first_data_line, how))
    if id_column is None:
        data = _read_numbers(p, options, header)
        if data is not None:
            data, named = _without_pandas_index(data, header)
            names = named if named is not None else [f"x{j}" for j in range(data.shape[1])]
            return _select_numbers(p, data, names, wanted, lines)
    frame = _read_text(p, options, header)
    names = list(header) if header is not None else [f"x{j}" for j in range(frame.shape[1])]
    first = _column_numbers(frame.iloc[:, 0], options["decimal"]).values
    if _is_pandas_index(header, first, len(names)):
        frame, names = frame.iloc[:, 1:], names[1:]
    return _select_text(p, frame, names, options, how, wanted, lines)


class _Rows:
    """How a row of the data is named in a message: its line in a text file (the lines of the data rows
    read once, when first asked for), or its row (from 1) in an array."""

    def __init__(self, unit: str, read_lines: Callable[[], list[int]] | None = None) -> None:
        self.unit = unit
        self._read_lines = read_lines
        self._lines: list[int] | None = None

    def number(self, row: int) -> int:
        if self._read_lines is None:
            return row + 1
        if self._lines is None:
            self._lines = self._read_lines()
        return self._lines[row]

    def __call__(self, row: int) -> str:
        return f"{self.unit} {self.number(row)}"


def _chosen(path: Path, names: list[str], wanted: _Wanted) -> list[str]:
    """The feature columns: those asked for, less those dropped and the id."""
    _names(wanted.columns, names, path)
    _names(wanted.drop, names, path)
    if wanted.id_column is not None:
        _names([wanted.id_column], names, path)
    left_out = set(wanted.drop or []) | ({wanted.id_column} if wanted.id_column is not None else set())
    chosen = [n for n in (wanted.columns or names) if n not in left_out]
    if not chosen:
        raise ValueError(f"{path}: no feature column left to cluster")
    return chosen


@dataclass(frozen=True)
class _Wanted:
    """What `read_table` was asked for."""

    columns: Sequence[str] | None
    drop: Sequence[str] | None
    id_column: str | None
    dropna: bool


def _select_numbers(path: Path, data: np.ndarray, names: list[str], wanted: _Wanted, line_of: _Rows) -> Table:
    chosen = _chosen(path, names, wanted)
    ids, id_column = None, wanted.id_column
    if id_column is not None:
        ids = np.array(
            [
                repr(float(v)) if not float(v).is_integer() else str(int(v))
                for v in data[:, names.index(id_column)]
            ]
        )
    X = data[:, [names.index(n) for n in chosen]]
    missing = np.isnan(X).any(1)
    return _keep(path, X, chosen, wanted, ids, missing, line_of, np.isnan(X))


def _select_text(
    path: Path,
    frame: Any,
    names: list[str],
    options: dict[str, Any],
    how: Any,
    wanted: _Wanted,
    line_of: _Rows,
) -> Table:
    import pandas as pd

    chosen = _chosen(path, names, wanted)
    id_column = wanted.id_column
    ids = None if id_column is None else frame.iloc[:, names.index(id_column)].to_numpy(dtype=str)
    X = np.empty((len(frame), len(chosen)), dtype=np.float64)
    gaps = np.zeros(X.shape, dtype=bool)
    bad: list[tuple[str, int, str]] = []
    for j, name in enumerate(chosen):
        column = _column_numbers(frame.iloc[:, names.index(name)], options["decimal"])
        if column.bad_row is not None:
            assert column.bad_text is not None
            bad.append((name, column.bad_row, column.bad_text))
        X[:, j] = column.values
        gaps[:, j] = column.missing
    if bad:
        width = len(names)
        line = line_of.number(bad[0][1])
        n_fields = _fields_on(path, line, options["sep"], how)
        if n_fields != width:  # pandas pads short rows with empty fields
            raise ValueError(f"{path}, line {line}: {n_fields} fields, expected {width}")
        which = ", ".join(f"{name!r} ({line_of(row)}: {text!r})" for name, row, text in bad[:10])
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        plural = "columns are" if len(bad) > 1 else "column is"
        first = bad[0][0]
        text = frame.iloc[:, names.index(first)]
        # an id: every value different, none a number (a column of numbers with a typo is not one)
        all_text = not pd.to_numeric(text.str.strip(), errors="coerce").notna().any()
        id_like = first if all_text and text.nunique() == len(frame) else None
        message = f"{path}: {len(bad)} {plural} not numeric: {which}{more}"
        raise NotNumericError(message, [n for n, _, _ in bad], id_like)
    return _keep(path, X, chosen, wanted, ids, np.asarray(gaps.any(1)), line_of, gaps)


def _keep(
    path: Path,
    X: np.ndarray,
    names: list[str],
    wanted: _Wanted,
    ids: np.ndarray | None,
    missing: np.ndarray,
    line_of: _Rows,
    gaps: np.ndarray,
) -> Table:
    if missing.any() and not wanted.dropna:
        row = int(np.argmax(missing))
        column = names[int(np.argmax(gaps[row]))]
        more = int(missing.sum()) - 1
        also = f" ({more} more row{'s' if more != 1 else ''} with gaps)" if more else ""
        raise MissingValueError(f"{path}: missing value at {line_of(row)}, column {column!r}{also}")
    kept = ~missing
    if not kept.any():
        raise ValueError(f"{path}: every row has a missing value")
    return Table(np.ascontiguousarray(X[kept]), names, kept, wanted.id_column, ids)


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
    line = io.StringIO()
    csv.writer(line, lineterminator="\n").writerow(header)  # names from the user's file: quoted as needed
    if np.issubdtype(a.dtype, np.integer):
        with atomic_write(path) as f:
            f.write(line.getvalue())
            np.savetxt(f, a, delimiter=",", fmt="%d")
        return
    # each value as the shortest text that reads back to it in its own dtype: no digit lost (two centers
    # 3 apart at 1e9 were both "1e+09" at 9 digits), no float32 noise ("3.4", not "3.4000001")
    with atomic_write(path) as f:
        f.write(line.getvalue())
        for row in a:
            f.write(",".join(map(str, row)) + "\n")


def save_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_write(path) as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
