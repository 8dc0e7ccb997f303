"""Keras training inside a worker process. Importing this module imports TensorFlow.

The parent never imports it: :meth:`natsel.objectives.keras.KerasFamily.build` does, in the worker.
A network is natsel's own (:func:`build_model`: convolutional blocks on images, dense layers, the
output layer) or a user's ``model:`` builder's (:func:`user_model`); training, limits and scoring
are the same for both.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import time
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402

from natsel._trial import Objective, Result, Task, error_line  # noqa: E402
from natsel.objectives.keras import checkpoint as checkpoints  # noqa: E402
from natsel.objectives.keras.checkpoint import CHECKPOINT_FORMAT  # noqa: E402
from natsel.objectives.keras.metrics import classification_scores, regression_scores  # noqa: E402
from natsel.objectives.keras.spec import CONV_DEFAULTS, DEFAULT_GENOME, conv_block_count  # noqa: E402

_THREADS_SET = False


def _import_keras(threads: int | None = None) -> Any:
    global _THREADS_SET
    try:
        import tensorflow as tf
    except ImportError:
        raise ImportError("TensorFlow is not installed: pip install 'natsel[cpu]' (or 'natsel[gpu]')") from None
    if threads and not _THREADS_SET:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TensorFlow was already initialised in this process
            pass
        _THREADS_SET = True
    tf.get_logger().setLevel("ERROR")
    import keras

    return keras


def full_genome(genome: dict[str, Any]) -> dict[str, Any]:
    return {**DEFAULT_GENOME, **genome}


def hidden_layers(genome: dict[str, Any]) -> list[tuple[int, float]]:
    """(units, dropout) for neurons0, neurons1, ... in order of their index; 0 units, or a ``neurons<i>``
    the genome does not give (a ``when:`` switched it off), means no layer."""
    out = []
    for i in sorted(int(m.group(1)) for k in genome if (m := re.fullmatch(r"neurons(\d+)", k))):
        units = int(genome[f"neurons{i}"])
        if units > 0:
            out.append((units, float(genome.get(f"dropout{i}", 0.0))))
    return out


def conv_blocks(genome: dict[str, Any]) -> list[dict[str, Any]]:
    """The convolutional blocks of ``genome`` in order (block i's genes ``filters<i>``, ...; a block's
    genes apply only when the block exists); the genes a genome leaves out take their defaults."""
    shared = genome.get("conv_activation", CONV_DEFAULTS["conv_activation"])
    out = []
    for i in range(conv_block_count(genome)):
        block = {k: genome.get(f"{k}{i}", d) for k, d in CONV_DEFAULTS.items() if k != "head"}
        block["conv_activation"] = genome.get(f"conv_activation{i}", shared)
        out.append(block)
    return out


def output_layer(keras: Any, x: Any, task: str, n_classes: int, seed: int | None = None) -> tuple[Any, str]:
    """The output for the task (softmax probabilities, P(class 1), or a value) and its loss; ``seed``
    seeds its (Glorot uniform) kernel initializer."""
    init = keras.initializers.GlorotUniform(seed=seed)
    if task == "multiclass":
        return keras.layers.Dense(n_classes, activation="softmax", kernel_initializer=init)(x), \
            "sparse_categorical_crossentropy"
    if task == "binary":
        return keras.layers.Dense(1, activation="sigmoid", kernel_initializer=init)(x), "binary_crossentropy"
    return keras.layers.Dense(1, kernel_initializer=init)(x), "mse"


def layer_seeds(seed: int) -> Iterator[int]:
    """The seeds of a network's random layers (initializers, dropout), in the order they are built.

    Each layer gets its seed explicitly, so nothing is drawn from Python's global ``random`` (which
    a Dask worker's other threads draw from too). They are the draws Keras itself would make after
    ``keras.utils.set_random_seed(seed)`` (``random.randint(1, 10**9)`` per unseeded layer), so the
    networks are the ones natsel built before layers were seeded explicitly."""
    draws = random.Random(seed)
    while True:
        yield draws.randint(1, int(1e9))


def seeded_initializer(keras: Any, name: str, seed: int) -> Any:
    """Keras initializer ``name`` (``glorot_uniform``, ``he_normal``, ...) with an explicit seed."""
    return keras.initializers.get({"class_name": name, "config": {"seed": seed}})


@contextlib.contextmanager
def own_draws(seed: int) -> Iterator[None]:
    """While a user's builder builds its network: the layers it leaves unseeded draw their seeds from
    a generator of this trial's own (``random.Random(seed)``), not from Python's global ``random``
    that other threads of a Dask worker draw from. The draws are the ones ``set_random_seed(seed)``
    would give in a quiet process. Uses Keras's private ``seed_generator`` module; left alone (and
    the global generator used) if a Keras version no longer has it."""
    try:
        from keras.src.random import seed_generator
    except ImportError:
        yield
        return
    if getattr(seed_generator, "python_random", None) is not random:
        yield
        return
    seed_generator.python_random = random.Random(seed)  # type: ignore[assignment]
    try:
        yield
    finally:
        seed_generator.python_random = random


def task_loss(task: str) -> str:
    return {"multiclass": "sparse_categorical_crossentropy", "binary": "binary_crossentropy"}.get(task, "mse")


def n_outputs(task: str, n_classes: int) -> int:
    return n_classes if task == "multiclass" else 1


def make_optimizer(keras: Any, g: dict[str, Any]) -> Any:
    return keras.optimizers.get({"class_name": g["optimizer"], "config": {"learning_rate": float(g["learning_rate"])}})


def build_model(genome: dict[str, Any], input_shape: int | tuple[int, ...], task: str, n_classes: int,
                steps_per_execution: int = 1, swarm: dict[str, Any] | None = None, seed: int = 0) -> Any:
    """A compiled network for ``genome``: on images its convolutional blocks (conv, batch norm,
    activation, pooling, dropout), then a ``head`` (flatten or global average), then NaturalSelection's
    dense genes plus learning_rate. Dense genomes on images get a Flatten first.

    ``optimizer: adaswarm`` gives an :class:`~natsel.objectives.keras.swarm.AdaSwarmModel` trained by Adam on
    swarm-approximated gradients (options from the config's ``swarm.adaswarm``)."""
    keras = _import_keras()
    g = full_genome(genome)
    seeds = layer_seeds(seed)
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    inputs = keras.Input(shape)
    x = inputs
    if float(g["input_dropout"]) > 0:
        x = keras.layers.Dropout(float(g["input_dropout"]), seed=next(seeds))(x)
    blocks = conv_blocks(genome) if len(shape) == 3 else []
    for b in blocks:
        x = keras.layers.Conv2D(int(b["filters"]), int(b["kernel"]), padding="same", use_bias=not b["batch_norm"],
                                kernel_initializer=seeded_initializer(keras, g["initializer"], next(seeds)))(x)
        if b["batch_norm"]:
            x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation(b["conv_activation"])(x)
        if b["pooling"] == "max":
            x = keras.layers.MaxPooling2D(2)(x)
        elif b["pooling"] == "average":
            x = keras.layers.AveragePooling2D(2)(x)
        if float(b["conv_dropout"]) > 0:
            x = keras.layers.Dropout(float(b["conv_dropout"]), seed=next(seeds))(x)
    if blocks and genome.get("head", CONV_DEFAULTS["head"]) == "global_average":
        x = keras.layers.GlobalAveragePooling2D()(x)
    elif len(shape) > 1:
        x = keras.layers.Flatten()(x)
    for units, dropout in hidden_layers(g):
        x = keras.layers.Dense(units, activation=g["hidden_activation"],
                               kernel_initializer=seeded_initializer(keras, g["initializer"], next(seeds)))(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, seed=next(seeds))(x)
    outputs, loss = output_layer(keras, x, task, n_classes, next(seeds))
    lr = float(g["learning_rate"])
    if g["optimizer"] == "adaswarm":
        from natsel.objectives.keras.swarm import AdaSwarmModel

        opts = dict((swarm or {}).get("adaswarm") or {})
        loss = opts.pop("loss", loss)
        model = AdaSwarmModel(inputs, outputs, swarm_loss=loss, seed=seed, **opts)
        model.compile(optimizer=keras.optimizers.Adam(lr), loss=_keras_loss(loss, task),
                      steps_per_execution=steps_per_execution)
        return model
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=make_optimizer(keras, g), loss=loss, steps_per_execution=steps_per_execution)
    return model


