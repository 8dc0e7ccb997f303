"""Search spaces: typed genes, sampling, type-aware mutation, conditions and canonical genome keys.

Pure Python and numpy: nothing here imports TensorFlow.

Conditional genes: a gene may carry :class:`Condition` s on other genes (``dropout0`` only when
``neurons0 > 0``). A gene is *active* in a genome when all its conditions hold and every gene they
read is active itself. Genomes always carry a value for every gene, active or not, so the genetic
operators stay per-gene and a gene that becomes active again still has a value; what conditions
change is the identity of a genome (:meth:`SearchSpace.key` keeps the active genes only, so two
genomes that differ only in inactive genes are one evaluation) and which genes mutation may spend
its change on (:meth:`SearchSpace.mutable`).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from natsel._trial import ActiveGenome

Scalar = str | int | float | bool | None
Genome = dict[str, Any]

#: Standard deviation of a numeric mutation step, in the gene's encoded [0, 1] space.
MUTATION_SIGMA = 0.2


def canonical(value: Any) -> Any:
    """Normalise a gene value so equal values give equal keys (``1.0 -> 1``, ``0.30000000000000004 -> 0.3``)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isfinite(v) and v.is_integer():
            return int(v)
        return float(f"{v:.12g}") if math.isfinite(v) else v
    return value


def genome_key(genome: Mapping[str, Any]) -> str:
    """The canonical key of a genome: order-independent JSON with normalised numbers."""
    return json.dumps({k: canonical(v) for k, v in genome.items()}, sort_keys=True, separators=(",", ":"))


