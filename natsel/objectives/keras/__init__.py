"""The ``keras`` family: Keras networks trained on ``data:``, scored on the validation split.

The networks are natsel's own (dense layers, and convolutional blocks on images) built from the
genes, or a user's ``model: module:function`` builder's.

Parent side only (this module never imports TensorFlow): the config's ``data:``, ``training:``,
``swarm:`` and ``model:`` sections and the genes are checked by :mod:`.spec`, the data is loaded and
split by :mod:`.data` (the convolutional genes' shapes are checked against it there). The worker side is :mod:`.train` (and :mod:`.swarm` for the swarm trainers), built
by :meth:`KerasFamily.build` inside each worker; scores come from :mod:`.metrics`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from natsel._trial import Objective
from natsel.objectives._base import ObjectiveFamily, Prepared

if TYPE_CHECKING:
    from natsel._settings import Config
    from natsel._yaml import Validator


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class KerasFamily(ObjectiveFamily):
    name = "keras"
    sections = frozenset({"data", "swarm", "model"})
    selector = "data"
    inline = False  # TensorFlow stays out of the parent: workers only

    @classmethod
    def validate(cls, cfg: Config, v: Validator) -> None:
        from natsel.objectives.keras.spec import validate_keras_config

        if "data" not in cfg.raw:
            raise v.err((), "the keras objective needs 'data:' (the data to train on)")
        cfg.data = dict(v.mapping(cfg.raw["data"], ("data",), "data"))
        cfg.swarm = dict(v.mapping(cfg.raw.get("swarm"), ("swarm",), "swarm"))
        validate_keras_config(cfg, v)

    @classmethod
    def prepare(cls, cfg: Config) -> Prepared:
        from natsel.objectives.keras.data import load_dataset
        from natsel.objectives.keras.spec import check_data_shape, check_goal_names

        assert cfg.data is not None
        dataset = load_dataset(cfg.data, cfg.base_dir, cfg.seed, cfg.training.task)
        check_data_shape(cfg, dataset.input_shape, dataset.name)  # before anything is written
        cfg.resolve_task(dataset.task)
        check_goal_names(cfg)  # a score that fits the data's task (``auto`` accepted any)
        builder = _builder(cfg)
        spec = {
            "kind": cls.name,
            "module": cls.__module__,
            "training": asdict(cfg.training),
            "metric": cfg.metric,
            "threads": cfg.threads or max(1, _cores() // max(1, cfg.workers)),
            "swarm": cfg.swarm,
            # the data's content hash: a long-lived (Dask) worker rebuilds its objective for other data
            "data": dataset.fingerprint,
            "maximize": cfg.maximize,
            "curve": cfg.pruning is not None,  # score validation after every epoch (pruning needs the curve)
        }
        if not cfg.goal.plain:  # only then: a plain run's spec (and so its shared-cache scope) stays as it was
            spec["report"] = cfg.goal.reported  # val_<score>, params, latency_ms the worker adds to its metrics
        meta = {"metric": cfg.metric, "task": cfg.task, "data_fingerprint": dataset.fingerprint}
        identity: dict[str, Any] = {}
        if builder is not None:  # the builder's module file and source hash scope the shared cache
            # its hash: a worker refuses another version of it (natsel.executors._dask checks them all first)
            spec.update(model=builder["ref"], base_dir=str(cfg.base_dir), model_sha256=builder.get("sha256"))
            identity["model"] = meta["model"] = builder
        return Prepared(spec, dataset.search_payload(), dataset.fingerprint, identity=identity, meta=meta)

    @staticmethod
    def build(spec: Mapping[str, Any], payload: Any) -> Objective:
        from natsel.objectives.keras.train import keras_objective  # imports TensorFlow: workers only

        return keras_objective(dict(spec), payload)

    @classmethod
    def train_best(cls, cfg: Config, meta: Mapping[str, Any], *, all_rows: bool = False) -> Any:
        """The data train-best needs (the run's own split), checked against what the search saw;
        ``all_rows``: the rows a ``limit`` left out join the training rows."""
        from natsel._errors import RunDirError
        from natsel.objectives.keras.data import load_dataset

        assert cfg.data is not None
        dataset = load_dataset(cfg.data, cfg.base_dir, cfg.seed, cfg.training.task, all_rows=all_rows)
        recorded = meta.get("data_fingerprint")
        if recorded and dataset.fingerprint != recorded:
            raise RunDirError("the data has changed since the search (its content hash differs); "
                              "train-best would score other rows than the search saw")
        builder = _builder(cfg)
        recorded = meta.get("model") or {}
        if (builder or {}).get("sha256") != recorded.get("sha256"):
            raise RunDirError(f"the model builder {(builder or recorded).get('ref')} has changed since the search (its "
                              "source differs); train-best would train another network than the search scored")
        cfg.resolve_task(dataset.task)
        payload = dataset.final_payload()
        if builder is not None:  # train-best's worker imports and calls it
            payload["builder"] = {"ref": builder["ref"], "base_dir": str(cfg.base_dir)}
        return payload


def _builder(cfg: Config) -> dict[str, str] | None:
    """The ``model:`` builder's identity (found, not imported: the parent never imports TensorFlow)."""
    from natsel._errors import ConfigError
    from natsel.objectives.keras.spec import locate_builder

    ref = cfg.raw.get("model")
    if ref is None:
        return None
    try:
        return locate_builder(str(ref), cfg.base_dir)
    except ValueError as exc:  # gone since validation
        where = cfg.doc.where(("model",)) if cfg.doc is not None else cfg.source_name
        raise ConfigError(f"model builder: {exc}", where) from None
