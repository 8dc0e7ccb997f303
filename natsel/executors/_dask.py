"""Trials on a Dask cluster (``pip install natsel[dask]``).

* Every run is its own on a shared cluster: its data is scattered under a key made of the data's
  content hash and the run's own id (never a name another run could also use), and a worker keeps
  the objective it built for a run only under that run's id, dropped again when the run ends.
* The data is replicated to every worker at the start; Dask's memory manager may trim the copies
  to one, so a run whose data was lost with its worker scatters it again from the parent and
  resubmits the trials that waited on it.
* Before the first trial, every worker imports the run's user modules (``client.run``) and reports
  their source hash: a worker that cannot, or holds another version, stops the run before it starts
  (one line naming the worker). A worker that joins later and cannot build the objective stops the
  run as well, instead of failing trial after trial.
* Each worker process runs one trial at a time; the Keras session is cleared after every trial;
  TensorFlow threads are set from the config.
* ``gpu: true`` makes every trial ask for one ``GPU`` resource (``dask worker --resources GPU=1``);
  a cluster where no worker offers one is refused at once.
* A worker that dies mid-trial: Dask moves its task to another worker (the scheduler's
  ``distributed.scheduler.allowed-failures``, 3 by default); if the task is still lost
  (``KilledWorker``), natsel resubmits it up to ``retries`` times, then records it ``failed``.
* The scheduler going away stops the run with :class:`ExecutorLost`; everything finished is stored
  and ``--resume`` continues later.

The parent stays the only writer of the run store: workers only return results.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import sys
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from natsel._errors import NatselError, WorkerStartError
from natsel.executors._base import Executor, ExecutorLost, Result, Task

_LOCK = threading.Lock()
#: the objectives this worker process built, by ``(run id, spec hash)``, newest last; a run's are
#: dropped when it ends (:func:`forget_run`), and at most a few are kept for runs that never said so
_OBJECTIVES: OrderedDict[tuple[str, str], Any] = OrderedDict()
KEEP_OBJECTIVES = 2  # two runs sharing a cluster do not rebuild on every trial
#: how often one run scatters its data again after losing it, before it gives up
MAX_RESCATTERS = 5


class ObjectiveBuildError(Exception):
    """Raised on a worker that cannot build a run's objective (its user module does not import, or
    is another version than the run's): the run stops with this one line instead of failing trials."""


