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
from collections.abc import Callable, Iterable, Mapping, Sequence
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


@dataclass(frozen=True)
class Bound:
    """A constraint on one reported value (``constraints: {params: {max: 200000}}``)."""

    low: float | None = None
    high: float | None = None

    def miss(self, value: Any) -> float:
        """How far ``value`` lies outside the bound, relative to the bound's size (0: inside; infinity:
        no usable value), so that misses in different units add up (Deb's constraint violation)."""
        if not is_number(value):
            return math.inf
        v, out = float(value), 0.0
        if self.high is not None and v > self.high:
            out += (v - self.high) / (abs(self.high) or 1.0)
        if self.low is not None and v < self.low:
            out += (self.low - v) / (abs(self.low) or 1.0)
        return out

    def text(self) -> str:
        return " and ".join(x for x in (f">= {self.low:g}" if self.low is not None else "",
                                         f"<= {self.high:g}" if self.high is not None else "") if x)


@dataclass(frozen=True)
class Goal:
    """What a run optimises: one or more named objectives, each with a :class:`Direction`, and
    constraints on reported values. The one place that orders trials.

    A single objective is named ``fitness`` and is the trial's fitness; with several, each is a value
    the objective reports (``Result.metrics``) and the trial's fitness is the first one. Trials are
    ordered by Deb's constrained domination: feasible trials first (by score, or with several
    objectives by non-dominated front, then crowding distance), then infeasible ones by how far they
    miss, then trials with no usable value. A plain goal (one objective, no constraint) orders
    exactly as :class:`Direction` does.
    """

    objectives: tuple[tuple[str, Direction], ...] = (("fitness", Direction(True)),)
    constraints: tuple[tuple[str, Bound], ...] = ()

    @classmethod
    def single(cls, maximize: bool = True) -> Goal:
        return cls((("fitness", Direction(maximize)),))

    @property
    def multi(self) -> bool:
        return len(self.objectives) > 1

    @property
    def plain(self) -> bool:
        """One objective and no constraint: a run as natsel has always run it."""
        return not self.multi and not self.constraints

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.objectives]

    @property
    def direction(self) -> Direction:
        """The first objective's direction: the direction of the stored fitness."""
        return self.objectives[0][1]

    @property
    def reported(self) -> list[str]:
        """The values the objective must report besides its fitness (objectives, then constraints)."""
        out = [n for n in self.names if n != "fitness"]
        return out + [n for n, _ in self.constraints if n not in out and n != "fitness"]

    def value(self, row: Mapping[str, Any], name: str) -> Any:
        return row.get("fitness") if name == "fitness" else (row.get("metrics") or {}).get(name)

    def values(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The trial's objective values by name (None where it has none)."""
        return {n: (v if is_number(v := self.value(row, n)) else None) for n in self.names}

    def oriented(self, row: Mapping[str, Any]) -> tuple[float, ...] | None:
        """The objective values turned so that larger is better; None unless every one is usable."""
        if not is_number(row.get("fitness")):
            return None
        metrics = row.get("metrics") or {}
        out = []
        for name, d in self.objectives:
            v = row["fitness"] if name == "fitness" else metrics.get(name)
            if not is_number(v):
                return None
            out.append(float(v) if d.maximize else -float(v))
        return tuple(out)

    def violation(self, row: Mapping[str, Any]) -> float:
        """The sum of the trial's constraint misses (0: feasible)."""
        return sum(b.miss(self.value(row, n)) for n, b in self.constraints)

    def feasible(self, row: Mapping[str, Any]) -> bool:
        return self.oriented(row) is not None and self.violation(row) == 0.0

    def missing(self, fitness: float | None, metrics: Mapping[str, Any]) -> str | None:
        """Why a successful result cannot be ranked (a reported value it lacks), or None."""
        for name in self.reported:
            if not is_number(metrics.get(name)):
                got = "is not a finite number" if name in metrics else "was not reported"
                return f"'{name}' {got} (objectives and constraints need it); reported: {', '.join(sorted(metrics)) or 'nothing'}"
        return None

    def _read(self, rows: Sequence[Mapping[str, Any]]) -> tuple[list[tuple[float, ...] | None], list[float]]:
        """Each row's oriented values and constraint violation, read once."""
        pts = [self.oriented(r) for r in rows]
        return pts, [self.violation(r) if p is not None else math.inf for r, p in zip(rows, pts, strict=True)]

    def order(self, rows: Sequence[Mapping[str, Any]], shown: bool = False,
              among: Sequence[Mapping[str, Any]] = ()) -> list[int]:
        """Indices of ``rows`` best first (ties: the earlier row). ``shown``: within a front, by the
        first objective instead of crowding distance (how a leaderboard lists them). ``among``: rows
        ranked beside them but left out of the answer (with several objectives, the fronts and
        crowding are those of ``rows`` and ``among`` together; one objective orders as without)."""
        if not among or not self.multi:
            return self._order(*self._read(rows), shown=shown)
        n = len(rows)
        return [i for i in self._order(*self._read([*rows, *among]), shown=shown) if i < n]

    def _order(self, pts: list[tuple[float, ...] | None], miss: list[float], shown: bool = False) -> list[int]:
        import numpy as np

        from natsel._pareto import crowding, fronts

        rest = [i for i, p in enumerate(pts) if p is None]
        feasible = [i for i, p in enumerate(pts) if p is not None and miss[i] == 0.0]
        infeasible = sorted((i for i, p in enumerate(pts) if p is not None and miss[i] > 0.0), key=lambda i: (miss[i], i))
        if not self.multi:
            feasible.sort(key=lambda i: (-pts[i][0], i))  # type: ignore[index]
            return feasible + infeasible + rest
        arr = np.array([pts[i] for i in feasible], dtype=float).reshape(len(feasible), len(self.names))
        ranked: list[int] = []
        for front in fronts(arr):
            key = -arr[front, 0] if shown else -crowding(arr[front])
            ranked += [feasible[front[j]] for j in sorted(range(len(front)), key=lambda j: (key[j], front[j]))]
        return ranked + infeasible + rest

    def scores(self, rows: Sequence[Mapping[str, Any]]) -> list[float | None]:
        """Per row, a score where larger is better, for selection: the oriented fitness of a plain
        goal; otherwise the row's place in :meth:`order` counted from the worst (None: unusable)."""
        if self.plain:
            return [self.direction.oriented(r.get("fitness")) for r in rows]
        pts, miss = self._read(rows)
        order = [i for i in self._order(pts, miss) if pts[i] is not None]
        out: list[float | None] = [None] * len(rows)
        for place, i in enumerate(order):
            out[i] = float(len(order) - place)
        return out

    def best(self, rows: Sequence[Mapping[str, Any]]) -> int | None:
        """The index of the best row: the first in :meth:`order` for one objective; with several, the
        feasible front's best on the first objective (the most accurate within the constraints)."""
        pts, miss = self._read(rows)
        front = self._front(pts, miss) if self.multi else []
        if front:
            return min(front, key=lambda i: (-pts[i][0], i))  # type: ignore[index]
        order = [i for i in self._order(pts, miss) if pts[i] is not None]
        return order[0] if order else None

    def front(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Indices of the feasible rows no other feasible row dominates, in row order."""
        return self._front(*self._read(rows))

    def _front(self, pts: list[tuple[float, ...] | None], miss: list[float]) -> list[int]:
        import numpy as np

        from natsel._pareto import nondominated

        ok = [i for i, p in enumerate(pts) if p is not None and miss[i] == 0.0]
        if not ok:
            return []
        return [ok[j] for j in nondominated(np.array([pts[i] for i in ok], dtype=float))]

    def to_json(self) -> dict[str, Any]:
        # "order": run.json is written with sorted keys, and the first objective is the stored fitness
        return {"objectives": {n: d.name for n, d in self.objectives}, "order": self.names,
                "constraints": {n: {k: v for k, v in (("min", b.low), ("max", b.high)) if v is not None}
                                for n, b in self.constraints}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None, maximize: bool = True) -> Goal:
        """A goal from :meth:`to_json` (a run folder's ``run.json``); a single objective when absent."""
        if not data:
            return cls.single(maximize)
        named = dict(data.get("objectives") or {})
        order = [n for n in data.get("order") or () if n in named] + [n for n in named if n not in (data.get("order") or ())]
        objectives = tuple((n, Direction(named[n] == "maximize")) for n in order)
        constraints = tuple((n, Bound(b.get("min"), b.get("max"))) for n, b in (data.get("constraints") or {}).items())
        return cls(objectives or (("fitness", Direction(maximize)),), constraints)


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


def split_fitness(out: Any, what: str = "fitness", named: Sequence[str] = ()) -> tuple[float, dict[str, Any]]:
    """A fitness as a number, or a mapping with ``fitness`` whose other keys are metrics: (value,
    metrics). With several objectives (``named``: their names) it is a mapping of those names, and the
    value is the first one's. TypeError or ValueError for anything else; the value may be non-finite
    (the caller says what that means)."""
    metrics: dict[str, Any] = {}
    if named:
        if not isinstance(out, Mapping):
            raise TypeError(f"{what} must be a mapping of the objectives ({', '.join(named)}), got "
                            f"{type(out).__name__}")
        absent = [n for n in named if n not in out]
        if absent:
            raise ValueError(f"{what} has no '{absent[0]}' (the objectives are {', '.join(named)})")
        metrics = {k: v for k, v in out.items() if k != "fitness"}
        out = out[named[0]]
    elif isinstance(out, Mapping):
        if "fitness" not in out:
            raise ValueError(f"{what} is a mapping without a 'fitness' key")
        metrics = {k: v for k, v in out.items() if k != "fitness"}
        out = out["fitness"]
    if isinstance(out, bool) or not isinstance(out, numbers.Real):  # numpy's numbers are Real, its bools not
        raise TypeError(f"{what} must be a number, got {type(out).__name__}")
    return float(out), metrics


def settle(res: Result, goal: Goal) -> Result:
    """A result as the goal reads it, changed in place: with several objectives its fitness is the
    first one's value; a scored result that lacks a value the objectives or constraints need fails
    (its error says which), since it could not be ranked. A plain goal changes nothing."""
    if goal.plain or res.status not in (Status.OK, Status.TIMEOUT):
        return res
    problem = goal.missing(res.fitness, res.metrics)
    if problem is not None:
        res.status, res.fitness, res.error = Status.FAILED.value, None, problem
    elif goal.multi:
        res.fitness = float(res.metrics[goal.names[0]])
    return res


def error_line(exc: BaseException) -> str:
    """``Type: message (file:line)`` of the innermost frame: one line for the trials table."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{exc.__class__.__name__}: {msg}{where}"[:500]
