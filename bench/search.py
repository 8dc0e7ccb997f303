"""natsel's evolution beside Optuna TPE, Optuna NSGA-II and random search, in one run.

    PYTHONPATH=$PWD python bench/search.py            # 6 problems x 10 seeds, budgets 25 50 100 300 (~10 min)
    PYTHONPATH=$PWD python bench/search.py --quick    # 5 seeds, budgets 25 50 100 (about a minute)
    PYTHONPATH=$PWD python bench/search.py --keras    # the two Keras searches, 40 trials, 3 seeds

Options: ``--problems a,b``, ``--searchers a,b`` (peers: random, tpe, nsga2; natsel GA variants:
``NATSEL_VARIANTS``: natsel's strategies and settings), ``--seeds N``,
``--first-seed S`` (seeds S..S+N-1; 10 gives a held-out check of settings tuned on seeds 0-9),
``--budgets 25,50``, ``--out results.json``, ``--report a.json b.json`` (print the tables of saved runs,
pooled by problem, searcher and seed: a long run can be split under a time limit; with ``--problems``, only those).

Every searcher sees the same space and, per trial, the same seed: ``crc32(f"{run_seed}:{genome_key}")``,
which is what natsel passes to a fitness function (so the noisy problem gives a genome the same noise
whoever asks). Each run is made once at the largest budget; the best at a smaller budget b is the best
of the first b evaluations (all searchers here are anytime). Evaluations: natsel never trains a genome
twice (``cached`` trials are not counted); Optuna may propose a genome it already tried, which counts,
as it would cost a training. Reported: the NOISELESS fitness of the genome each searcher would pick
as its best by observed fitness (the same thing on every problem but ``noisy``).

Tie: |mean_a - mean_TPE| <= sqrt(se_a**2 + se_TPE**2) (one standard error of the difference);
win / loss: further above / below. A problem "holds" when no budget is a loss; "beats" when it holds
and at least one budget is a win. Planning time: seconds spent choosing genomes, per trial (natsel:
``Loop.plan``; Optuna: ask + suggest + tell).

Keras (``--keras``): digits with NaturalSelection's 15 genes + learning rate, and breast_cancer (binary)
with the same space; the observed validation accuracy is reported. natsel's GA runs through
``natsel.evolve`` with ``data:`` and 2 workers; the other searchers train the same networks with natsel's
worker-side code (a ``LocalPool`` of 2 workers, 2 genomes at a time; TensorFlow only in the workers).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from problems import PROBLEMS  # noqa: E402

import natsel  # noqa: E402
import natsel._evolve as _evolve  # noqa: E402
from natsel._evolve import trial_seed  # noqa: E402
from natsel._space import Choice, Fixed, FloatRange, IntRange, SearchSpace  # noqa: E402

#: natsel strategies and settings: name -> config overrides (``strategy`` and ``evolution`` keys).
#: A new natsel strategy or setting is one more line.
NATSEL_VARIANTS: dict[str, dict[str, Any]] = {
    "surrogate": {},  # natsel's default: the surrogate strategy, 10 random genomes, then generations of 5
    "surrogate-p10": {"evolution": {"population": 10}},  # the 0.2.0 default: generations of 10
    "ga": {"strategy": "genetic", "evolution": {"population": 20}},  # NaturalSelection's GA (natsel 0.1 default)
    "ga-p10-e25": {"strategy": "genetic", "evolution": {"population": 10, "elitism": 0.25}},
    "surrogate-none": {"strategy": {"name": "surrogate", "model": "none"}},  # ablation: children not ranked
    "surrogate-k0": {"strategy": {"name": "surrogate", "kappa": 0.0}},  # the trees' mean only, no spread bonus
    "surrogate-nolocal": {"strategy": {"name": "surrogate", "local": 0.0}},  # ablation: no local search slots
    "surrogate-score": {"strategy": {"name": "surrogate", "target": "score"}},  # ablation: the model learns scores as reported (the default before ranks)
    "surrogate-rank": {"strategy": {"name": "surrogate", "target": "rank"}},  # the model learns ranks always
    "surrogate-nocoord": {"strategy": {"name": "surrogate", "coordinate": 0.0}},  # ablation: no coordinate slots (the default before them)
    "surrogate-localtrees": {"strategy": {"name": "surrogate", "local_model": "trees"}},  # ablation: the trees rank the local broods (the default before the local model)
    "surrogate-p20": {"evolution": {"population": 20}},
    "pso": {"strategy": {"name": "pso", "iterations": 30}, "evolution": {"population": 10}},
    "natsel-random": {"strategy": "random", "evolution": {"population": 10}},
}
PEERS = ["random", "tpe", "nsga2"]
DEFAULT_SEARCHERS = PEERS + ["surrogate", "ga", "pso"]


@dataclass
class Trace:
    """What one search evaluated, in order: genomes, observed fitness (None: failed), planning seconds."""

    genomes: list[dict[str, Any]] = field(default_factory=list)
    observed: list[float | None] = field(default_factory=list)
    plan_seconds: float = 0.0
    plan_max: float = 0.0  # slowest single planning step (a generation, or one ask for Optuna)


# --- evaluation ----------------------------------------------------------------------------------


class Objective:
    """Scores a batch of genomes for one (problem, seed); pure Python here, Keras workers below."""

    parallel = 1

    def __init__(self, problem: Any, seed: int) -> None:
        self.problem, self.seed = problem, seed
        self.space: SearchSpace = natsel_config(problem.name, problem.space, seed, {}).space

    def __call__(self, genomes: list[dict[str, Any]]) -> list[float | None]:
        return [float(self.problem.f(dict(g), seed=trial_seed(self.seed, self.space.key(g)))) for g in genomes]

    def clean(self, genome: dict[str, Any]) -> float:
        return self.problem.clean(genome)

    def close(self) -> None:
        return None


def natsel_config(name: str, space: dict[str, Any], seed: int, overrides: dict[str, Any],
                  keras: dict[str, Any] | None = None) -> natsel.Config:
    doc: dict[str, Any] = {"name": "bench", "seed": seed, "direction": "maximize", "workers": 0,
                           "space": space, **overrides}
    if keras is None:
        doc["fitness"] = f"problems:{name}"
    else:
        doc.update(keras)
    return natsel.config_from_dict(doc, base_dir=BENCH)


# --- searchers -----------------------------------------------------------------------------------


def search_random(obj: Objective, budget: int) -> Trace:
    rng = np.random.default_rng([obj.seed, 424242])
    tr, seen = Trace(), set()
    while len(tr.genomes) < budget:
        t0 = time.perf_counter()
        batch = []
        for _ in range(min(obj.parallel, budget - len(tr.genomes))):
            g = obj.space.sample(rng)
            for _ in range(100):
                if obj.space.key(g) not in seen:
                    break
                g = obj.space.sample(rng)
            seen.add(obj.space.key(g))
            batch.append(g)
        tr.plan_seconds += time.perf_counter() - t0
        tr.genomes += batch
        tr.observed += obj(batch)
    return tr


def _suggest(trial: Any, gene: Any) -> Any:
    if isinstance(gene, Fixed):
        return gene.value
    if isinstance(gene, Choice):
        return trial.suggest_categorical(gene.name, list(gene.values))
    if isinstance(gene, IntRange):
        if gene.log and gene.step != 1:
            raise ValueError(f"{gene.name}: Optuna has no log-scaled integer with a step")
        return trial.suggest_int(gene.name, int(gene.low), int(gene.high), step=gene.step, log=gene.log)
    if isinstance(gene, FloatRange):
        return trial.suggest_float(gene.name, gene.low, gene.high, log=gene.log)
    raise TypeError(f"unknown gene {gene!r}")


def search_optuna(kind: str) -> Callable[[Objective, int], Trace]:
    def run(obj: Objective, budget: int) -> Trace:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        if kind == "tpe":
            sampler: Any = optuna.samplers.TPESampler(seed=obj.seed)
        else:
            sampler = optuna.samplers.NSGAIISampler(population_size=20, seed=obj.seed)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        tr = Trace()
        while len(tr.genomes) < budget:
            t0 = time.perf_counter()
            asked = []
            for _ in range(min(obj.parallel, budget - len(tr.genomes))):
                t = study.ask()
                asked.append((t, {g.name: _suggest(t, g) for g in obj.space.genes}))
            tr.plan_seconds += time.perf_counter() - t0
            values = obj([g for _, g in asked])
            t0 = time.perf_counter()
            for (t, g), v in zip(asked, values, strict=True):
                if v is None:
                    study.tell(t, state=optuna.trial.TrialState.FAIL)
                else:
                    study.tell(t, v)
                tr.genomes.append(g)
                tr.observed.append(v)
            tr.plan_seconds += time.perf_counter() - t0
        return tr

    return run


def search_natsel(overrides: dict[str, Any]) -> Callable[[Objective, int], Trace]:
    """natsel.evolve itself (through the Python API), with config overrides (strategy, evolution)."""

    def run(obj: Objective, budget: int) -> Trace:
        keras = obj.natsel_keras() if isinstance(obj, KerasObjective) else None
        cfg = natsel_config(obj.problem.name, obj.problem.space, obj.seed, overrides, keras)
        if cfg.ga.population > budget:  # only matters for smoke runs below one population of trials
            cfg.ga = replace(cfg.ga, population=budget)
        # cache hits (the GA's elites) are not trained: enough generations for ``budget`` trained trials
        new_per_generation = cfg.ga.population - (cfg.ga.n_elites() if cfg.strategy == "genetic" else 0)
        first = cfg.ga.population
        if cfg.strategy == "surrogate":  # generation 0 holds the start genomes
            first = cfg.strategy_options.get("startup") or first
        cfg.generations = 1 + math.ceil(max(0, budget - first) / new_per_generation) + (0 if keras else 3)
        spent = [0.0, 0.0]
        original = _evolve.Loop.plan

        def timed(self: Any, g: int) -> Any:
            t0 = time.perf_counter()
            try:
                return original(self, g)
            finally:
                spent[0] += time.perf_counter() - t0
                spent[1] = max(spent[1], time.perf_counter() - t0)

        _evolve.Loop.plan = timed  # type: ignore[method-assign]
        try:
            with tempfile.TemporaryDirectory() as tmp:
                natsel.evolve(cfg, run_dir=Path(tmp) / "run", progress=False, plots=False)
                trials = sorted(natsel.load_run(Path(tmp) / "run").trials, key=lambda t: t["id"])
        finally:
            _evolve.Loop.plan = original  # type: ignore[method-assign]
        trained = [t for t in trials if t["status"] not in ("cached", "pending")][:budget]
        return Trace([t["genome"] for t in trained], [t["fitness"] for t in trained], spent[0], spent[1])

    return run


def searchers() -> dict[str, Callable[[Objective, int], Trace]]:
    out: dict[str, Callable[[Objective, int], Trace]] = {
        "random": search_random, "tpe": search_optuna("tpe"), "nsga2": search_optuna("nsga2")}
    out.update({name: search_natsel(o) for name, o in NATSEL_VARIANTS.items()})
    return out


# --- Keras ---------------------------------------------------------------------------------------

NS_SPACE: dict[str, Any] = {  # configs/naturalselection.yaml: NaturalSelection's 15 genes + learning rate
    "optimizer": ["adamax", "adam", "nadam"],
    "hidden_activation": ["relu", "elu"],
    "batch_size": [16, 32, 64],
    "initializer": ["lecun_uniform", "lecun_normal", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal"],
    "input_dropout": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
    "neurons": {"repeat": 5, "choices": [0, 16, 32, 64, 128, 256, 512, 1024]},
    "dropout": {"repeat": 5, "choices": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]},
    "learning_rate": {"low": 1e-4, "high": 1e-1, "log": True},
}


@dataclass(frozen=True)
class KerasProblem:
    name: str
    data: dict[str, Any]
    space: dict[str, Any]
    training: dict[str, Any]


KERAS_PROBLEMS = {
    "keras-digits": KerasProblem("keras-digits", {"source": "digits", "validation": 0.2, "test": 0.2}, NS_SPACE,
                                 {"max_epochs": 5, "patience": 2, "max_training_time": 60, "metric": "accuracy"}),
    "keras-breast_cancer": KerasProblem(
        "keras-breast_cancer", {"source": "breast_cancer", "validation": 0.25, "test": 0.2}, NS_SPACE,
        {"max_epochs": 10, "patience": 3, "max_training_time": 60, "metric": "accuracy"}),
}


class KerasObjective(Objective):
    """Trains with natsel's own worker-side code (a LocalPool of 2 spawned workers): no TensorFlow here."""

    parallel = 2

    def __init__(self, problem: KerasProblem, seed: int) -> None:
        from natsel import objectives
        from natsel.executors import LocalPool

        self.problem, self.seed = problem, seed
        cfg = natsel_config(problem.name, problem.space, seed, {}, self.natsel_keras())
        self.space = cfg.space
        prepared = objectives.get("keras").prepare(cfg)
        spec, payload = prepared.spec, prepared.payload
        self.pool = LocalPool(spec, payload, workers=self.parallel,
                              hard_limit=cfg.training.max_training_time + cfg.training.grace)
        self.next_id = 0

    def natsel_keras(self) -> dict[str, Any]:
        return {"data": self.problem.data, "training": self.problem.training, "workers": self.parallel}

    def __call__(self, genomes: list[dict[str, Any]]) -> list[float | None]:
        from natsel.executors import Task

        tasks = []
        for g in genomes:
            key = self.space.key(g)
            tasks.append(Task(self.next_id, dict(g), key, trial_seed(self.seed, key)))
            self.next_id += 1
        got = {r.trial_id: r.fitness for r in self.pool.run(tasks)}
        return [got.get(t.trial_id) for t in tasks]

    def clean(self, genome: dict[str, Any]) -> float:
        raise NotImplementedError  # Keras: the observed validation score is reported

    def close(self) -> None:
        self.pool.close()


