"""What the default strategy costs to plan, per generation, by number of genes, on idle and on busy cores.

    PYTHONPATH=$PWD python bench/planning.py                       # 5, 10, 20, 50 genes, 500 trials, idle
    PYTHONPATH=$PWD python bench/planning.py --busy 2              # the same with two busy processes beside it
    PYTHONPATH=$PWD python bench/planning.py --genes 10,100 --trials 300

natsel plans in the parent process while the workers train, so in a real run the parent shares its
cores with them; ``--busy N`` starts N processes that spin (as N training workers would) for the
whole measurement. The fitness is pure Python and free (a shifted sphere over float genes plus one
categorical), so what is timed is the planning alone: ``plan_seconds`` of every generation in
history.json. Printed per gene count: generations, mean, mean of the last 10, and the slowest
generation (the first bred generation includes scikit-learn's import, about a second, once).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import natsel


def _spin(stop: Any) -> None:
    x = 0
    while not stop.is_set():
        x = (x * 31 + 7) % 1000003


def sphere(genome: dict[str, Any], seed: int | None = None) -> float:
    return -sum((v - 0.3) ** 2 for k, v in genome.items() if k.startswith("x")) - (0.1 if genome["kind"] == "b" else 0.0)


def measure(genes: int, trials: int, seed: int) -> list[float]:
    space: dict[str, Any] = {f"x{i}": {"low": 0.0, "high": 1.0} for i in range(genes - 1)}
    space["kind"] = ["a", "b"]
    doc = {"name": "planning", "seed": seed, "direction": "maximize", "workers": 0, "space": space,
           "fitness": "planning_fitness:sphere", "stop": {"max_trials": trials}}
    cfg = natsel.config_from_dict(doc, base_dir=Path.cwd())
    with tempfile.TemporaryDirectory() as tmp:
        run = natsel.evolve(cfg, run_dir=Path(tmp) / "run", progress=False, plots=False)
        return [h["plan_seconds"] for h in run.history if h.get("plan_seconds") is not None]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genes", default="5,10,20,50", help="gene counts, comma-separated")
    ap.add_argument("--trials", type=int, default=500)
    ap.add_argument("--busy", type=int, default=0, help="spinning processes beside the search")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    module = types.ModuleType("planning_fitness")
    module.sphere = sphere  # type: ignore[attr-defined]
    sys.modules["planning_fitness"] = module
    stop = mp.Event()
    spinners = [mp.Process(target=_spin, args=(stop,), daemon=True) for _ in range(args.busy)]
    for p in spinners:
        p.start()
    print(f"default strategy, {args.trials} trials, {args.busy} busy process(es) beside it")
    print(f"{'genes':>5}  {'generations':>11}  {'mean s':>7}  {'last 10 s':>9}  {'slowest s':>9}  {'wall s':>7}")
    try:
        for n in (int(g) for g in args.genes.split(",")):
            t0 = time.perf_counter()
            s = measure(n, args.trials, args.seed)
            print(f"{n:>5}  {len(s):>11}  {statistics.mean(s):>7.3f}  {statistics.mean(s[-10:]):>9.3f}  "
                  f"{max(s):>9.3f}  {time.perf_counter() - t0:>7.1f}", flush=True)
    finally:
        stop.set()
        for p in spinners:
            p.join()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