def load_builder(builder: dict[str, Any]) -> Any:
    """Import a ``model:`` builder in the worker (the parent only found its file)."""
    from pathlib import Path

    from natsel._imports import resolve_callable

    try:
        return resolve_callable(builder["ref"], Path(builder.get("base_dir") or "."), expect=builder.get("sha256") or None)
    except ValueError as exc:
        raise ValueError(f"model builder {builder['ref']}: {exc}") from None


def user_model(build: Any, genome: dict[str, Any], data: dict[str, Any], steps_per_execution: int = 1,
               seed: int | None = None) -> Any:
    """``build(genome, input_shape, n_outputs, task)`` -> a Keras model; compiled here (the genome's
    optimizer and learning_rate, the task's loss) unless the builder compiled it. ``seed``: the
    trial's seed, which the layers the builder leaves unseeded draw from (:func:`own_draws`)."""
    keras = _import_keras()
    task = data["task"]
    shape = tuple(data.get("input_shape") or (data["n_features"],))
    with own_draws(seed) if seed is not None else contextlib.nullcontext():
        model = build(genome.copy(), shape, n_outputs(task, data["n_classes"]), task)  # active genes only
    if not isinstance(model, keras.Model):
        raise TypeError(f"the model builder returned {type(model).__name__}, not a keras.Model")
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        model.compile(optimizer=make_optimizer(keras, full_genome(genome)), loss=task_loss(task),
                      steps_per_execution=steps_per_execution)
    return model


