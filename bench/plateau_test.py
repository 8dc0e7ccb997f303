"""How often the surrogate's plateau test would fire on random genomes, per bench problem.

    PYTHONPATH=$PWD python bench/plateau_test.py            # n = 10, 15, 20, 30; 40 draws each (about 20 s)
    PYTHONPATH=$PWD python bench/plateau_test.py --sizes 10,50 --samples 100

The default strategy calls a search a plateau when a small bagged forest explains less than
``PLATEAU_R2`` of the scores' variance out of bag (docs/genetic.md, item 7). A test that fires on
every problem is exploration, not a detector: this prints, for each pure-Python problem of
bench/search.py and each sample size n, the fraction of ``--samples`` draws of n random genomes
(scored with trial noise where the problem has it) on which the test fires. Deterministic.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from problems import PROBLEMS, Problem  # noqa: E402
from search import natsel_config  # noqa: E402

from natsel.strategies.surrogate import PLATEAU_R2, _encode, _genes, explained  # noqa: E402


def fire_rate(problem: Problem, n: int, samples: int) -> float:
    """The fraction of ``samples`` draws of ``n`` random genomes on which the plateau test fires."""
    space = natsel_config(problem.name, problem.space, 0, {}).space
    genes = _genes(space)
    fires = 0
    for d in range(samples):
        rng = np.random.default_rng([n, d])
        genomes = [space.sample(rng) for _ in range(n)]
        y = np.array([problem.f(dict(g), seed=1000 * d + i) for i, g in enumerate(genomes)], dtype=float)
        x = np.stack([_encode(g, genes) for g in genomes])
        fires += explained(x, y, d) < PLATEAU_R2
    return fires / samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10,15,20,30", help="comma-separated sample sizes n")
    ap.add_argument("--samples", type=int, default=40, help="draws of n random genomes per cell")
    args = ap.parse_args()
    sizes = [int(v) for v in args.sizes.split(",")]
    print(f"the plateau test (out-of-bag R^2 < {PLATEAU_R2}) on n random genomes: the fraction of "
          f"{args.samples} draws on which it fires")
    print(f"{'problem':12s}" + "".join(f"  n={n:<4d}" for n in sizes))
    for name, problem in PROBLEMS.items():
        if name.startswith("keras"):
            continue
        print(f"{name:12s}" + "".join(f"  {fire_rate(problem, n, args.samples):6.2f}" for n in sizes), flush=True)


if __name__ == "__main__":
    main()
