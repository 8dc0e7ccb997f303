"""Benchmark of the local worker pool. Prints ratios measured side by side in one run.

    python bench/pool.py [--trials 16] [--rss-trials 100]

1. One generation of N digits networks with 1 and with 2 workers (workers started and warmed up
   before the clock starts): wall seconds, speed-up, utilisation = summed trial seconds /
   (wall x workers), and per-trial overhead outside ``fit`` (model build + scoring, and dispatch).
2. Worker RSS over many small trainings, without recycling and with recycling every 25 trials.
3. ``steps_per_execution``: seconds per epoch with 1 vs natsel's choice on a 10k x 100 synthetic set.
4. ``clear_session`` after each trial with and without its forced ``gc.collect()`` (natsel's
   default: without): time outside ``fit`` and RSS growth per trial, 60 digits trainings each.
"""

from __future__ import annotations

import argparse
import statistics
import time

from natsel.executors import LocalPool, Task
from natsel.objectives.keras.data import load_dataset


def spec(threads: int, **training) -> dict:
    base = {"max_epochs": 5, "patience": 0, "max_training_time": 120, "grace": 60, "steps_per_execution": 0}
    return {"kind": "keras", "metric": "accuracy", "threads": threads, "training": {**base, **training}}


def genomes(n: int) -> list[dict]:
    sizes = [32, 64, 128, 256]
    return [{"neurons0": sizes[i % 4], "neurons1": sizes[(i // 4) % 4], "batch_size": 32} for i in range(n)]


def generation(workers: int, n: int, data: dict) -> dict:
    pool = LocalPool(spec(threads=max(1, 2 // workers)), data, workers=workers, max_trials_per_worker=10**6)
    try:
        list(pool.run([Task(-i - 1, {"neurons0": 8, "batch_size": 64}, "warm", 0) for i in range(workers)]))
        t0 = time.perf_counter()
        results = list(pool.run([Task(i, g, str(i), i) for i, g in enumerate(genomes(n))]))
        wall = time.perf_counter() - t0
    finally:
        pool.close()
    busy = sum(r.seconds for r in results)
    outside_fit = [r.seconds - r.metrics["train_seconds"] for r in results]
    return {"wall": wall, "busy": busy, "util": busy / (wall * workers),
            "outside_fit": statistics.mean(outside_fit), "dispatch": (wall * workers - busy) / n}


def rss(n: int, recycle: int, data: dict) -> list[float]:
    pool = LocalPool(spec(threads=1, max_epochs=2), data, workers=2, max_trials_per_worker=recycle)
    try:
        res = list(pool.run([Task(i, {"neurons0": 16 + i % 8, "batch_size": 16}, str(i), i) for i in range(n)]))
    finally:
        pool.close()
    return [r.metrics["rss_mb"] for r in sorted(res, key=lambda r: r.trial_id)]


def spe(data: dict) -> tuple[float, float]:
    out = []
    for steps in (1, 0):
        pool = LocalPool(spec(threads=2, max_epochs=6, steps_per_execution=steps), data, workers=1)
        try:
            (r,) = list(pool.run([Task(0, {"neurons0": 64, "neurons1": 64, "batch_size": 32}, "s", 0)]))
        finally:
            pool.close()
        out.append(r.metrics["train_seconds"] / r.metrics["epochs"])
    return out[0], out[1]


def clear_modes(data: dict, n: int = 60) -> dict[bool, tuple[float, float, float]]:
    out = {}
    for free_memory in (True, False):
        s = spec(threads=2, max_epochs=3)
        s["free_memory"] = free_memory
        pool = LocalPool(s, data, workers=1, max_trials_per_worker=10**6)
        try:
            t0 = time.perf_counter()
            res = list(pool.run([Task(i, {"neurons0": 32 + i % 8, "batch_size": 32}, str(i), i) for i in range(n)]))
            wall = time.perf_counter() - t0
        finally:
            pool.close()
        outside = statistics.mean(r.seconds - r.metrics["train_seconds"] for r in res[5:])
        growth = (res[-1].metrics["rss_mb"] - res[5].metrics["rss_mb"]) / (n - 6)
        out[free_memory] = (wall, outside, growth)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--rss-trials", type=int, default=100)
    args = ap.parse_args()
    digits = load_dataset({"source": "digits"}, seed=0).search_payload()
    one, two = generation(1, args.trials, digits), generation(2, args.trials, digits)
    print(f"generation of {args.trials} digits networks (Dense a-b-10, 5 epochs)")
    print(f"{'workers':>8} {'wall s':>8} {'busy s':>8} {'util':>6} {'outside fit s':>14} {'dispatch s':>11}")
    for w, r in ((1, one), (2, two)):
        print(f"{w:>8} {r['wall']:8.2f} {r['busy']:8.2f} {r['util']:6.2f} {r['outside_fit']:14.3f} {r['dispatch']:11.3f}")
    print(f"speed-up 2 workers vs 1: {one['wall'] / two['wall']:.2f}x")
    iris = load_dataset({"source": "iris"}, seed=0).search_payload()
    flat, recycled = rss(args.rss_trials, 10**6, iris), rss(args.rss_trials, 25, iris)
    print(f"\nworker RSS (MiB) over {args.rss_trials} small trainings on 2 workers")
    for name, r in (("no recycling", flat), ("recycle every 25", recycled)):
        q = len(r) // 4
        print(f"  {name:>17}: first {r[0]:.0f}, after 25% {r[q]:.0f}, last {r[-1]:.0f}, peak {max(r):.0f}")
    syn = load_dataset({"source": "synthetic", "n_samples": 12500, "n_features": 100, "n_classes": 2,
                        "validation": 0.1, "test": 0.1}, seed=0).search_payload()
    one_step, auto = spe(syn)
    print(f"\nsteps_per_execution on 10k x 100: {one_step:.3f} s/epoch with 1, {auto:.3f} with natsel's choice "
          f"({one_step / auto:.2f}x)")
    modes = clear_modes(digits)
    print("\nclear_session after each of 60 trials (1 worker): wall s, s outside fit, RSS MiB growth per trial")
    for fm, label in ((True, "with gc.collect()"), (False, "without (default)")):
        wall, outside, growth = modes[fm]
        print(f"  {label:>18}: {wall:6.1f} {outside:6.3f} {growth:+.2f}")
    print(f"  speed-up without gc.collect(): {modes[True][0] / modes[False][0]:.2f}x")


if __name__ == "__main__":
    main()
