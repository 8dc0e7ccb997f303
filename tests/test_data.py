from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from natsel.cli import main
from natsel.objectives.keras.data import FASHION_DIR, load_dataset

KERAS = """
data: {data}
workers: 1
evolution: {{population: 2, generations: 1}}
space:
  neurons0: [8]
"""


def run_bad(write_config, tmp_path, data_yaml: str):
    cfg = write_config(KERAS.format(data=data_yaml))
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in res.output
    assert not (tmp_path / "run").exists()
    return lines[0]


def test_missing_file(write_config, tmp_path):
    msg = run_bad(write_config, tmp_path, "{source: csv, path: nope.csv}")
    assert msg == f"error: data file not found: {tmp_path / 'nope.csv'}"


def test_missing_target_column(write_config, tmp_path):
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,x\n3,4,y\n")
    msg = run_bad(write_config, tmp_path, "{source: csv, path: d.csv, target: klass}")
    assert "d.csv:1: no target column 'klass' (columns: a, b, label)" in msg


def test_non_numeric_feature(write_config, tmp_path):
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,x\n3,oops,y\n")
    msg = run_bad(write_config, tmp_path, "{source: csv, path: d.csv, target: label}")
    assert "d.csv:3: column 'b' is not numeric ('oops') but 1 of its 2 cells are numbers" in msg


def test_nan_feature(write_config, tmp_path):
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,x\n3,nan,y\n")
    msg = run_bad(write_config, tmp_path, "{source: csv, path: d.csv, target: label}")
    assert "d.csv:3: column 'b' is missing (NaN)" in msg


def test_empty_feature_cell_says_missing(write_config, tmp_path):
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,x\n3, ,y\n")
    msg = run_bad(write_config, tmp_path, "{source: csv, path: d.csv, target: label}")
    assert msg.endswith("d.csv:3: column 'b' is missing (empty cell)")


def test_class_too_small_to_stratify(write_config, tmp_path):
    rows = "".join(f"{i},{i % 7},a\n" for i in range(30)) + "5,5,b\n6,6,b\n"
    (tmp_path / "d.csv").write_text("a,b,label\n" + rows)
    msg = run_bad(write_config, tmp_path, "{source: csv, path: d.csv, target: label}")
    assert "class 'b' has 2 rows; the stratified split needs at least 3 per class" in msg


def test_unknown_gene_for_keras(write_config, tmp_path):
    cfg = write_config("data: {source: iris}\nspace:\n  neurons0: [8]\n  wingspan: [1, 2]\n")
    res = CliRunner().invoke(main, ["evolve", str(cfg), "-q"])
    assert res.exit_code == 2 and f"{cfg}:4: gene 'wingspan' is not used by the Keras model" in res.stderr


def test_a_target_with_one_class_stops_before_anything_is_written(write_config, tmp_path):
    """Issue 24 item 12: a classification target holding one class is an error naming the file and column
    (exit 2, no run folder), not a search of networks that cannot be wrong."""
    (tmp_path / "d.csv").write_text("a,b,label\n" + "".join(f"{i},{i % 5},yes\n" for i in range(30)))
    msg = run_bad(write_config, tmp_path, "{source: csv, path: d.csv}")
    assert msg.endswith(f"{tmp_path / 'd.csv'}: target column 'label' has one class ('yes') in all 30 rows; "
                        "a classifier needs at least 2 (is it the right column?)")


def test_a_header_of_numbers_is_warned_about_and_header_false_reads_it_as_data(write_config, tmp_path, capsys):
    """Issue 24 item 12: a first line of numbers is read as column names with a warning that says so and
    names 'header: false'; with 'header: false' it is a row, columns are named by index and the target
    is the last column or the one 'target' gives by index."""
    rows = "".join(f"{i % 7},{i % 3},{'ab'[i % 2]}\n" for i in range(40))
    path = tmp_path / "d.csv"
    path.write_text("5,1,b\n" + rows)
    with_header = load_dataset({"source": "csv", "path": str(path)})
    err = capsys.readouterr().err
    assert f"warning: {path}:1: the header line is all numbers (5, 1, b)" not in err  # 'b' is not a number
    path.write_text("5,1,0\n" + rows.replace("a\n", "0\n").replace("b\n", "1\n"))
    with_header = load_dataset({"source": "csv", "path": str(path)})
    err = capsys.readouterr().err
    assert err.startswith(f"warning: {path}:1: the header line is all numbers (5, 1, 0): it looks like a row of data")
    assert "set 'header: false' in 'data:'" in err and len(err.strip().splitlines()) == 1
    headless = load_dataset({"source": "csv", "path": str(path), "header": False})
    assert not capsys.readouterr().err
    n = sum(len(getattr(headless, f"x_{s}")) for s in ("train", "es", "val", "test"))
    assert n == 41 == 1 + sum(len(getattr(with_header, f"x_{s}")) for s in ("train", "es", "val", "test"))
    assert headless.task == "binary"
    by_index = load_dataset({"source": "csv", "path": str(path), "header": False, "target": 1})
    assert by_index.task == "multiclass" and by_index.classes == [0.0, 1.0, 2.0]
    msg = run_bad(write_config, tmp_path, "{source: csv, path: d.csv, header: false, target: 3}")
    assert msg.endswith("d.csv:1: no column 3 (columns are 0..2)")


