"""Two objectives on a Keras problem at equal wall-clock: natsel (with and without ``fidelity:``) beside
Optuna's NSGA-II, multi-objective TPE and random search, in one run.

    PYTHONPATH=$PWD python bench/mo_keras.py --seconds 120 --seeds 3 [--first-seed 0] [--problem digits|fashion]

The problem: dense networks of up to two hidden layers; maximise the validation accuracy, minimise the
trainable parameters; on scikit-learn's digits (bundled; a network trains in about a second, most of it
building the network, so a 2-epoch rung costs nearly what a 6-epoch trial does) or the first 20,000
Fashion-MNIST training images (Debian's dataset-fashion-mnist; up to 9 epochs, rungs of 1, 3 and 9,
where the epochs are most of a trial's cost). Every searcher gets the same wall-clock
(``--seconds``) and 2 worker processes that train with natsel's own worker-side code (a ``LocalPool``;
TensorFlow only in the workers): natsel runs through ``natsel.evolve`` with ``stop: {timeout}``;
Optuna's samplers ask 2 genomes at a time and tell their scores, until the time is spent (a batch
that started before the end finishes; so does natsel's last trial). Each training is the same
(``max_epochs``, patience, seed per genome); ``natsel+fidelity`` screens each generation's genomes at
the first rung and trains the best third of each rung on (digits: 9 genomes at 2 epochs, 3 at 6;
fashion: 18 at 1, 6 at 3, 2 at 9, so each rung fills the 2 workers). ``--minimum`` and ``--population``
change the first rung and the genomes a generation (``--minimum 3 --population 12``: 12 at 3 epochs, 4 at 9),
``--eta`` the share a rung promotes (``--eta 2``: rungs of 4 and 9 epochs, half of each promoted).
``natsel+fidelity-within`` (named in ``--searchers`` only) is the ablation of bench/mo_rungs.py: its rungs
rank their trials within their generation, not among the earlier generations' trials at that budget.

Hypervolume: of the full-budget trials' (1 - val_accuracy, log10(params)) front, both minimised,
against the reference point (0.5, log10 of the largest network the space holds), by Optuna's
``optuna._hypervolume.compute_hypervolume``. Reported: mean and standard error over seeds; a tie is
a difference within one standard error of the difference.

``--test`` (Fashion-MNIST) also scores what each search would hand a user: every genome on its
validation front is trained again after the search (its own seed, the full budget: the same network,
since training never reads the validation rows) and scored on the official test set's 10,000 images,
never seen by any search; the test hypervolume is that of those genomes' (1 - test accuracy, log10
params). A front picked from many noisy validation scores overstates itself (the most accurate of
many draws at a size is partly luck); on test that luck is gone, and the second table says which searcher's
front holds up.

Last, each hypervolume split by network size (bands of log10 params; the bands add up to the whole):
natsel+fidelity's part minus each peer's, paired by seed, so a lead on small networks and a deficit on
large ones show apart instead of cancelling. ``--report OUT.json`` prints the tables of an earlier
run's ``--out`` file without searching (with the ``--problem`` it ran).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import natsel  # noqa: E402
from natsel._evolve import trial_seed  # noqa: E402

SPACE: dict[str, Any] = {
    "optimizer": ["adam", "nadam"],
    "learning_rate": {"low": 1e-3, "high": 3e-2, "log": True},
    "hidden_activation": ["relu", "elu"],
    "batch_size": [32, 64],
    "neurons": {"repeat": 2, "choices": [0, 4, 8, 16, 32, 64, 128, 256]},
}
OBJECTIVES = {"val_accuracy": "maximize", "params": "minimize"}
WORKERS = 2


def largest(inputs: int, classes: int) -> int:
    """Trainable parameters of the largest network the space holds (256 and 256 hidden units)."""
    return inputs * 256 + 256 + 256 * 256 + 256 + 256 * classes + classes


#: data, training and fidelity per problem (the module docstring says why two)
PROBLEMS: dict[str, dict[str, Any]] = {
    "digits": {"data": {"source": "digits", "validation": 0.2, "test": 0.2, "early_stopping": 0.1},
               "training": {"max_epochs": 6, "patience": 3, "max_training_time": 30},
               "fidelity": {"resource": "epochs", "minimum": 2, "eta": 3}, "population": 9,
               "largest": largest(64, 10)},
    "fashion": {"data": {"source": "fashion_mnist", "limit": 20000, "validation": 0.2, "early_stopping": 0.1},
                "training": {"max_epochs": 9, "patience": 3, "max_training_time": 60},
                "fidelity": {"resource": "epochs", "minimum": 1, "eta": 3}, "population": 18,
                "largest": largest(784, 10)},
}
PROBLEM = "digits"


def reference() -> tuple[float, float]:
    return (0.5, math.log10(PROBLEMS[PROBLEM]["largest"]))


def config(seed: int, seconds: float, fidelity: bool) -> dict[str, Any]:
    p = PROBLEMS[PROBLEM]
    doc: dict[str, Any] = {"name": "mo-keras", "seed": seed, "data": p["data"], "training": p["training"],
                           "objectives": OBJECTIVES, "space": SPACE, "workers": WORKERS,
                           "stop": {"timeout": seconds}}
    if fidelity:
        doc["fidelity"] = p["fidelity"]
        doc["evolution"] = {"population": p["population"]}
    return doc


def points(rows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(val_accuracy, params) as the minimised pair the hypervolume is taken of."""
    return [(1.0 - a, math.log10(max(p, 1.0))) for a, p in rows]


