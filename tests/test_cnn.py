"""Issue 13: images keep their shape, convolutional genes, and users' ``model:`` builders.

The first half needs no TensorFlow (data, validation, the parent's side of a builder); the tests
marked ``keras`` train networks.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import natsel
from natsel import objectives
from natsel.cli import main
from natsel.objectives.keras.data import FASHION_DIR, load_dataset

CONV = """
data: {{source: {source}}}
training: {{max_epochs: 3, patience: 2, max_training_time: 30}}
evolution: {{population: 2, generations: 1}}
workers: 1
space:
  conv_blocks: {{low: 1, high: {high}}}
  filters: {{repeat: 4, choices: [8, 16]}}
  pooling: {{repeat: 4, choices: [{pooling}]}}
  neurons0: [16]
"""


def bad(cfg, tmp_path) -> str:
    """``natsel evolve`` on ``cfg`` fails with one line and exit 2, and leaves no run folder."""
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in res.output
    assert not (tmp_path / "run").exists()
    return lines[0]


def line_of(cfg, text: str) -> int:
    return next(i for i, ln in enumerate(cfg.read_text().splitlines(), 1) if ln.lstrip().startswith(text))


# ---------------------------------------------------------------- images keep their shape (no TensorFlow)


def test_digits_reach_the_model_as_8x8_images_scaled_per_pixel():
    payload = load_dataset({"source": "digits"}, seed=0).search_payload()
    for k in ("x_train", "x_es", "x_val"):
        x = payload[k]
        assert x.ndim == 4 and x.shape[1:] == (8, 8, 1) and x.dtype == np.float32
    assert payload["x_train"].shape == (970, 8, 8, 1) and payload["input_shape"] == (8, 8, 1)
    x = payload["x_train"]
    # divided by 16 (17 grey levels), not standardised per column: values on the grid k/16 in [0, 1]
    assert x.min() == 0 and x.max() == 1 and np.allclose(x * 16, np.round(x * 16))
    assert abs(float(x[:, 0, 0, 0].std())) < 1e-6  # a constant column stays 0 instead of being centred
    tab = load_dataset({"source": "iris"}, seed=0)  # tabular sources are still standardised rows
    assert tab.x_train.ndim == 2 and np.allclose(tab.x_train.mean(axis=0), 0, atol=1e-5)


def test_npz_images_keep_their_shape_and_the_hash_follows_what_the_model_sees(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (60, 5, 6), dtype=np.uint8)
    y = np.arange(60) % 3
    np.savez(tmp_path / "grey.npz", x=grey, y=y)
    np.savez(tmp_path / "rgb.npz", x=rng.random((60, 4, 4, 3)), y=y)
    np.savez(tmp_path / "rows.npz", x=grey.reshape(60, -1), y=y)
    g = load_dataset({"source": "npz", "path": "grey.npz"}, tmp_path)
    assert g.x_train.shape[1:] == (5, 6, 1) and g.pixel_scale == 255
    assert np.array_equal(np.sort(np.concatenate([a.ravel() for a in (g.x_train, g.x_es, g.x_val, g.x_test)])),
                          np.sort(grey.ravel() / np.float32(255)))  # every pixel / 255, nothing else
    rgb = load_dataset({"source": "npz", "path": "rgb.npz"}, tmp_path)
    assert rgb.x_train.shape[1:] == (4, 4, 3) and rgb.pixel_scale == 1
    rows = load_dataset({"source": "npz", "path": "rows.npz"}, tmp_path)
    assert rows.x_train.ndim == 2 and rows.pixel_scale is None
    assert len({g.fingerprint, rgb.fingerprint, rows.fingerprint}) == 3  # same pixels as rows: other inputs
    again = load_dataset({"source": "npz", "path": "grey.npz"}, tmp_path)
    assert again.fingerprint == g.fingerprint


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_fashion_mnist_images_are_28x28x1_over_255():
    ds = load_dataset({"source": "fashion_mnist", "limit": 2000})
    assert ds.x_train.shape[1:] == ds.x_test.shape[1:] == (28, 28, 1) and ds.pixel_scale == 255
    assert 0 <= ds.x_test.min() and ds.x_test.max() <= 1


# ---------------------------------------------------------------- convolutional genes: config errors


def test_impossible_conv_shapes_are_config_errors_with_the_genes_line(write_config, tmp_path):
    cfg = write_config(CONV.format(source="digits", high=4, pooling="max, none"))
    msg = bad(cfg, tmp_path)  # 8 -> 4 -> 2 -> 1 -> 0: a fourth pooling block leaves nothing
    assert msg.startswith(f"error: {cfg}:{line_of(cfg, 'conv_blocks')}: gene 'conv_blocks'")
    assert "8x8 images below 1x1 at block 4" in msg
    # the same space fits when the fourth block never pools, or when only three blocks are allowed
    never_pools_4th = CONV.format(source="digits", high=4, pooling="max, none").replace(
        "pooling: {repeat: 4, choices: [max, none]}", "pooling: {repeat: 3, choices: [max, none]}\n  pooling3: none")
    for fits in (never_pools_4th, CONV.format(source="digits", high=3, pooling="max, average")):
        ok = natsel.load_config(write_config(fits, "fits.yaml"))
        assert objectives.get("keras").prepare(ok).payload["x_train"].ndim == 4


def test_conv_genes_on_tabular_data_are_a_config_error(write_config, tmp_path):
    cfg = write_config(CONV.format(source="iris", high=2, pooling="max"))
    msg = bad(cfg, tmp_path)
    assert msg.startswith(f"error: {cfg}:{line_of(cfg, 'conv_blocks')}: gene 'conv_blocks' builds convolutional")
    assert "data 'iris' is rows of 4 features" in msg


@pytest.mark.parametrize("gene,why", [
    ("pooling: {repeat: 2, choices: [max, median]}", "gene 'pooling0': unknown value 'median'"),
    ("kernel0: [0, 3]", "gene 'kernel0': 0 is outside 1..31"),
    ("filters0: {low: 4.5, high: 8.5}", "gene 'filters0': 4.5 is not a whole number"),
    ("batch_norm0: [yes_please]", "gene 'batch_norm0': 'yes_please' is not true or false"),
    ("head: [flatten, attention]", "gene 'head': unknown value 'attention'"),
    ("filter0: [8]", "gene 'filter0' is not used by the Keras model"),
    ("trainer: [gradient, pso]", "trainer 'pso' trains dense networks only"),
])
def test_bad_conv_genes_are_config_errors(write_config, tmp_path, gene, why):
    cfg = write_config(f"data: {{source: digits}}\nspace:\n  conv_blocks: [1, 2]\n  {gene}\n")
    res = CliRunner().invoke(main, ["evolve", str(cfg), "-q"])
    assert res.exit_code == 2 and res.stderr.strip() == res.stderr.strip().splitlines()[0]
    assert f"{cfg}:4: {why}" in res.stderr, res.stderr


# ---------------------------------------------------------------- model builders: the parent's side

BUILDER_MODULE = '''
import keras  # at the top: the parent must find this module without importing it

from keras import layers


def build(genome, input_shape, n_outputs, task):
    if genome["units"] == 13:
        raise ValueError("13 units are unlucky")
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(genome["filters"], 3, padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(genome["units"], activation="relu")(x)
    return keras.Model(inputs, layers.Dense(n_outputs, activation="softmax")(x))
'''

BUILDER_CONFIG = """
data: {source: digits}
model: mymodels:build
training: {max_epochs: 8, patience: 3, max_training_time: 30}
evolution: {population: 4, generations: 1, initial_genome: {units: 13}}
workers: 1
space:
  filters: [8, 16]
  units: [13, 32, 48]
  learning_rate: 0.01
