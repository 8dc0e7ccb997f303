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
import math
import sys
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from natsel import objectives, strategies
from natsel._config import Config, apply_run_settings, config_from_dict, config_with, load_config
from natsel._errors import refuse_in_bootstrapping_child
from natsel._progress import Bars, Callbacks, FitnessPlot, Many, OnGeneration
from natsel._run import Run, compute_history, outcome, pick_best
from natsel._rundir import RunFolder, resolve
from natsel._settings import Pruning, check_allow_change
from natsel._stop import Gate, Stopper, trained
from natsel._store import RunStore
from natsel._trial import FULL_BUDGET, Direction, Goal, Result, Status, Task, TrialRow, budget_rank, settle
from natsel._warm import as_history
from natsel.executors._base import Executor, ExecutorLost
from natsel.executors._factory import check_workers, make_executor
from natsel.strategies import PlanContext
from natsel.tracking import trackers


def trial_seed(seed: int, key: str) -> int:
    """The seed a genome is trained with: the same genome gets the same seed in any run order."""
    return zlib.crc32(f"{seed}:{key}".encode()) & 0x7FFFFFFF


def evolve(
    config: Config | Mapping[str, Any] | str | Path,
    run_dir: str | Path | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    runs_root: str | Path = "runs",
    executor: Executor | None = None,
    on_generation: Callable[[Run], None] | None = None,
    plots: bool = True,
    fitness: Callable[..., Any] | None = None,
    allow_change: Sequence[str] = (),
) -> Run:
    """Run (or resume) an evolution and return the finished :class:`Run`.

    ``config`` is a :class:`Config` (not changed: the run works on a copy), a mapping (as the YAML
    would be) or the path of a YAML config. ``fitness`` is the function that scores a genome, in
    place of the config's ``fitness:``/``data:``: one workers can import (a top-level function of a
    module) is sent by reference; any other (a lambda, a closure, a function of ``__main__``) runs in
    this process and needs ``workers: 0`` (else a ConfigError says why); it is identified by a hash
    of its source, so the cache and a resume know it. A ``run_dir`` that already holds a run with the same search config is resumed; nothing
    already stored is evaluated again, and the settings the run was started with (seed, population,
    generations) are used again. With ``plots``, ``plots/fitness.png`` is redrawn after every
    generation; ``on_generation(run)`` is called after every generation.
    ``allow_change``: the keys of ``natsel._settings.ALLOW_CHANGE`` (``cache``, ``training.grace``) a
    resume may change, as ``--allow-change`` (docs/config.md, "What a resume checks").

    Only one process writes a run folder at a time: a second one gets a :class:`RunDirError`.
    If the run fails before any trial finished, a run folder it created is removed again.

    >>> import natsel
    >>> run = natsel.evolve("configs/mixed.yaml", progress=False)  # doctest: +SKIP
    >>> run.fittest  # doctest: +SKIP
    """
    refuse_in_bootstrapping_child("natsel.evolve()")
    if fitness is not None:
        cfg = config_with(config, fitness=fitness)
    elif isinstance(config, Mapping):
        cfg = config_from_dict(config)
    else:
        cfg = load_config(config) if isinstance(config, (str, Path)) else copy.deepcopy(config)
    if allow_change:
        cfg.allow_change = [*cfg.allow_change, *check_allow_change(allow_change, "allow_change")]
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
        callbacks: list[Callbacks] = []
        if progress:
            callbacks.append(Bars(Direction(cfg.maximize), cfg.goal))
        if plots:
            callbacks.append(FitnessPlot())
        if on_generation is not None:
            callbacks.append(OnGeneration(on_generation))
        callbacks += trackers(cfg, path)  # tracking: mirrored from the store in the background
        loop = Loop(cfg, store, ex, Many(callbacks), Stopper(cfg, folder.spent, folder.started))
        if folder.before.get("status") in ("finished", "exhausted") and (line := loop.already_stopped()):
            print(f"natsel: {path} already stopped ({line}); nothing to do (a larger --generations, --max-trials, "
                  "--timeout, or another --target or --patience extends it)", file=sys.stderr)
        loop.run()
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