def _keras_loss(loss: str, task: str) -> Any:
    """The compiled (reported) loss; MAE on class probabilities needs one-hot targets."""
    if loss == "mae" and task in ("multiclass", "binary"):
        keras = _import_keras()
        import tensorflow as tf

        def mae_sparse(y_true: Any, y_pred: Any) -> Any:
            if task == "binary":
                return keras.losses.mean_absolute_error(tf.reshape(tf.cast(y_true, y_pred.dtype), tf.shape(y_pred)), y_pred)
            onehot = tf.one_hot(tf.cast(tf.reshape(y_true, [-1]), tf.int32), tf.shape(y_pred)[-1], dtype=y_pred.dtype)
            return keras.losses.mean_absolute_error(onehot, y_pred)

        return mae_sparse
    return loss


def es_loss(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """The compiled loss (regularisation included) on the early-stopping split, by calling the model
    directly: the same value as ``fit``'s ``val_loss`` up to float rounding (~1e-7), without tracing a
    test function per network and building a validation iterator every epoch (~20% of a trial)."""
    return float(model.compute_loss(x=x, y=y, y_pred=predict(model, x), training=False))


def _limits_callback(keras: Any, deadline: float, patience: int, es: tuple[np.ndarray, np.ndarray],
                     on_end: Any = None) -> Any:
    class Limits(keras.callbacks.Callback):
        """Stops at the end of the first batch past ``deadline`` (a limit that passes during the epoch-end
        pass over the early-stopping split is caught by the next batch); early-stops on the loss on the
        early-stopping split (``es``, put in the logs as ``val_loss`` for the callbacks after this one)
        after ``patience`` epochs without improvement (0: never); restores the best weights (after calling
        ``on_end(self)``, which sees the last ones)."""

        def __init__(self) -> None:
            super().__init__()
            self.timed_out = False
            self.early_stopped = False  # patience ran out: a higher epoch limit would train exactly the same
            self.best = np.inf
            self.best_weights: list[Any] | None = None
            self.wait = 0
            self.epochs = 0
            self.overshoot: float | None = None
            self.previous_batch_end: float | None = None
            self.last_batch_end = time.monotonic()
            self.history: dict[str, list[float]] = {"loss": [], "es_loss": []}

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            now = time.monotonic()
            if now >= deadline and not self.timed_out:
                self.timed_out = True
                self.overshoot = now - deadline
                self.previous_batch_end = self.last_batch_end - deadline  # < 0: the first batch past the limit
                self.model.stop_training = True
            self.last_batch_end = now

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            logs = logs if logs is not None else {}
            self.epochs += 1
            value = es_loss(self.model, *es)
            logs["val_loss"] = value
            self.history["loss"].append(float(logs.get("loss", np.nan)))
            self.history["es_loss"].append(value)
            if np.isfinite(value) and value < self.best:
                self.best, self.wait = value, 0
                self.best_weights = self.model.get_weights()
            else:
                self.wait += 1
                if patience and self.wait >= patience:
                    self.early_stopped = True
                    self.model.stop_training = True

        def state(self) -> dict[str, Any]:
            """What a continuation needs to go on exactly as this training would have."""
            return {"best": self.best, "best_weights": self.best_weights, "wait": self.wait, "epochs": self.epochs,
                    "history": {k: list(v) for k, v in self.history.items()}}

        def restore(self, state: dict[str, Any]) -> None:
            self.best, self.best_weights, self.wait = state["best"], state["best_weights"], state["wait"]
            self.epochs, self.history = state["epochs"], {k: list(v) for k, v in state["history"].items()}

        def on_train_end(self, logs: Any = None) -> None:
            if on_end is not None:
                on_end(self)
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)

    return Limits()


