"""natsel's multi-objective default beside Optuna NSGA-II, Optuna TPE and random search: hypervolume
against trials, in one run.

    PYTHONPATH=$PWD python bench/multiobjective.py                 # the default (see Sizing below)
    PYTHONPATH=$PWD python bench/multiobjective.py --quick         # a smoke run (1 seed, 2 problems, 30 trials)
    PYTHONPATH=$PWD python bench/multiobjective.py --problems zdt1,dtlz2 --seeds 5 --budgets 50,100
    PYTHONPATH=$PWD python bench/multiobjective.py --problems coco --dims 5,10 --functions 1,11,46
    PYTHONPATH=$PWD python bench/multiobjective.py --report out.json   # the tables of a saved run

Searchers (``--searchers``):

- ``natsel``: natsel's default strategy (``surrogate``: 10 random start genomes, then generations of 5
  children screened by per-objective ExtraTrees models and ParEGO Tchebycheff weights; NSGA-II order
  for selection), through ``natsel.evolve`` with ``objectives: {f1: minimize, f2: minimize, ...}``,
  ``workers: 0`` and ``stop: {max_trials: B}``; a run folder in a temporary directory, deleted.
- ``nsga2``: ``optuna.samplers.NSGAIISampler(population_size=20, seed=s)`` (20 as in bench/search.py:
  Optuna's default 50 would make the 50-trial budget a random search).
- ``tpe``: ``optuna.samplers.TPESampler(multivariate=True, seed=s)`` (Optuna's multi-objective TPE;
  ``multivariate=True``, not the default ``False``; 10 random start trials, the default).
- ``random``: ``optuna.samplers.RandomSampler(seed=s)``.

Every searcher runs once per seed to the largest budget; the hypervolume at budget b is that of the
non-dominated set of its first b evaluations (all searchers are anytime). natsel never evaluates a
genome twice; Optuna may, and a repeat counts.

Problems (``--problems``; ``zdt``: the four below; ``coco``: the COCO subset):

(a) ``zdt1``, ``zdt2``, ``zdt3`` (2 objectives) and ``dtlz2`` (3 objectives), written here, with mixed
    genes: 7 variables in [0, 1] of which two or three (``i*``) are integers 0..10 read as i/10 (a grid),
    the rest floats, plus a categorical gene ``kind`` in a, b, c, d that adds SHIFT[kind] (b: 0, the
    only value on the Pareto front) to the distance function g. Fixed reference points: REFS below
    (chosen so that a random search's first 50 trials already dominate part of the box, while the
    true front lies well inside it).
(b) ``coco``: COCO's ``bbob-biobj-mixint`` suite (instance 1; ``--dims``, default 5; ``--functions``,
    default COCO_DEFAULT). Each problem's first ``number_of_integer_variables`` variables are integer
    genes, the rest float genes (8 significant digits) within ``lower_bounds`` .. ``upper_bounds``.
    Normalised per problem instance as COCO's biobjective assessment does: f' = (f - ideal) / (nadir -
    ideal), with the nadir ``problem.largest_fvalues_of_interest`` and, because cocoex does not expose
    the ideal point of the mixed-integer problems, the ideal = per objective, the best value ANY
    searcher reached on that instance in the runs being reported (all seeds, all budgets). Reference
    point: the nadir, (1, 1) after normalisation. As in COCO, a searcher none of whose points dominate
    the nadir scores minus the smallest distance of a normalised point to the region of interest
    [0, 1]^2 (so 0 < HV is better than any miss, and a nearer miss is better).

Hypervolume: ``optuna._hypervolume.compute_hypervolume`` (exact; WFG in 3-D) of the points that
dominate the reference point (minimisation); one implementation for every searcher and problem.

Reported per problem and budget: mean hypervolume ± standard error over seeds for each searcher;
per budget natsel's wins / ties / losses against each peer (tie: |mean_natsel - mean_peer| <=
sqrt(se_natsel^2 + se_peer^2), one standard error of the difference); and a summary line per budget:
on how many problems natsel's mean is >= the best peer's mean or within one s.e. of the difference
("holds"), and on how many it is better by more than one s.e. ("beats").

Sizing (default: 4 ZDT/DTLZ problems + 5 COCO functions in d 5, 4 searchers, 10 seeds, budgets
50/100/300: 360 runs of 300 trials, ``--jobs 2``): measured on 2 cores busy with other work (load 5),
one seed, one process, a run of 300 trials takes natsel about 20 s with 2 objectives and 50 s with 3
(natsel's summaries took most of that before they were built from the running front), TPE 4 s / 10 s, NSGA-II and random under 1 s:
about 25 s per seed of a 2-objective problem and 60 s of DTLZ2, so 10 seeds of the 9 problems are
about 2,600 s in one process, 30-35 min with two. ``--quick`` (zdt1 and coco-f001-d5, 1 seed, 30
trials) takes about 10 s.

Keras (digits: val_accuracy vs parameter count, at equal wall-clock, natsel with and without
``fidelity:``): ``python bench/multiobjective.py --keras [--seconds 120] [--seeds 3]`` runs
``bench/mo_keras.py`` (its docstring says how).
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))
from problems import ids  # noqa: E402

SEARCHERS = ["natsel", "nsga2", "tpe", "random"]
PEERS = ["nsga2", "tpe", "random"]
ZDT = ["zdt1", "zdt2", "zdt3", "dtlz2"]
#: COCO bbob-biobj-mixint functions run by default (the suite has 92; 1..55 pair 10 bbob functions):
#: f1 sphere/sphere (separable, easy), f11 separable ellipsoid/ellipsoid (ill-conditioned, separable),
#: f20 attractive sector/attractive sector (moderate, asymmetric), f46 Rastrigin/Rastrigin (multimodal,
#: global structure), f55 Gallagher 101/Gallagher 101 (multimodal, weak structure): one "diagonal" pair
#: (the same bbob function, instances 2 and 4) from each of the five bbob groups but the ill-conditioned
#: non-separable one (f35 sharp ridge/sharp ridge: add it with --functions 1,11,20,35,46,55), sized to
#: the time budget below
COCO_DEFAULT = "1,11,20,46,55"
#: the categorical gene's shift of g (b is the front's)
SHIFT = {"a": 0.6, "b": 0.0, "c": 0.2, "d": 1.0}
#: fixed reference points (minimisation) of the pure-Python problems
REFS = {"zdt1": (1.1, 5.0), "zdt2": (1.1, 5.0), "zdt3": (1.1, 5.0), "dtlz2": (1.5, 1.5, 1.5)}

#: the problem the current (in-process) natsel run evaluates, and its values so far: kept in one module
#: object whatever copy of this file natsel imports for ``multiobjective:evaluate`` (this one may be ``__main__``)
STATE = sys.modules.setdefault("natsel_bench_mo_state", types.ModuleType("natsel_bench_mo_state"))


# --- problems ------------------------------------------------------------------------------------


def _unit(genome: dict[str, Any], name: str) -> float:
    """A variable in [0, 1]: a float gene as it is, an integer gene ``i*`` (0..10) as i / 10."""
    v = float(genome[name])
    return v / 10.0 if name.startswith("i") else v


def _mixed_space(names: list[str]) -> dict[str, Any]:
    space: dict[str, Any] = {}
    for n in names:
        space[n] = {"low": 0, "high": 10} if n.startswith("i") else {"low": 0.0, "high": 1.0, "type": "float", "digits": 8}
    space["kind"] = list(SHIFT)
    return space


ZDT_VARS = ["x1", "i2", "i3", "i4", "x5", "x6", "x7"]
DTLZ_VARS = ["x1", "x2", "i3", "i4", "x5", "x6", "x7"]


def zdt_g(genome: dict[str, Any]) -> float:
    """ZDT's g: 1 + 9 * (sum of x2..x7 + SHIFT[kind]) / 6 (1 on the front)."""
    s = sum(_unit(genome, n) for n in ZDT_VARS[1:]) + SHIFT[genome["kind"]]
    return 1.0 + 9.0 * s / (len(ZDT_VARS) - 1)


