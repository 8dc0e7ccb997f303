"""The ``keras`` family: dense Keras networks trained on ``data:``, scored on the validation split.

Parent side only (this module never imports TensorFlow): the config's ``data:``, ``training:`` and
``swarm:`` sections and the genes are checked by :mod:`.spec`, the data is loaded and split by
:mod:`.data`. The worker side is :mod:`.train` (and :mod:`.swarm` for the swarm trainers), built
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
    sections = frozenset({"data", "swarm"})
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

        assert cfg.data is not None
        dataset = load_dataset(cfg.data, cfg.base_dir, cfg.seed, cfg.training.task)
        cfg.resolve_task(dataset.task)
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
        return Prepared(spec, dataset.search_payload(), dataset.fingerprint,
                        meta={"metric": cfg.metric, "task": cfg.task, "data_fingerprint": dataset.fingerprint})

    @staticmethod
    def build(spec: Mapping[str, Any], payload: Any) -> Objective:
        from natsel.objectives.keras.train import keras_objective  # imports TensorFlow: workers only

        return keras_objective(dict(spec), payload)

    @classmethod
    def train_best(cls, cfg: Config, meta: Mapping[str, Any]) -> Any:
        """The data train-best needs (the run's own split), checked against what the search saw."""
        from natsel._errors import RunDirError
        from natsel.objectives.keras.data import load_dataset

        assert cfg.data is not None
        dataset = load_dataset(cfg.data, cfg.base_dir, cfg.seed, cfg.training.task)
        recorded = meta.get("data_fingerprint")
        if recorded and dataset.fingerprint != recorded:
            raise RunDirError("the data has changed since the search (its content hash differs); "
                              "train-best would score other rows than the search saw")
        cfg.resolve_task(dataset.task)
        return dataset.final_payload()