def epoch_data(keras: Any, x: np.ndarray, y: np.ndarray, batch: int, seed: int) -> Any:
    """The training batches as a dataset whose order in epoch ``e`` depends only on ``(seed, e)``
    (a stateless shuffle), and the callback that tells it the epoch. Keras's own shuffle draws each
    epoch's order from a random state that lives in the process, so a training continued from a
    checkpoint in another process would see other batches; with this one, training epochs ``k+1..K``
    from epoch ``k``'s checkpoint gives exactly what training ``1..K`` in one go gives."""
    import tensorflow as tf

    n, steps = len(x), -(-len(x) // batch)
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    key = tf.constant(seed, tf.int64)

    def order(_: Any) -> Any:
        return tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64),
                                                        seed=tf.stack([key, epoch.read_value()]))

    batches = (tf.data.Dataset.from_tensors(0).map(order)
               .flat_map(lambda p: tf.data.Dataset.from_tensor_slices(p).batch(batch))
               .apply(tf.data.experimental.assert_cardinality(steps)))
    arrays = tf.data.Dataset.from_tensors((x, y)).repeat()
    dataset = tf.data.Dataset.zip((batches, arrays)).map(lambda i, d: (tf.gather(d[0], i), tf.gather(d[1], i)))

    class Epoch(keras.callbacks.Callback):
        """Sets the epoch before Keras opens the dataset for it."""

        def on_epoch_begin(self, e: int, logs: Any = None) -> None:
            epoch.assign(e)

    return dataset.prefetch(1), Epoch()


def _restore(model: Any, ckpt: dict[str, Any]) -> bool:
    """Load a checkpoint's variables into ``model`` (built the same way, optimizer built); False, and
    nothing changed, when they do not fit (then the trial trains from scratch, to the same result):
    every array must have its variable's shape and dtype, the best weights those of ``model.weights``."""
    pairs = [(model.variables, ckpt.get("variables")), (model.optimizer.variables, ckpt.get("optimizer")),
             (getattr(model, "extra_variables", []), ckpt.get("extra", []))]
    best = (model.weights, ckpt["limits"]["best_weights"]) if ckpt.get("limits", {}).get("best_weights") else None
    if ckpt.get("format") != CHECKPOINT_FORMAT or any(
            b is None or len(a) != len(b) or not all(map(_fits, a, b)) for a, b in pairs + ([best] if best else [])):
        return False
    for variables, values in pairs:
        for v, w in zip(variables, values, strict=True):
            v.assign(w)
    return True


def _fits(variable: Any, value: Any) -> bool:
    """Whether an array can be loaded into ``variable`` as it is (same shape, same dtype)."""
    return tuple(variable.shape) == np.shape(value) and np.dtype(_dtype_name(variable.dtype)) == np.asarray(value).dtype


def _dtype_name(dtype: Any) -> str:
    return getattr(dtype, "name", None) or str(dtype)


def build_optimizer(model: Any) -> None:
    """Create the optimizer's variables before ``fit``. Keras (TensorFlow backend, no distribution
    strategy) leaves them to the first trace of the training step, and a ``tf.function`` that creates
    variables while tracing is traced twice: about 0.5 s of every trial. The variables are the same
    (zeros), so training is bit-identical. A model that is not built yet (a subclassed builder's) keeps
    Keras's own path."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built and model.built and model.trainable_variables:
        optimizer.build(model.trainable_variables)


def auto_steps_per_execution(n_rows: int, batch_size: int) -> int:
    """Run several batches per call into TensorFlow (small dense nets are bound by per-step overhead),
    but keep an execution short so the time limit stays sharp: at most 16 batches or one epoch."""
    return max(1, min(16, -(-n_rows // batch_size)))


def predict(model: Any, x: np.ndarray) -> np.ndarray:
    """The model's outputs on ``x`` in chunks of 4096 rows; calling the model directly avoids tracing a
    new predict function for every network."""
    return np.concatenate([np.asarray(model(x[i : i + 4096], training=False)) for i in range(0, len(x), 4096)])


class Diverged(ArithmeticError):
    """The network's outputs are not finite: its training diverged (a NaN or infinite loss)."""