def zdt1(genome: dict[str, Any]) -> list[float]:
    f1, g = _unit(genome, "x1"), zdt_g(genome)
    return [f1, g * (1.0 - math.sqrt(f1 / g))]


def zdt2(genome: dict[str, Any]) -> list[float]:
    f1, g = _unit(genome, "x1"), zdt_g(genome)
    return [f1, g * (1.0 - (f1 / g) ** 2)]


def zdt3(genome: dict[str, Any]) -> list[float]:
    f1, g = _unit(genome, "x1"), zdt_g(genome)
    return [f1, g * (1.0 - math.sqrt(f1 / g) - f1 / g * math.sin(10.0 * math.pi * f1))]


def dtlz2(genome: dict[str, Any]) -> list[float]:
    """DTLZ2, 3 objectives: g = sum((x_i - 0.5)^2, i = 3..7) + SHIFT[kind] / 4 (0 on the front, the unit sphere)."""
    g = sum((_unit(genome, n) - 0.5) ** 2 for n in DTLZ_VARS[2:]) + SHIFT[genome["kind"]] / 4.0
    a, b = _unit(genome, "x1") * math.pi / 2, _unit(genome, "x2") * math.pi / 2
    return [(1 + g) * math.cos(a) * math.cos(b), (1 + g) * math.cos(a) * math.sin(b), (1 + g) * math.sin(a)]


