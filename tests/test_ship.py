"""Issue 26: the result of a search is a model that takes the user's raw data and answers in the
user's labels and units; ``natsel predict`` and ``natsel.load_model`` use it. Keras tests (slow):
each data kind is searched once (a tiny search), trained once, then used many ways."""

from __future__ import annotations

import csv
import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import natsel
from natsel.cli import main
from natsel.objectives.keras.data import load_dataset

pytestmark = pytest.mark.keras

WINES = ["barolo", "grignolino", "barbera"]


def _search_and_ship(folder: Path, data: str, space: str = "neurons0: [16]\n  learning_rate: 0.01") -> Path:
    (folder / "c.yaml").write_text(f"name: ship\nseed: 0\ndata: {data}\ntraining: {{max_epochs: 3, patience: 0}}\n"
                                   f"evolution: {{population: 2, generations: 1}}\nworkers: 1\nspace:\n  {space}\n")
    run = folder / "run"
    res = CliRunner().invoke(main, ["evolve", str(folder / "c.yaml"), "--run-dir", str(run), "-q"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["train-best", str(run), "-q", "--epochs", "30", "--patience", "5"])
    assert res.exit_code == 0, res.output
    return run


@pytest.fixture(scope="module")
def wine_run(tmp_path_factory):
    """A semicolon CSV with text labels, a text feature column and a numeric column spread over thousands."""
    folder = tmp_path_factory.mktemp("wine")
    r = np.random.default_rng(1)
    n = 300
    kind = r.integers(0, 3, n)
    soil = np.array(["clay", "sand", "chalk"])[(kind + (r.random(n) < 0.2)) % 3]
    price = 2000 + 1500 * kind + r.normal(0, 400, n)
    acid = kind * 0.7 + r.normal(0, 0.5, n)
    with (folder / "wine.csv").open("w", newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(["soil", "price", "acid", "wine"])
        for i in range(n):
            w.writerow([soil[i], f"{price[i]:.1f}", f"{acid[i]:.3f}", WINES[kind[i]]])
    return _search_and_ship(folder, "{source: csv, path: wine.csv}")


FRESH = r"""
import json, sys
import numpy as np, keras, tensorflow as tf
for line in sys.stdin:  # one request a line: model, labels, inputs, dtype; one JSON answer a line
    model_path, labels_path, x_path, dtype = json.loads(line)
    model = keras.models.load_model(model_path)
    labels = json.load(open(labels_path))
    x = json.load(open(x_path))
    if isinstance(x, dict):  # one input per column: text as tf strings
        x = {k: tf.constant(v) if isinstance(v[0], str) else np.array(v, dtype="float32") for k, v in x.items()}
    else:
        x = np.array(x, dtype=dtype)
    out = np.asarray(model.predict(x, verbose=0))
    print("natsel-answer " + json.dumps({"natsel": "natsel" in sys.modules, "out": out.tolist(), "labels": labels}),
          flush=True)
"""


class FreshPython:
    """A new Python that never imports natsel, loading saved models and predicting with Keras alone.
    One per module: TensorFlow's import (seconds) is paid once, not once per model."""

    def __init__(self, folder: Path) -> None:
        self.err = folder / "fresh.err"
        with self.err.open("w") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", FRESH], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=err, text=True, env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [*map(self.lines.put, self.proc.stdout), self.lines.put("")], daemon=True).start()

    def predict(self, run: Path, x, dtype: str) -> dict:
        (run / "x.json").write_text(json.dumps(x))
        self.proc.stdin.write(json.dumps([str(run / "best_model.keras"), str(run / "labels.json"),
                                          str(run / "x.json"), dtype]) + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + 300
        while True:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))  # queue.Empty: no answer in 300 s
            assert line, self.err.read_text()[-2000:]  # it ended
            if line.startswith("natsel-answer "):
                return json.loads(line.split(" ", 1)[1])

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def fresh_python(tmp_path_factory):
    fresh = FreshPython(tmp_path_factory.mktemp("fresh"))
    yield fresh
    fresh.close()


def fresh_predict(fresh: FreshPython, run: Path, x, dtype: str = "float32") -> dict:
    """Load best_model.keras in a Python that never imports natsel, and predict ``x``."""
    got = fresh.predict(run, x, dtype)
    assert got["natsel"] is False
    return got


def test_the_model_takes_raw_csv_rows_and_answers_in_the_csvs_labels(fresh_python, wine_run):
    """Issue 26 item 1, 3: in a fresh process without natsel, the saved model predicts the raw test rows
    (text column included) with exactly the test accuracy train-best reported, in the CSV's own labels."""
    info = json.loads((wine_run / "train_best.json").read_text())
    ds = load_dataset({"source": "csv", "path": "wine.csv"}, wine_run.parent, seed=0)
    x = {c.name: [float(v) if c.kind == "numeric" else v for v in ds.raw_test[:, j].tolist()]
         for j, c in enumerate(ds.columns)}
    got = fresh_predict(fresh_python, wine_run, x)
    assert got["labels"]["classes"] == sorted(WINES) == info["labels"]["classes"]
    assert [c["name"] for c in got["labels"]["columns"]] == ["soil", "price", "acid"]
    predicted = [got["labels"]["classes"][i] for i in np.argmax(got["out"], axis=1)]
    truth = [ds.classes[i] for i in ds.y_test]
    assert np.mean([p == t for p, t in zip(predicted, truth, strict=True)]) == pytest.approx(
        info["test"]["accuracy"], abs=1e-6)
    assert info["test"]["accuracy"] > 0.6  # it learned something from raw values spread over thousands
    model = natsel.load_model(wine_run)  # the Python API: raw rows in column order, labels out
    assert model.predict(ds.raw_test).tolist() == predicted
    assert model.predict_proba(ds.raw_test).shape == (len(truth), 3)


def _predict(run, data, *args):
    return CliRunner().invoke(main, ["predict", str(run), str(data), "-q", *args])


def test_natsel_predict_a_good_file_a_reordered_one_and_an_unknown_category(wine_run, tmp_path):
    """Issue 26 item 4: the source file itself (semicolons, with its target column), the same rows with
    their columns reordered, and a category the model never saw."""
    res = _predict(wine_run, wine_run.parent / "wine.csv", "--out", str(tmp_path / "p.csv"), "--proba")
    assert res.exit_code == 0, res.output
    assert "300 rows predicted; against the file's own 'wine' column: accuracy" in res.stderr
    out = list(csv.reader((tmp_path / "p.csv").open()))
    assert out[0] == ["prediction", "p(barbera)", "p(barolo)", "p(grignolino)"] and len(out) == 301
    assert {r[0] for r in out[1:]} <= set(WINES)
    rows = list(csv.reader((wine_run.parent / "wine.csv").open(), delimiter=";"))
    with (tmp_path / "re.csv").open("w", newline="") as f:  # reordered, without the target, one unknown soil
        w = csv.writer(f)
        w.writerow(["acid", "soil", "price"])
        for i, r in enumerate(rows[1:]):
            w.writerow([r[2], "loam" if i == 0 else r[0], r[1]])
    res = _predict(wine_run, tmp_path / "re.csv")
    assert res.exit_code == 0, res.output
    assert "1 value(s) of column 'soil' were not in its training values" in res.stderr
    again = res.stdout.splitlines()
    assert again[0] == "prediction" and again[2:] == [r[0] for r in out[2:]]  # the same answers row by row


def test_natsel_predict_refuses_a_file_missing_a_column(wine_run, tmp_path):
    """Issue 26 item 4: a missing column is one line, exit 2, and nothing written."""
    (tmp_path / "m.csv").write_text("soil,acid\nclay,0.3\n")
    res = _predict(wine_run, tmp_path / "m.csv", "--out", str(tmp_path / "o.csv"))
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [f"error: {tmp_path / 'm.csv'}:1: missing column(s) price (the "
                                               "model was trained on: soil, price, acid)"]
    assert not list(tmp_path.glob("*o.csv*"))


def test_natsel_predict_streams_a_large_file_in_bounded_memory(wine_run, tmp_path):
    """Issue 26 item 4: 200,000 rows are read and predicted a batch at a time: the peak memory of the
    process grows by far less than the file's rows would take in memory at once."""
    def make(n: int) -> Path:
        p = tmp_path / f"big{n}.csv"
        r = np.random.default_rng(n)
        with p.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["soil", "price", "acid"])
            soils = np.array(["clay", "sand", "chalk"])[r.integers(0, 3, n)]
            for s, pr, a in zip(soils, r.normal(3000, 1500, n), r.normal(0.7, 0.6, n), strict=True):
                w.writerow([s, f"{pr:.1f}", f"{a:.3f}"])
        return p

    peak = {}
    for n in (20_000, 200_000):
        code = ("import resource, sys; from natsel.cli import main\n"
                "try:\n    main()\nexcept SystemExit:\n    pass\n"
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)")
        out = subprocess.run([sys.executable, "-c", code, "predict", str(wine_run), str(make(n)), "-q", "--out",
                              str(tmp_path / f"out{n}.csv")], capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        peak[n] = int(out.stderr.strip().splitlines()[-1]) / 1024  # MiB
        assert sum(1 for _ in (tmp_path / f"out{n}.csv").open()) == n + 1
    # 180,000 more rows as Python objects would be ~100 MiB more; a batch at a time keeps it flat
    assert peak[200_000] - peak[20_000] < 40, peak


@pytest.fixture(scope="module")
def price_run(tmp_path_factory):
    """Regression on a CSV whose target spreads over hundreds."""
    folder = tmp_path_factory.mktemp("price")
    r = np.random.default_rng(2)
    x = r.normal(0, 1, (400, 3))
    y = 700 + 150 * x[:, 0] - 60 * x[:, 1] + 10 * r.normal(0, 1, 400)
    with (folder / "price.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "c", "price"])
        w.writerows([[f"{v:.4f}" for v in row] + [f"{t:.2f}"] for row, t in zip(x, y, strict=True)])
    return _search_and_ship(folder, "{source: csv, path: price.csv}", "neurons0: [32]\n  learning_rate: 0.01")


def test_a_regression_model_answers_in_the_targets_units(price_run, fresh_python):
    """Issue 26 item 2: targets are learned standardised, and the saved model's output and every reported
    metric are in the target's units: a fresh process gets train-best's test MAE from the raw rows."""
    info = json.loads((price_run / "train_best.json").read_text())
    ds = load_dataset({"source": "csv", "path": "price.csv"}, price_run.parent, seed=0)
    got = fresh_predict(fresh_python, price_run, ds.raw_test.tolist())
    pred = np.array(got["out"]).ravel()
    mae = float(np.mean(np.abs(pred - ds.y_test)))
    assert mae == pytest.approx(info["test"]["mae"], rel=1e-6)
    assert info["test"]["mae"] < 0.25 * float(np.mean(np.abs(ds.y_test - ds.y_test.mean())))  # far from the mean's
    assert info["test"]["r2"] > 0.8 and got["labels"]["task"] == "regression"


def test_a_model_of_raw_images_takes_uint8_pixels(tmp_path, fresh_python):
    """Issue 26 item 1: images in, raw uint8 pixels (the model rescales them itself)."""
    r = np.random.default_rng(3)
    y = r.integers(0, 3, 240)
    x = r.integers(0, 60, (240, 8, 8)).astype(np.uint8)
    for k in range(3):
        x[y == k, 2 * k : 2 * k + 3, :] += 180  # a bright band per class
    np.savez(tmp_path / "img.npz", x=x, y=y)
    run = _search_and_ship(tmp_path, "{source: npz, path: img.npz}")
    info = json.loads((run / "train_best.json").read_text())
    ds = load_dataset({"source": "npz", "path": "img.npz"}, tmp_path, seed=0)
    assert ds.raw_test.dtype == np.uint8 and ds.raw_test.shape[1:] == (8, 8)
    got = fresh_predict(fresh_python, run, ds.raw_test.tolist(), "uint8")
    acc = float(np.mean(np.argmax(got["out"], axis=1) == ds.y_test))
    assert acc == pytest.approx(info["test"]["accuracy"], abs=1e-6) and acc > 0.9
    assert got["labels"]["input"] == "images" and got["labels"]["shape"] == [8, 8]


def test_train_best_keeps_what_it_made(wine_run):
    """Issue 26 item 6: a second train-best does not overwrite the first model without --force."""
    before = (wine_run / "best_model.keras").read_bytes()
    res = CliRunner().invoke(main, ["train-best", str(wine_run), "-q", "--epochs", "2"])
    assert res.exit_code == 2 and "exists (an earlier train-best): --out DIR keeps both, --force replaces it" in \
        res.stderr
    assert (wine_run / "best_model.keras").read_bytes() == before


def test_an_interrupted_train_best_leaves_no_output_folder(wine_run, tmp_path):
    """Issue 26 item 6: Ctrl-C during train-best into a new --out folder leaves no empty or half-written folder."""
    import os
    import signal

    out = tmp_path / "second"
    proc = subprocess.Popen([sys.executable, "-m", "natsel", "train-best", str(wine_run), "--out", str(out),
                             "--epochs", "5000", "--patience", "0"], stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = b""
    while b"train-best:" not in seen or b" 0/5000" in seen.rsplit(b"\r", 1)[-1]:  # wait for an epoch
        chunk = os.read(proc.stderr.fileno(), 4096)
        assert chunk, seen.decode(errors="replace")[-2000:]
        seen += chunk
    assert out.is_dir()  # training has started in it
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode(errors="replace")[-2000:]
    assert not out.exists()
