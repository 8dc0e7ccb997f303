"""Warm starts: the trials of earlier runs as prior knowledge for this run's strategy.

``warm_start: [RUN_DIR, ...]`` reads each earlier run's finished, scored full-budget trials once,
when this run is created, and maps every genome onto this run's space:

* a value that still fits its gene is kept;
* a number outside a range is **clipped** to the range (and snapped to its grid or digits);
* a value a choice (or fixed gene) no longer has **drops the trial** (its score was for a setting
  this space cannot express);
* a gene the earlier run did not have is sampled (from a generator seeded by this run's seed);
  a gene this space no longer has is ignored.

The mapped trials are stored in the run (``prior`` table), so a resume plans from exactly the same
prior. A prior trial is this run's result only when nothing was changed by the mapping and the
earlier run had this run's evaluation identity (objective and its code's hash, data, seed: the
shared cache's scope); then a genome this run plans that equals it is served as a cached trial, as
from a shared cache. Otherwise it only informs the strategy (``PlanContext.prior``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from natsel._errors import ConfigError
from natsel._space import Choice, Fixed, Gene, SearchSpace, canonical
from natsel._store import RunStore, is_run_dir
from natsel._trial import FULL_BUDGET, Status, is_number

#: a trial whose value for a gene is no longer allowed is dropped
DROP = object()


def fit_value(gene: Gene, value: Any) -> tuple[Any, str]:
    """``value`` as a value of ``gene``: (value, "kept" | "clipped"), or (DROP, "dropped")."""
    if gene.contains(value):
        return value, "kept"
    if isinstance(gene, (Choice, Fixed)) or not is_number(value):
        return DROP, "dropped"
    low, high = float(gene.low), float(gene.high)  # type: ignore[attr-defined]
    x = min(max(float(value), low), high)
    snapped = gene._snap(x)  # type: ignore[attr-defined]
    return snapped, "clipped"


def map_genome(genome: Mapping[str, Any], space: SearchSpace, rng: np.random.Generator) -> tuple[dict[str, Any] | None, bool]:
    """(the genome in ``space``, whether it changed), or (None, True) when a value is dropped."""
    out: dict[str, Any] = {}
    changed = False
    for gene in space.genes:
        if gene.name not in genome:
            out[gene.name] = gene.sample(rng)
            changed = True
            continue
        value, how = fit_value(gene, genome[gene.name])
        if value is DROP:
            return None, True
        out[gene.name] = value
        changed = changed or how != "kept" or canonical(value) != canonical(genome[gene.name])
    changed = changed or any(k not in space.names for k in genome)
    return out, changed


def check_sources(paths: Sequence[Path], where: str) -> None:
    """Every warm-start folder holds a run (ConfigError at ``where`` otherwise)."""
    for p in paths:
        if not is_run_dir(p):
            raise ConfigError(f"warm_start: {p} is not a natsel run folder (no run.json / trials.sqlite)", where)


def prior_trials(paths: Sequence[Path], space: SearchSpace, seed: int, scope: str, maximize: bool,
                 metric: str | None) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The earlier runs' trials mapped onto ``space``, and counts (kept, clipped or sampled, dropped).

    A run scored with another metric or direction is refused: its numbers mean something else."""
    rng = np.random.default_rng([seed, 0x5741524D])  # "WARM": new genes' values, fixed once per run
    rows: list[dict[str, Any]] = []
    counts = {"kept": 0, "changed": 0, "dropped": 0}
    for path in paths:
        store = RunStore(path, readonly=True)
        try:
            meta = store.meta()
            trials = store.trials()
        finally:
            store.close()
        if bool(meta.get("maximize", True)) != maximize or (metric and meta.get("metric") not in (None, metric)):
            raise ConfigError(f"warm_start: {path} was scored with another metric or direction "
                              f"({meta.get('metric')}, {'maximize' if meta.get('maximize', True) else 'minimize'}); "
                              "its fitness values would mislead this search", "warm_start")
        same = meta.get("scope") == scope
        seen: set[str] = set()
        for t in trials:
            if t.get("budget", FULL_BUDGET) != FULL_BUDGET or not Status(t["status"]).finished:
                continue
            if not is_number(t["fitness"]) or t["key"] in seen:
                continue
            seen.add(t["key"])
            genome, changed = map_genome(t["genome"], space, rng)
            if genome is None:
                counts["dropped"] += 1
                continue
            counts["changed" if changed else "kept"] += 1
            rows.append({"source": str(path), "source_trial": t["id"], "key": space.key(genome), "genome": genome,
                         "fitness": float(t["fitness"]), "metrics": t.get("metrics") or {},
                         "servable": bool(same and not changed)})
    return rows, counts


def as_history(prior: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Prior trials as rows a strategy reads (``PlanContext.prior``): generation -1, negative ids."""
    return [{"id": -len(prior) + i, "generation": -1, "slot": i, "key": p["key"], "genome": dict(p["genome"]),
             "origin": "warm_start", "status": Status.OK.value, "fitness": p["fitness"], "metrics": p["metrics"],
             "budget": FULL_BUDGET, "extra": {"source": p["source"]}} for i, p in enumerate(prior)]


def describe(counts: Mapping[str, int]) -> str:
    total = sum(counts.values())
    return (f"warm start: {total} earlier trials: {counts['kept']} kept as they were, {counts['changed']} "
            f"fitted to this space (numbers clipped to ranges, new genes sampled), {counts['dropped']} dropped "
            "(a choice this space no longer has)")


__all__ = ["as_history", "check_sources", "describe", "fit_value", "map_genome", "prior_trials"]