FUNCS: dict[str, tuple[Callable[[dict[str, Any]], list[float]], list[str]]] = {
    "zdt1": (zdt1, ZDT_VARS), "zdt2": (zdt2, ZDT_VARS), "zdt3": (zdt3, ZDT_VARS), "dtlz2": (dtlz2, DTLZ_VARS)}


@dataclass
class Problem:
    """One problem as the searchers see it: a natsel space, and a genome -> objective vector (minimise)."""

    name: str
    space: dict[str, Any]
    n_obj: int
    f: Callable[[dict[str, Any]], list[float]]
    ref: tuple[float, ...] | None = None  # a fixed reference point (None: COCO's normalisation)
    nadir: tuple[float, ...] | None = None  # COCO's largest_fvalues_of_interest


def make_problem(name: str) -> Problem:
    """``zdt1``.. or ``coco-f001-d5`` (bbob-biobj-mixint function 1, dimension 5, instance 1)."""
    if name in FUNCS:
        f, names = FUNCS[name]
        return Problem(name, _mixed_space(names), len(REFS[name]), f, ref=REFS[name])
    _, fpart, dpart = name.split("-")
    import cocoex

    suite = cocoex.Suite("bbob-biobj-mixint", "", f"dimensions: {int(dpart[1:])} function_indices: {int(fpart[1:])} "
                         "instance_indices: 1")
    problem = suite[0]
    lo, hi, k = problem.lower_bounds, problem.upper_bounds, problem.number_of_integer_variables
    space = {f"x{i}": ({"low": int(lo[i]), "high": int(hi[i])} if i < k else
                       {"low": float(lo[i]), "high": float(hi[i]), "type": "float", "digits": 8})
             for i in range(problem.dimension)}

    def f(genome: dict[str, Any]) -> list[float]:
        x = np.array([genome[f"x{i}"] for i in range(problem.dimension)], dtype=float)
        return [float(v) for v in problem(x)]

    out = Problem(name, space, problem.number_of_objectives, f,
                  nadir=tuple(float(v) for v in problem.largest_fvalues_of_interest))
    out._suite = suite  # type: ignore[attr-defined]  # keeps the COCO problem alive
    return out


# --- hypervolume ---------------------------------------------------------------------------------


def hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """The hypervolume (minimisation) the points dominate up to ``ref``: Optuna's exact implementation,
    of the points that dominate ``ref`` (0 if none)."""
    from optuna._hypervolume import compute_hypervolume

    pts = np.asarray(points, dtype=float).reshape(-1, len(ref))
    pts = pts[np.all(np.isfinite(pts), axis=1) & np.all(pts <= ref, axis=1)]
    if len(pts) == 0:
        return 0.0
    return float(compute_hypervolume(pts, np.asarray(ref, dtype=float)))


