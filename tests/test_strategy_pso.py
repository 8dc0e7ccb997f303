"""``strategy: pso``: a particle swarm over the encoded genome space, replayed from the stored trials."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner

import natsel
from natsel._space import Choice, Fixed, FloatRange, IntRange, SearchSpace
from natsel._trial import Direction
from natsel.cli import main
from natsel.strategies import PlanContext, get
from natsel.strategies.pso import Encoding, Swarm, replay, swarm_options

SPACE = """
space:
  activation: [relu, elu, tanh, sigmoid]
  batch_size: [16, 32, 64, 128]
  layers: {{low: 1, high: 8}}
  learning_rate: {{low: 1e-4, high: 1e-1, log: true}}
  bias: true
"""
MIXED = """
name: mixed-pso
seed: {seed}
fitness: helpers:counted_mixed
direction: maximize
strategy: {strategy}
workers: {workers}
evolution: {{population: {population}, generations: {generations}}}
""" + SPACE


def pso_config(write_config, seed=0, workers=0, population=20, generations=15, strategy="pso", name="config.yaml"):
    return write_config(MIXED.format(seed=seed, workers=workers, population=population, generations=generations,
                                     strategy=strategy), name)


def trial_table(run: natsel.Run) -> list[tuple]:
    return [(t["generation"], t["slot"], t["key"], t["origin"], t["status"], t["fitness"]) for t in run.trials]


def check_every_genome_valid_and_new(run: natsel.Run, space: SearchSpace) -> None:
    assert all(space.invalid_genes(t["genome"]) == [] for t in run.trials)
    trained = [t["key"] for t in run.trials if t["status"] == "ok"]
    assert len(trained) == len(set(trained))  # no genome trained twice


# -- the encoding -------------------------------------------------------------------------------------

GENES = [Choice("act", ("relu", "elu", "tanh")), Choice("flag", (True, False)), Choice("one", ("only",)),
         IntRange("units", 8, 512, step=8, log=True), IntRange("layers", 1, 8), FloatRange("lr", 1e-5, 1e-1, log=True),
         FloatRange("drop", 0.0, 0.5, digits=2), Fixed("init", "glorot"), IntRange("same", 3, 3)]


@pytest.mark.parametrize("categorical, dim", [("onehot", 3 + 2 + 4), ("ordinal", 2 + 4)])
def test_encoding_round_trips_and_every_point_decodes_to_a_valid_genome(categorical, dim):
    space = SearchSpace(GENES)
    enc = Encoding(space, categorical)
    assert enc.dim == dim  # genes with one value have no coordinate
    rng = np.random.default_rng(0)
    for _ in range(200):
        genome = space.sample(rng)
        x = enc.encode(genome)
        assert x.shape == (dim,) and ((0 <= x) & (x <= 1)).all()
        assert space.key(enc.decode(x)) == space.key(genome)
        wild = enc.decode(rng.uniform(-0.5, 1.5, dim))  # off the cube: clipped
        assert space.invalid_genes(wild) == [] and list(wild) == space.names


def test_categories_decode_by_argmax_or_nearest_bin():
    space = SearchSpace([Choice("act", ("relu", "elu", "tanh", "sigmoid"))])
    assert Encoding(space, "onehot").decode(np.array([0.1, 0.3, 0.9, 0.9]))["act"] == "tanh"  # tie: first
    ordinal = Encoding(space, "ordinal")
    assert [ordinal.decode(np.array([u]))["act"] for u in (0.0, 0.16, 0.17, 0.49, 0.5, 0.84, 1.0)] == [
        "relu", "relu", "elu", "elu", "tanh", "sigmoid", "sigmoid"]
    assert ordinal.encode({"act": "tanh"}).tolist() == [2 / 3]


def test_a_failed_trial_never_becomes_a_best():
    swarm = Swarm(np.zeros((3, 1)))
    swarm.score(np.array([[0.2], [0.4], [0.6]]), np.array([1.0, np.nan, 3.0]))
    swarm.score(np.array([[0.9], [0.8], [0.7]]), np.array([0.5, np.nan, np.nan]))
    assert swarm.pbest.ravel().tolist() == [0.2, 0.0, 0.6] and swarm.gbest().tolist() == [0.6]


def test_replay_orients_a_minimised_fitness():
    space = SearchSpace([FloatRange("x", 0.0, 1.0)])
    hist = [{"generation": 0, "slot": i, "genome": {"x": x}, "fitness": x, "status": "ok"} for i, x in enumerate((0.3, 0.1, 0.7))]
    opt = swarm_options({}, 3)
    for maximize, best in ((True, 0.7), (False, 0.1)):
        swarm = replay(hist, Encoding(space), 3, opt, Direction(maximize), lambda t: np.random.default_rng(t), 1)
        assert swarm.gbest().tolist() == [best]


# -- end to end -----------------------------------------------------------------------------------------

def test_pso_evolves_mixed_from_the_cli(write_config, tmp_path):
    """Measured: 20 of 20 seeds reach -1e-5 or better (population 20, 15 generations); -0.1 leaves margin."""
    for seed in (0, 1):
        cfg = pso_config(write_config, seed=seed, name=f"s{seed}.yaml")
        res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / f"run{seed}"), "-q"])
        assert res.exit_code == 0, res.output
        run = natsel.load_run(tmp_path / f"run{seed}")
        assert run.status == "finished" and len(run.trials) == 300 and run.meta["strategy"] == "pso"
        assert run.best["fitness"] > -0.1
        assert run.history[-1]["best_so_far"] > run.history[0]["best_so_far"]
        origins = Counter(t["origin"] for t in run.trials)
        assert origins["swarm"] > 200 and origins["random"] == 20 and set(origins) <= {"initial", "random", "swarm",
                                                                                         "perturbed"}
        check_every_genome_valid_and_new(run, natsel.load_config(cfg).space)


def test_every_swarm_genome_is_the_replayed_position_decoded(write_config, tmp_path):
    """What planning moved a particle to is what a later replay moves it to (the loop's rng == rng_for(seed, g))."""
    cfg = natsel.load_config(pso_config(write_config, seed=3, population=8, generations=6))
    run = natsel.evolve(cfg, tmp_path / "run", progress=False, plots=False)
    enc, opt = Encoding(cfg.space, "ordinal"), swarm_options({}, 8)
    checked = 0
    for g in range(1, 6):
        swarm = replay([t for t in run.trials if t["generation"] < g], enc, 8, opt, Direction(True),
                       lambda t: PlanContext.rng_for(3, t), g)
        swarm.move(opt, g - 1, PlanContext.rng_for(3, g))
        for t in (t for t in run.trials if t["generation"] == g and t["origin"] == "swarm"):
            assert enc.decode(swarm.x[t["slot"]]) == t["genome"]
            checked += 1
    assert checked > 30


def test_same_seed_same_genomes_whatever_the_workers(write_config, tmp_path):
    runs = [natsel.evolve(natsel.load_config(pso_config(write_config, seed=seed, workers=workers, population=10,
                                                        generations=4, name=f"{seed}-{workers}.yaml")),
                          tmp_path / f"{seed}-{workers}", progress=False, plots=False)
            for seed, workers in ((0, 0), (0, 2), (1, 0))]
    assert trial_table(runs[0]) == trial_table(runs[1])
    assert [t["key"] for t in runs[0].trials] != [t["key"] for t in runs[2].trials]


def test_three_generations_resumed_to_six_equal_six_straight(write_config, tmp_path):
    import helpers

    cfg = natsel.load_config(pso_config(write_config, population=10, generations=3))
    natsel.evolve(cfg, tmp_path / "run", progress=False, plots=False)
    cfg.generations = 6
    resumed = natsel.evolve(cfg, tmp_path / "run", progress=False, plots=False)
    calls = [natsel.genome_key(g) for g in helpers.CALLS]
    assert len(calls) == len(set(calls)) == sum(t["status"] == "ok" for t in resumed.trials)
    straight = natsel.evolve(natsel.load_config(pso_config(write_config, population=10, generations=6, name="b.yaml")),
                             tmp_path / "straight", progress=False, plots=False)
    assert len(resumed.trials) == 60 and trial_table(resumed) == trial_table(straight)


def test_kill_9_mid_generation_then_resume_matches_uninterrupted(write_config, tmp_path):
    cfg = pso_config(write_config, population=10, generations=5)
    log = tmp_path / "calls.log"

    def natsel_cli(run_dir, **env):
        return subprocess.run([sys.executable, "-m", "natsel", "evolve", str(cfg), "--run-dir", str(run_dir), "-q"],
                              capture_output=True, text=True, env={**os.environ, **env}, timeout=300)

    # the fitness kills its own process on its 25th call: in generation 2, mid-way
    assert natsel_cli(tmp_path / "run", NATSEL_TEST_KILL_AFTER="25", NATSEL_TEST_LOG=str(log)).returncode == -9
    partial = natsel.load_run(tmp_path / "run")
    assert any(t["status"] == "pending" for t in partial.trials) and partial.status == "interrupted"
    assert natsel_cli(tmp_path / "run", NATSEL_TEST_LOG=str(log)).returncode == 0
    assert natsel_cli(tmp_path / "straight").returncode == 0
    resumed, straight = natsel.load_run(tmp_path / "run"), natsel.load_run(tmp_path / "straight")
    assert resumed.status == "finished" and trial_table(resumed) == trial_table(straight)
    calls = Counter(log.read_text().split())
    assert sum(n > 1 for n in calls.values()) <= 1  # only the one in flight at the kill ran twice


def test_a_small_space_is_searched_without_repeats_until_exhausted(write_config, tmp_path):
    import helpers

    cfg = write_config("""
    fitness: helpers:counted_mixed
    strategy: {name: pso, categorical: onehot}
    workers: 0
    evolution: {population: 6, generations: 12}
    space:
      activation: [relu, elu, tanh]
      batch_size: [32, 64]
      layers: {low: 4, high: 6}
      learning_rate: 0.003
    """)
    run = natsel.evolve(cfg, tmp_path / "run", progress=False, plots=False)
    space = natsel.load_config(cfg).space
    check_every_genome_valid_and_new(run, space)
    assert run.status == "exhausted" and len({natsel.genome_key(g) for g in helpers.CALLS}) == 18 == len(helpers.CALLS)
    assert any(t["origin"] == "perturbed" for t in run.trials)  # particles on known genomes got new ones


def test_empso_and_options_reach_the_swarm(write_config, tmp_path):
    base = dict(seed=0, population=6, generations=3)
    plain = natsel.evolve(pso_config(write_config, **base, name="a.yaml"), tmp_path / "a", progress=False, plots=False)
    empso = natsel.evolve(pso_config(write_config, **base, strategy="{name: pso, beta: 0.5, c1: 0.8, c2: 0.9}",
                                     name="b.yaml"), tmp_path / "b", progress=False, plots=False)
    same0 = [t["key"] for t in plain.trials if t["generation"] == 0]
    assert same0 == [t["key"] for t in empso.trials if t["generation"] == 0]  # generation 0 is the same random start
    assert [t["key"] for t in plain.trials] != [t["key"] for t in empso.trials]


def test_a_context_without_seed_cannot_replay():
    space = SearchSpace([FloatRange("x", 0.0, 1.0)])
    hist = [{"generation": 0, "slot": 0, "genome": {"x": 0.5}, "fitness": 1.0, "status": "ok"}]
    ctx = PlanContext(generation=1, space=space, population=1, direction=Direction(True), history=hist,
                      known=lambda k: False, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="no seed"):
        get("pso")().plan(ctx)


# -- options ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("strategy, message", [
    ("{name: pso, c3: 1}", r"unknown option 'c3' of strategy 'pso' \(allowed: beta, c1, c2, categorical, "),
    ("{name: pso, c1: fast}", r"option 'c1' of strategy 'pso' must be float, got 'fast'"),
    ("{name: pso, beta: 1.0}", r"option 'beta' of strategy 'pso' must be in \[0, 1\), got 1.0"),
    ("{name: pso, w_end: -0.1}", r"option 'w_end' of strategy 'pso' must be >= 0, got -0.1"),
    ("{name: pso, iterations: 0}", r"option 'iterations' of strategy 'pso' must be >= 1, got 0"),
    ("{name: pso, velocity_clamp: 2}", r"option 'velocity_clamp' of strategy 'pso' must be in \(0, 1\]"),
    ("{name: pso, categorical: binary}", r"option 'categorical' of strategy 'pso' must be onehot or ordinal"),
])
def test_bad_options_are_one_line_with_file_and_line(write_config, strategy, message):
    cfg = pso_config(write_config, strategy=strategy)
    with pytest.raises(natsel.ConfigError, match=r"config\.yaml:5: " + message):
        natsel.load_config(cfg)
    res = CliRunner().invoke(main, ["evolve", str(cfg), "-q"])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "config.yaml:5: " in lines[0]


# -- Keras ---------------------------------------------------------------------------------------------------

@pytest.mark.keras
def test_pso_searches_a_keras_space_end_to_end(write_config, tmp_path):
    cfg = write_config("""
    name: digits-pso
    data: {source: digits}
    training: {max_epochs: 2, patience: 0, max_training_time: 60}
    strategy: {name: pso, iterations: 2}
    evolution: {population: 4, generations: 2}
    workers: 2
    space:
      optimizer: [adam, nadam]
      learning_rate: {low: 1e-3, high: 3e-2, log: true}
      neurons0: [16, 32, 64]
      batch_size: {low: 32, high: 128, step: 32}
    """)
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 0, res.output
    run = natsel.load_run(tmp_path / "run")
    assert run.status == "finished" and len(run.trials) == 8
    assert all(t["status"] in ("ok", "cached") for t in run.trials)
    assert {t["origin"] for t in run.trials if t["generation"] == 1} <= {"swarm", "perturbed"}
    assert run.best["fitness"] > 0.5
