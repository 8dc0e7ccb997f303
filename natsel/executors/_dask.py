"""Trials on a Dask cluster (``pip install natsel[dask]``).

* The data is scattered once and replicated to every worker (``broadcast=True``); each task gets a
  reference to the worker's local copy, never the arrays themselves.
* Each worker process builds the objective once (TensorFlow is imported there) and keeps it; the
  Keras session is cleared after every trial; TensorFlow threads are set from the config.
* ``gpu: true`` makes every trial ask for one ``GPU`` resource (``dask worker --resources GPU=1``).
* A worker that dies mid-trial: Dask moves its task to another worker (the scheduler's
  ``distributed.scheduler.allowed-failures``, 3 by default); if the task is still lost
  (``KilledWorker``), natsel resubmits it up to ``retries`` times, then records it ``failed``.
* The scheduler going away stops the run with :class:`ExecutorLost`; everything finished is stored
  and ``--resume`` continues later.

The parent stays the only writer of the run store: workers only return results.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from typing import Any

from natsel._errors import NatselError
from natsel.executors._base import Executor, ExecutorLost, Result, Task

_LOCK = threading.Lock()
#: the objectives this worker process built, newest last; only the most recent few are kept (each
#: holds its run's data: a worker that served many runs must not hold them all for its life)
_OBJECTIVES: OrderedDict[str, Any] = OrderedDict()
KEEP_OBJECTIVES = 2  # two runs sharing a cluster do not rebuild on every trial


def run_trial(spec: dict[str, Any], payload: Any, task: Task) -> Result:
    """Runs on a Dask worker: build the objective once per worker process, then score ``task``."""
    import hashlib
    import json

    from natsel._trial import error_line
    from natsel.objectives import build_objective

    key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()
    with _LOCK:  # one trial at a time per worker process: TensorFlow sessions are process-wide
        try:
            objective = _OBJECTIVES.get(key)
            if objective is None:
                while len(_OBJECTIVES) >= KEEP_OBJECTIVES:
                    _OBJECTIVES.popitem(last=False)
                objective = _OBJECTIVES[key] = build_objective(spec, payload)
            _OBJECTIVES.move_to_end(key)
            return objective(task)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a failing objective fails its trial, never the worker
            return Result(task.trial_id, "failed", error=error_line(exc))


class DaskExecutor(Executor):
    def __init__(self, scheduler: str, objective: dict[str, Any], payload: Any = None, retries: int = 2,
                 gpu: bool = False, hard_limit: float | None = None, connect_timeout: float = 20.0,
                 security: Any = None) -> None:
        """``security``: a :class:`~natsel._config.TLSSettings` or a ``distributed.security.Security``
        for a ``tls://`` scheduler; None leaves it to Dask's own config."""
        try:
            from distributed import Client
        except ImportError:
            raise NatselError("the Dask executor needs dask[distributed]: pip install 'natsel[dask]'") from None
        from natsel.executors._tls import client_security, plaintext_warning

        self.scheduler = scheduler
        warning = plaintext_warning(scheduler)
        if warning:
            print(warning, file=sys.stderr)
        try:
            self.client = Client(scheduler, timeout=connect_timeout, set_as_default=False,
                                 security=client_security(security))
        except (OSError, TimeoutError) as exc:
            raise NatselError(f"cannot reach the Dask scheduler at {scheduler}: "
                              f"{exc.__class__.__name__}: {' '.join(str(exc).split()) or 'no answer'}") from None
        self.objective = objective
        self.retries = retries
        self.resources = {"GPU": 1} if gpu else None
        self.hard_limit = hard_limit  # not enforced on Dask: the per-network limit is the soft one
        self._payload = payload
        self._payload_future: Any = None

    def _data(self) -> Any:
        if self._payload_future is None:
            self._payload_future = self.client.scatter(self._payload, broadcast=True, hash=False)
        return self._payload_future

    def _submit(self, task: Task, attempt: int) -> Any:
        return self.client.submit(run_trial, self.objective, self._data(), task, pure=False,
                                  key=f"natsel-trial-{task.trial_id}-{attempt}-{time.time_ns()}",
                                  resources=self.resources)

    @property
    def slots(self) -> int:
        """Dask workers (each runs one trial at a time: TensorFlow sessions are process-wide)."""
        try:
            return max(1, len(self.client.nthreads()))
        except Exception:  # noqa: BLE001 - a scheduler that cannot answer: one at a time until it can
            return 1

    def run(self, tasks: Iterable[Task]) -> Iterator[Result]:
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        pending = {}
        queue = tasks if isinstance(tasks, deque) else deque(tasks)
        try:
            ac = as_completed([], loop=self.client.loop)

            def submit_queued() -> None:  # tasks the caller appended meanwhile (steady state) go out too
                while queue:
                    task = queue.popleft()
                    fut = self._submit(task, 0)
                    pending[fut] = (task, 0)
                    ac.add(fut)

            submit_queued()
            for fut in ac:
                task, attempt = pending.pop(fut)
                try:
                    yield fut.result()
                except KilledWorker:
                    if attempt < self.retries:
                        new = self._submit(task, attempt + 1)
                        pending[new] = (task, attempt + 1)
                        ac.add(new)
                    else:
                        yield Result(task.trial_id, "failed",
                                     error=f"lost with its Dask worker {attempt + 1} times (retries: {self.retries})")
                submit_queued()
        except (OSError, TimeoutError) as exc:
            raise ExecutorLost(f"lost the Dask scheduler at {self.scheduler} ({exc.__class__.__name__})") from None
        except Exception as exc:
            if self.client.status not in ("running", "connecting"):
                raise ExecutorLost(f"lost the Dask scheduler at {self.scheduler}") from None
            if exc.__class__.__name__ in ("CancelledError", "CommClosedError", "FutureCancelledError"):
                raise ExecutorLost(f"lost the Dask scheduler at {self.scheduler} ({exc.__class__.__name__})") from None
            raise
        finally:
            for fut in pending:
                fut.cancel()

    def close(self, cancel: bool = False) -> None:
        try:
            self.client.close(timeout=5)
        except Exception:  # noqa: BLE001 - closing a client whose scheduler is gone may fail; nothing to keep
            pass
