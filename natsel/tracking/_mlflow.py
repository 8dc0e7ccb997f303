"""A natsel run in MLflow (``tracking: {mlflow: TRACKING_URI, experiment: NAME}``), through
``mlflow.MlflowClient``.

One parent MLflow run per natsel run (tag ``natsel_run``: the folder's name and creation time; a
resume finds it again), and under it one nested run per trial: the active genes as params, the
fitness and every scalar metric as metrics, a per-epoch curve (a Keras trial's validation curve,
a metric kept as a list) as steps, and status, budget, generation and origin as tags. The nested
run ends FINISHED, or FAILED for a failed or killed trial. ``natsel train-best`` adds its model
(``best_model.keras``, which takes raw data, with ``labels.json``), its scores and its learning
curve to the parent run as artefacts under ``train_best/``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from natsel._trial import FULL_BUDGET, Status, TrialRow, is_number
from natsel.tracking._base import Target

if TYPE_CHECKING:
    from natsel._run import Run


def run_tag(run: Run) -> str:
    """What says that an MLflow run belongs to this natsel run: its folder's name and creation time."""
    return f"{run.path.resolve().name}@{run.meta.get('created')}"


def _ms(t: float | None) -> int | None:
    return int(float(t) * 1000) if t else None


class MlflowTarget(Target):
    """An MLflow experiment: a parent run for the natsel run, a nested run per trial."""

    tool = "mlflow"

    def __init__(self, url: str, experiment: str) -> None:
        super().__init__(url)
        self.experiment = experiment
        self.client: Any = None
        self.experiment_id: str | None = None
        self.parent: str | None = None
        self.best: float | None = None

    def export_hint(self, run_path: Any) -> str:
        return f"natsel export {run_path} --mlflow {self.url} --experiment {self.experiment}"

    def connect(self, run: Run) -> set[int]:
        from mlflow import MlflowClient

        self.client = client = MlflowClient(tracking_uri=self.url)
        exp = client.get_experiment_by_name(self.experiment)
        self.experiment_id = exp.experiment_id if exp is not None else client.create_experiment(self.experiment)
        tag = run_tag(run)
        found = client.search_runs([self.experiment_id], f"tags.natsel_run = '{tag}' and tags.natsel_role = 'run'",
                                   max_results=1)
        if found:
            self.parent = found[0].info.run_id
            client.update_run(self.parent, status="RUNNING")  # a resume: the run goes on
        else:
            parent = client.create_run(self.experiment_id, start_time=_ms(run.meta.get("created")),
                                       run_name=run.path.resolve().name,
                                       tags={"natsel_run": tag, "natsel_role": "run", "run_dir": str(run.path.resolve()),
                                             "direction": run.direction.name,
                                             "metric": str(run.meta.get("metric") or "fitness")})
            self.parent = parent.info.run_id
        have: set[int] = set()
        token = None
        while True:
            page = client.search_runs([self.experiment_id], f"tags.natsel_run = '{tag}' and tags.natsel_role = 'trial'",
                                      max_results=1000, page_token=token)
            have.update(int(r.data.tags["natsel_trial"]) for r in page)
            token = page.token
            if not token:
                return have

    def send(self, run: Run, row: TrialRow) -> None:
        from mlflow.entities import Metric, Param

        from natsel._run import run_space

        client, status, extra = self.client, Status(row["status"]), row.get("extra") or {}
        space = run_space(run)
        on = space.active(row["genome"]) | (set(row["genome"]) - set(space.names)) if space else set(row["genome"])
        end = _ms(row.get("finished")) or int(time.time() * 1000)
        child = client.create_run(self.experiment_id, start_time=_ms(row.get("started")) or end,
                                  run_name=f"trial {row['id']}",
                                  tags={"mlflow.parentRunId": self.parent, "natsel_run": run_tag(run),
                                        "natsel_role": "trial", "natsel_trial": str(row["id"]), "status": row["status"],
                                        "budget": row.get("budget", FULL_BUDGET), "generation": str(row["generation"]),
                                        "origin": row["origin"], **({"error": row["error"][:5000]} if row.get("error")
                                                                    else {})})
        rid = child.info.run_id
        params = [Param(k, str(v)[:6000]) for k, v in row["genome"].items() if k in on]
        metrics = []
        if is_number(row["fitness"]):
            metrics.append(Metric("fitness", float(row["fitness"]), end, 0))
        if is_number(row.get("seconds")):
            metrics.append(Metric("seconds", float(row["seconds"]), end, 0))  # type: ignore[arg-type]
        for k, v in (row.get("metrics") or {}).items():
            if is_number(v):
                metrics.append(Metric(_key(k), float(v), end, 0))
            elif isinstance(v, list) and v and all(is_number(x) for x in v):  # a curve: one step per entry
                metrics += [Metric(_key(k), float(x), end, i + 1) for i, x in enumerate(v)]
        curve = [x for x in (extra.get("curve") or []) if is_number(x)]
        name = f"validation_{run.meta.get('metric') or 'fitness'}"
        metrics += [Metric(name, float(x), end, i + 1) for i, x in enumerate(curve)]
        for i in range(0, max(len(metrics), len(params), 1), 900):  # MLflow takes at most 1000 metrics a batch
            client.log_batch(rid, metrics=metrics[i:i + 900], params=params[i:i + 100] if i == 0 else [])
        for i in range(100, len(params), 100):
            client.log_batch(rid, params=params[i:i + 100])
        failed = status.failed or (status is Status.CACHED and Status(extra.get("source_status", "ok")).failed)
        client.set_terminated(rid, status="FAILED" if failed else "FINISHED", end_time=end)
        if run.direction.better(row["fitness"], self.best) and row.get("budget", FULL_BUDGET) == FULL_BUDGET:
            self.best = float(row["fitness"])  # type: ignore[arg-type]
            client.log_metric(self.parent, "best_fitness", self.best, timestamp=end, step=int(row["id"]))

    def finish(self, run: Run, final: bool = False) -> None:
        if final and self.parent is not None:
            self.client.set_terminated(self.parent, status="FINISHED")


def _key(name: str) -> str:
    """An MLflow metric key: letters, digits and ``_-./ `` only."""
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in str(name))[:250]


def log_train_best(run: Run, url: str, experiment: str, out_dir: Path, result: dict[str, Any]) -> str:
    """Add what ``natsel train-best`` wrote to the natsel run's parent MLflow run; returns its run id."""
    target = MlflowTarget(url, experiment)
    target.connect(run)
    client, parent = target.client, target.parent
    for name in ("best_model.keras", "labels.json", "train_best.json"):
        if (out_dir / name).is_file():
            client.log_artifact(parent, str(out_dir / name), artifact_path="train_best")
    curve = out_dir / "plots" / "learning_curve.png"
    if curve.is_file():
        client.log_artifact(parent, str(curve), artifact_path="train_best")
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [Metric(_key(f"{split}_{m}"), float(v), now, 0)
               for split in ("validation", "test") for m, v in (result.get(split) or {}).items() if is_number(v)]
    for k, values in (result.get("history") or {}).items():
        metrics += [Metric(_key(f"train_best_{k}"), float(x), now, i + 1) for i, x in enumerate(values) if is_number(x)]
    for i in range(0, len(metrics), 900):
        client.log_batch(parent, metrics=metrics[i:i + 900])
    client.set_tag(parent, "train_best_trial", str(result.get("trial")))
    return str(parent)
