from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any


@dataclass
class Task:
    """One genome to evaluate."""

    trial_id: int
    genome: dict[str, Any]
    key: str
    seed: int


@dataclass
class Result:
    """What an evaluation gave. ``status``: ok | timeout | failed | killed."""

    trial_id: int
    status: str
    fitness: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    started: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Executor(ABC):
    """Submit tasks, receive results as they finish (in any order)."""

    @abstractmethod
    def run(self, tasks: Iterable[Task]) -> Iterator[Result]:
        """Evaluate ``tasks``; yield one Result per task as each finishes."""

    def close(self, cancel: bool = False) -> None:
        """Release workers; ``cancel`` stops work in flight at once."""
        return None  # noqa: B027 - executors without resources need not override it

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close(cancel=exc_type is not None)


class ExecutorLost(RuntimeError):
    """The workers went away mid-run (a cluster scheduler died); finished trials are stored: resume."""
