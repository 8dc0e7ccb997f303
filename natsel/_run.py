"""Reading a run folder: trials, history, best genome, leaderboard (read-only)."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

from natsel._genetic import summarize
from natsel._store import FINISHED, RunStore


def _ok(f: Any) -> bool:
    return f is not None and isinstance(f, (int, float)) and math.isfinite(f)


def _better(a: float, b: float, maximize: bool) -> bool:
    return a > b if maximize else a < b


def evaluations(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Finished trials, one per genome key (the first, in trial order).

    A trial served from the cache is a finished trial: when the evaluation it copies is in this run,
    that evaluation is the one kept; when it came from a shared cache, the cached row stands for it.
    """
    seen: set[str] = set()
    out = []
    for t in sorted(trials, key=lambda t: t["id"]):
        if t["status"] in FINISHED and t["key"] not in seen:
            seen.add(t["key"])
            out.append(t)
    return out


def pick_best(trials: list[dict[str, Any]], maximize: bool) -> dict[str, Any] | None:
    """The fittest finished trial (cache hits count, copies are not counted twice); ties: earliest."""
    best = None
    for t in evaluations(trials):
        if _ok(t["fitness"]) and (best is None or _better(t["fitness"], best["fitness"], maximize)):
            best = t
    if best is None:
        return None
    return {k: best[k] for k in ("id", "generation", "slot", "key", "genome", "fitness", "metrics", "status", "seconds")}


#: how trials are counted in summaries: trained (and scored), failed, served from the cache
TRAINED = ("ok", "timeout")
FAILED = ("failed", "killed")


def outcome(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts of trained, failed and cached trials, and the most common error (None if none failed)."""
    errors = Counter((t["error"] or t["status"]) for t in trials if t["status"] in FAILED)
    common = errors.most_common(1)
    return {
        "trained": sum(t["status"] in TRAINED for t in trials),
        "failed": sum(t["status"] in FAILED for t in trials),
        "cached": sum(t["status"] == "cached" for t in trials),
        "succeeded": sum(t["status"] in FINISHED and _ok(t["fitness"]) for t in trials),
        "common_error": common[0][0] if common else None,
        "common_error_count": common[0][1] if common else 0,
    }


def compute_history(trials: list[dict[str, Any]], maximize: bool) -> list[dict[str, Any]]:
    """Per generation: fitness statistics of the population, counts, and the best so far."""
    gens: dict[int, list[dict[str, Any]]] = {}
    for t in trials:
        gens.setdefault(t["generation"], []).append(t)
    start = min((t["started"] for t in trials if t["started"]), default=None)
    history = []
    best_so_far: dict[str, Any] | None = None
    trained = 0
    for g in sorted(gens):
        rows = gens[g]
        done = [t for t in rows if t["status"] != "pending"]
        stats = summarize([t["fitness"] for t in done])
        for t in done:
            if t["status"] in FINISHED and _ok(t["fitness"]):
                if best_so_far is None or _better(t["fitness"], best_so_far["fitness"], maximize):
                    best_so_far = t
        counts = outcome(rows)
        trained += counts["trained"]
        finished = max((t["finished"] for t in done if t["finished"]), default=None)
        history.append({
            "generation": g,
            "best": stats["max"] if maximize else stats["min"],
            **{k: stats[k] for k in ("mean", "std", "min", "max")},
            "size": len(rows),
            "complete": len(done) == len(rows),
            "trained": counts["trained"],
            "cached": counts["cached"],
            "failed": counts["failed"],
            "timeout": sum(t["status"] == "timeout" for t in rows),
            "trained_total": trained,
            "best_so_far": best_so_far["fitness"] if best_so_far else None,
            "best_genome_so_far": best_so_far["genome"] if best_so_far else None,
            "elapsed": (finished - start) if finished and start else None,
        })
    return history


class Run:
    """A run folder, read-only. ``natsel.load_run(path)`` returns one.

    >>> run = natsel.load_run("runs/mixed-20261123-150000")  # doctest: +SKIP
    >>> run.fittest, run.best["fitness"]  # doctest: +SKIP
    """

    def __init__(self, path: str | Path) -> None:
        store = RunStore(path, readonly=True)
        try:
            self.path = Path(path)
            self.meta: dict[str, Any] = store.meta()
            self.trials: list[dict[str, Any]] = store.trials()
            self.history: list[dict[str, Any]] = store.read_json("history.json", []) or []
        finally:
            store.close()
        self.maximize: bool = bool(self.meta.get("maximize", True))
        self.best: dict[str, Any] | None = pick_best(self.trials, self.maximize)
        if not self.history and self.trials:
            self.history = compute_history(self.trials, self.maximize)

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def status(self) -> str:
        return str(self.meta.get("status", "unknown"))

    @property
    def fittest(self) -> dict[str, Any] | None:
        """The genome of the fittest trial (NaturalSelection's ``History.fittest``)."""
        return dict(self.best["genome"]) if self.best else None

    @property
    def outcome(self) -> dict[str, Any]:
        """How many trials were trained, failed and served from the cache, and the most common error."""
        return outcome(self.trials)

    def leaderboard(self, top: int | None = None) -> list[dict[str, Any]]:
        """Finished trials (one per genome), best first; failed ones last. Copies of a trial are left out."""
        rows = evaluations(self.trials)
        sign = -1.0 if self.maximize else 1.0
        rows.sort(key=lambda t: (0, sign * t["fitness"], t["id"]) if _ok(t["fitness"]) else (1, 0.0, t["id"]))
        ranked = [{"rank": i + 1, **t} for i, t in enumerate(rows)]
        return ranked[:top] if top else ranked

    def __repr__(self) -> str:
        best = self.best["fitness"] if self.best else None
        return f"Run({str(self.path)!r}, status={self.status!r}, trials={len(self.trials)}, best={best})"


def load_run(path: str | Path) -> Run:
    """Open a run folder read-only (safe while the run is still going)."""
    return Run(path)
