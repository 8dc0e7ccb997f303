"""Regression with and without target standardisation (``data.scale_target``), next to a floor.

    python bench/regression.py                    # diabetes and a 2,000-row CSV whose target spreads ~170, 3 seeds
    python bench/regression.py --seeds 1 --generations 2

For each data set and seed, the same search (natsel's default strategy, NaturalSelection's dense
genes plus the learning rate, MAE as the fitness) runs with ``scale_target: false`` (natsel before
issue 26: networks learn the raw target) and ``true`` (the default now), then ``natsel train-best``
trains its best genome; scikit-learn's ``LinearRegression`` on the same train rows is the floor.
Printed: test MAE in the target's units (mean +- s.e. over seeds), and the share of the search's
trials whose validation MAE is no better than predicting the train mean (stuck on the mean).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import yaml  # noqa: E402
from fidelity import mean_se  # noqa: E402
from search import NS_SPACE  # noqa: E402

import natsel  # noqa: E402
from natsel.objectives.keras.data import load_dataset  # noqa: E402


def spread_csv(folder: Path) -> dict:
    """2,000 rows, 8 features (two of them irrelevant), a target with a standard deviation of ~170."""
    r = np.random.default_rng(12345)
    x = r.normal(0, 1, (2000, 8))
    y = 900 + x @ np.array([120.0, -80.0, 60.0, 40.0, 20.0, 10.0, 0.0, 0.0]) + 25 * np.sin(3 * x[:, 0]) \
        + 8 * r.normal(0, 1, 2000)
    path = folder / "spread.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"x{i}" for i in range(8)] + ["target"])
        w.writerows([[f"{v:.5f}" for v in row] + [f"{t:.3f}"] for row, t in zip(x, y, strict=True)])
    return {"source": "csv", "path": str(path)}


def run_one(data: dict, scale: bool, seed: int, population: int, generations: int, folder: Path) -> dict:
    cfg = {"name": "reg", "seed": seed, "data": {**data, "scale_target": scale},
           "training": {"max_epochs": 40, "patience": 5, "metric": "mae"}, "workers": 1,
           "evolution": {"population": population, "generations": generations}, "space": NS_SPACE}
    tag = f"{data['source']}-{Path(str(data.get('path', ''))).stem}-{scale}-{seed}"
    path = folder / f"reg-{tag}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run = natsel.evolve(path, folder / f"run-{tag}", progress=False, plots=False)
    info = natsel.train_best(run.path, progress=False, epochs=200, patience=15)
    ds = load_dataset(cfg["data"], folder, seed=seed)
    baseline = float(np.mean(np.abs(ds.y_val - ds.y_train.mean()))) if not scale else None
    return {"test_mae": info["test"]["mae"], "val": [t["fitness"] for t in run.trials if t["fitness"] is not None],
            "mean_mae": baseline}


def floor(data: dict, seed: int) -> float:
    from sklearn.linear_model import LinearRegression

    ds = load_dataset({**data, "scale_target": False}, ".", seed=seed)
    x = np.concatenate([ds.x_train, ds.x_es])
    y = np.concatenate([ds.y_train, ds.y_es])
    pred = LinearRegression().fit(x, y).predict(ds.x_test)
    return float(np.mean(np.abs(pred - ds.y_test)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--population", type=int, default=8)
    ap.add_argument("--generations", type=int, default=3)
    ap.add_argument("--datasets", nargs="+", default=["diabetes", "spread"])
    ap.add_argument("--json", type=Path, help="also save the raw results here")
    args = ap.parse_args()
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sources = {"diabetes": {"source": "diabetes"}, "spread": spread_csv(folder)}
        for name in args.datasets:
            data = sources[name]
            rows = out[name] = {"floor": [], "raw": [], "scaled": [], "stuck_raw": [], "stuck_scaled": []}
            for seed in range(args.seeds):
                rows["floor"].append(floor(data, seed))
                mean_mae = None
                for scale in (False, True):
                    res = run_one(data, scale, seed, args.population, args.generations, folder)
                    mean_mae = res["mean_mae"] if res["mean_mae"] is not None else mean_mae
                    key = "scaled" if scale else "raw"
                    rows[key].append(res["test_mae"])
                    stuck = np.mean([v >= 0.98 * mean_mae for v in res["val"]]) if mean_mae else float("nan")
                    rows[f"stuck_{key}"].append(float(stuck))
                print(f"{name} seed {seed}: floor {rows['floor'][-1]:.3f}  raw {rows['raw'][-1]:.3f}  "
                      f"scaled {rows['scaled'][-1]:.3f}", file=sys.stderr, flush=True)
    print(f"test MAE in the target's units, mean ± s.e. over {args.seeds} seeds "
          f"(search: population {args.population}, {args.generations} generations, then train-best)")
    print(f"{'data':<10} {'LinearRegression':>18} {'natsel raw target':>20} {'natsel scaled':>18} "
          f"{'stuck on mean: raw':>20} {'scaled':>8}")
    for name, rows in out.items():
        cells = [mean_se(rows[k]) for k in ("floor", "raw", "scaled")]
        stuck = [mean_se(rows[k]) for k in ("stuck_raw", "stuck_scaled")]
        print(f"{name:<10} " + " ".join(f"{m:>11.2f} ± {s:<5.2f}" for m, s in cells)
              + f" {stuck[0][0]:>19.0%} {stuck[1][0]:>8.0%}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