def first_unfinished(store: RunStore, loop: Loop | None = None) -> int:
    """The first generation that is not planned, has a trial still pending, or has a rung to plan."""
    g = 0
    while True:
        rows = store.generation(g)
        if not rows or any(r["status"] == Status.PENDING for r in rows) or (loop and loop.promote(g)) is not None:
            return g
        g += 1


def next_rung(rows: list[TrialRow], rungs: list[str] | None, eta: float, goal: Goal,
              earlier: Callable[[str], list[TrialRow]] | None = None) -> tuple[str, list[TrialRow]] | None:
    """The budget and the trials to promote to a generation's next rung, or None when it is done.

    Successive halving: of the highest rung's trials, the best ``len // eta`` (at least one) with a
    score go on, ranked by the goal's order (score; with several objectives non-dominated rank, then
    crowding, as MO-ASHA; infeasible ones after feasible ones) and then slot, so a promotion depends
    only on stored scores. With several objectives the ranks are taken among ``earlier(budget)`` too
    (earlier generations' trials at that rung, as ASHA's rungs hold every trial that reached them): a
    genome the run already beats at that budget is promoted after those it does not.
    """
    if not rungs or not rows:
        return None
    reached = max(rungs.index(r["budget"]) for r in rows if r["budget"] in rungs)
    if reached == len(rungs) - 1:
        return None
    top = [r for r in rows if r["budget"] == rungs[reached]]
    if any(r["status"] == Status.PENDING for r in top):
        return None  # the rung is still running
    seen: set[str] = set()
    scored = []
    for r in sorted(top, key=lambda r: r["slot"]):
        if r["key"] not in seen and goal.oriented(r) is not None:
            seen.add(r["key"])
            scored.append(r)
    if not scored:
        return None
    beside = [r for r in earlier(rungs[reached]) if goal.oriented(r) is not None] if earlier and goal.multi else []
    scored = [scored[i] for i in goal.order(scored, among=beside)]
    keep = max(1, int(len({r["key"] for r in top}) // eta))
    return rungs[reached + 1], scored[:keep]


def prune_thresholds(history: list[TrialRow], pruning: Pruning, direction: Direction) -> list[float | None]:
    """Per epoch, the score below which a trial is pruned: the ``quantile`` of earlier generations'
    validation curves at that epoch (oriented: higher is better; None: no pruning at that epoch).

    Only earlier generations count, never the trial's own, so whether a trial is pruned never
    depends on the order results arrive in."""
    curves = [c for t in history if (c := (t.get("extra") or {}).get("curve"))]
    out: list[float | None] = []
    for e in range(max((len(c) for c in curves), default=0)):
        vals = [o for c in curves if len(c) > e and (o := direction.oriented(c[e])) is not None]
        ok = e + 1 > pruning.warmup and len(vals) >= pruning.min_trials
        out.append(float(np.quantile(vals, pruning.quantile)) if ok else None)
    return out


def steady_seen(row: TrialRow) -> Callable[[int], bool] | None:
    """Which trial ids a steady-state plan was made from (None: not planned in steady state)."""
    extra = row.get("extra") or {}
    if "seen_upto" not in extra:
        return None
    upto, unseen = int(extra["seen_upto"]), set(extra.get("unseen", []))
    return lambda i: i <= upto and i not in unseen


def longest_first(tasks: list[Task], history: list[TrialRow], space: Any, k: int = 3) -> list[Task]:
    """Dispatch order: longest expected first, so the last trials of a generation are short ones.

    A trial's expected seconds are the mean of its ``k`` nearest finished trials at the same budget
    (genomes compared in the genes' encoded [0, 1] space); with no history the order is the slot
    order. Only the order changes: which genomes run, and their results, do not."""
    past = [t for t in history if t.get("seconds") and Status(t["status"]).done]
    if not past or len(tasks) < 2:
        return tasks

    def code(genome: dict[str, Any]) -> np.ndarray:
        return np.array([g.encode(genome[g.name]) if g.name in genome else 0.5 for g in space.genes])

    coded = [(code(t["genome"]), t.get("budget", FULL_BUDGET), float(t["seconds"])) for t in past]

    def expected(task: Task) -> float:
        near = [(float(np.abs(c - code(task.genome)).sum()), s) for c, b, s in coded if b == task.budget]
        near.sort()
        return float(np.mean([s for _, s in near[:k]])) if near else 0.0

    est = {t.trial_id: expected(t) for t in tasks}
    return sorted(tasks, key=lambda t: -est[t.trial_id])


def exhausted_line(cfg: Config, trials: list[TrialRow], generation: int) -> str:
    """Why a run stopped early: the whole space evaluated, or only no new genome found."""
    size = cfg.space.size
    seen = len({t["key"] for t in trials if t["status"] != Status.PENDING})
    if size <= seen:
        return (f"search space exhausted: all {int(size)} genomes of the space were evaluated (or served from the "
                f"shared cache) before generation {generation}")
    of = f"{seen} of the space's {int(size)} genomes" if math.isfinite(size) else f"{seen} genomes"
    return (f"stopped at generation {generation}: the {cfg.strategy} strategy could not find a genome it had not "
            f"evaluated yet ({of} evaluated); its max_retries option sets how hard it tries")


def write_summaries(cfg: Config, store: RunStore) -> float | None:
    """Rewrite history.json and best.json from the trials; returns the best fitness so far."""
    trials = store.trials()
    best = pick_best(trials, cfg.goal)
    store.write_summaries(compute_history(trials, cfg.goal), best)
    return best["fitness"] if best else None


class Loop:
    """Plan -> cache -> dispatch -> record -> summaries, one generation at a time."""

    def __init__(self, cfg: Config, store: RunStore, ex: Executor, callbacks: Many,
                 stopper: Stopper | None = None) -> None:
        self.cfg = cfg
        self.stopper = stopper if stopper is not None else Stopper(cfg)
        self.stopper.trained_before = trained(store.trials())
        #: earlier runs' trials (warm_start), as the strategy reads them
        self.prior = as_history(store.prior())
        self.store = store
        self.ex = ex
        self.callbacks = callbacks
        self.strategy = strategies.get(cfg.strategy)(cfg.strategy_options, cfg.ga)
        self.direction = Direction(cfg.maximize)
        #: the objectives and constraints that order trials
        self.goal = cfg.goal
        #: successive halving's budgets, smallest first (the last is the full budget); None: no rungs
        self.rungs = cfg.fidelity.budgets(cfg.full_budget()) if cfg.fidelity is not None else None
        #: promotions continue from their lower rung's checkpoint (epochs only)
        self.continues = cfg.fidelity is not None and cfg.fidelity.resource == "epochs" and cfg.fidelity.checkpoints

    def run(self) -> str:
        """Run until a stop rule ends the search (:mod:`natsel._stop`); returns the run's final status."""
        cfg, store = self.cfg, self.store
        if cfg.schedule == "steady":
            status, stopped_at = self.run_steady()
        else:
            status, stopped_at = self.run_generational()
        write_summaries(cfg, store)
        counts = outcome(store.trials())
        rule, line = self.stopper.reached if status == "finished" and self.stopper.reached else (None, None)
        meta: dict[str, Any] = {"status": status, "finished": time.time(), "stopped_by": rule, "stop_reason": line}
        if counts["succeeded"] == 0 and counts["failed"] > 0:
            meta.update(status="failed", error=f"no trial succeeded; most common error: {counts['common_error']}")
        store.update_meta(**meta)
        if status == "exhausted":
            print(f"natsel: {exhausted_line(cfg, store.trials(), stopped_at)}", file=sys.stderr)
        store.close()
        return str(meta["status"])

    def already_stopped(self) -> str | None:
        """The stop rule a (resumed) run has reached before this session trains anything, if any."""
        g = first_unfinished(self.store, self)
        reached = self.stopper.check(self.store.trials(), g)
        self.stopper.reached = None  # asked again when the loop starts
        return None if reached is None else reached[1]

    def run_generational(self) -> tuple[str, int]:
        """Generation after generation, each complete before the next is planned, until a stop rule
        ends the search. A generation a rule cut (``max_trials``, ``timeout``, ``target``) keeps its
        trials that did not start as planned ones: a resume with a larger budget runs them."""
        cfg, store, stop = self.cfg, self.store, self.stopper
        g = first_unfinished(store, self)
        status = "finished"
        self.callbacks.start(cfg.max_generations, g, stop)
        try:
            best: float | None = (store.read_json("best.json") or {}).get("fitness")
            while stop.check(store.trials(), g) is None:
                store.drop_checkpoints(keep=[r["id"] for r in store.generation(g)])  # earlier generations' are done
                if not store.generation(g):
                    started = time.perf_counter()
                    planned = self.plan(g)
                    if planned is None:
                        status = "exhausted"
                        break
                    store.add_planned(g, planned, self.rungs[0] if self.rungs else FULL_BUDGET,
                                      extra={"plan_seconds": time.perf_counter() - started})
                self.run_generation(g, best)
                while stop.check(store.trials(), g) is None and (promoted := self.promote(g)) is not None:
                    budget, rows = promoted  # successive halving: rung after rung
                    first = max(r["slot"] for r in store.generation(g)) + 1
                    store.add_planned(g, [(r["key"], r["genome"], "promoted") for r in rows], budget, first)
                    self.run_generation(g, best)
                best = write_summaries(cfg, store)
                if any(r["status"] == Status.PENDING for r in store.generation(g)):
                    if stop.check(store.trials(), g) is None:
                        raise RuntimeError(f"{type(self.ex).__name__} did not run every task of generation {g}")
                    break  # cut by a stop rule: the rest of the generation waits for a larger budget
                store.drop_checkpoints()
                if self.callbacks.wants_run:
                    self.callbacks.generation_end(Run(store.path))
                g += 1
        finally:
            self.callbacks.close()
        return status, g

    # -- the steady-state schedule ----------------------------------------------------------
    def run_steady(self) -> tuple[str, int]:
        """No generation barrier: whenever a worker is free, plan one genome from every trial finished
        so far and start it. Generation 0 is planned at once (its genomes need no results); after it,
        a "generation" is the next ``population`` trials, for the history, plots and the count.

        Each planned trial stores which trials it was planned from (``extra.seen_upto``: the last
        trial stored then; ``extra.unseen``: those of them still running) and its random generator
        is seeded with (seed, generation, slot). So every plan can be replayed from the store, and a
        resume dispatches what was planned and never plans it again; which trials had finished
        when a plan was made depends on timing, so two runs with the same seed give the same
        genomes only with one worker. Nothing is planned once a stop rule is reached."""
        cfg, store, stop = self.cfg, self.store, self.stopper
        if not store.generation(0):
            started = time.perf_counter()
            planned = self.plan(0)
            if planned is None:
                return "exhausted", 0
            store.add_planned(0, planned, extra={"plan_seconds": time.perf_counter() - started})
        first = len(store.generation(0))
        pop, generations = cfg.ga.population, cfg.max_generations
        self.rows: dict[int, TrialRow] = {r["id"]: r for r in store.trials()}  # the store, mirrored
        # a genome a shared cache served is not trained: the last generation plans one more in its place
        served = sum(r["generation"] > 0 and bool((r.get("extra") or {}).get("shared_cache")) for r in self.rows.values())
        total = math.inf if generations is None else first + pop * (generations - 1) + served
        queue: Gate = Gate([], stop)  # no trial starts once a stop rule is reached
        running: dict[tuple[str, str], int] = {}  # evaluation identity -> the trial evaluating it
        waiting: dict[tuple[str, str], list[TrialRow]] = {}  # the same evaluation planned twice: copied after
        state = {"planned": len(self.rows), "outstanding": 0, "block": 0, "status": "finished",
                 "stopped_at": generations or 0,
                 "done": sum(r["status"] != Status.PENDING for r in self.rows.values())}
        blocks = math.inf if generations is None else generations
        best: float | None = (store.read_json("best.json") or {}).get("fitness")

        def end(k: int) -> float:  # the number of results after which "generation" k ends
            return total if k >= blocks - 1 else first + pop * k

        def room() -> bool:  # a stop rule lets one more trial be dispatched
            left = stop.trials_left(list(self.rows.values()))
            return stop.open() and (left is None or left > state["outstanding"])

        def copy_cached(row: TrialRow) -> None:
            self.finish_cached(row)
            self.rows[row["id"]] = store.trial(row["id"])
            state["done"] += 1

        def enqueue(row: TrialRow, new: bool = False) -> None:
            nonlocal total
            ident = (row["key"], row["budget"])
            if new and store.in_shared_cache(*ident):
                total += 1  # served, not trained: a new genome takes its place in the budget
            if store.lookup(*ident) is not None:
                copy_cached(row)
            elif ident in running:
                waiting.setdefault(ident, []).append(row)
            else:
                running[ident] = row["id"]
                queue.append(self.steady_task(row))
                state["outstanding"] += 1

        def top_up() -> None:  # keep every worker busy while trials remain to plan
            while (state["outstanding"] < self.ex.slots and state["planned"] < total and state["status"] == "finished"
                   and room() and stop.check(list(self.rows.values()), state["block"]) is None):
                row = self.plan_steady(state["planned"], first)
                if row is None:
                    state["status"], state["stopped_at"] = "exhausted", self.steady_place(state["planned"], first)[0]
                    return
                state["planned"] += 1
                enqueue(row, new=True)

        def end_block() -> None:
            nonlocal best
            best = write_summaries(cfg, store)
            if self.callbacks.wants_run:
                self.callbacks.generation_end(Run(store.path))
            state["block"] += 1

        def end_blocks(final: bool = False) -> None:
            while state["block"] < blocks and state["done"] >= end(state["block"]):
                end_block()
                if state["block"] < blocks and state["planned"] > state["done"]:
                    self.callbacks.generation_start(state["block"], int(end(state["block"])) - state["done"], best)
            started = end(state["block"] - 1) if state["block"] else 0
            if final and state["block"] < blocks and state["done"] > started:
                end_block()  # the part of a generation an exhausted space or a stop rule left

        while state["block"] < blocks and state["done"] >= end(state["block"]):
            state["block"] += 1
        for r in sorted(self.rows.values(), key=lambda t: t["id"]):
            if r["status"] == Status.PENDING and (room() or store.lookup(r["key"], r["budget"]) is not None):
                enqueue(r)  # planned before a stop or a kill; past a max_trials budget they stay planned
        self.callbacks.start(generations, state["block"], stop)
        try:
            if state["block"] < blocks:
                self.callbacks.generation_start(state["block"], int(end(state["block"])) - state["done"], best)
            top_up()
            end_blocks()
            for res in self.ex.run(queue):
                self.record(res, checkpoint=False)
                row = self.rows[res.trial_id] = store.trial(res.trial_id)
                stop.observe(res)
                self.callbacks.result(res)
                state["outstanding"] -= 1
                state["done"] += 1
                ident = (row["key"], row["budget"])
                running.pop(ident, None)
                for copy_row in waiting.pop(ident, []):
                    copy_cached(copy_row)
                top_up()
                end_blocks()
            reached = stop.check(list(self.rows.values()), state["block"])
            if any(r["status"] == Status.PENDING for r in self.rows.values()) and reached is None:
                raise RuntimeError(f"{type(self.ex).__name__} did not run the tasks added while it ran; schedule: "
                                   "steady needs an executor that reads its task deque as workers come free")
            end_blocks(final=state["status"] != "finished" or reached is not None)
            if state["status"] == "finished" and reached is None:
                stop.check(list(self.rows.values()), state["block"])  # all generations ran: say so
        finally:
            self.callbacks.close()
        return str(state["status"]), int(state["stopped_at"])

    def steady_place(self, n: int, first: int) -> tuple[int, int]:
        """(generation, slot) of the ``n``-th trial of a steady-state run whose generation 0 holds ``first``."""
        if n < first:
            return 0, n
        pop, generations = self.cfg.ga.population, self.cfg.max_generations
        g = 1 + (n - first) // pop
        if generations is not None:
            g = min(g, max(1, generations - 1))  # the last generation takes the genomes planned for served ones
        return g, n - first - (g - 1) * pop

    def plan_steady(self, n: int, first: int, attempts: int = 3) -> TrialRow | None:
        """Plan and store the ``n``-th trial from every trial finished now (None: nothing new found in
        ``attempts`` tries, each with its own generator: (seed, generation, slot[, attempt]))."""
        cfg, store = self.cfg, self.store
        g, slot = self.steady_place(n, first)
        rows = sorted(self.rows.values(), key=lambda t: t["id"])
        seen = [t for t in rows if t["status"] != Status.PENDING]
        keys = {t["key"] for t in rows}
        started = time.perf_counter()
        for attempt in range(attempts):
            ctx = PlanContext(generation=g, space=cfg.space, population=1, direction=self.direction, history=seen,
                              known=lambda k: k in keys or store.known_here(k), seed=cfg.seed, prior=self.prior,
                              goal=self.goal,
                              rng=np.random.default_rng([cfg.seed, g, slot] + ([attempt] if attempt else [])))
            planned = self.strategy.plan(ctx)
            if not planned:
                return None
            p = planned[0]
            key = cfg.space.key(p.genome)
            if key in keys:
                continue
            extra: dict[str, Any] = {"seen_upto": rows[-1]["id"] if rows else 0,
                                     "unseen": [t["id"] for t in rows if t["status"] == Status.PENDING]}
            if attempt:
                extra["attempt"] = attempt
            extra["plan_seconds"] = time.perf_counter() - started
            store.add_planned(g, [(key, p.genome, p.origin)], FULL_BUDGET, slot, extra=extra)
            row = store.last_trial()
            assert row is not None
            self.rows[row["id"]] = row
            return row
        return None

    def steady_task(self, row: TrialRow) -> Task:
        """A planned trial as a task; with ``pruning:``, thresholds from the trials it was planned from."""
        prune = None
        if self.cfg.pruning:
            seen = steady_seen(row)  # None: generation 0, planned before anything ran
            history = [] if seen is None else [t for i, t in sorted(self.rows.items()) if seen(i)]
            prune = prune_thresholds(history, self.cfg.pruning, self.direction)
        return Task(row["id"], self.cfg.space.trial_genome(row["genome"]), row["key"],
                    trial_seed(self.cfg.seed, row["key"]), row["budget"], prune)

    def promote(self, g: int) -> tuple[str, list[TrialRow]] | None:
        """The next rung of generation ``g`` (budget and trials to promote), if it has one to plan."""
        rows = self.store.generation(g)
        if not self.rungs or any(r["status"] == Status.PENDING for r in rows):
            return None
        assert self.cfg.fidelity is not None
        return next_rung(rows, self.rungs, self.cfg.fidelity.eta, self.goal,
                         lambda budget: self.store.at_budget(budget, before=g))

    def plan(self, g: int, tries: int = 3) -> list[tuple[str, dict[str, Any], str]] | None:
        """Generation ``g`` as (key, genome, origin) per slot, or None if nothing new can be planned.

        The strategy plans from this run's trials and may plan a genome a shared cache holds: that
        slot is served from the cache (a cached trial, part of the history), and new genomes are
        planned for as many extra slots (up to ``tries`` more plans, each with its own generator:
        (seed, g, try)), so the generation still trains ``population`` genomes where it can."""
        cfg, store = self.cfg, self.store
        history = [t for t in store.trials() if t["generation"] < g]

        prior = self.prior

        def context(rng: np.random.Generator, known: Callable[[str], bool]) -> PlanContext:
            return PlanContext(generation=g, space=cfg.space, population=cfg.ga.population, direction=self.direction,
                               history=history, known=known, rng=rng, initial_genome=cfg.initial_genome, seed=cfg.seed,
                               prior=prior, goal=self.goal)

        budget = self.rungs[0] if self.rungs else FULL_BUDGET  # every genome this run screened has a trial at it
        planned = self.strategy.plan(context(np.random.default_rng([cfg.seed, g]),
                                             lambda k: store.known_here(k, budget)))
        if planned is None:
            return None
        out = [(cfg.space.key(p.genome), p.genome, p.origin) for p in planned]
        if g == 0 and cfg.initial_genomes:  # evaluated first, in the first slots (genes left out: sampled)
            rng = np.random.default_rng([cfg.seed, 0, 0x454E51])  # "ENQ"
            given = [cfg.space.complete(x, rng) for x in cfg.initial_genomes]
            first = [(cfg.space.key(x), x, "initial") for x in given]
            keys = {k for k, _, _ in first}
            rest = [p for p in out if p[0] not in keys]
            out = first + rest[:max(0, len(out) - len(first))]
        missing = sum(store.in_shared_cache(k, budget) for k, _, _ in out)
        keys = {k for k, _, _ in out}
        for attempt in range(1, tries + 1):
            if not missing or self.strategy.fixed_slots:
                break
            more = self.strategy.plan(context(np.random.default_rng([cfg.seed, g, attempt]),
                                              lambda k: k in keys or store.known(k, budget)))
            for p in more or []:
                k = cfg.space.key(p.genome)
                if missing and k not in keys and not store.known(k, budget):
                    out.append((k, p.genome, p.origin))
                    keys.add(k)
                    missing -= 1
        return out

    def run_generation(self, g: int, best: float | None) -> None:
        """Evaluate generation ``g``'s pending trials: cache hits are copied, the rest dispatched once each."""
        store = self.store
        rows = [r for r in store.generation(g) if r["status"] == Status.PENDING]
        history = [t for t in store.trials() if t["generation"] < g]
        prune = prune_thresholds(history, self.cfg.pruning, self.direction) if self.cfg.pruning else None
        tasks: list[Task] = []
        later: list[TrialRow] = []
        queued: set[tuple[str, str]] = set()
        left = self.stopper.trials_left(store.trials())  # max_trials: slots in order, the rest stay planned
        for r in rows:
            if left is not None and left <= 0:
                break
            ident = (r["key"], r["budget"])
            if store.lookup(*ident) is not None:
                self.finish_cached(r)
            elif (source := self.settled(r)) is not None:
                self.finish_settled(r, source)
            elif ident in queued:
                later.append(r)  # the same evaluation twice in one generation: copied once it is done
            else:
                queued.add(ident)
                tasks.append(self.rung_task(r, prune))
                left = None if left is None else left - 1
        if self.ex.slots > 1:  # fewer idle workers at the generation's end; one worker runs them in slot order,
            tasks = longest_first(tasks, history, self.cfg.space)  # so a stop rule's cut is a prefix of trial order
        self.callbacks.generation_start(g, len(tasks), best)
        for res in self.ex.run(Gate(tasks, self.stopper)):  # no trial starts once a stop rule is reached
            self.record(res, checkpoint=self.continues)
            self.stopper.observe(res)
            self.callbacks.result(res)
        for r in later:
            if store.lookup(r["key"], r["budget"]) is not None:  # its evaluation ran (a stop rule may have held it)
                self.finish_cached(r)

    def record(self, res: Result, checkpoint: bool) -> None:
        """Store a result, checked against the goal first (:func:`natsel._trial.settle`)."""
        settle(res, self.goal)
        self.store.finish(res.trial_id, res.status, res.fitness, res.metrics, res.seconds, res.error, res.started,
                          res.extra, res.checkpoint if checkpoint else None)

    def rung_task(self, row: TrialRow, prune: list[float | None] | None) -> Task:
        """A generation's trial as a task. With checkpoints (``fidelity.checkpoints``, epochs), a trial
        below the full budget asks for its trained state, and a promotion continues from its lower
        rung's: the same result as training again from scratch (docs/fidelity.md), for fewer epochs.
        A checkpoint that is gone (another natsel, a deleted file) means training from scratch."""
        task = Task(row["id"], self.cfg.space.trial_genome(row["genome"]), row["key"],
                    trial_seed(self.cfg.seed, row["key"]), row["budget"], prune)
        if not self.continues:
            return task
        task.checkpoint = row["budget"] != FULL_BUDGET
        lower = [t for t in self.store.generation(row["generation"])
                 if t["key"] == row["key"] and t["status"] == Status.OK and budget_rank(t["budget"]) < budget_rank(row["budget"])]
        if lower:
            source = max(lower, key=lambda t: budget_rank(t["budget"]))
            task.resume, task.resume_from = self.store.checkpoint(source["id"]), source["id"]
        return task

    def settled(self, row: TrialRow) -> TrialRow | None:
        """A finished trial of the same genome at a smaller epoch budget that early stopping ended
        before that budget's epoch limit (``metrics.early_stopped``), if any: training the genome with
        a higher limit repeats it exactly (the same seed, the same epochs, the same stop), so a
        promotion to ``row``'s budget needs no training."""
        fid = self.cfg.fidelity
        if fid is None or fid.resource != "epochs" or row["budget"] == self.rungs[0]:  # type: ignore[index]
            return None
        want = budget_rank(row["budget"])
        for t in self.store.generation(row["generation"]):
            if (t["key"] == row["key"] and t["status"] == Status.OK and t["budget"].startswith("epochs=")
                    and budget_rank(t["budget"]) < want and (t.get("metrics") or {}).get("early_stopped")):
                return t
        return None

    def finish_settled(self, row: TrialRow, source: TrialRow) -> None:
        self.store.finish(row["id"], Status.CACHED, source["fitness"], source["metrics"], 0.0, None,
                          extra={"source_trial": source["id"], "source_status": source["status"],
                                 "source_budget": source["budget"], "early_stopped": True})

    def finish_cached(self, row: TrialRow) -> None:
        hit = self.store.lookup(row["key"], row.get("budget", FULL_BUDGET))
        assert hit is not None
        extra: dict[str, Any] = {"source_trial": hit.get("id"), "source_status": hit["status"]}
        if hit.get("id") is None:
            extra["shared_cache"] = True
        if hit.get("warm_start"):
            extra["warm_start"] = hit["warm_start"]  # an earlier run with this run's evaluation identity
        self.store.finish(row["id"], Status.CACHED, hit["fitness"], hit["metrics"], 0.0, hit.get("error"),
                          extra=extra)


__all__ = ["ExecutorLost", "Loop", "evolve", "first_unfinished", "make_executor", "trial_seed", "write_summaries"]
