from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

import natsel
from natsel.cli import main
from natsel.examples import MIXED_OPTIMUM

MIXED = """
name: mixed
seed: {seed}
fitness: helpers:counted_mixed
workers: {workers}
evolution:
  population: {population}
  generations: {generations}
space:
  activation: [relu, elu, tanh, sigmoid]
  batch_size: [16, 32, 64, 128]
  layers: {{low: 1, high: 8}}
  learning_rate: {{low: 1e-4, high: 1e-1, log: true}}
"""


def mixed_config(write_config, seed=0, workers=0, population=20, generations=15, name="config.yaml", extra=""):
    return write_config(MIXED.format(seed=seed, workers=workers, population=population,
                                     generations=generations) + extra, name)


def trial_table(run: natsel.Run) -> list[tuple]:
    return [(t["generation"], t["slot"], t["key"], t["status"], t["fitness"]) for t in run.trials]


def test_finds_the_known_optimum_and_show_ranks_it_first(write_config, tmp_path):
    cfg = mixed_config(write_config)
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 0, res.output
    run = natsel.load_run(tmp_path / "run")
    best = run.fittest
    assert {k: best[k] for k in ("activation", "batch_size", "layers")} == {
        k: MIXED_OPTIMUM[k] for k in ("activation", "batch_size", "layers")}
    assert abs(best["learning_rate"] / MIXED_OPTIMUM["learning_rate"] - 1) < 0.3
    assert run.best["fitness"] > -0.05
    shown = CliRunner().invoke(main, ["show", str(tmp_path / "run"), "--json", "--top", "3"])
    rows = json.loads(shown.output)
    assert rows[0]["rank"] == 1 and rows[0]["genome"] == best
    assert rows[0]["fitness"] >= rows[1]["fitness"] >= rows[2]["fitness"]
    # history.json agrees with the trials
    hist = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(hist) == 15
    assert hist[-1]["best_so_far"] == pytest.approx(run.best["fitness"])
    for h in hist:
        fits = [t["fitness"] for t in run.trials if t["generation"] == h["generation"]]
        assert h["max"] == pytest.approx(max(fits)) and h["mean"] == pytest.approx(sum(fits) / len(fits))
    assert json.loads((tmp_path / "run" / "best.json").read_text())["genome"] == best


def test_no_genome_is_evaluated_twice(write_config, tmp_path):
    import helpers

    cfg = mixed_config(write_config, extra="strategy: genetic\n")  # its elites are copies, served from the cache
    run = natsel.evolve(natsel.load_config(cfg), tmp_path / "run", progress=False)
    keys = [natsel.genome_key(g) for g in helpers.CALLS]
    assert len(keys) == len(set(keys))
    assert len(keys) == sum(t["status"] == "ok" for t in run.trials)
    assert sum(t["status"] == "cached" for t in run.trials) > 0  # elites came from the cache


def test_same_seed_same_genomes_whatever_the_workers(write_config, tmp_path):
    inline = natsel.evolve(natsel.load_config(mixed_config(write_config, generations=4)), tmp_path / "a",
                           progress=False)
    pooled = natsel.evolve(natsel.load_config(mixed_config(write_config, workers=2, generations=4, name="b.yaml")),
                           tmp_path / "b", progress=False)
    assert trial_table(inline) == trial_table(pooled)
    other = natsel.evolve(natsel.load_config(mixed_config(write_config, seed=1, generations=4, name="c.yaml")),
                          tmp_path / "c", progress=False)
    assert trial_table(other) != trial_table(inline)