def hypervolume(rows: list[tuple[float, float]]) -> float:
    from optuna._hypervolume import compute_hypervolume

    ref = reference()
    pts = np.array([p for p in points(rows) if p[0] < ref[0] and p[1] < ref[1]], dtype=float)
    return float(compute_hypervolume(pts, np.array(ref))) if len(pts) else 0.0


#: a full-budget result: (val_accuracy, params, the genome as trained, its key, its training seed)
Row = tuple[float, float, dict[str, Any], str, int]


def run_natsel(seed: int, seconds: float, fidelity: bool) -> list[Row]:
    folder = Path(tempfile.mkdtemp(prefix="mo-keras-"))
    try:
        cfg = natsel.config_from_dict(config(seed, seconds, fidelity), base_dir=BENCH)
        run = natsel.evolve(cfg, folder / "run", progress=False)
        return [(t["metrics"]["val_accuracy"], t["metrics"]["params"], cfg.space.trial_genome(t["genome"]), t["key"],
                 trial_seed(seed, t["key"])) for t in run.trials if t["status"] in ("ok", "timeout") and t["budget"] == "full"]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def train(seed: int, tasks: list[Any], test: bool = False) -> dict[int, Any]:
    """Results by trial id of ``tasks`` trained in a pool of WORKERS processes on the problem's data as
    the searches see it (``test``: Fashion-MNIST's official test set in place of the validation rows)."""
    from natsel import objectives
    from natsel.executors import LocalPool

    cfg = natsel.config_from_dict(config(seed, 1, False), base_dir=BENCH)
    prepared = objectives.get("keras").prepare(cfg)
    payload = prepared.payload
    if test:
        from natsel.objectives.keras.data import load_dataset

        data = load_dataset(cfg.data, cfg.base_dir, cfg.seed, cfg.training.task)
        payload = {**payload, "x_val": data.x_test, "y_val": data.y_test}
    pool = LocalPool(prepared.spec, payload, workers=WORKERS)
    try:
        return {r.trial_id: r for r in pool.run(tasks)}
    finally:
        pool.close()


