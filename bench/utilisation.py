"""Worker utilisation under a generation barrier, with longest-first ordering, and in steady state.

    python bench/utilisation.py                                  # synthetic Fashion-MNIST-like trials
    python bench/utilisation.py --runs runs/a runs/b             # also replay recorded runs
    python bench/utilisation.py --runs runs/a --workers 2        # ... and measure run a's real busy share

A discrete-event simulator (pure functions: no sleeping, no clock, deterministic for a seed) replays
trial durations on W workers under four schedules:

* ``slot``:        generation barrier, each generation dispatched in slot order to the first free
                   worker (what ``LocalPool.run`` does today);
* ``lpt~S``:       generation barrier, each generation ordered longest-expected-first, where the
                   expected duration is the true one times lognormal noise of sigma ``S`` (a cost
                   estimate is never exact);
* ``lpt-exact``:   the same with a perfect estimate (the best ordering can do; LPT is a 4/3
                   approximation of the optimal makespan, so this is close to the barrier's bound);
* ``steady``:      no barrier: a freed worker at once gets the next trial (the same trials, in slot
                   order across generations, so the same total number of trials).

busy share = sum of trial durations / (W x makespan). The makespan of a barrier schedule is the sum
of its generations' makespans (generation g+1 starts when the last trial of g has finished).

Durations come from a synthetic distribution that mimics the Fashion-MNIST trials natsel measured
on 2 cores (2-27 s, right-skewed: a lognormal with its 5th/95th percentiles at 2 s and 27 s), or
from recorded runs (``--runs``: each run's ``trials.sqlite``, the ``seconds`` of trials that ran:
status ok, timeout, failed or killed; cached trials take no worker time).

``--workers N`` with ``--runs`` also measures each recorded run's real busy share from the trials'
``started``/``finished`` wall-clock times, and puts it beside the simulated one for W = N.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import sqlite3
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

#: statuses of trials that occupied a worker (cached and pending ones did not)
RAN = ("ok", "timeout", "failed", "killed")

#: synthetic trial seconds: lognormal with 5th / 95th percentiles at these values
P05_SECONDS, P95_SECONDS = 2.0, 27.0
Z95 = 1.6448536269514722  # standard normal 95th percentile

Generations = Sequence[Sequence[float]]
Sampler = Callable[[np.random.Generator, int], np.ndarray]


# -- the simulator (pure) -----------------------------------------------------------------------
def list_schedule(durations: Sequence[float], workers: int, free: Sequence[float] | None = None) -> list[float]:
    """Greedy list scheduling: each trial, in the given order, starts on the earliest-free worker.

    ``free`` gives the workers' initial free times (all 0.0 by default). Returns the workers'
    free times afterwards (unsorted); their maximum is the makespan. This is what a pool that
    hands the next queued task to whichever worker frees first does.
    """
    if workers < 1:
        raise ValueError("workers must be >= 1")
    heap = list(free) if free is not None else [0.0] * workers
    if len(heap) != workers:
        raise ValueError("free must give one time per worker")
    heapq.heapify(heap)
    for d in durations:
        if d < 0:
            raise ValueError("durations must be >= 0")
        heapq.heapreplace(heap, heap[0] + float(d))
    return heap


def makespan(durations: Sequence[float], workers: int) -> float:
    """Makespan of one batch of trials dispatched in the given order (0.0 for no trials)."""
    return max(list_schedule(durations, workers)) if len(durations) else 0.0


def barrier_makespan(generations: Generations, workers: int) -> float:
    """Generation barrier: each generation starts when the previous one has completely finished."""
    return sum(makespan(g, workers) for g in generations)


def steady_makespan(generations: Generations, workers: int) -> float:
    """No barrier: the same trials in the same order, a freed worker at once takes the next one."""
    flat = [d for g in generations for d in g]
    return makespan(flat, workers)


def longest_first(durations: Sequence[float], estimates: Sequence[float] | None = None) -> list[float]:
    """``durations`` reordered by decreasing estimate (the durations themselves by default).

    The sort is stable, so equal estimates keep slot order.
    """
    est = durations if estimates is None else estimates
    if len(est) != len(durations):
        raise ValueError("one estimate per duration")
    order = sorted(range(len(durations)), key=lambda i: -est[i])
    return [durations[i] for i in order]


def noisy_estimates(durations: Sequence[float], sigma: float, rng: np.random.Generator) -> list[float]:
    """A cost estimate that is not the truth: true duration x lognormal(0, sigma) noise."""
    noise = rng.lognormal(0.0, sigma, len(durations)) if sigma > 0 else np.ones(len(durations))
    return [float(d * n) for d, n in zip(durations, noise, strict=True)]


def busy_share(total_seconds: float, workers: int, span: float) -> float:
    """Sum of trial durations / (workers x makespan); 1.0 when nothing ran."""
    return total_seconds / (workers * span) if span > 0 else 1.0


def schedule_names(sigma: float) -> list[str]:
    return ["slot", f"lpt~{sigma:g}", "lpt-exact", "steady"]


def simulate(generations: Generations, workers: int, sigma: float = 0.3,
             rng: np.random.Generator | None = None) -> dict[str, dict[str, float]]:
    """Every schedule on the same trials: {schedule: {"makespan", "busy", "ratio"}}.

    ``ratio`` is the schedule's makespan / the slot-order barrier's. ``rng`` draws the noise of
    the ``lpt~sigma`` estimates (a fixed seed when not given).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    total = float(sum(sum(g) for g in generations))
    noisy = [longest_first(g, noisy_estimates(g, sigma, rng)) for g in generations]
    spans = {
        "slot": barrier_makespan(generations, workers),
        f"lpt~{sigma:g}": barrier_makespan(noisy, workers),
        "lpt-exact": barrier_makespan([longest_first(g) for g in generations], workers),
        "steady": steady_makespan(generations, workers),
    }
    base = spans["slot"]
    return {name: {"makespan": s, "busy": busy_share(total, workers, s), "ratio": s / base if base > 0 else 1.0}
            for name, s in spans.items()}


