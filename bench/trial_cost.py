"""What one Keras trial costs: natsel's training path against Keras's own ``fit``, side by side.

    python bench/trial_cost.py                       # digits, 20 genomes (~3 min)
    python bench/trial_cost.py --data fashion --genomes 10

The same genomes (sampled from NaturalSelection's 15-gene space plus the learning rate), the same
seeds and the same network, trained two ways in one process on one TensorFlow thread, alternating
which goes first:

* ``keras fit``: what a user would write: ``fit(validation_data=..., callbacks=[EarlyStopping(
  patience, restore_best_weights=True)])``, on natsel's batches (a dataset whose order depends only
  on (seed, epoch), which costs the same as Keras's own shuffle of numpy arrays), so both ways train
  to the same result. Keras (TensorFlow backend) creates the optimizer's
  variables while tracing the training step, so TensorFlow traces it twice, and it builds a
  validation iterator and traces a test function for the early-stopping split.
* ``natsel``: the objective every search runs (``keras_objective``): optimizer variables built
  before ``fit`` and the early-stopping loss from a direct call of the model.

Printed per budget (a 2-epoch rung, and the full budget of 20 epochs with patience 3): seconds per
trial (mean +- s.e.), the ratio natsel / keras fit with its spread over genomes, and how many
genomes trained the same epochs to the same validation accuracy both ways (the early-stopping loss
differs by float rounding, ~1e-7, so a near-tie may rarely stop one epoch apart).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
from search import NS_SPACE  # noqa: E402

from natsel._config import load_config  # noqa: E402
from natsel.executors import Task  # noqa: E402
from natsel.objectives.keras.data import load_dataset  # noqa: E402

DATA = {"digits": {"source": "digits"}, "fashion": {"source": "fashion_mnist", "limit": 12000}}
BUDGETS = {"2 epochs": 2, "full (20, patience 3)": 20}


def keras_fit(train_mod, genome: dict, data: dict, epochs: int, seed: int) -> tuple[float, int, float]:
    """Keras's own path; (seconds, epochs, validation accuracy)."""
    keras = train_mod._import_keras()
    start = time.perf_counter()
    keras.utils.set_random_seed(seed)
    g = train_mod.full_genome(genome)
    batch = int(g["batch_size"])
    spe = train_mod.auto_steps_per_execution(len(data["x_train"]), batch)
    model = train_mod.build_model(genome, data["input_shape"], data["task"], data["n_classes"], spe)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    batches, epoch = train_mod.epoch_data(keras, data["x_train"], data["y_train"], batch, seed)  # natsel's batches
    history = model.fit(batches, epochs=epochs, verbose=0, shuffle=False,
                        validation_data=(data["x_es"], data["y_es"]), callbacks=[epoch, stop])
    acc = train_mod.score(model, data["x_val"], data["y_val"], data["task"], data["n_classes"])["accuracy"]
    keras.backend.clear_session(free_memory=False)
    return time.perf_counter() - start, len(history.history["loss"]), acc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", choices=sorted(DATA), default="digits")
    ap.add_argument("--genomes", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from natsel.objectives.keras import train as train_mod

    train_mod._import_keras(1)
    data = load_dataset(DATA[args.data], seed=0).search_payload()
    with tempfile.TemporaryDirectory() as tmp:  # the space as natsel parses it (JSON is YAML)
        (Path(tmp) / "c.yaml").write_text(json.dumps({"data": DATA[args.data], "space": NS_SPACE}))
        space = load_config(Path(tmp) / "c.yaml").space
    rng = np.random.default_rng(args.seed)
    genomes = [space.sample(rng) for _ in range(args.genomes)]
    training = {"max_epochs": 20, "patience": 3, "max_training_time": 600, "steps_per_execution": 0}
    run = train_mod.keras_objective({"training": training, "metric": "accuracy", "threads": 1}, data)
    keras_fit(train_mod, genomes[0], data, 1, 0)  # warm up TensorFlow before any clock
    print(f"{args.data}: {args.genomes} genomes, one TensorFlow thread, seconds per trial")
    print(f"{'budget':<24}{'keras fit':>16}{'natsel':>16}{'natsel / keras':>18}{'same result':>14}")
    for label, epochs in BUDGETS.items():
        ours, theirs, same = [], [], 0
        for i, g in enumerate(genomes):
            task = Task(i, g, str(i), seed=i, budget=f"epochs={epochs}")

            def natsel_trial(task=task) -> tuple[float, int, float]:
                t0 = time.perf_counter()
                r = run(task)
                return time.perf_counter() - t0, r.metrics.get("epochs", -1), r.fitness

            def keras_trial(g=g, i=i, epochs=epochs) -> tuple[float, int, float]:
                return keras_fit(train_mod, g, data, epochs, i)

            if i % 2 == 0:  # alternate which goes first, so neither always runs on a warmer process
                n, k = natsel_trial(), keras_trial()
            else:
                k, n = keras_trial(), natsel_trial()
            ours.append(n[0])
            theirs.append(k[0])
            same += n[1:] == k[1:]
        ratios = [o / t for o, t in zip(ours, theirs, strict=True)]

        def ms(v: list[float]) -> str:
            return f"{statistics.mean(v):.2f} ± {statistics.stdev(v) / len(v) ** 0.5:.2f}"

        print(f"{label:<24}{ms(theirs):>16}{ms(ours):>16}{ms(ratios):>18}{f'{same}/{len(genomes)}':>14}", flush=True)


if __name__ == "__main__":
    main()
