"""natsel's default search beside Optuna (TPE, CMA-ES, random) on COCO's mixed-integer suite, in one run.

    python bench/coco.py                               # bbob-mixint, 24 functions, d 5 and 10, 5 instances
    python bench/coco.py --dims 5 --instances 2 --functions 1-24 --jobs 2
    python bench/coco.py --report out.json             # print the table of a saved run
    python bench/coco.py --dims 5 --instances 10 --first-instance 6 --out more.json   # instances 6-15
    python bench/coco.py --report out.json more.json   # both runs pooled (runs are deterministic)
    python bench/coco.py --dims 5 --searchers "natsel,natsel:local=0"   # an ablation, paired with the default

Needs ``pip install coco-experiment optuna cmaes`` (the ``bench`` extra). The suite is the COCO
platform's ``bbob-mixint`` (nobody here wrote it): each problem's first ``number_of_integer_variables``
variables are integers, the rest continuous, within ``lower_bounds`` .. ``upper_bounds``. natsel sees
them as integer and float genes (8 significant digits) and minimises through its Python API
(``natsel.evolve`` with ``workers: 0``); Optuna's samplers see ``suggest_int`` / ``suggest_float`` over
the same bounds. Every searcher runs once to the largest budget (50 evaluations per dimension); the
best-so-far at 20 per dimension is the best of its first 20*d evaluations (all searchers are anytime).
natsel never evaluates a genome twice; Optuna may, and a repeat counts.

Reported, per function group and overall, for each budget: the mean over (function, instance) of
log10(f_best - f_ref + 1e-8), where f_ref is the best value ANY searcher reached on that instance (the
integer suites publish no optimum), with its standard error; and natsel's wins / ties / losses against
each peer, per function (its instances' mean; tie: within one standard error of the difference).
An ablation (``--searchers natsel,natsel:local=0``, or its rows pooled with ``--report``) gets two more
lines: its paired difference from the default over the (function, instance) pairs both ran, and its
wins / ties / losses against TPE in its own pool (it, TPE, CMA-ES and random: what the bench would print
were it the default; f_ref depends on who is in the pool).

Sizing: a (problem, searcher) run costs about 1-15 s (natsel's surrogate planning and TPE dominate at
500 trials in 10-D); 24 functions x 5 instances x 2 dimensions x 4 searchers is about an hour on 2 cores
with ``--jobs 2`` (measured: see docs/genetic.md).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import sys
import tempfile
import time
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))
from problems import ids  # noqa: E402

GROUPS = {"separable": range(1, 6), "moderate": range(6, 10), "ill-conditioned": range(10, 15),
          "multimodal": range(15, 20), "weak structure": range(20, 25)}
SEARCHERS = ["natsel", "tpe", "cmaes", "random"]

#: the problem the current (in-process) natsel run evaluates, and its values so far: kept in one module
#: object whatever copy of this file natsel imports for ``coco:evaluate`` (this one may be ``__main__``)
STATE = sys.modules.setdefault("natsel_bench_coco_state", types.ModuleType("natsel_bench_coco_state"))


def evaluate(genome: dict[str, Any]) -> float:
    """natsel's fitness: the COCO problem at the genome's point (workers: 0, so the problem is this process's)."""
    problem = STATE.problem
    x = np.array([genome[f"x{i}"] for i in range(problem.dimension)], dtype=float)
    f = float(problem(x))
    STATE.calls.append(f)
    return f


def _space(problem: Any) -> dict[str, Any]:
    lo, hi, k = problem.lower_bounds, problem.upper_bounds, problem.number_of_integer_variables
    return {f"x{i}": ({"low": int(lo[i]), "high": int(hi[i])} if i < k else
                      {"low": float(lo[i]), "high": float(hi[i]), "type": "float", "digits": 8})
            for i in range(problem.dimension)}


def run_natsel(problem: Any, budget: int, seed: int, options: dict[str, Any] | None = None) -> list[float]:
    """natsel's default strategy (``options``: surrogate strategy options, for ablations)."""
    import natsel

    STATE.problem, STATE.calls = problem, []
    doc = {"name": "coco", "seed": seed, "direction": "minimize", "workers": 0, "fitness": "coco:evaluate",
           "space": _space(problem), "stop": {"max_trials": budget}}
    if options:
        doc["strategy"] = {"name": "surrogate", **options}
    cfg = natsel.config_from_dict(doc, base_dir=BENCH)
    with tempfile.TemporaryDirectory() as tmp:
        natsel.evolve(cfg, run_dir=Path(tmp) / "run", progress=False, plots=False)
    return list(STATE.calls[:budget])


def run_optuna(kind: str, problem: Any, budget: int, seed: int) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore")
    sampler: Any = {"tpe": lambda: optuna.samplers.TPESampler(seed=seed),
                    "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False),
                    "random": lambda: optuna.samplers.RandomSampler(seed=seed)}[kind]()
    study = optuna.create_study(direction="minimize", sampler=sampler)
    lo, hi, k = problem.lower_bounds, problem.upper_bounds, problem.number_of_integer_variables
    out: list[float] = []

    def objective(trial: Any) -> float:
        x = [trial.suggest_int(f"x{i}", int(lo[i]), int(hi[i])) if i < k else
             trial.suggest_float(f"x{i}", float(lo[i]), float(hi[i])) for i in range(problem.dimension)]
        f = float(problem(np.array(x, dtype=float)))
        out.append(f)
        return f

    study.optimize(objective, n_trials=budget)
    return out


def option_value(text: str) -> Any:
    """A strategy option's value as written after ``natsel:name=``: true/false, an int, a float, else the text."""
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def one(job: tuple[str, int, int, int, int, str]) -> dict[str, Any]:
    """One (problem, searcher) run: the best-so-far values at each budget, and its seconds."""
    suite_name, dim, fid, inst, seed, searcher = job
    import cocoex

    suite = cocoex.Suite(suite_name, "", f"dimensions: {dim} function_indices: {fid} instance_indices: {inst}")
    problem = suite[0]
    budget = 50 * dim
    t0 = time.perf_counter()
    if searcher.startswith("natsel"):  # natsel, or natsel:option=value,... (an ablation of the default)
        options = {k: option_value(v) for k, _, v in (o.partition("=") for o in searcher.partition(":")[2].split(";") if o)}
        values = run_natsel(problem, budget, seed, options)
    else:
        values = run_optuna(searcher, problem, budget, seed)
    best = np.minimum.accumulate(np.array(values, dtype=float))
    return {"dim": dim, "function": fid, "instance": inst, "searcher": searcher, "seconds": time.perf_counter() - t0,
            "best": {str(b * dim): float(best[min(len(best), b * dim) - 1]) for b in (20, 50)}, "n": len(values)}


def report(rows: list[dict[str, Any]]) -> list[str]:
    import statistics

    lines = []
    for dim in sorted({r["dim"] for r in rows}):
        here = [r for r in rows if r["dim"] == dim]  # (an ablation may have been run in one dimension only)
        searchers = list(dict.fromkeys([s for s in SEARCHERS if any(r["searcher"] == s for r in here)]
                                       + sorted({r["searcher"] for r in here})))
        budgets = sorted({int(b) for r in here for b in r["best"]})
        score = scores(here)
        insts = sorted({r["instance"] for r in here})
        lines.append(f"\nbbob-mixint, dimension {dim}: log10(f - f_ref + 1e-8), mean ± s.e. over functions x "
                     f"{len(insts)} instances (lower is better); f_ref: the best any searcher reached")
        lines.append(f"{'group':<16}{'budget':>7} " + "".join(f"{s:>16}" for s in searchers))
        for group, fids in [*GROUPS.items(), ("all", range(1, 25))]:
            for b in budgets:
                cells = []
                for s in searchers:
                    v = [score[(s, f, i, b)] for f in fids for i in insts if (s, f, i, b) in score]
                    se = statistics.stdev(v) / math.sqrt(len(v)) if len(v) > 1 else 0.0
                    cells.append(f"{statistics.mean(v):>9.2f} ± {se:<4.2f}" if v else f"{'-':>16}")
                lines.append(f"{group:<16}{b:>7} " + "".join(cells))
        for mine in [s for s in searchers if s.startswith("natsel")]:
            lines.extend(versus(mine, [s for s in searchers if s != mine], budgets, insts, score))
        lines.extend(variants(here))
        secs = {s: statistics.mean([r["seconds"] for r in here if r["searcher"] == s]) for s in searchers}
        lines.append("mean seconds per run: " + ", ".join(f"{s} {v:.1f}" for s, v in secs.items()))
    return lines


def scores(rows: list[dict[str, Any]]) -> dict[tuple[str, int, int, int], float]:
    """log10(f_best - f_ref + 1e-8) per (searcher, function, instance, budget), f_ref the best any of
    ``rows``' searchers reached on that instance (so it depends on who is in the pool)."""
    ref: dict[tuple[int, int], float] = {}
    for r in rows:
        k = (r["function"], r["instance"])
        ref[k] = min(ref.get(k, math.inf), *r["best"].values())
    return {(r["searcher"], r["function"], r["instance"], int(b)): math.log10(v - ref[(r["function"], r["instance"])]
            + 1e-8) for r in rows for b, v in r["best"].items()}


def variants(rows: list[dict[str, Any]]) -> list[str]:
    """Each ablation ``natsel:opt=v`` against natsel's default on the same problems (one dimension's rows):
    the paired difference (variant minus default, f_ref from every searcher in ``rows``; positive is
    worse) with its standard error, per budget; and the ablation against TPE as the bench would print
    it were the ablation the default (its own pool: it, TPE, CMA-ES and random search only)."""
    import statistics

    names = sorted({r["searcher"] for r in rows if r["searcher"].startswith("natsel:")})
    if not names or not any(r["searcher"] == "natsel" for r in rows):
        return []
    score = scores(rows)
    budgets = sorted({b for (_, _, _, b) in score})
    peers = [s for s in SEARCHERS if s != "natsel"]
    lines = ["ablations against natsel's default (paired by function and instance, variant minus default; "
             "positive is worse):"]
    for name in names:
        cells = []
        for b in budgets:
            d = [v - score[("natsel", f, i, b)] for (s, f, i, bb), v in score.items()
                 if s == name and bb == b and ("natsel", f, i, b) in score]
            se = statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else 0.0
            cells.append(f"at {b}: {statistics.mean(d):+.2f} ± {se:.2f} ({len(d)} pairs)")
        lines.append(f"  {name}: " + "; ".join(cells))
        own = [r for r in rows if r["searcher"] in (name, *peers)]
        insts = sorted({r["instance"] for r in own if r["searcher"] == name})
        if any(r["searcher"] == "tpe" for r in own):
            lines.extend("  " + x for x in versus(name, ["tpe"], budgets, insts, scores(own))[1:])
    return lines


def versus(mine: str, peers: list[str], budgets: list[int], insts: list[int],
           score: dict[tuple[str, int, int, int], float]) -> list[str]:
    """``mine``'s wins / ties / losses against each peer, per function (the mean over its instances; a tie:
    a difference within one standard error of it)."""
    import statistics

    lines = [f"{mine} per function (mean over instances; tie: within one s.e. of the difference):"]
    for peer in peers:
        for b in budgets:
            w = t = lo = 0
            for f in range(1, 25):
                a = [score[(mine, f, i, b)] for i in insts if (mine, f, i, b) in score]
                c = [score[(peer, f, i, b)] for i in insts if (peer, f, i, b) in score]
                if not a or not c:
                    continue
                d = statistics.mean(a) - statistics.mean(c)
                se = math.sqrt(sum((statistics.stdev(x) ** 2 / len(x)) if len(x) > 1 else 0.0 for x in (a, c)))
                if abs(d) <= se:
                    t += 1
                elif d < 0:
                    w += 1
                else:
                    lo += 1
            lines.append(f"  vs {peer:<7} at {b:>4}: {w} wins, {t} ties, {lo} losses (at least level on {w + t})")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dims", default="5,10")
    ap.add_argument("--functions", default="1-24")
    ap.add_argument("--instances", type=int, default=5)
    ap.add_argument("--first-instance", type=int, default=1,
                    help="instances first..first+instances-1 (runs are deterministic: pool several with --report)")
    ap.add_argument("--searchers", default=",".join(SEARCHERS),
                    help="comma-separated; natsel:opt=v;opt=v runs the default strategy with other options")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, help="save the raw results (JSON) here")
    ap.add_argument("--report", nargs="+", type=Path, help="print the table of saved results instead")
    args = ap.parse_args()
    if args.report:
        rows = [r for p in args.report for r in json.loads(p.read_text())]
        print("\n".join(report(rows)))
        return
    jobs = [("bbob-mixint", d, f, i, i, s) for d in ids(args.dims) for f in ids(args.functions)
            for i in range(args.first_instance, args.first_instance + args.instances) for s in args.searchers.split(",")]
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    t0 = time.perf_counter()
    rows = []
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        for n, row in enumerate(pool.imap_unordered(one, jobs), 1):
            rows.append(row)
            if n % 20 == 0 or n == len(jobs):
                print(f"{n}/{len(jobs)} runs, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
                if args.out:
                    args.out.write_text(json.dumps(rows))
    print(f"{len(jobs)} runs in {time.perf_counter() - t0:.0f} s with {args.jobs} processes")
    print("\n".join(report(rows)))


if __name__ == "__main__":
    main()
