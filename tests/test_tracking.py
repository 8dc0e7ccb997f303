"""Issue 30: a natsel run where users already look (optuna-dashboard, MLflow), and trackers that never
cost the search. Real tools on loopback and local files; nothing mocked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

import natsel
from natsel.cli import main

optuna = pytest.importorskip("optuna", reason="the optuna extra (pip install 'natsel[optuna]') is not installed")
optuna_dashboard = pytest.importorskip("optuna_dashboard", reason="optuna-dashboard (natsel[optuna]) is not installed")

TRACKED = """
name: tracked
seed: 3
workers: 0
fitness: helpers:tracked
strategy: random
evolution: {{population: {population}, generations: {generations}}}
space:
  act: [relu, elu, tanh, sigmoid]
  lr: {{low: 1e-4, high: 1e-1, log: true}}
  layers: {{low: 1, high: 3}}
  n0: {{low: 8, high: 64, step: 8}}
  n1: {{low: 8, high: 64, step: 8, when: {{layers: {{ge: 2}}}}}}
  n2: {{low: 8, high: 64, step: 8, when: {{layers: {{ge: 3}}}}}}
  drop: {{low: 0.0, high: 0.5, when: {{act: [relu, elu]}}}}
  opt: adam
{tracking}"""


def tracked_config(write_config, population=10, generations=3, tracking="", name="config.yaml") -> Path:
    return write_config(TRACKED.format(population=population, generations=generations, tracking=tracking), name)


@contextmanager
def dashboard(storage: str):
    """optuna-dashboard's own app (``optuna_dashboard.wsgi``) served on a free loopback port."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):  # noqa: D401 - no request lines in the test output
            pass

    server = make_server("127.0.0.1", 0, optuna_dashboard.wsgi(storage), handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def dashboard_trials(base: str, study: str) -> list[dict]:
    """The study's trials, as the dashboard's API serves them (its browser app reads the same)."""
    ids = [s["study_id"] for s in get(f"{base}/api/studies")["study_summaries"] if s["study_name"] == study]
    if not ids:
        return []
    return get(f"{base}/api/studies/{ids[0]}")["trials"]


def expected_state(t: dict) -> str:
    if t["status"] in ("failed", "killed") or t["fitness"] is None:
        return "Fail"
    return "Complete"


def test_export_is_what_optuna_dashboard_serves(write_config, tmp_path):
    """Issue 30: `natsel export --optuna` writes every finished trial; a real optuna-dashboard server reads
    the study back over HTTP: the same count, active genes as params (inactive ones left out) with
    their distributions, fitness values, states and user attributes; a second export adds nothing,
    a resumed run's export adds only its new trials."""
    cfg = tracked_config(write_config)
    run = natsel.evolve(cfg, tmp_path / "run", progress=False)
    assert any(t["status"] == "failed" for t in run.trials) and any(t["status"] == "ok" for t in run.trials)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    res = CliRunner().invoke(main, ["export", str(tmp_path / "run"), "--optuna", storage])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == f"optuna: {len(run.trials)} new trials"
    space = natsel.load_config(cfg).space
    with dashboard(storage) as base:
        summaries = get(f"{base}/api/studies")["study_summaries"]
        assert [s["study_name"] for s in summaries] == ["run"]
        assert summaries[0]["directions"] == ["maximize"]
        served = dashboard_trials(base, "run")
        assert len(served) == len(run.trials) == 30
        by_id = {int(next(a["value"] for a in t["user_attrs"] if a["key"] == "natsel_trial")): t for t in served}
        assert set(by_id) == {t["id"] for t in run.trials}
        for t in run.trials:
            d = by_id[t["id"]]
            assert d["state"] == expected_state(t)
            params = {p["name"]: p for p in d["params"]}
            active = space.active(t["genome"]) - {"opt"}  # opt is fixed: not a searched parameter
            assert set(params) == active
            for name in active:
                assert params[name]["param_external_value"] == str(t["genome"][name])
            if "lr" in params:
                assert params["lr"]["distribution"] == {"type": "FloatDistribution", "low": 1e-4, "high": 0.1,
                                                        "step": None, "log": True}
            if "n1" in params:
                assert params["n1"]["distribution"]["type"] == "IntDistribution"
                assert params["n1"]["distribution"]["step"] == 8
            if d["state"] == "Complete":
                assert d["values"] == [pytest.approx(t["fitness"])]
            else:
                assert "values" not in d
            attrs = {a["key"]: a["value"] for a in d["user_attrs"]}
            assert attrs["generation"] == str(t["generation"]) and attrs["status"] == t["status"]
            assert attrs["origin"] == t["origin"] and attrs["budget"] == "full"
            if t["status"] == "failed":
                assert "sigmoid is not allowed here" in attrs["error"]
        best = max((t for t in run.trials if t["fitness"] is not None), key=lambda t: t["fitness"])
        study = optuna.load_study(study_name="run", storage=storage)
        assert study.best_value == pytest.approx(best["fitness"])
        assert study.user_attrs["fixed"] == {"opt": "adam"}

    again = CliRunner().invoke(main, ["export", str(tmp_path / "run"), "--optuna", storage])
    assert again.output.strip() == "optuna: 0 new trials"
    natsel.evolve(natsel.load_config(cfg).override(generations=4), tmp_path / "run", resume=True, progress=False)
    more = CliRunner().invoke(main, ["export", str(tmp_path / "run"), "--optuna", storage])
    assert more.output.strip() == "optuna: 10 new trials"
    assert len(optuna.load_study(study_name="run", storage=storage).trials) == 40


def test_reduced_budgets_are_pruned_trials_with_their_budget_as_step(write_config, tmp_path):
    """Issue 30: with successive halving, a rung below the full budget is a PRUNED trial whose score is an
    intermediate value at its epochs; full-budget trials are COMPLETE, so the study's best is a full one."""
    cfg = write_config("""
        seed: 0
        fitness: helpers:budgeted_mixed
        workers: 0
        training: {max_epochs: 9}
        fidelity: {resource: epochs, minimum: 1, eta: 3}
        evolution: {population: 9, generations: 2}
        space:
          activation: [relu, elu, tanh]
          batch_size: [32, 64]
          layers: {low: 1, high: 8}
          learning_rate: {low: 1e-4, high: 1e-1, log: true}
        """)
    run = natsel.evolve(cfg, tmp_path / "run", progress=False)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    assert natsel.export(tmp_path / "run", optuna=storage) == {"optuna": len(run.trials)}
    study = optuna.load_study(study_name="run", storage=storage)
    by_id = {t.user_attrs["natsel_trial"]: t for t in study.trials}
    for t in run.trials:
        o = by_id[t["id"]]
        if t["budget"] == "full":
            assert o.state == optuna.trial.TrialState.COMPLETE and o.value == pytest.approx(t["fitness"])
        elif t["status"] == "ok":
            epochs = int(t["budget"].split("=")[1])
            assert o.state == optuna.trial.TrialState.PRUNED
            assert o.intermediate_values == {epochs: pytest.approx(t["fitness"])}
    assert study.best_value == pytest.approx(run.best["fitness"])


def test_a_running_search_appears_in_optuna_dashboard_trial_by_trial(write_config, tmp_path):
    """Issue 30: with `tracking: {optuna: URL}`, a running search is on the dashboard before it ends: the
    search is held after 12 trials, the dashboard serves those 12 while it is held (run.json says
    running); released, the run ends with every trial in the study."""
    storage = f"sqlite:///{tmp_path / 'live.db'}"
    cfg = tracked_config(write_config, tracking=f"tracking: {{optuna: '{storage}', study: live}}\n")
    optuna.storages.RDBStorage(storage)  # the storage exists (as one optuna-dashboard opens does); SQLite cannot
    # have two processes make its tables at once
    release = tmp_path / "release"
    env = {**os.environ, "NATSEL_TEST_GATE_AFTER": "12", "NATSEL_TEST_RELEASE": str(release),
           "PYTHONPATH": os.pathsep.join([str(Path(natsel.__file__).parent.parent), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "natsel", "evolve", str(cfg), "--run-dir", str(tmp_path / "run"),
                             "-q"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with dashboard(storage) as base:
            deadline, seen = time.monotonic() + 120, []
            while time.monotonic() < deadline and len(seen) < 12 and proc.poll() is None:
                seen = dashboard_trials(base, "live")
                time.sleep(0.1)
            assert len(seen) == 12, (len(seen), proc.poll())
            assert proc.poll() is None  # still held: the 13th trial waits for the release file
            assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "running"
            release.touch()
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert "tracking" not in err
            run = natsel.load_run(tmp_path / "run")
            deadline, served = time.monotonic() + 30, []  # the dashboard caches a study's trials for 2-10 s
            while time.monotonic() < deadline and len(served) < 30:
                served = dashboard_trials(base, "live")
                time.sleep(0.2)
            assert len(served) == len(run.trials) == 30
            assert sorted(int(next(a["value"] for a in t["user_attrs"] if a["key"] == "natsel_trial"))
                          for t in served) == [t["id"] for t in run.trials]
    finally:
        release.touch()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def trial_table(run) -> list[tuple]:
    return [(t["id"], t["key"], t["status"], None if t["fitness"] is None else round(t["fitness"], 12))
            for t in run.trials]


@pytest.mark.parametrize("tracking", [
    "tracking: {optuna: 'postgresql://127.0.0.1:1/nowhere', timeout: 5}",
    "tracking: {optuna: 'sqlite:///no/such/folder/study.db', timeout: 5}",
])
def test_an_unreachable_tracker_warns_once_and_the_run_is_the_same(write_config, tmp_path, tracking,
                                                                  plain_tracked_trials):
    """Issue 30: a tracker that cannot be reached: exit 0, one warning line, the same trials as a run
    without tracking."""
    cfg = tracked_config(write_config, tracking=tracking + "\n", name="tracked.yaml")
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "natsel", "evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(Path(natsel.__file__).parent.parent)})
    assert res.returncode == 0, res.stderr
    warnings = [line for line in res.stderr.splitlines() if "tracking" in line]
    assert len(warnings) == 1 and warnings[0].startswith("natsel: warning: tracking to optuna"), res.stderr
    assert "natsel export" in warnings[0]
    assert trial_table(natsel.load_run(tmp_path / "run")) == plain_tracked_trials
    assert time.monotonic() - t0 < 60


def test_tracking_is_not_part_of_the_search_so_a_resume_may_add_it(write_config, tmp_path):
    """Issue 30: a run started without tracking resumes with it; the resume sends the earlier trials too."""
    natsel.evolve(tracked_config(write_config, generations=2), tmp_path / "run", progress=False)
    storage = f"sqlite:///{tmp_path / 'later.db'}"
    cfg = tracked_config(write_config, generations=3, tracking=f"tracking: {{optuna: '{storage}'}}\n")
    run = natsel.evolve(cfg, tmp_path / "run", resume=True, progress=False)
    study = optuna.load_study(study_name="run", storage=storage)
    assert sorted(t.user_attrs["natsel_trial"] for t in study.trials) == [t["id"] for t in run.trials]


@pytest.mark.parametrize("section, line", [
    ("tracking: {optuna: study.db}", "tracking.optuna must be an Optuna storage URL"),
    ("tracking: {study: x}", "tracking.study names the Optuna study; it needs tracking.optuna"),
    ("tracking: {optuna: 'sqlite:///a.db', timeout: 0}", "'timeout' must be > 0"),
    ("tracking: {optuna: 'sqlite:///a.db', dashboard: yes}", "unknown key 'dashboard' in 'tracking'"),
    ("tracking: {}", "tracking needs 'optuna: STORAGE_URL' or 'mlflow: TRACKING_URI'"),
])
def test_a_bad_tracking_section_is_one_line(write_config, tmp_path, section, line):
    """Issue 30: `tracking:` is validated with the rest of the config: one line, exit 2, nothing written."""
    cfg = tracked_config(write_config, tracking=section + "\n")
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run")])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {cfg}:") and line in lines[0], res.output
    assert not (tmp_path / "run").exists()


def test_natsel_does_not_import_the_trackers_tools_unless_asked():
    """Issue 30: `import natsel`, the CLI and its help import neither optuna nor mlflow."""
    code = ("import sys, natsel, natsel.cli, natsel.tracking; from click.testing import CliRunner; "
            "CliRunner().invoke(natsel.cli.main, ['--help']); CliRunner().invoke(natsel.cli.main, ['export', '--help']);"
            "print(sorted(m for m in ('optuna', 'mlflow', 'optuna_dashboard') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr

