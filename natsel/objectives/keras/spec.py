"""What the Keras objective understands, checked in the parent without importing TensorFlow.

Dense genes (``neurons<i>``, ``dropout<i>``, ...), convolutional genes (``conv_blocks``, per block
``filters<i>``, ``kernel<i>``, ...), and ``model: module:function`` (a user's builder, whose module
is found here but imported only in workers: it may import Keras at its top).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.machinery
import importlib.util
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from natsel._errors import ConfigError
from natsel._space import Choice, Fixed, FloatRange, Gene, IntRange, SearchSpace
from natsel.objectives.keras.table import is_number

if TYPE_CHECKING:
    from natsel._settings import Config
    from natsel._yaml import Validator as _V

OPTIMIZERS = {"adam", "adamax", "nadam", "sgd", "rmsprop", "adagrad", "adadelta", "adamw", "adaswarm"}
ACTIVATIONS = {"relu", "elu", "selu", "tanh", "sigmoid", "gelu", "swish", "silu", "softplus", "softsign",
               "leaky_relu", "relu6", "mish", "linear", "hard_sigmoid", "exponential"}
INITIALIZERS = {"lecun_uniform", "lecun_normal", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                "random_uniform", "random_normal", "truncated_normal", "orthogonal", "variance_scaling"}
TRAINERS = {"gradient", "pso"}
POOLINGS = {"max", "average", "none"}
HEADS = {"flatten", "global_average"}
NAMED = {"optimizer": OPTIMIZERS, "hidden_activation": ACTIVATIONS, "initializer": INITIALIZERS, "trainer": TRAINERS,
         "conv_activation": ACTIVATIONS, "head": HEADS}
NUMERIC = {"learning_rate": (0.0, 10.0), "batch_size": (1, 1 << 20), "input_dropout": (0.0, 0.99),
           "pso_particles": (2, 100000), "pso_iterations": (1, 10**7), "conv_blocks": (0, 16)}
INTEGER = {"batch_size", "pso_particles", "pso_iterations", "conv_blocks", "filters", "kernel"}
LAYER = re.compile(r"^(neurons|dropout)(\d+)$")
#: genes of convolutional block i (0-based: ``filters0`` is the first block's)
CONV_BLOCK = re.compile(r"^(filters|kernel|conv_activation|batch_norm|pooling|conv_dropout)(\d+)$")
CONV_NAMED = {"conv_activation": ACTIVATIONS, "pooling": POOLINGS, "batch_norm": {True, False}}
CONV_NUMERIC = {"filters": (1, 4096), "kernel": (1, 31), "conv_dropout": (0.0, 0.99)}
#: genes that exist only for convolutional networks
CONV_GLOBAL = {"conv_blocks", "conv_activation", "head"}
#: defaults of a convolutional block's genes a genome leaves out (``conv_activation<i>`` falls back to
#: ``conv_activation``, then relu); ``head`` is how the last block's maps become a vector
CONV_DEFAULTS: dict[str, Any] = {"filters": 32, "kernel": 3, "conv_activation": "relu", "batch_norm": False,
                                 "pooling": "max", "conv_dropout": 0.0, "head": "flatten"}
DATA_SOURCES = {"iris", "wine", "breast_cancer", "digits", "diabetes", "synthetic", "csv", "npz", "python",
                "fashion_mnist"}
DATA_KEYS = {"source", "path", "target", "header", "delimiter", "function", "validation", "test", "early_stopping",
             "kind", "n_samples", "n_features", "n_classes", "noise", "limit", "x", "y", "scale_target", "categorical"}

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


def is_conv_gene(name: str) -> bool:
    return name in CONV_GLOBAL or bool(CONV_BLOCK.match(name))


def _bad_value(name: str, kind: str, val: Any) -> str | None:
    """Why ``val`` cannot be gene ``name``'s value (``kind``: the name without its block/layer index)."""
    named = NAMED.get(name) or CONV_NAMED.get(kind)
    if named is not None:
        if kind == "batch_norm":
            return None if isinstance(val, bool) else f"{val!r} is not true or false"
        return None if val in named and not isinstance(val, bool) else (
            f"unknown value {val!r} (known: {', '.join(sorted(map(str, named)))})")
    lo, hi = NUMERIC.get(name) or CONV_NUMERIC.get(kind) or ((0.0, 0.99) if kind == "dropout" else (0, 1 << 20))
    if isinstance(val, bool) or not isinstance(val, (int, float)):
        what = "an integer" if kind in INTEGER or kind == "neurons" else "a number"
        quoted = isinstance(val, str) and is_number(val)
        return f"{val!r} must be {what}" + (" (write it without quotes)" if quoted else f", not {type(val).__name__}")
    if not lo <= val <= hi:
        return f"{val!r} is outside {lo}..{hi}"
    if kind in INTEGER and not float(val).is_integer():
        return f"{val!r} is not a whole number"
    return None


