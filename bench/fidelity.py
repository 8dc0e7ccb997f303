"""Multi-fidelity side by side, at equal wall-clock: natsel (full-budget search, successive halving,
pruning) and Optuna TPE with its HyperbandPruner, on digits and Fashion-MNIST.

    python bench/fidelity.py --quick                       # digits, 1 seed, 1 and 2 minutes (~10 min)
    python bench/fidelity.py --minutes 5 10 20 --jobs 2    # the full comparison (hours): 3 seeds, both sets
    python bench/fidelity.py --report a.json b.json        # the tables of saved --out files (seeds pooled)
    python bench/fidelity.py --datasets digits --seeds 3 --first-seed 3 --out b.json   # more seeds later

Each run (data set x method x seed) is one process pinned to one CPU core, with one worker and one
TensorFlow thread (natsel ``workers: 1, threads: 1``; Optuna ``n_jobs=1``), so no method gets more
compute than another; ``--jobs N`` runs N of them at a time on cores 0..N-1 (default 1: core 0). The clock starts
before the process loads its data. natsel runs as ``natsel evolve`` and is killed (SIGKILL) at the
largest budget; Optuna stops starting trials then. The best validation accuracy *so far* at each
budget is read from the trials' finish times. Only full-budget results count for natsel (a score
after one epoch is not a result); for Optuna, completed trials (not pruned). ``--test`` trains
each method's final best genome fully (``natsel train-best``; the same ``train_fully`` for Optuna's)
and reports its test accuracy, and how far the final best's validation score is above it
(``val-test``: a maximum over more full-budget results, ``full res.``, picks luckier validation draws).

Needs the bench extra: ``pip install -e ".[cpu,bench]"``; Fashion-MNIST needs the Debian package
``dataset-fashion-mnist`` (skipped with a note when it is missing).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from search import NS_SPACE as SPACE  # noqa: E402 - NaturalSelection's 15 genes plus the learning rate

DATASETS = {  # data, max epochs (the full budget)
    "digits": ({"source": "digits"}, 20),
    "fashion": ({"source": "fashion_mnist", "limit": 12000}, 10),
}
METHODS = ["natsel-full", "natsel-halving", "natsel-pruning", "tpe-hyperband"]
PATIENCE = 3


def natsel_config(data: dict[str, Any], max_epochs: int, seed: int, method: str) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "name": method, "seed": seed, "data": data, "workers": 1, "threads": 1,
        "training": {"max_epochs": max_epochs, "patience": PATIENCE, "max_training_time": 300},
        "evolution": {"population": 10, "generations": 10_000},
        "space": SPACE,
    }
    if method == "natsel-halving":  # the default population: one bracket (digits: 9 at 2 epochs, 3 at 7, 1 at 20)
        cfg["fidelity"] = {"minimum": 1, "eta": 3}
        del cfg["evolution"]["population"]
    if method == "natsel-pruning":
        cfg["pruning"] = {"quantile": 0.5, "warmup": 1, "min_trials": 5}
    return cfg


def cell_natsel(ds: str, method: str, seed: int, seconds: float, folder: Path, test: bool) -> dict[str, Any]:
    """``natsel evolve`` until ``seconds``, killed then; (seconds, validation accuracy) of full results."""
    import natsel

    data, epochs = DATASETS[ds]
    cfg_path = folder / "config.yaml"
    cfg_path.write_text(json.dumps(natsel_config(data, epochs, seed, method)))  # JSON is YAML
    run_dir = folder / "run"
    start = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "natsel", "evolve", str(cfg_path), "--run-dir", str(run_dir), "-q"],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    run = natsel.load_run(run_dir)
    points = [(t["finished"] - start, t["fitness"]) for t in run.trials
              if t["status"] in ("ok", "timeout", "cached") and t.get("budget", "full") == "full" and t["fitness"] is not None]
    out: dict[str, Any] = {"points": points, "trials": len(run.trials),
                           "best": run.best["genome"] if run.best else None}
    if test and run.best is not None:
        info = natsel.train_best(run_dir, epochs=epochs, patience=PATIENCE, progress=False, out=folder / "best")
        out["test"] = info["test"]["accuracy"]
    return out


def cell_optuna(ds: str, seed: int, seconds: float, folder: Path, test: bool) -> dict[str, Any]:
    """Optuna TPE + HyperbandPruner over the same space, training with natsel's Keras code."""
    start = time.time()
    import optuna

    from natsel.objectives.keras.data import load_dataset
    from natsel.objectives.keras.train import (
        _import_keras,
        auto_steps_per_execution,
        build_model,
        build_optimizer,
        epoch_data,
        es_loss,
        score,
        train_fully,
    )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data_spec, max_epochs = DATASETS[ds]
    dataset = load_dataset(data_spec, seed=seed)
    data = dataset.search_payload()
    keras = _import_keras(1)
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
        keras.utils.set_random_seed(seed * 100_003 + trial.number)
        spe = auto_steps_per_execution(len(data["x_train"]), int(g["batch_size"]))
        model = build_model(g, data["input_shape"], data["task"], data["n_classes"], spe)
        build_optimizer(model)  # natsel's trial costs: one trace of the step, a direct early-stopping loss

        class Epoch(keras.callbacks.Callback):  # report each epoch; the same patience on the early-stopping rows
            best, since, kept, pruned = -math.inf, 0, 0.0, False

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                acc = score(model, data["x_val"], data["y_val"], data["task"], data["n_classes"])["accuracy"]
                trial.report(acc, epoch)
                if trial.should_prune():
                    self.pruned = model.stop_training = True
                    return
                loss = es_loss(model, data["x_es"], data["y_es"])
                if -loss > self.best:
                    self.best, self.since, self.kept = -loss, 0, acc
                else:
                    self.since += 1
                    model.stop_training = self.since >= PATIENCE

        epoch = Epoch()
        batches, order = epoch_data(keras, data["x_train"], data["y_train"], int(g["batch_size"]), trial.number)
        model.fit(batches, epochs=max_epochs, verbose=0, shuffle=False, callbacks=[order, epoch])
        keras.backend.clear_session()
        if epoch.pruned:
            raise optuna.TrialPruned
        kept = epoch.kept
        done.append((time.time() - start, kept))
        trial.set_user_attr("kept", kept)
        return kept

    sampler = optuna.samplers.TPESampler(seed=seed)
    pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs, reduction_factor=3)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    study.optimize(objective, timeout=max(1.0, seconds - (time.time() - start)), n_jobs=1)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = dict(max(complete, key=lambda t: t.value).params) if complete else None
    out: dict[str, Any] = {"points": done, "trials": len(study.trials), "best": best}
    if test and best is not None:
        init = {"genome": best, "payload": dataset.final_payload(), "seed": seed, "threads": 1,
                "training": {"max_epochs": max_epochs, "patience": PATIENCE, "max_training_time": 600},
                "model_path": str(folder / "best.keras")}
        out["test"] = train_fully(init, lambda n, logs: None)["test"]["accuracy"]
    return out


