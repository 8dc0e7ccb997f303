"""Reading a run folder: trials, history, best genome, leaderboard (read-only)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from natsel._pareto import HV_OBJECTIVES
from natsel._space import SearchSpace
from natsel._store import RunStore, lock_held
from natsel._trial import FULL_BUDGET, Direction, Goal, Status, TrialRow, budget_rank, is_number

_ok = is_number  # kept for the plotting code's brevity


def summarize(fitness: Sequence[float | None]) -> dict[str, Any]:
    """best/mean/std/min/max of the non-failed fitnesses (None where there are none)."""
    vals = np.array([f for f in fitness if is_number(f)], dtype=float)
    if vals.size == 0:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return {
        "mean": float(vals.mean()),
        "std": float(vals.std()),
        "min": float(vals.min()),
        "max": float(vals.max()),
        "n": int(vals.size),
    }


def evaluations(trials: Sequence[TrialRow], budget: str | None = FULL_BUDGET) -> list[TrialRow]:
    """Finished trials, one per evaluation identity (genome key, budget): the first, in trial order.

    A trial served from the cache is a finished trial: when the evaluation it copies is in this run,
    that evaluation is the one kept; when it came from a shared cache, the cached row stands for it.
    Only trials of ``budget`` are kept (None: every budget), so a result at a reduced budget is never
    ranked against full ones.
    """
    seen: set[tuple[str, str]] = set()
    out = []
    for t in sorted(trials, key=lambda t: t["id"]):
        ident = (t["key"], t.get("budget", FULL_BUDGET))
        if budget is not None and ident[1] != budget:
            continue
        if Status(t["status"]).finished and ident not in seen:
            seen.add(ident)
            out.append(t)
    return out


def _best_row(rows: Sequence[TrialRow], goal: Goal) -> TrialRow | None:
    if goal.plain:  # the single objective's best, ties: the earliest (as natsel has always picked it)
        best: TrialRow | None = None
        for t in rows:
            if goal.direction.better(t["fitness"], best["fitness"] if best else None):
                best = t
        return best
    i = goal.best(rows)
    return None if i is None else rows[i]


def pick_best(trials: Sequence[TrialRow], goal: Goal) -> dict[str, Any] | None:
    """The fittest finished full-budget trial (cache hits count, copies are not counted twice); ties:
    earliest. With constraints, the fittest feasible one (the least infeasible if none is); with
    several objectives, the feasible front's best on the first objective."""
    best = _best_row(evaluations(trials), goal)
    if best is None:
        return None
    out = {k: best[k] for k in ("id", "generation", "slot", "key", "genome", "fitness", "metrics", "status", "seconds")}
    if not goal.plain:
        out.update(values=goal.values(best), feasible=goal.feasible(best))
    return out


def pareto_front(trials: Sequence[TrialRow], goal: Goal) -> list[TrialRow]:
    """The finished full-budget trials no feasible trial dominates (feasible ones only), in the
    order of the first objective, best first."""
    rows = evaluations(trials)
    front = [rows[i] for i in goal.front(rows)]
    return sorted(front, key=lambda t: (-goal.oriented(t)[0], t["id"]))  # type: ignore[index]


def hypervolumes(goal: Goal, groups: Sequence[Sequence[TrialRow]]) -> list[float]:
    """The hypervolume of the feasible front after each group of trials (cumulative), with every
    objective scaled to [0, 1] between the best and worst feasible values of all the groups and a
    reference point at 1.1 (just past the worst): one scale for the whole curve."""
    from natsel._pareto import hypervolume, nondominated, normalise

    points = [[goal.oriented(t) for t in g if goal.feasible(t)] for g in groups]
    every = [p for g in points for p in g]
    if not every:
        return [0.0] * len(groups)
    arr = np.array(every, dtype=float)
    ideal, nadir = arr.max(axis=0), arr.min(axis=0)
    ref = [1.1] * arr.shape[1]
    out, so_far = [], np.empty((0, arr.shape[1]))
    for g in points:
        if g:  # the non-dominated points so far: a dominated one adds no volume
            so_far = np.vstack([so_far, normalise(np.array(g, dtype=float), ideal, nadir)])
            so_far = so_far[nondominated(-so_far)]
        out.append(hypervolume(so_far, ref) if len(so_far) else 0.0)
    return out


def is_failed(t: TrialRow) -> bool:
    """A failed trial; a cache hit that copies a failure is one too (its error is copied with it)."""
    s = Status(t["status"])
    return s.failed or (s is Status.CACHED and Status((t.get("extra") or {}).get("source_status", "ok")).failed)


