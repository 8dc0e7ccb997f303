"""``natsel train-best``: train the fittest genome of a run fully, save it, report val/test scores."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Any

from natsel._config import apply_run_settings, load_config
from natsel._errors import EXIT_UNGUARDED, UNGUARDED_MESSAGE, NatselError, RunDirError, refuse_in_bootstrapping_child
from natsel._run import Run, _ok
from natsel._store import FINISHED, atomic_write_bytes


class TrainingError(RuntimeError):
    """Training the genome failed in the worker (not a problem with the user's input: exit code 1)."""


def train_best(
    run_dir: str | Path,
    *,
    trial: int | None = None,
    epochs: int = 100,
    patience: int = 10,
    max_time: float = 600.0,
    seed: int | None = None,
    out: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train the fittest genome of ``run_dir`` (or trial ``trial``) and save it.

    Writes ``best_model.keras``, ``train_best.json`` and ``plots/learning_curve.png`` under
    ``out`` (default: the run folder) and returns what ``train_best.json`` holds.

    >>> info = natsel.train_best("runs/quickstart-20261123-150000")  # doctest: +SKIP
    >>> info["test"]["accuracy"]  # doctest: +SKIP
    """
    refuse_in_bootstrapping_child("natsel.train_best()")
    run = Run(run_dir)
    chosen = _choose(run, trial)
    base = run.meta.get("base_dir")
    cfg = apply_run_settings(load_config(run.config_path, base_dir=base if base and Path(base).is_dir() else run.path),
                             run.meta, run.path)
    if cfg.data is None:
        raise NatselError(f"{run.path}: train-best trains Keras networks; this run scores a Python fitness function")
    from natsel._data import load_dataset

    # the run's own seed (``--seed`` included) splits the data: test rows stay the ones the search never saw
    dataset = load_dataset(cfg.data, cfg.base_dir, cfg.seed, cfg.training.task)
    recorded = run.meta.get("data_fingerprint")
    if recorded and dataset.fingerprint != recorded:
        raise RunDirError(f"{run.path}: the data has changed since the search (its content hash differs); "
                          "train-best would score other rows than the search saw")
    cfg.resolve_task(dataset.task)
    out_dir = Path(out) if out is not None else run.path
    if out_dir.exists() and not out_dir.is_dir():
        raise NatselError(f"--out {out_dir} is a file, not a folder")
    seed = cfg.seed if seed is None else seed
    training = {"max_epochs": epochs, "patience": patience, "max_training_time": max_time,
                "steps_per_execution": cfg.training.steps_per_execution}
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp_model = out_dir / f".best_model.{os.getpid()}.keras"
    init = {"parent_pid": os.getpid(), "genome": chosen["genome"],
            "training": training, "seed": seed, "model_path": str(tmp_model), "threads": cfg.threads or None,
            "swarm": cfg.swarm}
    try:
        info = _run_worker(init, dataset.final_payload(), epochs, progress)
        model_path = out_dir / "best_model.keras"
        os.replace(tmp_model, model_path)
    finally:
        tmp_model.unlink(missing_ok=True)
    result = {"run": str(run.path), "trial": chosen["id"], "genome": chosen["genome"],
              "search_fitness": chosen["fitness"], "metric": cfg.metric, "seed": seed, "epochs": info["epochs"],
              "timed_out": info["timed_out"], "validation": info["validation"], "test": info["test"],
              "seconds": info["seconds"], "model": str(model_path), "history": info["history"],
              "history_axis": info.get("history_axis", "epoch"), "swarm_iterations": info.get("swarm_iterations")}
    atomic_write_bytes(out_dir / "train_best.json", json.dumps(result, indent=2).encode())
    from natsel._plot import fig_learning_curve, render

    atomic_write_bytes(out_dir / "plots" / "learning_curve.png",
                       render(fig_learning_curve(info["history"], f"trial {chosen['id']}: learning curve",
                                                  result["history_axis"])))
    return result


def _choose(run: Run, trial: int | None) -> dict[str, Any]:
    if trial is None:
        if run.best is None:
            raise RunDirError(f"{run.path} has no finished trial yet")
        return run.best
    for t in run.trials:
        if t["id"] == trial:
            if t["status"] not in FINISHED or not _ok(t["fitness"]):
                raise RunDirError(f"trial {trial} of {run.path} has no fitness (status {t['status']})")
            return t
    raise RunDirError(f"{run.path} has no trial {trial}")


def _run_worker(init: dict[str, Any], payload: dict[str, Any], epochs: int, progress: bool) -> dict[str, Any]:
    from natsel._worker import train_best_main

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=train_best_main, args=(child, init), daemon=True, name="natsel-train-best")
    proc.start()
    child.close()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=epochs, desc="train-best", unit="epoch", dynamic_ncols=True)
    try:
        while True:
            if not parent.poll(0.5):
                if not proc.is_alive() and not parent.poll(0):
                    _died(proc)
                continue
            try:
                msg = parent.recv()
            except EOFError:
                proc.join(2.0)
                _died(proc)
            if msg[0] == "hello":  # the data goes over this pipe, never in the spawn arguments (see _worker)
                try:
                    parent.send(("payload", payload))
                except OSError:
                    proc.join(2.0)
                    _died(proc)
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
        deadline = time.monotonic() + 5
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join()
        parent.close()


def _died(proc: Any) -> None:
    if proc.exitcode == EXIT_UNGUARDED:
        raise NatselError(UNGUARDED_MESSAGE)
    raise TrainingError(f"the training process died (exit code {proc.exitcode})")