def test_rows(seed: int, rows: list[Row]) -> list[tuple[float, float]]:
    """(test accuracy, params) of the genomes on ``rows``' validation front, each trained again as the
    search trained it (seed, full budget) with the official test set in place of the validation rows."""
    from natsel._trial import Task

    front = [rows[i] for i in on_front(points([(a, p) for a, p, *_ in rows]))]
    tasks = [Task(i, genome, key, s) for i, (_, _, genome, key, s) in enumerate(front)]
    got = train(seed, tasks, test=True)
    return [(got[t.trial_id].metrics["val_accuracy"], got[t.trial_id].metrics["params"]) for t in tasks
            if t.trial_id in got and got[t.trial_id].status in ("ok", "timeout")]


def run_within(seed: int, seconds: float) -> list[Row]:
    """natsel+fidelity with the ablation of bench/mo_rungs.py: rungs ranked within their generation only."""
    from mo_rungs import within_generation

    from natsel import _evolve

    promote = _evolve.Loop.promote
    _evolve.Loop.promote = within_generation  # type: ignore[method-assign]
    try:
        return run_natsel(seed, seconds, fidelity=True)
    finally:
        _evolve.Loop.promote = promote  # type: ignore[method-assign]


def run_optuna(seed: int, seconds: float, sampler: str) -> list[Row]:
    import optuna

    from natsel import objectives
    from natsel._trial import Task
    from natsel.executors import LocalPool
    from natsel.tracking._optuna import distribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    start = time.monotonic()  # as natsel's timeout: the data and the workers' start-up count too
    cfg = natsel.config_from_dict(config(seed, seconds, False), base_dir=BENCH)
    prepared = objectives.get("keras").prepare(cfg)
    pool = LocalPool(prepared.spec, prepared.payload, workers=WORKERS,
                     hard_limit=cfg.training.max_training_time + cfg.training.grace)
    samplers = {"nsga2": lambda: optuna.samplers.NSGAIISampler(seed=seed),
                "tpe": lambda: optuna.samplers.TPESampler(seed=seed, multivariate=True),
                "random": lambda: optuna.samplers.RandomSampler(seed=seed)}
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=samplers[sampler]())
    dists = {g.name: distribution(g) for g in cfg.space.genes}
    out: list[Row] = []
    next_id = 0
    try:
        while time.monotonic() - start < seconds:
            trials = [study.ask(dists) for _ in range(WORKERS)]
            tasks = []
            for tr in trials:
                genome = {**{g.name: g.value for g in cfg.space.genes if dists[g.name] is None}, **tr.params}
                key = cfg.space.key(genome)
                tasks.append(Task(next_id, cfg.space.trial_genome(genome), key, trial_seed(seed, key)))
                next_id += 1
            got = {r.trial_id: r for r in pool.run(tasks)}
            for tr, task in zip(trials, tasks, strict=True):
                r = got.get(task.trial_id)
                if r is not None and r.status in ("ok", "timeout") and "params" in r.metrics:
                    values = (r.metrics["val_accuracy"], r.metrics["params"])
                    study.tell(tr, list(values))
                    out.append((*values, task.genome, task.key, task.seed))
                else:
                    study.tell(tr, state=optuna.trial.TrialState.FAIL)
    finally:
        pool.close()
    return out


SEARCHERS = {
    "natsel": lambda seed, s: run_natsel(seed, s, fidelity=False),
    "natsel+fidelity": lambda seed, s: run_natsel(seed, s, fidelity=True),
    "natsel+fidelity-within": run_within,  # not in the default --searchers: an ablation (docs/genetic.md)
    "nsga2": lambda seed, s: run_optuna(seed, s, "nsga2"),
    "tpe": lambda seed, s: run_optuna(seed, s, "tpe"),
    "random": lambda seed, s: run_optuna(seed, s, "random"),
}


