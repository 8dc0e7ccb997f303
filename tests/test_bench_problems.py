"""bench/problems.py and bench/strategies.py: optima, ranges, and the prototype strategy's promises."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

from problems import PROBLEMS  # noqa: E402
from strategies import make_strategy  # noqa: E402

import natsel  # noqa: E402


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


def _run(plan, space, f, seed: int, generations: int, population: int) -> list[dict]:
    trials: list[dict] = []
    keys: set[str] = set()
    for g in range(generations):
        planned = plan(g, trials, space, np.random.default_rng([seed, g]), keys.__contains__, population, True)
        genomes = [p.genome for p in planned]
        new = [space.key(x) for x in genomes]
        assert len(set(new)) == len(new) == population  # distinct
        assert not keys & set(new)  # never an evaluated genome
        for x, k in zip(genomes, new, strict=True):
            keys.add(k)
            trials.append({"generation": g, "genome": x, "fitness": f(x), "status": "ok"})
    return trials


@pytest.mark.parametrize("model", ["trees", "tpe", "none"])
def test_surrogate_plans_new_distinct_genomes_from_trials_and_rng_only(model: str) -> None:
    space, f = _space("interaction"), PROBLEMS["interaction"].clean
    a = _run(make_strategy(model=model), space, f, seed=3, generations=4, population=6)
    b = _run(make_strategy(model=model), space, f, seed=3, generations=4, population=6)
    assert [t["genome"] for t in a] == [t["genome"] for t in b]
    assert all(space.invalid_genes(t["genome"]) == [] for t in a)


def test_surrogate_ignores_failed_trials_and_does_not_replan_known_ones() -> None:
    space = _space("separable")
    rng = np.random.default_rng(0)
    trials = [{"generation": 0, "genome": space.sample(rng), "fitness": None if i % 3 == 0 else float(i),
               "status": "failed" if i % 3 == 0 else "ok"} for i in range(12)]
    known = {space.key(t["genome"]) for t in trials}
    planned = make_strategy()(1, trials, space, np.random.default_rng([0, 1]), known.__contains__, 8, True)
    assert len(planned) == 8
    assert not known & {space.key(p.genome) for p in planned}


def test_surrogate_initial_sets_the_size_of_generation_zero_only() -> None:
    space = _space("multimodal")
    plan = make_strategy(initial=10)
    first = plan(0, [], space, np.random.default_rng([1, 0]), lambda k: False, 5, True)
    assert len({space.key(p.genome) for p in first}) == 10
    trials = [{"generation": 0, "genome": p.genome, "fitness": 0.1 * i, "status": "ok"} for i, p in enumerate(first)]
    known = {space.key(t["genome"]) for t in trials}
    assert len(plan(1, trials, space, np.random.default_rng([1, 1]), known.__contains__, 5, True)) == 5