def gene_where(cfg: Config, name: str) -> str:
    """``file:line`` of gene ``name`` (the line of its ``repeat`` entry for ``name<i>``)."""
    if cfg.doc is None:
        return cfg.source_name
    if ("space", name) in cfg.doc.lines:
        return cfg.doc.where(("space", name))
    return cfg.doc.where(("space", re.sub(r"\d+$", "", name)))


def validate_keras_config(cfg: Config, v: _V) -> None:
    """Genes and data keys the Keras objective cannot use are config errors (with their line)."""
    model = cfg.raw.get("model")
    if model is not None:
        ref = v.string(model, ("model",))
        try:
            locate_builder(ref, cfg.base_dir)
        except ValueError as exc:
            raise v.err(("model",), f"model builder: {exc}") from None
        _validate_builder_genes(cfg)
    else:
        _validate_genes(cfg)
    data = cfg.data or {}
    v.keys(data, DATA_KEYS, ("data",), "'data'")
    if "source" not in data:
        raise v.err(("data",), f"'data' needs 'source' (one of {', '.join(sorted(DATA_SOURCES))})")
    v.string(data["source"], ("data", "source"), DATA_SOURCES)
    if "header" in data:  # csv: whether the first line names the columns (false: columns are 0, 1, ...)
        if not isinstance(data["header"], bool):
            raise v.err(("data", "header"), f"'header' must be true or false, got {data['header']!r}")
        if data["source"] != "csv":
            raise v.err(("data", "header"), f"'header' applies to source 'csv' only, not '{data['source']}'")
    if "delimiter" in data:  # csv: one character; sniffed from the file when absent
        d = data["delimiter"]
        if not (isinstance(d, str) and len(d) == 1 and d not in "\"\r\n"):
            raise v.err(("data", "delimiter"), f"'delimiter' must be one character such as ';' or '\\t', got {d!r}")
        if data["source"] != "csv":
            raise v.err(("data", "delimiter"), f"'delimiter' applies to source 'csv' only, not '{data['source']}'")
    if "categorical" in data:  # csv: feature columns whose values are categories even where they are numbers
        cats = data["categorical"]
        if not isinstance(cats, list) or not all(isinstance(c, (str, int)) and not isinstance(c, bool) for c in cats):
            raise v.err(("data", "categorical"), f"'categorical' must be a list of column names, got {cats!r}")
        if data["source"] != "csv":
            raise v.err(("data", "categorical"), f"'categorical' applies to source 'csv' only, not '{data['source']}'")
    if "scale_target" in data and not isinstance(data["scale_target"], bool):
        raise v.err(("data", "scale_target"), f"'scale_target' must be true or false, got {data['scale_target']!r}")
    if "target" in data:  # csv: a column name, or a column index (0 is the first column)
        t = data["target"]
        if isinstance(t, bool) or not (isinstance(t, str) and t or isinstance(t, int) and t >= 0):
            raise v.err(("data", "target"), f"'target' must be a column name or a column index (0, 1, ...), got {t!r}")
    for frac in ("validation", "test", "early_stopping"):
        if frac in data:
            v.number(data[frac], ("data", frac), low=0, high=0.9, low_open=frac != "test")
    for count in ("limit", "n_samples", "n_features", "n_classes"):
        if count in data and data[count] is not None:
            v.number(data[count], ("data", count), integer=True, low=1)
    if data.get("validation", 0.2) + data.get("test", 0.2) >= 0.9:
        raise v.err(("data",), "validation + test fractions leave too little to train on (keep them below 0.9)")
    _validate_swarm(cfg, v)
    check_goal_names(cfg, v)


#: validation scores a Keras trial computes, by task, and whether larger is better (``r2`` beside
#: the metrics ``training.metric`` accepts); a goal names them ``val_<score>``
SCORES = {"multiclass": ("accuracy", "f1", "auc", "loss"), "binary": ("accuracy", "f1", "auc", "loss"),
          "regression": ("loss", "mse", "mae", "r2")}
SCORE_LARGER = {"accuracy": True, "f1": True, "auc": True, "loss": False, "mse": False, "mae": False, "r2": True}
#: what else a Keras trial reports for ``objectives:`` and ``constraints:`` (the worker measures
#: ``params`` and ``latency_ms`` only when the goal names a value: ``spec["report"]``)
MEASURES = ("params", "latency_ms", "train_seconds")


