"""The steady-state schedule (``evolution.schedule: steady``): no generation barrier, every plan
stored with what it was planned from, resumable after kill -9, never a genome twice."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import deque

import numpy as np
import pytest

import natsel
from natsel._evolve import steady_seen
from natsel._trial import Direction
from natsel.executors._inline import InlineExecutor
from natsel.strategies import PlanContext, get

STEADY = """
name: steady
seed: {seed}
fitness: helpers:counted_mixed
workers: {workers}
evolution: {{population: 4, generations: 5, schedule: steady}}
strategy: {strategy}
space:
  activation: [relu, elu, tanh, sigmoid]
  batch_size: [16, 32, 64, 128]
  layers: {{low: 1, high: 8}}
  learning_rate: {{low: 1e-4, high: 1e-1, log: true}}
"""


def steady_config(write_config, seed=0, workers=0, strategy="surrogate", name="config.yaml"):
    return write_config(STEADY.format(seed=seed, workers=workers, strategy=strategy), name)


def replan(run, trial):
    """Plan ``trial`` again from what the store says it was planned from."""
    cfg = natsel.load_config(run.path / "config.yaml")
    seen = steady_seen(trial)
    history = [t for t in run.trials if seen(t["id"])]
    earlier = {t["key"] for t in run.trials if t["id"] < trial["id"]}
    ctx = PlanContext(generation=trial["generation"], space=cfg.space, population=1, direction=Direction(True),
                      history=history, known=earlier.__contains__,
                      rng=np.random.default_rng([cfg.seed, trial["generation"], trial["slot"]]), seed=cfg.seed)
    return get(cfg.strategy)(cfg.strategy_options, cfg.ga).plan(ctx)[0].genome


def test_steady_run_with_two_workers_plans_from_finished_trials_and_can_be_replayed(write_config, tmp_path):
    run = natsel.evolve(steady_config(write_config, workers=2), tmp_path / "run", progress=False, plots=False)
    assert run.status == "finished"
    # generation 0 planned at once, then 4 generations of 4, planned one at a time
    assert [sum(t["generation"] == g for t in run.trials) for g in range(5)] == [4, 4, 4, 4, 4]
    assert len({t["key"] for t in run.trials}) == len(run.trials)  # never a genome twice
    by_id = {t["id"]: t for t in run.trials}
    later = [t for t in run.trials if t["generation"] > 0]
    for t in later:
        seen = [i for i in by_id if steady_seen(t)(i)]
        assert seen and all(by_id[i]["finished"] <= t["started"] for i in seen)  # planned from finished trials
        assert replan(run, t) == t["genome"]
    # no barrier: some trial was planned before the whole of the previous generation had finished
    assert any(any(by_id[i]["generation"] == t["generation"] - 1 and not steady_seen(t)(i) for i in by_id)
               for t in later)
    assert len(run.history) == 5 and run.best is not None


def test_steady_with_one_worker_is_deterministic(write_config, tmp_path):
    a = natsel.evolve(steady_config(write_config), tmp_path / "a", progress=False, plots=False)
    b = natsel.evolve(steady_config(write_config), tmp_path / "b", progress=False, plots=False)
    assert [t["genome"] for t in a.trials] == [t["genome"] for t in b.trials]
    timeless = [[{k: v for k, v in t["extra"].items() if k != "plan_seconds"} for t in r.trials[4:]] for r in (a, b)]
    assert timeless[0] == timeless[1]  # what each plan saw (its seconds aside: those are the machine's)
    # one worker: each plan saw every trial before it
    ids = [t["id"] for t in a.trials]
    assert all([i for i in ids if steady_seen(t)(i)] == [i for i in ids if i < t["id"]] for t in a.trials[4:])


def test_kill_9_mid_run_then_resume_keeps_every_plan_and_trains_nothing_twice(write_config, tmp_path):
    cfg = steady_config(write_config)
    log = tmp_path / "calls.log"
    env = {**os.environ, "NATSEL_TEST_KILL_AFTER": "13", "NATSEL_TEST_LOG": str(log)}

    def cli(**kw):
        return subprocess.run([sys.executable, "-m", "natsel", "evolve", str(cfg), "--run-dir", str(tmp_path / "run"),
                               "-q"], capture_output=True, text=True, timeout=300, **kw)

    assert cli(env=env).returncode == -9
    before = natsel.load_run(tmp_path / "run")
    pending = [t for t in before.trials if t["status"] == "pending"]
    assert pending  # killed with a planned trial in flight
    resumed = cli(env={**os.environ, "NATSEL_TEST_LOG": str(log)})
    assert resumed.returncode == 0, resumed.stderr
    after = natsel.load_run(tmp_path / "run")
    assert after.status == "finished" and len(after.trials) == 20
    by_id = {t["id"]: t for t in after.trials}
    for t in before.trials:  # what was planned before the kill is what ran after it
        assert by_id[t["id"]]["genome"] == t["genome"]
    calls = log.read_text().splitlines()
    # every genome trained once: the one in flight at the kill is the only one called twice
    assert len(set(calls)) == 20 and len(calls) == 21


@pytest.mark.parametrize(("extra", "message"), [
    ("strategy: genetic", r"the genetic strategy plans whole generations; schedule: steady works with"),
    ("fidelity: {minimum: 1}\ntraining: {max_epochs: 9}", r"successive halving .* needs schedule: generational"),
])
def test_steady_needs_a_strategy_that_plans_one_at_a_time_and_no_rungs(write_config, extra, message):
    text = STEADY.format(seed=0, workers=0, strategy="surrogate").replace("strategy: surrogate\n", "") + extra + "\n"
    text = text.replace("fitness: helpers:counted_mixed", "fitness: helpers:budgeted_mixed") if "fidelity" in extra \
        else text
    cfg = write_config(text)
    with pytest.raises(natsel.ConfigError, match=r"config.yaml:\d+: " + message):
        natsel.load_config(cfg)


def test_an_executor_reads_a_deque_as_work_comes_free():
    """The seam the steady schedule stands on: tasks appended after a result still run."""
    from natsel._trial import Task

    ex = InlineExecutor({"kind": "python", "module": "natsel.objectives.python", "ref": "natsel.examples:mixed",
                         "base_dir": ".", "sys_path": []})
    genome = {"activation": "relu", "batch_size": 16, "layers": 2, "learning_rate": 0.01}
    queue = deque([Task(0, genome, "a", 0)])
    seen = []
    for res in ex.run(queue):
        seen.append(res.trial_id)
        if res.trial_id < 3:
            queue.append(Task(res.trial_id + 1, genome, "a", 0))
    assert seen == [0, 1, 2, 3] and ex.slots == 1


def test_a_genome_planned_twice_in_generation_0_is_trained_once(write_config, tmp_path, monkeypatch):
    from natsel.strategies._base import Planned
    from natsel.strategies.random import RandomStrategy

    def doubled(self, ctx):  # generation 0 holds each genome twice
        if ctx.generation:
            return [Planned(ctx.space.sample(ctx.rng), "random")]
        genomes = [ctx.space.sample(ctx.rng) for _ in range(3)]
        return [Planned(g, "random") for g in genomes + genomes]

    monkeypatch.setattr(RandomStrategy, "plan", doubled)
    cfg = write_config(STEADY.format(seed=0, workers=2, strategy="random").replace("population: 4", "population: 6"))
    log = tmp_path / "calls.log"
    monkeypatch.setenv("NATSEL_TEST_LOG", str(log))
    run = natsel.evolve(cfg, tmp_path / "run", progress=False, plots=False)
    gen0 = [t for t in run.trials if t["generation"] == 0]
    assert len(gen0) == 6 and sorted(t["status"] for t in gen0) == ["cached"] * 3 + ["ok"] * 3
    calls = log.read_text().splitlines()
    assert len(calls) == len(set(calls))  # never trained twice


class _Eager(InlineExecutor):
    """Reads every task up front: blind to tasks appended later."""

    def run(self, tasks):
        for task in list(tasks):
            yield self._objective(task)


def test_an_executor_that_does_not_read_new_tasks_is_an_error_not_a_short_run(write_config, tmp_path):
    cfg = natsel.load_config(steady_config(write_config))
    ex = _Eager({"kind": "python", "module": "natsel.objectives.python", "ref": "helpers:counted_mixed",
                 "base_dir": str(cfg.base_dir), "sys_path": [str(cfg.base_dir)]})
    with pytest.raises(RuntimeError, match="schedule: steady needs an executor that reads its task deque"):
        natsel.evolve(cfg, tmp_path / "run", progress=False, plots=False, executor=ex)


def test_on_generation_is_called_once_per_generation_of_results(write_config, tmp_path):
    seen = []
    natsel.evolve(steady_config(write_config, workers=2), tmp_path / "run", progress=False, plots=False,
                  on_generation=lambda run: seen.append(len([t for t in run.trials if t["status"] != "pending"])))
    assert len(seen) == 5 and seen[0] >= 4 and seen[-1] == 20 and seen == sorted(seen)
