from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from natsel._trial import error_line
from natsel.executors._base import Executor, Result, Task
from natsel.objectives import build_objective, get


class InlineExecutor(Executor):
    """Runs an objective in this process, one task at a time (``workers: 0``).

    Only families that allow it (``inline``: never TensorFlow, which stays out of the parent).

    No time limit can be enforced in-process; use worker processes for that.
    """

    def __init__(self, objective: dict[str, Any], payload: Any = None) -> None:
        if not get(objective["kind"]).inline:
            raise ValueError(f"the {objective['kind']} objective cannot run in this process (workers: 0)")
        self._objective = build_objective(objective, payload)

    def run(self, tasks: Iterable[Task]) -> Iterator[Result]:
        queue = tasks if isinstance(tasks, deque) else deque(tasks)
        while queue:
            task = queue.popleft()
            try:
                result = self._objective(task)
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - sys.exit() in a fitness fails its trial, as in a worker
                result = Result(task.trial_id, "failed", error=error_line(exc))
            yield result
