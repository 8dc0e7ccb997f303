"""Prototype evolution strategies, measured by ``bench/search.py`` beside natsel's GA and Optuna.

Not part of natsel yet: this is the code to port into a ``natsel/strategies/`` package once natsel
has a strategy seam. The seam calls, once per generation::

    plan(g, trials, space, rng, known, population, maximize) -> list[Planned]

* ``trials``: every trial of generations ``< g`` as dicts with ``generation``, ``genome``,
  ``fitness`` (None when failed) and ``status``;
* ``rng = numpy.random.default_rng([seed, g])``; ``known(space.key(genome))``: already evaluated;
* the returned genomes are distinct and not known, and depend only on ``(trials, rng)`` (never on
  the number of workers or the order results arrived in: trials are read in the order given, which
  the seam makes the trial-id order).

``surrogate`` (the candidate default) is a (mu + lambda) genetic algorithm whose children are
screened by a cheap model before any is trained:

1. generation 0 (or while fewer than two trials succeeded): random genomes (``initial`` of them
   when that is more than the population);
2. parents come from EVERY genome evaluated so far (mu + lambda), drawn by linear ranking among
   the best ``parents`` share (at least 4);
3. each slot gets its own brood of ``candidates`` children bred with natsel's operators: uniform
   crossover with probability ``breeding`` (else a copy of one parent), then each gene mutated with
   probability ``mutation_rate`` (at least one gene); a numeric gene moves by a Gaussian step in its
   [0, 1] encoding whose width is the gene's spread among the best trials clipped to
   [``sigma_min``, ``sigma_max``], a categorical gene jumps to another value; ``random_share`` of
   the children are sampled afresh;
4. a model fitted on every trial so far ranks each brood and the slot trains its best child;
   ``explore`` of the slots take a random child of their brood instead. Models: ``trees``,
   scikit-learn ExtraTrees predicting fitness, mean + ``kappa`` x spread across trees (the
   default); ``tpe``, a density ratio l(x) / g(x) of the best ``gamma`` share of trials against
   the rest, a product over genes (Gaussian kernels plus a uniform prior on numeric genes, smoothed
   counts on choices); ``both``, the sum of the two rank orders; ``none``, unranked (an ablation).

What the bench showed (``bench/search.py``; knobs screened on 3-4 seeds up to 100 trials, the
finalists on 10 seeds up to 300 and on 10 held-out seeds): ranking by trees beats not ranking; the
density ratio ranked worse than no ranking at all (it prefers children that look like the best
trials, so the population collapses onto the first good region); the trees' spread bonus
(``kappa``) matters (``kappa=0`` lost on most problems); a mutation step that shrinks with the
spread of the best trials got stuck on the multimodal problem (smallest step 0.02 or 0.1: 0.73 vs
0.92 at 300 trials), so the default keeps it near natsel's 0.2 and leaves fine-tuning to the
model's ranking; a per-gene mutation rate of 0.3 beat natsel's 1 / genes; the surrogate was
measured with generations of 10, 6 and 5 (not 20).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sklearn.ensemble import ExtraTreesRegressor  # a natsel dependency; imported here, not timed per plan

from natsel._genetic import Planned, _dedupe, crossover_uniform, mutate
from natsel._space import Choice, Fixed, Gene, Genome, SearchSpace, canonical

Strategy = Callable[..., list[Planned]]


@dataclass(frozen=True)
class SurrogateSettings:
    """Knobs of :func:`surrogate_plan` (defaults: the best measured on bench/search.py)."""

    candidates: int = 24  # children bred per slot, before ranking
    model: str = "trees"  # trees | tpe | both | none
    gamma: float = 0.2  # share of trials that count as good for the density ratio
    parents: float = 0.3  # share of the best trials that breed
    breeding: float = 0.8  # probability of crossover (else a mutated copy)
    explore: float = 0.1  # share of slots given to unranked children
    random_share: float = 0.05  # share of candidates sampled afresh (keeps every region reachable)
    sigma_min: float = 0.2
    sigma_max: float = 0.25
    kappa: float = 1.0  # trees: mean + kappa * std across trees
    grouped: bool = True  # each slot takes the best of its own ``candidates`` children (else: global top)
    bw_min: float = 0.03  # smallest kernel width of the density ratio (in [0, 1] encoding)
    mutation_rate: float | None = 0.3  # per-gene mutation probability (None: 1 / genes, natsel's GA)
    multi_share: float = 0.0  # share of candidates bred by multi-parent crossover of the good trials
    initial: int = 0  # size of the random generation 0 when larger than the population (0: the population)
    max_retries: int = 25


# --- encoding -----------------------------------------------------------------------------------


def _active(space: SearchSpace) -> list[Gene]:
    return [g for g in space.genes if not isinstance(g, Fixed) and g.size > 1]


def _encode(genome: Genome, genes: Sequence[Gene]) -> np.ndarray:
    return np.array([g.index(genome[g.name]) if isinstance(g, Choice) else g.encode(genome[g.name]) for g in genes],
                    dtype=float)


def _decode_numeric(gene: Any, u: float) -> Any:
    return gene._snap(gene._from_unit(u))  # the gene's own snapping (int steps, float digits)


def _mutate_gene(gene: Gene, value: Any, sigma: float, rng: np.random.Generator) -> Any:
    if isinstance(gene, Choice):
        return gene.mutate(value, rng)
    u = gene.encode(value)
    for _ in range(8):
        new = _decode_numeric(gene, u + float(rng.normal(0.0, sigma)))
        if canonical(new) != canonical(value):
            return new
    return gene.mutate(value, rng)


def _mutate(genome: Genome, genes: Sequence[Gene], sigmas: np.ndarray, rng: np.random.Generator,
            rate: float | None = None) -> Genome:
    child = dict(genome)
    hit = rng.random(len(genes)) < (rate if rate is not None else 1.0 / max(1, len(genes)))
    if not hit.any():
        hit[int(rng.integers(len(genes)))] = True
    for j in np.flatnonzero(hit):
        child[genes[j].name] = _mutate_gene(genes[j], child[genes[j].name], float(sigmas[j]), rng)
    return child


# --- models -------------------------------------------------------------------------------------


def _tpe_score(xc: np.ndarray, x: np.ndarray, y: np.ndarray, genes: Sequence[Gene], gamma: float,
               bw_min: float = 0.03) -> np.ndarray:
    """log l(x) - log g(x) summed over genes, with good = best ``gamma`` share of ``(x, y)``."""
    n = len(y)
    n_good = max(1, min(n - 1, int(math.ceil(gamma * n))))
    order = np.argsort(-y, kind="stable")
    good, bad = x[order[:n_good]], x[order[n_good:]]
    score = np.zeros(len(xc))
    for j, gene in enumerate(genes):
        if isinstance(gene, Choice):
            k = len(gene.values)
            cand = xc[:, j].astype(int)
            pl = (np.bincount(good[:, j].astype(int), minlength=k) + 1.0) / (len(good) + k)
            pg = (np.bincount(bad[:, j].astype(int), minlength=k) + 1.0) / (len(bad) + k)
            score += np.log(pl[cand]) - np.log(pg[cand])
        else:
            score += np.log(_parzen(xc[:, j], good[:, j], bw_min)) - np.log(_parzen(xc[:, j], bad[:, j], bw_min))
    return score


def _parzen(points: np.ndarray, centres: np.ndarray, bw_min: float = 0.03) -> np.ndarray:
    """Density on [0, 1]: Gaussian kernels at ``centres`` plus one uniform prior component."""
    m = len(centres)
    bw = float(np.clip(1.06 * (np.std(centres) if m > 1 else 0.3) * (m + 1) ** -0.2, bw_min, 0.3))
    z = (points[:, None] - centres[None, :]) / bw
    kern = np.exp(-0.5 * z * z).sum(axis=1) / (bw * math.sqrt(2 * math.pi))
    return (kern + 1.0) / (m + 1)


def _trees_score(xc: np.ndarray, x: np.ndarray, y: np.ndarray, kappa: float, seed: int) -> np.ndarray:
    model = ExtraTreesRegressor(n_estimators=48, min_samples_leaf=2, max_features=0.7, random_state=seed, n_jobs=1)
    model.fit(x, y)
    per_tree = np.stack([t.predict(xc) for t in model.estimators_])
    return per_tree.mean(axis=0) + kappa * per_tree.std(axis=0)


def _ranks(v: np.ndarray) -> np.ndarray:
    r = np.empty(len(v))
    r[np.argsort(v, kind="stable")] = np.arange(len(v), dtype=float)
    return r


# --- the strategy -------------------------------------------------------------------------------


def _random_generation(space: SearchSpace, population: int, rng: np.random.Generator,
                       taken: Callable[[Genome], bool], keys: set[str], retries: int) -> list[Planned]:
    out = []
    for _ in range(population):
        g, ok = _dedupe(space.sample(rng), taken, space, 1.0 / max(1, len(space)), rng, retries)
        if ok:
            keys.add(space.key(g))
            out.append(Planned(g, "random"))
    return out


def surrogate_plan(g: int, trials: list[dict[str, Any]], space: SearchSpace, rng: np.random.Generator,
                   known: Callable[[str], bool], population: int, maximize: bool = True,
                   settings: SurrogateSettings | None = None) -> list[Planned]:
    """Plan generation ``g`` (see the module docstring)."""
    s = settings or SurrogateSettings()
    keys: set[str] = set()

    def taken(genome: Genome) -> bool:
        k = space.key(genome)
        return k in keys or known(k)

    ok = [t for t in trials if t["fitness"] is not None and math.isfinite(float(t["fitness"]))]
    genes = _active(space)
    if g == 0 or len(ok) < 2 or not genes:
        size = max(population, s.initial) if g == 0 else population
        return _random_generation(space, size, rng, taken, keys, s.max_retries)

    x = np.stack([_encode(t["genome"], genes) for t in ok])
    y = np.array([float(t["fitness"]) if maximize else -float(t["fitness"]) for t in ok])
    order = np.argsort(-y, kind="stable")  # best first; ties: earlier trial first
    n_par = min(len(ok), max(4, int(math.ceil(s.parents * len(ok)))))
    parents = order[:n_par]
    pweights = np.arange(n_par, 0, -1, dtype=float)
    pweights /= pweights.sum()
    top = x[order[: max(2, int(math.ceil(s.gamma * len(ok))))]]
    sigmas = np.clip(top.std(axis=0), s.sigma_min, s.sigma_max)
    names = space.names

    cands: list[Genome] = []
    group: list[int] = []
    ckeys: set[str] = set()
    good_idx = order[: max(2, int(math.ceil(s.gamma * len(ok))))]
    for i in range(s.candidates * population):
        r = rng.random()
        if r < s.random_share:
            child = space.sample(rng)
        elif r < s.random_share + s.multi_share:  # each gene from a random good trial, perturbed
            child = {n: ok[int(good_idx[rng.integers(len(good_idx))])]["genome"][n] for n in names}
            for j, gene in enumerate(genes):
                if isinstance(gene, Choice):
                    if rng.random() < 0.2:
                        child[gene.name] = gene.sample(rng)
                else:
                    child[gene.name] = _decode_numeric(gene, gene.encode(child[gene.name]) + float(rng.normal(0.0, sigmas[j])))
        else:
            a = ok[int(parents[rng.choice(n_par, p=pweights)])]["genome"]
            if rng.random() < s.breeding and n_par > 1:
                b = ok[int(parents[rng.choice(n_par, p=pweights)])]["genome"]
                child = crossover_uniform(a, b, names, rng)
                if space.key(child) in (space.key(a), space.key(b)):
                    child = _mutate(child, genes, sigmas, rng, s.mutation_rate)
            else:
                child = _mutate(a, genes, sigmas, rng, s.mutation_rate)
        k = space.key(child)
        if k not in ckeys and not known(k):
            ckeys.add(k)
            cands.append(child)
            group.append(i // s.candidates)

    out: list[Planned] = []
    if cands:
        xc = np.stack([_encode(c, genes) for c in cands])
        if s.model == "tpe":
            score = _tpe_score(xc, x, y, genes, s.gamma, s.bw_min)
        elif s.model == "trees":
            score = _trees_score(xc, x, y, s.kappa, int(rng.integers(2**31)))
        elif s.model == "both":
            score = _ranks(_tpe_score(xc, x, y, genes, s.gamma, s.bw_min)) + _ranks(
                _trees_score(xc, x, y, s.kappa, int(rng.integers(2**31))))
        else:
            score = rng.random(len(cands))
        n_explore = int(round(s.explore * population))
        explore_slots = set(rng.choice(population, size=n_explore, replace=False).tolist()) if n_explore else set()
        ranked = [int(i) for i in np.argsort(-score, kind="stable")]
        if s.grouped:  # the best child of each slot's own brood; an exploring slot takes a random one
            chosen, gid = [], np.asarray(group)
            for slot in range(population):
                members = [i for i in ranked if gid[i] == slot]
                if members:
                    chosen.append(members[int(rng.integers(len(members)))] if slot in explore_slots else members[0])
        else:
            chosen = ranked[: population - n_explore]
            rest = ranked[population - n_explore:]
            if n_explore and rest:
                chosen += [rest[i] for i in rng.choice(len(rest), size=min(n_explore, len(rest)), replace=False)]
        for i in chosen:
            keys.add(space.key(cands[i]))
            out.append(Planned(cands[i], "surrogate"))
    while len(out) < population:  # too few new candidates: fall back on natsel's dedupe
        base = ok[int(parents[rng.choice(n_par, p=pweights)])]["genome"]
        child, found = _dedupe(mutate(base, space, 1.0 / len(space), rng), taken, space, 1.0 / len(space), rng,
                               s.max_retries)
        if not found:
            break
        keys.add(space.key(child))
        out.append(Planned(child, "mutation"))
    return out


def make_strategy(**overrides: Any) -> Strategy:
    """A ``plan`` callable with :class:`SurrogateSettings` overrides bound."""
    settings = replace(SurrogateSettings(), **overrides)

    def plan(g: int, trials: list[dict[str, Any]], space: SearchSpace, rng: np.random.Generator,
             known: Callable[[str], bool], population: int, maximize: bool = True) -> list[Planned]:
        return surrogate_plan(g, trials, space, rng, known, population, maximize, settings)

    return plan
