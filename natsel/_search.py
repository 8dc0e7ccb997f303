"""Ask and tell: natsel plans, the user evaluates (in their own training loop), natsel records.

``search = natsel.Search(cfg)``; ``genomes = search.ask()``; ``search.tell(genome, value)``. It is
:func:`natsel.evolve` with the user as the executor: the same loop (``_evolve.Loop``), strategies,
stop rules, store, shared cache and resume, so it plans the same trials as ``evolve`` with the same
seed (in slot order: ``ask`` hands them out as one worker would get them; the order they are told
in does not matter, as for any executor). The loop runs in a thread of its own (the run store is
written from that thread only); ``ask`` waits until it has planned what comes next.
"""

from __future__ import annotations

import math
import queue
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from natsel._config import config_with
from natsel._errors import NatselError
from natsel._run import Run
from natsel._settings import Config
from natsel._space import genome_key
from natsel._trial import Result, Status, Task, split_fitness
from natsel.executors._base import Executor, ExecutorLost
from natsel.objectives import ObjectiveFamily, Prepared, register

#: the objective of an ask/tell search: values come from the user's tell()
TOLD = "told"


@register
class ToldFamily(ObjectiveFamily):
    """Scores are told by the user (:class:`Search`); nothing is evaluated by natsel itself."""

    name = TOLD
    sections = frozenset()
    selector = None
    inline = True
    maximize = True

    @classmethod
    def validate(cls, cfg: Config, v: Any) -> None:
        if "pruning" in cfg.raw or "fidelity" in cfg.raw:
            key = "pruning" if "pruning" in cfg.raw else "fidelity"
            raise v.err((key,), f"{key}: needs natsel to run the training; an ask/tell search only gets your values")

    @classmethod
    def prepare(cls, cfg: Config) -> Prepared:
        # a shared cache serves told values to searches of the same name (and seed): one objective per name
        return Prepared({"kind": cls.name, "module": cls.__module__}, identity={"told": cfg.name},
                        meta={"metric": "fitness"})

    @staticmethod
    def build(spec: Mapping[str, Any], payload: Any = None) -> Any:
        raise NatselError("an ask/tell search is evaluated by its caller (Search.tell), not by natsel")


class SearchClosed(ExecutorLost):
    """The caller closed an ask/tell search before it ended: the run is kept, resumable."""


class _Told(Executor):
    """The executor an ask/tell search runs the loop with: tasks go to ``ask``, results come from ``tell``."""

    def __init__(self) -> None:
        self.handed: queue.Queue[tuple[str, Any]] = queue.Queue()  # loop -> caller: tasks, done, error
        self.told: queue.Queue[Result | None] = queue.Queue()  # caller -> loop: results (None: closed)

    def run(self, tasks: Iterable[Task]) -> Iterator[Result]:
        pending = tasks if isinstance(tasks, deque) else deque(tasks)
        running: set[int] = set()
        while True:
            batch = []
            while pending:  # a stop rule's gate empties it: those trials stay planned
                batch.append(pending.popleft())
            if batch:
                running.update(t.trial_id for t in batch)
                self.handed.put(("tasks", batch))
            if not running:
                return
            res = self.told.get()
            if res is None:
                raise SearchClosed("the ask/tell search was closed; finished trials are saved (resume=True continues)")
            running.discard(res.trial_id)
            yield res


def _result(task: Task, value: Any, error: str | None, named: list[str] | None = None) -> Result:
    """A told value as a result: a number, or a mapping with ``fitness`` (the rest are metrics); with
    several objectives, a mapping of their names."""
    if error is not None or value is None:
        return Result(task.trial_id, Status.FAILED, error=error or "told no value")
    fitness, metrics = split_fitness(value, "a told value", named=named or ())
    if not math.isfinite(fitness):
        return Result(task.trial_id, Status.FAILED, error=f"fitness is {fitness}")
    return Result(task.trial_id, Status.OK, fitness, metrics, 0.0)


class Search:
    """An ask/tell search: ``ask()`` the genomes to evaluate, ``tell(genome, value)`` each score.

    ``config``: a Config, a mapping or a YAML path; its ``fitness:``/``data:`` are not used. The run
    folder, stop rules, shared cache and resume are those of :func:`natsel.evolve`::

        search = natsel.Search({"space": {...}, "stop": {"max_trials": 50}})
        while genomes := search.ask():
            for genome in genomes:
                search.tell(genome, my_training(genome))
        search.run.best
    """

    def __init__(self, config: Config | Mapping[str, Any] | str | Path, run_dir: str | Path | None = None, *,
                 resume: bool = False, runs_root: str | Path = "runs", plots: bool = False) -> None:
        from natsel._evolve import evolve

        self.cfg = config_with(config, fitness=None, data=None, objective=TOLD, workers=None)
        self._ex = _Told()
        self._open: dict[int, Task] = {}  # handed out, not told yet
        self.run: Run | None = None  # the finished run, once the search ended
        self._error: BaseException | None = None

        def main() -> None:
            try:
                run = evolve(self.cfg, run_dir, resume=resume, progress=False, runs_root=runs_root,
                             executor=self._ex, plots=plots)
                self._ex.handed.put(("done", run))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's next ask()
                self._ex.handed.put(("error", exc))

        self._thread = threading.Thread(target=main, name="natsel-search", daemon=True)
        self._thread.start()

    @property
    def done(self) -> bool:
        """The search ended (a stop rule, or the space exhausted); ``run`` holds it."""
        return self.run is not None

    def ask(self) -> list[dict[str, Any]]:
        """The genomes to evaluate now (a generation, or what is left of it untold); [] once the search
        has ended. Each is the genome the objective would get (active genes only)."""
        if self._open:
            return [t.genome.copy() for t in self._open.values()]
        if self.run is not None:
            return []
        kind, what = self._ex.handed.get()
        if kind == "error":
            self.run = None
            self._thread.join()
            raise what
        if kind == "done":
            self.run = what
            self._thread.join()
            return []
        self._open = {t.trial_id: t for t in what}
        return [t.genome.copy() for t in what]

    def tell(self, genome: Mapping[str, Any], value: float | Mapping[str, Any] | None = None, *,
             error: str | None = None) -> None:
        """Record the score of a genome ``ask`` returned: a number, or ``{"fitness": x, <metric>: ...}``;
        ``error`` (or no value) records it as failed."""
        key = genome_key(dict(genome))
        task = next((t for t in self._open.values() if genome_key(t.genome) == key), None)
        if task is None:
            raise ValueError(f"tell(): {key} is not a genome ask() returned and no value was told for yet")
        res = _result(task, value, error, self.cfg.goal.names if self.cfg.goal.multi else None)
        del self._open[task.trial_id]
        self._ex.told.put(res)

    def close(self) -> None:
        """Stop an unfinished search: finished trials are kept, ``resume=True`` continues it."""
        if self._thread.is_alive():
            self._ex.told.put(None)
            self._thread.join()
        self._open = {}

    def __enter__(self) -> Search:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


__all__ = ["Search", "SearchClosed", "ToldFamily"]
