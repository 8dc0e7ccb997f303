"""Search strategies: what to try next (``strategy:`` in the config).

* ``genetic`` (default): NaturalSelection's generational GA (:mod:`natsel.strategies.genetic`);
* ``random``: uniform random search, the baseline (:mod:`natsel.strategies.random`);
* ``pso``: a particle swarm over the encoded genome space (:mod:`natsel.strategies.pso`).

Adding one is a new module with a :class:`Strategy` subclass and one :func:`register` call:

>>> from natsel.strategies import Strategy, register
>>> class Mine(Strategy):
...     name = "mine"
...     def plan(self, ctx):
...         return None
>>> register(Mine)  # doctest: +SKIP
"""

from __future__ import annotations

from natsel.strategies._base import PlanContext, Planned, Strategy
from natsel.strategies.genetic import GeneticStrategy
from natsel.strategies.pso import PSOStrategy
from natsel.strategies.random import RandomStrategy
from natsel.strategies.surrogate import SurrogateStrategy

_REGISTRY: dict[str, type[Strategy]] = {}
#: the strategy of a config that names none
DEFAULT = "surrogate"


def register(cls: type[Strategy]) -> type[Strategy]:
    """Make ``strategy: <cls.name>`` usable in configs (usable as a class decorator)."""
    _REGISTRY[cls.name] = cls
    return cls


def get(name: str) -> type[Strategy]:
    """The strategy class registered as ``name`` (``KeyError`` if none)."""
    return _REGISTRY[name]


def names() -> list[str]:
    return sorted(_REGISTRY)


register(GeneticStrategy)
register(RandomStrategy)
register(SurrogateStrategy)
register(PSOStrategy)

__all__ = ["GeneticStrategy", "PSOStrategy", "PlanContext", "Planned", "RandomStrategy", "Strategy", "SurrogateStrategy", "get", "names", "register"]
