"""How much a short rung says about a full training on bench/mo_keras.py's Fashion-MNIST problem, by
network size: where successive halving's screening can pay and where it cannot.

    PYTHONPATH=$PWD python bench/mo_noise.py [--seeds 6] [--searches 2] [--seconds 240]

1. **Seed spread**: one genome (Adam, learning rate 0.002, ReLU, batch 64) at four widths, each
   trained fully (9 epochs) with ``--seeds`` training seeds; printed: the mean and standard deviation
   of its validation accuracy. A difference between two genomes smaller than that deviation is one
   training's luck.
2. **Rung agreement**: ``--searches`` natsel+fidelity searches as bench/mo_keras.py runs them (rungs of
   3 and 9 epochs, 12 genomes a generation, ``--seconds`` each); for every genome promoted to the full
   budget, its 3-epoch and its 9-epoch validation accuracy. Printed per size class (below and above
   ``LARGE`` parameters, a first hidden layer of 32 units or more): the Spearman rank correlation of
   the two, the range of the 3-epoch scores, and the mean gain from 3 to 9 epochs. A correlation near 1
   says the rung ranks those networks as full training would; near 0, that the rung's choice among
   them is luck.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import mo_keras  # noqa: E402

import natsel  # noqa: E402
from natsel._trial import FULL_BUDGET, budget_rank  # noqa: E402

WIDTHS = [(8, 0), (32, 0), (64, 32), (128, 128)]
GENOME = {"optimizer": "adam", "learning_rate": 0.002, "hidden_activation": "relu", "batch_size": 64}
#: networks with at least this many trainable parameters count as large (a first layer of 32 units or more)
LARGE = 20_000


def setup() -> None:
    mo_keras.PROBLEM = "fashion"
    mo_keras.PROBLEMS["fashion"]["fidelity"] = {**mo_keras.PROBLEMS["fashion"]["fidelity"], "minimum": 3}
    mo_keras.PROBLEMS["fashion"]["population"] = 12


def seed_spread(seeds: int) -> list[str]:
    from natsel._trial import Task

    cfg = natsel.config_from_dict(mo_keras.config(0, 1, False), base_dir=BENCH)
    tasks, width_of = [], []
    for width in WIDTHS:
        genome = {**GENOME, "neurons0": width[0], "neurons1": width[1]}
        for s in range(seeds):  # the same genome, trained once per seed (its own trial id and seed)
            tasks.append(Task(len(tasks), cfg.space.trial_genome(genome), f"{cfg.space.key(genome)}-{s}", 1000 + s))
            width_of.append(width)
    got = mo_keras.train(0, tasks)
    out = [f"{'hidden units':>14} {'params':>8}  val_accuracy over {seeds} training seeds"]
    for width in WIDTHS:
        res = [got[t.trial_id] for t, w in zip(tasks, width_of, strict=True) if w == width and t.trial_id in got]
        acc = [r.metrics["val_accuracy"] for r in res if r.status == "ok"]
        spread = f"{statistics.mean(acc):.4f}, sd {statistics.stdev(acc):.4f}" if len(acc) > 1 else "too few"
        out.append(f"{str(width):>14} {res[0].metrics['params'] if res else '?':>8}  {spread}")
    return out


def rung_pairs(seed: int, seconds: float) -> list[tuple[float, float, float]]:
    """(3-epoch val_accuracy, full val_accuracy, params) of each genome a search promoted to the full budget."""
    folder = Path(tempfile.mkdtemp(prefix="mo-noise-"))
    try:
        cfg = natsel.config_from_dict(mo_keras.config(seed, seconds, True), base_dir=BENCH)
        run = natsel.evolve(cfg, folder / "run", progress=False)
        by_key: dict[str, dict[str, Any]] = {}
        for t in run.trials:
            if t["status"] in ("ok", "timeout") and "val_accuracy" in (t["metrics"] or {}):
                by_key.setdefault(t["key"], {})[t["budget"]] = t["metrics"]
        low = min((b for m in by_key.values() for b in m if b != FULL_BUDGET), key=budget_rank, default=None)  # the first rung
        return [(m[low]["val_accuracy"], m[FULL_BUDGET]["val_accuracy"], m[FULL_BUDGET]["params"])
                for m in by_key.values() if low in m and FULL_BUDGET in m]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def agreement(pairs: list[tuple[float, float, float]]) -> list[str]:
    from scipy.stats import spearmanr

    out = [f"{'networks':<28} {'n':>4} {'spearman':>9}  {'3-epoch range':<15} {'gain 3->9':>9}"]
    for name, keep in ((f"small (< {LARGE:,} params)", lambda p: p < LARGE),
                       (f"large (>= {LARGE:,} params)", lambda p: p >= LARGE), ("all", lambda p: True)):
        xs = [(a, b) for a, b, p in pairs if keep(p)]
        if len(xs) < 4:
            out.append(f"{name:<28} {len(xs):>4}  too few")
            continue
        rho = float(spearmanr([a for a, _ in xs], [b for _, b in xs]).statistic)
        low = [a for a, _ in xs]
        gain = float(np.mean([b - a for a, b in xs]))
        out.append(f"{name:<28} {len(xs):>4} {rho:>9.2f}  {min(low):.3f}-{max(low):.3f}     {gain:>+9.4f}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=6, help="training seeds per genome in the seed spread (default 6)")
    ap.add_argument("--searches", type=int, default=2, help="natsel+fidelity searches for the rung agreement (default 2)")
    ap.add_argument("--first-seed", type=int, default=0, help="the searches' seeds: first-seed .. first-seed + searches - 1")
    ap.add_argument("--seconds", type=float, default=240.0, help="wall-clock per search (default 240)")
    a = ap.parse_args()
    if a.seeds < 2 or a.searches < 1:
        ap.error("--seeds needs at least 2 and --searches at least 1")
    setup()
    print("seed spread: one genome, 9 epochs, each width trained once per seed")
    for line in seed_spread(a.seeds):
        print(line)
    pairs: list[tuple[float, float, float]] = []
    for seed in range(a.first_seed, a.first_seed + a.searches):
        got = rung_pairs(seed, a.seconds)
        print(f"search seed {seed}: {len(got)} genomes promoted to the full budget", file=sys.stderr, flush=True)
        pairs += got
    print(f"rung agreement: {a.searches} natsel+fidelity searches of {a.seconds:g} s (rungs of 3 and 9 epochs), "
          "each promoted genome's 3-epoch against its 9-epoch val_accuracy")
    for line in agreement(pairs):
        print(line)


if __name__ == "__main__":
    main()
