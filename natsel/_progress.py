"""What a running search shows: progress bars, and the fitness plot redrawn after each generation.

Both are callbacks of the evolution loop (:class:`Callbacks`), so the loop itself neither prints nor
draws; the library API turns them off with ``progress=False`` / ``plots=False``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from natsel._run import Run
from natsel._trial import Direction, Result


class Callbacks:
    """Hooks the loop calls; the default does nothing."""

    def start(self, generations: int, first: int) -> None:
        """Before the first generation this call runs (``first`` of ``generations``)."""

    def generation_start(self, g: int, trials: int, best: float | None) -> None:
        """Generation ``g`` dispatches ``trials`` evaluations; ``best`` so far (None: none yet)."""

    def result(self, res: Result) -> None:
        """One evaluation finished."""

    def generation_end(self, run: Run) -> None:
        """Generation finished and its summaries are written."""

    def close(self) -> None:
        """The loop ended (normally or not)."""


class Bars(Callbacks):
    """tqdm bars for generations and for the trials of one generation, with the best so far."""

    def __init__(self, direction: Direction) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.direction = direction
        self.gen: Any = None
        self.bar: Any = None
        self.best: float | None = None

    def start(self, generations: int, first: int) -> None:
        self.gen = self._tqdm(total=generations, initial=min(first, generations), desc="generations", unit="gen",
                              position=0, dynamic_ncols=True, file=sys.stderr)

    def generation_start(self, g: int, trials: int, best: float | None) -> None:
        self.best = best
        self.bar = self._tqdm(total=trials, desc=f"gen {g} trials", unit="trial", position=1, leave=False,
                              dynamic_ncols=True, file=sys.stderr)
        self._postfix()

    def result(self, res: Result) -> None:
        if self.direction.better(res.fitness, self.best):
            self.best = res.fitness
        if self.bar is not None:
            self.bar.update(1)
            self._postfix()

    def _postfix(self) -> None:
        if self.bar is not None and self.best is not None:
            self.bar.set_postfix(best=f"{self.best:.4g}")

    def generation_end(self, run: Run) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.gen is not None:
            self.gen.update(1)

    def close(self) -> None:
        for b in (self.bar, self.gen):
            if b is not None:
                b.close()


class FitnessPlot(Callbacks):
    """Redraws ``plots/fitness.png``; a plotting problem is reported once and never stops the search."""

    def __init__(self) -> None:
        self.warned = False

    def generation_end(self, run: Run) -> None:
        from natsel._plot import write_fitness_plot

        try:
            write_fitness_plot(run)
        except Exception as exc:  # noqa: BLE001 - plotting must not cost the user their search
            if not self.warned:
                print(f"natsel: could not draw the fitness plot: {exc}", file=sys.stderr)
                self.warned = True


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

    def start(self, generations: int, first: int) -> None:
        for c in self.callbacks:
            c.start(generations, first)

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
