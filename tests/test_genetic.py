from __future__ import annotations

import numpy as np
import pytest

from natsel import Choice, IntRange, SearchSpace
from natsel.strategies.genetic import (
    GASettings,
    crossover_single_point,
    crossover_uniform,
    draw,
    next_generation,
    rank_weights,
    top_k,
)


def _chi2_pvalue(observed: np.ndarray, expected: np.ndarray) -> float:
    from scipy.stats import chisquare  # scipy comes with scikit-learn

    return float(chisquare(observed, expected * observed.sum() / expected.sum()).pvalue)


def test_top_k_takes_the_fittest_not_a_roulette():
    fitness = [0.1, 0.9, None, 0.5, 0.95, 0.2]
    assert top_k(fitness, 2) == [4, 1]
    assert top_k(fitness, 2, maximize=False) == [0, 5]
    assert top_k([None, None], 1) == []


def test_rank_weights_handle_negative_zero_equal_and_failed():
    w = rank_weights([-5.0, 0.0, 3.0, None, float("nan")])
    assert w[3] == 0 and w[4] == 0
    assert w[0] < w[1] < w[2] and np.isclose(w.sum(), 1)
    equal = rank_weights([0.0, 0.0, 0.0])
    assert np.allclose(equal, 1 / 3)
    mini = rank_weights([1.0, 2.0, 3.0], maximize=False)
    assert mini[0] > mini[1] > mini[2]
    assert (rank_weights([-1.0, -1.0, -7.0]) > 0).all()


def test_selection_frequencies_follow_the_documented_weights():
    fitness = [0.3, -2.0, 0.3, 10.0, None, 0.0]
    w = rank_weights(fitness)
    # documented: ranks worst..best = 1..m, ties share the mean rank
    assert np.allclose(w, np.array([3.5, 1, 3.5, 5, 0, 2]) / 15)
    rng = np.random.default_rng(123)
    n = 30000
    counts = np.bincount([draw(w, rng) for _ in range(n)], minlength=len(w))
    assert counts[4] == 0  # failed never breed
    ok = w > 0
    assert counts[1] > 0  # the least fit can be picked (NaturalSelection's could not)
    assert _chi2_pvalue(counts[ok].astype(float), w[ok] * n) > 0.001


def test_chi2_helper_rejects_wrong_weights():
    # guard: the statistical test above is able to fail
    obs = np.array([5000.0, 5000.0])
    assert _chi2_pvalue(obs, np.array([7000.0, 3000.0])) < 1e-6


def test_draw_excludes_when_possible():
    rng = np.random.default_rng(0)
    assert all(draw(np.array([0.5, 0.5]), rng, exclude=0) == 1 for _ in range(100))
    assert draw(np.array([1.0, 0.0]), rng, exclude=0) == 0  # only one can breed


def test_crossovers_take_genes_from_parents():
    names = list("abcdef")
    a = {n: 0 for n in names}
    b = {n: 1 for n in names}
    rng = np.random.default_rng(0)
    kids = [crossover_uniform(a, b, names, rng) for _ in range(200)]
    assert all(set(k.values()) <= {0, 1} for k in kids)
    assert 0.4 < np.mean([k["c"] for k in kids]) < 0.6
    for _ in range(50):
        k = crossover_single_point(a, b, names, rng)
        vals = [k[n] for n in names]
        assert vals == sorted(vals) and vals[0] == 0 and vals[-1] == 1


@pytest.fixture
def space():
    return SearchSpace([Choice("a", tuple(range(10))), IntRange("b", 0, 99), Choice("c", ("x", "y", "z"))])


def test_next_generation_keeps_elites_unchanged_and_size(space):
    rng = np.random.default_rng(0)
    genomes = [space.sample(rng) for _ in range(20)]
    fitness = [float(i) for i in range(20)]
    settings = GASettings(population=20, elitism=0.1)
    nxt = next_generation(genomes, fitness, space, settings, np.random.default_rng(1), known=lambda k: False)
    assert len(nxt) == 20
    elites = [p for p in nxt if p.origin == "elite"]
    assert [p.genome for p in elites] == [genomes[19], genomes[18]]


def test_next_generation_avoids_known_genomes(space):
    rng = np.random.default_rng(0)
    genomes = [space.sample(rng) for _ in range(10)]
    known = {space.key(g) for g in genomes}
    nxt = next_generation(genomes, list(range(10)), space, GASettings(population=10), np.random.default_rng(2),
                          known=lambda k: k in known)
    children = [p for p in nxt if p.origin != "elite"]
    keys = [space.key(p.genome) for p in nxt]
    assert len(set(keys)) == len(keys)
    assert all(space.key(p.genome) not in known for p in children)


def test_all_failed_generation_starts_afresh(space):
    rng = np.random.default_rng(0)
    genomes = [space.sample(rng) for _ in range(6)]
    nxt = next_generation(genomes, [None] * 6, space, GASettings(population=6), rng, known=lambda k: False)
    assert len(nxt) == 6 and all(p.origin == "random" for p in nxt)


def test_mutation_factor_defaults_to_one_over_genes():
    assert GASettings().factor(15) == pytest.approx(1 / 15)
    assert GASettings(mutation_factor=0.5).factor(15) == 0.5
    assert GASettings(population=50).n_elites() == 2  # round(0.05 * 50)
    assert GASettings(population=10, elitism=0.0).n_elites() == 0
