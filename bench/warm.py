"""Warm starts measured (issue 28): does a search that starts from an earlier run's trials do better?

For each pure-Python problem of ``bench/problems.py`` and each seed:

1. **earlier run**: natsel, ``max_trials`` trials on a *narrowed and shifted* space: every range
   gene keeps only the part of its range from 15% to 65% of the way (encoded: log ranges in log
   space), every choice gene with 3 or more values loses its last value; the optimum is usually
   outside it;
2. **natsel warm**: natsel on the full space, ``warm_start: [earlier run]``, ``max_trials`` more;
3. **natsel cold**: natsel on the full space from nothing, ``max_trials`` trials;
4. **optuna warm**: Optuna's TPE on the full space after ``study.add_trials`` of the earlier run's
   trials, ``max_trials`` more.

Reported: the best noiseless fitness each found among its own ``max_trials`` new trials (1.0 is
the optimum), mean and standard error over seeds, and a verdict of natsel warm against each
(tie: the means differ by less than their combined standard error).

    python bench/warm.py --seeds 10 --trials 100 --out bench/warm.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from problems import PROBLEMS  # noqa: E402
from search import _suggest, natsel_config, stats, verdict  # noqa: E402

import natsel  # noqa: E402
from natsel._space import Choice, FloatRange, IntRange  # noqa: E402

DEFAULT_PROBLEMS = ["separable", "interaction", "multimodal"]
WINDOW = (0.15, 0.65)  # the earlier run's share of every range, in the encoded [0, 1] space


def narrowed(space_doc: dict[str, Any], name: str) -> dict[str, Any]:
    """The earlier run's space: ranges cut to WINDOW, choices of 3+ values without their last."""
    full = natsel_config(name, space_doc, 0, {}).space
    out: dict[str, Any] = {}
    for key, spec in space_doc.items():
        gene = full[key] if key in full.names else None
        if isinstance(gene, (FloatRange, IntRange)) and isinstance(spec, dict) and gene.size > 2:
            lo, hi = gene.decode(WINDOW[0]), gene.decode(WINDOW[1])
            if hi <= lo:
                out[key] = spec
                continue
            out[key] = {**spec, "low": lo, "high": hi}
            if isinstance(gene, IntRange):
                step = spec.get("step", 1)
                out[key]["low"] = int(gene.low + math.ceil((lo - gene.low) / step) * step)
                out[key]["high"] = int(max(out[key]["low"], hi))
        elif isinstance(gene, Choice) and len(gene.values) >= 3:
            out[key] = {**spec, "choices": list(spec["choices"])[:-1]} if isinstance(spec, dict) else list(spec)[:-1]
        else:
            out[key] = spec
    return out


def natsel_run(name: str, space: dict[str, Any], seed: int, trials: int, folder: Path,
               warm: list[str] | None = None) -> list[dict[str, Any]]:
    """natsel.evolve on ``space`` until ``trials`` trained trials; its trained trials in order."""
    extra: dict[str, Any] = {"stop": {"max_trials": trials}}
    if warm:
        extra["warm_start"] = warm
    cfg = natsel_config(name, space, seed, extra)
    run = natsel.evolve(cfg, run_dir=folder, progress=False, plots=False)
    return [t for t in sorted(run.trials, key=lambda t: t["id"]) if t["status"] not in ("cached", "pending")]


def optuna_warm(name: str, seed: int, earlier: list[dict[str, Any]], trials: int) -> list[dict[str, Any]]:
    """TPE on the full space with the earlier trials added (``add_trials``), then ``trials`` more."""
    import optuna

    from natsel._evolve import trial_seed

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    problem = PROBLEMS[name]
    space = natsel_config(name, problem.space, seed, {}).space
    probe = optuna.create_study()
    t = probe.ask()
    for g in space.genes:
        _suggest(t, g)
    dists = t.distributions
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.add_trials([optuna.trial.create_trial(params={k: e["genome"][k] for k in dists}, distributions=dists,
                                                value=e["fitness"]) for e in earlier])
    out = []
    for _ in range(trials):
        t = study.ask()
        g = {gene.name: _suggest(t, gene) for gene in space.genes}
        v = float(problem.f(dict(g), seed=trial_seed(seed, space.key(g))))
        study.tell(t, v)
        out.append({"genome": g, "fitness": v})
    return out


def best(problem: Any, rows: list[dict[str, Any]]) -> float:
    """The noiseless fitness of the best observed trial (ties: the first)."""
    top = max(range(len(rows)), key=lambda i: (rows[i]["fitness"], -i))
    return problem.clean(rows[top]["genome"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--problems", nargs="*", default=DEFAULT_PROBLEMS)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    results: dict[str, dict[str, list[float]]] = {}
    start = time.time()
    for name in args.problems:
        problem = PROBLEMS[name]
        narrow = narrowed(problem.space, name)
        per = results.setdefault(name, {"earlier": [], "natsel warm": [], "natsel cold": [], "optuna warm": []})
        for seed in range(args.seeds):
            with tempfile.TemporaryDirectory() as tmp:
                earlier = natsel_run(name, narrow, seed, args.trials, Path(tmp) / "earlier")
                warm = natsel_run(name, problem.space, seed, args.trials, Path(tmp) / "warm", [str(Path(tmp) / "earlier")])
                cold = natsel_run(name, problem.space, seed, args.trials, Path(tmp) / "cold")
            opt = optuna_warm(name, seed, earlier, args.trials)
            for label, rows in (("earlier", earlier), ("natsel warm", warm), ("natsel cold", cold),
                                ("optuna warm", opt)):
                per[label].append(best(problem, rows))
            print(f"{name} seed {seed}: " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in per.items())
                  + f"  ({time.time() - start:.0f}s)", file=sys.stderr, flush=True)
    lines = [f"best noiseless fitness among each search's own {args.trials} new trials (optimum 1.0), "
             f"mean ± s.e. over {args.seeds} seeds; verdict: natsel warm against the column",
             "", "| problem | earlier run (narrowed space) | natsel warm | natsel cold | optuna warm (add_trials) |",
             "| --- | --- | --- | --- | --- |"]
    for name, per in results.items():
        s = {k: stats(v) for k, v in per.items()}
        cell = {k: f"{m:.4f} ± {e:.4f}" for k, (m, e) in s.items()}
        w = s["natsel warm"]
        lines.append(f"| {name} | {cell['earlier']} | **{cell['natsel warm']}** | {cell['natsel cold']} "
                     f"({verdict(w, s['natsel cold'])}) | {cell['optuna warm']} ({verdict(w, s['optuna warm'])}) |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results,
                                        "table": text}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
