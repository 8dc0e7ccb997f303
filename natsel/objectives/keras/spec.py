"""What the Keras objective understands, checked in the parent without importing TensorFlow."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from natsel._space import Choice, Fixed, FloatRange, Gene, IntRange

if TYPE_CHECKING:
    from natsel._settings import Config
    from natsel._yaml import Validator as _V

OPTIMIZERS = {"adam", "adamax", "nadam", "sgd", "rmsprop", "adagrad", "adadelta", "adamw", "adaswarm"}
ACTIVATIONS = {"relu", "elu", "selu", "tanh", "sigmoid", "gelu", "swish", "silu", "softplus", "softsign",
               "leaky_relu", "relu6", "mish", "linear", "hard_sigmoid", "exponential"}
INITIALIZERS = {"lecun_uniform", "lecun_normal", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                "random_uniform", "random_normal", "truncated_normal", "orthogonal", "variance_scaling"}
TRAINERS = {"gradient", "pso"}
NAMED = {"optimizer": OPTIMIZERS, "hidden_activation": ACTIVATIONS, "initializer": INITIALIZERS, "trainer": TRAINERS}
NUMERIC = {"learning_rate": (0.0, 10.0), "batch_size": (1, 1 << 20), "input_dropout": (0.0, 0.99),
           "pso_particles": (2, 100000), "pso_iterations": (1, 10**7)}
LAYER = re.compile(r"^(neurons|dropout)(\d+)$")
DATA_SOURCES = {"iris", "wine", "breast_cancer", "digits", "diabetes", "synthetic", "csv", "npz", "python",
                "fashion_mnist"}
DATA_KEYS = {"source", "path", "target", "function", "validation", "test", "early_stopping", "kind",
             "n_samples", "n_features", "n_classes", "noise", "limit", "x", "y"}

#: Defaults for genes a search space leaves out.
DEFAULT_GENOME: dict[str, Any] = {
    "optimizer": "adam", "learning_rate": 1e-3, "hidden_activation": "relu", "batch_size": 32,
    "initializer": "glorot_uniform", "input_dropout": 0.0, "trainer": "gradient",
    "pso_particles": 30, "pso_iterations": 100,
}


def _values(g: Gene) -> list[Any]:
    if isinstance(g, Choice):
        return list(g.values)
    if isinstance(g, Fixed):
        return [g.value]
    if isinstance(g, (IntRange, FloatRange)):
        return [g.low, g.high]
    return []


def validate_keras_config(cfg: Config, v: _V) -> None:
    """Genes and data keys the Keras objective cannot use are config errors (with their line)."""
    for g in cfg.space.genes:
        path = ("space", re.sub(r"\d+$", "", g.name)) if LAYER.match(g.name) else ("space", g.name)
        m = LAYER.match(g.name)
        if g.name in NAMED:
            for val in _values(g):
                if val not in NAMED[g.name]:
                    raise v.err(path, f"gene '{g.name}': unknown value {val!r} (known: {', '.join(sorted(NAMED[g.name]))})")
        elif g.name in NUMERIC or m:
            lo, hi = NUMERIC.get(g.name, (0.0, 0.99) if m and m.group(1) == "dropout" else (0, 1 << 20))
            for val in _values(g):
                if isinstance(val, bool) or not isinstance(val, (int, float)) or not lo <= val <= hi:
                    raise v.err(path, f"gene '{g.name}': {val!r} is outside {lo}..{hi}")
        else:
            known = sorted(set(NAMED) | set(NUMERIC) | {"neurons<i>", "dropout<i>"})
            raise v.err(path, f"gene '{g.name}' is not used by the Keras model (known: {', '.join(known)})")
    data = cfg.data or {}
    v.keys(data, DATA_KEYS, ("data",), "'data'")
    if "source" not in data:
        raise v.err(("data",), f"'data' needs 'source' (one of {', '.join(sorted(DATA_SOURCES))})")
    v.string(data["source"], ("data", "source"), DATA_SOURCES)
    for frac in ("validation", "test", "early_stopping"):
        if frac in data:
            v.number(data[frac], ("data", frac), low=0, high=0.9, low_open=frac != "test")
    if data.get("validation", 0.2) + data.get("test", 0.2) >= 0.9:
        raise v.err(("data",), "validation + test fractions leave too little to train on (keep them below 0.9)")
    _validate_swarm(cfg, v)


SWARM_OPTIONS = {
    "pso": {"c1": float, "c2": float, "w_start": float, "w_end": float, "beta": float, "velocity_clamp": float,
            "patience": int, "tol": float, "max_rows": int},
    "adaswarm": {"c1": float, "c2": float, "beta": float, "eta": float, "particles": int, "iterations": int,
                 "spread": float, "init": ("target", "output"), "loss": ("mse", "mae", "binary_crossentropy",
                                                                           "sparse_categorical_crossentropy")},
}


def _validate_swarm(cfg: Config, v: _V) -> None:
    """``swarm: {pso: {...}, adaswarm: {...}}``: options of the swarm trainers."""
    v.keys(cfg.swarm, set(SWARM_OPTIONS), ("swarm",), "'swarm'")
    for section, allowed in SWARM_OPTIONS.items():
        opts = v.mapping(cfg.swarm.get(section), ("swarm", section), section)
        v.keys(opts, set(allowed), ("swarm", section), f"'swarm.{section}'")
        for key, kind in allowed.items():
            if key not in opts:
                continue
            path = ("swarm", section, key)
            if isinstance(kind, tuple):
                v.string(opts[key], path, set(kind))
            elif not (key == "beta" and opts[key] is None):
                opts[key] = v.number(opts[key], path, integer=kind is int, low=0)
        cfg.swarm[section] = opts
