"""Objectives and constraints on Keras searches (issue 29): the names the family reports, the
worker's reported values, and which front member train-best trains."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

import natsel
from natsel.cli import main

GOAL = """
name: mo
seed: 0
data: {{source: digits}}
{goal}
training: {{max_epochs: 2, patience: 0, max_training_time: 60}}
evolution: {{population: 10, generations: 1}}
strategy: random
workers: 1
space:
  neurons0: [8, 16, 32, 64, 128]
  learning_rate: [0.001, 0.01]
"""
TWO = "objectives: {val_accuracy: maximize, params: minimize}\nconstraints: {params: {max: 5000}}"


def invalid(write_config, goal: str, task: str = "auto") -> str:
    """The one-line error of a config with this goal (no TensorFlow: validation only)."""
    path = write_config(GOAL.format(goal=goal).replace("patience: 0,", f"patience: 0, task: {task},"))
    with pytest.raises(natsel.ConfigError) as err:
        natsel.load_config(path)
    assert "\n" not in str(err.value)
    return str(err.value).replace(f"{path.parent}/", "")


def test_goal_names_must_be_values_the_keras_family_reports(write_config):
    assert invalid(write_config, "objectives: {accuracy: maximize, params: minimize}") == (
        "config.yaml:4: objective 'accuracy' is not a value the keras objective reports (validation scores are named "
        "val_<score>: val_accuracy); use one of val_accuracy, val_auc, val_f1, val_loss, val_mae, val_mse, val_r2, "
        "params, latency_ms, train_seconds")
    assert invalid(write_config, "constraints: {flops: {max: 3}}").startswith(
        "config.yaml:4: constraint 'flops' is not a value the keras objective reports; use one of val_accuracy")
    # a score whose direction contradicts it would keep the worst networks
    assert invalid(write_config, "objectives: {val_loss: maximize, params: minimize}") == (
        "config.yaml:4: objective 'val_loss': maximize contradicts the score (smaller is better); use minimize")
    assert "val_accuracy': minimize contradicts" in invalid(write_config,
                                                             "objectives: {params: minimize, val_accuracy: minimize}")
    # a task given in the config narrows the scores at once
    msg = invalid(write_config, "objectives: {val_accuracy: maximize, params: minimize}", task="regression")
    assert "for regression; use one of val_loss, val_mse, val_mae, val_r2, params" in msg
    # measures and odd-but-legal directions are fine; so is a single objective with constraints
    natsel.load_config(write_config(GOAL.format(
        goal="objectives: {val_f1: maximize, latency_ms: minimize, params: maximize, train_seconds: minimize}")))
    natsel.load_config(write_config(GOAL.format(goal="constraints: {latency_ms: {max: 2}, val_loss: {max: 1}}")))


def test_a_score_that_does_not_fit_the_datas_task_is_refused_once_it_is_loaded(write_config):
    from natsel.objectives.keras import KerasFamily

    cfg = natsel.load_config(write_config(GOAL.format(goal="objectives: {val_mae: minimize, params: minimize}")))
    with pytest.raises(natsel.ConfigError) as err:  # training.task auto: digits turn out to be classification
        KerasFamily.prepare(cfg)
    assert str(err.value).replace(f"{cfg.base_dir}/", "").startswith("config.yaml:4: objective 'val_mae' is not a value the keras objective reports "
                                     "for multiclass classification; use one of val_accuracy, val_f1")


def test_only_a_goal_puts_report_into_the_spec_so_plain_runs_keep_their_cache_scope(write_config):
    from natsel._rundir import cache_scope
    from natsel.objectives.keras import KerasFamily

    plain = natsel.load_config(write_config(GOAL.format(goal=""), "plain.yaml"))
    prepared = KerasFamily.prepare(plain)
    assert "report" not in prepared.spec
    mo = natsel.load_config(write_config(GOAL.format(goal=TWO.replace("}}", "}, latency_ms: {max: 5}}")), "mo.yaml"))
    mo_prepared = KerasFamily.prepare(mo)
    assert mo_prepared.spec["report"] == ["val_accuracy", "params", "latency_ms"]
    assert cache_scope(plain, prepared) != cache_scope(mo, mo_prepared)
    assert {k: v for k, v in mo_prepared.spec.items() if k != "report"} == prepared.spec


def fake_values(genome: dict) -> dict:
    """A trade-off: more neurons, more accurate and larger; a learning rate of 0.01 is better."""
    n = genome["neurons0"]
    acc = 0.5 + 0.08 * math.log2(n / 8) + (0.05 if genome["learning_rate"] == 0.01 else 0.0)
    return {"accuracy": acc, "val_accuracy": acc, "params": n * 100 + 10}


def fake_run(write_config, tmp_path, monkeypatch, goal: str = TWO):
    """A Keras run folder made without TensorFlow (the executor is replaced)."""
    import natsel._evolve as ev
    from natsel.executors import Executor, Result

    class Fake(Executor):
        def run(self, tasks):
            for t in tasks:
                v = fake_values(t.genome)
                yield Result(t.trial_id, "ok", v["accuracy"], v, 1.0)

    monkeypatch.setattr(ev, "make_executor", lambda cfg, spec, payload: Fake())
    natsel.evolve(natsel.load_config(write_config(GOAL.format(goal=goal))), tmp_path / "run", progress=False)
    monkeypatch.undo()
    return tmp_path / "run"


def test_pick_chooses_a_feasible_front_member(write_config, tmp_path, monkeypatch):
    run = natsel.load_run(fake_run(write_config, tmp_path, monkeypatch))
    assert len(run.trials) == 10
    # params <= 5000: 8, 16, 32 neurons (810, 1610, 3210 params); with lr 0.01, which beats 0.001
    front = {(t["genome"]["neurons0"], t["genome"]["learning_rate"]) for t in run.front()}
    assert front == {(8, 0.01), (16, 0.01), (32, 0.01)}
    assert run.pick()["genome"] == {"neurons0": 32, "learning_rate": 0.01} and run.pick()["id"] == run.best["id"]
    assert run.pick("params")["genome"] == {"neurons0": 8, "learning_rate": 0.01}
    knee = run.pick("knee")
    assert knee["genome"] == {"neurons0": 16, "learning_rate": 0.01} and knee["feasible"] and knee["pick"] == "knee"
    assert knee["values"] == {"val_accuracy": pytest.approx(0.63), "params": 1610}


def train_best_cli(*args):
    return CliRunner().invoke(main, ["train-best", *map(str, args)])


def test_train_best_picks_are_one_line_errors_before_any_training(write_config, tmp_path, monkeypatch):
    run = fake_run(write_config, tmp_path, monkeypatch)
    res = train_best_cli(run, "--pick", "accuracy")
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: --pick accuracy: not an objective of {run} (pick knee or one of " \
                                 "val_accuracy, params)"
    res = train_best_cli(run, "--pick", "knee", "--trial", "1")
    assert res.exit_code == 2 and res.stderr.strip() == "error: --trial and --pick both choose the trial to train: give one"
    assert not (run / "best_model.keras").exists()


def test_train_best_refuses_a_run_with_no_feasible_trial(write_config, tmp_path, monkeypatch):
    goal = "objectives: {val_accuracy: maximize, params: minimize}\nconstraints: {params: {max: 100}}"
    run = fake_run(write_config, tmp_path, monkeypatch, goal)
    for extra in ([], ["--pick", "knee"], ["--pick", "params"]):
        res = train_best_cli(run, *extra)
        assert res.exit_code == 2
        assert res.stderr.strip() == (f"error: {run} has no feasible trial (none has params <= 100); "
                                      "--trial ID trains one anyway")
    # a single objective with a constraint: the least infeasible trial is not trained either
    (tmp_path / "run").rename(tmp_path / "first")
    run = fake_run(write_config, tmp_path, monkeypatch, "constraints: {params: {max: 100}}")
    res = train_best_cli(run)
    assert res.exit_code == 2 and "has no feasible trial (none has params <= 100)" in res.stderr
    res = train_best_cli(run, "--pick", "knee")
    assert res.exit_code == 2 and res.stderr.strip() == f"error: --pick chooses among several objectives; {run} " \
                                                        "optimises one (accuracy)"


def test_goal_report_holds_each_objective_and_constraint():
    from natsel._train_best import goal_report
    from natsel._trial import Goal

    goal = Goal.from_json({"objectives": {"val_accuracy": "maximize", "params": "minimize"},
                           "constraints": {"params": {"max": 5000}, "latency_ms": {"max": 1.0}}})
    chosen = {"fitness": 0.9, "metrics": {"val_accuracy": 0.9, "params": 1210, "latency_ms": 0.5},
              "pick": "knee", "feasible": True}
    info = {"validation": {"accuracy": 0.95, "loss": 0.2}, "test": {"accuracy": 0.93, "loss": 0.3},
            "measured": {"params": 1210, "latency_ms": 1.5, "latency_rows": 32, "train_seconds": 3.0}}
    out = goal_report(goal, "accuracy", chosen, info)
    assert out["objectives"] == {
        "val_accuracy": {"direction": "maximize", "validation": 0.95, "test": 0.93, "search": 0.9},
        "params": {"direction": "minimize", "value": 1210, "search": 1210}}
    assert out["constraints"]["params"] == {"max": 5000, "value": 1210, "search": 1210, "met": True}
    assert out["constraints"]["latency_ms"] == {"max": 1.0, "value": 1.5, "rows": 32, "search": 0.5, "met": False}
    json.dumps(out)


IRIS = """
name: {name}
seed: 0
data: {{source: iris}}
{goal}
training: {{max_epochs: 2, patience: 0, max_training_time: 60}}
evolution: {{population: 3, generations: 1}}
strategy: random
workers: 1
space:
  neurons0: [4, 16, 64]
  learning_rate: 0.01
