"""The objective-family seam: how a genome is scored, from config to worker.

A family owns its part of the config (``fitness:`` for plain Python, ``data:``/``training:``/
``swarm:`` for Keras), checks it in the parent without heavy imports, prepares what workers need
(a small picklable *spec* and a *payload*, the data, sent once per worker), and builds the
:data:`~natsel._trial.Objective` inside the worker. Only a family's worker side may import
TensorFlow.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from natsel._trial import Objective

if TYPE_CHECKING:
    from natsel._settings import Config
    from natsel._yaml import Validator


@dataclass
class Prepared:
    """What the parent hands to the executor, the store and the shared cache."""

    spec: dict[str, Any]  # picklable; ``spec["kind"]`` is the family's name
    payload: Any = None  # sent to each worker once (data), never in the spec
    fingerprint: str | None = None  # content hash of the payload's data
    identity: dict[str, Any] = field(default_factory=dict)  # what else a shared cache entry depends on
    meta: dict[str, Any] = field(default_factory=dict)  # stored in run.json (metric, task, ...)


class ObjectiveFamily(ABC):
    """One way of scoring genomes. Subclasses set ``name`` and ``sections`` and implement the hooks.

    Register a family with :func:`natsel.objectives.register`; a config selects it with
    ``objective: <name>``, or by naming one of its ``selector`` sections (``fitness:``, ``data:``).
    """

    name: ClassVar[str]
    #: top-level config keys this family reads (it validates them)
    sections: ClassVar[frozenset[str]] = frozenset()
    #: a config that has this key selects the family (when ``objective:`` is not given)
    selector: ClassVar[str | None] = None
    #: may run in the calling process (``workers: 0``); families that import TensorFlow may not
    inline: ClassVar[bool] = False
    #: larger fitness is better unless the config's ``direction`` says otherwise
    maximize: ClassVar[bool] = True

    @classmethod
    @abstractmethod
    def validate(cls, cfg: Config, v: Validator) -> None:
        """Check this family's sections and genes (raise ``v.err(path, msg)``); may fill ``cfg``."""

    @classmethod
    @abstractmethod
    def prepare(cls, cfg: Config) -> Prepared:
        """In the parent, before any run folder is written: load and check data, build the spec."""

    @staticmethod
    @abstractmethod
    def build(spec: Mapping[str, Any], payload: Any) -> Objective:
        """In the worker: the function that scores one task."""

    @classmethod
    def train_best(cls, cfg: Config, meta: Mapping[str, Any], *, all_rows: bool = False) -> Any:
        """The parent side of ``natsel train-best`` (None: this family has no model to train);
        ``all_rows``: train on the rows a data ``limit`` left out of the search too."""
        return None