def _natsel(*args, env=None):
    return subprocess.run([sys.executable, "-m", "natsel", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_kill_9_mid_generation_then_resume_matches_uninterrupted(write_config, tmp_path):
    cfg = mixed_config(write_config, population=10, generations=6)
    log = tmp_path / "calls.log"
    # the fitness kills its own process (kill -9) on its 23rd call: in generation 2, mid-way
    first = _natsel("evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q",
                    env={"NATSEL_TEST_KILL_AFTER": "23", "NATSEL_TEST_LOG": str(log)})
    assert first.returncode == -9
    partial = natsel.load_run(tmp_path / "run")
    assert partial.meta["status"] == "running" and partial.status == "interrupted"  # nobody holds its lock
    assert any(t["status"] == "pending" for t in partial.trials)
    assert sum(t["status"] == "ok" for t in partial.trials) == 22  # the 23rd died with the process
    second = _natsel("evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q", env={"NATSEL_TEST_LOG": str(log)})
    assert second.returncode == 0, second.stderr
    straight = _natsel("evolve", str(cfg), "--run-dir", str(tmp_path / "straight"), "-q")
    assert straight.returncode == 0, straight.stderr
    resumed, uninterrupted = natsel.load_run(tmp_path / "run"), natsel.load_run(tmp_path / "straight")
    assert resumed.status == "finished"
    assert trial_table(resumed) == trial_table(uninterrupted)
    same = ("id", "generation", "genome", "fitness")
    assert {k: resumed.best[k] for k in same} == {k: uninterrupted.best[k] for k in same}
    calls = Counter(log.read_text().split())
    # every key once, except the one in flight when the process died
    assert sum(n > 1 for n in calls.values()) <= 1
    assert len(calls) == sum(t["status"] == "ok" for t in resumed.trials)


def test_resume_of_a_finished_run_evaluates_nothing_and_can_extend(write_config, tmp_path):
    import helpers

    cfg = natsel.load_config(mixed_config(write_config, generations=3))
    natsel.evolve(cfg, tmp_path / "run", progress=False)
    n = len(helpers.CALLS)
    natsel.evolve(cfg, tmp_path / "run", progress=False)
    assert len(helpers.CALLS) == n
    cfg.generations = 5
    run = natsel.evolve(cfg, tmp_path / "run", progress=False)
    assert len(run.history) == 5 and len(helpers.CALLS) > n
    keys = [natsel.genome_key(g) for g in helpers.CALLS]
    assert len(keys) == len(set(keys))


def test_resume_refuses_a_different_search(write_config, tmp_path):
    natsel.evolve(natsel.load_config(mixed_config(write_config, generations=1)), tmp_path / "run", progress=False)
    other = mixed_config(write_config, seed=5, generations=1, name="other.yaml")
    res = CliRunner().invoke(main, ["evolve", str(other), "--run-dir", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 2
    assert "was made with a different config (differs in: seed (0 -> 5))" in res.stderr


def test_resume_flag_finds_the_newest_run(write_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = mixed_config(write_config, generations=2)
    assert CliRunner().invoke(main, ["evolve", str(cfg), "-q"]).exit_code == 0
    (run_dir,) = list(Path("runs").iterdir())
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--resume", "--generations", "3", "-q"])
    assert res.exit_code == 0, res.output
    assert list(Path("runs").iterdir()) == [run_dir]
    assert len(natsel.load_run(run_dir).history) == 3
    other = write_config(MIXED.format(seed=0, workers=0, population=4, generations=1).replace("name: mixed", "name: other"),
                         "other.yaml")
    missing = CliRunner().invoke(main, ["evolve", str(other), "--resume", "-q"])
    assert missing.exit_code == 2 and "nothing to resume" in missing.stderr


def test_shared_cache_spans_runs(write_config, tmp_path):
    import helpers

    extra = f"cache: {tmp_path / 'shared.sqlite'}\n"
    cfg = natsel.load_config(mixed_config(write_config, generations=3, extra=extra))
    natsel.evolve(cfg, tmp_path / "one", progress=False)
    natsel.evolve(cfg, tmp_path / "two", progress=False)
    keys = [natsel.genome_key(g) for g in helpers.CALLS]
    assert len(keys) == len(set(keys))  # nothing trained twice across the two runs
    # without the shared cache the same two runs repeat each other
    helpers.CALLS.clear()
    plain = natsel.load_config(mixed_config(write_config, generations=3, name="plain.yaml"))
    natsel.evolve(plain, tmp_path / "three", progress=False)
    natsel.evolve(plain, tmp_path / "four", progress=False)
    keys = [natsel.genome_key(g) for g in helpers.CALLS]
    assert len(set(keys)) == len(keys) / 2


def test_exhausted_space_stops_cleanly(write_config, tmp_path):
    import helpers

    cfg = write_config("""
    fitness: helpers:counted_mixed
    workers: 0
    evolution: {population: 3, generations: 50}
    space:
      activation: [elu, relu]
      batch_size: [64, 32]
      layers: 5
      learning_rate: 0.003
    """)
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 0, res.output
    assert "search space exhausted" in res.stderr
    run = natsel.load_run(tmp_path / "run")
    assert run.status == "exhausted"
    keys = [natsel.genome_key(g) for g in helpers.CALLS]
    assert sorted(set(keys)) == sorted(keys) and len(keys) == 4  # all four genomes, each once
    assert len(run.history) < 50


def test_failed_fitness_is_recorded_and_never_breeds(write_config, tmp_path):
    cfg = write_config("""
    fitness: helpers:misbehave
    workers: 0
    evolution: {population: 8, generations: 3}
    space:
      mode: [ok, raise]
      x: {low: 0, high: 100}
    """)
    run = natsel.evolve(natsel.load_config(cfg), tmp_path / "run", progress=False)
    failed = [t for t in run.trials if t["status"] == "failed"]
    assert failed and all("RuntimeError: boom" in t["error"] for t in failed)
    assert run.fittest["mode"] == "ok"
    assert run.leaderboard()[-1]["status"] == "failed"
