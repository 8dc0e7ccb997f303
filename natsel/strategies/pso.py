"""Particle swarm search over the encoded genome space (``strategy: pso``).

One particle per population slot, one generation per swarm iteration, the update rule of
:func:`natsel.swarm.step` (PSO, or EMPSO with ``beta``). docs/swarm.md ("PSO as a search
strategy") explains the choices; in short:

* **Encoding** (:class:`Encoding`): a point of [0, 1]^n. A range gene is one coordinate,
  ``Gene.encode`` (log-aware), decoded by ``Gene.decode`` onto its grid (``step``, ``digits``).
  A categorical gene is one coordinate per category (``categorical: onehot``, the default),
  decoded by argmax (ties: the first category), or one coordinate for the index
  (``categorical: ordinal``), decoded by nearest bin. Genes with one value are left out.
* **State is never kept between generations.** Positions, velocities and personal bests are
  replayed from the stored trials: generation 0's positions are its stored genomes' encodings,
  velocities start at zero, and the update that planned generation ``t`` is repeated with the
  first random numbers of ``rng(seed, t)``, the same ones it drew then. A particle's personal best
  is the best scored genome its slot held (its encoding, not the particle's unsnapped position);
  failed trials never become a best. The replay reads neither the cache nor the clock, so it is
  the same whatever the worker count, the arrival order, a kill and resume, or a shared cache that
  grew meanwhile.
* **The genome cache**: a particle whose decoded genome is already evaluated (or already planned
  this generation) keeps its position, but its slot gets a new genome: the decoded one mutated
  (then resampled), as the GA deduplicates a child (origin ``perturbed``). If nothing new is found
  the known genome stays (it is served from the cache); a plan that holds nothing new is None.
* **Inertia**: ``w`` goes linearly from ``w_start`` to ``w_end`` over ``iterations`` swarm updates
  and stays at ``w_end`` after. ``iterations`` is an option, not the run's generation count,
  because a run may be extended on resume and the replay must use the schedule the updates were
  made with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from natsel._space import Choice, Gene, Genome, SearchSpace
from natsel._trial import Direction, TrialRow
from natsel.strategies._base import PlanContext, Planned, Strategy
from natsel.strategies.genetic import GASettings, all_known, dedupe, initial_population
from natsel.swarm._pso import SwarmOptions, step

CATEGORICAL = ("onehot", "ordinal")
#: the option defaults (``beta`` unset: plain PSO)
DEFAULTS: dict[str, Any] = {"c1": 1.5, "c2": 1.5, "w_start": 0.9, "w_end": 0.4, "beta": None,
                            "velocity_clamp": 0.5, "iterations": 20, "categorical": "ordinal", "max_retries": 25}


class Encoding:
    """Genomes <-> points of [0, 1]^dim for one search space.

    >>> space = SearchSpace([Choice("act", ("relu", "elu", "tanh")), Choice("bias", (True,))])
    >>> enc = Encoding(space)
    >>> enc.dim, enc.encode({"act": "elu", "bias": True}).tolist()
    (3, [0.0, 1.0, 0.0])
    >>> enc.decode(np.array([0.2, 0.1, 0.7]))
    {'act': 'tanh', 'bias': True}
    """

    def __init__(self, space: SearchSpace, categorical: str = "onehot") -> None:
        if categorical not in CATEGORICAL:
            raise ValueError(f"categorical must be one of {', '.join(CATEGORICAL)}, got {categorical!r}")
        self.space = space
        self.parts: list[tuple[Gene, int, int]] = []  # (gene, first coordinate, coordinates)
        dim = 0
        for g in space.genes:
            if g.size < 2:
                continue  # fixed: no coordinate
            width = len(g.values) if isinstance(g, Choice) and categorical == "onehot" else 1
            self.parts.append((g, dim, width))
            dim += width
        self.dim = dim
        self._fixed = {g.name: g.decode(0.5) for g in space.genes if g.size < 2}

    def encode(self, genome: Mapping[str, Any]) -> np.ndarray:
        x = np.zeros(self.dim)
        for g, i, width in self.parts:
            if width > 1:
                x[i + g.index(genome[g.name])] = 1.0  # type: ignore[attr-defined]
            else:
                x[i] = g.encode(genome[g.name])
        return x

    def decode(self, x: np.ndarray) -> Genome:
        """The valid genome at ``x`` (clipped to [0, 1]; categories by argmax or nearest bin)."""
        values = dict(self._fixed)
        for g, i, width in self.parts:
            if width > 1:
                values[g.name] = g.values[int(np.argmax(x[i:i + width]))]  # type: ignore[attr-defined]
            else:
                values[g.name] = g.decode(float(x[i]))
        return {g.name: values[g.name] for g in self.space.genes}


def pso_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options with defaults filled in; a value out of range is a ``ValueError`` (one line)."""
    o = {**DEFAULTS, **options}

    def bad(name: str, want: str) -> ValueError:
        return ValueError(f"option '{name}' of strategy 'pso' must be {want}, got {o[name]!r}")

    for name in ("c1", "c2", "w_start", "w_end"):
        if not o[name] >= 0:
            raise bad(name, ">= 0")
    if o["beta"] is not None and not 0 <= o["beta"] < 1:
        raise bad("beta", "in [0, 1)")
    if not 0 < o["velocity_clamp"] <= 1:
        raise bad("velocity_clamp", "in (0, 1] (a share of the [0, 1] width of every coordinate)")
    if o["iterations"] < 1:
        raise bad("iterations", ">= 1")
    if o["max_retries"] < 0:
        raise bad("max_retries", ">= 0")
    if o["categorical"] not in CATEGORICAL:
        raise bad("categorical", " or ".join(CATEGORICAL))
    return o


