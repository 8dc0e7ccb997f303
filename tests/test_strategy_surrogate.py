"""The default strategy (surrogate-assisted evolution) keeps natsel's promises."""

from __future__ import annotations

import numpy as np
import pytest

import natsel
from natsel.executors import Executor

CFG = """
fitness: helpers:counted_mixed
workers: 0
evolution: {population: 8, generations: 5}
space:
  activation: [relu, elu, tanh, sigmoid]
  batch_size: [16, 32, 64, 128]
  layers: {low: 1, high: 8}
  learning_rate: {low: 1e-4, high: 1e-1, log: true}
"""


def test_surrogate_is_the_default_and_plans_from_stored_results_only(write_config, tmp_path, monkeypatch):
    import natsel._evolve as ev
    from natsel.objectives import build_objective

    cfg = natsel.load_config(write_config(CFG))
    assert cfg.strategy == "surrogate"
    straight = natsel.evolve(cfg, tmp_path / "straight", progress=False)

    class Reversed(Executor):
        """Returns each generation's results in reverse order, all at the end: another arrival order."""

        def __init__(self, spec, payload):
            self.objective = build_objective(spec, payload)

        def run(self, tasks):
            yield from reversed([self.objective(t) for t in tasks])

    monkeypatch.setattr(ev, "make_executor", lambda cfg, spec, payload: Reversed(spec, payload))
    shuffled = natsel.evolve(cfg, tmp_path / "reversed", progress=False)
    table = [(t["generation"], t["slot"], t["key"], t["fitness"]) for t in straight.trials]
    assert table == [(t["generation"], t["slot"], t["key"], t["fitness"]) for t in shuffled.trials]
    assert {t["origin"] for t in straight.trials if t["generation"] > 0} <= {"surrogate", "mutation", "local", "coordinate", "random"}
    keys = [t["key"] for t in straight.trials]
    assert len(keys) == len(set(keys))  # nothing planned twice


def test_surrogate_finds_the_mixed_optimum_region(write_config, tmp_path):
    cfg = natsel.load_config(write_config(CFG.replace("generations: 5", "generations: 12")))
    run = natsel.evolve(cfg, tmp_path / "run", progress=False)
    best = run.fittest
    assert best["activation"] == "elu" and best["batch_size"] == 64 and best["layers"] == 5
    assert run.best["fitness"] > -0.1  # optimum 0; 96 trials


def _plans(write_config, tmp_path, fitness: str, target: str | None) -> list[str]:
    """The genomes a run of ``fitness`` tries, in order (``target``: the surrogate's option; None: the default)."""
    cfg = CFG.replace("generations: 5", "generations: 8").replace("counted_mixed", fitness) + "seed: 3\n"
    if target is not None:
        cfg += f"strategy: {{name: surrogate, target: {target}}}\n"
    run = natsel.evolve(natsel.load_config(write_config(cfg, name=f"{fitness}-{target}.yaml")),
                        tmp_path / f"{fitness}-{target}", progress=False, plots=False)
    assert {t["origin"] for t in run.trials} >= {"surrogate", "local"}  # the model and the local step both ran
    return [t["key"] for t in run.trials]


def test_a_model_of_ranks_plans_the_same_whatever_the_scale_of_the_scores(write_config, tmp_path):
    """``target: rank``: a fitness through an increasing transform (here one that spreads the scores over
    33 orders of magnitude) gets the same genomes, as TPE and CMA-ES would."""
    plain = _plans(write_config, tmp_path, "mixed", "rank")
    assert plain == _plans(write_config, tmp_path, "mixed_stretched", "rank")
    assert plain != _plans(write_config, tmp_path, "mixed_stretched", "score")  # the scores as reported: not so


def test_the_default_model_learns_ranks_when_some_scores_are_far_out(write_config, tmp_path):
    """Scores that span orders of magnitude (bbob-mixint's ellipsoids, a loss, a diverged training) flattened
    a model of the scores as reported everywhere but at the worst trials (docs/genetic.md); the default
    learns ranks there, and the scores as reported where none is far out (bench/search.py)."""
    from natsel.strategies.surrogate import far_out

    assert far_out(np.array([0.9, 0.8, 0.85, 0.7, 0.75, -5.0]))
    assert not far_out(np.array([0.9, 0.8, 0.85, 0.7, 0.75, 0.5]))
    assert _plans(write_config, tmp_path, "mixed_stretched", None) == _plans(write_config, tmp_path,
                                                                              "mixed_stretched", "rank")
    bounded = _plans(write_config, tmp_path, "mixed_bounded", None)
    assert bounded == _plans(write_config, tmp_path, "mixed_bounded", "score")
    assert bounded != _plans(write_config, tmp_path, "mixed_bounded", "rank")  # so the default did choose


def test_genetic_rates_without_the_genetic_strategy_are_a_config_error(write_config):
    import pytest

    with pytest.raises(natsel.ConfigError, match=r"config.yaml:3: evolution.elitism is a setting of the genetic strategy, "
                                                 r"which the default strategy \(surrogate\) does not use"):
        natsel.load_config(write_config("fitness: helpers:constant\nevolution:\n  elitism: 0.1\nspace:\n  x: [1, 2]\n"))
    assert natsel.load_config(write_config("fitness: helpers:constant\nstrategy: genetic\nevolution:\n  elitism: 0.1\n"
                                           "space:\n  x: [1, 2]\n")).ga.elitism == 0.1


@pytest.mark.parametrize(("evolution", "sizes"), [("{generations: 3}", [10, 5, 5]),
                                                  ("{population: 4, generations: 3}", [4, 4, 4])])
def test_the_default_population_starts_with_10_random_genomes_an_explicit_one_with_itself(write_config, tmp_path,
                                                                                         evolution, sizes):
    cfg = write_config(f"fitness: helpers:constant\nworkers: 0\nevolution: {evolution}\nspace:\n"
                       "  x: {low: 0.0, high: 1.0}\n  y: {low: 0.0, high: 1.0}\n")
    run = natsel.evolve(cfg, tmp_path / "run", progress=False, plots=False)
    assert [sum(t["generation"] == g for t in run.trials) for g in range(3)] == sizes
