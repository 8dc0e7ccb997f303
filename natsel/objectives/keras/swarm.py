"""Swarm training of Keras networks (imports TensorFlow).

* :func:`pso_train` - gradient-free: the particles are the flattened weights of a dense Keras
  model, and every particle's loss is computed in **one batched forward pass** (weights stacked on
  a particle axis, ``tf.matmul`` over it), never one ``predict`` per particle.
* :class:`AdaSwarmModel` - AdaSwarm (Mohapatra et al.): per batch an EMPSO swarm over the network's
  outputs approximates the loss gradient with respect to the outputs,
  ``-(mean(c1*r1 + c2*r2) / eta) * (gbest - y_pred)``; it is back-propagated through the network
  (``GradientTape.gradient(..., output_gradients=...)``) into the compiled optimizer (Adam).

Which AdaSwarm variant (docs/swarm.md): as in the published reference code, a fresh swarm of
``particles`` candidate outputs per batch, initialised near the targets, run for ``iterations``
EMPSO steps with r1, r2 one scalar per particle per iteration; the analytic gradient is ignored.
The paper leaves the initialisation open; starting near the targets is what makes the method work
for losses without a useful gradient (mean absolute error): gbest lands near the target, so the
approximated gradient points from the output to the target whatever the loss's own derivative.
``init="output"`` starts the swarm at the network's outputs instead (a pure search from the
current prediction).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from natsel.swarm._pso import SwarmOptions, SwarmResult, minimize  # noqa: E402

_EPS = 1e-7


def _dense_layers(model: Any) -> list[Any]:
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    weights = {id(w) for layer in dense for w in layer.trainable_weights}
    if len(weights) != len(model.trainable_weights):
        raise ValueError("PSO weight training supports models of Dense (and Dropout) layers only")
    return dense


def flatten(model: Any) -> np.ndarray:
    return np.concatenate([w.ravel() for w in model.get_weights()]).astype(np.float64)


def unflatten(model: Any, position: np.ndarray) -> list[np.ndarray]:
    out, i = [], 0
    for w in model.get_weights():
        out.append(position[i : i + w.size].reshape(w.shape).astype(w.dtype))
        i += w.size
    return out


def loss_kind(task: str) -> str:
    return {"multiclass": "sparse_categorical_crossentropy", "binary": "binary_crossentropy"}.get(task, "mse")


def particle_loss(kind: str, y: tf.Tensor, out: tf.Tensor) -> tf.Tensor:
    """Mean loss of each particle: ``out`` is (particles, rows, outputs) -> (particles,)."""
    if kind == "sparse_categorical_crossentropy":
        p = tf.clip_by_value(out, _EPS, 1.0)
        idx = tf.cast(tf.reshape(y, [-1]), tf.int32)
        onehot = tf.one_hot(idx, tf.shape(out)[-1], dtype=out.dtype)
        return -tf.reduce_mean(tf.reduce_sum(onehot[None] * tf.math.log(p), axis=-1), axis=1)
    if kind == "categorical_crossentropy":
        p = tf.clip_by_value(out, _EPS, 1.0)
        return -tf.reduce_mean(tf.reduce_sum(tf.cast(y, out.dtype)[None] * tf.math.log(p), axis=-1), axis=1)
    yt = tf.reshape(tf.cast(y, out.dtype), [1, -1, out.shape[-1] or 1])
    if kind == "binary_crossentropy":
        p = tf.clip_by_value(out, _EPS, 1 - _EPS)
        return -tf.reduce_mean(yt * tf.math.log(p) + (1 - yt) * tf.math.log(1 - p), axis=[1, 2])
    if kind == "mae":
        return tf.reduce_mean(tf.abs(out - yt), axis=[1, 2])
    return tf.reduce_mean(tf.square(out - yt), axis=[1, 2])


def dense_target(y: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Targets shaped like the outputs: class indices (for a multi-output model) become one-hot rows."""
    y = tf.convert_to_tensor(y)
    k = y_pred.shape[-1]
    if k is not None and k > 1 and (y.shape.rank == 1 or y.shape[-1] == 1):
        return tf.one_hot(tf.cast(tf.reshape(y, [-1]), tf.int32), k, dtype=y_pred.dtype)
    return tf.reshape(tf.cast(y, y_pred.dtype), tf.shape(y_pred))