# -- durations ----------------------------------------------------------------------------------
def fashion_sampler(p05: float = P05_SECONDS, p95: float = P95_SECONDS) -> Sampler:
    """Lognormal trial seconds with the given 5th and 95th percentiles (2 s and 27 s by default)."""
    mu = (math.log(p05) + math.log(p95)) / 2
    sd = (math.log(p95) - math.log(p05)) / (2 * Z95)
    return lambda rng, n: rng.lognormal(mu, sd, n)


def empirical_sampler(pool: Sequence[float]) -> Sampler:
    """Bootstrap: draw trial seconds with replacement from recorded ones."""
    arr = np.asarray(pool, dtype=float)
    if arr.size == 0:
        raise ValueError("no recorded durations to draw from")
    return lambda rng, n: rng.choice(arr, n, replace=True)


def sample_generations(sampler: Sampler, population: int, generations: int,
                       rng: np.random.Generator) -> list[list[float]]:
    return [[float(x) for x in sampler(rng, population)] for _ in range(generations)]


def _rows(run_dir: Path, columns: str) -> list[tuple]:
    db = run_dir / "trials.sqlite"
    if not db.is_file():
        raise SystemExit(f"error: {run_dir}: no trials.sqlite (not a natsel run folder)")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        marks = ",".join("?" * len(RAN))
        return con.execute(f"SELECT {columns} FROM trials WHERE status IN ({marks}) AND seconds IS NOT NULL "
                           "ORDER BY generation, slot", RAN).fetchall()
    finally:
        con.close()


def recorded_generations(run_dir: str | Path) -> list[list[float]]:
    """A run's trial seconds per generation, in slot order (trials that occupied a worker only)."""
    gens: dict[int, list[float]] = {}
    for g, _slot, seconds in _rows(Path(run_dir), "generation, slot, seconds"):
        gens.setdefault(int(g), []).append(float(seconds))
    return [gens[g] for g in sorted(gens)]


