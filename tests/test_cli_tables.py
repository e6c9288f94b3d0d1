"""`shiftkit cluster` on real tables (issue 22): columns chosen by name, ids carried, gaps dropped, features
scaled, the mode seeking steered; every test drives the CLI on a file it writes."""

import csv
import itertools
import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.metrics import adjusted_rand_score
from typer.testing import CliRunner

from shiftkit.cli import app
from shiftkit.io import read_table

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, ["cluster", *map(str, args)])


def _iris(tmp_path, gap_at=None):
    """iris as people keep it: an id column, the species as text, optionally one empty cell."""
    data = load_iris(as_frame=True)
    frame = data.frame.drop(columns="target")
    frame.insert(0, "id", [f"s{i:03d}" for i in range(len(frame))])
    frame["species"] = np.array(data.target_names)[data.target]
    if gap_at is not None:
        frame.iloc[gap_at, 2] = np.nan
    path = tmp_path / "iris.csv"
    frame.to_csv(path, index=False)
    return path, data.target


def _labels(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_every_text_column_is_named_at_once_with_how_to_leave_them_out(tmp_path):
    path, _ = _iris(tmp_path)
    result = _run(path, "--out", tmp_path / "out")
    assert result.exit_code == 1
    line = result.output.strip()
    assert "\n" not in line
    assert "2 columns are not numeric: 'id' (line 2: 's000'), 'species' (line 2: 'setosa')" in line
    assert "--drop id,species" in line and "--id-column id" in line  # 'id' is all different text: an id
    assert not (tmp_path / "out").exists()


def test_id_column_travels_into_labels_csv_and_centers_carry_the_column_names(tmp_path):
    path, target = _iris(tmp_path)
    out = tmp_path / "out"
    result = _run(path, "--out", out, "--drop", "species", "--id-column", "id")
    assert result.exit_code == 0, result.output
    rows = _labels(out / "labels.csv")
    assert rows[0] == ["id", "label"]
    assert [r[0] for r in rows[1:]] == [f"s{i:03d}" for i in range(150)]
    labels = np.array([int(r[1]) for r in rows[1:]])
    assert adjusted_rand_score(target, labels) > 0.5
    # an id column itself named 'label': two columns of one name would be read back as one
    pd.read_csv(path).rename(columns={"id": "label"}).to_csv(tmp_path / "named.csv", index=False)
    named = _run(
        tmp_path / "named.csv", "--out", tmp_path / "named", "--drop", "species", "--id-column", "label"
    )
    assert named.exit_code == 0, named.output
    back = pd.read_csv(tmp_path / "named" / "labels.csv")
    assert list(back.columns) == ["label", "cluster"] and back["label"].iloc[0] == "s000"
    np.testing.assert_array_equal(back["cluster"].to_numpy(), labels)
    centers = pd.read_csv(out / "centers.csv")
    assert list(centers.columns) == [
        "sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"
    ]  # fmt: skip
    # QuickShift's centers are rows of the file, as written (no float32 noise)
    features = load_iris().data
    assert all((features == c).all(1).any() for c in centers.to_numpy())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["id_column"] == "id" and summary["columns"] == list(centers.columns)
    assert summary["rows_dropped"] == 0 and summary["n_features"] == 4


def test_columns_chooses_the_features_by_name(tmp_path):
    path, _ = _iris(tmp_path)
    out = tmp_path / "out"
    result = _run(path, "--out", out, "--columns", "petal length (cm)", "--columns", "petal width (cm)")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["columns"] == ["petal length (cm)", "petal width (cm)"] and summary["n_features"] == 2
    petals = load_iris().data[:, 2:]
    centers = pd.read_csv(out / "centers.csv").to_numpy()
    assert centers.shape[1] == 2 and all((petals == c).all(1).any() for c in centers)


def test_dropna_leaves_rows_out_counts_them_and_marks_them_empty(tmp_path):
    path, _ = _iris(tmp_path, gap_at=94)
    out = tmp_path / "out"
    refused = _run(path, "--out", out, "--drop", "species", "--id-column", "id")
    assert refused.exit_code == 1
    assert (
        "missing value at line 96, column 'sepal width (cm)'; --dropna leaves such rows out" in refused.output
    )
    result = _run(path, "--out", out, "--drop", "species", "--id-column", "id", "--dropna")
    assert result.exit_code == 0, result.output
    assert "1 row with a missing value left out" in result.output
    rows = _labels(out / "labels.csv")[1:]
    assert len(rows) == 150 and rows[94] == ["s094", ""]
    assert all(r[1] != "" for i, r in enumerate(rows) if i != 94)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows_dropped"] == 1 and summary["rows_in_file"] == 150 and summary["n_samples"] == 149


def _wide_narrow(tmp_path):
    """Three groups apart in 'ratio' (0..1); 'income' (x 1000) is noise that hides them unless scaled."""
    rng = np.random.default_rng(0)
    group = np.repeat([0, 1, 2], 100)
    ratio = np.array([0.1, 0.5, 0.9])[group] + rng.normal(0, 0.03, 300)
    income = rng.uniform(20_000, 120_000, 300)
    path = tmp_path / "people.csv"
    pd.DataFrame({"income": income, "ratio": ratio}).to_csv(path, index=False)
    return path, group


def test_ranges_far_apart_are_warned_about_and_scale_fixes_them(tmp_path):
    path, group = _wide_narrow(tmp_path)
    out = tmp_path / "raw"
    raw = _run(path, "--out", out)
    assert raw.exit_code == 0, raw.output
    assert "warning: feature ranges differ" in raw.output and "--scale standard" in raw.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scale"]["method"] == "none" and summary["warnings"]
    for scale in ("standard", "robust"):
        out = tmp_path / scale
        result = _run(path, "--out", out, "--scale", scale)
        assert result.exit_code == 0, result.output
        assert "warning" not in result.output
        labels = pd.read_csv(out / "labels.csv")["label"].to_numpy()
        assert adjusted_rand_score(group, labels) > 0.9
        summary = json.loads((out / "summary.json").read_text())
        assert summary["scale"]["method"] == scale and summary["warnings"] == []
        X = pd.read_csv(path).to_numpy()
        center = X.mean(0) if scale == "standard" else np.median(X, 0)
        np.testing.assert_allclose(summary["scale"]["center"], center)
        # centers.csv in the input's units: each near its cluster's mean in 'ratio'
        centers = pd.read_csv(out / "centers.csv")
        assert list(centers.columns) == ["income", "ratio"]
        found = np.sort(centers["ratio"].to_numpy())
        np.testing.assert_allclose(found, [0.1, 0.5, 0.9], atol=0.05)


def test_a_column_that_numbers_the_rows_is_warned_about(tmp_path):
    X = np.random.default_rng(1).normal(size=(40, 2))
    path = tmp_path / "t.csv"
    pd.DataFrame({"id": np.arange(1, 41), "a": X[:, 0], "b": X[:, 1]}).to_csv(path, index=False)
    result = _run(path, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "column 'id' numbers the rows (1, 2, 3, ...)" in result.output
    kept = _run(path, "--out", tmp_path / "out2", "--id-column", "id")
    assert "numbers the rows" not in kept.output
    assert _labels(tmp_path / "out2" / "labels.csv")[1][0] == "1"


def test_quickshift_knobs_reach_the_estimator_and_the_level_sweep_is_a_hint(tmp_path):
    rng = np.random.default_rng(2)
    X = np.concatenate([rng.normal(c, 0.4, (80, 2)) for c in ((0, 0), (3, 0), (0, 3), (3, 3))])
    path = tmp_path / "d.csv"
    np.savetxt(path, X, delimiter=",", header="a,b", comments="")
    out = tmp_path / "out"
    result = _run(path, "--out", out)
    assert result.exit_code == 0, result.output
    assert "clusters by prominence (--prominence): 0.1 -> " in result.output
    summary = json.loads((out / "summary.json").read_text())
    sweep = summary["n_clusters_by_prominence"]
    assert sweep[0][0] == pytest.approx(0.1) and all(a[1] != b[1] for a, b in itertools.pairwise(sweep))
    result = _run(path, "--out", out, "--prominence", 0.9, "--min-cluster-size", 0.3, "--n-neighbors", 7)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "QuickShift"
    assert summary["parameters"]["prominence"] == 0.9 and summary["parameters"]["n_neighbors"] == 7
    assert summary["parameters"]["min_cluster_size"] == 0.3 and summary["chosen"]["n_neighbors"] == 7
    assert summary["n_clusters"] < 4  # clusters under 30% of the points merged
    bad = _run(path, "--out", out, "--prominence", 1.5)
    assert bad.exit_code == 1 and "--prominence must be a number in (0, 1)" in bad.output
    counted = _run(path, "--out", out, "--min-cluster-size", 100)  # a count of points, given as 100
    assert counted.exit_code == 0, counted.output
    assert json.loads((out / "summary.json").read_text())["parameters"]["min_cluster_size"] == 100


def test_many_clusters_show_the_twenty_largest_and_a_count(tmp_path):
    X = np.repeat(np.arange(30)[:, None] * 10.0, [5 + i for i in range(30)], axis=0)
    X = np.hstack([X, np.zeros_like(X)])
    path = tmp_path / "many.csv"
    np.savetxt(path, X, delimiter=",", header="a,b", comments="")
    result = runner.invoke(
        app, ["cluster", str(path), "--out", str(tmp_path / "out"), "--method", "dbscan", "--eps", "1"],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "30 clusters" in result.output
    assert "10 smaller clusters (in centers.csv)" in result.output
    sizes = [int(line.split("│")[2]) for line in result.output.splitlines() if line.count("│") == 4][:20]
    assert sizes == sorted(range(15, 35), reverse=True)
    assert len(pd.read_csv(tmp_path / "out" / "centers.csv")) == 30


def test_read_table_names_headerless_columns_by_position(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("1,2,3\n4,5,6\n7,8,9\n")
    table = read_table(path, drop=["x1"])
    assert table.columns == ["x0", "x2"] and table.X.tolist() == [[1, 3], [4, 6], [7, 9]]
    npy = tmp_path / "a.npy"
    np.save(npy, np.array([[1.0, np.nan], [2.0, 3.0], [4.0, 5.0]]))
    with pytest.raises(ValueError, match=r"missing value at row 1, column 'x1'"):
        read_table(npy)
    table = read_table(npy, dropna=True)
    assert table.kept.tolist() == [False, True, True] and table.X.tolist() == [[2, 3], [4, 5]]


def test_version_and_short_help():
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"shiftkit {version('shiftkit')}"
    for args in (["-h"], ["cluster", "-h"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and "Usage: " in result.output and "--help" in result.output


def test_min_samples_is_a_whole_number_of_points(tmp_path):
    path = tmp_path / "d.csv"
    np.savetxt(path, np.random.default_rng(0).normal(size=(30, 2)), delimiter=",")
    result = _run(path, "--out", tmp_path / "o", "--method", "dbscan", "--min-samples", 0.5)
    assert result.exit_code == 1
    assert (
        result.output.strip() == "error: --min-samples must be a whole number of points, at least 1, got 0.5"
    )
    assert _run(path, "--out", tmp_path / "o", "--method", "dbscan", "--min-samples", 3).exit_code == 0


def test_no_cluster_all_gives_quickshift_a_noise_label(tmp_path):
    rng = np.random.default_rng(0)
    centers = rng.uniform(-8, 8, (6, 2))
    X = np.concatenate([rng.normal(c, 0.6, (400, 2)) for c in centers] + [rng.uniform(-12, 12, (200, 2))])
    path = tmp_path / "cloud.csv"
    np.savetxt(path, X, delimiter=",", header="x,y", comments="")
    out = tmp_path / "out"
    result = _run(path, "--out", out, "--no-cluster-all")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "QuickShift" and summary["parameters"]["cluster_all"] is False
    labels = pd.read_csv(out / "labels.csv")["label"].to_numpy()
    assert summary["n_noise"] == (labels == -1).sum() > 0.5 * 200
    assert "(no cluster)" in result.output
    refused = _run(path, "--out", out, "--no-cluster-all", "--method", "kmeans", "--n-clusters", 3)
    assert (
        refused.exit_code == 1 and "--no-cluster-all needs --method quickshift or meanshift" in refused.output
    )


@pytest.mark.slow
def test_quickshift_shows_its_stages_on_a_terminal(tmp_path):
    import os
    import pty
    import subprocess
    import sys

    from sklearn.datasets import load_digits

    path = tmp_path / "digits.csv"
    np.savetxt(path, load_digits().data, delimiter=",")
    primary, secondary = pty.openpty()
    env = {**os.environ, "COLUMNS": "150", "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shiftkit", "cluster", str(path), "--out", str(tmp_path / "out"), "--no-plot"],
        stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary, env=env,
    )  # fmt: skip
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait(timeout=300) == 0, seen.decode(errors="replace")
    os.close(primary)
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", seen.decode(errors="replace"))  # colours and cursor moves
    assert "QuickShift 3/5: layout" in text  # the layout's stage (half a second) is on screen
    assert "clusters in 1797 points" in text


def test_the_html_animation_plays_offline(tmp_path):
    out = tmp_path / "out"
    result = _run("--out", out, "--no-plot", "--animate", out / "steps.html")
    assert result.exit_code == 0, result.output
    html = (out / "steps.html").read_text()
    assert "https://" not in html and "http://" not in html and 'class="fa' not in html
    assert html.count("<button") == 9 and html.count("data:image/png;base64") >= 2


def test_column_names_are_text_on_the_plot(tmp_path):
    # a "$" in a column name started matplotlib's mathtext: 'x$\\nope{$y' failed the run with a ParseException
    path = tmp_path / "money.csv"
    rows = "\n".join(f"{a},{b}" for a, b in [(1, 1), (2, 5), (1.5, 9), (8, 1), (8.5, 2), (9, 3)])
    path.write_text("x$\\nope{$y,cost ($)\n" + rows + "\n")
    result = _run(path, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "clusters.png").stat().st_size > 1000
