from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from types import TracebackType

from natsel._trial import Result, Task


class Executor(ABC):
    """Submit tasks, receive results as they finish (in any order)."""

    @abstractmethod
    def run(self, tasks: Iterable[Task]) -> Iterator[Result]:
        """Evaluate ``tasks``; yield one Result per task as each finishes.

        A ``collections.deque`` is read as work comes free rather than all at once, so the caller
        may append tasks to it after each result (the steady-state schedule does)."""

    @property
    def slots(self) -> int:
        """How many tasks run at once."""
        return 1

    def close(self, cancel: bool = False) -> None:
        """Release workers; ``cancel`` stops work in flight at once."""
        return None  # noqa: B027 - executors without resources need not override it

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close(cancel=exc_type is not None)


__all__ = ["Executor", "ExecutorLost", "Result", "Task"]


class ExecutorLost(RuntimeError):
    """The workers went away mid-run (a cluster scheduler died); finished trials are stored: resume."""