# -- a real run's busy share --------------------------------------------------------------------
def measured_busy(run_dir: str | Path, workers: int) -> dict[str, float]:
    """The real busy share of a recorded run with ``workers`` workers.

    Uses ``seconds`` (time inside the objective, measured by the worker) and the wall-clock
    ``started`` (worker) / ``finished`` (parent, when it stored the result) of every trial that ran;
    a trial without ``started`` (killed, or its worker died) is taken to have started ``seconds``
    before it finished. Returns:

    * ``busy``: sum of seconds / (workers x (last finished - first started)): everything between,
      including planning, plotting and other work of the parent between generations;
    * ``busy_in_generations``: the same over the sum of the generations' own spans (first start to
      last finish of each generation): what the simulator models;
    * ``occupied_in_generations``: like the latter with finished - started per trial instead of
      seconds (adds the dispatch and result-storing time a worker is held per trial);
    * ``busy_since_created`` (when run.json has ``created`` and ``finished``): over the run's whole
      wall-clock time, worker start-up included; meaningless for a resumed run (it spans the pause).
    """
    rows = _rows(Path(run_dir), "generation, started, finished, seconds")
    if not rows:
        raise SystemExit(f"error: {run_dir}: no trial has run")
    per: dict[int, list[tuple[float, float, float]]] = {}
    for g, started, finished, seconds in rows:
        fin = float(finished)
        st = float(started) if started is not None else fin - float(seconds)
        per.setdefault(int(g), []).append((st, fin, float(seconds)))
    every = [t for ts in per.values() for t in ts]
    total = sum(s for _, _, s in every)
    occupied = sum(f - st for st, f, _ in every)
    span = max(f for _, f, _ in every) - min(st for st, _, _ in every)
    in_gens = sum(max(f for _, f, _ in ts) - min(st for st, _, _ in ts) for ts in per.values())
    out = {
        "trials": float(len(every)), "generations": float(len(per)), "seconds": total, "span": span,
        "span_in_generations": in_gens, "busy": busy_share(total, workers, span),
        "busy_in_generations": busy_share(total, workers, in_gens),
        "occupied_in_generations": busy_share(occupied, workers, in_gens),
    }
    try:
        meta = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
        wall = float(meta["finished"]) - float(meta["created"])
        out["wall_since_created"] = wall
        out["busy_since_created"] = busy_share(total, workers, wall)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return out


# -- the table ----------------------------------------------------------------------------------
def mean_se(xs: Sequence[float]) -> tuple[float, float]:
    m = statistics.fmean(xs)
    return m, (statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else 0.0)


def populations_for(workers: int, populations: Sequence[int]) -> list[int]:
    """The given population sizes, and population = workers when that is not among them."""
    return list(populations) + ([workers] if workers not in populations else [])


def sweep(sampler: Sampler, workers_list: Sequence[int], populations: Sequence[int], generations: int,
          seeds: Sequence[int], sigma: float) -> list[dict]:
    """Rows of (W, population, schedule) with busy share and makespan ratio, mean and se over seeds.

    Every schedule of one (W, population, seed) replays the same drawn durations.
    """
    out = []
    for w in workers_list:
        for pop in populations_for(w, populations):
            per_seed = []
            for s in seeds:
                rng = np.random.default_rng([s, pop])  # the same trials for every W
                gens = sample_generations(sampler, pop, generations, rng)
                per_seed.append(simulate(gens, w, sigma, np.random.default_rng([s, pop, w, 1])))
            for name in schedule_names(sigma):
                busy = mean_se([r[name]["busy"] for r in per_seed])
                ratio = mean_se([r[name]["ratio"] for r in per_seed])
                span = statistics.fmean(r[name]["makespan"] for r in per_seed)
                out.append({"workers": w, "population": pop, "schedule": name, "busy": busy[0], "busy_se": busy[1],
                            "ratio": ratio[0], "ratio_se": ratio[1], "makespan": span})
    return out


def print_table(rows: list[dict], title: str) -> None:
    print(title)
    print(f"{'W':>3} {'pop':>4} {'schedule':<10} {'busy share':>15} {'makespan s':>11} {'vs slot':>15}")
    last = None
    for r in rows:
        if last is not None and (r["workers"], r["population"]) != last:
            print()
        last = (r["workers"], r["population"])
        print(f"{r['workers']:>3} {r['population']:>4} {r['schedule']:<10} "
              f"{r['busy']:>7.3f} ± {r['busy_se']:.3f} {r['makespan']:>11.1f} {r['ratio']:>7.3f} ± {r['ratio_se']:.3f}")
    print()


def print_target(rows: list[dict], workers: int = 16, target: float = 0.9) -> None:
    hits = [r for r in rows if r["workers"] == workers and r["busy"] >= target]
    if hits:
        print(f">= {target} busy share at W={workers}: " + ", ".join(
            f"{r['schedule']} pop {r['population']} ({r['busy']:.3f})" for r in hits))
    else:
        print(f">= {target} busy share at W={workers}: none of the simulated settings")
    print()


