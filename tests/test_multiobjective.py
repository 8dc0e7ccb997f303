"""Several objectives and constraints (issue 29): the Pareto arithmetic, the goal's order, config,
runs end to end (determinism, resume after kill -9 mid-rung, no retraining), show and plots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner

import natsel
from natsel._pareto import crowding, dominates, fronts, hypervolume, knee, nondominated
from natsel._trial import Bound, Direction, Goal, Result, settle
from natsel.cli import main

MO = """
name: mo
seed: {seed}
fitness: helpers:budgeted_pair
workers: {workers}
objectives: {{score: maximize, size: minimize}}
{extra}
space:
  activation: [relu, elu, tanh, sigmoid]
  batch_size: [16, 32, 64, 128]
  layers: {{low: 1, high: 8}}
  learning_rate: {{low: 1e-4, high: 1e-1, log: true}}
"""
RUNGS = "training: {max_epochs: 9}\nfidelity: {resource: epochs, minimum: 1, eta: 3}\nevolution: {population: 9, generations: 3}"


def mo_config(write_config, seed=0, workers=0, extra="stop: {max_trials: 40}", name="config.yaml"):
    return write_config(MO.format(seed=seed, workers=workers, extra=extra), name)


def table(run):
    return [(t["generation"], t["slot"], t["key"], t["budget"], t["status"], t["fitness"],
             json.dumps(t["metrics"], sort_keys=True)) for t in run.trials]


def row(i, values, metrics=None):
    """A trial row with objective values ``a`` and ``b`` (and more metrics)."""
    return {"id": i, "fitness": values[0], "metrics": {"a": values[0], "b": values[1], **(metrics or {})}}


# -- the arithmetic -----------------------------------------------------------------------------
def test_fronts_sort_points_by_domination_larger_is_better():
    pts = np.array([[1, 1], [2, 0], [0, 2], [0.5, 0.5], [2, 2], [0, 0]])
    assert fronts(pts) == [[4], [0, 1, 2], [3], [5]]
    assert nondominated(pts) == [4] and nondominated(pts[[0, 1, 2, 3]]) == [0, 1, 2]
    assert dominates([2, 2], [1, 2]) and not dominates([1, 2], [1, 2]) and not dominates([2, 0], [0, 2])


def test_crowding_gives_the_extremes_infinity_and_the_crowded_middle_less():
    d = crowding(np.array([[0.0, 1.0], [0.1, 0.9], [0.5, 0.5], [1.0, 0.0]]))
    assert np.isinf(d[0]) and np.isinf(d[3]) and d[2] > d[1] > 0


def test_hypervolume_matches_hand_computed_areas_and_volumes():
    # minimisation; reference (1, 1): three steps of a staircase
    assert hypervolume(np.array([[0.2, 0.6], [0.5, 0.3], [0.8, 0.1]]), [1, 1]) == pytest.approx(
        0.8 * 0.4 + 0.5 * 0.3 + 0.2 * 0.2)
    assert hypervolume(np.array([[2.0, 0.0]]), [1, 1]) == 0.0  # beyond the reference: counts nothing
    # 3-D: two boxes that overlap in [0.5,1]x[0.5,1]x[0.5,1]
    assert hypervolume(np.array([[0, 0.5, 0.5], [0.5, 0.5, 0]]), [1, 1, 1]) == pytest.approx(0.25 + 0.25 - 0.125)


def test_hypervolume_agrees_with_optuna_on_random_fronts():
    hv = pytest.importorskip("optuna._hypervolume")
    rng = np.random.default_rng(0)
    for m in (2, 3, 4):
        p = rng.random((30, m))
        assert hypervolume(p, [1.1] * m) == pytest.approx(hv.compute_hypervolume(p, np.full(m, 1.1)), rel=1e-9)


def test_the_knee_is_the_front_point_farthest_below_the_line_through_its_extremes():
    front = np.array([[1.0, 0.0], [0.9, 0.8], [0.5, 0.9], [0.0, 1.0]])  # oriented: larger is better
    assert knee(front) == 1


# -- the goal's order ---------------------------------------------------------------------------
def test_constrained_domination_puts_feasible_first_then_the_least_infeasible():
    goal = Goal((("a", Direction(True)), ("b", Direction(False))), (("mem", Bound(high=10.0)),))
    rows = [row(0, (0.9, 1.0), {"mem": 50}),  # best values, far over the bound
            row(1, (0.5, 5.0), {"mem": 5}),
            row(2, (0.8, 2.0), {"mem": 12}),  # 20% over
            row(3, (0.6, 4.0), {"mem": 9}),
            {"id": 4, "fitness": None, "metrics": {}}]
    assert goal.order(rows) == [3, 1, 2, 0, 4]  # 3 dominates 1; then infeasible by how far they miss
    assert goal.front(rows) == [3]
    assert goal.best(rows) == 3
    assert goal.scores(rows)[4] is None and goal.scores(rows)[3] > goal.scores(rows)[2]


def test_a_single_objective_with_a_constraint_never_prefers_an_infeasible_trial():
    goal = Goal((("fitness", Direction(True)),), (("params", Bound(high=100.0)),))
    rows = [{"id": 0, "fitness": 0.99, "metrics": {"params": 500}}, {"id": 1, "fitness": 0.7, "metrics": {"params": 90}}]
    assert goal.best(rows) == 1
    best = natsel._run._best_row(rows, goal)  # what best.json and train-best use
    assert best is not None and best["id"] == 1


def test_a_plain_goal_orders_exactly_as_the_direction_does():
    rng = np.random.default_rng(1)
    rows = [{"id": i, "fitness": float(v) if v < 0.9 else None, "metrics": {}} for i, v in enumerate(rng.random(40))]
    rows += [{"id": 40, "fitness": rows[3]["fitness"], "metrics": {}}]  # a tie: the earlier row first
    for maximize in (True, False):
        d = Direction(maximize)
        expected = sorted(range(len(rows)), key=lambda i: (*d.sort_key(rows[i]["fitness"]), i))
        assert Goal.single(maximize).order(rows) == expected


def test_settle_fails_a_result_that_lacks_a_needed_value_and_sets_the_first_objective_as_fitness():
    goal = Goal((("a", Direction(True)), ("b", Direction(False))), (("mem", Bound(high=1.0)),))
    ok = settle(Result(1, "ok", 7.0, {"a": 0.5, "b": 2.0, "mem": 0.3}), goal)
    assert ok.status == "ok" and ok.fitness == 0.5
    bad = settle(Result(2, "ok", 7.0, {"a": 0.5, "b": 2.0}), goal)
    assert bad.status == "failed" and bad.fitness is None and "'mem' was not reported" in bad.error
    plain = settle(Result(3, "ok", 7.0, {}), Goal.single())
    assert plain.status == "ok" and plain.fitness == 7.0


# -- config -------------------------------------------------------------------------------------
@pytest.mark.parametrize("extra, line_no, what", [
    ("direction: maximize", 6, "'direction' is for a single objective"),
    ("stop: {target: 0.9}", 6, "stop target compares one fitness; with several objectives it is not defined"),
    ("strategy: pso", 5, "the pso strategy optimises one fitness"),
    ("constraints: {size: {max: 1, min: 2}}", 6, "constraint 'size': min 2 is above max 1"),
    ("constraints: {size: {below: 3}}", 6, "below"),
])
def test_what_several_objectives_rule_out_is_one_line_naming_the_key(write_config, extra, line_no, what):
    cfg = mo_config(write_config, extra=extra + "\nstop: {max_trials: 5}" if "stop" not in extra else extra)
    res = CliRunner().invoke(main, ["evolve", str(cfg)])
    assert res.exit_code == 2, res.output
    line = res.output.strip()
    assert "\n" not in line and f"config.yaml:{line_no}:" in line and what in line, line


def test_one_objective_under_objectives_is_refused(write_config):
    cfg = write_config("fitness: helpers:budgeted_pair\nobjectives: {score: maximize}\nspace: {layers: {low: 1, high: 3}}\n")
    with pytest.raises(natsel.ConfigError, match="two or more"):
        natsel.load_config(cfg)


# -- runs ---------------------------------------------------------------------------------------
def test_a_two_objective_run_finds_a_front_that_nothing_feasible_dominates(write_config, tmp_path):
    run = natsel.evolve(mo_config(write_config, extra="constraints: {memory: {max: 256}}\nstop: {max_trials: 40}"),
                        tmp_path / "run", progress=False)
    goal = run.goal
    assert goal.multi and goal.names == ["score", "size"]
    done = [t for t in run.trials if t["status"] == "ok"]
    assert len(done) == 40
    assert all(t["fitness"] == t["metrics"]["score"] for t in done)  # the stored fitness is the first objective
    front = run.front()
    assert front and all(t["metrics"]["memory"] <= 256 for t in front)
    feasible = [t for t in done if t["metrics"]["memory"] <= 256]
    for f in front:
        assert not any(dominates(goal.oriented(t), goal.oriented(f)) for t in feasible)
    assert {t["id"] for t in front} == {t["id"] for t in feasible if not any(
        dominates(goal.oriented(o), goal.oriented(t)) for o in feasible)}
    hv = [h["hypervolume"] for h in run.history]
    assert hv == sorted(hv) and hv[-1] > 0  # the front so far only grows
    assert run.best["feasible"] and run.best["id"] in {t["id"] for t in front}


def test_several_objectives_are_deterministic_whatever_the_workers(write_config, tmp_path):
    a = natsel.evolve(mo_config(write_config), tmp_path / "a", progress=False)
    b = natsel.evolve(mo_config(write_config, workers=2, name="b.yaml"), tmp_path / "b", progress=False)
    assert table(a) == table(b)


def test_a_value_the_fitness_does_not_report_fails_the_trial_with_its_name(write_config, tmp_path, monkeypatch):
    monkeypatch.setenv("NATSEL_TEST_DROP", "size")
    cfg = mo_config(write_config, extra="stop: {max_trials: 3}")
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 3
    assert "the objectives are score, size" in res.output and "no 'size'" in res.output


def test_rungs_promote_by_non_dominated_rank_and_resume_after_kill_9_mid_rung(write_config, tmp_path):
    """Successive halving with two objectives (MO-ASHA): each rung promotes the first ``n // eta`` of the
    goal's order among the trials at that budget so far; a run killed mid-rung and resumed equals one
    never killed, and no (genome, budget) is evaluated twice but the one the kill cut short."""
    cfg = mo_config(write_config, extra=RUNGS)
    log = tmp_path / "calls.log"

    def cli(*args, **env):
        return subprocess.run([sys.executable, "-m", "natsel", *args, "-q"], capture_output=True, text=True,
                              timeout=300, env={**os.environ, "NATSEL_TEST_LOG": str(log), **env})

    assert cli("evolve", str(cfg), "--run-dir", str(tmp_path / "run"), NATSEL_TEST_KILL_AFTER="14").returncode == -9
    assert any(t["status"] == "pending" for t in natsel.load_run(tmp_path / "run").trials)
    assert cli("evolve", str(cfg), "--run-dir", str(tmp_path / "run")).returncode == 0
    resumed = natsel.load_run(tmp_path / "run")
    calls = log.read_text().split()
    twice = [c for c, n in Counter(calls).items() if n > 1]
    assert twice == [calls[13]]  # only the evaluation the kill cut short ran again
    log.unlink()
    assert cli("evolve", str(cfg), "--run-dir", str(tmp_path / "straight")).returncode == 0
    assert table(resumed) == table(natsel.load_run(tmp_path / "straight"))
    goal = resumed.goal
    for g in range(3):
        rows = [t for t in resumed.trials if t["generation"] == g]
        assert Counter(t["budget"] for t in rows) == {"epochs=1": 9, "epochs=3": 3, "full": 1}
        for low, high in (("epochs=1", "epochs=3"), ("epochs=3", "full")):
            below = sorted((t for t in rows if t["budget"] == low), key=lambda t: t["slot"])
            earlier = [t for t in resumed.trials if t["generation"] < g and t["budget"] == low]
            keep = [below[i]["key"] for i in goal.order(below, among=earlier)][: len(below) // 3]
            assert {t["key"] for t in rows if t["budget"] == high} == set(keep)


def test_a_rung_promotes_what_earlier_generations_do_not_already_beat_at_its_budget():
    """With several objectives a rung ranks its trials among the earlier generations' trials at the
    same budget (ASHA's rung holds every trial that reached it): within the generation alone, the
    extremes of its front go first (infinite crowding); a genome an earlier one beats at that budget
    goes after one nothing beats. One objective promotes the same with or without the earlier rows."""
    from natsel._evolve import next_rung

    goal = Goal((("a", Direction(True)), ("b", Direction(False))))

    def rung(i, values, budget="epochs=1", generation=1):
        return {**row(i, values), "key": f"k{i}", "slot": i, "budget": budget, "status": "ok", "generation": generation}

    rows = [rung(0, (0.9, 90)), rung(1, (0.5, 10)), rung(2, (0.7, 30))]  # one front: 0 and 1 are its extremes
    rungs = ["epochs=1", "full"]
    assert [r["key"] for r in next_rung(rows, rungs, 3, goal)[1]] == ["k0"]
    earlier = [rung(7, (0.95, 80), generation=0), rung(8, (0.2, 5), generation=0)]  # beats k0, not k1 or k2
    budget, promoted = next_rung(rows, rungs, 3, goal, lambda b: earlier if b == "epochs=1" else [])
    assert budget == "full" and [r["key"] for r in promoted] == ["k2"]  # the least crowded in the union's front
    assert [rows[i]["key"] for i in goal.order(rows, among=earlier)] == ["k2", "k1", "k0"]  # k0: in its 2nd front
    single = Goal.single()
    assert next_rung(rows, rungs, 3, single, lambda b: earlier)[1] == next_rung(rows, rungs, 3, single)[1]


def test_show_pareto_lists_the_front_with_each_objective_and_plot_draws_it(write_config, tmp_path):
    run = natsel.evolve(mo_config(write_config), tmp_path / "run", progress=False)
    out = CliRunner().invoke(main, ["show", str(tmp_path / "run"), "--pareto", "--json"])
    assert out.exit_code == 0
    shown = json.loads(out.output)
    assert [t["id"] for t in shown] == [t["id"] for t in run.front()]
    assert all(set(t["values"]) == {"score", "size"} and t["values"]["size"] == t["metrics"]["size"] for t in shown)
    text = CliRunner().invoke(main, ["show", str(tmp_path / "run"), "--pareto"]).output
    assert "objectives=score:max,size:min" in text and " score " in text.splitlines()[1]
    assert f"the Pareto front: {len(shown)} of" in text
    from natsel._plot import fig_front, front_points

    d = front_points(run)
    assert sum(d["front"]) == len(shown)
    fig = fig_front(run)
    line = [ln for ln in fig.axes[0].lines if ln.get_label() == "Pareto front"][0]
    assert sorted(line.get_xdata()) == sorted(t["values"]["score"] for t in shown)
    assert CliRunner().invoke(main, ["plot", str(tmp_path / "run")]).exit_code == 0
    assert (tmp_path / "run" / "plots" / "front.png").is_file()
    assert (tmp_path / "run" / "plots" / "hypervolume.png").is_file()


def test_a_single_objective_run_keeps_its_keys(write_config, tmp_path):
    cfg = write_config("fitness: helpers:mixed\nworkers: 0\nstop: {max_trials: 12}\nspace:\n"
                       "  activation: [relu, elu]\n  layers: {low: 1, high: 8}\n  batch_size: [16, 32]\n"
                       "  learning_rate: {low: 1e-4, high: 1e-1, log: true}\n")
    natsel.evolve(cfg, tmp_path / "run", progress=False)
    shown = json.loads(CliRunner().invoke(main, ["show", str(tmp_path / "run"), "--json"]).output)
    assert set(shown[0]) == {"rank", "id", "generation", "fitness", "status", "seconds", "genome", "metrics", "error"}
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert not {"hypervolume", "front", "feasible"} & set(history[0])
    assert "goal" not in json.loads((tmp_path / "run" / "run.json").read_text())


def test_the_optuna_tracker_mirrors_a_multi_objective_run_as_a_multi_objective_study(write_config, tmp_path):
    optuna = pytest.importorskip("optuna")
    extra = "constraints: {memory: {max: 256}}\nstop: {max_trials: 30}\ntracking: {optuna: sqlite:///study.db, study: mo}"
    run = natsel.evolve(mo_config(write_config, extra=extra), tmp_path / "run", progress=False)
    study = optuna.load_study(study_name="mo", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"] and study.metric_names == ["score", "size"]
    assert len(study.trials) == len(run.trials)
    # Optuna's own front (it reads the constraints attribute) is natsel's
    assert {t.user_attrs["natsel_trial"] for t in study.best_trials} == {t["id"] for t in run.front()}
    by_id = {t["id"]: t for t in run.trials}
    for t in study.trials:
        row = by_id[t.user_attrs["natsel_trial"]]
        assert t.values == [row["metrics"]["score"], row["metrics"]["size"]]
        assert (t.system_attrs["constraints"][0] <= 0) == (row["metrics"]["memory"] <= 256)


def test_the_models_targets_keep_the_front_apart_when_a_few_trials_are_very_bad():
    """Objectives that span orders of magnitude (COCO's): scaled by the front's spread and log-compressed,
    the front's targets stay apart; scaled by every trial's range they were squeezed together."""
    from natsel.strategies.surrogate import goal_targets

    goal = Goal((("a", Direction(False)), ("b", Direction(False))))
    rows = [row(i, v) for i, v in enumerate([(0.0, 1.0), (0.5, 0.5), (1.0, 0.0), (1e6, 1e6), (2.0, 3.0)])]
    front = goal_targets(goal, rows)[:3, :2]
    assert np.ptp(front[:, 0]) > 0.5 and np.ptp(front[:, 1]) > 0.5
    assert np.ptp(goal_targets(goal, rows, "range")[:3, :2]) < 1e-5
    assert (goal_targets(goal, rows)[:, 2] == 0).all()  # no constraint: no violation column entry


def test_the_leaderboard_lists_front_by_front_best_first_on_the_first_objective(write_config, tmp_path):
    run = natsel.evolve(mo_config(write_config), tmp_path / "run", progress=False)
    board = run.leaderboard()
    front = {t["id"] for t in run.front()}
    assert board[0]["id"] == run.best["id"]
    head = board[: len(front)]
    assert {t["id"] for t in head} == front
    assert [t["metrics"]["score"] for t in head] == sorted((t["metrics"]["score"] for t in head), reverse=True)
