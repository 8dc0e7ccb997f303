"""The evolution loop: plans generations, resolves the cache, dispatches trials, records results.

Determinism: generation ``g`` is planned only once generation ``g - 1`` is complete, from a random
generator seeded with ``(seed, g)`` and the stored results. Results are matched to their slot by
trial id, so neither the number of workers nor the order results arrive in changes the genomes.
The planned generation is stored before any of it runs, so a resumed run continues with exactly
the genomes an uninterrupted run would have used.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from natsel import __version__
from natsel._config import Config, apply_run_settings, load_config
from natsel._errors import ConfigError, RunDirError, refuse_in_bootstrapping_child
from natsel._genetic import initial_population, next_generation
from natsel._run import Run, compute_history, outcome, pick_best
from natsel._store import LOCK_NAME, RunLock, RunStore, SharedCache, is_empty_dir, is_run_dir, read_meta
from natsel.executors._base import Executor, ExecutorLost, Task


def trial_seed(seed: int, key: str) -> int:
    """The seed a genome is trained with: the same genome gets the same seed in any run order."""
    return zlib.crc32(f"{seed}:{key}".encode()) & 0x7FFFFFFF


def objective_spec(cfg: Config, data_fingerprint: str | None = None) -> dict[str, Any]:
    if cfg.fitness is not None:
        return {"kind": "python", "ref": cfg.fitness, "base_dir": str(cfg.base_dir), "sys_path": [str(cfg.base_dir)]}
    return {
        "kind": "keras",
        "training": asdict(cfg.training),
        "metric": cfg.metric,
        "threads": cfg.threads or max(1, _cores() // max(1, cfg.workers)),
        "swarm": cfg.swarm,
        # the data's content hash: a long-lived (Dask) worker rebuilds its objective for other data
        "data": data_fingerprint,
    }


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def cache_scope(cfg: Config, data_fingerprint: str | None = None) -> str:
    """What a shared cache entry is valid for: the objective's identity, its data, and the seed.

    A fitness function is identified by its module's absolute file and a hash of its source, data by
    a content hash of its splits, so two projects that both say ``fitness: fit:score`` or
    ``path: data.csv`` never serve each other's results.
    """
    from natsel._config import callable_identity

    spec = {"objective": objective_spec(cfg, data_fingerprint), "seed": cfg.seed}
    for k in ("threads", "base_dir", "sys_path"):
        spec["objective"].pop(k, None)
    if cfg.fitness is not None:
        spec["fitness"] = callable_identity(cfg.fitness, cfg.base_dir)
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def make_executor(cfg: Config, spec: dict[str, Any], payload: Any) -> Executor:
    from natsel.executors import InlineExecutor, LocalPool

    if cfg.executor.type == "dask":
        from natsel.executors._dask import DaskExecutor

        return DaskExecutor(cfg.executor.scheduler or "", spec, payload, retries=cfg.executor.retries,
                            gpu=cfg.executor.gpu, hard_limit=cfg.training.max_training_time + cfg.training.grace,
                            connect_timeout=cfg.executor.timeout, security=cfg.executor.security)
    if cfg.workers == 0:
        return InlineExecutor(spec, payload)

    def env(i: int) -> dict[str, str]:
        return {"CUDA_VISIBLE_DEVICES": str(cfg.gpus[i % len(cfg.gpus)])} if cfg.gpus else {}

    return LocalPool(spec, payload, workers=cfg.workers,
                     hard_limit=cfg.training.max_training_time + cfg.training.grace,
                     max_trials_per_worker=cfg.max_trials_per_worker, env=env)


#: run folders are ``<name>-<YYYYmmdd>-<HHMMSS>`` with ``-<n>`` when two start in the same second
_STAMP = r"-(\d{8}-\d{6})(?:-(\d+))?"


def _resolve_run_dir(cfg: Config, run_dir: str | Path | None, resume: bool, runs_root: Path) -> tuple[Path, bool]:
    if run_dir is not None:
        p = Path(run_dir)
        if is_run_dir(p):
            return p, True
        if not is_empty_dir(p):
            raise RunDirError(f"{p} exists but is not a natsel run folder; choose an empty or new folder")
        if resume:
            raise RunDirError(f"nothing to resume: {p} is not a natsel run folder")
        return p, False
    if resume:
        pattern = re.compile(re.escape(cfg.name) + _STAMP)
        found = []
        for d in runs_root.iterdir() if runs_root.is_dir() else []:
            m = pattern.fullmatch(d.name)
            if m and is_run_dir(d):
                found.append(((m.group(1), int(m.group(2) or 1)), d))
        if not found:
            raise RunDirError(f"nothing to resume: no run named '{cfg.name}' under {runs_root}/")
        return max(found)[1], True
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    p = runs_root / f"{cfg.name}-{stamp}"
    n = 1
    while p.exists():
        n += 1
        p = runs_root / f"{cfg.name}-{stamp}-{n}"
    return p, False


def _open_store(cfg: Config, path: Path, existing: bool, data_fingerprint: str | None) -> RunStore:
    fingerprint = json.loads(json.dumps(cfg.search_fingerprint(), default=str))
    if existing:
        store = RunStore(path)
        meta = store.meta()
        if meta.get("fingerprint") != fingerprint:
            old, new = meta.get("fingerprint") or {}, fingerprint
            diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            store.close()
            raise RunDirError(f"{path} was made with a different config (differs in: {', '.join(diff) or 'format'}); "
                              "use a new run folder")
        store.update_meta(status="running", generations=cfg.generations, overrides=cfg.overrides)
    else:
        meta = {"natsel_version": __version__, "name": cfg.name, "seed": cfg.seed, "fingerprint": fingerprint,
                "maximize": cfg.maximize, "metric": cfg.metric if cfg.data is not None else "fitness",
                "task": cfg.task if cfg.data is not None else None, "data_fingerprint": data_fingerprint,
                "generations": cfg.generations, "population": cfg.ga.population, "overrides": cfg.overrides,
                "config_name": cfg.source_name, "base_dir": str(cfg.base_dir)}
        store = RunStore.create(path, cfg.source_text, meta)
    if cfg.cache is not None:
        store.attach_cache(SharedCache(cfg.cache, cache_scope(cfg, data_fingerprint)))
    return store


class _Bars:
    """tqdm bars for generations and for the trials of one generation."""

    def __init__(self, enabled: bool, generations: int, start: int) -> None:
        self.enabled = enabled
        self.gen = None
        if enabled:
            from tqdm import tqdm

            self._tqdm = tqdm
            self.gen = tqdm(total=generations, initial=start, desc="generations", unit="gen", position=0,
                            dynamic_ncols=True, file=sys.stderr)

    def trials(self, total: int, g: int) -> Any:
        if not self.enabled:
            return None
        return self._tqdm(total=total, desc=f"gen {g} trials", unit="trial", position=1, leave=False,
                          dynamic_ncols=True, file=sys.stderr)

    def close(self) -> None:
        if self.gen is not None:
            self.gen.close()


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

    ``config`` is a :class:`Config` or the path of a YAML config. A ``run_dir`` that already holds
    a run with the same search config is resumed; nothing already stored is evaluated again, and
    the settings the run was started with (seed, population, generations) are used again.
    With ``plots``, ``plots/fitness.png`` is redrawn after every generation.

    Only one process writes a run folder at a time: a second one gets a :class:`RunDirError`.
    If the run fails before any trial finished, the new run folder is removed again.

    >>> import natsel
    >>> run = natsel.evolve("configs/mixed.yaml", progress=False)  # doctest: +SKIP
    >>> run.fittest  # doctest: +SKIP
    """
    refuse_in_bootstrapping_child("natsel.evolve()")
    cfg = load_config(config) if isinstance(config, (str, Path)) else config
    if cfg.workers == 0 and cfg.fitness is None and cfg.executor.type == "local":
        raise ConfigError("workers: 0 runs plain-Python fitness in-process; Keras training needs workers >= 1",
                          cfg.source_name)
    path, existing = _resolve_run_dir(cfg, run_dir, resume, Path(runs_root))
    folder_existed = path.exists()
    lock = RunLock(path).acquire()
    store: RunStore | None = None
    ex: Executor | None = executor
    try:
        existing = is_run_dir(path)  # decided again under the lock
        before = read_meta(path) if existing else {}
        if existing:
            apply_run_settings(cfg, before, path)
        payload = None
        data_fp = None
        if cfg.data is not None:
            from natsel._data import load_dataset

            dataset = load_dataset(cfg.data, cfg.base_dir, cfg.seed, cfg.training.task)
            cfg.resolve_task(dataset.task)
            payload, data_fp = dataset.search_payload(), dataset.fingerprint
        spec = objective_spec(cfg, data_fp)
        if ex is None:
            ex = make_executor(cfg, spec, payload)  # a cluster is reached before the run folder is written
        store = _open_store(cfg, path, existing, data_fp)
        if before.get("status") in ("finished", "exhausted") and _first_unfinished(store) >= cfg.generations:
            print(f"natsel: {path} already has all {cfg.generations} generations; nothing to do "
                  f"(--generations N with N > {cfg.generations} extends it)", file=sys.stderr)
        _loop(cfg, store, ex, progress, plots, on_generation)
        if executor is None:
            ex.close()
    except BaseException as exc:
        if ex is not None and executor is None:
            ex.close(cancel=True)
        _abandon(store, path, existing, folder_existed, exc, cfg)
        raise
    finally:
        lock.release()
    return Run(path)