def print_lengths(sampler: Sampler, workers: int, populations: Sequence[int], lengths: Sequence[int],
                  seeds: Sequence[int], sigma: float) -> None:
    """Busy share at ``workers`` against run length: a barrier loses the same share every generation,
    steady state only once, at the end (the last trials finish at different times)."""
    names = schedule_names(sigma)
    table = {g: sweep(sampler, [workers], populations, g, seeds, sigma) for g in lengths}
    print(f"Busy share at W={workers} against run length (generations; mean over {len(seeds)} seeds):")
    print(f"{'pop':>4} {'schedule':<10} " + " ".join(f"{f'{g} gens':>9}" for g in lengths))
    for pop in populations_for(workers, populations):
        for name in names:
            cells = [next(r["busy"] for r in table[g] if r["population"] == pop and r["schedule"] == name)
                     for g in lengths]
            print(f"{pop:>4} {name:<10} " + " ".join(f"{c:>9.3f}" for c in cells))
    print()


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", nargs="*", default=[], metavar="RUN_DIR", help="recorded natsel run folders to replay")
    ap.add_argument("--workers", type=int, help="with --runs: the runs' worker count; measure their real busy share")
    ap.add_argument("--seeds", type=int, default=10, help="seeds per setting (mean and standard error)")
    ap.add_argument("--generations", type=int, default=10, help="generations per simulated run")
    ap.add_argument("--sigma", type=float, default=0.3, help="lognormal sigma of the cost estimate's error")
    ap.add_argument("--worker-counts", type=int, nargs="+", default=[2, 8, 16, 64])
    ap.add_argument("--populations", type=int, nargs="+", default=[20, 64])
    ap.add_argument("--lengths", type=int, nargs="*", default=[10, 30, 100],
                    help="generations for the run-length table at 16 workers (none: no table)")
    args = ap.parse_args(argv)
    seeds = list(range(args.seeds))

    rows = sweep(fashion_sampler(), args.worker_counts, args.populations, args.generations, seeds, args.sigma)
    print_table(rows, f"Synthetic Fashion-MNIST-like trials (lognormal, p05 {P05_SECONDS:g} s, p95 {P95_SECONDS:g} s), "
                      f"{args.generations} generations, {len(seeds)} seeds (mean ± se)")
    print_target(rows)
    if args.lengths:
        print_lengths(fashion_sampler(), 16, args.populations, args.lengths, seeds, args.sigma)

    if not args.runs:
        return
    recorded = {run: recorded_generations(run) for run in args.runs}
    print("Recorded runs, replayed exactly (their own generations and slot order; "
          f"lpt~{args.sigma:g} noise mean over {len(seeds)} seeds):")
    print(f"{'run':<28} {'W':>3} {'gens':>4} {'trials':>6} " + " ".join(f"{n:>10}" for n in schedule_names(args.sigma)))
    for run, gens in recorded.items():
        for w in args.worker_counts:
            res = [simulate(gens, w, args.sigma, np.random.default_rng([s, w])) for s in seeds]
            cells = " ".join(f"{statistics.fmean(r[n]['busy'] for r in res):>10.3f}" for n in schedule_names(args.sigma))
            print(f"{Path(run).name[:28]:<28} {w:>3} {len(gens):>4} {sum(map(len, gens)):>6} {cells}")
    print()
    pool = [d for gens in recorded.values() for g in gens for d in g]
    rows = sweep(empirical_sampler(pool), args.worker_counts, args.populations, args.generations, seeds, args.sigma)
    print_table(rows, f"Recorded durations resampled ({len(pool)} trials, {min(pool):.1f}-{max(pool):.1f} s), "
                      f"{args.generations} generations, {len(seeds)} seeds (mean ± se)")
    print_target(rows)

    if args.workers is None:
        print("(give --workers N to measure the recorded runs' real busy share)")
        return
    w = args.workers
    print(f"Real vs simulated busy share, W={w} (simulated: the run's own durations, slot order, barrier):")
    for run, gens in recorded.items():
        m = measured_busy(run, w)
        sim = simulate(gens, w, args.sigma)["slot"]
        print(f"  {run}: {int(m['trials'])} trials in {int(m['generations'])} generations, "
              f"{m['seconds']:.1f} trial seconds")
        print(f"    measured, whole run       {m['busy']:.3f}  (span {m['span']:.1f} s)")
        print(f"    measured, in generations  {m['busy_in_generations']:.3f}  (span {m['span_in_generations']:.1f} s; "
              f"occupied incl. dispatch {m['occupied_in_generations']:.3f})")
        if "busy_since_created" in m:
            print(f"    measured, since created   {m['busy_since_created']:.3f}  (wall {m['wall_since_created']:.1f} s, "
                  "worker start-up included)")
        print(f"    simulated, in generations {sim['busy']:.3f}  (makespan {sim['makespan']:.1f} s)")


if __name__ == "__main__":
    main()
