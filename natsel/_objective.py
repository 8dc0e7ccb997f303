"""Objectives: what a worker calls to score one genome.

An objective is described by a small picklable dict (its *spec*) and built inside the process
that runs it, so the parent never imports TensorFlow.
"""

from __future__ import annotations

import inspect
import math
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from natsel.executors._base import Result, Task

Objective = Callable[[Task], Result]


def error_line(exc: BaseException) -> str:
    """``Type: message (file:line)`` of the innermost frame: one line for the trials table."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{exc.__class__.__name__}: {msg}{where}"[:500]


def python_objective(spec: dict[str, Any]) -> Objective:
    """A plain-Python fitness ``fn(genome) -> float | {"fitness": float, ...}``.

    If the function takes a ``seed`` argument, the trial's seed is passed too.
    """
    from natsel._config import resolve_callable

    for p in spec.get("sys_path", []):
        if p not in sys.path:
            sys.path.insert(0, p)
    fn = resolve_callable(spec["ref"], Path(spec.get("base_dir", ".")))
    try:
        wants_seed = "seed" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        wants_seed = False

    def run(task: Task) -> Result:
        start, wall = time.perf_counter(), time.time()
        try:
            out = fn(dict(task.genome), seed=task.seed) if wants_seed else fn(dict(task.genome))
            metrics: dict[str, Any] = {}
            if isinstance(out, dict):
                if "fitness" not in out:
                    raise ValueError("fitness function returned a dict without a 'fitness' key")
                metrics = {k: v for k, v in out.items() if k != "fitness"}
                out = out["fitness"]
            if isinstance(out, bool) or not isinstance(out, (int, float)):
                raise TypeError(f"fitness must be a number, got {type(out).__name__}")
            fitness = float(out)
            if not math.isfinite(fitness):
                raise ValueError(f"fitness is {fitness}")
            return Result(task.trial_id, "ok", fitness, metrics, time.perf_counter() - start, started=wall)
        except Exception as exc:  # noqa: BLE001 - the user's function failed: that trial fails
            return Result(task.trial_id, "failed", None, {}, time.perf_counter() - start, error_line(exc), wall)

    return run


def build_objective(spec: dict[str, Any], payload: Any = None) -> Objective:
    """Build the objective a spec describes (in the process that will run it)."""
    if spec["kind"] == "python":
        return python_objective(spec)
    if spec["kind"] == "keras":
        from natsel._keras import keras_objective  # imports TensorFlow: workers only

        return keras_objective(spec, payload)
    raise ValueError(f"unknown objective kind {spec['kind']!r}")
