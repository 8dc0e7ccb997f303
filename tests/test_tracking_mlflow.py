"""Issue 30: a natsel run in MLflow, read back with MLflow's own client from a local `file:` store."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import natsel
from natsel.cli import main

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra (pip install 'natsel[mlflow]') is not installed")

# MLflow 3 keeps its file store in maintenance mode behind this switch (it recommends sqlite:///mlflow.db)
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"

from test_tracking import tracked_config, trial_table  # noqa: E402


def runs_of(uri: str, experiment: str) -> list:
    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], max_results=1000)


def test_a_run_is_a_parent_mlflow_run_with_a_nested_run_per_trial(write_config, tmp_path):
    """Issue 30: `tracking: {mlflow: file:..., experiment: NAME}`: one parent run, one nested run per trial
    with the active genes as params, fitness as a metric, status and budget as tags; failed trials FAILED."""
    uri = (tmp_path / "mlruns").as_uri()
    cfg = tracked_config(write_config, tracking=f"tracking: {{mlflow: '{uri}', experiment: tracked}}\n")
    run = natsel.evolve(cfg, tmp_path / "run", progress=False)
    space = natsel.load_config(cfg).space
    found = runs_of(uri, "tracked")
    parents = [r for r in found if r.data.tags["natsel_role"] == "run"]
    trials = {int(r.data.tags["natsel_trial"]): r for r in found if r.data.tags["natsel_role"] == "trial"}
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    history = mlflow.MlflowClient(uri).get_metric_history(parents[0].info.run_id, "best_fitness")
    assert max(m.value for m in history) == pytest.approx(run.best["fitness"])
    assert set(trials) == {t["id"] for t in run.trials}
    for t in run.trials:
        r = trials[t["id"]]
        assert r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert r.data.params == {k: str(v) for k, v in t["genome"].items() if k in space.active(t["genome"])}
        assert r.data.tags["status"] == t["status"] and r.data.tags["budget"] == "full"
        if t["status"] == "failed":
            assert r.info.status == "FAILED" and "fitness" not in r.data.metrics
        else:
            assert r.info.status == "FINISHED" and r.data.metrics["fitness"] == pytest.approx(t["fitness"])
    # a second export finds everything there
    assert natsel.export(tmp_path / "run", mlflow=uri, experiment="tracked") == {"mlflow": 0}


def test_an_unreachable_mlflow_server_warns_once_and_the_run_is_the_same(write_config, tmp_path):
    """Issue 30: an MLflow server that is not there (MLflow's client retries for minutes): the run ends
    within the tracking timeout after its last trial, exit 0, one warning, the same trials."""
    plain = natsel.evolve(tracked_config(write_config), tmp_path / "plain", progress=False)
    cfg = tracked_config(write_config, name="t.yaml",
                         tracking="tracking: {mlflow: 'http://127.0.0.1:1', experiment: x, timeout: 3}\n")
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "natsel", "evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(Path(natsel.__file__).parent.parent)})
    assert res.returncode == 0, res.stderr
    warnings = [line for line in res.stderr.splitlines() if "tracking" in line]
    assert len(warnings) == 1 and warnings[0].startswith("natsel: warning: tracking to mlflow"), res.stderr
    assert trial_table(natsel.load_run(tmp_path / "run")) == trial_table(plain)
    assert time.monotonic() - t0 < 60


@pytest.mark.keras
def test_train_best_logs_a_model_that_loads_and_predicts(write_config, tmp_path):
    """Issue 30: a Keras search tracked in MLflow, then train-best: the parent run holds the self-contained
    model, labels.json, scores and learning curve; the model downloaded from MLflow loads and predicts."""
    uri = (tmp_path / "mlruns").as_uri()
    cfg = write_config(f"""
        name: iris
        data: {{source: iris}}
        training: {{max_epochs: 10, patience: 3, max_training_time: 60}}
        evolution: {{population: 2, generations: 1}}
        workers: 1
        space:
          neurons0: [16, 32]
          learning_rate: 0.01
          batch_size: 16
        tracking: {{mlflow: '{uri}', experiment: iris}}
        """)
    natsel.evolve(cfg, tmp_path / "run", progress=False)
    res = CliRunner().invoke(main, ["train-best", str(tmp_path / "run"), "--epochs", "20", "-q"])
    assert res.exit_code == 0, res.output
    found = runs_of(uri, "iris")
    parent = next(r for r in found if r.data.tags["natsel_role"] == "run")
    assert len([r for r in found if r.data.tags["natsel_role"] == "trial"]) == 2
    assert "test_accuracy" in parent.data.metrics and "validation_accuracy" in parent.data.metrics
    client = mlflow.MlflowClient(uri)
    names = {a.path for a in client.list_artifacts(parent.info.run_id, "train_best")}
    assert names == {"train_best/best_model.keras", "train_best/labels.json", "train_best/train_best.json",
                     "train_best/learning_curve.png"}
    local = Path(client.download_artifacts(parent.info.run_id, "train_best/best_model.keras", str(tmp_path / "dl")))
    import keras
    import numpy as np
    from sklearn.datasets import load_iris

    model = keras.models.load_model(local)
    x, y = load_iris(return_X_y=True)
    p = np.asarray(model.predict(x.astype("float32"), verbose=0))
    assert p.shape == (150, 3) and (p.argmax(1) == y).mean() > 0.6
