"""Search spaces: typed genes, sampling, type-aware mutation and canonical genome keys.

Pure Python and numpy: nothing here imports TensorFlow.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

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


class SearchSpace:
    """An ordered set of genes.

    >>> space = SearchSpace([Choice("act", ("relu", "elu")), IntRange("units", 8, 64, step=8)])
    >>> genome = space.sample(np.random.default_rng(0))
    >>> sorted(genome)
    ['act', 'units']
    """

    def __init__(self, genes: Iterable[Gene]) -> None:
        self.genes: list[Gene] = list(genes)
        names = [g.name for g in self.genes]
        if len(set(names)) != len(names):
            raise ValueError("gene names must be unique")
        self._by_name = {g.name: g for g in self.genes}

    def __len__(self) -> int:
        return len(self.genes)

    def __getitem__(self, name: str) -> Gene:
        return self._by_name[name]

    @property
    def names(self) -> list[str]:
        return [g.name for g in self.genes]

    @property
    def size(self) -> float:
        """Number of distinct genomes (``math.inf`` when a float range is present)."""
        total: float = 1
        for g in self.genes:
            total *= g.size
        return total

    def sample(self, rng: np.random.Generator) -> Genome:
        return {g.name: g.sample(rng) for g in self.genes}

    def complete(self, partial: Mapping[str, Any], rng: np.random.Generator) -> Genome:
        """Fill the genes missing from ``partial`` with random values."""
        return {g.name: partial[g.name] if g.name in partial else g.sample(rng) for g in self.genes}

    def invalid_genes(self, genome: Mapping[str, Any]) -> list[str]:
        """Names of genes whose value is missing or outside the gene's domain."""
        bad = [g.name for g in self.genes if g.name not in genome or not g.contains(genome[g.name])]
        return bad + [k for k in genome if k not in self._by_name]

    def key(self, genome: Mapping[str, Any]) -> str:
        return genome_key(genome)


def expand_names(name: str, repeat: int) -> Sequence[str]:
    """``neurons`` repeated 3 times gives ``neurons0, neurons1, neurons2``."""
    return [f"{name}{i}" for i in range(repeat)]
