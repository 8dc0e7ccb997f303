"""Swarm training of Keras networks (slow: TensorFlow)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import natsel
from natsel.cli import main
from natsel.objectives.keras.data import load_dataset
from natsel.objectives.keras.metrics import classification_scores

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def iris():
    return load_dataset({"source": "iris"}, seed=0)


def small_net(units=10, out=3, act="softmax"):
    keras.utils.set_random_seed(0)
    inp = keras.Input((4,))
    return inp, keras.layers.Dense(out, activation=act)(keras.layers.Dense(units, activation="relu")(inp))


def test_batched_loss_equals_keras_loss_for_every_particle(iris):
    from natsel.objectives.keras.swarm import batched_loss_fn, initial_particles, unflatten

    model = keras.Model(*small_net())
    pos = initial_particles(model, 6, np.random.default_rng(0))
    batched = batched_loss_fn(model, iris.x_train, iris.y_train, "sparse_categorical_crossentropy")(pos)
    expected = []
    for p in pos:
        model.set_weights(unflatten(model, p))
        expected.append(float(keras.losses.SparseCategoricalCrossentropy()(iris.y_train, model(iris.x_train))))
    assert np.allclose(batched, expected, rtol=1e-4)
    assert len(set(np.round(batched, 6))) == 6  # particles really differ


def test_pso_trains_iris_without_gradients(iris):
    from natsel.objectives.keras.swarm import pso_train
    from natsel.swarm import SwarmOptions

    model = keras.Model(*small_net())
    before = classification_scores(iris.y_test, model(iris.x_test), 3)["accuracy"]
    res = pso_train(model, iris.x_train, iris.y_train, "multiclass",
                    SwarmOptions(n_particles=30, iterations=150, velocity_clamp=0.5), seed=0)
    after = classification_scores(iris.y_test, model(iris.x_test), 3)["accuracy"]
    assert res.cost_history[-1] < res.cost_history[0] / 5
    assert after >= 0.9 and after > before


def test_adaswarm_with_mae_beats_chance_on_iris(iris):
    from natsel.objectives.keras.swarm import AdaSwarmModel

    model = AdaSwarmModel(*small_net(), swarm_loss="mae")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mae")
    model.fit(iris.x_train, keras.utils.to_categorical(iris.y_train, 3), epochs=60, batch_size=16, verbose=0)
    acc = classification_scores(iris.y_test, model(iris.x_test), 3)["accuracy"]
    assert acc >= 0.85  # chance is 1/3


@pytest.mark.parametrize("loss,act,out", [("binary_crossentropy", "sigmoid", 1), ("mse", None, 1)])
def test_adaswarm_binary_and_mse(loss, act, out):
    from natsel.objectives.keras.swarm import AdaSwarmModel

    ds = load_dataset({"source": "breast_cancer"}, seed=0)
    keras.utils.set_random_seed(0)
    inp = keras.Input((ds.x_train.shape[1],))
    y_out = keras.layers.Dense(out, activation=act)(keras.layers.Dense(10, activation="relu")(inp))
    model = AdaSwarmModel(inp, y_out, swarm_loss=loss)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss)
    model.fit(ds.x_train, ds.y_train.astype("float32"), epochs=20, batch_size=32, verbose=0)
    pred = np.asarray(model(ds.x_test)).ravel()
    acc = float(((pred > 0.5) == ds.y_test).mean())
    assert acc > 0.9


def test_adaswarm_gradient_points_from_output_to_target():
    """With particles near the target, the approximate dLoss/dOutput has the sign of (output - target)."""
    import tensorflow as tf

    from natsel.objectives.keras.swarm import AdaSwarmModel

    model = AdaSwarmModel(*small_net(), swarm_loss="mae", spread=0.01)
    y = tf.constant([0, 1, 2, 1])
    y_pred = tf.constant([[0.2, 0.5, 0.3], [0.6, 0.2, 0.2], [0.3, 0.3, 0.4], [0.1, 0.1, 0.8]])
    g = model.swarm_gradient(y, y_pred).numpy()
    target = np.eye(3)[[0, 1, 2, 1]]
    assert (np.sign(g) == np.sign(y_pred.numpy() - target)).mean() > 0.9


def test_swarm_config_evolves_and_records_cost_histories(tmp_path):
    res = CliRunner().invoke(main, ["evolve", "configs/swarm.yaml", "--run-dir", str(tmp_path / "run"), "-q",
                                    "--generations", "2"])
    assert res.exit_code == 0, res.output
    run = natsel.load_run(tmp_path / "run")
    scored = [t for t in run.trials if t["status"] == "ok"]
    pso = [t for t in scored if t["genome"]["trainer"] == "pso"]
    ada = [t for t in scored if t["genome"]["trainer"] == "gradient" and t["genome"]["optimizer"] == "adaswarm"]
    assert pso and ada
    assert all(len(t["extra"]["cost_history"]) == t["genome"]["pso_iterations"] for t in pso)
    assert all(t["extra"]["cost_axis"] == "epoch" and t["extra"]["cost_history"] for t in ada)
    assert max(t["fitness"] for t in pso) > 0.8 and max(t["fitness"] for t in ada) > 0.8
    out = CliRunner().invoke(main, ["plot", str(tmp_path / "run")])
    assert out.exit_code == 0 and (tmp_path / "run" / "plots" / "swarm_costs.png").is_file()
    from natsel._plot import fig_swarm_costs, swarm_trials

    fig = fig_swarm_costs(run)
    plotted = sorted(len(line.get_ydata()) for ax in fig.axes for line in ax.lines)
    assert plotted == sorted(len(t["extra"]["cost_history"]) for t in swarm_trials(run))


def test_pso_trainer_scores_a_fixed_subset_of_large_training_sets(monkeypatch):
    import natsel.objectives.keras.train as nk
    from natsel.executors import Task

    seen = []
    import natsel.objectives.keras.swarm as sk

    real = sk.pso_train

    def spy(model, x, y, *args, **kwargs):
        seen.append(len(x))
        return real(model, x, y, *args, **kwargs)

    monkeypatch.setattr(sk, "pso_train", spy)
    data = load_dataset({"source": "digits"}, seed=0).search_payload()  # 970 training rows
    run = nk.keras_objective({"training": {"max_epochs": 1, "patience": 0, "max_training_time": 60, "grace": 30,
                                           "steps_per_execution": 0}, "metric": "accuracy", "threads": 2,
                              "swarm": {"pso": {"max_rows": 300}}}, data)
    res = run(Task(0, {"trainer": "pso", "neurons0": 16, "pso_particles": 8, "pso_iterations": 5}, "k", 0))
    assert res.status == "ok" and seen == [300]