def goal_names(task: str) -> list[str]:
    """The names a goal may use on a Keras search of ``task`` (``auto``: any score some task has)."""
    scores = sorted({s for t in SCORES.values() for s in t}) if task == "auto" else list(SCORES[task])
    return [f"val_{s}" for s in scores] + list(MEASURES)


def goal_problem(name: str, direction: str | None, task: str) -> str | None:
    """Why ``name`` (an objective with ``direction``, or a constraint when None) cannot be used on a
    Keras search of ``task``, or None."""
    allowed = goal_names(task)
    what = "objective" if direction is not None else "constraint"
    if name == "fitness" and direction is None:  # a single objective's own value (the metric)
        return None
    if name not in allowed:
        kind = "" if task == "auto" else f" for {'regression' if task == 'regression' else task + ' classification'}"
        hint = ""
        if name in SCORE_LARGER:
            hint = f" (validation scores are named val_<score>: val_{name})"
        return f"{what} '{name}' is not a value the keras objective reports{kind}{hint}; use one of {', '.join(allowed)}"
    score = name[4:] if name.startswith("val_") else None
    if score is not None and direction is not None and (direction == "maximize") != SCORE_LARGER[score]:
        better = "larger" if SCORE_LARGER[score] else "smaller"
        right = "maximize" if SCORE_LARGER[score] else "minimize"
        return f"objective '{name}': {direction} contradicts the score ({better} is better); use {right}"
    return None


def check_goal_names(cfg: Config, v: _V | None = None) -> None:
    """Every objective and constraint must name a value the Keras objective reports, each score in
    its own direction. Checked with the config's ``training.task`` at validation (``auto``: any
    score) and again with the data's task once it is loaded (``v`` None: located by ``cfg``)."""
    task = cfg.task
    places = [(("objectives", n), n, d) for n, d in cfg.objectives.items()]
    places += [(("constraints", n), n, None) for n in cfg.constraints]
    for path, name, direction in places:
        why = goal_problem(name, direction, task)
        if why is not None:
            raise v.err(path, why) if v is not None else ConfigError(why, cfg._where(path))


def _validate_genes(cfg: Config) -> None:
    """natsel's own networks: every gene must be one it builds from, with values Keras knows."""
    for g in cfg.space.genes:
        m = LAYER.match(g.name) or CONV_BLOCK.match(g.name)
        kind = m.group(1) if m else g.name
        if not (g.name in NAMED or g.name in NUMERIC or m):
            known = sorted(set(NAMED) | set(NUMERIC) | {"neurons<i>", "dropout<i>", "filters<i>", "kernel<i>",
                                                         "conv_activation<i>", "batch_norm<i>", "pooling<i>",
                                                         "conv_dropout<i>"})
            raise ConfigError(f"gene '{g.name}' is not used by the Keras model (known: {', '.join(known)})",
                              gene_where(cfg, g.name))
        for val in _values(g):
            why = _bad_value(g.name, kind, val)
            if why:
                raise ConfigError(f"gene '{g.name}': {why}", gene_where(cfg, g.name))
    if max_conv_blocks(cfg.space) and "pso" in _gene_values(cfg.space, "trainer"):
        raise ConfigError("trainer 'pso' trains dense networks only (its batched forward pass stacks Dense weight "
                          f"matrices), and this space builds convolutional blocks (up to {max_conv_blocks(cfg.space)}); "
                          "use trainer: gradient, or search convolutional and PSO-trained networks in two runs",
                          gene_where(cfg, "trainer"))


def _validate_builder_genes(cfg: Config) -> None:
    """With ``model:`` the genes are the user's; natsel checks only those it reads itself."""
    for name in ("optimizer", "learning_rate", "batch_size"):
        for val in _gene_values(cfg.space, name):
            why = "natsel's swarm trainers train natsel's own networks only" if val == "adaswarm" else (
                _bad_value(name, name, val))
            if why:
                raise ConfigError(f"gene '{name}' (natsel compiles and trains the built model with it): {why}",
                                  gene_where(cfg, name))
    if "pso" in _gene_values(cfg.space, "trainer"):
        raise ConfigError("trainer 'pso' trains natsel's dense networks only, not a 'model:' builder's; a builder's "
                          "models are trained by gradients", gene_where(cfg, "trainer"))


def _gene_values(space: SearchSpace, name: str) -> list[Any]:
    return [val for g in space.genes if g.name == name for val in _values(g)]


def declared_blocks(names: Any) -> int:
    """Blocks named by per-block convolutional genes: 1 + the highest index (0 when there are none)."""
    idx = [int(m.group(2)) for n in names if (m := CONV_BLOCK.match(n))]
    return 1 + max(idx) if idx else 0