def diverged_message(history: dict[str, list[float]], axis: str = "epoch") -> str:
    """What to tell the user about a network whose outputs are not finite: from which epoch (or swarm
    iteration) its training loss, else its early-stopping loss, stopped being a finite number."""
    for key, what in (("loss", "training loss"), ("es_loss", "the loss on the early-stopping split")):
        for i, value in enumerate(history.get(key) or [], 1):
            if not np.isfinite(value):
                word = "NaN" if np.isnan(value) else "infinite"
                return f"the network diverged: {what} is {word} from {axis} {i} (lower the learning rate)"
    return "the network diverged: its outputs are not finite (lower the learning rate)"


def score(model: Any, x: np.ndarray, y: np.ndarray, task: str, n_classes: int,
          target_scale: Any = None) -> dict[str, float]:
    """The metrics of ``model`` on ``(x, y)``; :class:`Diverged` when its outputs are not finite (the
    metrics would fail on them with scikit-learn's "Input contains NaN"). ``target_scale``: (mean,
    deviation) of a regression target the network learned standardised; ``y`` and the metrics are
    in the target's own units."""
    pred = predict(model, x)
    if not np.all(np.isfinite(pred)):
        raise Diverged("the network's outputs are not finite (training diverged)")
    if task == "regression":
        if target_scale:
            pred = pred.astype(np.float64) * float(target_scale[1]) + float(target_scale[0])
        return regression_scores(y, pred)
    return classification_scores(y, pred, n_classes)


#: ``latency_ms`` times the network on this many validation rows (all of them when there are fewer) ...
LATENCY_ROWS = 32
#: ... over this many calls after one warm-up call, and reports the median
LATENCY_CALLS = 10


def trainable_params(model: Any) -> int:
    """The number of trainable parameters of ``model`` (a batch norm's moving statistics are not)."""
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))


def latency_ms(model: Any, x: np.ndarray, rows: int = LATENCY_ROWS, calls: int = LATENCY_CALLS) -> tuple[float, int]:
    """The median wall-clock milliseconds of ``model(batch, training=False)`` on the first ``rows`` rows
    of ``x`` (fewer if ``x`` has fewer), after one warm-up call, over ``calls`` calls; the outputs are
    fetched inside the timing (a GPU's call returns before it finishes). Returns (ms, rows timed)."""
    import tensorflow as tf

    batch = tf.convert_to_tensor(x[:rows])
    np.asarray(model(batch, training=False))  # warm-up: the first call builds what later calls reuse
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        np.asarray(model(batch, training=False))
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000.0), int(batch.shape[0])


def goal_metrics(model: Any, scores: dict[str, float], x_val: np.ndarray, report: list[str]) -> dict[str, Any]:
    """What a run with ``objectives:`` or ``constraints:`` needs besides the scores (``report``: the names
    its goal uses): ``val_<score>`` for each validation score, ``params``, and, only when named (it
    takes time), ``latency_ms`` (:func:`latency_ms`; ``latency_rows``: the rows it timed)."""
    out: dict[str, Any] = {f"val_{k}": v for k, v in scores.items()}
    out["params"] = trainable_params(model)
    if "latency_ms" in report:
        out["latency_ms"], out["latency_rows"] = latency_ms(model, x_val)
    return out


