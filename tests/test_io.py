import json

import numpy as np
import pytest

from shiftkit.io import atomic_write, load_data, save_csv, save_json


def test_csv_with_header(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("x,y\n1,2\n3.5,-4e2\n")
    X, cols = load_data(p)
    np.testing.assert_array_equal(X, [[1, 2], [3.5, -400]])
    assert cols == ["x", "y"]


def test_headerless_tsv_and_sniffed_text(tmp_path):
    tsv = tmp_path / "d.tsv"
    tsv.write_text("1\t2\n3\t4\n")
    X, cols = load_data(tsv)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    assert cols is None
    txt = tmp_path / "d.txt"
    txt.write_text("1;2\n3;4\n")
    np.testing.assert_array_equal(load_data(txt)[0], [[1, 2], [3, 4]])


def test_npy(tmp_path):
    p = tmp_path / "d.npy"
    np.save(p, np.arange(6, dtype=np.int16).reshape(3, 2))
    X, cols = load_data(p)
    assert X.dtype == np.float64 and X.shape == (3, 2) and cols is None
    np.save(p, np.arange(4.0))
    assert load_data(p)[0].shape == (4, 1)


@pytest.mark.parametrize(
    ("name", "content", "error", "match"),
    [
        ("a.csv", "x,name\n1,a\n2,b\n", ValueError, r"column 'name' is not numeric \(line 2: 'a'\)"),
        ("b.csv", "1,2\n3,oops\n", ValueError, r"column 2 is not numeric \(line 2: 'oops'\)"),
        ("c.csv", "x,y\n1,2\n3,\n", ValueError, r"missing value at line 3, column 'y'"),
        ("c.csv", "", ValueError, "holds no data"),
        ("d.csv", "x,y\n", ValueError, "header but no data"),
        ("e.csv", "1,2\n3\n", ValueError, "line 2: 1 fields, expected 2"),
        # a field too many is reported on its own line (it was the next one, after a header)
        ("f.csv", "x,y\n1,2\n3,4,5\n6,7\n", ValueError, "f.csv, line 3: 3 fields, expected 2"),
        ("g.csv", "x,y\n1,2\n\n\n3,4,5\n6,7\n", ValueError, "g.csv, line 5: 3 fields, expected 2"),
        ("h.csv", "1,2\n3,4,5\n", ValueError, "h.csv, line 2: 3 fields, expected 2"),
    ],
)
def test_bad_text_files(tmp_path, name, content, error, match):
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(error, match=match):
        load_data(p)


def test_bad_npy_and_missing(tmp_path):
    p = tmp_path / "s.npy"
    np.save(p, np.array(["a", "b"]))
    with pytest.raises(ValueError, match="2-D numeric array"):
        load_data(p)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_data(tmp_path / "missing.csv")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as f:
        f.write("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_save_csv_and_json_round_trip(tmp_path):
    save_csv(tmp_path / "l.csv", np.array([0, 1, -1]), ["label"])
    assert (tmp_path / "l.csv").read_text().splitlines() == ["label", "0", "1", "-1"]
    save_csv(tmp_path / "c.csv", np.array([[0.5, 1.0]]), ["x0", "x1"])
    np.testing.assert_array_equal(load_data(tmp_path / "c.csv")[0], [[0.5, 1.0]])
    save_json(tmp_path / "s.json", {"a": [1, 2]})
    assert json.loads((tmp_path / "s.json").read_text()) == {"a": [1, 2]}


def test_save_csv_writes_the_shortest_text_that_reads_back(tmp_path):
    # issue 21, item 3: at 9 significant digits two centers 3 apart at 1e9 were both "1e+09"
    centers = np.array([[1e9 + 3.0, -0.1234567890123], [1e9, 5e-324]])
    save_csv(tmp_path / "c.csv", centers, ["a", "b"])
    back = np.loadtxt(tmp_path / "c.csv", delimiter=",", skiprows=1)
    np.testing.assert_array_equal(back, centers)
    save_csv(tmp_path / "f.csv", np.array([[3.4, 0.1]], dtype=np.float32), ["a", "b"])
    assert (tmp_path / "f.csv").read_text() == "a,b\n3.4,0.1\n"  # no float32 noise (3.4000001)


def test_the_terminal_table_tells_centers_apart():
    from shiftkit.cli._cluster import _digits_that_tell_apart

    assert _digits_that_tell_apart(np.array([[1.5, 2.0], [2.5, 2.0]])) == 4
    assert _digits_that_tell_apart(np.array([[1e9 + 3.0, 0.0], [1e9, 0.0]])) == 10


def test_the_separator_and_decimal_comma_come_from_the_data(tmp_path):
    # issue 21, item 2: a .csv suffix forced "," and this file was read as a 3 x 1 array of 5s
    eu = tmp_path / "eu.csv"
    eu.write_text("a;b;c\n1,5;2,5;3,5\n4,5;5,5;6,5\n7,5;8,5;9,5\n")
    X, header = load_data(eu)
    np.testing.assert_array_equal(X, [[1.5, 2.5, 3.5], [4.5, 5.5, 6.5], [7.5, 8.5, 9.5]])
    assert header == ["a", "b", "c"]
    semicolons = tmp_path / "dots.csv"
    semicolons.write_text("1.5;2\n3;4.25\n")
    np.testing.assert_array_equal(load_data(semicolons)[0], [[1.5, 2.0], [3.0, 4.25]])


def test_a_header_that_does_not_match_the_rows_is_refused(tmp_path):
    # issue 21, item 2: pandas made the first column an index and dropped it silently
    path = tmp_path / "h.csv"
    path.write_text("x,y\n1,2,3\n4,5,6\n7,8,9\n")
    with pytest.raises(ValueError, match="the header has 2 fields and the rows 3"):
        load_data(path)


def test_a_first_line_longer_than_any_sample_is_read_whole(tmp_path):
    # issue 21, item 2: a headerless 10 x 12,000 file, its first line cut at 64 KiB after an "e+", was read
    # as a header and 9 x 5,042
    X = (1 + np.random.default_rng(0).uniform(size=(10, 12_000))) * 1e300  # 26 characters a field
    X[0, :20] *= -1  # twenty fields of 27: the line's first 65,536 characters end in "e+" (of an "e+300")
    path = tmp_path / "wide.csv"
    np.savetxt(path, X, delimiter=",")
    data, header = load_data(path)
    assert header is None
    np.testing.assert_array_equal(data, np.loadtxt(path, delimiter=","))


def test_the_index_column_pandas_writes_is_not_a_feature(tmp_path):
    import pandas as pd

    path = tmp_path / "frame.csv"
    pd.DataFrame({"a": [1.5, 2.5, 3.5], "b": [4.0, 5.0, 6.0]}).to_csv(path)  # ",a,b" then "0,1.5,4.0" ...
    X, header = load_data(path)
    np.testing.assert_array_equal(X, [[1.5, 4.0], [2.5, 5.0], [3.5, 6.0]])
    assert header == ["a", "b"]
    named = tmp_path / "named.csv"
    named.write_text("id,a\n0,1.5\n1,2.5\n2,3.5\n")  # a named column is the user's: kept
    assert load_data(named)[0].shape == (3, 2)


def test_gzip_and_utf16_are_read(tmp_path):
    # issue 21, item 22: "'utf-8' codec can't decode byte 0x8b"
    import gzip

    X = np.random.default_rng(0).normal(size=(20, 3))
    text = "a,b,c\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in X)
    with gzip.open(tmp_path / "d.csv.gz", "wt") as f:
        f.write(text)
    (tmp_path / "u.csv").write_text(text, encoding="utf-16")
    for name in ("d.csv.gz", "u.csv"):
        data, header = load_data(tmp_path / name)
        np.testing.assert_array_equal(data, X)
        assert header == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"PK\x03\x04" + bytes(100), "looks like a ZIP archive"),
        (bytes(range(256)) * 4, "looks like a binary file"),
        ("na\xefve,b\n1,2\n".encode("latin-1"), r"is not UTF-8 text \(byte 0xef at offset 2\)"),
        (b"a,b,a\n1,2,3\n", "the header names column 'a' twice"),
    ],
)
def test_files_that_are_not_delimited_text_say_what_they_look_like(tmp_path, content, match):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        load_data(path)
