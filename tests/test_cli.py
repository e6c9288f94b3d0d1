import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from shiftkit.cli import app
from shiftkit.datasets import make_lesson_blobs

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, ["cluster", *map(str, args)])


def test_default_runs_on_the_lesson_blobs(tmp_path):
    result = _run("--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "6 clusters in 1500 points" in result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n_clusters"] == 6 and summary["cluster_sizes"] == [250] * 6
    assert summary["bandwidth"] == 2.5 and summary["seconds"] > 0
    labels = np.loadtxt(tmp_path / "labels.csv", skiprows=1)
    assert labels.shape == (1500,)
    centers = np.loadtxt(tmp_path / "centers.csv", delimiter=",", skiprows=1)
    assert centers.shape == (6, 2)
    with Image.open(tmp_path / "clusters.png") as im:
        assert im.size[0] > 300 and np.asarray(im.convert("L")).std() > 10


def test_csv_in_higher_dimension_with_options(tmp_path):
    X, _, _ = make_lesson_blobs(n_clusters=3, n_samples=50, n_features=4, random_state=5)
    data = tmp_path / "data.csv"
    np.savetxt(data, X, delimiter=",", header="a,b,c,d", comments="")
    out = tmp_path / "out"
    result = _run(
        data,
        "--out",
        out,
        "--bandwidth",
        9,
        "--kernel",
        "flat",
        "--algorithm",
        "standard",
        "--dtype",
        "float64",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_clusters"] == 3 and summary["n_features"] == 4 and summary["kernel"] == "flat"
    assert (out / "clusters.png").exists()  # drawn on 2 principal components


def test_no_plot(tmp_path):
    result = _run("--out", tmp_path, "--no-plot")
    assert result.exit_code == 0
    assert not (tmp_path / "clusters.png").exists()


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("x,y\n1,2\n3,abc\n", [], "1 column is not numeric: 'y' (line 3: 'abc'); leave it out with --drop y"),
        ("x,y\n1,2\n3,nan\n", [], "missing value at line 3, column 'y'; --dropna leaves such rows out"),
        ("x,y\n1,2\n3,\n", [], "missing value at line 3, column 'y'; --dropna"),
        ("x,y\n1,2\n3,4\n", ["--columns", "x,z"], "has no column 'z'; its columns: x, y"),
        ("x,y\n1,2\n3,4\n", ["--scale", "minmax"], "--scale must be one of none, standard, robust"),
        ("x,y\n1,2\n3,4\n", ["--drop", "x,y"], "no feature column left to cluster"),
        (
            "x,y\n1,2\n3,4\n",
            ["--n-neighbors", "5", "--method", "kmeans", "--n-clusters", "2"],
            "--n-neighbors needs --method quickshift, not kmeans",
        ),
        ("", [], "holds no data"),
        ("x,y\n1,2\n3,4\n", ["--bandwidth", "-1"], "--bandwidth must be > 0"),
        (
            "x,y\n1,2\n3,4\n",
            ["--prominence", "1.5"],
            "error: --prominence must be a number in (0, 1), got 1.5",
        ),
        (
            "x,y\n1,2\n3,4\n",
            ["--method", "kmeans", "--n-clusters", "0"],
            "error: --n-clusters must be an integer",
        ),
        ("x,y\n1,2\n3,4\n", ["--kernel", "cosine"], "unknown kernel 'cosine'"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, content, args, message):
    data = tmp_path / "in.csv"
    data.write_text(content)
    result = _run(data, "--out", tmp_path / "out", *args)
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
    assert not (tmp_path / "out" / "labels.csv").exists()


def test_missing_file(tmp_path):
    result = _run(tmp_path / "nope.csv")
    assert result.exit_code == 1
    assert "no such file" in result.output


def test_user_text_is_never_read_as_markup(tmp_path):
    # issue 21, item 10: "[/]" in a name crashed rich's printer (a long MarkupError), "[bold]" restyled
    missing = tmp_path / "no[/]such[bold].csv"
    result = _run(missing)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [f"error: no such file: {missing}"]
    data = tmp_path / "d[" / "]a[red]ta.csv"  # a path holding "[/]"
    data.parent.mkdir()
    data.write_text("x,[/]y\n" + "".join(f"{i % 7},{i % 5}\n" for i in range(40)))
    out = tmp_path / "o[/]ut"
    result = _run(data, "--out", out, "--no-plot")
    assert result.exit_code == 0, result.output
    assert f"to {out}/" in result.output.replace("\n", "")  # wrapped at the terminal width


def test_the_lock_leaves_no_file_and_follows_no_planted_link(tmp_path):
    # issue 21, item 11: out/.shiftkit.lock -> /any/path created /any/path; issue 22: the lock file was
    # left in every output folder. The lock is now on the folder itself.
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "elsewhere"
    (out / ".shiftkit.lock").symlink_to(target)
    result = _run("--out", out, "--no-plot")
    assert result.exit_code == 0, result.output
    assert not target.exists() and (out / ".shiftkit.lock").is_symlink()
    fresh = tmp_path / "fresh"
    assert _run("--out", fresh, "--no-plot").exit_code == 0
    assert sorted(p.name for p in fresh.iterdir()) == [
        ".shiftkit.outputs",
        "centers.csv",
        "labels.csv",
        "summary.json",
    ]


def test_dbscan_with_every_point_noise_writes_every_output(tmp_path):
    # issue 21, item 14: the plot crashed ("Found array with 0 sample(s)") and nothing was written
    data = tmp_path / "t.csv"
    np.savetxt(data, np.random.default_rng(0).uniform(size=(50, 2)) * 100, delimiter=",")
    result = _run(data, "--out", tmp_path / "out", "--method", "dbscan", "--eps", 0.01)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["n_clusters"] == 0 and summary["n_noise"] == 50
    assert (tmp_path / "out" / "clusters.png").stat().st_size > 0


def test_animate_alone_chooses_mean_shift_before_fitting(tmp_path):
    # issue 21, item 15: QuickShift ran, wrote the outputs, then failed on a missing history_
    data = tmp_path / "t.csv"
    X, _, _ = make_lesson_blobs(n_clusters=3, n_samples=60, random_state=1)
    np.savetxt(data, X, delimiter=",")
    result = _run(data, "--out", tmp_path / "out", "--no-plot", "--animate", tmp_path / "steps.gif")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["method"] == "MeanShift" and "--animate" in summary["why"]
    assert (tmp_path / "steps.gif").stat().st_size > 0
    refused = _run(data, "--out", tmp_path / "o2", "--method", "quickshift", "--animate", tmp_path / "q.gif")
    assert refused.exit_code == 1 and "has none to show" in refused.output
    assert not (tmp_path / "o2").exists() and not (tmp_path / "q.gif").exists()


def test_a_users_files_in_the_output_folder_are_kept(tmp_path):
    # issue 21, item 21: --no-plot deleted an existing clusters.png it had not written
    out = tmp_path / "out"
    out.mkdir()
    (out / "clusters.png").write_bytes(b"the user's picture")
    (out / "notes.txt").write_text("the user's notes")
    assert _run("--out", out, "--no-plot").exit_code == 0
    assert (out / "clusters.png").read_bytes() == b"the user's picture"
    refused = _run("--out", out)  # would write clusters.png over the user's
    assert refused.exit_code == 1 and "clusters.png was not written by shiftkit" in refused.output
    assert (out / "clusters.png").read_bytes() == b"the user's picture"
    (out / "clusters.png").unlink()
    assert _run("--out", out).exit_code == 0  # now shiftkit's own
    assert _run("--out", out, "--no-plot").exit_code == 0
    assert not (out / "clusters.png").exists()  # an earlier run's output that this one does not write
    assert (out / "notes.txt").read_text() == "the user's notes"


def test_never_overwrites_its_input(tmp_path):
    data = tmp_path / "labels.csv"
    data.write_text("x,y\n1,2\n3,4\n5,6\n")
    before = data.read_bytes()
    result = _run(data, "--out", tmp_path, "--bandwidth", 1)
    assert result.exit_code == 1 and "refusing to overwrite the input file" in result.output
    assert data.read_bytes() == before


def test_out_must_be_a_folder(tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    result = _run("--out", f)
    assert result.exit_code == 1 and "is not a folder" in result.output


@pytest.mark.slow
def test_installed_command_runs_as_a_subprocess(tmp_path):
    exe = Path(sys.executable).parent / "shiftkit"
    assert exe.exists(), "the package must install the shiftkit command"
    proc = subprocess.run(
        [str(exe), "cluster", "--out", str(tmp_path), "--no-plot"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "6 clusters" in proc.stdout
    bad = subprocess.run([str(exe), "cluster", str(tmp_path / "missing.npy")], capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.strip().startswith("error: no such file")
    module = subprocess.run([sys.executable, "-m", "shiftkit", "--help"], capture_output=True, text=True)
    assert module.returncode == 0 and "cluster" in module.stdout


@pytest.mark.parametrize("suffix", [".gif", ".html"])
def test_animate_option(tmp_path, suffix):
    anim = tmp_path / f"steps{suffix}"
    result = _run("--out", tmp_path, "--animate", anim)
    assert result.exit_code == 0, result.output
    assert anim.stat().st_size > 1000 and "the animation" in " ".join(result.output.split())  # wrapped


def test_animate_refuses_other_formats(tmp_path):
    result = _run("--out", tmp_path, "--animate", tmp_path / "a.avi")
    assert result.exit_code == 1 and "must end in .gif, .mp4 or .html" in result.output
    assert not (tmp_path / "labels.csv").exists()


def test_data_with_no_options_gets_quickshift_and_the_summary_says_why(tmp_path):
    X, _, _ = make_lesson_blobs(n_samples=100)
    data = tmp_path / "data.npy"
    np.save(data, X)
    result = _run(data, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["method"] == "QuickShift" and "no options" in summary["why"]
    assert summary["n_clusters"] == 6 and 0 < summary["chosen"]["prominence"] < 1
    assert summary["parameters"]["n_neighbors"] is None  # 20, at most a tenth of the 600 points
    assert summary["chosen"]["n_neighbors"] == 20
    # a mean-shift option, or --method meanshift, gives mean shift (merged through saddles by default)
    result = _run(data, "--out", tmp_path / "ms", "--kernel", "gaussian")
    summary = json.loads((tmp_path / "ms" / "summary.json").read_text())
    assert summary["method"] == "MeanShift" and "kernel" in summary["why"]
    assert summary["chosen"]["merge"] == "saddles" and summary["n_clusters"] == 6
    result = _run(data, "--out", tmp_path / "ms2", "--method", "meanshift")
    assert json.loads((tmp_path / "ms2" / "summary.json").read_text())["method"] == "MeanShift"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "spectral"], "--method must be one of auto, quickshift, meanshift, kmeans, dbscan"),
        (["--method", "quickshift", "--kernel", "flat"], "does not take the mean-shift options kernel"),
    ],
)
def test_bad_method_is_one_clear_line(tmp_path, args, message):
    data = tmp_path / "in.csv"
    data.write_text("x,y\n1,2\n3,4\n5,6\n")
    result = _run(data, "--out", tmp_path / "out", *args)
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())


def test_kmeans_and_dbscan_methods(tmp_path):
    X, _, _ = make_lesson_blobs()
    data = tmp_path / "blobs.csv"
    np.savetxt(data, X, delimiter=",", header="x,y", comments="")
    out = tmp_path / "km"
    result = _run(data, "--method", "kmeans", "--n-clusters", 6, "--out", out, "--animate", out / "km.gif")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "KMeans" and summary["n_clusters"] == 6 and summary["bandwidth"] is None
    assert (out / "km.gif").stat().st_size > 0
    out = tmp_path / "db"
    result = _run(data, "--method", "dbscan", "--eps", 1.0, "--min-samples", 10, "--out", out)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    labels = np.loadtxt(out / "labels.csv", skiprows=1)
    assert summary["method"] == "DBSCAN" and summary["n_noise"] == int((labels == -1).sum()) > 0
    centers = np.loadtxt(out / "centers.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(centers[0], X[labels == 0].mean(0), rtol=1e-6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "kmeans"], "--method kmeans needs --n-clusters"),
        (["--eps", "1"], "--eps needs --method kmeans or dbscan"),
        (["--method", "dbscan", "--n-clusters", "3"], "--method dbscan does not take --n-clusters"),
        (
            ["--method", "kmeans", "--n-clusters", "3", "--bandwidth", "2"],
            "does not take the mean-shift options",
        ),
        (["--method", "dbscan", "--animate", "x.gif"], "--animate shows iterations"),
    ],
)
def test_method_options_are_checked(tmp_path, args, message):
    X, _, _ = make_lesson_blobs(n_samples=60)
    data = tmp_path / "blobs.csv"
    np.savetxt(data, X, delimiter=",", header="x,y", comments="")
    result = _run(data, *args, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert message in result.output


def test_a_column_that_falls_into_clusters_alone_is_named_in_the_summary(tmp_path):
    """Two groups apart along one named column of twelve: the summary says which column, by its
    position and by its name (user text: written to JSON only, as it was read)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 12))
    X[500:, 4] += 6.0
    names = [f"f{i}" for i in range(12)]
    names[4] = 'dose <b>"mg"</b>'
    data = tmp_path / "table.csv"
    pd.DataFrame(X, columns=names).to_csv(data, index=False)
    result = _run(data, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    space = summary["space"]
    assert space["name"] == "principal-axes" and space["multimodal_features"] == [4]
    assert space["multimodal_feature_names"] == ['dose <b>"mg"</b>'] and summary["n_clusters"] == 2
    assert "column 4 falls into clusters alone" in space["why"]


def test_embeddings_get_a_graph_layout_and_the_summary_says_so(tmp_path):
    from shiftkit.datasets import make_embedding_mixture

    X, y = make_embedding_mixture(1200, n_features=24, n_clusters=6, random_state=2)
    X = X / np.linalg.norm(X, axis=1, keepdims=True)  # unit rows, as sentence and image embeddings
    data = tmp_path / "emb.csv"
    np.savetxt(data, X, delimiter=",")
    result = _run(data, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    space = summary["space"]
    assert space["name"] == "graph-layout" and space["n_features"] == 24 and space["n_signal_features"] > 3
    assert "layout of the neighbor graph" in space["why"] and "cosine" in space["metric"]
    assert space["graph"]["rows_laid_out"] == 1200 and space["graph"]["rows_assigned"] == 0
    assert space["graph"]["layouts"] == 3 and space["graph"]["layout_dimensions"] == 15
    assert space["graph"]["neighbors"] == 15 and space["graph"]["neighbors_in_the_layouts"] == 12
    assert space["graph"]["cut_fraction"] == 0.3
    assert space["multimodal_features"] is None  # more than three signal axes: not looked for
    assert summary["n_clusters"] == 6
    labels = np.loadtxt(tmp_path / "out" / "labels.csv", skiprows=1, dtype=int)
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(y, labels) > 0.99
    assert Image.open(tmp_path / "out" / "clusters.png").size[0] > 100
    # two features: the input space, and the summary says why
    np.save(tmp_path / "two.npy", X[:, :2])
    assert _run(tmp_path / "two.npy", "--out", tmp_path / "two").exit_code == 0
    space = json.loads((tmp_path / "two" / "summary.json").read_text())["space"]
    assert space["name"] == "input" and "2 features" in space["why"]


# -- files and the CLI -------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shiftkit", "cluster", *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_bad_files_are_one_line_errors(tmp_path):
    from shiftkit.io import load_data

    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf1,2\n3,4\n5,6\n")
    np.testing.assert_array_equal(load_data(bom)[0], [[1, 2], [3, 4], [5, 6]])  # the first row is data
    wide = tmp_path / "wide.csv"
    wide.write_text("1,2\n" + "0" * 200_000 + "1,3\n")  # a field over csv's 131,072-character limit
    np.testing.assert_array_equal(load_data(wide)[0], [[1, 2], [1, 3]])
    np.save(tmp_path / "complex.npy", np.array([[1 + 2j, 3], [4, 5j]]))
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 2)})
    (tmp_path / "lie.npy").write_bytes(buf.getvalue() + b"\0" * 64)  # a header that claims 16 TB
    (tmp_path / "zero.npy").write_bytes(b"")
    (tmp_path / "folder.csv").mkdir()
    np.save(tmp_path / "ok.npy", np.random.default_rng(0).normal(size=(30, 2)))
    cases = [
        (["complex.npy"], "holds complex numbers (complex128)"),
        (["lie.npy"], "is damaged: its header says shape (1000000000000, 2)"),
        (["zero.npy"], "is not a .npy file"),
        (["folder.csv"], "is a folder, not a data file"),
        (["missing.csv"], "no such file"),
        (
            ["ok.npy", "--device", "cuda"]
            if not torch.cuda.is_available()
            else ["ok.npy", "--device", "cuda:99"],
            "device 'cuda",
        ),
    ]
    for args, message in cases:
        result = _cli(str(tmp_path / args[0]), *args[1:], "--out", str(tmp_path / "out"))
        assert result.returncode == 1, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) <= 2 and lines[0].startswith("error:"), (args, result.stderr)
        assert message in " ".join(lines), (args, result.stderr)
    result = _cli(
        str(tmp_path / "ok.npy"), "--bandwidth", "1e200", "--out", str(tmp_path / "out"), "--no-plot"
    )
    assert result.returncode == 0 and "1 cluster in 30 points" in result.stdout, result.stderr