def train(genome: dict[str, Any], data: dict[str, Any], training: dict[str, Any], seed: int,
          max_epochs: int | None = None, on_epoch: Any = None, swarm: dict[str, Any] | None = None,
          builder: Any = None, resume: dict[str, Any] | None = None,
          checkpoint: bool = False) -> tuple[Any, dict[str, Any]]:
    """Train one network under the limits. Returns (model, info with epochs/timed_out/history/seconds).

    ``trainer: pso`` trains the weights with a particle swarm instead of back-propagation.
    ``builder``: a user's ``build(genome, input_shape, n_outputs, task)`` makes the model instead.
    ``checkpoint``: when training ran all its epochs (no time limit, no early stop), ``info["checkpoint"]``
    holds its last state; ``resume`` (such a state, of the same genome, data and seed at fewer epochs)
    continues from it, to exactly the result training from scratch would give (``info["resumed"]``:
    the epochs it started from; 0 when the checkpoint did not fit and it trained from scratch)."""
    keras = _import_keras()
    # No clear_session() here: the objective clears after every trial (each clear costs ~0.25 s of
    # garbage collection), and a fresh process starts clear.
    keras.utils.set_random_seed(seed)
    g = full_genome(genome)
    batch = int(g["batch_size"])
    spe = int(training.get("steps_per_execution") or 0) or auto_steps_per_execution(len(data["x_train"]), batch)
    if builder is not None:  # the user's network: genes are theirs, training is natsel's (by gradients)
        model = user_model(builder, genome, data, spe, seed)
        g = {**g, "trainer": "gradient"}  # validation refused pso and adaswarm with a builder
    else:
        model = build_model(genome, data.get("input_shape") or data["n_features"], data["task"], data["n_classes"],
                            spe, swarm, seed)
    start = time.monotonic()
    if g["trainer"] == "pso":
        return model, _train_pso(model, g, data, training, seed, swarm, start)
    build_optimizer(model)
    resumed = bool(resume) and model.optimizer.built and _restore(model, resume)  # type: ignore[arg-type]
    before = float(resume["train_seconds"]) if resumed else 0.0  # type: ignore[index]
    saved: dict[str, Any] = {}

    def keep_last(limits: Any) -> None:  # before the best weights are restored
        if checkpoint and not (limits.timed_out or limits.early_stopped or limits.model.stop_training):
            saved.update(format=CHECKPOINT_FORMAT, variables=[v.numpy() for v in limits.model.variables],
                         optimizer=[v.numpy() for v in limits.model.optimizer.variables], limits=limits.state(),
                         extra=[v.numpy() for v in getattr(limits.model, "extra_variables", [])],
                         train_seconds=before + time.monotonic() - start)

    limits = _limits_callback(keras, start + float(training["max_training_time"]) - before, int(training["patience"]),
                              (data["x_es"], data["y_es"]), keep_last)
    first = 0
    if resumed:
        limits.restore(resume["limits"])  # type: ignore[index]
        first = limits.epochs
    batches, epoch = epoch_data(keras, data["x_train"], data["y_train"], batch, seed)
    callbacks = [epoch, limits] + ([on_epoch] if on_epoch is not None else [])
    model.fit(batches, epochs=int(max_epochs or training["max_epochs"]), initial_epoch=first, callbacks=callbacks,
              verbose=0, shuffle=False)  # the batches are shuffled already
    info = {"epochs": limits.epochs, "timed_out": limits.timed_out, "history": limits.history,
            "early_stopped": limits.early_stopped and not limits.timed_out,
            "train_seconds": time.monotonic() - start, "steps_per_execution": spe,
            "overshoot": limits.overshoot, "previous_batch_end": limits.previous_batch_end,
            "resumed": first, "checkpoint": saved or None}
    if g["optimizer"] == "adaswarm":
        info["cost_history"], info["cost_axis"] = limits.history["loss"], "epoch"
    return model, info


#: PSO weight training scores particles on at most this many training rows (a fixed, seeded subset).
PSO_MAX_ROWS = 4096


def _train_pso(model: Any, g: dict[str, Any], data: dict[str, Any], training: dict[str, Any], seed: int,
               swarm: dict[str, Any] | None, start: float) -> dict[str, Any]:
    from natsel.objectives.keras.swarm import pso_train
    from natsel.swarm import SwarmOptions

    opts = {"velocity_clamp": 0.5, **((swarm or {}).get("pso") or {})}
    max_rows = int(opts.pop("max_rows", PSO_MAX_ROWS))
    options = SwarmOptions(n_particles=int(g["pso_particles"]), iterations=int(g["pso_iterations"]), **opts)
    x, y = data["x_train"], data["y_train"]
    x = x.reshape(len(x), -1)  # images: the dense network starts with a Flatten, the batched pass with rows
    if len(x) > max_rows:  # the batched pass holds particles x rows x units: score a fixed seeded subset
        keep = np.sort(np.random.default_rng(seed).choice(len(x), max_rows, replace=False))
        x, y = x[keep], y[keep]
    result = pso_train(model, x, y, data["task"], options, seed, deadline=start + float(training["max_training_time"]))
    return {"epochs": 0, "timed_out": result.stopped == "deadline", "history": {"loss": result.cost_history},
            "train_seconds": time.monotonic() - start, "cost_history": result.cost_history,
            "cost_axis": "iteration", "swarm_iterations": result.iterations, "overshoot": None,
            "previous_batch_end": None}


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux; NaN elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return float("nan")


