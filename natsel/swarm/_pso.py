"""Particle swarm optimisation (PSO) and EMPSO, vectorised over particles (numpy only).

Update rules, for every particle (rows of ``x``), every iteration ``t``:

* PSO:   ``v <- w_t*v + c1*r1*(pbest - x) + c2*r2*(gbest - x)``;  ``x <- x + v``
* EMPSO (``beta`` set; Mohapatra et al.): the inertia term becomes an exponentially weighted
  momentum of past velocities, ``M <- beta*M + (1 - beta)*v``;
  ``v <- M + c1*r1*(pbest - x) + c2*r2*(gbest - x)``;  ``x <- x + v``

``r1`` and ``r2`` are drawn uniformly in [0, 1) each iteration, per particle and dimension.
``w_t`` goes linearly from ``w_start`` to ``w_end``. Velocities are clamped to
``velocity_clamp * (high - low)`` when bounds are given (else to ``velocity_clamp`` itself);
positions are clipped to the bounds and the velocity component that hit a bound is zeroed.

``minimize(..., record=True)`` also returns the whole run as a :class:`SwarmTrajectory`: the
swarm's state after every iteration, with the initial state as iteration 0. Recording only
copies arrays; it draws no random numbers, so the run is the same with and without it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

Cost = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SwarmOptions:
    """Swarm settings. Defaults: the common 0.9 -> 0.4 inertia schedule with c1 = c2 = 1.5."""

    n_particles: int = 30
    iterations: int = 200
    c1: float = 1.5
    c2: float = 1.5
    w_start: float = 0.9
    w_end: float = 0.4
    beta: float | None = None  # set (e.g. 0.9) for EMPSO
    velocity_clamp: float | None = 0.5
    patience: int | None = None  # stop after this many iterations without improvement
    tol: float = 0.0  # an improvement must exceed this

    def inertia(self, t: int) -> float:
        if self.iterations <= 1:
            return self.w_start
        return self.w_start + (self.w_end - self.w_start) * t / (self.iterations - 1)


@dataclass(frozen=True)
class SwarmTrajectory:
    """The swarm's state per iteration; index 0 is the initial state (before any update).

    With ``T`` iterations run, ``n`` particles and ``d`` dimensions:

    * ``positions``, ``velocities``: (T+1, n, d). ``velocities[t]`` is the velocity after update
      ``t`` (clamped; a component that hit a bound is zeroed), the one carried into update ``t+1``;
      ``velocities[0]`` is zero.
    * ``costs``: (T+1, n), the cost of ``positions[t]``.
    * ``pbest_positions`` (T+1, n, d), ``pbest_costs`` (T+1, n): each particle's best so far.
    * ``gbest_positions`` (T+1, d), ``gbest_costs`` (T+1,): the swarm's best so far;
      ``gbest_costs[1:]`` is the result's ``cost_history``.
    """

    positions: np.ndarray
    velocities: np.ndarray
    costs: np.ndarray
    pbest_positions: np.ndarray
    pbest_costs: np.ndarray
    gbest_positions: np.ndarray
    gbest_costs: np.ndarray

    @property
    def iterations(self) -> int:
        """Iterations run (the trajectory holds one more state: the initial one)."""
        return len(self.positions) - 1


@dataclass
class SwarmResult:
    best_position: np.ndarray
    best_cost: float
    cost_history: list[float] = field(default_factory=list)  # global best after each iteration
    iterations: int = 0
    stopped: str = "iterations"  # iterations | patience | deadline | callback
    trajectory: SwarmTrajectory | None = None  # with minimize(..., record=True)


def step(
    x: np.ndarray,
    v: np.ndarray,
    m: np.ndarray,
    pbest: np.ndarray,
    gbest: np.ndarray,
    r1: np.ndarray,
    r2: np.ndarray,
    opt: SwarmOptions,
    t: int,
    vmax: np.ndarray | None = None,
    low: np.ndarray | None = None,
    high: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One swarm update (the rules above): new positions, velocities and EMPSO momenta.

    Pure: the random numbers ``r1``, ``r2`` come in, so :func:`minimize` and the ``pso`` search
    strategy (which replays its updates from a run's stored history) share this one rule.
    ``vmax`` clamps velocities; with ``low``/``high`` positions are clipped to the bounds and a
    velocity component that hit one is zeroed.
    """
    pull = opt.c1 * r1 * (pbest - x) + opt.c2 * r2 * (gbest - x)
    if opt.beta is None:
        v = opt.inertia(t) * v + pull
    else:
        m = opt.beta * m + (1 - opt.beta) * v
        v = m + pull
    if vmax is not None:
        v = np.clip(v, -vmax, vmax)
    x = x + v
    if low is not None and high is not None:
        hit = (x < low) | (x > high)
        x = np.clip(x, low, high)
        v[hit] = 0.0
    return x, v, m