class Gene:
    """Base class of a gene: a named dimension of the search space."""

    name: str

    def sample(self, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def mutate(self, value: Any, rng: np.random.Generator) -> Any:
        """A value different from ``value`` where the gene has more than one."""
        raise NotImplementedError

    def encode(self, value: Any) -> float:
        """Position of ``value`` in [0, 1] (used by mutation and plots)."""
        raise NotImplementedError

    def decode(self, u: float) -> Any:
        """The value at position ``u`` of [0, 1] (clipped): the inverse of :meth:`encode`, on the gene's grid."""
        raise NotImplementedError

    def contains(self, value: Any) -> bool:
        raise NotImplementedError

    @property
    def size(self) -> float:
        """How many distinct values the gene can take (``math.inf`` for float ranges)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Fixed(Gene):
    name: str
    value: Scalar

    def sample(self, rng: np.random.Generator) -> Any:
        return self.value

    def mutate(self, value: Any, rng: np.random.Generator) -> Any:
        return self.value

    def encode(self, value: Any) -> float:
        return 0.5

    def decode(self, u: float) -> Any:
        return self.value

    def contains(self, value: Any) -> bool:
        return canonical(value) == canonical(self.value)

    @property
    def size(self) -> float:
        return 1


@dataclass(frozen=True)
class Choice(Gene):
    name: str
    values: tuple[Scalar, ...]

    def sample(self, rng: np.random.Generator) -> Any:
        return self.values[int(rng.integers(len(self.values)))]

    def mutate(self, value: Any, rng: np.random.Generator) -> Any:
        if len(self.values) < 2:
            return value
        others = [v for v in self.values if canonical(v) != canonical(value)]
        return others[int(rng.integers(len(others)))]

    def index(self, value: Any) -> int:
        c = canonical(value)
        for i, v in enumerate(self.values):
            if canonical(v) == c:
                return i
        raise ValueError(f"{value!r} is not one of {self.name}'s choices")

    def encode(self, value: Any) -> float:
        return self.index(value) / max(1, len(self.values) - 1)

    def decode(self, u: float) -> Any:
        """The choice whose bin is nearest: ``values[floor(u * (len - 1) + 0.5)]`` (half-way rounds up)."""
        k = len(self.values) - 1
        return self.values[min(k, math.floor(min(1.0, max(0.0, u)) * k + 0.5))]

    def contains(self, value: Any) -> bool:
        return any(canonical(v) == canonical(value) for v in self.values)

    @property
    def size(self) -> float:
        return len(self.values)


@dataclass(frozen=True)
class _Range(Gene):
    name: str
    low: float
    high: float
    log: bool = False

    def _to_unit(self, x: float) -> float:
        if self.high == self.low:
            return 0.5
        if self.log:
            return (math.log(x) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (x - self.low) / (self.high - self.low)

    def _from_unit(self, u: float) -> float:
        u = min(1.0, max(0.0, u))
        if self.log:
            return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)

    def encode(self, value: Any) -> float:
        return self._to_unit(float(value))

    def decode(self, u: float) -> Any:
        """Log-aware like :meth:`encode`; snapped to the grid (``step``) or rounded to ``digits``."""
        return self._snap(self._from_unit(float(u)))

    def _snap(self, x: float) -> Any:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator) -> Any:
        return self._snap(self._from_unit(float(rng.random())))

    def mutate(self, value: Any, rng: np.random.Generator) -> Any:
        if self.size < 2:
            return value
        u = self._to_unit(float(value))
        for _ in range(8):
            new = self._snap(self._from_unit(u + float(rng.normal(0.0, MUTATION_SIGMA))))
            if canonical(new) != canonical(value):
                return new
        return self._neighbour(value, rng)

    def _neighbour(self, value: Any, rng: np.random.Generator) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class IntRange(_Range):
    step: int = 1

    def _snap(self, x: float) -> int:
        k = round((x - self.low) / self.step)
        k = min(max(k, 0), int((self.high - self.low) // self.step))
        return int(self.low + k * self.step)

    def _neighbour(self, value: Any, rng: np.random.Generator) -> int:
        up, down = int(value) + self.step, int(value) - self.step
        options = [v for v in (up, down) if self.low <= v <= self.high]
        return options[int(rng.integers(len(options)))]

    def contains(self, value: Any) -> bool:
        v = canonical(value)
        return isinstance(v, int) and not isinstance(v, bool) and self.low <= v <= self.high and (v - self.low) % self.step == 0

    @property
    def size(self) -> float:
        return int((self.high - self.low) // self.step) + 1


@dataclass(frozen=True)
class FloatRange(_Range):
    digits: int = 4

    def _snap(self, x: float) -> float:
        v = float(f"{x:.{self.digits}g}")
        return min(max(v, self.low), self.high)

    def _neighbour(self, value: Any, rng: np.random.Generator) -> float:
        return self._snap(self._from_unit(float(rng.random())))

    def contains(self, value: Any) -> bool:
        return isinstance(canonical(value), (int, float)) and not isinstance(value, bool) and self.low <= float(value) <= self.high

    @property
    def size(self) -> float:
        return 1 if self.low == self.high else math.inf


#: The comparisons a condition can make: membership and numeric order.
CONDITION_OPS = ("in", "not_in", "gt", "ge", "lt", "le")


@dataclass(frozen=True)
class Condition:
    """``gene op value``: a requirement on another gene's value (plain data, picklable).

    ``op`` is one of :data:`CONDITION_OPS`; ``value`` is a tuple of values for ``in`` / ``not_in``
    and a number for the comparisons. A comparison never holds for a value that is not a number.

    >>> Condition("neurons0", "gt", 0).holds(16), Condition("trainer", "in", ("pso",)).holds("gradient")
    (True, False)
    """

    gene: str
    op: str
    value: Any

    def __post_init__(self) -> None:
        if self.op not in CONDITION_OPS:
            raise ValueError(f"unknown condition op {self.op!r} (known: {', '.join(CONDITION_OPS)})")
        if self.op in ("in", "not_in"):
            many = isinstance(self.value, (list, tuple, set, frozenset))
            object.__setattr__(self, "value", tuple(self.value) if many else (self.value,))
        elif isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise ValueError(f"condition '{self.op}' needs a number, got {self.value!r}")

    def holds(self, value: Any) -> bool:
        if self.op in ("in", "not_in"):
            inside = any(canonical(value) == canonical(x) for x in self.value)
            return inside if self.op == "in" else not inside
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            return False
        v = float(value)
        return {"gt": v > self.value, "ge": v >= self.value, "lt": v < self.value, "le": v <= self.value}[self.op]

    def __str__(self) -> str:
        words = {"in": "in", "not_in": "not in", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
        value = list(self.value) if self.op in ("in", "not_in") else self.value
        return f"{self.gene} {words[self.op]} {value}"


def gene_values(gene: Gene, limit: int = 100_000) -> list[Any] | None:
    """Every value of a gene with at most ``limit`` of them (None for float ranges and larger ones)."""
    if isinstance(gene, Choice):
        return list(gene.values)
    if isinstance(gene, Fixed):
        return [gene.value]
    if isinstance(gene, IntRange) and gene.size <= limit:
        return list(range(int(gene.low), int(gene.high) + 1, gene.step))
    return None


def can_hold(gene: Gene, conditions: Sequence[Condition]) -> bool:
    """Whether some value of ``gene`` satisfies all ``conditions`` (each reading that gene)."""
    values = gene_values(gene)
    if values is None and isinstance(gene, _Range):
        # the satisfying set is a union of intervals whose ends are among these points, minus points
        # among them: if it is not empty, it holds one of them or a midpoint between two of them
        points = {float(gene.low), float(gene.high)}
        for c in conditions:
            points.update(float(x) for x in (c.value if c.op in ("in", "not_in") else (c.value,))
                          if isinstance(x, (int, float)) and not isinstance(x, bool))
        inside = sorted(p for p in points if gene.low <= p <= gene.high)
        candidates = inside + [(a + b) / 2 for a, b in zip(inside, inside[1:], strict=False)]
        values = [gene._snap(x) for x in candidates]
    return any(all(c.holds(x) for c in conditions) for x in values or [])


def find_cycle(conditions: Mapping[str, Sequence[Condition]]) -> list[str] | None:
    """A dependency cycle ``[a, b, ..., a]`` among conditioned genes, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for dep in dict.fromkeys(c.gene for c in conditions.get(name, ())):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[name] = 2
        return None

    for name in conditions:
        if name not in state and (found := visit(name)):
            return found
    return None


class SearchSpace:
    """An ordered set of genes, some of them active only under conditions on others.

    >>> space = SearchSpace([Choice("act", ("relu", "elu")), IntRange("units", 8, 64, step=8)])
    >>> genome = space.sample(np.random.default_rng(0))
    >>> sorted(genome)
    ['act', 'units']

    ``conditions`` maps a gene's name to the conditions that must all hold for it to be active:

    >>> space = SearchSpace([Choice("neurons0", (0, 16)), Choice("dropout0", (0.1, 0.3))],
    ...                     {"dropout0": [Condition("neurons0", "gt", 0)]})
    >>> space.key({"neurons0": 0, "dropout0": 0.1}) == space.key({"neurons0": 0, "dropout0": 0.3})
    True
    """

    def __init__(self, genes: Iterable[Gene], conditions: Mapping[str, Iterable[Condition]] | None = None) -> None:
        self.genes: list[Gene] = list(genes)
        names = [g.name for g in self.genes]
        if len(set(names)) != len(names):
            raise ValueError("gene names must be unique")
        self._by_name = {g.name: g for g in self.genes}
        self.conditions: dict[str, tuple[Condition, ...]] = {}
        for name, conds in (conditions or {}).items():
            conds = tuple(conds)
            if name not in self._by_name:
                raise ValueError(f"a condition is given for unknown gene '{name}'")
            for c in conds:
                if c.gene not in self._by_name:
                    raise ValueError(f"gene '{name}' depends on unknown gene '{c.gene}'")
            if conds:
                self.conditions[name] = conds
        cycle = find_cycle(self.conditions)
        if cycle:
            raise ValueError(f"conditions form a cycle: {' -> '.join(cycle)}")
        self._order = self._dependency_order()

    def __len__(self) -> int:
        return len(self.genes)

    def __getitem__(self, name: str) -> Gene:
        return self._by_name[name]

    @property
    def names(self) -> list[str]:
        return [g.name for g in self.genes]

    @property
    def size(self) -> float:
        """Number of distinct genome keys (``math.inf`` when an active float range is possible).

        With conditions, genomes that differ only in inactive genes count once; the count
        enumerates the values of the genes conditions read, and where those are more than 100,000
        combinations it is the plain product of gene sizes (an upper bound)."""
        total: float = 1
        for g in self.genes:
            total *= g.size
        if not self.conditions:
            return total
        read = list(dict.fromkeys(c.gene for conds in self.conditions.values() for c in conds))
        domains = [gene_values(self[n]) for n in read]
        combos: float = 1
        for d in domains:
            combos *= len(d) if d is not None else math.inf
        if combos > 100_000:
            return total
        others = [g for g in self.genes if g.name not in read]
        seen: dict[str, float] = {}
        for values in itertools.product(*domains):  # type: ignore[arg-type]
            genome = dict(zip(read, values, strict=True))
            on = self.active(genome)
            k = genome_key({n: v for n, v in genome.items() if n in on})
            if k not in seen:
                n = 1.0
                for g in others:
                    n *= g.size if g.name in on else 1
                seen[k] = n
        return sum(seen.values())

    def sample(self, rng: np.random.Generator) -> Genome:
        return {g.name: g.sample(rng) for g in self.genes}

    def complete(self, partial: Mapping[str, Any], rng: np.random.Generator) -> Genome:
        """Fill the genes missing from ``partial`` with random values."""
        return {g.name: partial[g.name] if g.name in partial else g.sample(rng) for g in self.genes}

    def invalid_genes(self, genome: Mapping[str, Any]) -> list[str]:
        """Names of genes whose value is missing or outside the gene's domain."""
        bad = [g.name for g in self.genes if g.name not in genome or not g.contains(genome[g.name])]
        return bad + [k for k in genome if k not in self._by_name]

    def _dependency_order(self) -> list[str]:
        """Gene names with every gene after the genes its conditions read (else in space order)."""
        order: list[str] = []
        placed: set[str] = set()

        def place(name: str) -> None:
            if name in placed:
                return
            for c in self.conditions.get(name, ()):
                place(c.gene)
            placed.add(name)
            order.append(name)

        for name in self.names:
            place(name)
        return order

    @property
    def conditional(self) -> bool:
        """Whether any gene carries a condition."""
        return bool(self.conditions)

    def active(self, genome: Mapping[str, Any]) -> set[str]:
        """Names of the genes active in ``genome``: all their conditions hold, and every gene a
        condition reads is active itself (evaluated in dependency order). Without conditions: all."""
        if not self.conditions:
            return set(self.names)
        on: set[str] = set()
        for name in self._order:
            if all(c.gene in on and c.gene in genome and c.holds(genome[c.gene])
                   for c in self.conditions.get(name, ())):
                on.add(name)
        return on

    def project(self, genome: Mapping[str, Any]) -> Genome:
        """``genome`` without its inactive genes (values outside the space are kept)."""
        if not self.conditions:
            return dict(genome)
        on = self.active(genome)
        return {k: v for k, v in genome.items() if k in on or k not in self._by_name}

    def trial_genome(self, genome: Mapping[str, Any]) -> ActiveGenome:
        """What an objective is given to score ``genome``: its active genes only (see :class:`ActiveGenome`),
        so whatever builds the network honours the conditions the key is made under."""
        active = self.project(genome)
        return ActiveGenome(active, [k for k in genome if k not in active])

    def key(self, genome: Mapping[str, Any]) -> str:
        """The genome's identity: :func:`genome_key` of its active genes.

        For a space without conditions this is exactly ``genome_key(genome)``, so run folders and
        caches made before conditions existed keep their keys."""
        return genome_key(self.project(genome))

    def mutable(self, genome: Mapping[str, Any]) -> list[Gene]:
        """The genes a mutation of ``genome`` may change: active ones with more than one value."""
        on = self.active(genome)
        return [g for g in self.genes if g.size > 1 and g.name in on]


def expand_names(name: str, repeat: int) -> Sequence[str]:
    """``neurons`` repeated 3 times gives ``neurons0, neurons1, neurons2``."""
    return [f"{name}{i}" for i in range(repeat)]