def batched_loss_fn(model: Any, x: np.ndarray, y: np.ndarray, kind: str) -> Callable[[np.ndarray], np.ndarray]:
    """positions (particles, n_weights) -> loss of each particle, in one batched forward pass."""
    layers = _dense_layers(model)
    shapes = [(tuple(layer.kernel.shape), tuple(layer.bias.shape) if layer.use_bias else None) for layer in layers]
    acts = [layer.activation for layer in layers]
    xt = tf.constant(x, tf.float32)
    yt = tf.constant(y)

    @tf.function(reduce_retracing=True)
    def losses(pos: tf.Tensor) -> tf.Tensor:
        p = tf.shape(pos)[0]
        h = tf.tile(xt[None], [p, 1, 1])
        i = 0
        for (kshape, bshape), act in zip(shapes, acts, strict=True):
            k = tf.reshape(pos[:, i : i + kshape[0] * kshape[1]], [p, kshape[0], kshape[1]])
            i += kshape[0] * kshape[1]
            h = tf.matmul(h, k)
            if bshape is not None:
                h = h + pos[:, None, i : i + bshape[0]]
                i += bshape[0]
            h = act(h)
        return particle_loss(kind, yt, h)

    return lambda positions: losses(tf.constant(positions, tf.float32)).numpy().astype(np.float64)


def initial_particles(model: Any, n: int, rng: np.random.Generator, spread: float = 0.0) -> np.ndarray:
    """Particle 0 is the model's own weights; the others are fresh draws of each layer's initializer
    (biases get small noise so particles differ in every dimension). Keras 3 initializers return the
    same values on every call, so each draw uses a re-seeded copy."""
    rows = [flatten(model)]
    layers = _dense_layers(model)
    for _ in range(n - 1):
        parts = []
        for layer in layers:
            init = layer.kernel_initializer
            seeded = type(init).from_config({**init.get_config(), "seed": int(rng.integers(2**31 - 1))})
            k = np.asarray(seeded(tuple(layer.kernel.shape)), dtype=np.float64)
            parts.append(k.ravel())
            if layer.use_bias:
                parts.append(rng.normal(0.0, 0.01, layer.bias.shape[0]))
        rows.append(np.concatenate(parts))
    pos = np.stack(rows)
    if spread:
        pos += rng.normal(0.0, spread, pos.shape)
    return pos


def pso_train(model: Any, x: np.ndarray, y: np.ndarray, task: str, options: SwarmOptions, seed: int = 0,
              deadline: float | None = None) -> SwarmResult:
    """Train ``model``'s weights with a particle swarm (no gradients); sets the best weights found."""
    rng = np.random.default_rng(seed)
    cost = batched_loss_fn(model, x, y, loss_kind(task))
    stop = None if deadline is None else (lambda t, best: time.monotonic() >= deadline)
    result = minimize(cost, options=options, init=initial_particles(model, options.n_particles, rng), seed=seed,
                      should_stop=stop)
    if deadline is not None and result.stopped == "callback":
        result.stopped = "deadline"
    model.set_weights(unflatten(model, result.best_position))
    return result


def loop_loss_fn(model: Any, x: np.ndarray, y: np.ndarray, kind: str) -> Callable[[np.ndarray], np.ndarray]:
    """The pattern :func:`batched_loss_fn` replaces (PySwarms + TensorFlow tutorials): for every
    particle, ``set_weights`` then ``predict``. Kept for ``bench/swarm.py``."""
    yt = tf.constant(y)

    def losses(positions: np.ndarray) -> np.ndarray:
        out = []
        for p in positions:
            model.set_weights(unflatten(model, p))
            pred = model.predict(x, verbose=0)
            out.append(float(particle_loss(kind, yt, tf.constant(pred[None], tf.float32))[0]))
        return np.array(out)

    return losses


