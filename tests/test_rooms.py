"""The seams: strategies and objective families plug in from outside natsel; trials carry a budget;
run folders written by older natsel still open, show, plot and resume."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import natsel
from natsel import objectives, strategies
from natsel._trial import FULL_BUDGET, Result, Status, Task
from natsel.cli import main
from natsel.objectives import ObjectiveFamily, Prepared
from natsel.strategies import PlanContext, Planned, Strategy

FIXTURE = Path(__file__).parent / "fixtures" / "run-0.1.0"


# -- a strategy from outside natsel ---------------------------------------------------------------

class Sweep(Strategy):
    """Plans x = 0, 1, 2, ... in order: generation g holds the next ``population`` values."""

    name = "sweep"
    options_schema = {"step": int}

    def plan(self, ctx: PlanContext) -> list[Planned] | None:
        step = int(self.options.get("step", 1))
        start = ctx.generation * ctx.population
        return [Planned({"x": (start + i) * step}, "sweep") for i in range(ctx.population)]


strategies.register(Sweep)


def test_a_strategy_registered_from_outside_plans_the_run(write_config, tmp_path):
    cfg = write_config("""
    fitness: helpers:constant
    workers: 0
    strategy: {name: sweep, step: 3}
    evolution: {population: 4, generations: 3}
    space:
      x: {low: 0, high: 100}
    """)
    run = natsel.evolve(cfg, tmp_path / "run", progress=False)
    assert [t["genome"]["x"] for t in run.trials] == [3 * i for i in range(12)]
    assert {t["origin"] for t in run.trials} == {"sweep"} and run.meta["strategy"] == "sweep"


def test_unknown_strategy_and_bad_options_are_config_errors(write_config):
    base = "fitness: helpers:constant\nworkers: 0\nspace:\n  x: [1, 2]\n"
    with pytest.raises(natsel.ConfigError, match=r"config.yaml:5: unknown strategy 'nope' \(known: .*random.*\)"):
        natsel.load_config(write_config(base + "strategy: nope\n"))
    with pytest.raises(natsel.ConfigError, match=r"unknown option 'size' of strategy 'sweep' \(allowed: step\)"):
        natsel.load_config(write_config(base + "strategy: {name: sweep, size: 2}\n"))


# -- an objective family from outside natsel ----------------------------------------------------------

class Offset(ObjectiveFamily):
    """Fitness = the config's ``offset.value`` + gene x; records the worker's pid."""

    name = "offset"
    sections = frozenset({"offset"})
    inline = True

    @classmethod
    def validate(cls, cfg: Any, v: Any) -> None:
        section = v.mapping(cfg.raw.get("offset"), ("offset",), "offset")
        v.keys(section, {"value"}, ("offset",), "'offset'")
        cfg.offset = v.number(section.get("value", 0), ("offset", "value"))

    @classmethod
    def prepare(cls, cfg: Any) -> Prepared:
        return Prepared(objectives.spec_for(cls, value=cfg.offset), identity={"value": cfg.offset})

    @staticmethod
    def build(spec: Mapping[str, Any], payload: Any) -> Any:
        import os

        def run(task: Task) -> Result:
            return Result(task.trial_id, Status.OK, spec["value"] + task.genome["x"], {"pid": os.getpid()})

        return run


objectives.register(Offset)


@pytest.mark.parametrize("workers", [0, 2])
def test_an_objective_family_registered_from_outside_scores_the_run(write_config, tmp_path, workers):
    cfg = write_config(f"""
    objective: offset
    offset: {{value: 100}}
    workers: {workers}
    evolution: {{population: 4, generations: 2}}
    space:
      x: {{low: 0, high: 10}}
    """)
    run = natsel.evolve(cfg, tmp_path / "run", progress=False)
    scored = [t for t in run.trials if t["status"] == "ok"]
    assert scored and all(t["fitness"] == 100 + t["genome"]["x"] for t in scored)
    pids = {t["metrics"]["pid"] for t in scored}
    assert (pids == {__import__("os").getpid()}) == (workers == 0)  # workers import the family's module


def test_a_family_section_in_another_familys_config_is_an_error(write_config):
    with pytest.raises(natsel.ConfigError, match=r"config.yaml:2: 'offset' does not apply to the python objective"):
        natsel.load_config(write_config("fitness: helpers:constant\noffset: {value: 1}\nspace:\n  x: [1, 2]\n"))


# -- random search end to end ---------------------------------------------------------------------------

def test_random_strategy_evolves_shows_and_plots(write_config, tmp_path):
    cfg = write_config("""
    fitness: helpers:counted_mixed
    workers: 0
    strategy: random
    evolution: {population: 8, generations: 3}
    space:
      activation: [relu, elu, tanh, sigmoid]
      batch_size: [16, 32, 64, 128]
      layers: {low: 1, high: 8}
      learning_rate: {low: 1e-4, high: 1e-1, log: true}
    """)
    run_dir = tmp_path / "run"
    assert CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(run_dir), "-q"]).exit_code == 0
    run = natsel.load_run(run_dir)
    assert {t["origin"] for t in run.trials} == {"random"} and len(run.trials) == 24
    assert len({t["key"] for t in run.trials}) == 24  # never a genome twice
    shown = CliRunner().invoke(main, ["show", str(run_dir), "--json"])
    assert shown.exit_code == 0 and len(json.loads(shown.output)) == 24
    assert CliRunner().invoke(main, ["plot", str(run_dir)]).exit_code == 0
    again = natsel.evolve(natsel.load_config(cfg), tmp_path / "again", progress=False)
    assert [t["key"] for t in again.trials] == [t["key"] for t in run.trials]  # same seed, same genomes


# -- the evaluation identity is (genome key, budget) ----------------------------------------------------------

def test_a_score_at_another_budget_is_never_served(tmp_path):
    from natsel._store import RunStore, SharedCache

    store = RunStore.create(tmp_path / "run", "", {})
    store.attach_cache(SharedCache(tmp_path / "cache.sqlite", "scope"))
    store.add_planned(0, [("k", {"x": 1}, "test")], budget="epochs=1")
    (row,) = store.generation(0)
    assert row["budget"] == "epochs=1"
    store.finish(row["id"], "ok", 0.5, {}, 1.0)
    assert store.lookup("k", "epochs=1")["fitness"] == 0.5
    assert store.lookup("k") is None and store.lookup("k", FULL_BUDGET) is None
    store.close()
    other = RunStore.create(tmp_path / "other", "", {})
    other.attach_cache(SharedCache(tmp_path / "cache.sqlite", "scope"))
    assert other.lookup("k") is None and other.lookup("k", "epochs=1")["fitness"] == 0.5  # via the shared cache
    other.close()


# -- a run folder written by natsel 0.1.0 --------------------------------------------------------------------------

@pytest.fixture
def old_run(tmp_path):
    dest = tmp_path / "run"
    shutil.copytree(FIXTURE, dest)
    return dest


def test_an_old_run_folder_opens_shows_and_plots(old_run):
    before = (old_run / "trials.sqlite").read_bytes()
    run = natsel.load_run(old_run)
    assert len(run.trials) == 12 and all(t["budget"] == FULL_BUDGET for t in run.trials)
    assert run.best is not None and run.best["fitness"] == max(t["fitness"] for t in run.trials)
    shown = CliRunner().invoke(main, ["show", str(old_run), "--all"])
    assert shown.exit_code == 0 and shown.output.count("\n") >= 12
    plotted = CliRunner().invoke(main, ["plot", str(old_run)])
    assert plotted.exit_code == 0, plotted.output
    assert (old_run / "trials.sqlite").read_bytes() == before  # reading never migrates


def test_an_old_run_folder_resumes(old_run):
    old = {(t["generation"], t["slot"]): (t["key"], t["fitness"]) for t in natsel.load_run(old_run).trials}
    res = CliRunner().invoke(main, ["evolve", str(old_run / "config.yaml"), "--run-dir", str(old_run), "-q"])
    assert res.exit_code == 0 and "already stopped (generations: all 2 generations ran)" in res.stderr  # it was made with 2
    res = CliRunner().invoke(main, ["evolve", str(old_run / "config.yaml"), "--run-dir", str(old_run),
                                    "--generations", "4", "-q"])
    assert res.exit_code == 0, res.output + res.stderr
    run = natsel.load_run(old_run)
    assert run.status == "finished" and len(run.history) == 4 and len(run.trials) == 24
    assert {(t["generation"], t["slot"]): (t["key"], t["fitness"]) for t in run.trials if t["generation"] < 2} == old
    evaluated = [t["key"] for t in run.trials if t["status"] == "ok"]
    assert len(evaluated) == len(set(evaluated))  # nothing trained twice