def run_cell(ds: str, method: str, seed: int, seconds: float, test: bool, core: int | None) -> dict[str, Any]:
    """One run in its own process (pinned to ``core``), so each method has one core and a fresh TensorFlow."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cell.json"
        cmd = [sys.executable, __file__, "--cell", ds, method, str(seed), str(seconds), str(out)]
        cmd += ["--test"] if test else []
        cmd += ["--core", str(core)] if core is not None else []
        t0 = time.time()
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"{ds} {method} seed {seed} failed:\n{res.stderr[-3000:]}")
        cell = json.loads(out.read_text())
    shown = f"test {cell['test']:.4f}" if "test" in cell else ""
    print(f"  {ds} {method} seed {seed}: {len(cell['points'])} full results of {cell['trials']} trials, "
          f"best {max((v for _, v in cell['points']), default=math.nan):.4f} {shown} ({time.time() - t0:.0f} s)",
          file=sys.stderr, flush=True)
    return cell


def best_by(points: list[list[float]], t: float) -> float:
    vals = [v for s, v in points if s <= t]
    return max(vals) if vals else math.nan


def mean_se(xs: list[float]) -> tuple[float, float]:
    xs = [x for x in xs if not math.isnan(x)]
    if not xs:
        return math.nan, math.nan
    return statistics.mean(xs), (statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else 0.0)


def fmt(m: tuple[float, float]) -> str:
    return "-" if math.isnan(m[0]) else f"{m[0]:.4f} ± {m[1]:.4f}"


def cell(xs: list[float]) -> str:
    """Mean ± s.e. over the seeds with a result by then, and how many had one when not all did."""
    have = sum(not math.isnan(x) for x in xs)
    return fmt(mean_se(xs)) + (f" ({have}/{len(xs)})" if 0 < have < len(xs) else "")


def pooled(saved: list[dict[str, Any]]) -> dict[str, Any]:
    """Several ``--out`` files as one: their seeds and cells joined (the budgets must be the same)."""
    if any(r["minutes"] != saved[0]["minutes"] for r in saved):
        sys.exit("--report: the files were measured at different budgets (--minutes)")
    out: dict[str, Any] = {"minutes": saved[0]["minutes"], "seeds": [], "cells": {}}
    for r in saved:
        out["seeds"] += r["seeds"]
        for ds, by_method in r["cells"].items():
            for m, cells in by_method.items():
                out["cells"].setdefault(ds, {}).setdefault(m, []).extend(cells)
    return out


def report(results: dict[str, Any]) -> list[str]:
    budgets = results["minutes"]
    lines = [f"best validation accuracy so far (mean ± s.e. over seeds {results['seeds']}); one core each"]
    for ds, by_method in results["cells"].items():
        methods = list(by_method)
        lines.append(f"\n{ds}   " + "  ".join(f"{m:>20}" for m in methods))
        for b in budgets:
            lines.append(f"{b:>5g} min " + "  ".join(f"{cell([best_by(c['points'], b * 60) for c in by_method[m]]):>20}"
                                                     for m in methods))
        if any("test" in c for cells in by_method.values() for c in cells):
            lines.append("test acc. " + "  ".join(
                f"{cell([c.get('test', math.nan) for c in by_method[m]]):>20}" for m in methods))
            # how far the final best's validation score overstates it: the maximum over more full-budget
            # results picks luckier validation draws (the winner's curse)
            lines.append("val-test  " + "  ".join(f"{cell([best_by(c['points'], budgets[-1] * 60) - c.get('test', math.nan) for c in by_method[m]]):>20}" for m in methods))
        lines.append("trials    " + "  ".join(f"{statistics.mean(c['trials'] for c in by_method[m]):>20.0f}"
                                             for m in methods))
        lines.append("full res. " + "  ".join(f"{statistics.mean(len(c['points']) for c in by_method[m]):>20.0f}"
                                             for m in methods))
        full = by_method.get("natsel-full")
        if full:
            end = budgets[-1] * 60
            for m in methods:  # per seed: when this method first matched the full-budget run's final best
                ratios, shown = [], []
                for f, c in zip(full, by_method[m], strict=False):
                    target = best_by(f["points"], end)
                    hit = [s for s, v in sorted(c["points"]) if v >= target and s <= end]
                    shown.append(f"{hit[0] / 60:.1f}" if hit else "never")
                    ratios.append(hit[0] / end if hit else math.inf)
                lines.append(f"  {m}: minutes to reach natsel-full's final best (per seed): {', '.join(shown)}; "
                             f"share of the budget: {', '.join('-' if math.isinf(r) else f'{r:.2f}' for r in ratios)}")
        if "natsel-halving" in by_method and "tpe-hyperband" in by_method:
            h = mean_se([best_by(c["points"], budgets[-1] * 60) for c in by_method["natsel-halving"]])
            t = mean_se([best_by(c["points"], budgets[-1] * 60) for c in by_method["tpe-hyperband"]])
            lines.append(f"  at {budgets[-1]:g} min: natsel-halving - tpe-hyperband = {h[0] - t[0]:+.4f} "
                         f"(s.e. of the difference {math.hypot(h[1], t[1]):.4f})")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="digits, 1 seed, budgets of 1 and 2 minutes")
    ap.add_argument("--minutes", type=float, nargs="+", default=[5, 10, 20])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    ap.add_argument("--jobs", type=int, default=1, help="runs at a time, each pinned to its own core")
    ap.add_argument("--test", action="store_true", help="train each final best fully and report test accuracy")
    ap.add_argument("--out", type=Path, help="write every run's points as JSON")
    ap.add_argument("--report", type=Path, nargs="+", help="print the tables of saved --out files (their seeds pooled)")
    ap.add_argument("--cell", nargs=5, metavar=("DATASET", "METHOD", "SEED", "SECONDS", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--core", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.cell:  # one run, in this (pinned) process
        if args.core is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {args.core})
        ds, method, seed, seconds, out = args.cell
        with tempfile.TemporaryDirectory() as tmp:
            if method == "tpe-hyperband":
                cell = cell_optuna(ds, int(seed), float(seconds), Path(tmp), args.test)
            else:
                cell = cell_natsel(ds, method, int(seed), float(seconds), Path(tmp), args.test)
        Path(out).write_text(json.dumps(cell))
        return
    if args.report:
        print("\n".join(report(pooled([json.loads(p.read_text()) for p in args.report]))))
        return
    if args.quick:
        args.minutes, args.seeds, args.datasets = [1, 2], 1, ["digits"]
    minutes = sorted(args.minutes)
    datasets = [d for d in args.datasets if d != "fashion" or Path("/usr/share/datasets/fashion-mnist").is_dir()]
    if len(datasets) < len(args.datasets):
        print("note: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist); skipped", file=sys.stderr)
    cores: queue.Queue[int | None] = queue.Queue()
    jobs = max(1, args.jobs)
    for i in range(jobs):
        cores.put(i % (os.cpu_count() or 1))

    def one(key: tuple[str, str, int]) -> dict[str, Any]:
        core = cores.get()
        try:
            return run_cell(*key[:2], key[2], minutes[-1] * 60, args.test, core)
        finally:
            cores.put(core)

    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    keys = [(ds, m, s) for ds in datasets for s in seeds for m in args.methods]
    t0 = time.time()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        cells = list(pool.map(one, keys))
    results: dict[str, Any] = {"minutes": minutes, "seeds": seeds, "cells": {}}
    for (ds, m, _), c in zip(keys, cells, strict=True):
        results["cells"].setdefault(ds, {}).setdefault(m, []).append(c)
    print("\n".join(report(results)))
    print(f"\n({time.time() - t0:.0f} s; {jobs} run(s) at a time)")
    if args.out:
        args.out.write_text(json.dumps(results))


if __name__ == "__main__":
    main()