def table(results: dict[str, list[dict[str, Any]]], key: str = "hv", label: str = "hypervolume") -> list[str]:
    lines = [f"{'searcher':<16} {label:>20} {'trials':>8} {'front':>6}  vs natsel+fidelity"]
    ref = np.array([r[key] for r in results.get("natsel+fidelity", [])])
    for name, runs in results.items():
        hv = np.array([r[key] for r in runs])
        se = hv.std(ddof=1) / math.sqrt(len(hv)) if len(hv) > 1 else float("nan")
        verdict = ""
        if name != "natsel+fidelity" and len(ref) == len(hv) and len(hv) > 1:
            d = ref - hv
            se_d = d.std(ddof=1) / math.sqrt(len(d))
            verdict = "tie" if abs(d.mean()) <= se_d else ("natsel+fidelity ahead" if d.mean() > 0 else "natsel+fidelity behind")
            verdict += f" (diff {d.mean():+.4f} ± {se_d:.4f})"
        lines.append(f"{name:<16} {hv.mean():>11.4f} ± {se:<6.4f} {np.mean([r['n'] for r in runs]):>8.1f} "
                     f"{np.mean([r['front'] for r in runs]):>6.1f}  {verdict}")
    return lines


#: the bands of log10(params) :func:`by_size` splits the hypervolume into (the last one ends at the reference)
BANDS = (4.0, 4.5, 5.0)


def band_hv(rows: list[tuple[float, float]], lo: float, hi: float) -> float:
    """The part of :func:`hypervolume` over log10(params) in [lo, hi): the best (1 - accuracy) among the
    networks at or below each size, integrated over the band (the bands add up to the hypervolume)."""
    ref = reference()
    pts = sorted((p for p in points(rows) if p[1] < ref[1]), key=lambda p: p[1])
    edges = [p[1] for p in pts] + [ref[1]]
    best, total = ref[0], 0.0
    for i, p in enumerate(pts):
        best = min(best, p[0])
        width = min(edges[i + 1], hi) - max(edges[i], lo)
        if width > 0:
            total += (ref[0] - best) * width
    return total


def by_size(results: dict[str, list[dict[str, Any]]], key: str = "rows") -> list[str]:
    """Per band of network size, natsel+fidelity's hypervolume there minus each peer's (paired by seed):
    where on the front a lead or a deficit lies."""
    ref = results.get("natsel+fidelity", [])
    names = [f"< 10^{BANDS[0]:g}", *(f"10^{a:g}-10^{b:g}" for a, b in pairwise(BANDS)), f">= 10^{BANDS[-1]:g}"]
    lines = [f"{'natsel+fidelity minus':<22}" + "".join(f"{n:>19}" for n in names)]
    for name, runs in results.items():
        if name == "natsel+fidelity" or len(runs) != len(ref) or len(runs) < 2 or any(key not in r for r in runs):
            continue
        cells = []
        for lo, hi in pairwise([-math.inf, *BANDS, math.inf]):
            d = np.array([band_hv(a[key], lo, hi) - band_hv(b[key], lo, hi) for a, b in zip(ref, runs, strict=True)])
            cells.append(f"{d.mean():+.4f} ± {d.std(ddof=1) / math.sqrt(len(d)):.4f}")
        lines.append(f"{name:<22}" + "".join(f"{c:>19}" for c in cells))
    return lines


def on_front(pts: list[tuple[float, float]]) -> list[int]:
    """Indices of the (minimised) points no other point dominates."""
    return [i for i, p in enumerate(pts) if not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in pts)]