def _loop(cfg: Config, store: RunStore, ex: Executor, progress: bool, plots: bool,
          on_generation: Callable[[Run], None] | None) -> str:
    """Plan, run and record generations until ``cfg.generations``; returns the run's final status."""
    start_gen = _first_unfinished(store)
    bars = _Bars(progress, cfg.generations, min(start_gen, cfg.generations))
    status = "finished"
    try:
        best_fitness: float | None = (store.read_json("best.json") or {}).get("fitness")
        for g in range(start_gen, cfg.generations):
            if not store.generation(g):
                planned = _plan(cfg, store, g)
                if planned is None:
                    status = "exhausted"
                    break
                store.add_planned(g, planned)
            _run_generation(cfg, store, ex, g, bars, best_fitness)
            best_fitness = _write_summaries(cfg, store)
            if plots or on_generation is not None:
                run = Run(store.path)
                if plots:
                    _plot_generation(run)
                if on_generation is not None:
                    on_generation(run)
            if bars.gen is not None:
                bars.gen.update(1)
    finally:
        bars.close()
    _write_summaries(cfg, store)
    counts = outcome(store.trials())
    meta: dict[str, Any] = {"status": status, "finished": time.time()}
    if counts["succeeded"] == 0 and counts["failed"] > 0:
        meta.update(status="failed", error=f"no trial succeeded; most common error: {counts['common_error']}")
    store.update_meta(**meta)
    if status == "exhausted":
        print(f"natsel: search space exhausted after generation {store.last_generation()}: "
              "every genome the GA could reach was already evaluated", file=sys.stderr)
    store.close()
    return str(meta["status"])


