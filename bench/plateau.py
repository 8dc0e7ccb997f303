"""Escaping a plateau: how often, and how fast, each searcher leaves a space that mostly scores the same.

    PYTHONPATH=$PWD python bench/plateau.py                 # 20 seeds, 100 trials (a few minutes)
    PYTHONPATH=$PWD python bench/plateau.py --seeds 5 --searchers tpe,surrogate

The problem is ``plateau`` of bench/problems.py: about 87% of its space (a model too shallow to learn)
scores 0.3 plus trial noise, a corner scores 0.5 to 1.0. A search has escaped once it evaluated a
genome of the corner (noiseless value > 0.45). Printed per searcher: the seeds that escaped within
the budget, the median and the largest number of trials it took (seeds that never escaped count as
the budget), and the best noiseless value at the end (mean +- s.e.). Same searchers and seeds as
bench/search.py (natsel through ``natsel.evolve``; Optuna TPE; random).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from problems import PROBLEMS  # noqa: E402
from search import Objective, searchers  # noqa: E402

ESCAPED = 0.45


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--searchers", default="random,tpe,surrogate,surrogate-nolocal")
    args = ap.parse_args()
    problem = PROBLEMS["plateau"]
    every = searchers()
    print(f"plateau: {args.seeds} seeds, {args.budget} trials; escaped = a genome with noiseless value > {ESCAPED}")
    print(f"{'searcher':<20}{'escaped':>9}{'median trials':>15}{'most trials':>13}{'best (mean ± s.e.)':>22}")
    for name in args.searchers.split(","):
        firsts, bests = [], []
        for seed in range(args.seeds):
            obj = Objective(problem, seed)
            trace = every[name](obj, args.budget)
            clean = [problem.clean(g) for g in trace.genomes[: args.budget]]
            firsts.append(next((i + 1 for i, v in enumerate(clean) if v > ESCAPED), None))
            bests.append(max(clean))
        took = [f if f is not None else args.budget for f in firsts]
        se = statistics.stdev(bests) / len(bests) ** 0.5 if len(bests) > 1 else 0.0
        print(f"{name:<20}{sum(f is not None for f in firsts):>6}/{args.seeds:<2}{statistics.median(took):>15.1f}"
              f"{max(took):>13}{statistics.mean(bests):>14.3f} ± {se:.3f}")


if __name__ == "__main__":
    main()
