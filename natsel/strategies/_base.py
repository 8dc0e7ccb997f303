"""The strategy seam: what to try next, planned from the stored history alone.

A strategy plans one generation at a time. It reads only what the run store holds (every trial of
earlier generations) and a random generator seeded by ``(seed, generation)``, so the genomes it
plans never depend on the number of workers or the order results arrived in, and a resumed run
plans exactly what an uninterrupted one would have. The evolution loop stores the plan before any
of it runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from natsel._space import Genome, SearchSpace
from natsel._trial import FULL_BUDGET, Direction, Goal, TrialRow, budget_rank


@dataclass
class Planned:
    """One organism of a planned generation."""

    genome: Genome
    origin: str  # initial | random | elite | crossover | mutation | ... (the strategy's words)


@dataclass(frozen=True)
class PlanContext:
    """Everything a strategy may read to plan generation ``generation``."""

    generation: int
    space: SearchSpace
    population: int
    direction: Direction
    history: Sequence[TrialRow]  # every trial of generations 0 .. generation-1, in id order
    known: Callable[[str], bool]  # a genome key already evaluated in this run (never plan it again)
    rng: np.random.Generator  # seeded by (seed, generation)
    initial_genome: Genome | None = None
    seed: int | None = None  # the run's seed: rng_of(t) re-creates an earlier generation's generator
    #: earlier runs' trials mapped onto this space (``warm_start:``), as rows of generation -1 with
    #: negative ids: prior knowledge, not this run's results (``natsel._warm``)
    prior: Sequence[TrialRow] = ()
    #: several objectives and constraints (None: the fitness alone, in ``direction``)
    goal: Goal | None = None

    def ranking(self) -> Goal:
        """The run's goal: how trials are ordered (a plain one orders by ``direction`` alone)."""
        return self.goal if self.goal is not None else Goal.single(self.direction.maximize)

    @staticmethod
    def rng_for(seed: int, generation: int) -> np.random.Generator:
        """The generator generation ``generation`` of a run with ``seed`` is planned with.

        The same seeding as the loop's ``rng`` (``_evolve.Loop.plan``; a test holds the two together).
        """
        return np.random.default_rng([seed, generation])

    def rng_of(self, generation: int) -> np.random.Generator:
        """A fresh copy of the generator generation ``generation`` was planned with (``rng`` for this one).

        For strategies that replay their own earlier plans from the history (``pso``).
        """
        if self.seed is None:
            raise ValueError("this PlanContext has no seed, so earlier generations' generators cannot be re-created")
        return self.rng_for(self.seed, generation)

    def previous(self) -> list[TrialRow]:
        """The trials of the generation before this one, in slot order."""
        rows = [t for t in self.history if t["generation"] == self.generation - 1]
        return sorted(rows, key=lambda t: t["slot"])

    def parents(self) -> tuple[list[Genome], list[float | None]]:
        """The previous generation as (genomes, fitness) to select from, one entry per genome.

        Without budgets this is each slot's genome and fitness. With successive halving a genome has
        a trial per rung it reached; it is judged by its highest budget, and genomes are compared
        first by the budget they reached (surviving more rungs is better), then by their score at
        it. The fitness returned is oriented: higher is better, whatever the run's direction (None
        for a genome that never scored); with budgets it is that order as a rank.
        """
        rows, goal = self.previous(), self.ranking()
        if all(r.get("budget", FULL_BUDGET) == FULL_BUDGET for r in rows):
            return [r["genome"] for r in rows], goal.scores(rows)
        best: dict[str, TrialRow] = {}
        for r in rows:  # the highest budget each genome reached
            b = best.get(r["key"])
            if b is None or budget_rank(r["budget"]) > budget_rank(b["budget"]):
                best[r["key"]] = r
        firsts = sorted(best.values(), key=lambda r: min(t["slot"] for t in rows if t["key"] == r["key"]))
        score = by_budget(firsts, goal)
        scored = [r for r in firsts if score[r["key"]] is not None]
        order = sorted(scored, key=lambda r: (budget_rank(r["budget"]), score[r["key"]]))
        rank = {r["key"]: float(i + 1) for i, r in enumerate(order)}
        return [r["genome"] for r in firsts], [rank.get(r["key"]) for r in firsts]


def by_budget(rows: Sequence[TrialRow], goal: Goal) -> dict[str, float | None]:
    """Each row's :meth:`Goal.scores` among the rows of its own budget, by genome key (scores at
    different budgets are never compared with each other)."""
    out: dict[str, float | None] = {}
    for budget in {r.get("budget", FULL_BUDGET) for r in rows}:
        same = [r for r in rows if r.get("budget", FULL_BUDGET) == budget]
        out.update(zip((r["key"] for r in same), goal.scores(same), strict=True))
    return out


class Strategy(ABC):
    """Plans generations. Subclasses set ``name`` and implement :meth:`plan`.

    ``options`` is the mapping under the config's ``strategy:`` key (without ``name``);
    :meth:`check_options` validates it (raise ``ValueError`` with a one-line reason).
    """

    name: ClassVar[str]
    #: options this strategy accepts under ``strategy:`` (name -> type)
    options_schema: ClassVar[Mapping[str, type]] = {}
    #: plans generations whose genomes are trained in rungs of budgets (``fidelity:``)
    supports_fidelity: ClassVar[bool] = True
    #: can plan one genome at a time from whatever has finished (``evolution.schedule: steady``)
    supports_steady: ClassVar[bool] = False
    #: a generation holds exactly ``population`` slots (``pso``: a slot is a particle), so the loop does not
    #: add genomes in place of the ones a shared cache serves
    fixed_slots: ClassVar[bool] = False
    #: ranks trials by the run's :class:`Goal` (several objectives, constraints) through
    #: :meth:`PlanContext.parents` or :func:`natsel.strategies.surrogate.evaluated`
    supports_goals: ClassVar[bool] = True
    #: the population when the config's ``evolution:`` gives none
    default_population: ClassVar[int] = 20
    #: with the default population: the ``startup`` option (generation 0's size) unless the config sets it
    default_startup: ClassVar[int | None] = None

    def __init__(self, options: Mapping[str, Any] | None = None, settings: Any = None) -> None:
        self.options = dict(options or {})
        self.settings = settings

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        for k, v in options.items():
            if k not in cls.options_schema:
                allowed = ", ".join(sorted(cls.options_schema)) or "none"
                raise ValueError(f"unknown option '{k}' of strategy '{cls.name}' (allowed: {allowed})")
            kind = cls.options_schema[k]
            if kind is float and isinstance(v, int) and not isinstance(v, bool):
                continue
            if not isinstance(v, kind) or isinstance(v, bool) != (kind is bool):
                raise ValueError(f"option '{k}' of strategy '{cls.name}' must be {kind.__name__}, got {v!r}")

    @abstractmethod
    def plan(self, ctx: PlanContext) -> list[Planned] | None:
        """The genomes of generation ``ctx.generation``, or None when nothing new can be planned."""
