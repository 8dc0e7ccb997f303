from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import natsel
from natsel.cli import main

KERAS = """
name: tb
data: {data}
training: {{max_epochs: 20, patience: 3, max_training_time: 60}}
evolution: {{population: 2, generations: 1}}
workers: 1
space:
  neurons0: [64, 128]
  learning_rate: 0.003
  batch_size: 32
"""


def fake_run(write_config, tmp_path, monkeypatch, data="{source: iris}", fitness=0.9):
    """A Keras run folder made without TensorFlow (the executor is replaced)."""
    import natsel._evolve as ev
    from natsel.executors import Executor, Result

    class Fake(Executor):
        def run(self, tasks):
            for t in tasks:
                yield Result(t.trial_id, "ok", fitness, {"accuracy": fitness}, 1.0)

    monkeypatch.setattr(ev, "make_executor", lambda cfg, spec, payload: Fake())
    natsel.evolve(natsel.load_config(write_config(KERAS.format(data=data))), tmp_path / "run", progress=False)
    monkeypatch.undo()
    return tmp_path / "run"


def files(path):
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*"))


def test_not_a_run(tmp_path):
    res = CliRunner().invoke(main, ["train-best", str(tmp_path)])
    assert res.exit_code == 2 and "is not a natsel run folder" in res.stderr and files(tmp_path) == []


def test_dataset_moved_is_one_line_and_writes_nothing(write_config, tmp_path, monkeypatch):
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,label\n" + "".join(f"{i},{i % 5},{i % 3}\n" for i in range(60)))
    run = fake_run(write_config, tmp_path, monkeypatch, data="{source: csv, path: d.csv, target: label}")
    csv.unlink()
    before = files(run)
    res = CliRunner().invoke(main, ["train-best", str(run)])
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: data file not found: {csv}"
    assert files(run) == before


def test_no_finished_trial_and_unknown_trial(write_config, tmp_path, monkeypatch):
    run = fake_run(write_config, tmp_path, monkeypatch, fitness=float("nan"))
    res = CliRunner().invoke(main, ["train-best", str(run)])
    assert res.exit_code == 2 and res.stderr.strip() == f"error: {run} has no finished trial yet"
    res = CliRunner().invoke(main, ["train-best", str(run), "--trial", "99"])
    assert res.exit_code == 2 and "has no trial 99" in res.stderr


def test_python_fitness_run_is_refused(write_config, tmp_path):
    cfg = write_config("fitness: helpers:constant\nworkers: 0\nevolution: {population: 2, generations: 1}\n"
                       "space:\n  a: [1, 2]\n")
    natsel.evolve(natsel.load_config(cfg), tmp_path / "run", progress=False)
    res = CliRunner().invoke(main, ["train-best", str(tmp_path / "run")])
    assert res.exit_code == 2 and "this run scores a Python fitness function" in res.stderr


@pytest.mark.keras
def test_train_best_on_digits_saves_a_model_that_loads_and_predicts(write_config, tmp_path):
    cfg = write_config(KERAS.format(data="{source: digits}"))
    assert CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"]).exit_code == 0
    res = CliRunner().invoke(main, ["train-best", str(tmp_path / "run"), "-q", "--epochs", "60"])
    assert res.exit_code == 0, res.output
    info = json.loads((tmp_path / "run" / "train_best.json").read_text())
    run = natsel.load_run(tmp_path / "run")
    assert info["genome"] == run.fittest and info["trial"] == run.best["id"]
    assert info["test"]["accuracy"] > 0.95 and info["validation"]["accuracy"] > 0.95
    assert 1 <= info["epochs"] <= 60 and len(info["history"]["train loss"]) == info["epochs"]
    assert (tmp_path / "run" / "plots" / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    import keras

    from natsel.objectives.keras.data import load_dataset

    model = keras.models.load_model(tmp_path / "run" / "best_model.keras")
    ds = load_dataset({"source": "digits"}, seed=0)
    acc = float((model.predict(ds.raw_test, verbose=0).argmax(1) == ds.y_test).mean())  # raw digits, 0..16
    assert acc == pytest.approx(info["test"]["accuracy"], abs=1e-6)  # the saved model is the one scored