def coco_indicator(points: np.ndarray, ideal: np.ndarray, nadir: np.ndarray) -> float:
    """COCO's biobjective indicator: the hypervolume of the normalised points against (1, .., 1), or,
    if no point dominates it, minus the smallest distance of a normalised point to [0, 1]^m."""
    scale = np.where(nadir - ideal > 0, nadir - ideal, 1.0)
    norm = (np.asarray(points, dtype=float).reshape(-1, len(nadir)) - ideal) / scale
    ones = np.ones(len(nadir))
    if np.any(np.all(norm <= ones, axis=1)):
        return hypervolume(norm, ones)
    return -float(np.min(np.linalg.norm(np.maximum(norm - ones, 0.0), axis=1)))


# --- searchers -----------------------------------------------------------------------------------


def evaluate(genome: dict[str, Any]) -> dict[str, float]:
    """natsel's fitness: the problem at the genome (workers: 0, so the problem is this process's)."""
    values = STATE.problem.f(genome)
    STATE.calls.append(values)
    return {f"f{i + 1}": v for i, v in enumerate(values)}


def run_natsel(problem: Problem, budget: int, seed: int) -> list[list[float]]:
    """natsel's default strategy, run as a user runs it (its run folder and summaries written; no figures)."""
    import natsel

    STATE.problem, STATE.calls = problem, []
    doc = {"name": "mo", "seed": seed, "workers": 0, "fitness": "multiobjective:evaluate",
           "objectives": {f"f{i + 1}": "minimize" for i in range(problem.n_obj)},
           "space": problem.space, "stop": {"max_trials": budget}}
    cfg = natsel.config_from_dict(doc, base_dir=BENCH)
    with tempfile.TemporaryDirectory() as tmp:
        natsel.evolve(cfg, run_dir=Path(tmp) / "run", progress=False, plots=False)
    return [list(v) for v in STATE.calls[:budget]]


def _suggest(trial: Any, name: str, gene: Any) -> Any:
    if isinstance(gene, list):
        return trial.suggest_categorical(name, gene)
    if gene.get("type") == "float" or isinstance(gene["low"], float):
        return trial.suggest_float(name, float(gene["low"]), float(gene["high"]))
    return trial.suggest_int(name, int(gene["low"]), int(gene["high"]))


