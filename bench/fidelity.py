"""Multi-fidelity side by side, at equal wall-clock: natsel (full-budget GA, successive halving,
pruning) and Optuna TPE with its HyperbandPruner, on digits and Fashion-MNIST.

    python bench/fidelity.py --quick                  # a few minutes: digits, 1 seed, 2 minutes each
    python bench/fidelity.py --minutes 5 10 20        # the full comparison (hours): 3 seeds, both sets

Every method gets one worker process (natsel ``workers: 1``; Optuna ``n_jobs=1`` in this
process) for the same wall-clock, so neither gets more cores. Each run goes on until the largest
budget; the best validation accuracy *so far* at each smaller budget is read from the trials'
finish times. Only full-budget results count for natsel's best (a score after one epoch is not a
result); for Optuna, completed (not pruned) trials. ``--test`` also trains each best genome fully
(``natsel train-best`` for natsel; the same training for Optuna's best) and reports test accuracy.

Needs the bench extra: ``pip install -e ".[cpu,bench]"``; Fashion-MNIST needs the Debian package
``dataset-fashion-mnist`` (skipped with a note when it is missing).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from search import NS_SPACE as SPACE  # noqa: E402 - NaturalSelection's 15 genes plus the learning rate

DATASETS = {
    "digits": ({"source": "digits"}, 20),
    "fashion": ({"source": "fashion_mnist", "limit": 12000}, 10),
}
METHODS = ["natsel-ga", "natsel-halving", "natsel-pruning", "tpe-hyperband"]


def natsel_config(data: dict[str, Any], max_epochs: int, seed: int, method: str) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "name": method, "seed": seed, "data": data, "workers": 1,
        "training": {"max_epochs": max_epochs, "patience": 3, "max_training_time": 120},
        "evolution": {"population": 12, "generations": 10_000},
        "space": SPACE,
    }
    if method == "natsel-halving":
        cfg["fidelity"] = {"minimum": 1, "eta": 3}
        cfg["evolution"]["population"] = 27
    if method == "natsel-pruning":
        cfg["pruning"] = {"quantile": 0.5, "warmup": 1, "min_trials": 5}
    return cfg


class TimeUp(Exception):
    """Raised by the per-generation callback once the wall-clock budget is spent."""


def run_natsel(data: dict[str, Any], max_epochs: int, seed: int, method: str, seconds: float,
               folder: Path) -> list[tuple[float, float]]:
    """(seconds since start, validation accuracy) of every full-budget scored trial."""
    import natsel

    cfg = natsel.config_from_dict(natsel_config(data, max_epochs, seed, method))
    start = time.time()

    def stop(run: Any) -> None:
        if time.time() - start > seconds:
            raise TimeUp

    path = folder / f"{method}-{seed}"
    try:
        natsel.evolve(cfg, path, progress=False, plots=False, on_generation=stop)
    except TimeUp:
        pass
    run = natsel.load_run(path)
    return [(t["finished"] - start, t["fitness"]) for t in run.trials
            if t["status"] in ("ok", "timeout") and t.get("budget", "full") == "full" and t["fitness"] is not None]


def run_optuna(data_spec: dict[str, Any], max_epochs: int, seed: int, seconds: float) -> list[tuple[float, float]]:
    """Optuna TPE + HyperbandPruner over the same space, training with natsel's Keras code."""
    import optuna

    from natsel.objectives.keras.data import load_dataset
    from natsel.objectives.keras.train import _import_keras, build_model, score

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = load_dataset(data_spec, seed=seed).search_payload()
    keras = _import_keras(2)
    start = time.time()
    done: list[tuple[float, float]] = []

    def objective(trial: Any) -> float:
        g: dict[str, Any] = {}
        for name, spec in SPACE.items():
            if isinstance(spec, list):
                g[name] = trial.suggest_categorical(name, spec)
            elif "repeat" in spec:
                for i in range(spec["repeat"]):
                    g[f"{name}{i}"] = trial.suggest_categorical(f"{name}{i}", spec["choices"])
            else:
                g[name] = trial.suggest_float(name, spec["low"], spec["high"], log=spec.get("log", False))
        keras.utils.set_random_seed(seed + trial.number)
        model = build_model(g, data["n_features"], data["task"], data["n_classes"])
        acc = 0.0
        for epoch in range(max_epochs):
            model.fit(data["x_train"], data["y_train"], batch_size=int(g["batch_size"]), epochs=1, verbose=0)
            acc = score(model, data["x_val"], data["y_val"], data["task"], data["n_classes"])["accuracy"]
            trial.report(acc, epoch)
            if trial.should_prune():
                keras.backend.clear_session()
                raise optuna.TrialPruned
        keras.backend.clear_session()
        done.append((time.time() - start, acc))
        return acc

    sampler = optuna.samplers.TPESampler(seed=seed)
    pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs, reduction_factor=3)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    study.optimize(objective, timeout=seconds, n_jobs=1)
    return done


def best_by(points: list[tuple[float, float]], t: float) -> float:
    vals = [v for s, v in points if s <= t]
    return max(vals) if vals else math.nan


def mean_se(xs: list[float]) -> str:
    xs = [x for x in xs if not math.isnan(x)]
    if not xs:
        return "      -      "
    se = statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs):.4f} ± {se:.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="digits, 1 seed, budgets of 1 and 2 minutes")
    ap.add_argument("--minutes", type=float, nargs="+", default=[5, 10, 20])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    ap.add_argument("--out", type=Path, help="write the raw points as JSON")
    args = ap.parse_args()
    if args.quick:
        args.minutes, args.seeds, args.datasets = [1, 2], 1, ["digits"]
    budgets = sorted(args.minutes)
    results: dict[str, dict[str, list[list[tuple[float, float]]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for ds in args.datasets:
            data, epochs = DATASETS[ds]
            if ds == "fashion" and not Path("/usr/share/datasets/fashion-mnist").is_dir():
                print("note: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist); skipped")
                continue
            for method in args.methods:
                for seed in range(args.seeds):
                    t0 = time.time()
                    if method == "tpe-hyperband":
                        pts = run_optuna(data, epochs, seed, budgets[-1] * 60)
                    else:
                        pts = run_natsel(data, epochs, seed, method, budgets[-1] * 60, Path(tmp))
                    results.setdefault(ds, {}).setdefault(method, []).append(pts)
                    print(f"  {ds} {method} seed {seed}: {len(pts)} full results in {time.time() - t0:.0f} s",
                          file=sys.stderr)
    print(f"\nbest validation accuracy so far (mean ± se over {args.seeds} seeds), 1 worker each")
    for ds, by_method in results.items():
        print(f"\n{ds}: " + "  ".join(f"{m:>22}" for m in by_method))
        for b in budgets:
            row = [mean_se([best_by(p, b * 60) for p in runs]) for runs in by_method.values()]
            print(f"  {b:>5g} min " + "  ".join(f"{c:>22}" for c in row))
        ga = by_method.get("natsel-ga")
        if ga and "natsel-halving" in by_method:
            final = statistics.mean(best_by(p, budgets[-1] * 60) for p in ga)
            for name, runs in by_method.items():
                reach = []
                for p in runs:
                    times = [s for s, v in sorted(p) if v >= final]
                    reach.append(times[0] if times else math.inf)
                shown = [f"{r / 60:.1f}" if math.isfinite(r) else "never" for r in reach]
                print(f"  minutes to reach the full GA's final best ({final:.4f}), {name}: {', '.join(shown)}")
    if args.out:
        args.out.write_text(json.dumps(results))


if __name__ == "__main__":
    main()
