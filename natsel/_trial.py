"""What a trial is: its identity, the task a worker gets, the result it sends back, its status.

One definition of each meaning, imported by strategies, objectives, executors, the store and the
plots alike. Pure Python: nothing here imports TensorFlow.

* A trial is one slot of one generation. Its **evaluation identity** is ``(genome key, budget)``:
  the same genome trained with another budget (fewer epochs, say) is another evaluation, and the
  cache never serves one for the other. ``FULL_BUDGET`` is the budget of a plain trial.
* :class:`Status` says where a trial is; its predicates say what a status means, so no module
  keeps its own list of "finished" statuses.
* :class:`Direction` knows whether larger fitness is better.
"""

from __future__ import annotations

import math
import numbers
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, TypedDict

#: the budget of a trial trained as its config says (no multi-fidelity reduction)
FULL_BUDGET = "full"


def budget_value(budget: str, full: float) -> float:
    """The amount a budget string stands for: ``"epochs=3"`` -> 3.0; ``"full"`` -> ``full``."""
    if budget == FULL_BUDGET:
        return float(full)
    return float(budget.partition("=")[2])


def budget_rank(budget: str) -> float:
    """Orders budgets: a larger reduced budget ranks higher, the full budget highest."""
    return float("inf") if budget == FULL_BUDGET else float(budget.partition("=")[2])


class Status(str, Enum):
    """A trial's status. Stored as its plain string value (``"ok"``, ``"cached"``, ...)."""

    PENDING = "pending"  # planned, not finished
    OK = "ok"  # trained and scored
    TIMEOUT = "timeout"  # stopped at the time limit; the best weights so far were scored
    FAILED = "failed"  # the objective raised, or its worker died
    KILLED = "killed"  # its worker was killed after the hard limit
    CACHED = "cached"  # served from the genome cache (this run's or a shared one)
    PRUNED = "pruned"  # stopped early: its partial score fell below earlier trials' (never a full result)

    @property
    def done(self) -> bool:
        """Evaluated by the objective (successfully or not, or stopped by the pruner)."""
        return self in (Status.OK, Status.TIMEOUT, Status.FAILED, Status.KILLED, Status.PRUNED)

    @property
    def finished(self) -> bool:
        """Evaluated, or served from the cache: nothing more will happen to it."""
        return self.done or self is Status.CACHED

    @property
    def scored(self) -> bool:
        """Trained and scored by the objective."""
        return self in (Status.OK, Status.TIMEOUT)

    @property
    def failed(self) -> bool:
        return self in (Status.FAILED, Status.KILLED)

    @classmethod
    def values(cls, predicate: Callable[[Status], bool]) -> tuple[str, ...]:
        """The stored strings of the statuses for which ``predicate`` holds (for SQL ``IN``)."""
        return tuple(s.value for s in cls if predicate(s))

    def __str__(self) -> str:
        return self.value


def status_of(row: dict[str, Any]) -> Status:
    return Status(row["status"])


def is_number(f: Any) -> bool:
    """A usable fitness: a finite int or float (not None, NaN, inf or a bool)."""
    return isinstance(f, (int, float)) and not isinstance(f, bool) and math.isfinite(f)


@dataclass(frozen=True)
class Direction:
    """Which way fitness is better. ``Direction(True)`` maximises."""

    maximize: bool = True

    @property
    def name(self) -> str:
        return "maximize" if self.maximize else "minimize"

    def better(self, a: float | None, b: float | None) -> bool:
        """``a`` is strictly better than ``b``; a missing or non-finite value is never better."""
        if not is_number(a):
            return False
        if not is_number(b):
            return True
        return a > b if self.maximize else a < b  # type: ignore[operator]

    def oriented(self, f: float | None) -> float | None:
        """``f`` turned so that larger is better (None for a failed trial)."""
        if not is_number(f):
            return None
        return float(f) if self.maximize else -float(f)  # type: ignore[arg-type]

    def best(self, values: Iterable[float | None]) -> float | None:
        """The best usable value, or None."""
        out: float | None = None
        for v in values:
            if self.better(v, out):
                out = v
        return out

    def sort_key(self, f: float | None) -> tuple[int, float]:
        """Sorts best first, failed (None) last."""
        o = self.oriented(f)
        return (1, 0.0) if o is None else (0, -o)


class TrialRow(TypedDict):
    """One row of a run's ``trials`` table, as the store returns it."""

    id: int
    generation: int
    slot: int
    key: str
    genome: dict[str, Any]
    origin: str
    status: str
    fitness: float | None
    metrics: dict[str, Any]
    seconds: float | None
    error: str | None
    started: float | None
    finished: float | None
    extra: dict[str, Any]
    budget: str


class ActiveGenome(dict):  # type: ignore[type-arg]
    """The genome an objective is given: its active genes only (``SearchSpace.project``), so an
    objective cannot read a gene its ``when:`` switched off, and two genomes that share a key train
    the same network. Reading an inactive gene says so instead of a bare KeyError."""

    def __init__(self, genes: Any = (), inactive: Iterable[str] = ()) -> None:
        super().__init__(genes)
        self.inactive = frozenset(inactive)

    def __missing__(self, name: str) -> Any:
        if name in self.inactive:
            raise KeyError(f"gene '{name}' is inactive in this genome (its 'when:' condition does not hold), so "
                           f"it is not given; read it with genome.get('{name}', default)")
        raise KeyError(name)

    def copy(self) -> ActiveGenome:
        return ActiveGenome(self, self.inactive)

    def __reduce__(self) -> Any:
        return (ActiveGenome, (dict(self), tuple(sorted(self.inactive))))


@dataclass
class Task:
    """One evaluation to run: a genome, its trial id, its seed and its budget."""

    trial_id: int
    genome: dict[str, Any]
    key: str
    seed: int
    budget: str = FULL_BUDGET
    #: pruning thresholds (oriented: larger is better) per epoch index; None: no pruning
    prune: list[float | None] | None = None
    #: return the trained state in :attr:`Result.checkpoint` (a rung below the full budget)
    checkpoint: bool = False
    #: a lower rung's checkpoint of this genome to continue from, and that trial's id
    resume: bytes | None = None
    resume_from: int | None = None


@dataclass
class Result:
    """What an evaluation gave. ``status`` is a :class:`Status` value (ok, timeout, failed, killed)."""

    trial_id: int
    status: str
    fitness: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    started: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: the trained state, when the task asked for it and the objective can continue from one
    checkpoint: bytes | None = None


#: what a worker calls to score one task
Objective = Callable[[Task], Result]


def split_fitness(out: Any, what: str = "fitness") -> tuple[float, dict[str, Any]]:
    """A fitness as a number, or a mapping with ``fitness`` whose other keys are metrics: (value,
    metrics). TypeError or ValueError for anything else; the value may be non-finite (the caller says
    what that means)."""
    metrics: dict[str, Any] = {}
    if isinstance(out, Mapping):
        if "fitness" not in out:
            raise ValueError(f"{what} is a mapping without a 'fitness' key")
        metrics = {k: v for k, v in out.items() if k != "fitness"}
        out = out["fitness"]
    if isinstance(out, bool) or not isinstance(out, numbers.Real):  # numpy's numbers are Real, its bools not
        raise TypeError(f"{what} must be a number, got {type(out).__name__}")
    return float(out), metrics


def error_line(exc: BaseException) -> str:
    """``Type: message (file:line)`` of the innermost frame: one line for the trials table."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{exc.__class__.__name__}: {msg}{where}"[:500]