"""
#: trainable parameters of iris networks (4 inputs, 3 classes) with one hidden layer of n units
IRIS_PARAMS = {4: 4 * 4 + 4 + 4 * 3 + 3, 16: 4 * 16 + 16 + 16 * 3 + 3, 64: 4 * 64 + 64 + 64 * 3 + 3}


@pytest.fixture(scope="module")
def keras_runs(tmp_path_factory):
    """One multi-objective Keras run (params <= 500 rules out the 64-unit network: 515 parameters)
    and one plain run, on iris, 2 epochs each."""
    root = tmp_path_factory.mktemp("goal")
    goal = ("objectives: {val_accuracy: maximize, params: minimize}\n"
            "constraints: {params: {max: 500}, latency_ms: {max: 100000}}")
    out = {}
    for name, text in (("mo", goal), ("plain", "")):
        (root / f"{name}.yaml").write_text(IRIS.format(name=name, goal=text))
        res = CliRunner().invoke(main, ["evolve", str(root / f"{name}.yaml"), "--run-dir", str(root / name), "-q"])
        assert res.exit_code == 0, res.output
        out[name] = natsel.load_run(root / name)
    return out


@pytest.mark.keras
def test_keras_trials_report_what_the_goal_names_and_rank_by_it(keras_runs):
    run = keras_runs["mo"]
    assert [t["status"] for t in run.trials] == ["ok"] * 3
    by_units = {t["genome"]["neurons0"]: t for t in run.trials}
    assert sorted(by_units) == [4, 16, 64]
    for units, t in by_units.items():
        m = t["metrics"]
        assert m["params"] == IRIS_PARAMS[units]  # the trained network's trainable parameters
        assert m["val_accuracy"] == m["accuracy"] == t["fitness"]  # the first objective is the fitness
        assert {"val_loss", "val_f1", "val_auc"} <= set(m)
        assert 0 < m["latency_ms"] < 10_000 and m["latency_rows"] == 30  # iris has 30 validation rows (< 32)
    # the constraint: the 64-unit network (515 parameters) is infeasible, ranked after the feasible ones
    assert not run.goal.feasible(by_units[64]) and run.goal.feasible(by_units[4]) and run.goal.feasible(by_units[16])
    assert run.leaderboard()[-1]["id"] == by_units[64]["id"]
    front = {t["id"] for t in run.front()}
    assert by_units[4]["id"] in front and by_units[64]["id"] not in front  # the smallest is never dominated
    assert run.best["id"] in front and run.best["fitness"] == max(t["fitness"] for t in run.front())


@pytest.mark.keras
def test_a_plain_keras_runs_metrics_are_unchanged(keras_runs):
    for t in keras_runs["plain"].trials:
        assert t["status"] == "ok"
        assert set(t["metrics"]) - {"early_stopped"} == {"accuracy", "f1", "auc", "loss", "epochs", "train_seconds",
                                                         "rss_mb"}
    assert "goal" not in keras_runs["plain"].meta


@pytest.mark.keras
def test_train_best_pick_knee_trains_a_front_member_and_reports_each_objective(keras_runs, tmp_path):
    run = keras_runs["mo"]
    res = CliRunner().invoke(main, ["train-best", str(run.path), "--pick", "knee", "--epochs", "2", "-q",
                                    "--out", str(tmp_path / "tb")])
    assert res.exit_code == 0, res.output
    info = json.loads((tmp_path / "tb" / "train_best.json").read_text())
    picked = next(t for t in run.trials if t["id"] == info["trial"])
    assert info["trial"] in {t["id"] for t in run.front()} and info["pick"] == "knee"
    acc, params = info["objectives"]["val_accuracy"], info["objectives"]["params"]
    assert acc["direction"] == "maximize" and acc["search"] == picked["fitness"]
    assert acc["validation"] == info["validation"]["accuracy"] and acc["test"] == info["test"]["accuracy"]
    assert params["value"] == params["search"] == IRIS_PARAMS[picked["genome"]["neurons0"]]  # the same network
    assert info["constraints"]["params"]["met"] and info["constraints"]["latency_ms"]["value"] > 0
    assert "objective  val_accuracy maximize  validation" in res.output
    assert f"constraint params       <= 500  {params['value']:,}  (search {params['value']:,})  met" in res.output