def test_header_must_be_true_or_false_and_only_for_csv(write_config, tmp_path):
    """Issue 24 item 12: 'header' is checked with the config, before any data is read."""
    assert "'header' must be true or false, got 'no'" in run_bad(write_config, tmp_path,
                                                                 "{source: csv, path: d.csv, header: 'no'}")
    assert "'header' applies to source 'csv' only" in run_bad(write_config, tmp_path, "{source: iris, header: false}")


def test_a_byte_order_mark_is_not_part_of_the_first_column_name(tmp_path):
    """Issue 24 item 12: a CSV saved with a UTF-8 byte-order mark (Excel's "CSV UTF-8") names its first
    column correctly."""
    path = tmp_path / "d.csv"
    path.write_bytes("label,a,b\n".encode("utf-8-sig") + "".join(f"{'xy'[i % 2]},{i},{i % 3}\n" for i in range(30)).encode())
    data = load_dataset({"source": "csv", "path": str(path), "target": "label"})
    assert data.classes == ["x", "y"] and data.x_train.shape[1] == 2


def test_split_is_disjoint_stratified_and_standardised_on_train():
    ds = load_dataset({"source": "python", "function": "numpy_data:make"}, base_dir=_module_dir(), seed=3)
    ids = [np.round(a[:, 0] * 1e6).astype(int) for a in (ds.x_train, ds.x_es, ds.x_val, ds.x_test)]
    raw_ids = [set(i.tolist()) for i in ids]
    assert sum(len(s) for s in raw_ids) == 300 and len(set().union(*raw_ids)) == 300  # every row exactly once
    for y in (ds.y_val, ds.y_test):
        assert np.bincount(y).tolist() == [20, 20, 20]  # 20% of each class of 100 rows
    assert np.allclose(ds.x_train[:, 1].mean(), 0, atol=1e-5) and np.allclose(ds.x_train[:, 1].std(), 1, atol=1e-4)
    assert not np.allclose(ds.x_test[:, 1].mean(), 0, atol=1e-3)  # test statistics were not used


def test_search_payload_never_holds_the_test_split():
    payload = load_dataset({"source": "iris"}).search_payload()
    assert not [k for k in payload if "test" in k]


def test_same_seed_same_split_other_seed_other_split():
    a, b, c = (load_dataset({"source": "wine"}, seed=s) for s in (1, 1, 2))
    assert np.array_equal(a.x_val, b.x_val) and not np.array_equal(a.x_val, c.x_val)


def test_tasks_are_inferred():
    assert load_dataset({"source": "breast_cancer"}).task == "binary"
    assert load_dataset({"source": "digits"}).task == "multiclass"
    assert load_dataset({"source": "diabetes"}).task == "regression"
    assert load_dataset({"source": "synthetic", "kind": "regression", "n_samples": 200}).task == "regression"


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_fashion_mnist_keeps_its_own_test_set():
    ds = load_dataset({"source": "fashion_mnist", "limit": 5000, "validation": 0.2})
    assert ds.x_test.shape == (10000, 28, 28, 1) and ds.n_classes == 10  # images keep their shape
    assert len(ds.x_train) + len(ds.x_es) + len(ds.x_val) == 5000


def test_fashion_mnist_missing_names_the_package(monkeypatch, tmp_path):
    import natsel.objectives.keras.data as d

    monkeypatch.setattr(d, "FASHION_DIR", tmp_path / "none")
    with pytest.raises(d.DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset({"source": "fashion_mnist"})


def _module_dir():
    from pathlib import Path

    return Path(__file__).parent


def test_workers_never_receive_the_test_split(write_config, tmp_path, monkeypatch):
    """The payload handed to the executor (what workers get) has train, early-stopping and validation only."""
    import natsel
    import natsel._evolve as ev
    from natsel.executors import Executor, Result

    seen = {}

    class Fake(Executor):
        def run(self, tasks):
            for t in tasks:
                yield Result(t.trial_id, "ok", 0.5)

    def fake_make_executor(cfg, spec, payload):
        seen["payload"] = payload
        return Fake()

    monkeypatch.setattr(ev, "make_executor", fake_make_executor)
    cfg = write_config(KERAS.format(data="{source: iris}"))
    natsel.evolve(natsel.load_config(cfg), tmp_path / "run", progress=False)
    payload = seen["payload"]
    assert {"x_train", "x_es", "x_val"} <= set(payload) and not [k for k in payload if "test" in k]
    full = load_dataset({"source": "iris"})
    test_rows = {tuple(r) for r in full.x_test.round(5).tolist()}
    sent_rows = {tuple(r) for k in ("x_train", "x_es", "x_val") for r in payload[k].round(5).tolist()}
    assert not test_rows & sent_rows