def minimize(
    cost: Cost,
    dim: int | None = None,
    options: SwarmOptions | None = None,
    *,
    bounds: tuple[np.ndarray | float, np.ndarray | float] | None = None,
    init: np.ndarray | None = None,
    seed: int | None = 0,
    should_stop: Callable[[int, float], bool] | None = None,
    record: bool = False,
) -> SwarmResult:
    """Minimise ``cost`` (positions of shape (particles, dim) -> costs of shape (particles,)).

    Initial positions are ``init`` (particles x dim) or uniform within ``bounds``.
    ``should_stop(iteration, best_cost)`` can end the search early (a deadline, say).
    ``record=True`` keeps every iteration's state in ``result.trajectory`` (memory grows with
    iterations x particles x dim; meant for small problems such as 2-D landscapes).

    >>> res = minimize(lambda x: (x**2).sum(axis=1), 5, bounds=(-5.0, 5.0), seed=1)
    >>> bool(res.best_cost < 1e-6)
    True
    """
    opt = options or SwarmOptions()
    rng = np.random.default_rng(seed)
    if init is not None:
        x = np.array(init, dtype=np.float64)
        dim = x.shape[1]
    elif bounds is not None and dim is not None:
        low, high = (np.broadcast_to(np.asarray(b, dtype=np.float64), (dim,)) for b in bounds)
        x = low + rng.random((opt.n_particles, dim)) * (high - low)
    else:
        raise ValueError("minimize needs init positions, or dim and bounds")
    n = x.shape[0]
    low = high = None
    if bounds is not None:
        low, high = (np.broadcast_to(np.asarray(b, dtype=np.float64), (dim,)) for b in bounds)
        x = np.clip(x, low, high)
    vmax = None
    if opt.velocity_clamp is not None:
        vmax = opt.velocity_clamp * (high - low) if low is not None else np.full(dim, opt.velocity_clamp)
    v = np.zeros_like(x)
    m = np.zeros_like(x)
    costs = np.asarray(cost(x), dtype=np.float64)
    costs = np.where(np.isfinite(costs), costs, np.inf)
    pbest, pbest_cost = x.copy(), costs.copy()
    g = int(np.argmin(pbest_cost))
    gbest, gbest_cost = pbest[g].copy(), float(pbest_cost[g])
    history: list[float] = []
    frames: list[tuple[np.ndarray, ...]] = []

    def keep() -> None:
        frames.append((x.copy(), v.copy(), costs.copy(), pbest.copy(), pbest_cost.copy(), gbest.copy(),
                       np.float64(gbest_cost)))

    if record:
        keep()
    stale = 0
    stopped = "iterations"
    t = 0
    for t in range(opt.iterations):
        r1, r2 = rng.random((n, dim)), rng.random((n, dim))
        x, v, m = step(x, v, m, pbest, gbest, r1, r2, opt, t, vmax, low, high)
        costs = np.asarray(cost(x), dtype=np.float64)
        costs = np.where(np.isfinite(costs), costs, np.inf)
        better = costs < pbest_cost
        pbest[better], pbest_cost[better] = x[better], costs[better]
        g = int(np.argmin(pbest_cost))
        if pbest_cost[g] < gbest_cost - opt.tol:
            stale = 0
        else:
            stale += 1
        if pbest_cost[g] < gbest_cost:
            gbest, gbest_cost = pbest[g].copy(), float(pbest_cost[g])
        history.append(gbest_cost)
        if record:
            keep()
        if opt.patience is not None and stale >= opt.patience:
            stopped = "patience"
            break
        if should_stop is not None and should_stop(t, gbest_cost):
            stopped = "callback"
            break
    trajectory = SwarmTrajectory(*(np.stack(a) for a in zip(*frames, strict=True))) if record else None
    return SwarmResult(gbest, gbest_cost, history, t + 1 if opt.iterations else 0, stopped, trajectory)


# Benchmark functions with known minima (all 0).
def sphere(x: np.ndarray) -> np.ndarray:
    """Minimum 0 at the origin."""
    return (x**2).sum(axis=1)


def rosenbrock(x: np.ndarray) -> np.ndarray:
    """Minimum 0 at (1, ..., 1)."""
    return (100.0 * (x[:, 1:] - x[:, :-1] ** 2) ** 2 + (1 - x[:, :-1]) ** 2).sum(axis=1)


def rastrigin(x: np.ndarray) -> np.ndarray:
    """Minimum 0 at the origin; many local minima."""
    return 10.0 * x.shape[1] + (x**2 - 10.0 * np.cos(2 * np.pi * x)).sum(axis=1)
