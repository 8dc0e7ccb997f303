from __future__ import annotations

import multiprocessing as mp
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any

from natsel._child import Child
from natsel._errors import EXIT_UNGUARDED, UNGUARDED_MESSAGE, WorkerStartError
from natsel.executors._base import Executor, Result, Task

#: A worker that dies this many times in a row before it is ready stops the run.
MAX_START_FAILURES = 3


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class _Worker:
    def __init__(self, index: int, child: Child) -> None:
        self.index = index
        self.child = child
        self.proc = child.proc
        self.conn: Connection = child.conn
        self.ready = False
        self.task: Task | None = None
        self.started = 0.0
        self.done = 0


class LocalPool(Executor):
    """Persistent worker processes on this machine (spawn start method).

    * each worker builds the objective once (TensorFlow is imported there, not here) and
      receives ``payload`` (the data) once, when it starts;
    * a worker is recycled after ``max_trials_per_worker`` trials, which bounds its memory;
    * a worker that dies (exception outside the objective, ``os._exit``, a signal, out of
      memory) is replaced and its trial tried again on a fresh worker, up to ``retries`` times (a
      death may be the machine's, not the trial's: memory another process took), then reported
      ``failed`` with the reason;
    * a trial running longer than ``hard_limit`` seconds has its worker killed (``killed``);
    * ``env(i)`` gives extra environment variables for worker slot ``i`` (e.g. GPU pinning).
    """

    def __init__(
        self,
        objective: dict[str, Any],
        payload: Any = None,
        workers: int = 1,
        hard_limit: float | None = None,
        max_trials_per_worker: int = 50,
        env: Callable[[int], dict[str, str]] | None = None,
        start_method: str = "spawn",
        retries: int = 0,
    ) -> None:
        if workers < 1:
            raise ValueError("a LocalPool needs at least one worker")
        self.objective = objective
        self.payload = payload
        self.n = workers
        self.hard_limit = hard_limit
        self.max_trials = max_trials_per_worker
        self.env = env or (lambda i: {})
        self.ctx = mp.get_context(start_method)
        self.workers: list[_Worker] = []
        self._retired: list[Any] = []
        self._start_failures = 0
        self.spawned = 0
        self.retries = retries
        self._deaths: dict[int, int] = {}  # trial id -> how many workers died running it
        self._queue: deque[Task] | None = None

    # -- worker lifecycle -------------------------------------------------------------------
    def _free_index(self) -> int:
        used = {w.index for w in self.workers}
        return next(i for i in range(self.n) if i not in used)

    def _spawn(self) -> None:
        from natsel._worker import worker_main

        index = self._free_index()
        init = {"objective": self.objective, "env": self.env(index)}  # small: the data follows the hello
        self.workers.append(_Worker(index, Child(self.ctx, worker_main, init, f"natsel-worker-{index}")))
        self.spawned += 1

    def _remove(self, w: _Worker, kill: bool = False) -> None:
        self.workers.remove(w)
        if kill and w.proc.is_alive():
            w.proc.kill()
        w.conn.close()
        self._retired.append(w.proc)
        self._reap()

    def _reap(self) -> None:
        """Join retired workers that have exited (no zombies); keep the ones still shutting down."""
        still = []
        for p in self._retired:
            if p.is_alive():
                still.append(p)
            else:
                p.join(0)
        self._retired = still

    def _retire(self, w: _Worker) -> None:
        w.child.send(("stop",))
        self._remove(w)

    @property
    def pids(self) -> list[int]:
        return [w.proc.pid for w in self.workers]

    # -- running ----------------------------------------------------------------------------
    @property
    def slots(self) -> int:
        return self.n

    def run(self, tasks: Iterable[Task]) -> Iterator[Result]:
        queue = tasks if isinstance(tasks, deque) else deque(tasks)
        self._queue = queue
        while queue or any(w.task is not None for w in self.workers):
            busy = sum(w.task is not None for w in self.workers)
            while len(self.workers) < min(self.n, len(queue) + busy):
                self._spawn()
            for w in self.workers:
                if w.ready and w.task is None and queue:
                    w.task, w.started = queue.popleft(), time.monotonic()
                    w.conn.send(("task", w.task))
            yield from self._poll()

    def _poll(self) -> Iterator[Result]:
        timeout = 1.0
        now = time.monotonic()
        if self.hard_limit is not None:
            for w in self.workers:
                if w.task is not None:
                    timeout = min(timeout, max(0.0, w.started + self.hard_limit - now))
        by_obj: dict[Any, _Worker] = {}
        for w in self.workers:
            by_obj[w.conn] = w
            by_obj[w.proc.sentinel] = w
        ready = wait(list(by_obj), timeout)
        seen: set[int] = set()
        for obj in ready:
            w = by_obj[obj]
            if id(w) in seen or w not in self.workers:
                continue
            seen.add(id(w))
            msg = None
            if w.conn.poll():
                try:
                    msg = w.conn.recv()
                except (EOFError, OSError):
                    msg = None
            if msg is None:
                w.proc.join(1.0)
                yield from self._died(w)
            elif msg[0] == "hello":
                w.child.answer_hello(self.payload)  # a child that died meanwhile shows on the next poll
            elif msg[0] == "ready":
                w.ready = True
                self._start_failures = 0
            elif msg[0] == "init_error":
                self.close(cancel=True)
                raise WorkerStartError(f"worker could not start: {msg[1]}")
            elif msg[0] == "result":
                result: Result = msg[1]
                w.task = None
                w.done += 1
                if w.done >= self.max_trials:
                    self._retire(w)
                yield result
        if self.hard_limit is not None:
            now = time.monotonic()
            for w in list(self.workers):
                if w.task is not None and now - w.started > self.hard_limit:
                    task, started = w.task, w.started
                    self._remove(w, kill=True)
                    yield Result(task.trial_id, "killed", seconds=now - started,
                                 error=f"worker killed after the hard limit of {self.hard_limit:g}s")

    def _died(self, w: _Worker) -> Iterator[Result]:
        task, started = w.task, w.started
        self._remove(w, kill=True)
        reason = describe_exit(w.proc.exitcode)
        if not w.ready:
            if w.proc.exitcode == EXIT_UNGUARDED:
                self.close(cancel=True)
                raise WorkerStartError(UNGUARDED_MESSAGE)
            self._start_failures += 1
            if self._start_failures >= MAX_START_FAILURES:
                self.close(cancel=True)
                raise WorkerStartError(f"workers keep dying before they are ready ({reason}); if natsel is called "
                                       "from a script, guard the call with: if __name__ == '__main__':")
        if task is not None:
            deaths = self._deaths[task.trial_id] = self._deaths.get(task.trial_id, 0) + 1
            if deaths <= self.retries and self._queue is not None:
                self._queue.appendleft(task)  # once more, on a fresh worker
                return
            times = f" ({deaths} times)" if deaths > 1 else ""
            yield Result(task.trial_id, "failed", seconds=time.monotonic() - started,
                         error=f"worker died: {reason}{times}")

    def close(self, cancel: bool = False) -> None:
        for w in list(self.workers):
            if cancel:
                w.proc.terminate()
            else:
                w.child.send(("stop",))
        procs = [w.proc for w in self.workers] + self._retired
        deadline = time.monotonic() + (2.0 if cancel else 5.0)
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(2.0)
        for w in self.workers:
            w.conn.close()
        self.workers = []
        self._retired = []
