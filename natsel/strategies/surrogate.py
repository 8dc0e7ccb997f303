"""The default strategy: a (mu + lambda) genetic algorithm whose children are screened by a model.

Per generation (measured against Optuna's TPE in ``bench/search.py``; docs/genetic.md has the table):

1. generation 0 (``startup`` random genomes: by default the population, or 10 when the config
   leaves the population to the strategy's 5), or while fewer than two trials have a score: random
   genomes;
2. parents come from **every** genome evaluated so far (mu + lambda), drawn by linear ranking among
   the best ``parents`` share (at least 4);
3. each slot breeds its own brood of ``candidates`` children with natsel's operators: uniform
   crossover with probability ``breeding`` (else a copy of one parent), then each gene mutated with
   probability ``mutation_rate`` (at least one gene): a numeric gene by a Gaussian step in its
   [0, 1] encoding (the spread of the best trials, clipped to [0.2, 0.25]), a categorical gene to
   another value; ``random_share`` of the children are sampled afresh;
4. an ExtraTrees model fitted on every trial so far (on the ranks of their scores where some scores
   are far out, so a few very bad trials do not flatten it: ``target``) ranks each brood by predicted
   fitness plus ``kappa`` times the spread across its trees (optimism where the model is unsure), and
   the slot trains its best child; ``explore`` of the slots take a random child of their brood instead;
5. ``local`` of the slots breed around the best genome so far with a step adapted from the history
   (:func:`local_step`), their broods ranked by a Gaussian process fitted on the trials nearest the
   incumbent (``local_model: gp``, :func:`local_gp_score`: a smooth model that can say which way is
   up where the trees see a few flat leaves), and ``coordinate`` of them try it with one discrete gene
   changed (the trees picking which); a plateau (the model explains nothing) turns half the slots to
   random genomes.

Determinism: everything is drawn from the generation's ``rng(seed, g)`` and fitted on the stored
trials in id order (the trees get a seed from that rng and run single-threaded), so the plan never
depends on the number of workers or the order results arrived in, and a resume plans the same.
With budgets (``fidelity:``) the model learns a genome's rank (highest budget reached, then score)
instead of its score, so scores at different budgets are never mixed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from natsel._space import Choice, Gene, Genome, IntRange, SearchSpace, canonical
from natsel._trial import FULL_BUDGET, Goal, TrialRow, budget_rank
from natsel.strategies._base import PlanContext, Planned, Strategy, by_budget
from natsel.strategies.genetic import all_known, crossover_uniform, dedupe, mutate

DEFAULTS: dict[str, Any] = {
    "startup": None,  # random genomes in generation 0 (None: the population); 10 if the config sets no population
    "candidates": 24,  # children bred per slot, before ranking
    "parents": 0.3,  # share of the best evaluated genomes that breed
    "breeding": 0.8,  # probability of crossover (else a mutated copy of one parent)
    "mutation_rate": 0.3,  # per-gene mutation probability
    "explore": 0.1,  # share of slots that take a random child of their brood
    "random_share": 0.05,  # share of children sampled afresh (every region stays reachable)
    "kappa": 1.0,  # ranking: predicted mean + kappa * spread across trees
    "trees": 48,
    "model": "trees",  # trees | none (unranked: the ablation the bench measures)
    "max_retries": 25,
    "local": 0.4,  # share of slots that search around the incumbent with an adapted step (0: none)
    "local_model": "gp",  # what ranks the local broods: gp (fitted near the incumbent) | trees (the ablation)
    "coordinate": 0.2,  # share of slots that change one discrete gene of the incumbent, the model picking which
    "mo_scale": "front",  # several objectives: how the model's targets are scaled (front | range: the ablation)
    "target": "auto",  # what the model learns of one objective: auto (rank when some scores are far out) | rank | score
}
#: the options that name one of a few values (the default first)
CHOICES: dict[str, tuple[str, ...]] = {"mo_scale": ("front", "range"), "target": ("auto", "score", "rank"),
                                       "local_model": ("gp", "trees"), "model": ("trees", "none")}
#: a plateau: at least this many scored genomes, of which a model explains less than this share of the variance
PLATEAU_MIN, PLATEAU_R2 = 10, 0.05
#: the local search's step in the encoded [0, 1] space: its start, and its bounds (at the floor it restarts)
LOCAL_STEP = (0.1, 1e-7, 0.3)
#: the step grows by this factor after a generation whose local children improved on the best, and
#: shrinks by its fourth root after one that did not: the 1/5 success rule (Rechenberg)
LOCAL_GROW = 1.5
SIGMA = (0.2, 0.25)  # the mutation step's range in the encoded space
#: coordinate moves: the integer genes with at most this many values count as discrete (with every choice)
COORDINATE_MAX_VALUES = 32
#: the local search's Gaussian process learns from this many trials nearest the incumbent, with a length
#: scale per gene up to this many genes (a hyperparameter per gene from 40 points), one shared above it
LOCAL_NEIGHBOURS, LOCAL_ARD_GENES = 40, 20


def _genes(space: SearchSpace) -> list[Gene]:
    return [g for g in space.genes if g.size > 1]


def _encode(genome: Genome, genes: Sequence[Gene]) -> np.ndarray:
    return np.array([g.index(genome[g.name]) if isinstance(g, Choice) else g.encode(genome[g.name]) for g in genes],
                    dtype=float)


def _mutate_gene(gene: Gene, value: Any, sigma: float, rng: np.random.Generator) -> Any:
    if isinstance(gene, Choice):
        return gene.mutate(value, rng)
    u = gene.encode(value)
    for _ in range(8):
        new = gene.decode(u + float(rng.normal(0.0, sigma)))
        if canonical(new) != canonical(value):
            return new
    return gene.mutate(value, rng)


def _other(gene: Choice | IntRange, value: Any, rng: np.random.Generator) -> Any:
    """Another value of a discrete gene, each with the same chance."""
    if isinstance(gene, Choice):
        return gene.mutate(value, rng)
    others = [v for v in range(int(gene.low), int(gene.high) + 1, gene.step) if v != int(value)]
    return others[int(rng.integers(len(others)))]


def _mutate(genome: Genome, genes: Sequence[Gene], sigmas: np.ndarray, rng: np.random.Generator,
            rate: float) -> Genome:
    child = dict(genome)
    hit = rng.random(len(genes)) < rate
    if not hit.any():
        hit[int(rng.integers(len(genes)))] = True
    for j in np.flatnonzero(hit):
        child[genes[j].name] = _mutate_gene(genes[j], child[genes[j].name], float(sigmas[j]), rng)
    return child


def _trees_predict(xc: np.ndarray, x: np.ndarray, y: np.ndarray, n_trees: int, seed: int) -> np.ndarray:
    """Each tree's prediction for the candidates ``xc`` of an ExtraTrees forest fitted on (x, y):
    (trees, candidates), or (trees, candidates, columns) when ``y`` has several columns."""
    from sklearn.ensemble import ExtraTreesRegressor

    model = ExtraTreesRegressor(n_estimators=n_trees, min_samples_leaf=2, max_features=0.7, random_state=seed,
                                n_jobs=1)
    model.fit(x, y)
    return np.stack([t.predict(xc) for t in model.estimators_])


def _trees_score(xc: np.ndarray, x: np.ndarray, y: np.ndarray, kappa: float, n_trees: int, seed: int) -> np.ndarray:
    per_tree = _trees_predict(xc, x, y, n_trees, seed)
    return per_tree.mean(axis=0) + kappa * per_tree.std(axis=0)


def _ranks(y: np.ndarray) -> np.ndarray:
    """Scores as their ranks scaled to [0, 1] (ties share their mean rank): a model of these is the same
    whatever monotone transform the fitness went through, as TPE's and CMA-ES's are."""
    from scipy.stats import rankdata

    return (rankdata(y) - 1.0) / max(1, len(y) - 1)


def far_out(y: np.ndarray) -> bool:
    """Whether some scores lie far below the rest: under the first quartile by more than three times
    the interquartile range (Tukey's far-out fence), as a loss or an error that spans orders of
    magnitude does, and a diverged training."""
    q1, q3 = np.quantile(y, [0.25, 0.75])
    return bool((y < q1 - 3.0 * (q3 - q1)).any())


def explained(x: np.ndarray, y: np.ndarray, seed: int) -> float:
    """How much of the scores a model of the genes explains beyond noise: the out-of-bag R^2 of a small
    bagged forest (about 0 or below: the scores look like noise around one level, a plateau)."""
    from sklearn.ensemble import ExtraTreesRegressor

    if float(np.ptp(y)) == 0.0:
        return 0.0
    model = ExtraTreesRegressor(n_estimators=24, min_samples_leaf=2, max_features=0.7, bootstrap=True,
                                oob_score=True, random_state=seed, n_jobs=1)
    import warnings

    with warnings.catch_warnings():  # a point no tree left out: sklearn warns, the score is still the R^2
        warnings.simplefilter("ignore")
        model.fit(x, y)
    return float(model.oob_score_)


def local_step(ctx: PlanContext) -> float:
    """The local search's step (encoded units) for this generation, replayed from the history alone:
    from ``LOCAL_STEP[0]``, each earlier generation with local children grows it when one of them beat
    the best found before that generation and shrinks it otherwise (the 1/5 success rule); a step
    that reaches the floor starts again (the incumbent is as refined as the step can say)."""
    start, floor, ceiling = LOCAL_STEP
    step, best = start, -math.inf
    by_generation: dict[int, list[Any]] = {}
    for t in sorted(ctx.history, key=lambda t: t["id"]):
        by_generation.setdefault(t["generation"], []).append(t)
    for g in sorted(by_generation):
        here = by_generation[g]
        local = [o for t in here if t.get("origin") == "local" and (o := ctx.direction.oriented(t["fitness"])) is not None]
        if any(t.get("origin") == "local" for t in here):
            step = min(ceiling, step * LOCAL_GROW) if local and max(local) > best else step * LOCAL_GROW ** -0.25
            if step < floor:
                step = start
        scores = [o for t in here if (o := ctx.direction.oriented(t["fitness"])) is not None]
        best = max([best, *scores])
    return step


def local_gp_score(xc: np.ndarray, x: np.ndarray, y: np.ndarray, centre: np.ndarray, kappa: float,
                   neighbours: int = LOCAL_NEIGHBOURS) -> np.ndarray | None:
    """Optimistic predictions (mean plus ``kappa`` standard deviations) for the candidates ``xc`` of a
    Gaussian process fitted on the ``neighbours`` trials (x, y) nearest ``centre``, each gene scaled
    by its range among the trials: a Matern 5/2 kernel with a length scale per gene (one shared
    beyond ``LOCAL_ARD_GENES`` genes) and a noise term, fitted by maximum likelihood from one fixed
    start (deterministic). Near an incumbent the trees are a few flat leaves; this model has a slope
    and a curvature there, so the local search steps uphill and along a valley, not where the trees
    disagree most. None when the fit fails.

    Linear algebra runs on one thread: the matrices are 40 x 40, and a threaded BLAS sharing cores
    with the workers' training spent ten times as long waiting for its threads as computing."""
    import warnings

    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
    from threadpoolctl import threadpool_limits

    span = np.ptp(x, axis=0)
    span = np.where(span > 0, span, 1.0)
    xs = x / span
    near = np.argsort(((xs - centre / span) ** 2).sum(axis=1), kind="stable")[:neighbours]
    scale = np.full(x.shape[1], 0.5) if x.shape[1] <= LOCAL_ARD_GENES else 0.5
    kernel = (ConstantKernel(1.0, (1e-3, 1e3)) * Matern(scale, (1e-3, 1e2), nu=2.5)
              + WhiteKernel(1e-3, (1e-8, 1e-1)))
    gp = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=0, random_state=0)
    try:
        # a length scale at its bound: sklearn warns, the fit stands
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            warnings.simplefilter("ignore")
            gp.fit(xs[near], y[near])
            mean, sd = gp.predict(xc / span, return_std=True)
    except (ValueError, np.linalg.LinAlgError):
        return None
    out = mean + kappa * sd
    return out if np.isfinite(out).all() else None