def outcome(trials: Sequence[TrialRow]) -> dict[str, Any]:
    """Counts of trained, failed and cached trials, and the most common error (None if none failed)."""
    statuses = [Status(t["status"]) for t in trials]
    failed = [is_failed(t) for t in trials]
    errors = Counter((t["error"] or t["status"]) for t, f in zip(trials, failed, strict=True) if f)
    common = errors.most_common(1)
    return {
        "trained": sum(s.scored for s in statuses),
        "failed": sum(failed),
        "cached": sum(s is Status.CACHED and not f for s, f in zip(statuses, failed, strict=True)),
        # promotions recorded from a lower rung that early stopping had already settled (docs/fidelity.md)
        "settled": sum(s is Status.CACHED and bool((t.get("extra") or {}).get("early_stopped"))
                       for t, s in zip(trials, statuses, strict=True)),
        "pruned": sum(s is Status.PRUNED for s in statuses),
        # served by a shared cache (cache:) from another run, not by this run's own trials
        "shared": sum(s is Status.CACHED and bool((t.get("extra") or {}).get("shared_cache"))
                      for t, s in zip(trials, statuses, strict=True)),
        "succeeded": sum(s.finished and is_number(t["fitness"]) for t, s in zip(trials, statuses, strict=True)),
        "common_error": common[0][0] if common else None,
        "common_error_count": common[0][1] if common else 0,
    }


def compute_history(trials: Sequence[TrialRow], goal: Goal) -> list[dict[str, Any]]:
    """Per generation: fitness statistics of the population, counts, and the best so far (with
    several objectives also the front's size and hypervolume so far, :func:`hypervolumes`)."""
    direction = goal.direction
    gens: dict[int, list[TrialRow]] = {}
    for t in trials:
        gens.setdefault(t["generation"], []).append(t)
    start = min((t["started"] for t in trials if t["started"]), default=None)
    history = []
    best_so_far: TrialRow | None = None
    trained = 0
    leaders: list[TrialRow] = []  # not plain: the rows so far that the front and the best can come from
    seen: set[str] = set()
    for g in sorted(gens):
        rows = gens[g]
        done = [t for t in rows if t["status"] != Status.PENDING]
        # statistics of full-budget results only: a score after one epoch is not comparable
        full = [t for t in done if t.get("budget", FULL_BUDGET) == FULL_BUDGET]
        stats = summarize([t["fitness"] for t in full])
        if goal.plain:
            for t in evaluations(done):
                if direction.better(t["fitness"], best_so_far["fitness"] if best_so_far else None):
                    best_so_far = t
        else:
            new = [t for t in evaluations(done) if t["key"] not in seen]
            seen.update(t["key"] for t in new)
            leaders = _leaders(leaders + new, goal)
            best_so_far = _best_row(leaders, goal)
        counts = outcome(rows)
        trained += counts["trained"]
        finished = max((t["finished"] for t in done if t["finished"]), default=None)
        # the strategy's seconds: a generation's rows share the seconds of the plan that made them; a
        # steady-state trial (``seen_upto``) was planned on its own
        planning = [(t.get("extra") or {}) for t in rows if "plan_seconds" in (t.get("extra") or {})]
        plan_seconds = (sum(e["plan_seconds"] for e in planning if "seen_upto" in e)
                        + max((e["plan_seconds"] for e in planning if "seen_upto" not in e), default=0.0))
        history.append({
            "generation": g,
            "best": direction.best([stats["max"], stats["min"]]),
            **{k: stats[k] for k in ("mean", "std", "min", "max")},
            "size": len(rows),
            "complete": len(done) == len(rows),
            "trained": counts["trained"],
            "cached": counts["cached"],
            "failed": counts["failed"],
            "timeout": sum(t["status"] == Status.TIMEOUT for t in rows),
            "pruned": counts["pruned"],
            "rungs": {b: sum(t.get("budget", FULL_BUDGET) == b for t in rows)
                      for b in sorted({t.get("budget", FULL_BUDGET) for t in rows}, key=budget_rank)},
            "trained_total": trained,
            "best_so_far": best_so_far["fitness"] if best_so_far else None,
            "best_genome_so_far": best_so_far["genome"] if best_so_far else None,
            "elapsed": (finished - start) if finished and start else None,
            "plan_seconds": plan_seconds if planning else None,
        })
        if not goal.plain:
            history[-1]["best"] = (b := _best_row(evaluations(full), goal)) and b["fitness"]
            history[-1]["feasible"] = sum(goal.feasible(t) for t in full)
            if goal.multi:
                history[-1]["front"] = len(goal.front(leaders))
    if goal.multi:
        groups = [evaluations([t for t in trials if t["generation"] == g]) for g in sorted(gens)]
        hvs = hypervolumes(goal, groups) if len(goal.names) <= HV_OBJECTIVES else [None] * len(groups)
        for h, hv in zip(history, hvs, strict=True):
            h["hypervolume"] = hv
    return history


