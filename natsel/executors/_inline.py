from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from natsel._objective import build_objective
from natsel.executors._base import Executor, Result, Task


class InlineExecutor(Executor):
    """Runs a plain-Python objective in this process, one task at a time (``workers: 0``).

    No time limit can be enforced in-process; use worker processes for that.
    """

    def __init__(self, objective: dict[str, Any], payload: Any = None) -> None:
        if objective["kind"] != "python":
            raise ValueError("the inline executor runs plain-Python fitness functions only")
        self._objective = build_objective(objective, payload)

    def run(self, tasks: Iterable[Task]) -> Iterator[Result]:
        for task in tasks:
            yield self._objective(task)
