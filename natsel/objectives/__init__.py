"""Objective families: how genomes are scored.

* ``python``: a plain-Python ``fitness: module:function`` (:mod:`natsel.objectives.python`);
* ``keras``: Keras networks trained on ``data:`` (:mod:`natsel.objectives.keras`; its worker side is
  the only part of natsel that imports TensorFlow).

Adding a family is a new module with an :class:`ObjectiveFamily` subclass and one :func:`register`
call; configs select it with ``objective: <name>``. Workers find a family registered outside
natsel by importing the module that registered it (its name travels in the spec).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from natsel._trial import Objective
from natsel.objectives._base import ObjectiveFamily, Prepared

_REGISTRY: dict[str, type[ObjectiveFamily]] = {}


def register(cls: type[ObjectiveFamily]) -> type[ObjectiveFamily]:
    """Make a family usable in configs (usable as a class decorator)."""
    _REGISTRY[cls.name] = cls
    return cls


def get(name: str) -> type[ObjectiveFamily]:
    """The family registered as ``name`` (``KeyError`` if none)."""
    _builtins()
    return _REGISTRY[name]


def families() -> list[type[ObjectiveFamily]]:
    _builtins()
    return list(_REGISTRY.values())


def _builtins() -> None:
    if "python" not in _REGISTRY:
        from natsel.objectives.keras import KerasFamily
        from natsel.objectives.python import PythonFamily

        register(PythonFamily)
        register(KerasFamily)


def spec_for(family: type[ObjectiveFamily], **fields: Any) -> dict[str, Any]:
    """A spec naming its family and the module that registers it (so a worker can import it)."""
    return {"kind": family.name, "module": family.__module__, **fields}


def build_objective(spec: Mapping[str, Any], payload: Any = None) -> Objective:
    """Build the objective a spec describes, in the process that will run it."""
    if spec["kind"] not in _REGISTRY and spec.get("module"):
        importlib.import_module(str(spec["module"]))  # a family registered outside natsel
    try:
        family = get(str(spec["kind"]))
    except KeyError:
        raise ValueError(f"unknown objective family {spec['kind']!r}") from None
    return family.build(spec, payload)


__all__ = ["ObjectiveFamily", "Prepared", "build_objective", "families", "get", "register", "spec_for"]
