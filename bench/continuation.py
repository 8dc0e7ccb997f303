"""What continuing promotions from their lower rung's checkpoint saves: successive halving with
``fidelity.checkpoints: true`` (the default) against ``false`` (retrain every promotion), side by side.

    python bench/continuation.py                     # digits and Fashion-MNIST (12k), 3 seeds (~15 min)
    python bench/continuation.py --data digits --seeds 1

The same config (NaturalSelection's 15 genes plus the learning rate, one bracket a generation:
``population`` 9, eta 3) runs both ways for each seed, with one worker and one TensorFlow thread,
alternating which goes first. Printed per data set: wall-clock of ``natsel.evolve`` and the epochs
trained (a continued promotion counts only the epochs after its checkpoint), mean +- s.e. over
seeds, the ratio checkpoints / retrain with its spread, and how many runs gave identical trials both
ways (same genomes, budgets, statuses and fitness: continuing must only save time).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import yaml  # noqa: E402
from search import NS_SPACE  # noqa: E402

import natsel  # noqa: E402
from natsel.objectives.keras.data import FASHION_DIR  # noqa: E402

DATA = {  # data, max epochs (rungs: digits 2, 7, 20; Fashion-MNIST 1, 3, 10)
    "digits": ({"source": "digits"}, 20),
    "fashion": ({"source": "fashion_mnist", "limit": 12000}, 10),
}


def one_run(data: str, seed: int, generations: int, checkpoints: bool, root: Path) -> tuple[float, int, list]:
    spec, max_epochs = DATA[data]
    cfg = {"name": f"{data}-{seed}-{checkpoints}", "seed": seed, "data": spec, "workers": 1, "threads": 1,
           "training": {"max_epochs": max_epochs, "patience": 3, "max_training_time": 600},
           "fidelity": {"eta": 3, "checkpoints": checkpoints}, "evolution": {"generations": generations},
           "space": NS_SPACE}
    path = root / f"{cfg['name']}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    start = time.perf_counter()
    run = natsel.evolve(path, root / cfg["name"], progress=False, plots=False)
    seconds = time.perf_counter() - start
    epochs = sum(int(t["metrics"].get("epochs", 0)) - int(t["extra"].get("continued_at_epoch", 0))
                 for t in run.trials if t["status"] == "ok")
    return seconds, epochs, [(t["key"], t["budget"], t["status"], t["fitness"]) for t in run.trials]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", nargs="+", choices=sorted(DATA), default=sorted(DATA))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--generations", type=int, default=3)
    args = ap.parse_args()

    def ms(v: list[float], digits: int = 1) -> str:
        se = statistics.stdev(v) / len(v) ** 0.5 if len(v) > 1 else 0.0
        return f"{statistics.mean(v):.{digits}f} ± {se:.{digits}f}"

    print(f"{'data':<10}{'':<10}{'retrain':>16}{'checkpoints':>16}{'ratio':>16}{'identical':>11}")
    for data in args.data:
        if data == "fashion" and not FASHION_DIR.is_dir():
            print(f"{data:<10}skipped: needs the Debian package dataset-fashion-mnist")
            continue
        res: dict[bool, list[tuple[float, int, list[Any]]]] = {True: [], False: []}
        with tempfile.TemporaryDirectory() as tmp:
            for seed in range(args.seeds):
                order = [True, False] if seed % 2 == 0 else [False, True]  # alternate which goes first
                for ck in order:
                    res[ck].append(one_run(data, seed, args.generations, ck, Path(tmp)))
        same = sum(a[2] == b[2] for a, b in zip(res[True], res[False], strict=True))
        for i, label in ((0, "seconds"), (1, "epochs")):
            on, off = [r[i] for r in res[True]], [r[i] for r in res[False]]
            ratio = ms([a / b for a, b in zip(on, off, strict=True)], 2)
            print(f"{data if i == 0 else '':<10}{label:<10}{ms(off):>16}{ms(on):>16}{ratio:>16}"
                  f"{f'{same}/{args.seeds}' if i == 0 else '':>11}", flush=True)


if __name__ == "__main__":
    main()
