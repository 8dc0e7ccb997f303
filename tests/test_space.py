from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from natsel import Choice, Fixed, FloatRange, IntRange, SearchSpace, genome_key


def test_key_is_order_independent_and_normalises_numbers():
    assert genome_key({"a": 1, "b": 0.1 + 0.2}) == genome_key({"b": 0.3, "a": 1.0})
    assert genome_key({"a": 1}) != genome_key({"a": 2})
    assert genome_key({"a": True}) != genome_key({"a": 1})


def test_samples_stay_in_domain():
    space = SearchSpace([
        Choice("act", ("relu", "elu")),
        IntRange("units", 8, 64, step=8),
        IntRange("depth", 1, 100, log=True),
        FloatRange("lr", 1e-4, 1e-1, log=True),
        Fixed("epochs", 3),
    ])
    rng = np.random.default_rng(0)
    for _ in range(500):
        g = space.sample(rng)
        assert space.invalid_genes(g) == []
        assert g["units"] % 8 == 0


def test_log_float_sampling_is_log_uniform():
    gene = FloatRange("lr", 1e-4, 1e-0, log=True)
    rng = np.random.default_rng(1)
    logs = np.log10([gene.sample(rng) for _ in range(4000)])
    # a quarter of the mass in each decade under a log-uniform law; a linear law would put ~90% in the top one
    counts = np.histogram(logs, bins=[-4, -3, -2, -1, 0])[0] / len(logs)
    assert np.all(np.abs(counts - 0.25) < 0.04)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), low=st.integers(-50, 50), span=st.integers(1, 200), step=st.integers(1, 7))
def test_int_mutation_changes_value_and_stays_on_grid(seed, low, span, step):
    gene = IntRange("n", low, low + span, step=step)
    rng = np.random.default_rng(seed)
    v = gene.sample(rng)
    if gene.size < 2:
        return
    m = gene.mutate(v, rng)
    assert m != v and gene.contains(m)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), lo_exp=st.floats(-6, 0), decades=st.floats(0.5, 6))
def test_log_float_mutation_is_a_step_in_log_space(seed, lo_exp, decades):
    gene = FloatRange("lr", 10**lo_exp, 10 ** (lo_exp + decades), log=True)
    rng = np.random.default_rng(seed)
    v = gene.sample(rng)
    m = gene.mutate(v, rng)
    assert gene.contains(m) and m != v
    assert abs(gene.encode(m) - gene.encode(v)) <= 1.0


def test_mutation_step_is_local_in_encoded_space():
    gene = FloatRange("lr", 1e-5, 1e-1, log=True)
    rng = np.random.default_rng(3)
    steps = [abs(gene.encode(gene.mutate(1e-3, rng)) - gene.encode(1e-3)) for _ in range(2000)]
    # sigma 0.2 in the unit space: most steps are small, none jumps across the whole range
    assert np.median(steps) < 0.2
    assert max(steps) <= 0.5 + 1e-9


def test_choice_mutation_picks_another_value():
    gene = Choice("opt", ("adam", "nadam", "adamax"))
    rng = np.random.default_rng(0)
    seen = {gene.mutate("adam", rng) for _ in range(200)}
    assert seen == {"nadam", "adamax"}


def test_space_size():
    space = SearchSpace([Choice("a", (1, 2, 3)), IntRange("b", 0, 10, step=5), Fixed("c", "x")])
    assert space.size == 9
    assert math.isinf(SearchSpace([FloatRange("x", 0, 1)]).size)
