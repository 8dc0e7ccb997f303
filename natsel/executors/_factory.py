"""Which executor a config gets: the local pool, the in-process one, or a Dask cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from natsel._errors import ConfigError
from natsel.executors._base import Executor

if TYPE_CHECKING:
    from natsel._settings import Config


def check_workers(cfg: Config, where: str | None = None) -> None:
    """``workers: 0`` runs trials in this process, which only families that never import TensorFlow allow."""
    from natsel import objectives

    family = objectives.get(cfg.objective)
    if cfg.workers == 0 and cfg.executor.type == "local" and not family.inline:
        raise ConfigError(f"workers: 0 runs trials in this process, which the {family.name} objective cannot do "
                          "(it would import TensorFlow here); use workers >= 1", where or cfg.source_name)


def make_executor(cfg: Config, spec: dict[str, Any], payload: Any) -> Executor:
    """The executor for ``cfg``; a Dask cluster is connected to here (before any run folder is written)."""
    from natsel.executors import InlineExecutor, LocalPool

    check_workers(cfg)
    hard_limit = cfg.training.max_training_time + cfg.training.grace
    if cfg.executor.type == "dask":
        from natsel.executors._dask import DaskExecutor

        return DaskExecutor(cfg.executor.scheduler or "", spec, payload, retries=cfg.executor.retries,
                            gpu=cfg.executor.gpu, hard_limit=hard_limit, connect_timeout=cfg.executor.timeout,
                            security=cfg.executor.security)
    if cfg.workers == 0:
        return InlineExecutor(spec, payload)

    def env(i: int) -> dict[str, str]:
        return {"CUDA_VISIBLE_DEVICES": str(cfg.gpus[i % len(cfg.gpus)])} if cfg.gpus else {}

    return LocalPool(spec, payload, workers=cfg.workers, hard_limit=hard_limit,
                     max_trials_per_worker=cfg.max_trials_per_worker, env=env, retries=cfg.executor.retries)