@keras.saving.register_keras_serializable(package="natsel")
class AdaSwarmModel(keras.Model):
    """A Keras model trained by AdaSwarm: ``fit`` uses swarm-approximated output gradients.

    >>> inputs = keras.Input((4,))                                          # doctest: +SKIP
    >>> outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(10, activation="relu")(inputs))
    >>> model = AdaSwarmModel(inputs, outputs, swarm_loss="mae")            # doctest: +SKIP
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mae")    # doctest: +SKIP
    >>> model.fit(x, keras.utils.to_categorical(y), epochs=50)             # doctest: +SKIP

    ``swarm_loss``: sparse_categorical_crossentropy, categorical_crossentropy, binary_crossentropy,
    mse or mae (it should match the compiled loss, which is only reported). Paper defaults:
    c1=0.8, c2=0.9, beta=0.9, eta=0.1; 10 particles, 5 iterations per batch (reference code).
    """

    def __init__(self, *args: Any, swarm_loss: str = "mse", c1: float = 0.8, c2: float = 0.9, beta: float = 0.9,
                 eta: float = 0.1, particles: int = 10, iterations: int = 5, spread: float = 0.1,
                 init: str = "target", seed: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.swarm = {"swarm_loss": swarm_loss, "c1": c1, "c2": c2, "beta": beta, "eta": eta,
                      "particles": particles, "iterations": iterations, "spread": spread, "init": init, "seed": seed}
        self._gen = tf.random.Generator.from_seed(seed)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self.swarm}

    @property
    def extra_variables(self) -> list[Any]:
        """State outside ``variables`` that a checkpoint must hold to continue exactly: the swarm's generator."""
        return [self._gen.state]

    def _project(self, x: tf.Tensor) -> tf.Tensor:
        kind = self.swarm["swarm_loss"]
        if kind in ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy"):
            return tf.clip_by_value(x, _EPS, 1 - _EPS)
        return x

    def swarm_gradient(self, y: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        """The approximate dLoss/dOutput for one batch, from a fresh EMPSO swarm."""
        s = self.swarm
        kind = s["swarm_loss"]
        if kind == "sparse_categorical_crossentropy":
            kind = "categorical_crossentropy"
        n = s["particles"]
        shape = tf.shape(y_pred)
        y = dense_target(y, y_pred)  # class indices become one-hot rows, whatever the loss
        center = y if s["init"] == "target" else tf.stop_gradient(y_pred)
        x = self._project(center[None] + s["spread"] * self._gen.normal(tf.concat([[n], shape], 0), dtype=y_pred.dtype))
        v = tf.zeros_like(x)
        m = tf.zeros_like(x)
        cost = particle_loss(kind, y, x)
        pbest, pcost = x, cost
        gbest = pbest[tf.argmin(pcost)]
        coef = tf.constant(0.0, y_pred.dtype)
        for _ in range(s["iterations"]):
            r1 = self._gen.uniform([n, 1, 1], dtype=y_pred.dtype)
            r2 = self._gen.uniform([n, 1, 1], dtype=y_pred.dtype)
            m = s["beta"] * m + (1 - s["beta"]) * v
            v = m + s["c1"] * r1 * (pbest - x) + s["c2"] * r2 * (gbest[None] - x)
            x = self._project(x + v)
            cost = particle_loss(kind, y, x)
            better = cost < pcost
            pbest = tf.where(better[:, None, None], x, pbest)
            pcost = tf.minimum(cost, pcost)
            gbest = pbest[tf.argmin(pcost)]
            coef += tf.reduce_mean(s["c1"] * r1 + s["c2"] * r2)
        coef /= max(1, s["iterations"])
        return -(coef / s["eta"]) * (gbest - tf.stop_gradient(y_pred))

    def train_step(self, data: Any) -> dict[str, Any]:
        x, y = data[0], data[1]
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
        grads = tape.gradient(y_pred, self.trainable_variables,
                              output_gradients=self.swarm_gradient(y, y_pred))
        self.optimizer.apply(grads, self.trainable_variables)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}
