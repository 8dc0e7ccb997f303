"""natsel's pso strategy beside its genetic and random strategies on mixed-like problems.

    PYTHONPATH=$PWD python bench/pso_vs_ga.py                     # 4 problems x 10 seeds, 100 and 300 evaluations
    PYTHONPATH=$PWD python bench/pso_vs_ga.py --seeds 3 --problems mixed --budgets 100

Each strategy plans generations exactly as ``natsel evolve`` does (``Strategy.plan`` with the stored
history, ``known``, ``rng(seed, g)``), but the trials are kept in a list and scored in-process, so a
run takes milliseconds, not SQLite commits. A genome planned again is a cache hit (free, as in
natsel); a run stops at exactly ``budget`` evaluations (distinct genomes scored). Population 10 unless
``--population``; pso's ``iterations`` is set to the run's generation count (budget / population).
Reported: the best fitness found (every problem's maximum is 0), mean ± standard error over seeds.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from natsel import strategies
from natsel._space import Choice, FloatRange, IntRange, SearchSpace
from natsel._trial import Direction
from natsel.examples import mixed
from natsel.strategies import PlanContext
from natsel.strategies.genetic import GASettings

Problem = tuple[SearchSpace, Callable[[dict[str, Any]], float]]


def _mixed() -> Problem:
    space = SearchSpace([Choice("activation", ("relu", "elu", "tanh", "sigmoid")),
                         Choice("batch_size", (16, 32, 64, 128)), IntRange("layers", 1, 8),
                         FloatRange("learning_rate", 1e-4, 1e-1, log=True)])
    return space, mixed


def _wide() -> Problem:
    """Eight genes, four categorical (3-8 values); the best learning rate depends on the optimizer."""
    best_lr = {"adam": -3.0, "nadam": -3.0, "adamax": -2.5, "sgd": -1.5, "rmsprop": -3.5, "adagrad": -2.0}
    space = SearchSpace([
        Choice("optimizer", tuple(best_lr)), Choice("activation", ("relu", "elu", "tanh", "sigmoid", "selu")),
        Choice("initializer", ("glorot_uniform", "he_normal", "lecun_normal")),
        Choice("batch_size", (8, 16, 32, 64, 128, 256, 512, 1024)), IntRange("layers", 1, 8),
        IntRange("units", 8, 512, step=8, log=True), FloatRange("learning_rate", 1e-5, 1e-1, log=True),
        FloatRange("dropout", 0.0, 0.6)])

    def fit(g: dict[str, Any]) -> float:
        s = -0.0 if g["optimizer"] in ("adam", "nadam") else -0.4
        s -= 0.0 if g["activation"] == "elu" else 0.6
        s -= 0.0 if g["initializer"] == "he_normal" else 0.3
        s -= 0.15 * abs(math.log2(g["batch_size"]) - 6)
        s -= 0.1 * (g["layers"] - 3) ** 2
        s -= 0.5 * (math.log2(g["units"]) - 7) ** 2 / 4
        s -= (math.log10(g["learning_rate"]) - best_lr[g["optimizer"]]) ** 2
        s -= 4 * (g["dropout"] - 0.2) ** 2
        return s

    return space, fit


def _numeric() -> Problem:
    """Six numeric genes only (log and linear ranges): a smooth bowl where a swarm should do well."""
    space = SearchSpace([FloatRange("learning_rate", 1e-5, 1e-1, log=True), FloatRange("momentum", 0.0, 0.99),
                         FloatRange("dropout", 0.0, 0.6), IntRange("units", 8, 512, step=8, log=True),
                         IntRange("layers", 1, 10), FloatRange("l2", 1e-6, 1e-2, log=True)])

    def fit(g: dict[str, Any]) -> float:
        return -((math.log10(g["learning_rate"]) + 3.3) ** 2 + 4 * (g["momentum"] - 0.85) ** 2
                 + 4 * (g["dropout"] - 0.25) ** 2 + (math.log2(g["units"]) - 6.5) ** 2 / 4
                 + 0.05 * (g["layers"] - 4) ** 2 + 0.5 * (math.log10(g["l2"]) + 4.2) ** 2)

    return space, fit


def _categorical() -> Problem:
    """Five categorical genes (4-10 values), one good value each, and one pairwise interaction."""
    space = SearchSpace([Choice(f"c{i}", tuple(range(n))) for i, n in enumerate((4, 6, 8, 10, 5))])

    def fit(g: dict[str, Any]) -> float:
        s = -sum(0.0 if g[f"c{i}"] == best else 1.0 for i, best in enumerate((1, 4, 2, 7, 0)))
        return s - (0.0 if (g["c0"] + g["c1"]) % 2 == 1 else 0.5)

    return space, fit


PROBLEMS: dict[str, Callable[[], Problem]] = {"mixed": _mixed, "wide": _wide, "numeric": _numeric,
                                              "categorical": _categorical}
#: searcher -> (strategy name, options); pso's ``iterations`` is filled in per run
SEARCHERS: dict[str, tuple[str, dict[str, Any]]] = {
    "random": ("random", {}),
    "genetic": ("genetic", {}),
    "pso": ("pso", {}),  # categorical: ordinal (the default)
    "pso-onehot": ("pso", {"categorical": "onehot"}),
    "empso": ("pso", {"beta": 0.5, "c1": 0.8, "c2": 0.9}),
}


def search(problem: Problem, strategy: str, options: dict[str, Any], seed: int, budget: int,
           population: int) -> float:
    """Best fitness after ``budget`` evaluations, planned by natsel's strategy as ``natsel evolve`` would."""
    space, fit = problem
    opts = dict(options)
    if strategy == "pso":
        opts.setdefault("iterations", max(1, math.ceil(budget / population) - 1))
    planner = strategies.get(strategy)(opts, GASettings(population=population))
    scores: dict[str, float] = {}
    history: list[dict[str, Any]] = []
    best = -math.inf
    g = 0
    while len(scores) < budget:
        ctx = PlanContext(generation=g, space=space, population=population, direction=Direction(True),
                          history=list(history), known=scores.__contains__, rng=PlanContext.rng_for(seed, g), seed=seed)
        planned = planner.plan(ctx)
        if planned is None:
            break
        for slot, p in enumerate(planned):
            key = space.key(p.genome)
            status = "cached" if key in scores else "ok"
            if status == "ok":
                if len(scores) >= budget:
                    break
                scores[key] = fit(p.genome)
                best = max(best, scores[key])
            history.append({"generation": g, "slot": slot, "genome": p.genome, "fitness": scores[key],
                            "status": status, "extra": {}})
        g += 1
    return best


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--searchers", default=",".join(SEARCHERS))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budgets", default="100,300")
    ap.add_argument("--population", type=int, default=10)
    args = ap.parse_args(argv)
    names = args.searchers.split(",")
    budgets = [int(b) for b in args.budgets.split(",")]
    print(f"best fitness found (maximum 0), mean ± standard error over {args.seeds} seeds; "
          f"population {args.population}")
    print("| problem | evaluations | " + " | ".join(names) + " |")
    print("| --- | ---: | " + " | ".join("---:" for _ in names) + " |")
    t0 = time.perf_counter()
    for pname in args.problems.split(","):
        problem = PROBLEMS[pname]()
        for budget in budgets:
            cells = []
            for s in names:
                strategy, options = SEARCHERS[s]
                best = [search(problem, strategy, options, seed, budget, args.population) for seed in range(args.seeds)]
                se = statistics.stdev(best) / math.sqrt(len(best)) if len(best) > 1 else 0.0
                cells.append(f"{np.mean(best):.3f} ± {se:.3f}")
            print(f"| {pname} | {budget} | " + " | ".join(cells) + " |", flush=True)
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
