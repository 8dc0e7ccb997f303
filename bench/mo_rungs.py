"""Successive halving with several objectives: which genomes should a rung promote? natsel ranks a
rung's trials among the earlier generations' trials at the same budget (as ASHA's rungs hold every
trial that reached them); the ablation ranks them within their generation only (MO-ASHA within one
bracket). Pure Python, in one run, paired by seed:

    PYTHONPATH=$PWD python bench/mo_rungs.py                     # 4 problems x 10 seeds, ~8 min
    PYTHONPATH=$PWD python bench/mo_rungs.py --minimum 1 --population 18 --noise 0.3

The problems are bench/multiobjective.py's ZDT1-3 and DTLZ2 (integer and categorical genes added),
made budget-aware: at a budget b below the full 9 each objective is ``v * (1 + s * (1 - b / 9) * z) +
0.05 * (1 - b / 9)``, z a standard normal drawn from (genome, budget), s = ``--noise`` (default 0.15):
lower rungs are noisier and worse, and the full budget is the problem itself. natsel's default
strategy, ``fidelity: {resource: epochs, minimum: 3, eta: 3}`` (rungs of 3 and 9), 12 genomes a
generation, 24 generations: both rules train the same number of genomes at each budget, so the
comparison is at equal cost. Reported: the hypervolume (bench/multiobjective.py's reference points,
Optuna's implementation) of the full-budget trials, mean ± standard error over seeds, and the paired
difference; a tie is a difference within one standard error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import multiobjective as mo  # noqa: E402

import natsel  # noqa: E402
from natsel import _evolve  # noqa: E402

#: the problem and noise the current run evaluates: one module object whatever copy of this file
#: natsel imports for ``mo_rungs:evaluate`` (this one may be ``__main__``)
STATE = sys.modules.setdefault("natsel_bench_mo_rungs_state", types.ModuleType("natsel_bench_mo_rungs_state"))
FULL = 9


def evaluate(genome: dict[str, Any], budget: float) -> dict[str, float]:
    """The problem's objectives at ``budget`` epochs (exact at the full budget)."""
    values = STATE.problem.f(genome)
    short = 1.0 - float(budget) / FULL
    if short > 0:
        digest = hashlib.sha256((json.dumps(genome, sort_keys=True) + repr(float(budget))).encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        values = [v * (1.0 + STATE.noise * short * rng.standard_normal()) + 0.05 * short for v in values]
    return {f"f{i + 1}": v for i, v in enumerate(values)}


def within_generation(self: Any, g: int) -> Any:
    """The ablation: ``Loop.promote`` ranking a rung among its own generation only."""
    rows = self.store.generation(g)
    if not self.rungs or any(r["status"] == "pending" for r in rows):
        return None
    return _evolve.next_rung(rows, self.rungs, self.cfg.fidelity.eta, self.goal)


def run(name: str, seed: int, args: argparse.Namespace, ablation: bool) -> tuple[float, int]:
    problem = mo.make_problem(name)
    STATE.problem, STATE.noise = problem, args.noise
    doc = {"name": "mo-rungs", "seed": seed, "workers": 0, "fitness": "mo_rungs:evaluate",
           "objectives": {f"f{i + 1}": "minimize" for i in range(problem.n_obj)}, "space": problem.space,
           "training": {"max_epochs": FULL}, "fidelity": {"resource": "epochs", "minimum": args.minimum, "eta": 3},
           "evolution": {"population": args.population, "generations": args.generations}}
    cfg = natsel.config_from_dict(doc, base_dir=BENCH)
    promote = _evolve.Loop.promote
    if ablation:
        _evolve.Loop.promote = within_generation  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            trials = natsel.evolve(cfg, run_dir=Path(tmp) / "run", progress=False, plots=False).trials
    finally:
        _evolve.Loop.promote = promote  # type: ignore[method-assign]
    points = [problem.f(t["genome"]) for t in trials if t["budget"] == "full" and t["status"] == "ok"]
    return mo.hypervolume(np.array(points), np.array(problem.ref)), len(points)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", default="zdt1,zdt2,zdt3,dtlz2")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--noise", type=float, default=0.15)
    ap.add_argument("--minimum", type=int, default=3, help="the first rung in epochs (of 9)")
    ap.add_argument("--population", type=int, default=12)
    ap.add_argument("--generations", type=int, default=24)
    a = ap.parse_args()
    t0 = time.monotonic()
    print(f"rungs from {a.minimum} of {FULL} epochs (eta 3), {a.population} genomes a generation, {a.generations} "
          f"generations, noise {a.noise:g}, {a.seeds} seeds; hypervolume of the full-budget trials")
    print(f"{'problem':<8} {'full':>5} {'among earlier (natsel)':>24} {'within generation':>20}  difference")
    for name in a.problems.split(","):
        rows = [(run(name, s, a, False), run(name, s, a, True)) for s in range(a.seeds)]
        new, old = np.array([r[0][0] for r in rows]), np.array([r[1][0] for r in rows])
        d = new - old
        se = [x.std(ddof=1) / math.sqrt(len(x)) if len(x) > 1 else float("nan") for x in (new, old, d)]
        verdict = "tie" if abs(d.mean()) <= se[2] else ("ahead" if d.mean() > 0 else "behind")
        print(f"{name:<8} {np.mean([r[0][1] for r in rows]):>5.0f} {new.mean():>15.4f} ± {se[0]:.4f} "
              f"{old.mean():>11.4f} ± {se[1]:.4f}  {d.mean():+.4f} ± {se[2]:.4f} ({verdict})", flush=True)
    print(f"{time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
