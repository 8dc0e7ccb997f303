"""Issue 30: a natsel run in MLflow, read back with MLflow's own client from a local `file:` store."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
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


def test_an_unreachable_mlflow_server_warns_once_and_the_run_is_the_same(write_config, tmp_path, plain_tracked_trials):
    """Issue 30: an MLflow server that is not there (MLflow's client retries for minutes): the run ends
    within the tracking timeout after its last trial, exit 0, one warning, the same trials."""
    cfg = tracked_config(write_config, name="t.yaml",
                         tracking="tracking: {mlflow: 'http://127.0.0.1:1', experiment: x, timeout: 3}\n")
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "natsel", "evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(Path(natsel.__file__).parent.parent)})
    assert res.returncode == 0, res.stderr
    warnings = [line for line in res.stderr.splitlines() if "tracking" in line]
    assert len(warnings) == 1 and warnings[0].startswith("natsel: warning: tracking to mlflow"), res.stderr
    assert trial_table(natsel.load_run(tmp_path / "run")) == plain_tracked_trials
    assert time.monotonic() - t0 < 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    """A real `mlflow server` on a free loopback port, in its own process group, with a SQLite store."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.err = folder / "server.err"
        with self.err.open("w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port",
                                          str(self.port), "--workers", "1", "--backend-store-uri",
                                          f"sqlite:///{folder / 'server.db'}", "--default-artifact-root",
                                          (folder / "artifacts").as_uri()],
                                         stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module", autouse=True)
def mlflow_server(tmp_path_factory):
    """Started when this module's first test starts, so that its start (importing MLflow, ~10-20 s) goes on
    while the tests before the one that uses it run; that test waits for its health check."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    yield server
    server.kill()


def test_an_mlflow_server_gone_mid_run_costs_the_run_nothing(write_config, tmp_path, plain_tracked_trials,
                                                              mlflow_server):
    """Issue 30: a real `mlflow server` on loopback takes the first 12 trials while the search is held,
    is killed (kill -9, its whole process group), and the search is released: exit 0, one warning
    line, the same trials as a run without tracking, and the run ends at most `tracking.timeout`
    seconds (plus the few trials left and Python's start and exit) after its release."""
    server, port, timeout = mlflow_server.proc, mlflow_server.port, 4
    proc = None
    release = tmp_path / "release"
    try:
        deadline = time.monotonic() + 120
        while True:  # the server answers its health check
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, mlflow_server.err.read_text()[-2000:]
            time.sleep(0.2)
        cfg = tracked_config(write_config, name="gone.yaml", tracking=f"tracking: {{mlflow: 'http://127.0.0.1:{port}', "
                                                                      f"experiment: gone, timeout: {timeout}}}\n")
        env = {**os.environ, "NATSEL_TEST_GATE_AFTER": "12", "NATSEL_TEST_RELEASE": str(release),
               "PYTHONPATH": str(Path(natsel.__file__).parent.parent)}
        proc = subprocess.Popen([sys.executable, "-m", "natsel", "evolve", str(cfg), "--run-dir", str(tmp_path / "run"),
                                 "-q"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        client, deadline, sent = mlflow.MlflowClient(f"http://127.0.0.1:{port}"), time.monotonic() + 120, 0
        while time.monotonic() < deadline and sent < 12 and proc.poll() is None:  # what the server holds
            exp = client.get_experiment_by_name("gone")
            sent = len(client.search_runs([exp.experiment_id], "tags.natsel_role = 'trial'")) if exp else 0
            time.sleep(0.3)
        assert sent == 12 and proc.poll() is None, (sent, proc.poll(), proc.poll() is not None and proc.stderr.read())  # held: the 13th trial waits
        mlflow_server.kill()
        t0 = time.monotonic()
        release.touch()
        out, err = proc.communicate(timeout=120)
        ended = time.monotonic() - t0
    finally:
        release.touch()
        mlflow_server.kill()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    warnings = [line for line in err.splitlines() if "tracking" in line]
    assert len(warnings) == 1 and warnings[0].startswith("natsel: warning: tracking to mlflow"), err
    assert "natsel export" in warnings[0]
    assert trial_table(natsel.load_run(tmp_path / "run")) == plain_tracked_trials
    assert ended < timeout + 15, ended


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