def _spec_hash(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def _worker_name() -> str:
    try:
        from distributed import get_worker

        w = get_worker()
        return f"{w.name} ({w.address})" if str(w.name) != w.address else str(w.address)
    except Exception:  # noqa: BLE001 - not on a worker (a test calling run_trial directly)
        return "this process"


def run_trial(spec: dict[str, Any], payload: Any, task: Task, run: str = "") -> Result:
    """Runs on a Dask worker: build the run's objective once per worker process, then score ``task``."""
    from natsel._trial import error_line
    from natsel.objectives import build_objective

    key = (run, _spec_hash(spec))
    with _LOCK:  # one trial at a time per worker process: TensorFlow sessions are process-wide
        objective = _OBJECTIVES.get(key)
        if objective is None:
            while len(_OBJECTIVES) >= KEEP_OBJECTIVES:
                _OBJECTIVES.popitem(last=False)
            try:
                objective = build_objective(spec, payload)
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported to the parent, which stops the run
                raise ObjectiveBuildError(f"Dask worker {_worker_name()} cannot build the objective: "
                                          f"{error_line(exc)}") from None
            _OBJECTIVES[key] = objective
        _OBJECTIVES.move_to_end(key)
        try:
            return objective(task)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a failing objective fails its trial, never the worker
            return Result(task.trial_id, "failed", error=error_line(exc))


def forget_run(run: str) -> int:
    """Runs on every worker when a run ends: drop the objectives (and with them the data) it built."""
    with _LOCK:
        keys = [k for k in _OBJECTIVES if k[0] == run]
        for k in keys:
            del _OBJECTIVES[k]
    return len(keys)


def user_modules(spec: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """``(module:function, base_dir, source hash)`` of the user code a worker imports to build ``spec``."""
    base = str(spec.get("base_dir") or ".")
    refs: list[tuple[str, str, str | None]] = []
    if spec.get("kind") == "python" and spec.get("ref"):
        refs.append((str(spec["ref"]), base, spec.get("sha256") or None))
    if spec.get("model"):
        refs.append((str(spec["model"]), base, spec.get("model_sha256") or None))
    return refs


def check_worker(spec: dict[str, Any]) -> str | None:
    """Runs on every worker before a run's first trial: import its user modules as a trial would,
    at the run's source hash. None when they do, else what went wrong (one line)."""
    import importlib

    from natsel._imports import resolve_callable
    from natsel.objectives import get

    for p in spec.get("sys_path", []):
        if p not in sys.path:
            sys.path.append(p)  # importable; first only while resolve_callable imports from it
    try:
        try:
            get(str(spec["kind"]))
        except KeyError:
            importlib.import_module(str(spec.get("module")))  # a family registered outside natsel
        for ref, base, sha in user_modules(spec):
            resolve_callable(ref, Path(base), expect=sha)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported to the parent
        from natsel._trial import error_line

        return error_line(exc)
    return None


class DaskExecutor(Executor):
    def __init__(self, scheduler: str, objective: dict[str, Any], payload: Any = None, retries: int = 2,
                 gpu: bool = False, hard_limit: float | None = None, connect_timeout: float = 20.0,
                 security: Any = None) -> None:
        """``security``: a :class:`~natsel._config.TLSSettings` or a ``distributed.security.Security``
        for a ``tls://`` scheduler; None leaves it to Dask's own config.

        Connects, waits (up to ``connect_timeout``) for a worker, and checks every worker before any
        run folder is written: a problem is a :class:`NatselError` (one line, exit code 2)."""
        try:
            from distributed import Client
        except ImportError:
            raise NatselError("the Dask executor needs dask[distributed]: pip install 'natsel[dask]'") from None
        from natsel.executors._tls import client_security, plaintext_warning, refusal

        self.scheduler = scheduler
        warning = plaintext_warning(scheduler)
        if warning:
            print(warning, file=sys.stderr)
        try:
            self.client = Client(scheduler, timeout=connect_timeout, set_as_default=False,
                                 security=client_security(security))
        except (OSError, TimeoutError) as exc:
            text = f"{exc.__class__.__name__}: {' '.join(str(exc).split()) or 'no answer'}"
            raise NatselError(refusal(scheduler, text, security)
                              or f"cannot reach the Dask scheduler at {scheduler}: {text}") from None
        self.objective = objective
        self.retries = retries
        self.resources = {"GPU": 1} if gpu else None
        self.hard_limit = hard_limit  # not enforced on Dask: the per-network limit is the soft one
        #: this run on the cluster: its data key and its objectives on the workers carry it
        self.run_id = uuid.uuid4().hex[:12]
        self._payload = payload
        self._payload_future: Any = None
        self._scatters = 0
        try:
            self._check_cluster(connect_timeout)
        except BaseException:
            self.close()
            raise

    def _check_cluster(self, timeout: float) -> None:
        """Refuse a cluster that cannot run this run's trials, before the first one is sent."""
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise NatselError(f"no Dask worker is connected to the scheduler at {self.scheduler} "
                              f"(waited {timeout:g} s: executor.timeout)") from None
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        if self.resources and not any(float((w.get("resources") or {}).get("GPU", 0)) >= 1 for w in workers.values()):
            raise NatselError(f"executor.gpu: true, but none of the {len(workers)} Dask workers at {self.scheduler} "
                              "offers a GPU resource; start GPU workers with 'dask worker ... --resources GPU=1' "
                              "(see docs/dask.md), or set gpu: false")
        problems = self.client.run(check_worker, self.objective, on_error="return")
        for address, problem in sorted(problems.items()):
            if isinstance(problem, BaseException):
                problem = f"{problem.__class__.__name__}: {problem}"
            if problem:
                name = workers.get(address, {}).get("name", address)
                who = f"{name} ({address})" if str(name) != address else address
                raise WorkerStartError(f"Dask worker {who} cannot run this run's trials: {problem}")

    def _data_key(self) -> str:
        content = self.objective.get("data") or hashlib.sha256(
            pickle.dumps(self._payload, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()[:16]
        return f"natsel-data-{content}-{self.run_id}-{self._scatters}"

    def _data(self) -> Any:
        """The run's data on the cluster (None stays None); scattered again when it was lost."""
        if self._payload is None:
            return None
        if self._payload_future is None:
            if self._scatters > MAX_RESCATTERS:
                raise ExecutorLost(f"the run's data was lost from the Dask workers at {self.scheduler} "
                                   f"{self._scatters} times")
            key = self._data_key()
            self._scatters += 1
            # one key for the whole payload (a dict would scatter each of its values under its own key)
            self._payload_future = self.client.scatter({key: self._payload}, broadcast=True, hash=False)[key]
        return self._payload_future

    def _data_lost(self, fut: Any) -> bool:
        """The data future ``fut`` is gone from the cluster (its last copy went with a worker)."""
        if fut is None:
            return False
        if fut.status in ("cancelled", "lost", "error"):
            return True
        try:
            return not self.client.who_has([fut]).get(fut.key)
        except Exception:  # noqa: BLE001 - a scheduler that cannot answer: not a data loss
            return False

    def _submit(self, task: Task, attempt: int) -> tuple[Any, Any]:
        """The trial's future, and the data future it was given."""
        data = self._data()
        return self.client.submit(run_trial, self.objective, data, task, self.run_id, pure=False,
                                  key=f"natsel-trial-{self.run_id}-{task.trial_id}-{attempt}-{time.time_ns()}",
                                  resources=self.resources), data

    @property
    def slots(self) -> int:
        """Dask workers (each runs one trial at a time: TensorFlow sessions are process-wide)."""
        try:
            return max(1, len(self.client.nthreads()))
        except Exception:  # noqa: BLE001 - a scheduler that cannot answer: one at a time until it can
            return 1

    def run(self, tasks: Iterable[Task]) -> Iterator[Result]:
        from distributed import as_completed
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        pending: dict[Any, tuple[Task, int, Any]] = {}
        queue = tasks if isinstance(tasks, deque) else deque(tasks)
        try:
            ac = as_completed([], loop=self.client.loop)

            def submit(task: Task, attempt: int) -> None:
                fut, data = self._submit(task, attempt)
                pending[fut] = (task, attempt, data)
                ac.add(fut)

            def submit_queued() -> None:  # tasks the caller appended meanwhile (steady state) go out too
                while queue:
                    submit(queue.popleft(), 0)

            submit_queued()
            for fut in ac:
                task, attempt, data = pending.pop(fut)
                try:
                    yield fut.result()
                except KilledWorker:
                    if attempt < self.retries:
                        submit(task, attempt + 1)
                    else:
                        yield Result(task.trial_id, "failed",
                                     error=f"lost with its Dask worker {attempt + 1} times (retries: {self.retries})")
                except ObjectiveBuildError as exc:
                    raise WorkerStartError(str(exc)) from None
                except FutureCancelledError:
                    if self.client.status != "running" or data is None:
                        raise
                    if data is self._payload_future:  # the first trial to find the data gone
                        if not self._data_lost(data):
                            raise
                        self._payload_future = None  # scattered again (from this process) by the next submit
                    submit(task, attempt)  # cancelled with its data, not lost with a worker: the same attempt
                submit_queued()
        except (OSError, TimeoutError) as exc:
            raise ExecutorLost(f"lost the Dask scheduler at {self.scheduler} ({exc.__class__.__name__})") from None
        except (NatselError, ExecutorLost):
            raise
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
        """Drop this run's objectives and data on the workers and disconnect. Trials already running
        on a worker finish there (a Dask task cannot be interrupted) and their results are discarded."""
        try:
            if self.client.status == "running":
                self.client.run(forget_run, self.run_id, on_error="ignore")
        except Exception:  # noqa: BLE001 - a scheduler that is gone has nothing left to forget
            pass
        try:
            self.client.close(timeout=5)
        except Exception:  # noqa: BLE001 - closing a client whose scheduler is gone may fail; nothing to keep
            pass
