"""Swarm benchmarks, measured side by side in one run.

    python bench/swarm.py [--seeds 10] [--epochs 100]

1. PSO weight training on a 10-32-1 network (synthetic binary data, 1000 rows): seconds per swarm
   iteration with natsel's batched forward pass vs the common pattern it replaces (for each
   particle: ``set_weights`` then ``predict``), at 10/30/100 particles, and the final loss of both
   after the same iterations from the same seed.
2. AdaSwarm vs Adam on iris and wine with the paper's network (one hidden layer of 10 units),
   cross-entropy and MAE losses, over N seeds: test accuracy mean and std, epochs AdaSwarm needs
   to reach Adam's final accuracy, seconds per epoch.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from natsel.objectives.keras.data import load_dataset  # noqa: E402
from natsel.objectives.keras.metrics import classification_scores  # noqa: E402
from natsel.objectives.keras.swarm import AdaSwarmModel, batched_loss_fn, initial_particles, loop_loss_fn  # noqa: E402
from natsel.swarm import SwarmOptions, minimize  # noqa: E402


def net(n_in: int, hidden: int, n_out: int, act: str, cls: type = keras.Model, **kw: object) -> keras.Model:
    inp = keras.Input((n_in,))
    out = keras.layers.Dense(n_out, activation=act)(keras.layers.Dense(hidden, activation="relu")(inp))
    return cls(inp, out, **kw)


def pso_bench() -> None:
    ds = load_dataset({"source": "synthetic", "n_samples": 1000, "n_features": 10, "n_classes": 2,
                       "validation": 0.1, "test": 0.1}, seed=0)
    x, y = ds.x_train, ds.y_train
    print(f"PSO weight training, 10-32-1 network, {len(x)} rows: seconds per swarm iteration")
    print(f"{'particles':>9} {'batched':>9} {'loop':>9} {'speed-up':>9}")
    for n in (10, 30, 100):
        keras.utils.set_random_seed(0)
        model = net(10, 32, 1, "sigmoid")
        init = initial_particles(model, n, np.random.default_rng(0))
        times = {}
        for name, fn, iters in (("batched", batched_loss_fn, 50), ("loop", loop_loss_fn, 3)):
            cost = fn(model, x, y, "binary_crossentropy")
            cost(init[:2])  # warm up (tracing)
            t0 = time.perf_counter()
            minimize(cost, options=SwarmOptions(n_particles=n, iterations=iters), init=init, seed=0)
            times[name] = (time.perf_counter() - t0) / (iters + 1)  # + the initial evaluation
        print(f"{n:>9} {times['batched']:9.4f} {times['loop']:9.4f} {times['loop'] / times['batched']:8.1f}x")
    keras.utils.set_random_seed(0)
    model = net(10, 32, 1, "sigmoid")
    init = initial_particles(model, 30, np.random.default_rng(0))
    opt = SwarmOptions(n_particles=30, iterations=10)
    finals = {name: minimize(fn(model, x, y, "binary_crossentropy"), options=opt, init=init, seed=0).best_cost
              for name, fn in (("batched", batched_loss_fn), ("loop", loop_loss_fn))}
    print(f"final loss after 10 iterations, 30 particles, same seed: batched {finals['batched']:.6f}, "
          f"loop {finals['loop']:.6f}")


class TestAccuracy(keras.callbacks.Callback):
    def __init__(self, x: np.ndarray, y: np.ndarray, k: int) -> None:
        super().__init__()
        self.x, self.y, self.k, self.acc = x, y, k, []

    def on_epoch_end(self, epoch: int, logs: object = None) -> None:
        self.acc.append(classification_scores(self.y, np.asarray(self.model(self.x)), self.k)["accuracy"])


def one(ds: object, method: str, loss: str, seed: int, epochs: int) -> tuple[list[float], float]:
    keras.utils.set_random_seed(seed)
    k = ds.n_classes
    x = np.concatenate([ds.x_train, ds.x_es, ds.x_val])
    y = np.concatenate([ds.y_train, ds.y_es, ds.y_val])
    target = keras.utils.to_categorical(y, k)
    keras_loss = "categorical_crossentropy" if loss == "ce" else "mae"
    if method == "adaswarm":
        model = net(x.shape[1], 10, k, "softmax", AdaSwarmModel, swarm_loss=keras_loss, seed=seed)
    else:
        model = net(x.shape[1], 10, k, "softmax")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=keras_loss)
    cb = TestAccuracy(ds.x_test, ds.y_test, k)
    t0 = time.perf_counter()
    model.fit(x, target, epochs=epochs, batch_size=16, verbose=0, callbacks=[cb], shuffle=True)
    return cb.acc, (time.perf_counter() - t0) / epochs


def adaswarm_bench(seeds: int, epochs: int) -> None:
    print(f"\nAdaSwarm vs Adam: one hidden layer of 10 units, Adam lr 0.01, batch 16, {epochs} epochs, "
          f"{seeds} seeds (split seed = run seed)")
    print(f"{'data':>5} {'loss':>4} {'Adam test acc':>15} {'AdaSwarm test acc':>18} {'epochs to Adam':>15} "
          f"{'s/epoch Adam':>13} {'s/epoch AdaSwarm':>17}")
    for name in ("iris", "wine"):
        for loss in ("ce", "mae"):
            res: dict[str, list] = {"adam": [], "adaswarm": []}
            secs: dict[str, list] = {"adam": [], "adaswarm": []}
            reach = []
            for s in range(seeds):
                ds = load_dataset({"source": name}, seed=s)
                for method in ("adam", "adaswarm"):
                    acc, spe = one(ds, method, loss, s, epochs)
                    res[method].append(acc)
                    secs[method].append(spe)
                goal = res["adam"][-1][-1]
                hit = [i + 1 for i, a in enumerate(res["adaswarm"][-1]) if a >= goal]
                reach.append(hit[0] if hit else np.nan)
            fa = np.array([a[-1] for a in res["adam"]]) * 100
            fs = np.array([a[-1] for a in res["adaswarm"]]) * 100
            reached = np.array(reach, dtype=float)
            r = f"{np.nanmean(reached):.0f} ({int(np.isfinite(reached).sum())}/{seeds})"
            print(f"{name:>5} {loss:>4} {fa.mean():7.2f} ± {fa.std():4.2f} {fs.mean():10.2f} ± {fs.std():4.2f} "
                  f"{r:>15} {np.mean(secs['adam']):13.4f} {np.mean(secs['adaswarm']):17.4f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--skip-pso", action="store_true")
    args = ap.parse_args()
    if not args.skip_pso:
        pso_bench()
    adaswarm_bench(args.seeds, args.epochs)


if __name__ == "__main__":
    main()
