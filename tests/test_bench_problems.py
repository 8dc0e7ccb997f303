"""bench/problems.py and bench/strategies.py: optima, ranges, and the prototype strategy's promises."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

from problems import PROBLEMS  # noqa: E402

import natsel  # noqa: E402
from natsel._trial import Direction  # noqa: E402
from natsel.strategies import PlanContext, SurrogateStrategy  # noqa: E402


def _space(name: str) -> natsel.SearchSpace:
    return natsel.config_from_dict({"fitness": f"problems:{name}", "space": PROBLEMS[name].space}, base_dir=BENCH).space


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_optimum_scores_one_and_random_genomes_less(name: str) -> None:
    prob, space = PROBLEMS[name], _space(name)
    assert space.invalid_genes(prob.optimum) == []
    assert prob.clean(prob.optimum) == pytest.approx(1.0, abs=1e-12)
    rng = np.random.default_rng(0)
    values = [prob.clean(space.sample(rng)) for _ in range(300)]
    assert all(0.0 <= v < 1.0 for v in values)


def test_there_are_six_problems_and_one_has_twenty_genes() -> None:
    assert len(PROBLEMS) >= 6
    assert max(len(_space(n)) for n in PROBLEMS) >= 20


def test_noisy_problem_draws_its_noise_from_the_seed_and_reports_clean_without_one() -> None:
    prob = PROBLEMS["noisy"]
    g = prob.optimum
    assert prob.f(g, seed=5) == prob.f(g, seed=5)
    assert prob.f(g, seed=5) != prob.f(g, seed=6)
    assert prob.f(g) == prob.clean(g) == pytest.approx(1.0)


def test_conditional_genes_of_a_disabled_layer_do_not_matter() -> None:
    prob = PROBLEMS["conditional"]
    g = dict(prob.optimum)
    for d in (0.0, 0.5):
        assert prob.clean({**g, "dropout3": d}) == pytest.approx(1.0)
    off = {**g, "neurons1": 0}
    assert prob.clean({**off, "neurons2": 512, "dropout2": 0.5}) == prob.clean(off)


def _run(strategy, space, f, seed: int, generations: int, population: int, first: int | None = None) -> list[dict]:
    """The loop's part around a strategy: plan generation g from the trials so far, score it, append.

    ``first``: the size generation 0 must have (default: the population)."""
    trials: list[dict] = []
    keys: set[str] = set()
    for g in range(generations):
        ctx = PlanContext(g, space, population, Direction(True), list(trials), keys.__contains__,
                          np.random.default_rng([seed, g]))
        genomes = [p.genome for p in strategy.plan(ctx)]
        new = [space.key(x) for x in genomes]
        assert len(set(new)) == len(new) == (first or population if g == 0 else population)  # distinct
        assert not keys & set(new)  # never an evaluated genome
        for x, k in zip(genomes, new, strict=True):
            keys.add(k)
            trials.append({"id": len(trials), "generation": g, "slot": len(trials), "key": k, "genome": x,
                           "fitness": f(x), "status": "ok", "budget": "full"})
    return trials


@pytest.mark.parametrize("model", ["trees", "none"])
def test_surrogate_plans_new_distinct_genomes_from_trials_and_rng_only(model: str) -> None:
    space, f = _space("interaction"), PROBLEMS["interaction"].clean
    a = _run(SurrogateStrategy({"model": model}), space, f, seed=3, generations=4, population=6)
    b = _run(SurrogateStrategy({"model": model}), space, f, seed=3, generations=4, population=6)
    assert [t["genome"] for t in a] == [t["genome"] for t in b]
    assert all(space.invalid_genes(t["genome"]) == [] for t in a)


@pytest.mark.parametrize(("startup", "first"), [(None, 6), (3, 3), (12, 12)])
def test_surrogate_generation_zero_holds_startup_random_genomes_or_the_population(startup, first: int) -> None:
    space, f = _space("interaction"), PROBLEMS["interaction"].clean
    options = {} if startup is None else {"startup": startup}
    trials = _run(SurrogateStrategy(options), space, f, seed=1, generations=3, population=6, first=first)
    assert [sum(t["generation"] == g for t in trials) for g in range(3)] == [first, 6, 6]


def test_surrogate_ignores_failed_trials_and_does_not_replan_known_ones() -> None:
    space = _space("separable")
    rng = np.random.default_rng(0)
    trials = []
    for i in range(12):
        g = space.sample(rng)
        trials.append({"id": i, "generation": 0, "slot": i, "key": space.key(g), "genome": g, "budget": "full",
                       "fitness": None if i % 3 == 0 else float(i), "status": "failed" if i % 3 == 0 else "ok"})
    known = {t["key"] for t in trials}
    ctx = PlanContext(1, space, 8, Direction(True), trials, known.__contains__, np.random.default_rng([0, 1]))
    planned = SurrogateStrategy().plan(ctx)
    assert planned is not None and len(planned) == 8
    assert not known & {space.key(p.genome) for p in planned}
