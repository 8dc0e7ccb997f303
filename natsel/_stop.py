"""Stop rules as a policy the loop asks: may another trial start, and has the search ended?

The rules (``stop:`` and ``evolution.generations``, docs/config.md "Stop rules") are read from the
stored trials, so a resumed run stops where an uninterrupted one would. Only ``timeout`` depends on
speed: it counts the wall-clock of every session of the run (a session killed with ``kill -9``
up to its last finished trial), and no trial starts after it; trials already running finish, or
are stopped at their own limit (``training.max_training_time``).

Deterministic cuts: ``max_trials`` dispatches a generation's trials in slot order up to the budget
and leaves the rest planned (pending), so a run stopped by it holds exactly the first trials of a
run that went on, and a resume with a larger budget dispatches the rest: the longer run, exactly.
``target`` lets no trial start after the first result that reaches it (with one worker, or
``workers: 0``, that is the first trial in trial order; with several, trials already running
finish and are kept).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from natsel._run import pick_best
from natsel._settings import Config
from natsel._trial import FULL_BUDGET, Direction, Result, Status, TrialRow


def trained(trials: Sequence[TrialRow]) -> int:
    """Trials the objective evaluated (cache hits and planned trials are not counted)."""
    return sum(Status(t["status"]).done for t in trials)


def stale_units(units: Sequence[float | None], min_delta: float) -> int:
    """Units (generations, or trials) since the best (oriented: higher is better) last improved by
    more than ``min_delta``; a unit without a score never improves it."""
    ref: float | None = None
    since = 0
    for u in units:
        if u is not None and (ref is None or u > ref + min_delta):
            ref, since = u, 0
        else:
            since += 1
    return since


def duration(seconds: float) -> str:
    """``90`` -> ``1m30s``; ``3725`` -> ``1h2m5s``; under a minute with one decimal."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return (f"{h}h" if h else "") + (f"{m}m" if m or h else "") + (f"{sec}s" if sec else "")


class Stopper:
    """The stop rules of one session of a run.

    ``spent``: seconds earlier sessions of the run used; ``started``: when this session began
    (``time.time()``); the search's wall-clock is their sum plus the time since."""

    def __init__(self, cfg: Config, spent: float = 0.0, started: float | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.rules = cfg.stop
        self.generations = cfg.max_generations
        self.steady = cfg.schedule == "steady"
        self.direction = Direction(cfg.maximize)
        self.goal = cfg.goal
        self.clock = clock
        self.spent = spent
        self.started = clock() if started is None else started
        #: (rule, line) once a rule ended the search
        self.reached: tuple[str, str] | None = None
        #: trials the run had trained when this session began (the loop sets it; the trials bar starts there)
        self.trained_before = 0

    # -- the budget, for the progress bars ----------------------------------------------------
    def elapsed(self) -> float:
        return self.spent + self.clock() - self.started

    def seconds_left(self) -> float | None:
        return None if self.rules.timeout is None else max(0.0, self.rules.timeout - self.elapsed())

    def trials_left(self, trials: Sequence[TrialRow]) -> int | None:
        """How many more trials may be trained (None: no ``max_trials``)."""
        return None if self.rules.max_trials is None else max(0, self.rules.max_trials - trained(trials))

    # -- what the loop asks -------------------------------------------------------------------
    def open(self) -> bool:
        """May another trial start now? No once a rule ended the search, or the time is up."""
        if self.reached is None and self.rules.timeout is not None and self.elapsed() >= self.rules.timeout:
            self.reached = ("timeout", self._timeout_line())
        return self.reached is None

    def observe(self, res: Result, trial_id: int | None = None) -> None:
        """A result was recorded: one that reaches the target closes the gate at once."""
        if self.reached is None and res.status in (Status.OK, Status.TIMEOUT) and self._reaches(res.fitness):
            self.reached = ("target", self._target_line(res.fitness, trial_id or res.trial_id))

    def check(self, trials: Sequence[TrialRow], complete: int) -> tuple[str, str] | None:
        """The rule that ends the search now, as (rule, line), or None; ``complete``: the generations
        (with ``schedule: steady``, blocks of ``population`` results) finished so far."""
        if self.reached is not None:
            return self.reached
        r = self.rules
        best = pick_best(trials, self.goal)
        if r.target is not None and best is not None and self._reaches(best["fitness"]):
            self.reached = ("target", self._target_line(best["fitness"], best["id"]))
        elif r.max_trials is not None and trained(trials) >= r.max_trials:
            self.reached = ("max_trials", f"max_trials: {trained(trials)} trials trained (max_trials {r.max_trials})")
        elif not self.open():
            pass  # the timeout set it
        elif r.patience is not None and (stale := stale_units(self._units(trials, complete), r.min_delta)) >= r.patience:
            what = "trials" if self.steady else "generations"
            delta = f" by more than {r.min_delta:g}" if r.min_delta else ""
            self.reached = ("patience", f"patience: {stale} {what} without improving the best{delta} "
                                        f"(patience {r.patience})")
        elif self.generations is not None and complete >= self.generations:
            self.reached = ("generations", f"generations: all {self.generations} generations ran")
        return self.reached

    # -- helpers ----------------------------------------------------------------------------
    def _reaches(self, fitness: float | None) -> bool:
        target = self.rules.target
        f = self.direction.oriented(fitness)
        return target is not None and f is not None and f >= self.direction.oriented(target)  # type: ignore[operator]

    def _target_line(self, fitness: float | None, trial_id: Any) -> str:
        return f"target: trial {trial_id} reached fitness {fitness:.6g} (target {self.rules.target:g})"

    def _timeout_line(self) -> str:
        return (f"timeout: {duration(self.elapsed())} of search time (timeout {duration(self.rules.timeout or 0)}); "
                "no trial starts after it")

    def _units(self, trials: Sequence[TrialRow], complete: int) -> list[float | None]:
        """What patience counts: each finished generation's best, or (steady) each result in the order it came;
        with constraints only feasible results count; with several objectives, the hypervolume so far."""
        full = [t for t in trials if Status(t["status"]).finished and t.get("budget", FULL_BUDGET) == FULL_BUDGET]
        if self.steady:
            full.sort(key=lambda t: (t.get("finished") or 0.0, t["id"]))
            groups = [[t] for t in full]
        else:
            groups = [[t for t in full if t["generation"] == g] for g in range(complete)]
        if self.goal.multi:
            from natsel._run import hypervolumes

            return list(hypervolumes(self.goal, groups))
        out: list[float | None] = []
        for rows in groups:
            scores = [f for t in rows if (f := self.direction.oriented(t["fitness"])) is not None
                      and (self.goal.plain or self.goal.feasible(t))]
            out.append(max(scores) if scores else None)
        return out


class Gate(deque):  # type: ignore[type-arg]
    """A task deque the executors read as workers come free; it empties itself once the stopper
    lets no trial start, so a trial that has not started by then stays planned."""

    def __init__(self, tasks: Iterable[Any], stopper: Stopper) -> None:
        super().__init__(tasks)
        self.stopper = stopper

    def _shut(self) -> bool:
        if super().__len__() and not self.stopper.open():
            self.clear()
        return not super().__len__()

    def __len__(self) -> int:
        self._shut()
        return super().__len__()

    def __bool__(self) -> bool:
        return not self._shut()

    def popleft(self) -> Any:
        if self._shut():
            raise IndexError("pop from an empty deque")
        return super().popleft()


__all__ = ["Gate", "Stopper", "duration", "stale_units", "trained"]