def run_optuna(kind: str, problem: Problem, budget: int, seed: int) -> list[list[float]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore")
    sampler: Any = {"nsga2": lambda: optuna.samplers.NSGAIISampler(population_size=20, seed=seed),
                    "tpe": lambda: optuna.samplers.TPESampler(multivariate=True, seed=seed),
                    "random": lambda: optuna.samplers.RandomSampler(seed=seed)}[kind]()
    study = optuna.create_study(directions=["minimize"] * problem.n_obj, sampler=sampler)
    out: list[list[float]] = []

    def objective(trial: Any) -> list[float]:
        values = problem.f({n: _suggest(trial, n, g) for n, g in problem.space.items()})
        out.append(values)
        return values

    study.optimize(objective, n_trials=budget)
    return out


def one(job: tuple[str, int, str, int]) -> dict[str, Any]:
    """One (problem, searcher, seed) run: every objective vector it evaluated, in order, and its seconds."""
    name, seed, searcher, budget = job
    problem = make_problem(name)
    t0 = time.perf_counter()
    values = (run_natsel(problem, budget, seed) if searcher == "natsel" else
              run_optuna(searcher, problem, budget, seed))
    return {"problem": name, "searcher": searcher, "seed": seed, "seconds": time.perf_counter() - t0,
            "n": len(values), "values": values}


# --- reporting -----------------------------------------------------------------------------------


def _mean_se(v: list[float]) -> tuple[float, float]:
    a = np.asarray(v, dtype=float)
    return float(a.mean()), (float(a.std(ddof=1) / math.sqrt(len(a))) if len(a) > 1 else 0.0)


def _num(x: float) -> str:
    return f"{x:.4f}" if abs(x) < 10 else (f"{x:.1f}" if abs(x) < 1e4 else f"{x:.3g}")


def verdict(a: tuple[float, float], b: tuple[float, float]) -> str:
    """a against b, larger is better: a tie within one standard error of the difference."""
    d, se = a[0] - b[0], math.hypot(a[1], b[1])
    return "tie" if abs(d) <= se else ("win" if d > 0 else "loss")


def scores(data: dict[str, Any]) -> dict[tuple[str, str, int], list[float]]:
    """(problem, searcher, budget) -> hypervolume per seed."""
    runs, meta = data["runs"], data["problems"]
    out: dict[tuple[str, str, int], list[float]] = {}
    for name, info in meta.items():
        here = [r for r in runs if r["problem"] == name]
        if not here:
            continue
        if info.get("ref") is not None:
            ref = np.asarray(info["ref"], dtype=float)
            hv = lambda pts, ref=ref: hypervolume(pts, ref)  # noqa: E731
        else:
            nadir = np.asarray(info["nadir"], dtype=float)
            ideal = np.min(np.array([v for r in here for v in r["values"]], dtype=float), axis=0)
            info["ideal"] = ideal.tolist()
            hv = lambda pts, ideal=ideal, nadir=nadir: coco_indicator(pts, ideal, nadir)  # noqa: E731
        for r in sorted(here, key=lambda r: r["seed"]):
            for b in data["budgets"]:
                pts = np.asarray(r["values"][:b], dtype=float)
                out.setdefault((name, r["searcher"], b), []).append(hv(pts))
    return out


def report(data: dict[str, Any]) -> list[str]:
    sc = scores(data)
    budgets = data["budgets"]
    problems = [p for p in data["problems"] if any(k[0] == p for k in sc)]
    searchers = [s for s in SEARCHERS if any(k[1] == s for k in sc)]
    peers = [s for s in searchers if s != "natsel"]
    seeds = len({r["seed"] for r in data["runs"]})
    lines = [f"hypervolume: {data['hv']}; mean ± s.e. over {seeds} seeds (larger is better)",
             "references: " + "; ".join(f"{p} {tuple(REFS[p])}" for p in problems if p in REFS)
             + ("; coco-*: normalised by ideal (best any searcher reached) and nadir "
                "(largest_fvalues_of_interest), reference (1, 1); *k: k seeds had no point within the nadir "
                "and scored minus the nearest one's distance to [0, 1]^2"
                if any(p.startswith("coco") for p in problems) else ""),
             f"{'problem':<16}{'budget':>7} " + "".join(f"{s:>20}    " for s in searchers)]
    for p in problems:
        for b in budgets:
            cells = []
            for s in searchers:
                v = sc.get((p, s, b))
                if v:
                    m, se = _mean_se(v)
                    miss = sum(x < 0 for x in v)  # COCO: seeds with no point within the nadir
                    cells.append(f"{_num(m):>10} ± {_num(se):<7}" + (f"*{miss}" if miss else "").ljust(4))
                else:
                    cells.append(f"{'-':>24}")
            lines.append(f"{p:<16}{b:>7} " + "".join(cells))
    if "natsel" in searchers and peers:
        lines.append("natsel against each peer per problem (tie: within one s.e. of the difference):")
        for b in budgets:
            parts = []
            for peer in peers:
                t = {"win": 0, "tie": 0, "loss": 0}
                for p in problems:
                    if (p, "natsel", b) in sc and (p, peer, b) in sc:
                        t[verdict(_mean_se(sc[(p, "natsel", b)]), _mean_se(sc[(p, peer, b)]))] += 1
                parts.append(f"vs {peer} {t['win']}/{t['tie']}/{t['loss']}")
            lines.append(f"  budget {b:>4}: " + ", ".join(parts) + "  (wins/ties/losses)")
        for b in budgets:
            holds = beats = n = 0
            for p in problems:
                have = [s for s in peers if (p, s, b) in sc]
                if (p, "natsel", b) not in sc or not have:
                    continue
                best = max(have, key=lambda s: _mean_se(sc[(p, s, b)])[0])
                v = verdict(_mean_se(sc[(p, "natsel", b)]), _mean_se(sc[(p, best, b)]))
                n += 1
                holds += v != "loss"
                beats += v == "win"
            lines.append(f"summary at {b:>4} trials: natsel >= the best peer's mean or within one s.e. on {holds}/{n} "
                         f"problems; better by more than one s.e. on {beats}/{n}")
    secs = {s: _mean_se([r["seconds"] for r in data["runs"] if r["searcher"] == s])[0] for s in searchers}
    lines.append(f"mean seconds per run of {max(budgets)} trials: " + ", ".join(f"{s} {v:.1f}" for s, v in secs.items()))
    return lines


def problem_names(problems: str, dims: str, functions: str) -> list[str]:
    out: list[str] = []
    for p in problems.split(","):
        if p == "zdt":
            out += ZDT
        elif p == "coco":
            out += [f"coco-f{f:03d}-d{d}" for d in ids(dims) for f in ids(functions)]
        elif p in FUNCS or p.startswith("coco-"):
            out.append(p)
        else:
            raise SystemExit(f"unknown problem {p!r}: zdt, coco, {', '.join(FUNCS)} or coco-fNNN-dD")
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--keras" in argv:  # the Keras problem: its own script, its own options
        import mo_keras

        sys.argv = [str(BENCH / "mo_keras.py"), *(a for a in argv if a != "--keras")]
        mo_keras.main()
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", default="zdt,coco", help="comma-separated: zdt (the four), coco (--functions x "
                    "--dims), or single ones: zdt1, zdt2, zdt3, dtlz2, coco-f001-d5")
    ap.add_argument("--functions", default=COCO_DEFAULT, help=f"bbob-biobj-mixint functions (default {COCO_DEFAULT})")
    ap.add_argument("--dims", default="5", help="COCO dimensions (5, 10, ...)")
    ap.add_argument("--searchers", default=",".join(SEARCHERS))
    ap.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 10; --quick 1)")
    ap.add_argument("--budgets", default=None, help="comma-separated trial budgets (default 50,100,300)")
    ap.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: zdt1 and coco-f001-d5, 1 seed, budgets 20,30")
    ap.add_argument("--out", type=Path, help="save the raw results (every evaluated objective vector) as JSON")
    ap.add_argument("--report", nargs="+", type=Path, help="print the tables of saved results instead (pooled)")
    args = ap.parse_args(argv)
    if args.report:
        parts = [json.loads(p.read_text()) for p in args.report]
        data = {**parts[0], "runs": [r for d in parts for r in d["runs"]],
                "problems": {k: v for d in parts for k, v in d["problems"].items()}}
        print("\n".join(report(data)))
        return 0
    import optuna

    names = problem_names("zdt1,coco-f001-d5" if args.quick and args.problems == "zdt,coco" else args.problems,
                          args.dims, args.functions)
    seeds = args.seeds or (1 if args.quick else 10)
    budgets = sorted(ids(args.budgets) if args.budgets else ([20, 30] if args.quick else [50, 100, 300]))
    searchers = args.searchers.split(",")
    meta = {}
    for n in names:
        p = make_problem(n)
        meta[n] = {"ref": list(p.ref) if p.ref else None, "nadir": list(p.nadir) if p.nadir else None,
                   "n_obj": p.n_obj}
    data: dict[str, Any] = {"hv": f"optuna._hypervolume.compute_hypervolume (optuna {optuna.__version__})",
                            "budgets": budgets, "problems": meta, "runs": [],
                            "settings": {"seeds": seeds, "searchers": searchers, "jobs": args.jobs,
                                         "coco_instance": 1,
                                         "nsga2": "NSGAIISampler(population_size=20)",
                                         "tpe": "TPESampler(multivariate=True)"}}
    # problem by problem (a saved partial run holds whole problems), every searcher for each seed
    jobs = [(n, s, k, max(budgets)) for n in names for s in range(seeds) for k in searchers]
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        for i, row in enumerate(pool.imap_unordered(one, jobs), 1):
            data["runs"].append(row)
            if i % 10 == 0 or i == len(jobs):
                print(f"{i}/{len(jobs)} runs, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
                if args.out:
                    args.out.write_text(json.dumps(data))
    print(f"{len(jobs)} runs in {time.perf_counter() - t0:.0f} s with {args.jobs} processes")
    print("\n".join(report(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