def _abandon(store: RunStore | None, path: Path, existing: bool, folder_existed: bool, exc: BaseException,
             cfg: Config) -> None:
    """After an error: keep a run that has finished trials (resumable), remove a new one that has none."""
    interrupted = isinstance(exc, (KeyboardInterrupt, ExecutorLost))
    if store is not None:
        try:
            _write_summaries(cfg, store)
            finished = outcome(store.trials())
            store.update_meta(status="interrupted" if interrupted else "failed")
        finally:
            store.close()
        if existing or interrupted or finished["trained"] + finished["failed"] + finished["cached"] > 0:
            return
    if existing:
        return
    if folder_existed:  # an empty folder the user gave: empty it again
        for p in path.iterdir():
            if p.name != LOCK_NAME:
                shutil.rmtree(p) if p.is_dir() else p.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def _plot_generation(run: Run) -> None:
    """Redraw the fitness plot; a plotting problem is reported once and never stops the search."""
    from natsel._plot import write_fitness_plot

    try:
        write_fitness_plot(run)
    except Exception as exc:  # noqa: BLE001 - plotting must not cost the user their search
        if not getattr(_plot_generation, "warned", False):
            print(f"natsel: could not draw the fitness plot: {exc}", file=sys.stderr)
            _plot_generation.warned = True  # type: ignore[attr-defined]


