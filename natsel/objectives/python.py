"""The ``python`` family: a plain-Python fitness ``fitness: module:function``.

``fn(genome) -> float | {"fitness": float, <metric>: ...}``; a function with a ``seed`` parameter
also gets the trial's seed. The module is looked up next to the config first. Cheap enough to run
in the calling process (``workers: 0``).
"""

from __future__ import annotations

import inspect
import math
import numbers
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from natsel._imports import callable_identity, resolve_callable
from natsel._trial import Objective, Result, Status, Task, budget_value, error_line
from natsel.objectives._base import ObjectiveFamily, Prepared

if TYPE_CHECKING:
    from natsel._settings import Config
    from natsel._yaml import Validator


class PythonFamily(ObjectiveFamily):
    name = "python"
    sections = frozenset({"fitness"})
    selector = "fitness"
    inline = True
    maximize = True

    @classmethod
    def validate(cls, cfg: Config, v: Validator) -> None:
        if "pruning" in cfg.raw:
            raise v.err(("pruning",), "pruning stops training between epochs; a python fitness has no epochs "
                                      "(use fidelity: with a fitness(genome, budget) instead)")
        if "fitness" not in cfg.raw:
            raise v.err((), "the python objective needs 'fitness: module:function'")
        cfg.fitness = v.string(cfg.raw["fitness"], ("fitness",))
        try:
            resolve_callable(cfg.fitness, cfg.base_dir)
        except ValueError as exc:
            raise v.err(("fitness",), f"fitness function: {exc}") from None

    @classmethod
    def prepare(cls, cfg: Config) -> Prepared:
        assert cfg.fitness is not None
        spec = {"kind": cls.name, "module": cls.__module__, "ref": cfg.fitness, "base_dir": str(cfg.base_dir),
                "sys_path": [str(cfg.base_dir)]}
        if cfg.fidelity is not None:  # a fitness(genome, budget=...) is told how much of the resource it has
            spec["full_budget"] = cfg.full_budget()
        # where the function really lives: two projects' ``fit:score`` are two objectives
        return Prepared(spec, identity={"fitness": callable_identity(cfg.fitness, cfg.base_dir)},
                        meta={"metric": "fitness"})

    @staticmethod
    def build(spec: Mapping[str, Any], payload: Any = None) -> Objective:
        return python_objective(spec)


def python_objective(spec: Mapping[str, Any]) -> Objective:
    """Score genomes with the function ``spec["ref"]`` names; anything it does wrong fails the trial."""
    for p in spec.get("sys_path", []):
        if p not in sys.path:
            sys.path.insert(0, p)
    fn = resolve_callable(spec["ref"], Path(spec.get("base_dir", ".")))
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    full = float(spec.get("full_budget", 1.0))

    def run(task: Task) -> Result:
        start, wall = time.perf_counter(), time.time()
        try:
            kwargs: dict[str, Any] = {}
            if "seed" in params:
                kwargs["seed"] = task.seed
            if "budget" in params:  # multi-fidelity: the amount of the resource this trial may use
                kwargs["budget"] = budget_value(task.budget, full)
            out = fn(dict(task.genome), **kwargs)
            metrics: dict[str, Any] = {}
            if isinstance(out, dict):
                if "fitness" not in out:
                    raise ValueError("fitness function returned a dict without a 'fitness' key")
                metrics = {k: v for k, v in out.items() if k != "fitness"}
                out = out["fitness"]
            if isinstance(out, (bool, np.bool_)) or not isinstance(out, numbers.Real):  # numpy numbers are Real
                raise TypeError(f"fitness must be a number, got {type(out).__name__}")
            fitness = float(out)
            if not math.isfinite(fitness):
                raise ValueError(f"fitness is {fitness}")
            return Result(task.trial_id, Status.OK, fitness, metrics, time.perf_counter() - start, started=wall)
        except Exception as exc:  # noqa: BLE001 - the user's function failed: that trial fails
            return Result(task.trial_id, Status.FAILED, None, {}, time.perf_counter() - start, error_line(exc), wall)

    return run