def with_budget(data: dict[str, Any], task: Task) -> tuple[dict[str, Any], int | None]:
    """The data and epoch limit a trial's budget allows: ``epochs=k`` trains at most k epochs,
    ``rows=f`` trains on a fixed (seeded by the data) fraction f of the training rows."""
    kind, _, amount = task.budget.partition("=")
    if kind == "epochs":
        return data, max(1, int(round(float(amount))))
    if kind == "rows":
        n = len(data["x_train"])
        keep = np.sort(np.random.default_rng(7).permutation(n)[: max(1, int(round(float(amount) * n)))])
        return {**data, "x_train": data["x_train"][keep], "y_train": data["y_train"][keep]}, None
    return data, None


def _pruner(keras: Any, data: dict[str, Any], metric: str, maximize: bool, thresholds: list[float | None] | None) -> Any:
    """Scores validation after each epoch (the trial's curve) and stops training below the threshold."""

    class Pruner(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.curve: list[float] = []
            self.pruned_at: int | None = None
            self.diverged = False  # the outputs stopped being finite: the trial fails (NaN weights stay NaN)

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            try:
                value = score(self.model, data["x_val"], data["y_val"], data["task"], data["n_classes"],
                              data.get("target_scale"))[metric]
            except Diverged:
                self.diverged = True
                self.model.stop_training = True
                return
            self.curve.append(float(value))
            limit = thresholds[epoch] if thresholds is not None and epoch < len(thresholds) else None
            oriented = value if maximize else -value
            if limit is not None and (not np.isfinite(oriented) or oriented < limit):
                self.pruned_at = epoch + 1
                self.model.stop_training = True

    return Pruner()


def keras_objective(spec: dict[str, Any], data: dict[str, Any]) -> Objective:
    """Score a genome: train on train (early-stopping split held out), measure on validation."""
    _import_keras(int(spec.get("threads") or 0) or None)
    training, metric = spec["training"], spec["metric"]
    # a builder that cannot be imported stops the worker (the run ends with its error line)
    builder = load_builder({"ref": spec["model"], "base_dir": spec.get("base_dir"),
                            "sha256": spec.get("model_sha256")}) if spec.get("model") else None
    # clear_session's forced gc.collect() costs ~0.35 s a trial for ~0.5 MiB less growth a trial;
    # worker recycling bounds memory anyway (bench/pool.py measures both side by side)
    free_memory = bool(spec.get("free_memory", False))

    maximize = bool(spec.get("maximize", True))
    record_curve = bool(spec.get("curve", False))
    # the names a run's objectives and constraints use (None: a plain run, whose metrics stay as they were)
    report: list[str] | None = list(spec["report"]) if spec.get("report") is not None else None

    def run(task: Task) -> Result:
        start, wall = time.perf_counter(), time.time()
        try:
            budgeted, max_epochs = with_budget(data, task)
            # a lower rung's state (epochs only); None when it is not a well-formed checkpoint: train from scratch
            resume = checkpoints.decode(task.resume)
            pruner = _pruner(_import_keras(), data, metric, maximize, task.prune) if record_curve else None
            if pruner is not None and resume is not None:
                pruner.curve = list(resume.get("curve") or [])
            model, info = train(task.genome, budgeted, training, task.seed, max_epochs=max_epochs, on_epoch=pruner,
                                swarm=spec.get("swarm"), builder=builder, resume=resume, checkpoint=task.checkpoint)
            if pruner is not None and pruner.diverged:
                raise Diverged
            scores = score(model, data["x_val"], data["y_val"], data["task"], data["n_classes"],
                           data.get("target_scale"))
            measured = goal_metrics(model, scores, data["x_val"], report) if report is not None and not (
                pruner is not None and pruner.pruned_at is not None) else {}
        except Diverged:  # say so, and from which epoch, rather than what the metrics make of NaN
            return Result(task.trial_id, "failed", None, {"epochs": info["epochs"]}, time.perf_counter() - start,
                          diverged_message(info["history"], info.get("cost_axis", "epoch")), wall,
                          {"history": info["history"], "data": data.get("fingerprint")})
        except Exception as exc:  # noqa: BLE001 - a network that cannot be built or trained fails its trial
            return Result(task.trial_id, "failed", None, {}, time.perf_counter() - start, error_line(exc), wall)
        finally:
            _import_keras().backend.clear_session(free_memory=free_memory)
        if pruner is not None and pruner.pruned_at is not None:
            partial = {"partial": pruner.curve[-1], "pruned_at_epoch": pruner.pruned_at, "epochs": info["epochs"]}
            return Result(task.trial_id, "pruned", None, partial, time.perf_counter() - start, None, wall,
                          {"curve": pruner.curve, "history": info["history"], "data": data.get("fingerprint")})
        fitness = scores.get(metric, float("nan"))
        status = "timeout" if info["timed_out"] else "ok"
        if not np.isfinite(fitness):  # finite outputs: a metric undefined on these data (auc with one class)
            return Result(task.trial_id, "failed", None, scores, time.perf_counter() - start,
                          f"validation {metric} is not finite (undefined on the validation rows)", wall,
                          {"epochs": info["epochs"], "history": info["history"]})
        metrics = {**scores, "epochs": info["epochs"], "train_seconds": info["train_seconds"], "rss_mb": rss_mb(),
                   **measured}
        if info.get("early_stopped"):  # patience stopped it: any higher epoch limit trains exactly the same
            metrics["early_stopped"] = True
        if info["timed_out"]:
            metrics.update(overshoot=info["overshoot"], previous_batch_end=info["previous_batch_end"])
        extra: dict[str, Any] = {"history": info["history"], "data": data.get("fingerprint")}
        if pruner is not None:
            extra["curve"] = pruner.curve
        if "cost_history" in info:
            extra.update(cost_history=info["cost_history"], cost_axis=info["cost_axis"])
        if info.get("resumed"):
            extra.update(continued_from=task.resume_from, continued_at_epoch=info["resumed"])
        ckpt = info.get("checkpoint")
        if ckpt is not None and pruner is not None:
            ckpt["curve"] = list(pruner.curve)
        return Result(task.trial_id, status, float(fitness), metrics, time.perf_counter() - start, None, wall, extra,
                      checkpoints.encode(ckpt) if ckpt is not None else None)

    return run


def train_fully(init: dict[str, Any], on_epoch: Any) -> dict[str, Any]:
    """train-best: train on train (+ the search's early-stopping rows), stop early on validation with
    the best weights restored, score validation and test, save the model to ``init['model_path']``."""
    keras = _import_keras(init.get("threads"))
    data = init["payload"]

    class Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            on_epoch(epoch + 1, {k: float(v) for k, v in (logs or {}).items()})

    start = time.monotonic()
    builder = load_builder(data["builder"]) if data.get("builder") else None
    model, info = train(init["genome"], data, init["training"], init["seed"], on_epoch=Progress(),
                        swarm=init.get("swarm"), builder=builder)
    try:
        score(model, data["x_val"], data["y_val"], data["task"], data["n_classes"], data.get("target_scale"))
    except Diverged:
        raise Diverged(diverged_message(info["history"], info.get("cost_axis", "epoch"))) from None
    from natsel.objectives.keras.export import raw_scores, shipped_model
    from natsel.objectives.keras.swarm import AdaSwarmModel

    # AdaSwarm: a plain functional model with the same layers, so the saved model loads without natsel
    net = keras.Model(model.inputs, model.outputs) if isinstance(model, AdaSwarmModel) else model
    pre = data["preprocess"]
    shipped = shipped_model(keras, net, pre)  # raw inputs in, the target's own terms out
    # the scores reported are the shipped model's own, on the raw validation and test rows
    val = raw_scores(shipped, data["raw_val"], data["y_val"], pre, data["n_classes"])
    test = raw_scores(shipped, data["raw_test"], data["y_test"], pre, data["n_classes"])
    measured: dict[str, Any] = {}
    if init.get("report") is not None:  # a run with objectives or constraints: measured as its trials were
        measured = {"params": trainable_params(net), "train_seconds": info["train_seconds"]}
        measured["latency_ms"], measured["latency_rows"] = latency_ms(net, data["x_val"])  # one model: cheap
    shipped.save(init["model_path"])
    hist = info["history"]
    if "es_loss" in hist:  # trained by gradients: a loss per epoch on train and on the stopping split
        history, axis = {"train loss": hist["loss"], "validation loss": hist["es_loss"]}, "epoch"
    else:  # trained by a particle swarm: the swarm's best training loss per iteration
        history, axis = {"train loss (swarm best)": hist["loss"]}, "iteration"
    return {"epochs": info["epochs"], "timed_out": info["timed_out"], "validation": val, "test": test,
            "history": history, "history_axis": axis, "seconds": time.monotonic() - start,
            "swarm_iterations": info.get("swarm_iterations"), **({"measured": measured} if measured else {})}
