"""The PSO/EMPSO engine (numpy only) on functions with known minima."""

from __future__ import annotations

import numpy as np
import pytest

from natsel.swarm import SwarmOptions, minimize, rastrigin, rosenbrock, sphere

SEEDS = range(8)
PSO = SwarmOptions(n_particles=40)
EMPSO = SwarmOptions(n_particles=40, beta=0.5, c1=0.8, c2=0.9)  # documented in docs/swarm.md


@pytest.mark.parametrize("name,options", [("pso", PSO), ("empso", EMPSO)])
@pytest.mark.parametrize("fn,dim,bound,iters,tol,argmin", [
    (sphere, 10, 5.0, 300, 1e-6, 0.0),
    (rosenbrock, 2, 5.0, 500, 1e-8, 1.0),
    (rastrigin, 2, 5.12, 300, 1e-8, 0.0),
])
def test_reaches_known_minima(name, options, fn, dim, bound, iters, tol, argmin):
    from dataclasses import replace

    opt = replace(options, iterations=iters)
    for seed in SEEDS:
        res = minimize(fn, dim, opt, bounds=(-bound, bound), seed=seed)
        assert res.best_cost < tol, (seed, res.best_cost)
        assert np.allclose(res.best_position, argmin, atol=1e-2)
        assert res.cost_history[-1] == res.best_cost
        assert all(b <= a for a, b in zip(res.cost_history, res.cost_history[1:], strict=False))


def test_empso_with_the_paper_defaults_on_rosenbrock():
    opt = SwarmOptions(n_particles=40, iterations=500, beta=0.9, c1=0.8, c2=0.9)
    assert all(minimize(rosenbrock, 2, opt, bounds=(-5, 5), seed=s).best_cost < 1e-8 for s in SEEDS)


def test_empso_differs_from_pso():
    a = minimize(sphere, 4, SwarmOptions(iterations=20), bounds=(-5, 5), seed=0)
    b = minimize(sphere, 4, SwarmOptions(iterations=20, beta=0.9), bounds=(-5, 5), seed=0)
    assert a.cost_history != b.cost_history


def test_seeded_and_bounded():
    opt = SwarmOptions(iterations=50)
    a = minimize(rastrigin, 3, opt, bounds=(-5.12, 5.12), seed=3)
    b = minimize(rastrigin, 3, opt, bounds=(-5.12, 5.12), seed=3)
    assert a.cost_history == b.cost_history and np.array_equal(a.best_position, b.best_position)
    seen = []
    minimize(lambda x: (seen.append(x.copy()), sphere(x - 10))[1], 3, opt, bounds=(-1.0, 1.0), seed=0)
    allx = np.concatenate(seen)
    assert allx.min() >= -1.0 and allx.max() <= 1.0  # the optimum (10) lies outside: positions stay inside


def test_velocity_clamp_limits_each_step():
    seen = []
    opt = SwarmOptions(iterations=30, velocity_clamp=0.01)
    minimize(lambda x: (seen.append(x.copy()), sphere(x))[1], 2, opt, bounds=(-5.0, 5.0), seed=0)
    steps = np.abs(np.diff(np.stack(seen), axis=0))
    assert steps.max() <= 0.01 * 10 + 1e-12  # clamp x (high - low)


def test_early_stop_on_no_improvement_and_callback():
    flat = minimize(lambda x: np.ones(len(x)), 2, SwarmOptions(iterations=500, patience=10), bounds=(-1, 1))
    assert flat.stopped == "patience" and flat.iterations == 10
    cb = minimize(sphere, 2, SwarmOptions(iterations=500), bounds=(-1, 1), should_stop=lambda t, best: t >= 4)
    assert cb.stopped == "callback" and cb.iterations == 5 and len(cb.cost_history) == 5


def test_inertia_schedule():
    opt = SwarmOptions(iterations=11, w_start=0.9, w_end=0.4)
    assert opt.inertia(0) == pytest.approx(0.9) and opt.inertia(10) == pytest.approx(0.4)
    assert opt.inertia(5) == pytest.approx(0.65)


def test_nan_costs_never_become_the_best():
    def cost(x):
        c = sphere(x)
        c[0] = np.nan
        return c

    res = minimize(cost, 2, SwarmOptions(iterations=20), bounds=(-1, 1), seed=0)
    assert np.isfinite(res.best_cost)
