"""Issue 28 item 2: warm starts from earlier runs (possibly of a changed space) and initial_genomes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import natsel
from natsel.cli import main


def score(genome: dict) -> float:
    """A smooth bowl with its best at x = 3, c = b (d and y, when present, cost a little)."""
    return -(genome["x"] - 3) ** 2 - (genome["c"] != "b") - 0.1 * genome.get("y", 0) ** 2 - 0.1 * genome.get("d", 0)


OLD = {"name": "old", "seed": 1, "workers": 0, "stop": {"max_trials": 30},
       "space": {"x": {"low": -1.0, "high": 1.0}, "c": ["a", "b", "z"], "d": {"low": 0, "high": 3}}}
NEW_SPACE = {"x": {"low": 0.0, "high": 5.0}, "c": ["a", "b"], "y": {"low": -2.0, "high": 2.0}}


def new(tmp_path, **extra):
    return {"name": "new", "seed": 1, "workers": 0, "stop": {"max_trials": 20}, "space": NEW_SPACE,
            "warm_start": [str(tmp_path / "old")], **extra}


def finished(run):
    return [(t["id"], t["key"], t["status"], t["fitness"]) for t in run.trials if t["status"] != "pending"]


@pytest.fixture
def old_run(tmp_path):
    return natsel.evolve(OLD, tmp_path / "old", fitness=score, progress=False, plots=False)


def test_a_changed_space_keeps_clips_samples_and_drops_and_the_strategy_learns_from_it(tmp_path, old_run):
    """Issue 28: values that fit are kept, numbers out of range clipped, a choice the space no longer
    has drops the trial, a new gene is sampled, a removed one ignored; the strategy plans its first
    generation from them (bred, not only random) and the trials are not this run's results."""
    from natsel._store import RunStore

    run = natsel.evolve(new(tmp_path), tmp_path / "new", fitness=score, progress=False, plots=False)
    old = [t for t in old_run.trials if t["status"] == "ok"]
    prior = RunStore(tmp_path / "new", readonly=True).prior()
    kept = [t for t in old if t["genome"]["c"] != "z"]
    assert len(prior) == len(kept) and run.meta["warm_start"]["dropped"] == len(old) - len(kept)
    for p, t in zip(prior, kept, strict=True):
        assert p["genome"]["x"] == max(0.0, t["genome"]["x"]) and p["genome"]["c"] == t["genome"]["c"]
        assert -2.0 <= p["genome"]["y"] <= 2.0 and "d" not in p["genome"] and p["fitness"] == t["fitness"]
        assert not p["servable"]  # another space: prior knowledge only
    assert {t["status"] for t in run.trials} <= {"ok", "pending"} and len(finished(run)) == 20
    assert "surrogate" in {t["origin"] for t in run.trials if t["generation"] == 0}
    assert run.best["fitness"] > old_run.best["fitness"]  # the new space holds better genomes, and it found one


def test_the_same_evaluation_identity_is_served_as_cached_trials(tmp_path, old_run):
    """Issue 28: a warm-start run with the earlier run's identity (same function, seed, space) is served
    the genomes it plans that the earlier run evaluated, as cached trials, and trains new ones in their place."""
    same = {**OLD, "name": "again", "warm_start": [str(tmp_path / "old")], "stop": {"max_trials": 15}}
    run = natsel.evolve(same, tmp_path / "again", fitness=score, progress=False, plots=False)
    served = [t for t in run.trials if t["status"] == "cached"]
    assert served and all(t["extra"]["warm_start"] == str(tmp_path / "old") for t in served)
    old = {t["key"]: t["fitness"] for t in old_run.trials}
    assert all(old[t["key"]] == t["fitness"] for t in served)
    assert run.outcome["trained"] == 15 and not {t["key"] for t in run.trials if t["status"] == "ok"} & set(old)
    other_seed = natsel.evolve({**same, "seed": 2}, tmp_path / "seed2", fitness=score, progress=False, plots=False)
    assert not [t for t in other_seed.trials if t["status"] == "cached"]  # another seed: another identity


def test_a_warm_started_run_resumes_exactly(tmp_path, old_run):
    """Issue 28: the mapped prior is stored with the run, so a stopped warm-started run resumed with a
    larger budget equals one longer run."""
    whole = natsel.evolve(new(tmp_path, stop={"max_trials": 26}), tmp_path / "whole", fitness=score,
                          progress=False, plots=False)
    natsel.evolve(new(tmp_path, stop={"max_trials": 12}), tmp_path / "part", fitness=score, progress=False, plots=False)
    part = natsel.evolve(new(tmp_path, stop={"max_trials": 26}), tmp_path / "part", fitness=score, resume=True,
                         progress=False, plots=False)
    assert finished(part) == finished(whole)


def test_initial_genomes_are_evaluated_first(tmp_path):
    """Issue 28: initial_genomes (as Optuna's enqueue) fill generation 0's first slots; genes they
    leave out are sampled; a gene the space does not have is a config error naming its line."""
    cfg = {"name": "init", "seed": 4, "workers": 0, "stop": {"max_trials": 14}, "space": NEW_SPACE,
           "initial_genomes": [{"x": 3.0, "c": "b", "y": 0.0}, {"x": 1.5}]}
    run = natsel.evolve(cfg, tmp_path / "init", fitness=score, progress=False, plots=False)
    first = sorted((t for t in run.trials if t["generation"] == 0), key=lambda t: t["slot"])
    assert first[0]["genome"] == {"x": 3.0, "c": "b", "y": 0.0} and first[0]["origin"] == "initial"
    assert first[1]["genome"]["x"] == 1.5 and first[1]["origin"] == "initial"
    assert run.best["fitness"] == 0.0 and len(first) == 10  # generation 0 keeps its size
    with pytest.raises(natsel.ConfigError, match=r"initial_genomes\[1\] names unknown gene 'w'"):
        natsel.config_from_dict({**cfg, "fitness": "helpers:constant", "initial_genomes": [{"x": 1.0}, {"w": 1}]})


def test_a_warm_start_folder_that_is_not_a_run_is_one_line(write_config, tmp_path):
    """Issue 28: warm_start naming a folder that holds no run: file:line, exit 2, nothing written."""
    (tmp_path / "empty").mkdir()
    cfg = write_config("""
        fitness: helpers:constant
        workers: 0
        warm_start: [empty]
        space: {x: [1, 2, 3]}
        """)
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 2 and "config.yaml:3: warm_start:" in res.output and "is not a natsel run folder" in res.output
    assert not (tmp_path / "run").exists()
    meta_free = json.dumps(res.output)
    assert "\\n" not in meta_free.strip('"').rstrip("\\n")