def front_size(rows: list[tuple[float, float]]) -> int:
    pts = points(rows)
    return len({pts[i] for i in on_front(pts)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=120.0, help="wall-clock per search (default 120)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--problem", choices=sorted(PROBLEMS), default="digits")
    ap.add_argument("--minimum", type=int, help="natsel+fidelity's first rung in epochs (default: the problem's)")
    ap.add_argument("--population", type=int, help="natsel+fidelity's genomes a generation (default: the problem's)")
    ap.add_argument("--eta", type=float, help="natsel+fidelity's eta: a rung keeps its best 1/eta (default 3)")
    ap.add_argument("--searchers", default=",".join(s for s in SEARCHERS if not s.endswith("-within")))
    ap.add_argument("--test", action="store_true",
                    help="also train each search's validation front again and take its hypervolume on test (fashion)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--report", type=Path, metavar="JSON",
                    help="run no search: print the tables of an earlier run's --out file (give its --problem)")
    a = ap.parse_args()
    if a.test and a.problem != "fashion":
        ap.error("--test needs --problem fashion (digits has no test set of its own)")
    global PROBLEM
    PROBLEM = a.problem
    if a.minimum is not None:
        PROBLEMS[PROBLEM]["fidelity"] = {**PROBLEMS[PROBLEM]["fidelity"], "minimum": a.minimum}
    if a.population is not None:
        PROBLEMS[PROBLEM]["population"] = a.population
    if a.eta is not None:
        PROBLEMS[PROBLEM]["fidelity"] = {**PROBLEMS[PROBLEM]["fidelity"], "eta": a.eta}
    if a.report:
        try:
            results = json.loads(a.report.read_text())
        except OSError as e:
            ap.error(f"--report: cannot read {a.report}: {e.strerror}")
        except ValueError as e:
            ap.error(f"--report {a.report}: not JSON ({e})")
        try:
            report(results)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            ap.error(f"--report {a.report}: not a --out file of this bench ({e})")
        return
    results: dict[str, list[dict[str, Any]]] = {s: [] for s in a.searchers.split(",")}
    for seed in range(a.first_seed, a.first_seed + a.seeds):
        for name in results:
            t0 = time.monotonic()
            found = SEARCHERS[name](seed, a.seconds)
            seconds = time.monotonic() - t0
            rows = [(acc, params) for acc, params, *_ in found]
            out = {"seed": seed, "hv": hypervolume(rows), "n": len(rows), "front": front_size(rows),
                   "seconds": seconds, "rows": rows}
            if a.test:  # after the search's clock stopped: the searches' wall-clock is unchanged
                out["test_rows"] = test_rows(seed, found)
                out["test_hv"] = hypervolume(out["test_rows"])
            results[name].append(out)
            tested = f", test hv {out['test_hv']:.4f}" if a.test else ""
            print(f"seed {seed} {name}: hv {out['hv']:.4f}{tested}, {len(rows)} full-budget trials, {seconds:.0f} s",
                  file=sys.stderr, flush=True)
            if a.out:  # after every search, so a run cut short keeps what it measured
                a.out.write_text(json.dumps(results, indent=1))
    p = PROBLEMS[PROBLEM]
    print(f"{PROBLEM}, val_accuracy (max) vs params (min), {a.seconds:g} s each, {WORKERS} workers, {a.seeds} seeds, "
          f"natsel+fidelity from {p['fidelity']['minimum']} epochs, eta {p['fidelity']['eta']:g}, "
          f"{p['population']} genomes a generation; "
          f"hypervolume of (1 - accuracy, log10 params) to {tuple(round(r, 3) for r in reference())} (Optuna's)")
    if a.out:
        a.out.write_text(json.dumps(results, indent=1))
    report(results)


def report(results: dict[str, list[dict[str, Any]]]) -> None:
    """The hypervolume table, the test table where the searches were scored on test, and both split by size."""
    tested = all("test_hv" in r for runs in results.values() for r in runs)
    for runs in results.values():  # the bands add up to the stored hypervolume under the same reference point
        if any(abs(band_hv(r["rows"], -math.inf, math.inf) - r["hv"]) > 1e-9 for r in runs):
            raise ValueError(f"its hypervolumes are not to {PROBLEM}'s reference point: give the --problem it ran")
    for line in table(results):
        print(line)
    if tested:
        print("the same searches' validation fronts, trained again and scored on the 10,000 test images:")
        for line in table(results, "test_hv", "test hypervolume"):
            print(line)
    for key, what in (("rows", "validation"), *((("test_rows", "test"),) if tested else ())):
        print(f"{what} hypervolume by network size (bands of params), natsel+fidelity minus each peer, paired by seed:")
        for line in by_size(results, key):
            print(line)


if __name__ == "__main__":
    main()