def _local_child(incumbent: Genome, genes: Sequence[Gene], step: float, rng: np.random.Generator) -> Genome:
    """The incumbent with every numeric gene moved by a Gaussian step in its encoding (integers round,
    so a small step keeps them) and each categorical gene changed with probability 1/genes. A step
    that changed nothing (a space of integers, a small step) moves one numeric gene to a neighbouring
    value instead: the smallest move there is, so a local slot never repeats the incumbent."""
    child = dict(incumbent)
    for gene in genes:
        value = incumbent[gene.name]
        if isinstance(gene, Choice):
            if rng.random() < 1.0 / len(genes):
                child[gene.name] = gene.mutate(value, rng)
        else:
            child[gene.name] = gene.decode(gene.encode(value) + float(rng.normal(0.0, step)))
    if all(canonical(child[g.name]) == canonical(incumbent[g.name]) for g in genes):
        numeric = [g for g in genes if not isinstance(g, Choice)] or list(genes)
        gene = numeric[int(rng.integers(len(numeric)))]
        value = incumbent[gene.name]
        child[gene.name] = gene.mutate(value, rng) if isinstance(gene, Choice) else gene._neighbour(value, rng)
    return child


def evaluated(ctx: PlanContext) -> list[tuple[Genome, float, TrialRow]]:
    """Every genome evaluated so far, once, with a score where higher is better, and its row.

    Without budgets: its fitness, oriented (several objectives or constraints: its place in the
    goal's order). With budgets: its rank by (highest budget reached, score there)."""
    goal = ctx.ranking()
    best: dict[str, TrialRow] = {}
    own = {t["key"] for t in ctx.history}
    for t in [*ctx.history, *(p for p in ctx.prior if p["key"] not in own)]:  # this run's result wins over a prior one
        if goal.oriented(t) is None:
            continue
        b = best.get(t["key"])
        if b is None or budget_rank(t.get("budget", FULL_BUDGET)) > budget_rank(b.get("budget", FULL_BUDGET)):
            best[t["key"]] = t
    rows = sorted(best.values(), key=lambda t: t["id"])
    if all(t.get("budget", FULL_BUDGET) == FULL_BUDGET for t in rows):
        scores = goal.scores(rows)
        return [(t["genome"], float(f), t) for t, f in zip(rows, scores, strict=True)]  # type: ignore[arg-type]
    score = by_budget(rows, goal)
    order = sorted(rows, key=lambda t: (budget_rank(t.get("budget", FULL_BUDGET)), score[t["key"]]))
    rank = {t["key"]: float(i) for i, t in enumerate(order)}
    return [(t["genome"], rank[t["key"]], t) for t in rows]