# --- reporting -----------------------------------------------------------------------------------


def best_at(obj_clean: Callable[[dict[str, Any]], float] | None, tr: Trace, budget: int) -> float | None:
    pairs = [(v, i) for i, v in enumerate(tr.observed[:budget]) if v is not None and math.isfinite(v)]
    if not pairs:
        return None
    v, i = max(pairs, key=lambda p: (p[0], -p[1]))
    return obj_clean(tr.genomes[i]) if obj_clean is not None else v


def stats(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1) / math.sqrt(len(a))) if len(a) > 1 else 0.0


def verdict(a: tuple[float, float], b: tuple[float, float]) -> str:
    diff, se = a[0] - b[0], math.hypot(a[1], b[1])
    return "tie" if abs(diff) <= se else ("win" if diff > 0 else "loss")


def report(results: dict[str, Any], names: list[str], budgets: list[int]) -> list[str]:
    lines: list[str] = []
    subjects = [n for n in names if n not in PEERS]
    peers = [p for p in PEERS if p in names]
    tally: dict[str, dict[str, Any]] = {s: {"win": 0, "tie": 0, "loss": 0, "holds": 0, "beats": 0} for s in subjects}
    for prob, per in results["problems"].items():
        n_seeds = len(next(iter(per.values())))
        what = "validation accuracy" if prob.startswith("keras-") else "optimum 1.0"
        lines.append(f"\n{prob}  ({what}; {n_seeds} seeds; mean best ± s.e.; ratio = natsel's regret / the peer's, "
                     "regret = 1 - best)")
        head = f"{'budget':>6} " + " ".join(f"{n:>15}" for n in names)
        lines.append(head)
        verdicts: dict[str, list[str]] = {s: [] for s in subjects}
        for b in budgets:
            st = {n: stats([r["best"][str(b)] for r in per[n] if r["best"].get(str(b)) is not None]) for n in names}
            lines.append(f"{b:>6} " + " ".join(f"{st[n][0]:>8.4f} ±{st[n][1]:.4f}" for n in names))
            for s in subjects:
                ratios = []
                for p in peers:
                    ratio = (1 - st[s][0]) / (1 - st[p][0]) if st[p][0] < 1 else math.inf
                    ratios.append(f"{p} {ratio:.2f}")
                v = verdict(st[s], st["tpe"]) if "tpe" in st else "-"
                verdicts[s].append(v)
                if v in tally[s]:
                    tally[s][v] += 1
                lines.append(f"{'':>6}   {s}: regret ratio vs " + ", ".join(ratios) + f"; vs tpe: {v}")
        for s in subjects:
            if "tpe" in names and "loss" not in verdicts[s]:
                tally[s]["holds"] += 1
                tally[s]["beats"] += "win" in verdicts[s]
    lines.append("\nplanning seconds per trial (mean over runs, at the largest budget):")
    for n in names:
        sec = [r["plan_per_trial"] for per in results["problems"].values() for r in per[n]]
        worst = [r["plan_last_gen"] for per in results["problems"].values() for r in per[n] if r.get("plan_last_gen")]
        extra = f"; slowest generation {max(worst):.3f} s" if worst else ""
        lines.append(f"  {n:>12}: {np.mean(sec) * 1e3:8.2f} ms{extra}")
    if "tpe" in names:
        lines.append("\nagainst TPE (tie: within one standard error of the difference), per problem x budget:")
        for s in subjects:
            t = tally[s]
            lines.append(f"  {s:>12}: {t['win']} wins / {t['tie']} ties / {t['loss']} losses; "
                         f"problems held (no loss at any budget) {t['holds']}/{len(results['problems'])}, "
                         f"beaten (held, >= 1 win) {t['beats']}")
    return lines


