"""What a running search shows: progress bars, and the fitness plot redrawn as generations end.

Both are callbacks of the evolution loop (:class:`Callbacks`), so the loop itself neither prints nor
draws; the library API turns them off with ``progress=False`` / ``plots=False``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from natsel._run import Run
from natsel._trial import Direction, Goal, Result

if TYPE_CHECKING:
    from natsel._stop import Stopper


class Callbacks:
    """Hooks the loop calls; the default does nothing."""

    def start(self, generations: int | None, first: int, stop: Stopper | None = None) -> None:
        """Before the first generation this call runs (``first`` of ``generations``; None: no such
        limit); ``stop``: the run's stop rules, for the budget left."""

    def generation_start(self, g: int, trials: int, best: float | None) -> None:
        """Generation ``g`` dispatches ``trials`` evaluations; ``best`` so far (None: none yet)."""

    def result(self, res: Result) -> None:
        """One evaluation finished."""

    def generation_end(self, run: Run) -> None:
        """Generation finished and its summaries are written."""

    def close(self) -> None:
        """The loop ended (normally or not)."""


class Bars(Callbacks):
    """tqdm bars for the binding budget and for the trials of one generation, with the best so far.

    The first bar counts trials of ``max_trials`` when that rule is set, else generations (of
    ``generations``, or open-ended); with ``timeout`` it shows the time left."""

    def __init__(self, direction: Direction, goal: Goal | None = None) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.direction = direction
        #: several objectives or constraints: the bar shows the front's size (or the best feasible
        #: fitness), updated at each generation's end from the stored trials
        self.goal = goal if goal is not None and not goal.plain else None
        self.gen: Any = None
        self.bar: Any = None
        self.best: float | None = None
        self.stop: Stopper | None = None
        self.by_trials = False

    def start(self, generations: int | None, first: int, stop: Stopper | None = None) -> None:
        self.stop = stop
        limit = stop.rules.max_trials if stop is not None else None
        if limit is not None:
            self.by_trials = True
            self.gen = self._tqdm(total=limit, initial=min(limit, stop.trained_before), desc="trials", unit="trial",
                                  position=0, dynamic_ncols=True, file=sys.stderr)
        else:
            self.gen = self._tqdm(total=generations, initial=min(first, generations) if generations else first,
                                  desc="generations", unit="gen", position=0, dynamic_ncols=True, file=sys.stderr)
        self._left()

    def _left(self) -> None:
        left = self.stop.seconds_left() if self.stop is not None else None
        if left is not None and self.gen is not None:
            from natsel._stop import duration

            self.gen.set_postfix(left=duration(left))

    def generation_start(self, g: int, trials: int, best: float | None) -> None:
        self.best = best
        self.bar = self._tqdm(total=trials, desc=f"gen {g} trials", unit="trial", position=1, leave=False,
                              dynamic_ncols=True, file=sys.stderr)
        self._postfix()

    def result(self, res: Result) -> None:
        if self.goal is None and self.direction.better(res.fitness, self.best):
            self.best = res.fitness
        if self.bar is not None:
            self.bar.update(1)
            self._postfix()
        if self.by_trials and self.gen is not None:
            self.gen.update(1)
        self._left()

    def _postfix(self) -> None:
        if self.bar is not None and self.best is not None:
            self.bar.set_postfix(best=f"{self.best:.4g}")

    def generation_end(self, run: Run) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.goal is not None and self.gen is not None:
            best = run.best
            self.gen.set_postfix(front=len(run.front())) if self.goal.multi else self.gen.set_postfix(
                best=f"{best['fitness']:.4g}" if best and best.get("feasible") else "none feasible")
        if self.gen is not None and not self.by_trials:
            self.gen.update(1)
        self._left()

    def close(self) -> None:
        for b in (self.bar, self.gen):
            if b is not None:
                b.close()


class FitnessPlot(Callbacks):
    """Redraws ``plots/fitness.png`` after a generation, at most once every ``every`` seconds (a figure
    costs about half a second: generations of quick trials would wait for it), and once more when the
    loop ends if a generation was left out; a plotting problem is reported once and never stops the search."""

    def __init__(self, every: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.warned = False
        self.every, self.clock = every, clock
        self.last: float | None = None
        self.behind: Path | None = None  # a run folder whose last generation is not drawn yet

    def generation_end(self, run: Run) -> None:
        if self.last is not None and self.clock() - self.last < self.every:
            self.behind = run.path
            return
        self._draw(run)

    def close(self) -> None:
        if self.behind is not None:
            self._draw(Run(self.behind))

    def _draw(self, run: Run) -> None:
        from natsel._plot import write_fitness_plot

        self.behind = None
        try:
            write_fitness_plot(run)
        except Exception as exc:  # noqa: BLE001 - plotting must not cost the user their search
            if not self.warned:
                print(f"natsel: could not draw the fitness plot: {exc}", file=sys.stderr)
                self.warned = True
        self.last = self.clock()


class OnGeneration(Callbacks):
    """Calls the user's ``on_generation(run)`` after each generation."""

    def __init__(self, fn: Callable[[Run], None]) -> None:
        self.fn = fn

    def generation_end(self, run: Run) -> None:
        self.fn(run)


class Many(Callbacks):
    """Several callbacks as one; a generation's :class:`Run` is read once for all of them."""

    def __init__(self, callbacks: list[Callbacks]) -> None:
        self.callbacks = callbacks

    def start(self, generations: int | None, first: int, stop: Stopper | None = None) -> None:
        for c in self.callbacks:
            c.start(generations, first, stop)

    def generation_start(self, g: int, trials: int, best: float | None) -> None:
        for c in self.callbacks:
            c.generation_start(g, trials, best)

    def result(self, res: Result) -> None:
        for c in self.callbacks:
            c.result(res)

    def generation_end(self, run: Run) -> None:
        for c in self.callbacks:
            c.generation_end(run)

    def close(self) -> None:
        for c in self.callbacks:
            c.close()

    @property
    def wants_run(self) -> bool:
        return any(type(c).generation_end is not Callbacks.generation_end for c in self.callbacks)