def goal_targets(goal: Goal, rows: Sequence[TrialRow], scale: str = "front") -> np.ndarray:
    """What the model learns for a goal that is not plain: per trial and objective minus its shortfall
    from the best value seen, then minus its constraint violation (0 when feasible), one column each.

    ``scale: front``: a shortfall is measured in units of the feasible front's spread on that
    objective (the best seen to the front's worst) and compressed by log(1 + s), so a few very bad
    trials (objectives that span orders of magnitude) do not squeeze the front into a sliver of the
    model's range; ``range``: linear over every trial's range."""
    y = np.array([goal.oriented(t) for t in rows], dtype=float)
    best = y.max(axis=0)
    if scale == "front":
        front = goal.front(rows) or list(range(len(rows)))
        worst = y[front].min(axis=0)
        span = np.where(best > worst, best - worst, np.maximum(best - y.min(axis=0), 1e-12))
        short = np.log1p((best - y) / span)
    else:
        low = y.min(axis=0)
        short = (best - y) / np.where(best > low, best - low, 1.0)
    miss = np.array([[goal.violation(t)] for t in rows], dtype=float)
    return np.hstack([-short, -np.minimum(miss, 1e6)])


def scalarise(pred: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ParEGO's augmented Tchebycheff scalarisation of predicted :func:`goal_targets` (higher is
    better): the weighted worst shortfall from the best seen plus a little of their sum, and a
    predicted constraint violation on top, so a child predicted feasible ranks above one that is not."""
    short = weights * np.maximum(-pred[:, :-1], 0.0)
    return -(short.max(axis=1) + 0.05 * short.sum(axis=1)) + 10.0 * np.minimum(pred[:, -1], 0.0)


class SurrogateStrategy(Strategy):
    """Surrogate-assisted (mu + lambda) evolution: natsel's default strategy."""

    name = "surrogate"
    supports_steady = True
    default_population = 5  # many small generations beat few large ones at 40-300 trials (bench/search.py)
    default_startup = 10  # ... after a first generation of 10 (with the default population)
    options_schema = {"startup": int, "candidates": int, "parents": float, "breeding": float, "mutation_rate": float,
                      "explore": float, "random_share": float, "kappa": float, "trees": int, "model": str,
                      "max_retries": int, "local": float, "coordinate": float,
                      "mo_scale": str, "target": str, "local_model": str}

    @classmethod
    def check_options(cls, options: Any) -> None:
        super().check_options(options)
        for k, allowed in CHOICES.items():
            if k in options and options[k] not in allowed:
                raise ValueError(f"option '{k}' of strategy 'surrogate' must be {', '.join(allowed[:-1])} or "
                                 f"{allowed[-1]}, got {options[k]!r}")
        for k in ("parents", "breeding", "mutation_rate", "explore", "random_share", "local", "coordinate"):
            if k in options and not 0 <= options[k] <= 1:
                raise ValueError(f"option '{k}' of strategy 'surrogate' must be between 0 and 1, got {options[k]!r}")
        for k in ("startup", "candidates", "trees"):
            if k in options and options[k] < 1:
                raise ValueError(f"option '{k}' of strategy 'surrogate' must be at least 1, got {options[k]!r}")

    def plan(self, ctx: PlanContext) -> list[Planned] | None:
        s = {**DEFAULTS, **self.options}
        space, rng, population = ctx.space, ctx.rng, ctx.population
        keys: set[str] = set()

        def taken(genome: Genome) -> bool:
            k = space.key(genome)
            return k in keys or ctx.known(k)

        scored = evaluated(ctx)
        genes = _genes(space)
        if ctx.generation == 0 and len(scored) >= 2 and genes:  # a warm start: prior trials to learn from
            size = s["startup"] or ctx.population
            bred = size // 2  # half bred from the prior, half random: the space may have grown past it
            out = self._bred(replace(ctx, population=bred), scored, genes, s, keys) if bred else []
            out += self._random(ctx, taken, keys, s["max_retries"], size - len(out))
        elif ctx.generation == 0 or len(scored) < 2 or not genes:
            size = (s["startup"] or ctx.population) if ctx.generation == 0 else ctx.population
            out = self._random(ctx, taken, keys, s["max_retries"], size)
        else:
            out = self._bred(ctx, scored, genes, s, keys)
            factor = 1.0 / max(1, len(space))
            while len(out) < population:  # too few new candidates: natsel's mutate-then-resample
                child, found = dedupe(mutate(scored[int(rng.integers(len(scored)))][0], space, factor, rng), taken,
                                      space, factor, rng, s["max_retries"])
                if not found:
                    break
                keys.add(space.key(child))
                out.append(Planned(child, "mutation"))
        if not out or all_known(out, space, ctx.known):
            return None
        return out

    def _random(self, ctx: PlanContext, taken: Callable[[Genome], bool], keys: set[str],
                retries: int, size: int) -> list[Planned]:
        out = []
        factor = 1.0 / max(1, len(ctx.space))
        for i in range(size):
            if i == 0 and ctx.generation == 0 and ctx.initial_genome is not None:
                g, origin = ctx.space.complete(ctx.initial_genome, ctx.rng), "initial"
            else:
                g, origin = ctx.space.sample(ctx.rng), "random"
            g, ok = dedupe(g, taken, ctx.space, factor, ctx.rng, retries)
            if ok or i == 0:
                keys.add(ctx.space.key(g))
                out.append(Planned(g, origin))
        return out

    def _bred(self, ctx: PlanContext, scored: list[tuple[Genome, float, TrialRow]], genes: list[Gene],
              s: dict[str, Any], keys: set[str]) -> list[Planned]:
        space, rng, population, goal = ctx.space, ctx.rng, ctx.population, ctx.ranking()
        x = np.stack([_encode(g, genes) for g, _, _ in scored])
        y = np.array([f for _, f, _ in scored])
        ym = _ranks(y) if s["target"] == "rank" or s["target"] == "auto" and far_out(y) else y  # what the model learns
        order = np.argsort(-y, kind="stable")  # best first; ties: the earlier trial
        n_par = min(len(scored), max(4, int(math.ceil(s["parents"] * len(scored)))))
        parents = order[:n_par]
        weights = np.arange(n_par, 0, -1, dtype=float)
        weights /= weights.sum()
        top = x[order[: max(2, int(math.ceil(0.2 * len(scored))))]]
        sigmas = np.clip(top.std(axis=0), *SIGMA)
        names = space.names
        # a plateau: the best quarter all score the same, or a model of the genes explains nothing of the
        # scores beyond noise, so the model cannot tell genomes apart; half the slots then sample the
        # space afresh until something scores better (and no slot searches locally around noise)
        # (best scores that tie above what a random genome scores are a flat top, found, not a plateau,
        # however many bred genomes have reached it since: the level is the random genomes' median)
        # (several objectives or constraints: no plateau test and no local slots: both follow one score)
        leaders = y[order[: max(3, len(y) // 4)]]
        drawn = [f for _, f, t in scored if t.get("origin") in ("random", "initial")]
        flat = float(np.ptp(leaders)) == 0.0 and float(leaders[0]) <= float(np.median(drawn or y))
        plateau = goal.plain and len(y) >= 6 and (
            flat or len(y) >= PLATEAU_MIN and explained(x, ym, int(rng.integers(2**31))) < PLATEAU_R2)
        n_local = 0 if plateau or not goal.plain else (int(round(s["local"] * population)) if population > 1
                                                       else int(rng.random() < s["local"]))
        n_random = int(math.ceil(0.5 * population)) if plateau else 0
        discrete = [g for g in genes if isinstance(g, Choice) or isinstance(g, IntRange) and g.size <= COORDINATE_MAX_VALUES]
        n_coord = 0 if plateau or not goal.plain or not discrete else (
            int(round(s["coordinate"] * population)) if population > 1 else int(rng.random() < s["coordinate"]))
        special = rng.permutation(population)
        local_slots = set(special[:n_local].tolist())
        random_slots = set(special[n_local : n_local + n_random].tolist())
        coord_slots = set(special[n_local + n_random : n_local + n_random + n_coord].tolist())
        incumbent = scored[int(order[0])][0]
        step = local_step(ctx) if local_slots else 0.0

        cands: list[Genome] = []
        group: list[int] = []
        ckeys: set[str] = set()
        for i in range(s["candidates"] * population):
            slot = i // s["candidates"]
            if slot in local_slots:
                child = _local_child(incumbent, genes, step, rng)
            elif slot in coord_slots:
                child = dict(incumbent)
                gene = discrete[int(rng.integers(len(discrete)))]
                child[gene.name] = _other(gene, incumbent[gene.name], rng)
            elif slot in random_slots or rng.random() < s["random_share"]:
                child = space.sample(rng)
            else:
                a = scored[int(parents[rng.choice(n_par, p=weights)])][0]
                if rng.random() < s["breeding"] and n_par > 1:
                    b = scored[int(parents[rng.choice(n_par, p=weights)])][0]
                    child = crossover_uniform(a, b, names, rng)
                    if space.key(child) in (space.key(a), space.key(b)):
                        child = _mutate(child, genes, sigmas, rng, s["mutation_rate"])
                else:
                    child = _mutate(a, genes, sigmas, rng, s["mutation_rate"])
            k = space.key(child)
            if k not in ckeys and not ctx.known(k):
                ckeys.add(k)
                cands.append(child)
                group.append(i // s["candidates"])
        if not cands:
            return []
        xc = np.stack([_encode(c, genes) for c in cands])
        full = all(t.get("budget", FULL_BUDGET) == FULL_BUDGET for _, _, t in scored)
        if s["model"] == "trees" and not goal.plain and full:  # a model per objective (and the violation), and
            # each slot ranks its brood by its own random weighting of them (ParEGO), so slots spread along the front
            targets = goal_targets(goal, [t for _, _, t in scored], s["mo_scale"])
            per_tree = _trees_predict(xc, x, targets, s["trees"], int(rng.integers(2**31)))
            optimistic = per_tree.mean(axis=0) + s["kappa"] * per_tree.std(axis=0)
            lam = rng.dirichlet(np.ones(len(goal.objectives)), size=population)
            score = scalarise(optimistic, lam[np.asarray(group)])
        elif s["model"] == "trees":
            score = _trees_score(xc, x, ym, s["kappa"], s["trees"], int(rng.integers(2**31)))
            local = np.flatnonzero(np.isin(group, sorted(local_slots)))
            if s["local_model"] == "gp" and len(local):  # the local broods: ranked near the incumbent
                near = local_gp_score(xc[local], x, ym, x[int(order[0])], s["kappa"])
                if near is not None:
                    score[local] = near
        else:
            score = rng.random(len(cands))
        # one genome at a time (schedule: steady): it explores with probability ``explore``
        n_explore = int(round(s["explore"] * population)) if population > 1 else int(rng.random() < s["explore"])
        exploring = set(rng.choice(population, size=n_explore, replace=False).tolist()) if n_explore else set()
        ranked = [int(i) for i in np.argsort(-score, kind="stable")]
        gid = np.asarray(group)
        out: list[Planned] = []
        for slot in range(population):  # each slot trains the best child of its own brood
            members = [i for i in ranked if gid[i] == slot]
            if members:
                pick = members[int(rng.integers(len(members)))] if slot in exploring | random_slots else members[0]
                keys.add(space.key(cands[pick]))
                origin = "local" if slot in local_slots else "coordinate" if slot in coord_slots else "random" if slot in random_slots else "surrogate"
                out.append(Planned(cands[pick], origin))
        return out
