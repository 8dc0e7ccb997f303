"""The ``python`` family: a plain-Python fitness ``fitness: module:function``.

``fn(genome) -> float | {"fitness": float, <metric>: ...}`` (with ``objectives:``, a mapping with a value
for each objective's name, and for each constraint's); a function with a ``seed`` parameter
also gets the trial's seed. The module is looked up next to the config first. Cheap enough to run
in the calling process (``workers: 0``).
"""

from __future__ import annotations

import inspect
import math
import random
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from natsel._imports import callable_identity, resolve_callable
from natsel._trial import Objective, Result, Status, Task, budget_value, error_line, split_fitness
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
            fn = resolve_callable(cfg.fitness, cfg.base_dir)
        except ValueError as exc:
            raise v.err(("fitness",), f"fitness function: {exc}") from None
        if cfg.fidelity is not None and not _takes(fn, "budget"):
            raise v.err(("fidelity",), f"fidelity: trains rungs of smaller budgets, but {cfg.fitness} takes no "
                                       f"'budget' parameter, so every rung would score the same: define "
                                       f"{cfg.fitness.partition(':')[2]}(genome, budget) or leave fidelity out")

    @classmethod
    def prepare(cls, cfg: Config) -> Prepared:
        assert cfg.fitness is not None
        # where the function really lives: two projects' ``fit:score`` are two objectives
        identity = callable_identity(cfg.fitness, cfg.base_dir)
        spec = {"kind": cls.name, "module": cls.__module__, "ref": cfg.fitness, "base_dir": str(cfg.base_dir),
                "sys_path": [str(cfg.base_dir)], "sha256": identity.get("sha256")}
        if cfg.fidelity is not None:  # a fitness(genome, budget=...) is told how much of the resource it has
            spec["full_budget"] = cfg.full_budget()
        if cfg.goal.multi:  # the function returns a mapping of the objectives' names
            spec["objectives"] = cfg.goal.names
        return Prepared(spec, identity={"fitness": identity}, meta={"metric": "fitness", "fitness": identity})

    @staticmethod
    def build(spec: Mapping[str, Any], payload: Any = None) -> Objective:
        return python_objective(spec)


def _takes(fn: Any, name: str) -> bool:
    """``fn`` accepts a keyword argument ``name`` (by name, or through ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True  # cannot tell: let it be called
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def seed_globals(seed: int) -> None:
    """Seed Python's and NumPy's global generators from the trial's seed, so a fitness that draws
    from them (scikit-learn models do) scores a genome the same whatever ran before it."""
    random.seed(seed)
    np.random.seed(seed % 2**32)


def python_objective(spec: Mapping[str, Any]) -> Objective:
    """Score genomes with the function ``spec["ref"]`` names; anything it does wrong fails the trial."""
    for p in spec.get("sys_path", []):
        if p not in sys.path:
            sys.path.append(p)  # importable; first only while resolve_callable imports from it
    # the source the run was started with, or a refusal: what runs is what the cache scope hashed
    fn = resolve_callable(spec["ref"], Path(spec.get("base_dir", ".")), expect=spec.get("sha256") or None)
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    full = float(spec.get("full_budget", 1.0))
    named = list(spec.get("objectives") or ())
    takes_budget = "budget" in params or ("full_budget" in spec and _takes(fn, "budget"))

    def run(task: Task) -> Result:
        start, wall = time.perf_counter(), time.time()
        try:
            kwargs: dict[str, Any] = {}
            if "seed" in params:
                kwargs["seed"] = task.seed
            if takes_budget:  # multi-fidelity: the amount of the resource this trial may use
                kwargs["budget"] = budget_value(task.budget, full)
            seed_globals(task.seed)
            out = fn(task.genome.copy(), **kwargs)  # active genes only: a when: off is not there
            fitness, metrics = split_fitness(out, named=named)
            if not math.isfinite(fitness):
                raise ValueError(f"fitness is {fitness}")
            return Result(task.trial_id, Status.OK, fitness, metrics, time.perf_counter() - start, started=wall)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - the user's function failed (or called sys.exit)
            return Result(task.trial_id, Status.FAILED, None, {}, time.perf_counter() - start, error_line(exc), wall)

    return run
