"""bench/mo_keras.py and bench/mo_noise.py: the hypervolume split by network size adds up to the whole, on fronts worked
out by hand, and the rung agreement is taken per size class."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import mo_keras  # noqa: E402


@pytest.fixture(autouse=True)
def fashion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mo_keras, "PROBLEM", "fashion")


def test_a_band_holds_the_best_accuracy_at_or_below_each_size() -> None:
    ref_acc, ref_x = 0.5, mo_keras.reference()[1]
    rows = [(0.8, 10**3.5), (0.85, 10**4.2), (0.84, 10**4.6)]  # the third is dominated: it adds nothing
    assert mo_keras.band_hv(rows, -math.inf, 4.0) == pytest.approx((0.8 - ref_acc) * 0.5)
    assert mo_keras.band_hv(rows, 4.0, 4.5) == pytest.approx(0.3 * 0.2 + 0.35 * 0.3)
    assert mo_keras.band_hv(rows, 5.0, math.inf) == pytest.approx(0.35 * (ref_x - 5.0))
    assert mo_keras.band_hv([(0.9, 10**6)], -math.inf, math.inf) == 0.0  # beyond the reference point


def test_the_bands_add_up_to_optunas_hypervolume() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        rows = [(float(a), float(p)) for a, p in zip(rng.uniform(0.3, 0.9, 12), 10 ** rng.uniform(3.2, 5.6, 12), strict=True)]
        edges = [-math.inf, *mo_keras.BANDS, math.inf]
        parts = [mo_keras.band_hv(rows, lo, hi) for lo, hi in zip(edges, edges[1:], strict=False)]
        assert sum(parts) == pytest.approx(mo_keras.hypervolume(rows), abs=1e-12)


def test_by_size_pairs_each_peer_with_natsel_by_seed() -> None:
    small, large = (0.84, 10**3.9), (0.86, 10**5.1)
    runs = {"natsel+fidelity": [{"rows": [small]}, {"rows": [small, large]}],
            "tpe": [{"rows": [large]}, {"rows": [large]}]}
    line = mo_keras.by_size(runs)[1].split()
    assert line[0] == "tpe" and len(line) == 1 + 3 * 4  # four bands of "mean ± se"
    below = mo_keras.band_hv([small], -math.inf, 4.0)  # natsel's lead below 10^4, the same on both seeds
    assert (float(line[1]), line[2], float(line[3])) == (pytest.approx(below, abs=1e-4), "±", 0.0)
    # above 10^5: the small network's accuracy reaches the reference point on both seeds; the large one
    # adds to it on the second seed only, so the mean is over the pairs and the error is not zero
    d = [mo_keras.band_hv(n["rows"], 5.0, math.inf) - mo_keras.band_hv(t["rows"], 5.0, math.inf)
         for n, t in zip(runs["natsel+fidelity"], runs["tpe"], strict=True)]
    assert d[0] != d[1]
    assert float(line[-3]) == pytest.approx(np.mean(d), abs=1e-4)
    assert float(line[-1]) == pytest.approx(np.std(d, ddof=1) / math.sqrt(2), abs=1e-4)


def test_rung_agreement_is_taken_per_size_class() -> None:
    import mo_noise

    small = [(0.70 + 0.01 * i, 0.75 + 0.01 * i, 5_000.0) for i in range(5)]  # the rung's order kept
    large = [(0.84 + 0.001 * i, 0.86 - 0.001 * i, 50_000.0) for i in range(5)]  # the rung's order reversed
    rows = {line.split()[0]: line.split() for line in mo_noise.agreement(small + large)[1:]}
    assert rows["small"][4:6] == ["5", "1.00"] and rows["large"][4:6] == ["5", "-1.00"]
    assert float(rows["large"][-1]) == pytest.approx(np.mean([b - a for a, b, _ in large]), abs=1e-4)
    assert rows["all"][1] == "10"
    assert "too few" in mo_noise.agreement(small[:3])[1]