def _leaders(rows: list[TrialRow], goal: Goal) -> list[TrialRow]:
    """The rows of ``rows`` (full-budget evaluations) that its front and its best come from, in id
    order: the front of ``rows`` plus new rows is the front of all of them, so history is built
    generation by generation without ranking every trial again."""
    pts, miss = goal._read(rows)
    keep = set(goal._front(pts, miss)) | set(goal._order(pts, miss)[:1])
    return sorted((rows[i] for i in keep), key=lambda t: t["id"])


def run_space(run: Run) -> SearchSpace | None:
    """The run's search space, from the ``space:`` section of its ``config.yaml`` (nothing else of
    the config is read or checked); None when it cannot be parsed."""
    from natsel._config import _V, parse_space
    from natsel._errors import NatselError
    from natsel._yaml import load_yaml

    try:
        doc = load_yaml(run.config_path)
        if not isinstance(doc.data, dict) or "space" not in doc.data:
            return None
        return parse_space(_V(doc), doc.data["space"])
    except (NatselError, OSError, ValueError):
        return None


class Run:
    """A run folder, read-only. ``natsel.load_run(path)`` returns one.

    >>> run = natsel.load_run("runs/mixed-20261123-150000")  # doctest: +SKIP
    >>> run.fittest, run.best["fitness"]  # doctest: +SKIP
    """

    def __init__(self, path: str | Path) -> None:
        store = RunStore(path, readonly=True)
        try:
            self.path = Path(path)
            self.meta: dict[str, Any] = store.meta()
            self.trials: list[TrialRow] = store.trials()
            self.history: list[dict[str, Any]] = store.read_json("history.json", []) or []
        finally:
            store.close()
        #: run.json says running, but no process holds the run's lock: the writer died (kill -9, power loss)
        self.stale = self.meta.get("status") == "running" and lock_held(self.path) is False
        self.maximize: bool = bool(self.meta.get("maximize", True))
        self.direction = Direction(self.maximize)
        #: the objectives and constraints the run ordered its trials by
        self.goal = Goal.from_json(self.meta.get("goal"), self.maximize)
        self.best: dict[str, Any] | None = pick_best(self.trials, self.goal)
        if not self.history and self.trials:
            self.history = compute_history(self.trials, self.goal)

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def status(self) -> str:
        """finished, exhausted, failed, running, or interrupted (also a run whose process was killed
        without a word: run.json still says running, but no process holds the run's lock)."""
        return "interrupted" if self.stale else str(self.meta.get("status", "unknown"))

    @property
    def wall_seconds(self) -> float | None:
        """Wall-clock seconds the run has been written, over all its sessions (a resume is one more);
        None for a folder too old to say."""
        m = self.meta
        done = float(m.get("wall_seconds") or 0.0)
        start = m.get("session_started")
        if m.get("status") == "running" and start is not None:  # a session going on now, or one that died
            if self.stale:  # killed: it lasted at least until its last trial finished
                end = max((t["finished"] for t in self.trials if (t.get("finished") or 0) >= start), default=start)
            else:
                end = time.time()
            return done + max(0.0, end - start)
        if "wall_seconds" in m:
            return done
        if m.get("finished") and m.get("created"):  # written before sessions were timed
            return float(m["finished"]) - float(m["created"])
        return None

    @property
    def resume_command(self) -> str:
        """The command that continues this run: the config it was made from, and this folder."""
        import shlex

        name, base = self.meta.get("config_name"), self.meta.get("base_dir")
        config = Path("CONFIG")  # a config given as a dict: no file to name
        if name and base and not str(name).startswith("<"):
            given, beside = Path(name), Path(base) / Path(name).name  # the name as typed; its file's folder
            config = given if given.is_absolute() and given.is_file() else beside
        return f"natsel evolve {shlex.quote(str(config))} --run-dir {shlex.quote(str(self.path))} --resume"

    @property
    def fittest(self) -> dict[str, Any] | None:
        """The genome of the fittest trial (NaturalSelection's ``History.fittest``)."""
        return dict(self.best["genome"]) if self.best else None

    @property
    def outcome(self) -> dict[str, Any]:
        """How many trials were trained, failed and served from the cache, and the most common error."""
        return outcome(self.trials)

    def leaderboard(self, top: int | None = None) -> list[dict[str, Any]]:
        """Finished trials (one per genome), best first; failed ones last. Copies of a trial are left out.
        With several objectives: front by front, each by its first objective (rank 1 is :attr:`best`
        when a trial meets the constraints)."""
        rows = evaluations(self.trials)
        if self.goal.plain:
            rows.sort(key=lambda t: (*self.direction.sort_key(t["fitness"]), t["id"]))
        else:
            rows = [rows[i] for i in self.goal.order(rows, shown=True)]
        ranked = [{"rank": i + 1, **self._shown(t)} for i, t in enumerate(rows)]
        return ranked[:top] if top else ranked

    def pareto(self, top: int | None = None) -> list[dict[str, Any]]:
        """The leaderboard of the front (:meth:`front`): rank 1 is the best on the first objective."""
        ranked = [{"rank": i + 1, **self._shown(t)} for i, t in enumerate(self.front())]
        return ranked[:top] if top else ranked

    def _shown(self, t: TrialRow) -> dict[str, Any]:
        """A row as ``leaderboard`` gives it: with its objective values and feasibility unless the goal is plain."""
        return dict(t) if self.goal.plain else {**t, "values": self.goal.values(t), "feasible": self.goal.feasible(t)}

    def front(self) -> list[TrialRow]:
        """The Pareto front: finished full-budget trials that meet every constraint and that no such
        trial beats on every objective (a single objective: the best one)."""
        if not self.goal.multi:
            return [t for t in evaluations(self.trials) if self.best and t["id"] == self.best["id"]]
        return pareto_front(self.trials, self.goal)

    def pick(self, how: str | None = None) -> dict[str, Any]:
        """The trial to train fully: with ``objectives:``, a member of the feasible front, ``how``:
        ``knee`` (:func:`natsel._pareto.knee` on the front's oriented values), an objective's name (the
        front's best on it; ties: the earliest), or None (:attr:`best`: the front's best on the first
        objective). A run with one objective takes None only (its best; with constraints the best
        feasible one). :class:`RunDirError` (one line) when no trial qualifies or ``how`` is unknown."""
        from natsel._errors import RunDirError
        from natsel._pareto import knee

        goal = self.goal
        if how is not None and not goal.multi:
            raise RunDirError(f"--pick chooses among several objectives; {self.path} optimises one "
                              f"({goal.names[0] if goal.names[0] != 'fitness' else self.meta.get('metric', 'fitness')})")
        if how is not None and how != "knee" and how not in goal.names:
            raise RunDirError(f"--pick {how}: not an objective of {self.path} (pick knee or one of "
                              f"{', '.join(goal.names)})")
        if self.best is None:
            raise RunDirError(f"{self.path} has no finished trial yet")
        front = self.front() if goal.multi else [self.best] if goal.plain or self.best.get("feasible") else []
        if not front:  # the best is the least infeasible trial: none is feasible
            cons = "; ".join(f"{n} {b.text()}" for n, b in goal.constraints)
            raise RunDirError(f"{self.path} has no feasible trial (none has {cons}); --trial ID trains one anyway")
        if goal.plain:
            return self.best
        if how is None:  # the front's best on the first objective: run.best
            row = next((t for t in front if t["id"] == self.best["id"]), front[0])
        elif how == "knee":
            row = front[knee(np.array([goal.oriented(t) for t in front], dtype=float))]
        else:
            d = dict(goal.objectives)[how]
            row = min(front, key=lambda t: (*d.sort_key(goal.value(t, how)), t["id"]))
        keep = ("id", "generation", "slot", "key", "genome", "fitness", "metrics", "status", "seconds")
        return {**{k: row[k] for k in keep}, "values": goal.values(row), "feasible": True, "pick": how or "best"}

    def __repr__(self) -> str:
        best = self.best["fitness"] if self.best else None
        return f"Run({str(self.path)!r}, status={self.status!r}, trials={len(self.trials)}, best={best})"


def load_run(path: str | Path) -> Run:
    """Open a run folder read-only (safe while the run is still going)."""
    return Run(path)