def _first_unfinished(store: RunStore) -> int:
    g = 0
    while True:
        rows = store.generation(g)
        if not rows or any(r["status"] == "pending" for r in rows):
            return g
        g += 1


def _plan(cfg: Config, store: RunStore, g: int) -> list[tuple[str, dict[str, Any], str]] | None:
    """Plan generation ``g``: (key, genome, origin) per slot, or None if the space is exhausted."""
    rng = np.random.default_rng([cfg.seed, g])
    if g == 0:
        planned = initial_population(cfg.space, cfg.ga, rng, store.known, cfg.initial_genome)
    else:
        prev = store.generation(g - 1)
        planned = next_generation([r["genome"] for r in prev], [r["fitness"] for r in prev], cfg.space, cfg.ga, rng,
                                  store.known, cfg.maximize)
        if all(store.known(cfg.space.key(p.genome)) for p in planned):
            return None
    return [(cfg.space.key(p.genome), p.genome, p.origin) for p in planned]


def _run_generation(cfg: Config, store: RunStore, ex: Executor, g: int, bars: _Bars,
                    best: float | None = None) -> None:
    """Evaluate generation ``g``'s pending trials; ``best`` (so far) seeds the progress bar."""
    rows = [r for r in store.generation(g) if r["status"] == "pending"]
    tasks: list[Task] = []
    later: list[dict[str, Any]] = []
    queued: set[str] = set()
    for r in rows:
        if store.lookup(r["key"]) is not None:
            _finish_cached(store, r)
        elif r["key"] in queued:
            later.append(r)
        else:
            queued.add(r["key"])
            tasks.append(Task(r["id"], r["genome"], r["key"], trial_seed(cfg.seed, r["key"])))
    bar = bars.trials(len(tasks), g)
    if bar is not None and best is not None:
        bar.set_postfix(best=f"{best:.4g}")
    for res in ex.run(tasks):
        store.finish(res.trial_id, res.status, res.fitness, res.metrics, res.seconds, res.error, res.started, res.extra)
        if res.fitness is not None and math.isfinite(res.fitness):
            better = best is None or (res.fitness > best if cfg.maximize else res.fitness < best)
            best = res.fitness if better else best
        if bar is not None:
            bar.update(1)
            if best is not None:
                bar.set_postfix(best=f"{best:.4g}")
    if bar is not None:
        bar.close()
    for r in later:
        _finish_cached(store, r)


def _finish_cached(store: RunStore, row: dict[str, Any]) -> None:
    hit = store.lookup(row["key"])
    assert hit is not None
    store.finish(row["id"], "cached", hit["fitness"], hit["metrics"], 0.0,
                 extra={"source_trial": hit.get("id"), "source_status": hit["status"]})


def _write_summaries(cfg: Config, store: RunStore) -> float | None:
    """Rewrite history.json and best.json from the trials; returns the best fitness so far."""
    trials = store.trials()
    best = pick_best(trials, cfg.maximize)
    store.write_summaries(compute_history(trials, cfg.maximize), best)
    return best["fitness"] if best else None

