"""The utilisation simulator of bench/utilisation.py on cases computed by hand (plain Python)."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import utilisation as u  # noqa: E402


def test_slot_order_versus_longest_first_by_hand():
    # slot order [4,1,1,1] on 2 workers: A runs 4; B runs 1,1,1 -> makespan 4, busy 7/8
    assert u.makespan([4, 1, 1, 1], 2) == 4.0
    # the long trial last: [1,1,1,4]: A 1 (0-1), B 1 (0-1), A 1 (1-2), B 4 (1-5) -> 5; LPT puts it first -> 4
    assert u.makespan([1, 1, 1, 4], 2) == 5.0
    assert u.longest_first([1, 1, 1, 4]) == [4, 1, 1, 1]
    assert u.makespan(u.longest_first([1, 1, 1, 4]), 2) == 4.0
    res = u.simulate([[1, 1, 1, 4]], 2, sigma=0.0)
    assert res["slot"]["makespan"] == 5.0
    assert res["lpt-exact"]["makespan"] == 4.0
    assert res["lpt~0"]["makespan"] == 4.0  # sigma 0: the estimate is exact
    assert res["slot"]["busy"] == pytest.approx(7 / 10)
    assert res["lpt-exact"]["busy"] == pytest.approx(7 / 8)
    assert res["lpt-exact"]["ratio"] == pytest.approx(4 / 5)


def test_barrier_adds_generations_and_steady_state_fills_the_gaps():
    gens = [[4, 1], [4, 1]]
    # barrier: each generation takes 4 -> 8; steady: A 4,4 = 8 ... B 1,1 -> still 8
    assert u.barrier_makespan(gens, 2) == 8.0
    gens = [[3, 1, 1], [3, 1, 1]]
    # barrier: gen 1 = A 3, B 1,1 -> 3; twice -> 6. steady: A 3 | B 1,1,3 (t=2..5) | A 1 (3..4), 1 (4..5) -> 5
    assert u.barrier_makespan(gens, 2) == 6.0
    assert u.steady_makespan(gens, 2) == 5.0
    assert u.simulate(gens, 2)["steady"]["busy"] == pytest.approx(10 / 10)


def test_equal_durations_with_workers_dividing_the_population_are_fully_busy():
    for w, pop in [(2, 4), (4, 8), (16, 64), (8, 8)]:
        res = u.simulate([[2.5] * pop] * 3, w)
        for name in u.schedule_names(0.3):
            assert res[name]["busy"] == pytest.approx(1.0)
            assert res[name]["makespan"] == pytest.approx(3 * 2.5 * pop / w)


def test_steady_state_is_never_worse_than_the_barrier_with_the_same_order():
    rng = np.random.default_rng(1)
    for _ in range(300):
        w = int(rng.integers(1, 9))
        gens = [list(rng.lognormal(2, 0.8, int(rng.integers(1, 12)))) for _ in range(int(rng.integers(1, 6)))]
        assert u.steady_makespan(gens, w) <= u.barrier_makespan(gens, w) + 1e-9
        # and nothing beats the lower bounds: total work / W, and the longest trial
        flat = [d for g in gens for d in g]
        assert u.steady_makespan(gens, w) >= max(sum(flat) / w, max(flat)) - 1e-9


def test_one_worker_is_always_fully_busy_and_lpt_is_within_four_thirds_of_optimal():
    gens = [[5, 1, 2], [7, 3]]
    for name, r in u.simulate(gens, 1).items():
        assert r["busy"] == pytest.approx(1.0), name
    # Graham's classic LPT worst case on 2 workers: [3,3,2,2,2] -> LPT 7, optimal 6
    assert u.makespan(u.longest_first([3, 3, 2, 2, 2]), 2) == 7.0
    assert u.makespan([3, 2, 2, 3, 2], 2) == 6.0  # the optimal schedule: {3, 3} and {2, 2, 2}


def test_noisy_estimates_sort_the_trials_but_never_change_them():
    rng = np.random.default_rng(0)
    d = [9.0, 1.0, 5.0, 3.0]
    est = u.noisy_estimates(d, 0.3, rng)
    assert len(est) == 4 and all(e > 0 for e in est)
    assert sorted(u.longest_first(d, est)) == sorted(d)
    assert u.noisy_estimates(d, 0.0, rng) == d


def test_simulator_is_deterministic_for_a_seed():
    args = (u.fashion_sampler(), [2, 16], [20], 3, [0, 1, 2], 0.3)
    assert u.sweep(*args) == u.sweep(*args)


def test_synthetic_trials_have_the_stated_percentiles():
    x = u.fashion_sampler()(np.random.default_rng(0), 200_000)
    assert np.percentile(x, 5) == pytest.approx(2.0, rel=0.03)
    assert np.percentile(x, 95) == pytest.approx(27.0, rel=0.03)


def _fake_run(path: Path) -> Path:
    path.mkdir()
    con = sqlite3.connect(path / "trials.sqlite")
    con.execute("CREATE TABLE trials (id INTEGER PRIMARY KEY, generation INTEGER, slot INTEGER, status TEXT, "
                "seconds REAL, started REAL, finished REAL)")
    rows = [  # 2 workers; generation 0 from t=100 to t=104, generation 1 from t=106 to t=110
        (0, 0, "ok", 4.0, 100.0, 104.0), (0, 1, "ok", 2.0, 100.0, 102.0), (0, 2, "cached", 0.0, None, 102.0),
        (1, 1, "ok", 3.0, 106.0, 109.0), (1, 0, "killed", 4.0, None, 110.0), (1, 2, "pending", None, None, None),
    ]
    con.executemany("INSERT INTO trials (generation, slot, status, seconds, started, finished) VALUES (?,?,?,?,?,?)",
                    rows)
    con.commit()
    con.close()
    return path


def test_recorded_runs_are_read_per_generation_in_slot_order(tmp_path):
    run = _fake_run(tmp_path / "run")
    assert u.recorded_generations(run) == [[4.0, 2.0], [4.0, 3.0]]
    m = u.measured_busy(run, 2)
    assert m["trials"] == 4 and m["seconds"] == 13.0
    assert m["span"] == 10.0 and m["busy"] == pytest.approx(13 / 20)
    assert m["span_in_generations"] == 8.0 and m["busy_in_generations"] == pytest.approx(13 / 16)
    assert "busy_since_created" not in m  # no run.json
    (run / "run.json").write_text('{"created": 95.0, "finished": 112.0}', encoding="utf-8")
    assert u.measured_busy(run, 2)["busy_since_created"] == pytest.approx(13 / 34)
    sim = u.simulate(u.recorded_generations(run), 2)["slot"]
    assert sim["makespan"] == 8.0 and sim["busy"] == pytest.approx(13 / 16)