"""


def test_builder_is_found_without_importing_tensorflow_and_free_genes_are_allowed(write_config, tmp_path):
    (tmp_path / "mymodels.py").write_text(BUILDER_MODULE)
    cfg = write_config(BUILDER_CONFIG)
    code = ("import sys, natsel; from natsel import objectives; cfg = natsel.load_config(sys.argv[1]); "
            "p = objectives.get('keras').prepare(cfg); "
            "print(p.spec['model'], p.identity['model']['file'], 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(cfg)], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["mymodels:build", str(tmp_path / "mymodels.py"), "False", "False"], out.stderr


@pytest.mark.parametrize("ref,why", [
    ("nomodule:build", "model builder: cannot find module 'nomodule'"),
    ("mymodels:biuld", "model builder: 'mymodels' (%s) has no top-level 'biuld'"),
    ("mymodels", "must look like package.module:function"),
])
def test_a_builder_that_cannot_be_found_is_a_config_error(write_config, tmp_path, ref, why):
    (tmp_path / "mymodels.py").write_text(BUILDER_MODULE)
    cfg = write_config(BUILDER_CONFIG.replace("mymodels:build", ref))
    msg = bad(cfg, tmp_path)
    assert msg.startswith(f"error: {cfg}:{line_of(cfg, 'model:')}: ")
    assert (why % (tmp_path / "mymodels.py") if "%s" in why else why) in msg


def test_builder_genes_natsel_reads_are_still_checked(write_config, tmp_path):
    (tmp_path / "mymodels.py").write_text(BUILDER_MODULE)
    for gene, why in (("optimizer: [adam, adaswarm]", "swarm trainers train natsel's own networks only"),
                      ("trainer: [pso]", "trainer 'pso' trains natsel's dense networks only"),
                      ("batch_size: [0, 32]", "gene 'batch_size' (natsel compiles and trains the built model with it)")):
        cfg = write_config(BUILDER_CONFIG + f"  {gene}\n")
        assert why in bad(cfg, tmp_path)


def test_model_is_a_keras_key():
    from natsel.objectives.keras import KerasFamily

    assert "model" in KerasFamily.sections


# ---------------------------------------------------------------- training (TensorFlow)


def _reload_and_score(run_dir, data_spec, base_dir=None) -> float:
    import keras

    ds = load_dataset(data_spec, base_dir or ".", seed=0)
    model = keras.models.load_model(run_dir / "best_model.keras")  # plain layers: no natsel needed
    # the saved model takes the raw images (issue 26): its own Rescaling does natsel's pixel scaling
    return float((model.predict(ds.raw_test, verbose=0).argmax(1) == ds.y_test).mean())


@pytest.mark.keras
def test_tiny_conv_search_on_digits_with_two_workers_then_train_best_reloads(write_config, tmp_path):
    cfg = write_config("""
    data: {source: digits}
    training: {max_epochs: 4, patience: 2, max_training_time: 30}
    evolution: {population: 4, generations: 1}
    workers: 2
    space:
      conv_blocks: [1, 2]
      filters: {repeat: 2, choices: [8, 16]}
      kernel0: [3]
      batch_norm: {repeat: 2, choices: [true, false]}
      pooling: {repeat: 2, choices: [max, average]}
      conv_dropout0: [0.0, 0.1]
      head: [flatten, global_average]
      neurons0: [0, 32]
      learning_rate: 0.01
      batch_size: 32
    """)
    run_dir = tmp_path / "run"
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(run_dir), "-q"])
    assert res.exit_code == 0, res.output
    run = natsel.load_run(run_dir)
    assert len(run.trials) == 4 and all(t["status"] == "ok" for t in run.trials), run.trials
    res = CliRunner().invoke(main, ["train-best", str(run_dir), "-q", "--epochs", "10", "--patience", "3"])
    assert res.exit_code == 0, res.output
    info = json.loads((run_dir / "train_best.json").read_text())
    assert info["genome"] == run.fittest and info["test"]["accuracy"] > 0.85
    import keras

    model = keras.models.load_model(run_dir / "best_model.keras")

    def layers(m):  # the trained network is nested in the shipped model, behind its preprocessing
        for layer in m.layers:
            yield layer
            yield from layers(layer) if hasattr(layer, "layers") else ()

    assert any(isinstance(layer, keras.layers.Conv2D) for layer in layers(model))
    assert _reload_and_score(run_dir, {"source": "digits"}) == pytest.approx(info["test"]["accuracy"], abs=1e-6)
    shown = CliRunner().invoke(main, ["show", str(run_dir), "--json"])
    assert shown.exit_code == 0 and json.loads(shown.output)[0]["genome"]["conv_blocks"] in (1, 2)
    assert CliRunner().invoke(main, ["plot", str(run_dir)]).exit_code == 0


@pytest.mark.keras
def test_user_builder_next_to_the_config_evolves_and_train_best_reloads(write_config, tmp_path):
    (tmp_path / "mymodels.py").write_text(BUILDER_MODULE)
    cfg = write_config(BUILDER_CONFIG)
    run_dir = tmp_path / "run"
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(run_dir), "-q"])
    assert res.exit_code == 0, res.output
    run = natsel.load_run(run_dir)
    unlucky = [t for t in run.trials if t["genome"]["units"] == 13]
    assert unlucky and all(t["status"] == "failed" and t["error"] == "ValueError: 13 units are unlucky (mymodels.py:9)"
                           for t in unlucky), unlucky  # the builder's error line, that trial only
    assert [t["status"] for t in run.trials].count("ok") == len(run.trials) - len(unlucky)
    assert run.best["fitness"] > 0.8
    res = CliRunner().invoke(main, ["train-best", str(run_dir), "-q", "--epochs", "10", "--patience", "3"])
    assert res.exit_code == 0, res.output
    info = json.loads((run_dir / "train_best.json").read_text())
    assert info["genome"] == run.fittest and info["test"]["accuracy"] > 0.85
    assert _reload_and_score(run_dir, {"source": "digits"}) == pytest.approx(info["test"]["accuracy"], abs=1e-6)
    # train-best trains the builder the search scored: an edited builder is refused
    (tmp_path / "mymodels.py").write_text(BUILDER_MODULE + "\n# edited\n")
    res = CliRunner().invoke(main, ["train-best", str(run_dir), "-q"])
    assert res.exit_code == 2 and "the model builder mymodels:build has changed since the search" in res.stderr


@pytest.mark.keras
def test_uncompiled_builder_is_compiled_with_the_genome_and_a_compiled_one_is_kept():
    import keras

    from natsel.examples.models import build
    from natsel.objectives.keras.train import build_model, user_model

    data = load_dataset({"source": "digits"}, seed=0).search_payload()
    assert not build({"blocks": 1}, (8, 8, 1), 10, "multiclass").compiled  # the example comes back uncompiled
    model = user_model(build, {"blocks": 2, "optimizer": "nadam", "learning_rate": 0.005}, data)
    assert model.compiled and isinstance(model.optimizer, keras.optimizers.Nadam)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.005)
    assert model.loss == "sparse_categorical_crossentropy"

    def compiled(genome, input_shape, n_outputs, task):
        m = build(genome, input_shape, n_outputs, task)
        m.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
        return m

    kept = user_model(compiled, {"optimizer": "adam"}, data)
    assert isinstance(kept.optimizer, keras.optimizers.SGD)
    # a dense genome on images starts with a Flatten
    dense = build_model({"neurons0": 16}, (8, 8, 1), "multiclass", 10)
    assert isinstance(dense.layers[1], keras.layers.Flatten) and dense.output_shape == (None, 10)
