"""``natsel train-best``: train the fittest genome of a run fully, save it, report val/test scores."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
from pathlib import Path
from typing import Any

from natsel import objectives
from natsel._child import Child
from natsel._config import apply_run_settings, load_config
from natsel._errors import EXIT_UNGUARDED, UNGUARDED_MESSAGE, NatselError, RunDirError, refuse_in_bootstrapping_child
from natsel._run import Run, _ok
from natsel._store import atomic_write_bytes
from natsel._trial import Goal, Status


class TrainingError(RuntimeError):
    """Training the genome failed in the worker (not a problem with the user's input: exit code 1)."""


def train_best(
    run_dir: str | Path,
    *,
    trial: int | None = None,
    pick: str | None = None,
    epochs: int = 100,
    patience: int = 10,
    max_time: float = 600.0,
    seed: int | None = None,
    out: str | Path | None = None,
    progress: bool = True,
    all_rows: bool = False,
    force: bool = False,
) -> dict[str, Any]:
    """Train the fittest genome of ``run_dir`` (or trial ``trial``) and save it.

    With several objectives, the fittest is the feasible front's best on the first objective;
    ``pick`` chooses another front member (``"knee"``, or an objective's name: :meth:`Run.pick`).
    A run with objectives or constraints also reports each of them (``objectives`` and
    ``constraints`` in the result): validation scores on validation and test, and ``params`` and
    ``latency_ms`` measured on the trained network the way its trials measured them.

    Writes ``best_model.keras``, ``train_best.json`` and ``plots/learning_curve.png`` under
    ``out`` (default: the run folder) and returns what ``train_best.json`` holds. ``all_rows``:
    a search run on a ``limit``-ed subset trains its best genome on every training row (the
    validation and test rows stay the search's own). The model takes raw data and answers in the
    data's terms (:mod:`natsel.objectives.keras.export`); ``labels.json`` beside it names its
    classes and input columns. A folder that already holds a model is refused unless ``force``;
    an interrupted train-best leaves the folder as it was.

    >>> info = natsel.train_best("runs/quickstart-20261123-150000")  # doctest: +SKIP
    >>> info["test"]["accuracy"]  # doctest: +SKIP
    """
    refuse_in_bootstrapping_child("natsel.train_best()")
    run = Run(run_dir)
    chosen = _choose(run, trial, pick)
    base = run.meta.get("base_dir")
    cfg = apply_run_settings(load_config(run.config_path, base_dir=base if base and Path(base).is_dir() else run.path),
                             run.meta, run.path)
    family = objectives.get(cfg.objective)
    # the run's own seed (``--seed`` included) splits the data: test rows stay the ones the search never saw
    try:
        payload = family.train_best(cfg, run.meta, all_rows=all_rows)
    except RunDirError as exc:
        raise RunDirError(exc.message, str(run.path)) from None
    if payload is None:
        what = "a Python fitness function" if family.name == "python" else f"the {family.name} objective"
        raise NatselError(f"{run.path}: train-best trains Keras networks; this run scores {what}")
    out_dir = Path(out) if out is not None else run.path
    if out_dir.exists() and not out_dir.is_dir():
        raise NatselError(f"--out {out_dir} is a file, not a folder")
    if (out_dir / "best_model.keras").exists() and not force:
        raise NatselError(f"{out_dir / 'best_model.keras'} exists (an earlier train-best): --out DIR keeps both, "
                          "--force replaces it")
    seed = cfg.seed if seed is None else seed
    training = {"max_epochs": epochs, "patience": patience, "max_training_time": max_time,
                "steps_per_execution": cfg.training.steps_per_execution}
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp_model = out_dir / f".best_model.{os.getpid()}.keras"
    init = {"genome": cfg.space.trial_genome(chosen["genome"]), "training": training, "seed": seed,
            "model_path": str(tmp_model), "threads": cfg.threads or None, "swarm": cfg.swarm}
    if not run.goal.plain:  # params and latency_ms, measured as the search's trials measured them
        init["report"] = run.goal.reported
    try:
        info = _run_worker(init, payload, epochs, progress)
    except BaseException:  # Ctrl-C or a failure: nothing half-written, no empty folder of ours left
        tmp_model.unlink(missing_ok=True)
        if created:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    model_path = out_dir / "best_model.keras"
    labels = model_labels(payload["preprocess"], cfg.metric, cfg.data or {})
    atomic_write_bytes(out_dir / "labels.json", json.dumps(labels, indent=2).encode())
    os.replace(tmp_model, model_path)
    result = {"run": str(run.path), "trial": chosen["id"], "genome": chosen["genome"], "labels": labels,
              "search_fitness": chosen["fitness"], "metric": cfg.metric, "seed": seed,
              "train_rows": int(len(payload["x_train"])), "epochs": info["epochs"],
              "timed_out": info["timed_out"], "validation": info["validation"], "test": info["test"],
              "seconds": info["seconds"], "model": str(model_path), "history": info["history"],
              "history_axis": info.get("history_axis", "epoch"), "swarm_iterations": info.get("swarm_iterations")}
    if not run.goal.plain:
        result.update(goal_report(run.goal, cfg.metric, chosen, info))
    atomic_write_bytes(out_dir / "train_best.json", json.dumps(result, indent=2).encode())
    from natsel._mpl import render
    from natsel._plot import fig_learning_curve

    atomic_write_bytes(out_dir / "plots" / "learning_curve.png",
                       render(fig_learning_curve(info["history"], f"trial {chosen['id']}: learning curve",
                                                  result["history_axis"])))
    if cfg.tracking is not None and cfg.tracking.mlflow:
        _log_to_mlflow(run, cfg.tracking.mlflow, cfg.tracking.experiment or cfg.name, out_dir, result)
    return result


def _log_to_mlflow(run: Run, url: str, experiment: str, out_dir: Path, result: dict[str, Any]) -> None:
    """The model, scores and learning curve as artefacts of the run's MLflow parent run; a failure is a
    warning (the model is saved either way)."""
    import sys

    from natsel.tracking import describe
    from natsel.tracking._mlflow import log_train_best

    try:
        log_train_best(run, url, experiment, out_dir, result)
    except Exception as exc:  # noqa: BLE001 - tracking must not cost the user their model
        print(f"natsel: warning: tracking to mlflow ({url}) failed: {describe(exc)}; the model is saved in {out_dir}",
              file=sys.stderr)


def model_labels(preprocess: dict[str, Any], metric: str, data: dict[str, Any]) -> dict[str, Any]:
    """What ``labels.json`` says of the saved model: its input (the columns in order, with their kinds
    and vocabularies, or the images' shape) and its output (the classes in order, or the target)."""
    from natsel._version import __version__

    target = preprocess["target"]
    out: dict[str, Any] = {"natsel_version": __version__, "task": target["task"], "target": target["name"],
                           "metric": metric}
    if target["task"] == "regression":
        out["output"] = f"the value of '{target['name']}', in its own units"
    else:
        out["classes"] = list(target["classes"])
        out["output"] = ("P(" + repr(target["classes"][1]) + "), one column" if target["task"] == "binary"
                         else "one probability per class, in the order of 'classes'")
    if preprocess["kind"] == "image":
        out.update(input="images", shape=list(preprocess["raw_shape"]), pixel_scale=preprocess["pixel_scale"])
    else:
        columns = preprocess["columns"]
        text = any(c["kind"] != "numeric" for c in columns)
        out["input"] = "columns" if text else "rows"
        out["columns"] = [{k: v for k, v in c.items() if k in ("name", "kind", "vocabulary")} for c in columns]
        if data.get("source") == "csv":  # natsel predict reads new files the way data: read this one
            out.update(header=bool(data.get("header", True)), delimiter=data.get("delimiter"))
    return out


def _choose(run: Run, trial: int | None, pick: str | None = None) -> dict[str, Any]:
    if trial is not None and pick is not None:
        raise NatselError("--trial and --pick both choose the trial to train: give one")
    if trial is None:
        return run.pick(pick)
    for t in run.trials:
        if t["id"] == trial:
            if not Status(t["status"]).finished or not _ok(t["fitness"]):
                raise RunDirError(f"trial {trial} of {run.path} has no fitness (status {t['status']})")
            if run.goal.plain:
                return t
            return {**t, "values": run.goal.values(t), "feasible": run.goal.feasible(t), "pick": f"trial {trial}"}
    raise RunDirError(f"{run.path} has no trial {trial}")


def goal_report(goal: Goal, metric: str, chosen: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """Each objective and constraint of a run, for the trained model: a validation score (``val_<score>``,
    or ``fitness``: the run's metric) on the validation and test rows, a measure (``params``,
    ``latency_ms``, ``train_seconds``) as its ``value``; each with the search's value of the trial."""
    measured = info.get("measured") or {}

    def entry(name: str) -> dict[str, Any]:
        search = goal.value(chosen, name)
        score = metric if name == "fitness" else name[4:] if name.startswith("val_") else None
        if score is not None:
            out = {"validation": info["validation"].get(score), "test": info["test"].get(score)}
        else:
            out = {"value": measured.get(name)}
            if name == "latency_ms":
                out["rows"] = measured.get("latency_rows")
        return {**out, "search": search if _ok(search) else None}

    objectives = {n: {"direction": d.name, **entry(n)} for n, d in goal.objectives}
    constraints = {}
    for n, b in goal.constraints:
        e = entry(n)
        now = e.get("test", e.get("value"))  # a score is held to its bound on the test rows
        constraints[n] = {**{k: v for k, v in (("min", b.low), ("max", b.high)) if v is not None}, **e,
                          "met": b.miss(now) == 0.0}
    return {"pick": chosen.get("pick", "best"), "feasible_in_search": bool(chosen.get("feasible", True)),
            "objectives": objectives, "constraints": constraints}


def _run_worker(init: dict[str, Any], payload: Any, epochs: int, progress: bool) -> dict[str, Any]:
    """Train in a spawned child (TensorFlow stays out of this process), with a bar per epoch."""
    from natsel._worker import train_best_main

    child = Child(mp.get_context("spawn"), train_best_main, init, "natsel-train-best")
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=epochs, desc="train-best", unit="epoch", dynamic_ncols=True)
    try:
        while True:
            if not child.conn.poll(0.5):
                if not child.proc.is_alive() and not child.conn.poll(0):
                    _died(child.proc)
                continue
            try:
                msg = child.conn.recv()
            except EOFError:
                child.proc.join(2.0)
                _died(child.proc)
            if msg[0] == "hello":
                if not child.answer_hello(payload):
                    child.proc.join(2.0)
                    _died(child.proc)
            elif msg[0] == "epoch" and bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in msg[2].items() if k in ("loss", "val_loss")})
            elif msg[0] == "done":
                return msg[1]
            elif msg[0] == "error":
                raise TrainingError(f"training failed: {msg[1]}")
    finally:
        if bar is not None:
            bar.close()
        child.end(timeout=5.0)


def _died(proc: Any) -> None:
    if proc.exitcode == EXIT_UNGUARDED:
        raise NatselError(UNGUARDED_MESSAGE)
    raise TrainingError(f"the training process died (exit code {proc.exitcode})")