def pool(parts: list[dict[str, Any]]) -> tuple[dict[str, Any], list[int]]:
    """Saved ``--out`` results pooled by problem, searcher and seed (a later file replaces a seed's run),
    then cut to the seeds every searcher of every problem has, so all are compared on the same seeds."""
    rows: dict[str, dict[str, dict[int, dict[str, Any]]]] = {}
    for part in parts:
        for prob, per in part["problems"].items():
            for name, runs in per.items():
                rows.setdefault(prob, {}).setdefault(name, {}).update({int(r["seed"]): r for r in runs})
    seed_sets = [set(runs) for per in rows.values() for runs in per.values()]
    common = sorted(set.intersection(*seed_sets)) if seed_sets else []
    budgets = sorted({int(b) for part in parts for b in part["budgets"]})
    problems = {prob: {name: [runs[seed] for seed in common] for name, runs in per.items()} for prob, per in rows.items()}
    return {"budgets": budgets, "seeds": len(common), "problems": problems}, common


def print_report(paths: list[str], problems: list[str] | None = None) -> int:
    parts = [json.loads(Path(p).read_text(encoding="utf-8")) for p in paths]
    if problems:  # pool only these problems (their common seeds may be more than every problem's)
        parts = [{**d, "problems": {k: v for k, v in d["problems"].items() if k in problems}} for d in parts]
        parts = [d for d in parts if d["problems"]]
    merged, seeds = pool(parts)
    if not seeds:
        print("no seed was run by every searcher of every problem in these files", file=sys.stderr)
        return 1
    names = list(dict.fromkeys(n for per in merged["problems"].values() for n in per))
    missing = [(p, n) for p, per in merged["problems"].items() for n in names if n not in per]
    if missing:
        print(f"{missing[0][1]} has no run of {missing[0][0]} in these files; report the problems it ran apart",
              file=sys.stderr)
        return 1
    names = [n for n in PEERS if n in names] + [n for n in names if n not in PEERS]
    print("\n".join(report(merged, names, merged["budgets"])))
    print(f"\n(seeds {', '.join(map(str, seeds))}, those every searcher ran; from {', '.join(paths)})")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 seeds, budgets up to 100")
    ap.add_argument("--problems", default=None, help="comma-separated (default: all pure-Python problems)")
    ap.add_argument("--searchers", default=None, help="comma-separated: " + ", ".join(searchers()))
    ap.add_argument("--seeds", type=int, default=None, help="how many seeds (default 10; --quick 5; --keras 3)")
    ap.add_argument("--first-seed", type=int, default=0, help="seeds run from here (a held-out check: 10)")
    ap.add_argument("--budgets", default=None, help="comma-separated evaluation budgets")
    ap.add_argument("--keras", action="store_true", help="the two Keras searches (40 trials, 3 seeds)")
    ap.add_argument("--out", default=None, help="write every run's results as JSON")
    ap.add_argument("--report", nargs="+", default=None, metavar="JSON",
                    help="print the tables from saved --out files, pooled by problem, searcher and seed (on the seeds "
                         "every searcher ran)")
    a = ap.parse_args(argv)
    if a.report:
        return print_report(a.report, a.problems.split(",") if a.problems else None)
    if a.keras:
        problems: dict[str, Any] = dict(KERAS_PROBLEMS)
        budgets, seeds = [40], 3
    else:
        problems = dict(PROBLEMS)
        budgets, seeds = ([25, 50, 100], 5) if a.quick else ([25, 50, 100, 300], 10)
    if a.problems:
        problems = {p: problems[p] for p in a.problems.split(",")}
    budgets = [int(b) for b in a.budgets.split(",")] if a.budgets else budgets
    seeds = a.seeds or seeds
    table = searchers()
    names = a.searchers.split(",") if a.searchers else DEFAULT_SEARCHERS
    for n in names:
        if n not in table:
            ap.error(f"unknown searcher {n!r} (known: {', '.join(table)})")
    results: dict[str, Any] = {"budgets": budgets, "seeds": seeds, "first_seed": a.first_seed, "problems": {}}
    top = max(budgets)
    t_start = time.time()
    for pname, prob in problems.items():
        per: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        for seed in range(a.first_seed, a.first_seed + seeds):
            obj: Objective = KerasObjective(prob, seed) if a.keras else Objective(prob, seed)
            try:
                for n in names:
                    t0 = time.perf_counter()
                    tr = table[n](obj, top)
                    clean = None if a.keras else obj.clean
                    per[n].append({"seed": seed, "evaluations": len(tr.genomes),
                                   "best": {str(b): best_at(clean, tr, b) for b in budgets},
                                   "plan_per_trial": tr.plan_seconds / max(1, len(tr.genomes)),
                                   "plan_last_gen": tr.plan_max,
                                   "seconds": time.perf_counter() - t0})
                    print(f"[{time.time() - t_start:6.0f}s] {pname} seed {seed} {n}: "
                          f"best@{top} {per[n][-1]['best'][str(top)]} ({len(tr.genomes)} evals, "
                          f"{per[n][-1]['seconds']:.1f}s)", file=sys.stderr, flush=True)
            finally:
                obj.close()
        results["problems"][pname] = per
    lines = report(results, names, budgets)
    print("\n".join(lines))
    print(f"\n(seeds {a.first_seed}..{a.first_seed + seeds - 1}; {time.time() - t_start:.0f} s)")
    if a.out:
        Path(a.out).write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
