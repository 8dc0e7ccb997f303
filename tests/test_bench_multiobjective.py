"""bench/multiobjective.py: its problems' objectives and its hypervolume, on points worked out by hand."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import multiobjective as mo  # noqa: E402

import natsel  # noqa: E402

FRONT = {"i2": 0, "i3": 0, "i4": 0, "x5": 0.0, "x6": 0.0, "x7": 0.0, "kind": "b"}


def test_zdt_on_the_front_g_is_one_and_the_front_has_its_shape() -> None:
    g = {"x1": 0.25, **FRONT}
    assert mo.zdt_g(g) == 1.0
    assert mo.zdt1(g) == pytest.approx([0.25, 0.5])
    assert mo.zdt2(g) == pytest.approx([0.25, 1 - 0.0625])
    assert mo.zdt3(g) == pytest.approx([0.25, 1 - 0.5 - 0.25 * math.sin(2.5 * math.pi)])


def test_integer_and_categorical_genes_move_g() -> None:
    # i2 = 5 reads 0.5; kind d shifts the sum by 1: g = 1 + 9 * 1.5 / 6
    assert mo.zdt_g({"x1": 0.0, **FRONT, "i2": 5, "kind": "d"}) == pytest.approx(1 + 9 * 1.5 / 6)
    assert mo.zdt1({"x1": 0.0, **FRONT, "kind": "a"}) == pytest.approx([0.0, 1 + 9 * 0.6 / 6])


def test_dtlz2_front_is_the_unit_sphere_and_off_centre_genes_leave_it() -> None:
    on = {"x1": 0.3, "x2": 0.7, "i3": 5, "i4": 5, "x5": 0.5, "x6": 0.5, "x7": 0.5, "kind": "b"}
    assert float(np.sum(np.square(mo.dtlz2(on)))) == pytest.approx(1.0)
    assert mo.dtlz2({**on, "x1": 1.0})[2] == pytest.approx(1.0)
    off = {**on, "i3": 0, "kind": "c"}  # g = 0.25 + 0.2 / 4
    assert float(np.linalg.norm(mo.dtlz2(off))) == pytest.approx(1.3)


def test_hypervolume_by_hand() -> None:
    ref = np.array(mo.REFS["zdt1"])  # (1.1, 5.0)
    one = np.array([mo.zdt1({"x1": 0.25, **FRONT})])  # (0.25, 0.5)
    assert mo.hypervolume(one, ref) == pytest.approx(0.85 * 4.5)
    # two points: the union of their boxes; a dominated point and one beyond the reference add nothing
    pts = np.array([[0.25, 0.5], [0.0, 1.0], [0.5, 0.6], [2.0, 0.0]])
    assert mo.hypervolume(pts, ref) == pytest.approx(0.85 * 4.5 + 0.25 * 4.0)
    assert mo.hypervolume(np.array([[2.0, 6.0]]), ref) == 0.0
    # 3-D: a point at the origin fills the box
    assert mo.hypervolume(np.zeros((1, 3)), np.array(mo.REFS["dtlz2"])) == pytest.approx(1.5 ** 3)


def test_hypervolume_of_the_whole_zdt1_front_approaches_its_integral() -> None:
    # ZDT1's front f2 = 1 - sqrt(f1): the area under it from 0 to 1 is 1/3; with reference (1.1, 5)
    # the box is 5.5, and the strip f1 in [1, 1.1] lies above f2 = 0, inside the hypervolume
    x = np.linspace(0, 1, 4001)
    pts = np.array([mo.zdt1({"x1": float(v), **FRONT}) for v in x])
    assert mo.hypervolume(pts, np.array(mo.REFS["zdt1"])) == pytest.approx(5.5 - 1 / 3, abs=1e-3)


def test_coco_normalisation_scores_the_ideal_one_and_a_miss_its_distance() -> None:
    ideal, nadir = np.array([10.0, -5.0]), np.array([20.0, 5.0])
    assert mo.coco_indicator(np.array([[10.0, -5.0]]), ideal, nadir) == pytest.approx(1.0)
    assert mo.coco_indicator(np.array([[15.0, 0.0]]), ideal, nadir) == pytest.approx(0.25)
    # no point dominates the nadir: minus the nearest one's distance to the region of interest
    assert mo.coco_indicator(np.array([[25.0, 5.0], [40.0, 0.0]]), ideal, nadir) == pytest.approx(-0.5)


@pytest.mark.parametrize("name", mo.ZDT)
def test_natsel_accepts_the_problems_space(name: str) -> None:
    p = mo.make_problem(name)
    cfg = natsel.config_from_dict({"fitness": "multiobjective:evaluate", "space": p.space,
                                   "objectives": {f"f{i + 1}": "minimize" for i in range(p.n_obj)}}, base_dir=BENCH)
    g = cfg.space.sample(np.random.default_rng(0))
    assert len(p.f(g)) == p.n_obj == len(mo.REFS[name])


def test_the_bench_runs_natsel_reproducibly_and_counts_its_evaluations() -> None:
    p = mo.make_problem("zdt1")
    kept = mo.run_natsel(p, 20, seed=3)
    assert len(kept) == 20 and all(len(v) == 2 for v in kept)
    assert mo.run_natsel(p, 20, seed=3) == kept
