"""Genetic operators as small pure functions over plain data (dicts and lists).

Selection weighting (documented in docs/genetic.md):

* Fitness is first oriented so that larger is better (minimised fitness is negated).
* Failed trials (``None`` or NaN fitness) get weight 0: they never breed.
* The others are ranked from worst (rank 1) to best (rank m); tied fitnesses share the
  mean of their ranks. A breeder is drawn with probability ``rank / sum(ranks)``.

Linear ranking works the same for negative, zero, equal or minimised fitness, never
divides by zero, and gives the least fit a chance of ``1 / sum(ranks)`` (never zero),
while the fittest is ``m`` times as likely to be drawn as the least fit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from natsel._space import Genome, SearchSpace
from natsel._trial import Direction
from natsel.strategies._base import PlanContext, Planned, Strategy


def _oriented(fitness: Sequence[float | None], maximize: bool) -> np.ndarray:
    """Fitness turned so that larger is better; NaN for failed trials."""
    d = Direction(maximize)
    return np.array([np.nan if (o := d.oriented(f)) is None else o for f in fitness], dtype=float)


def rank_weights(fitness: Sequence[float | None], maximize: bool = True) -> np.ndarray:
    """Selection probabilities by linear ranking; failed trials get 0.

    >>> rank_weights([0.5, None, 0.9, -1.0]).round(3).tolist()
    [0.333, 0.0, 0.5, 0.167]
    """
    f = _oriented(fitness, maximize)
    ok = ~np.isnan(f)
    weights = np.zeros(len(f))
    if not ok.any():
        return weights
    from scipy.stats import rankdata

    ranks = rankdata(f[ok])  # 1 .. n, ties sharing their mean rank
    weights[ok] = ranks / ranks.sum()
    return weights


def top_k(fitness: Sequence[float | None], k: int, maximize: bool = True) -> list[int]:
    """Indices of the ``k`` fittest non-failed organisms, best first (ties: earlier index first)."""
    f = _oriented(fitness, maximize)
    ok = [i for i in range(len(f)) if not np.isnan(f[i])]
    ok.sort(key=lambda i: (-f[i], i))
    return ok[: max(0, k)]


def draw(weights: np.ndarray, rng: np.random.Generator, exclude: int | None = None) -> int:
    """Draw one index with the given weights (``exclude`` is skipped when others can be drawn)."""
    w = np.asarray(weights, dtype=float).copy()
    if exclude is not None and (w > 0).sum() > 1:
        w[exclude] = 0.0
    return int(rng.choice(len(w), p=w / w.sum()))


def crossover_uniform(a: Genome, b: Genome, names: Sequence[str], rng: np.random.Generator) -> Genome:
    """Each gene from either parent with probability 1/2."""
    pick = rng.random(len(names)) < 0.5
    return {n: (a[n] if p else b[n]) for n, p in zip(names, pick, strict=True)}


def crossover_single_point(a: Genome, b: Genome, names: Sequence[str], rng: np.random.Generator) -> Genome:
    """Genes before a random cut from ``a``, the rest from ``b``."""
    cut = int(rng.integers(1, len(names))) if len(names) > 1 else 1
    return {n: (a[n] if i < cut else b[n]) for i, n in enumerate(names)}


CROSSOVERS: dict[str, Callable[[Genome, Genome, Sequence[str], np.random.Generator], Genome]] = {
    "uniform": crossover_uniform,
    "single_point": crossover_single_point,
}


def mutate(genome: Genome, space: SearchSpace, factor: float, rng: np.random.Generator) -> Genome:
    """Mutate each gene with probability ``factor``; at least one mutable gene always changes.

    Only the genes active in ``genome`` are mutated (:meth:`SearchSpace.mutable`): a change to an
    inactive gene would give a genome with the same key, and waste the mutation."""
    mutable = space.mutable(genome)
    if not mutable:
        return dict(genome)
    child = dict(genome)
    hits = [g for g in mutable if rng.random() < factor]
    if not hits:
        hits = [mutable[int(rng.integers(len(mutable)))]]
    for g in hits:
        child[g.name] = g.mutate(child[g.name], rng)
    return child


@dataclass(frozen=True)
class GASettings:
    """Rates of the genetic algorithm (NaturalSelection's defaults)."""

    population: int = 20
    elitism: float = 0.05
    breeding: float = 0.8
    mutation: float = 0.2
    mutation_factor: float | None = None  # None: 1 / number of genes
    crossover: str = "uniform"
    max_retries: int = 25

    def n_elites(self) -> int:
        if self.elitism <= 0:
            return 0
        return min(self.population, max(1, round(self.elitism * self.population)))

    def factor(self, n_genes: int) -> float:
        return self.mutation_factor if self.mutation_factor is not None else 1.0 / max(1, n_genes)


def dedupe(
    child: Genome,
    taken: Callable[[Genome], bool],
    space: SearchSpace,
    factor: float,
    rng: np.random.Generator,
    retries: int,
) -> tuple[Genome, bool]:
    """Re-mutate (then resample) a child whose genome is already taken; bounded tries.

    Returns the child and whether it is new (any strategy that must not plan a known genome uses it).
    """
    if not taken(child):
        return child, True
    candidate = child
    for _ in range(retries):
        candidate = mutate(candidate, space, factor, rng)
        if not taken(candidate):
            return candidate, True
    for _ in range(retries):
        candidate = space.sample(rng)
        if not taken(candidate):
            return candidate, True
    return child, False


def initial_population(
    space: SearchSpace,
    settings: GASettings,
    rng: np.random.Generator,
    known: Callable[[str], bool],
    initial_genome: Genome | None = None,
) -> list[Planned]:
    """Generation 0: random genomes (the first one completed from ``initial_genome`` if given)."""
    out: list[Planned] = []
    keys: set[str] = set()

    def taken(g: Genome) -> bool:
        k = space.key(g)
        return k in keys or known(k)

    for i in range(settings.population):
        if i == 0 and initial_genome is not None:
            g, origin = space.complete(initial_genome, rng), "initial"
        else:
            g, origin = space.sample(rng), "random"
        g, _ = dedupe(g, taken, space, settings.factor(len(space)), rng, settings.max_retries)
        keys.add(space.key(g))
        out.append(Planned(g, origin))
    return out


def next_generation(
    genomes: Sequence[Genome],
    fitness: Sequence[float | None],
    space: SearchSpace,
    settings: GASettings,
    rng: np.random.Generator,
    known: Callable[[str], bool],
    maximize: bool = True,
) -> list[Planned]:
    """Plan the next generation from a scored one.

    * the ``n_elites`` fittest are carried over unchanged (top-k, not drawn);
    * every other slot is, with probability ``breeding``, a crossover of two distinct parents
      (mutated with probability ``mutation``), otherwise a mutated copy of one parent;
      parents are drawn with :func:`rank_weights`;
    * a child whose genome is already known (cache) or already planned is re-mutated, then
      resampled, at most ``max_retries`` times each. If none is found it stays (it is then
      scored from the cache, not trained again).
    """
    weights = rank_weights(fitness, maximize)
    factor = settings.factor(len(space))
    cross = CROSSOVERS[settings.crossover]
    names = space.names
    out: list[Planned] = []
    keys: set[str] = set()

    def taken(g: Genome) -> bool:
        k = space.key(g)
        return k in keys or known(k)

    for i in top_k(fitness, settings.n_elites(), maximize):
        out.append(Planned(dict(genomes[i]), "elite"))
        keys.add(space.key(genomes[i]))
    while len(out) < settings.population:
        if weights.sum() == 0:  # nothing scored: start afresh
            child, origin = space.sample(rng), "random"
        elif rng.random() < settings.breeding and (weights > 0).sum() > 1:
            a = draw(weights, rng)
            b = draw(weights, rng, exclude=a)
            child, origin = cross(genomes[a], genomes[b], names, rng), "crossover"
            if rng.random() < settings.mutation:
                child = mutate(child, space, factor, rng)
        else:
            child, origin = mutate(genomes[draw(weights, rng)], space, factor, rng), "mutation"
        child, _ = dedupe(child, taken, space, factor, rng, settings.max_retries)
        keys.add(space.key(child))
        out.append(Planned(child, origin))
    return out


def all_known(planned: Sequence[Planned], space: SearchSpace, known: Callable[[str], bool]) -> bool:
    """A plan that holds no new genome: the strategy has exhausted the space it can reach."""
    return all(known(space.key(p.genome)) for p in planned)


class GeneticStrategy(Strategy):
    """NaturalSelection's generational GA: top-k elites, rank-weighted breeders, crossover, mutation.

    Generation 0 is random (the first organism completed from ``initial_genome``); generation g is
    bred from generation g-1 alone. The rates are the config's ``evolution:`` section.
    """

    name = "genetic"

    def plan(self, ctx: PlanContext) -> list[Planned] | None:
        settings: GASettings = self.settings or GASettings(population=ctx.population)
        if ctx.generation == 0:
            return initial_population(ctx.space, settings, ctx.rng, ctx.known, ctx.initial_genome)
        genomes, fitness = ctx.parents()  # oriented: higher is better
        planned = next_generation(genomes, fitness, ctx.space, settings, ctx.rng, ctx.known, maximize=True)
        return None if all_known(planned, ctx.space, ctx.known) else planned
