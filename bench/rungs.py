"""Does successive halving pay on this data? What each rung costs next to a full trial, and how
well a rung's scores rank genomes the way full training does.

    python bench/rungs.py                                # digits, 27 genomes (~3 min)
    python bench/rungs.py --data fashion --genomes 18    # Fashion-MNIST 12k (~7 min)
    python bench/rungs.py --config my.yaml --genomes 27  # your Keras config: its data, space and rungs

Genomes are sampled from the search space (for ``--data``, bench/fidelity.py's: NaturalSelection's
15 genes plus the learning rate). Each is trained by natsel's objective, on one TensorFlow thread,
from scratch with the same seed, at every rung of the config's ``fidelity:`` (for ``--data``,
bench/fidelity.py's halving config, ``{minimum: 1, eta: 3}``; a config without one gets that too) and at
the full budget. Printed:

* per rung: seconds per trial (mean ± s.e.) and as a share of the same genome's full trial;
  Spearman's rank correlation of the rung's scores with the full-budget scores;
* the fixed cost of a trial and the cost of an epoch (per genome, a least-squares line through its
  trials' seconds against the epochs they trained; mean ± s.e.): building the network, tracing its
  training step and scoring it are paid once per trial, whatever its budget;
* one bracket at a time (the genomes in groups of ``eta ** (rungs - 1)``, in sampling order),
  what successive halving would have done: its seconds (each trial retrained; continuing a
  promotion saves only the epochs below it, ``bench/continuation.py``) as a share of training the
  whole group at full budget, and the full-budget score of the genome it keeps next to the group's
  best.

Halving explores ``1 / share`` times as many genomes as the full-budget search in the same time. If
that share is above 1/2, halving cannot reach the full-budget search's final best in half the time
by screening alone, however well the first rung ranks.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
from fidelity import DATASETS, mean_se, natsel_config  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from natsel import objectives  # noqa: E402
from natsel._config import config_from_dict, load_config  # noqa: E402
from natsel._settings import Fidelity  # noqa: E402
from natsel.executors import Task  # noqa: E402


def ms(xs: list[float], digits: int = 2) -> str:
    m, se = mean_se(xs)
    return f"{m:.{digits}f} ± {se:.{digits}f}"


def halving(scores: list[list[float]], seconds: list[list[float]], eta: float) -> tuple[float, int]:
    """One bracket over genomes 0..n-1 (``scores[k][i]``: genome i at rung k, higher is better, the
    last rung full): (seconds of the trials halving runs, the genome it keeps). Ties: the lower index."""
    alive = list(range(len(scores[0])))
    spent = 0.0
    for k in range(len(scores)):
        spent += sum(seconds[k][i] for i in alive)
        if k < len(scores) - 1:
            alive = sorted(alive, key=lambda i: (-scores[k][i], i))[: max(1, int(len(alive) // eta))]
    return spent, sorted(alive, key=lambda i: (-scores[-1][i], i))[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", choices=sorted(DATASETS), default="digits")
    ap.add_argument("--config", type=Path, help="a Keras config (its data, space, training and fidelity)")
    ap.add_argument("--genomes", type=int, default=27)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    if args.config:
        cfg, name = load_config(args.config), args.config.name
    else:
        data_cfg, epochs = DATASETS[args.data]
        cfg, name = config_from_dict(natsel_config(data_cfg, epochs, args.seed, "natsel-halving")), args.data
    if cfg.data is None:
        sys.exit(f"{name}: bench/rungs.py measures Keras trials; this config has no 'data:'")
    fidelity = cfg.fidelity or Fidelity(minimum=1, eta=3)
    budgets = fidelity.budgets(cfg.training.max_epochs)
    prepared = objectives.get("keras").prepare(cfg)
    run = objectives.get("keras").build({**prepared.spec, "threads": 1}, prepared.payload)  # imports TensorFlow
    sign = 1.0 if cfg.maximize else -1.0  # ranked higher-is-better
    rng = np.random.default_rng(args.seed)
    genomes = [cfg.space.sample(rng) for _ in range(args.genomes)]
    run(Task(-1, genomes[0], "warm-up", seed=0, budget=budgets[0]))  # TensorFlow's first-use costs off the clock
    scores = [[0.0] * len(genomes) for _ in budgets]
    seconds = [[0.0] * len(genomes) for _ in budgets]
    epochs = [[0] * len(genomes) for _ in budgets]
    t0 = time.time()
    for i, g in enumerate(genomes):
        for k, b in enumerate(budgets):
            start = time.perf_counter()
            res = run(Task(i, g, str(i), seed=args.seed * 1000 + i, budget=b))
            seconds[k][i] = time.perf_counter() - start
            scores[k][i] = sign * res.fitness if res.fitness is not None else -math.inf  # a failed trial ranks last
            epochs[k][i] = int(res.metrics.get("epochs", 0))
    labels = [*budgets[:-1], f"full ({cfg.training.max_epochs} epochs)"]
    print(f"{name}: {len(genomes)} genomes, eta {fidelity.eta:g}, patience {cfg.training.patience}, "
          f"{cfg.metric}, one TensorFlow thread ({time.time() - t0:.0f} s)")
    print(f"{'rung':>20}{'seconds':>16}{'share of full':>16}{'Spearman vs full':>18}")
    for k, label in enumerate(labels):
        share = [s / f for s, f in zip(seconds[k], seconds[-1], strict=True)]
        rho = float(spearmanr(scores[k], scores[-1]).statistic) if k < len(budgets) - 1 else 1.0
        print(f"{label:>20}{ms(seconds[k]):>16}{ms(share):>16}{rho:>18.2f}")
    fixed, per_epoch = [], []
    for i in range(len(genomes)):
        x = [epochs[k][i] for k in range(len(budgets))]
        if len(set(x)) > 1:  # a genome whose early stopping ended every rung alike has no slope
            b, a = np.polyfit(x, [seconds[k][i] for k in range(len(budgets))], 1)
            fixed.append(float(a))
            per_epoch.append(float(b))
    if len(fixed) > 1:
        print(f"a trial's fixed cost {ms(fixed)} s, an epoch {ms(per_epoch, 3)} s ({len(fixed)} genomes)")
    n = fidelity.bracket(cfg.training.max_epochs)
    shares, kept, best = [], [], []
    for lo in range(0, len(genomes) - n + 1, n):
        sc = [row[lo:lo + n] for row in scores]
        se = [row[lo:lo + n] for row in seconds]
        spent, keep = halving(sc, se, fidelity.eta)
        shares.append(spent / sum(se[-1]))
        kept.append(sign * sc[-1][keep])
        best.append(sign * max(sc[-1]))
    if shares:
        print(f"successive halving, {len(shares)} bracket(s) of {n}: seconds {ms(shares)} of training them all fully "
              f"(explores {1 / statistics.mean(shares):.1f}x the genomes in the same time); "
              f"{cfg.metric} at full budget of the genome it keeps {ms(kept, 4)}, of the bracket's best {ms(best, 4)}")
    else:
        print(f"(fewer genomes than one bracket of {n}: no halving simulated)")


if __name__ == "__main__":
    main()