def conv_block_count(genome: dict[str, Any]) -> int:
    """How many convolutional blocks ``genome`` builds: its ``conv_blocks``, else as many as its per-block
    genes name (one if it has only ``conv_activation`` or ``head``), else none."""
    if "conv_blocks" in genome:
        return int(genome["conv_blocks"])
    return declared_blocks(genome) or (1 if any(n in CONV_GLOBAL for n in genome) else 0)


def max_conv_blocks(space: SearchSpace) -> int:
    """The most convolutional blocks a genome of ``space`` can have."""
    counts = _gene_values(space, "conv_blocks")
    if counts:
        return int(max(counts))
    return conv_block_count({n: None for n in space.names})


def check_data_shape(cfg: Config, input_shape: tuple[int, ...], source: str) -> None:
    """Convolutional genes against the data (in ``prepare``, once its shape is known): they need images,
    and the largest genome the space allows must not pool the images below 1x1."""
    if cfg.raw.get("model") is not None:
        return
    conv = [g.name for g in cfg.space.genes if is_conv_gene(g.name)]
    if not conv:
        return
    if len(input_shape) != 3:
        raise ConfigError(f"gene '{conv[0]}' builds convolutional layers, which need images (height, width, "
                          f"channels); data '{source}' is rows of {input_shape[0]} features", gene_where(cfg, conv[0]))
    blocks = max_conv_blocks(cfg.space)
    h, w = input_shape[0], input_shape[1]
    for i in range(blocks):
        pools = [p for p in (_gene_values(cfg.space, f"pooling{i}") or [CONV_DEFAULTS["pooling"]])
                 if p not in ("none", None)]
        if not pools:
            continue
        h, w = h // 2, w // 2
        if h < 1 or w < 1:
            culprit = "conv_blocks" if cfg.space.names.count("conv_blocks") else f"pooling{i}"
            raise ConfigError(
                f"gene '{culprit}': a genome with {blocks} convolutional blocks pools the data's "
                f"{input_shape[0]}x{input_shape[1]} images below 1x1 at block {i + 1} (each block with pooling "
                f"halves height and width); allow at most {i} blocks, or make pooling{i} 'none'",
                gene_where(cfg, culprit))


def locate_builder(ref: str, base_dir: Path) -> dict[str, str]:
    """Find ``module:function`` without importing it (its module may import TensorFlow at its top):
    the module's file, the config's folder first as when it is imported, and a top-level name
    ``function`` in it. Returns its identity (file and source hash), which scopes shared caches.

    Raises ValueError when the module cannot be found or does not define the name."""
    if ":" not in ref:
        raise ValueError(f"'{ref}' must look like package.module:function")
    mod_name, _, attr = ref.partition(":")
    file = find_module_file(mod_name, base_dir)
    if file is None:
        raise ValueError(f"cannot find module '{mod_name}' (neither {mod_name.replace('.', '/')}.py next to the "
                         "config nor an importable module)")
    if file.suffix == ".py" and not _defines(file, attr.split(".")[0]):
        raise ValueError(f"'{mod_name}' ({file}) has no top-level '{attr.split('.')[0]}'")
    return {"ref": ref, "file": str(file), "sha256": hashlib.sha256(file.read_bytes()).hexdigest()[:16]}


def find_module_file(mod_name: str, base_dir: Path) -> Path | None:
    """The file ``import mod_name`` would load (config folder first), found without importing anything."""
    stem = Path(base_dir).joinpath(*mod_name.split("."))
    for p in (stem.with_suffix(".py"), stem / "__init__.py"):
        if p.is_file():
            return p.resolve()
    parts = mod_name.split(".")
    if not all(p.isidentifier() for p in parts):
        return None
    try:
        spec = importlib.machinery.PathFinder.find_spec(parts[0], [str(base_dir)]) or importlib.util.find_spec(parts[0])
        for i in range(1, len(parts)):
            if spec is None or spec.submodule_search_locations is None:
                return None
            spec = importlib.machinery.PathFinder.find_spec(".".join(parts[: i + 1]),
                                                            list(spec.submodule_search_locations))
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not Path(spec.origin).is_file():
        return None
    return Path(spec.origin).resolve()


def _defines(file: Path, name: str) -> bool:
    """Whether ``file`` binds ``name`` at its top level (or might: ``import *``, ``__getattr__``)."""
    try:
        tree = ast.parse(file.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return True  # the worker's import reports it with the real error
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node in tree.body:
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
    return name in bound or "*" in bound or "__getattr__" in bound


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
