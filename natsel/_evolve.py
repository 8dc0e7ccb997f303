"""The evolution loop: plan a generation, resolve the cache, dispatch, record, summarise.

Determinism: generation ``g`` is planned only once generation ``g - 1`` is complete, by the
config's strategy, from the stored trials and a random generator seeded with ``(seed, g)``.
Results are matched to their slot by trial id, so neither the number of workers nor the order
results arrive in changes the genomes. The planned generation is stored before any of it runs, so
a resumed run continues with exactly the genomes an uninterrupted run would have used.

The rooms around the loop: :mod:`natsel._rundir` (which folder, its lock, what a resume must
match), :mod:`natsel.strategies` (what to try), :mod:`natsel.objectives` (how to score),
:mod:`natsel.executors` (where trials run), :mod:`natsel._store` (the one writer of trial data)
and :mod:`natsel._progress` (bars and plots).
"""

from __future__ import annotations

import copy
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from natsel import objectives, strategies
from natsel._config import Config, apply_run_settings, load_config
from natsel._errors import refuse_in_bootstrapping_child
from natsel._progress import Bars, Callbacks, FitnessPlot, Many, OnGeneration
from natsel._run import Run, compute_history, outcome, pick_best
from natsel._rundir import RunFolder, resolve
from natsel._store import RunStore
from natsel._trial import FULL_BUDGET, Direction, Status, Task, TrialRow
from natsel.executors._base import Executor, ExecutorLost
from natsel.executors._factory import check_workers, make_executor
from natsel.strategies import PlanContext


def trial_seed(seed: int, key: str) -> int:
    """The seed a genome is trained with: the same genome gets the same seed in any run order."""
    return zlib.crc32(f"{seed}:{key}".encode()) & 0x7FFFFFFF


def evolve(
    config: Config | str | Path,
    run_dir: str | Path | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    runs_root: str | Path = "runs",
    executor: Executor | None = None,
    on_generation: Callable[[Run], None] | None = None,
    plots: bool = True,
) -> Run:
    """Run (or resume) an evolution and return the finished :class:`Run`.

    ``config`` is a :class:`Config` (not changed: the run works on a copy) or the path of a YAML
    config. A ``run_dir`` that already holds a run with the same search config is resumed; nothing
    already stored is evaluated again, and the settings the run was started with (seed, population,
    generations) are used again. With ``plots``, ``plots/fitness.png`` is redrawn after every
    generation; ``on_generation(run)`` is called after every generation.

    Only one process writes a run folder at a time: a second one gets a :class:`RunDirError`.
    If the run fails before any trial finished, a run folder it created is removed again.

    >>> import natsel
    >>> run = natsel.evolve("configs/mixed.yaml", progress=False)  # doctest: +SKIP
    >>> run.fittest  # doctest: +SKIP
    """
    refuse_in_bootstrapping_child("natsel.evolve()")
    cfg = load_config(config) if isinstance(config, (str, Path)) else copy.deepcopy(config)
    check_workers(cfg)
    path, existing, created = resolve(cfg, run_dir, resume, Path(runs_root))
    folder = RunFolder(path, created)
    ex: Executor | None = executor
    try:
        if folder.existing:
            apply_run_settings(cfg, folder.before, path)
        prepared = objectives.get(cfg.objective).prepare(cfg)  # bad data stops here, before anything is written
        if ex is None:
            ex = make_executor(cfg, prepared.spec, prepared.payload)  # a cluster is reached before the folder fills
        store = folder.open(cfg, prepared)
        if folder.before.get("status") in ("finished", "exhausted") and first_unfinished(store) >= cfg.generations:
            print(f"natsel: {path} already has all {cfg.generations} generations; nothing to do "
                  f"(--generations N with N > {cfg.generations} extends it)", file=sys.stderr)
        callbacks: list[Callbacks] = []
        if progress:
            callbacks.append(Bars(Direction(cfg.maximize)))
        if plots:
            callbacks.append(FitnessPlot())
        if on_generation is not None:
            callbacks.append(OnGeneration(on_generation))
        Loop(cfg, store, ex, Many(callbacks)).run()
        if executor is None:
            ex.close()
    except BaseException as exc:
        if ex is not None and executor is None:
            ex.close(cancel=True)
        folder.abandon(isinstance(exc, (KeyboardInterrupt, ExecutorLost)), lambda s: write_summaries(cfg, s))
        raise
    finally:
        folder.release()
    return Run(path)