def swarm_options(options: Mapping[str, Any], particles: int) -> SwarmOptions:
    o = pso_options(options)
    return SwarmOptions(n_particles=particles, iterations=o["iterations"], c1=float(o["c1"]), c2=float(o["c2"]),
                        w_start=float(o["w_start"]), w_end=float(o["w_end"]),
                        beta=None if o["beta"] is None else float(o["beta"]), velocity_clamp=float(o["velocity_clamp"]))


class Swarm:
    """Positions, velocities, EMPSO momenta and personal bests of ``n`` particles in [0, 1]^dim."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x
        self.v = np.zeros_like(x)
        self.m = np.zeros_like(x)
        self.pbest = x.copy()
        self.pbest_fit = np.full(len(x), -np.inf)  # oriented: larger is better

    def gbest(self) -> np.ndarray:
        """The best personal best (the first particle's on a tie, or when nothing is scored)."""
        return self.pbest[int(np.argmax(self.pbest_fit))]

    def score(self, points: np.ndarray, fitness: np.ndarray) -> None:
        """The genomes at ``points`` scored ``fitness`` (oriented; NaN: failed, never a best)."""
        better = ~np.isnan(fitness) & (np.nan_to_num(fitness, nan=-np.inf) > self.pbest_fit)
        self.pbest[better] = points[better]
        self.pbest_fit[better] = fitness[better]

    def move(self, opt: SwarmOptions, t: int, rng: np.random.Generator) -> None:
        """Update ``t`` (0 for the one that plans generation 1), with the first 2 x n x dim numbers of ``rng``."""
        r1, r2 = rng.random(self.x.shape), rng.random(self.x.shape)
        vmax = np.full(self.x.shape[1], opt.velocity_clamp if opt.velocity_clamp is not None else 1.0)
        self.x, self.v, self.m = step(self.x, self.v, self.m, self.pbest, self.gbest(), r1, r2, opt,
                                      min(t, opt.iterations - 1), vmax, np.zeros_like(vmax), np.ones_like(vmax))


def _slots(history: Sequence[TrialRow], generation: int, population: int) -> list[TrialRow]:
    rows = sorted((t for t in history if t["generation"] == generation), key=lambda t: t["slot"])
    if [t["slot"] for t in rows] != list(range(population)):
        raise ValueError(f"pso: generation {generation} holds slots {[t['slot'] for t in rows]}, "
                         f"not 0..{population - 1}; the swarm cannot be replayed")
    return rows


def replay(history: Sequence[TrialRow], enc: Encoding, population: int, opt: SwarmOptions, direction: Direction,
           rng_of: Callable[[int], np.random.Generator], generations: int) -> Swarm:
    """The swarm after generations ``0 .. generations-1`` were planned and scored, from the stored trials alone."""

    def scored(rows: list[TrialRow]) -> tuple[np.ndarray, np.ndarray]:
        points = np.stack([enc.encode(t["genome"]) for t in rows]) if enc.dim else np.zeros((len(rows), 0))
        fit = [direction.oriented(t["fitness"]) for t in rows]
        return points, np.array([np.nan if f is None else f for f in fit], dtype=float)

    points, fit = scored(_slots(history, 0, population))
    swarm = Swarm(points.copy())
    swarm.score(points, fit)
    for t in range(1, generations):
        swarm.move(opt, t - 1, rng_of(t))
        swarm.score(*scored(_slots(history, t, population)))
    return swarm


class PSOStrategy(Strategy):
    """A particle swarm over the encoded genome space; state replayed from the stored history.

    Generation 0 is random like the GA's (the first organism completed from ``initial_genome``);
    generation g moves every particle once and decodes its position.
    """

    name = "pso"
    supports_goals = False
    supports_fidelity = False  # particles are slots; halving's promoted trials are not
    fixed_slots = True
    options_schema = {"c1": float, "c2": float, "w_start": float, "w_end": float, "beta": float,
                      "velocity_clamp": float, "iterations": int, "categorical": str, "max_retries": int}

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        super().check_options(options)
        pso_options(options)

    def plan(self, ctx: PlanContext) -> list[Planned] | None:
        o = pso_options(self.options)
        settings = GASettings(population=ctx.population, max_retries=o["max_retries"])
        if ctx.generation == 0:
            return initial_population(ctx.space, settings, ctx.rng, ctx.known, ctx.initial_genome)
        if ctx.seed is None:
            raise ValueError("pso replays earlier generations: its PlanContext needs the run's seed (no seed given)")
        enc = Encoding(ctx.space, o["categorical"])
        opt = swarm_options(o, ctx.population)
        swarm = replay(ctx.history, enc, ctx.population, opt, ctx.direction, ctx.rng_of, ctx.generation)
        swarm.move(opt, ctx.generation - 1, ctx.rng)  # the first draws of rng(seed, g): what a replay repeats
        keys: set[str] = set()

        def taken(genome: Genome) -> bool:
            k = ctx.space.key(genome)
            return k in keys or ctx.known(k)

        factor = settings.factor(len(ctx.space))
        out: list[Planned] = []
        for x in swarm.x:
            genome, origin = enc.decode(x), "swarm"
            if taken(genome):
                genome, new = dedupe(genome, taken, ctx.space, factor, ctx.rng, settings.max_retries)
                origin = "perturbed" if new else origin
            keys.add(ctx.space.key(genome))
            out.append(Planned(genome, origin))
        return None if all_known(out, ctx.space, ctx.known) else out