def first_unfinished(store: RunStore) -> int:
    """The first generation that is not planned, or has a trial still pending."""
    g = 0
    while True:
        rows = store.generation(g)
        if not rows or any(r["status"] == Status.PENDING for r in rows):
            return g
        g += 1


def write_summaries(cfg: Config, store: RunStore) -> float | None:
    """Rewrite history.json and best.json from the trials; returns the best fitness so far."""
    trials = store.trials()
    best = pick_best(trials, cfg.maximize)
    store.write_summaries(compute_history(trials, cfg.maximize), best)
    return best["fitness"] if best else None


class Loop:
    """Plan -> cache -> dispatch -> record -> summaries, one generation at a time."""

    def __init__(self, cfg: Config, store: RunStore, ex: Executor, callbacks: Many) -> None:
        self.cfg = cfg
        self.store = store
        self.ex = ex
        self.callbacks = callbacks
        self.strategy = strategies.get(cfg.strategy)(cfg.strategy_options, cfg.ga)
        self.direction = Direction(cfg.maximize)

    def run(self) -> str:
        """Run generations until ``cfg.generations``; returns the run's final status."""
        cfg, store = self.cfg, self.store
        start = first_unfinished(store)
        status = "finished"
        self.callbacks.start(cfg.generations, start)
        try:
            best: float | None = (store.read_json("best.json") or {}).get("fitness")
            for g in range(start, cfg.generations):
                if not store.generation(g):
                    planned = self.plan(g)
                    if planned is None:
                        status = "exhausted"
                        break
                    store.add_planned(g, planned)
                self.run_generation(g, best)
                best = write_summaries(cfg, store)
                if self.callbacks.wants_run:
                    self.callbacks.generation_end(Run(store.path))
        finally:
            self.callbacks.close()
        write_summaries(cfg, store)
        counts = outcome(store.trials())
        meta: dict[str, Any] = {"status": status, "finished": time.time()}
        if counts["succeeded"] == 0 and counts["failed"] > 0:
            meta.update(status="failed", error=f"no trial succeeded; most common error: {counts['common_error']}")
        store.update_meta(**meta)
        if status == "exhausted":
            print(f"natsel: search space exhausted after generation {store.last_generation()}: "
                  f"every genome the {cfg.strategy} strategy could reach was already evaluated", file=sys.stderr)
        store.close()
        return str(meta["status"])

    def plan(self, g: int) -> list[tuple[str, dict[str, Any], str]] | None:
        """Generation ``g`` as (key, genome, origin) per slot, or None if nothing new can be planned."""
        cfg = self.cfg
        ctx = PlanContext(generation=g, space=cfg.space, population=cfg.ga.population, direction=self.direction,
                          history=[t for t in self.store.trials() if t["generation"] < g], known=self.store.known,
                          rng=np.random.default_rng([cfg.seed, g]), initial_genome=cfg.initial_genome,
                          seed=cfg.seed)
        planned = self.strategy.plan(ctx)
        if planned is None:
            return None
        return [(cfg.space.key(p.genome), p.genome, p.origin) for p in planned]

    def run_generation(self, g: int, best: float | None) -> None:
        """Evaluate generation ``g``'s pending trials: cache hits are copied, the rest dispatched once each."""
        store = self.store
        rows = [r for r in store.generation(g) if r["status"] == Status.PENDING]
        tasks: list[Task] = []
        later: list[TrialRow] = []
        queued: set[tuple[str, str]] = set()
        for r in rows:
            ident = (r["key"], r["budget"])
            if store.lookup(*ident) is not None:
                self.finish_cached(r)
            elif ident in queued:
                later.append(r)  # the same evaluation twice in one generation: copied once it is done
            else:
                queued.add(ident)
                tasks.append(Task(r["id"], r["genome"], r["key"], trial_seed(self.cfg.seed, r["key"]), r["budget"]))
        self.callbacks.generation_start(g, len(tasks), best)
        for res in self.ex.run(tasks):
            store.finish(res.trial_id, res.status, res.fitness, res.metrics, res.seconds, res.error, res.started,
                         res.extra)
            self.callbacks.result(res)
        for r in later:
            self.finish_cached(r)

    def finish_cached(self, row: TrialRow) -> None:
        hit = self.store.lookup(row["key"], row.get("budget", FULL_BUDGET))
        assert hit is not None
        self.store.finish(row["id"], Status.CACHED, hit["fitness"], hit["metrics"], 0.0, hit.get("error"),
                          extra={"source_trial": hit.get("id"), "source_status": hit["status"]})


__all__ = ["ExecutorLost", "Loop", "evolve", "first_unfinished", "make_executor", "trial_seed", "write_summaries"]
