"""`natsel swarm` on 2-D landscapes: the recorded run, the landscapes, the figures, the GIF, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from natsel.cli import main
from natsel.swarm import SwarmOptions, minimize, rastrigin
from natsel.swarm._landscapes import LANDSCAPES, LandscapeError, get_landscape
from natsel.swarm._watch import fig_panels, panel_iterations, run_swarms

SMALL = ["--particles", "6", "--iterations", "7", "-q"]  # 8 recorded states: iterations 0..7


@pytest.mark.parametrize("beta", [None, 0.9])
def test_recording_does_not_change_the_run(beta):
    opt = SwarmOptions(n_particles=12, iterations=40, beta=beta)
    plain = minimize(rastrigin, 2, opt, bounds=(-5.12, 5.12), seed=3)
    rec = minimize(rastrigin, 2, opt, bounds=(-5.12, 5.12), seed=3, record=True)
    assert plain.trajectory is None
    assert rec.cost_history == plain.cost_history
    assert np.array_equal(rec.best_position, plain.best_position)
    traj = rec.trajectory
    assert traj.iterations == 40 and traj.positions.shape == (41, 12, 2)
    assert list(traj.gbest_costs[1:]) == plain.cost_history
    assert np.array_equal(traj.gbest_positions[-1], plain.best_position)


def test_recorded_states_are_the_engines_trajectory():
    low, high = -5.12, 5.12
    res = minimize(rastrigin, 2, SwarmOptions(n_particles=10, iterations=30), bounds=(low, high), seed=1,
                   record=True)
    t = res.trajectory
    assert np.all(t.velocities[0] == 0)
    for i in range(t.iterations + 1):
        # the recorded positions reproduce the recorded costs, and the bests are what they claim
        assert np.array_equal(rastrigin(t.positions[i]), t.costs[i])
        assert np.array_equal(rastrigin(t.pbest_positions[i]), t.pbest_costs[i])
        assert t.gbest_costs[i] == t.pbest_costs[i].min()
        assert np.array_equal(t.gbest_positions[i], t.pbest_positions[i][np.argmin(t.pbest_costs[i])])
        assert np.all(t.pbest_costs[i] <= t.costs[: i + 1].min(axis=0))
    # each move is the recorded velocity (a component that was clipped at a bound has its velocity zeroed)
    free = (t.positions[1:] > low) & (t.positions[1:] < high)
    assert np.allclose((t.positions[1:] - t.positions[:-1])[free], t.velocities[1:][free])
    assert np.all(np.diff(t.pbest_costs, axis=0) <= 0)  # personal bests never get worse
    assert np.all(np.diff(t.gbest_costs) <= 0)
    assert np.any(np.diff(t.gbest_costs) < 0)  # and the swarm did improve


@pytest.mark.parametrize("name", sorted(LANDSCAPES))
def test_landscape_minima_are_true_minima(name):
    land = LANDSCAPES[name]
    xmin, xmax, ymin, ymax = land.bounds
    grid = np.stack(np.meshgrid(np.linspace(xmin, xmax, 301), np.linspace(ymin, ymax, 301)), -1).reshape(-1, 2)
    values = land.cost(grid)
    at_minima = land.cost(np.array(land.minima))
    assert np.allclose(at_minima, land.min_value, atol=1e-12)
    assert values.min() >= land.min_value - 1e-12  # nothing on a fine grid is lower
    res = minimize(land.cost, 2, SwarmOptions(n_particles=30, iterations=150), bounds=((xmin, ymin), (xmax, ymax)),
                   seed=0)
    assert res.best_cost < land.min_value + 1e-4
    assert land.nearest_minimum(res.best_position)[1] < 0.05


def test_user_functions_vectorised_or_scalar(tmp_path, monkeypatch):
    (tmp_path / "mylandscapes.py").write_text(
        "import math\n"
        "def bowl(x, y):\n    return (x - 1) ** 2 + (y + 2) ** 2\n"
        "def scalar_only(x, y):\n    return math.hypot(x - 1, y + 2) if x > -100 else 0.0\n",
        encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # the module sits in the current directory
    for fn in ("bowl", "scalar_only"):
        land = get_landscape(f"mylandscapes:{fn}", [-4, 4, -4, 4])
        assert land.minima == () and land.bounds == (-4, 4, -4, 4)
        assert np.allclose(land.cost(np.array([[1.0, -2.0], [1.0, 0.0]])), [0.0, 2.0 if fn == "scalar_only" else 4.0])
    with pytest.raises(LandscapeError, match="needs --bounds"):
        get_landscape("mylandscapes:bowl")


def test_panel_iterations():
    assert panel_iterations(50) == [0, 10, 20, 30, 40, 50]
    assert panel_iterations(7) == [0, 1, 3, 4, 6, 7]
    assert panel_iterations(3) == [0, 1, 2, 3]  # a short run has fewer panels


def test_the_six_panels_are_titled_by_their_iterations():
    land = get_landscape("rastrigin")
    run = run_swarms(land, SwarmOptions(n_particles=5, iterations=25), seed=0)[0]
    fig = fig_panels(land, run)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == [f"iteration {t}" for t in (0, 5, 10, 15, 20, 25)]
    # each panel shows the recorded particles of its iteration
    for ax, t in zip([ax for ax in fig.axes if ax.get_visible()], (0, 5, 10, 15, 20, 25), strict=True):
        assert np.array_equal(ax.collections[-1].get_offsets(), run.result.trajectory.positions[t])


def test_swarm_command_writes_the_figures_and_one_gif_frame_per_state(tmp_path):
    from PIL import Image

    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["swarm", "rastrigin", "--out", str(out), *SMALL])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[:3] == [str(out / "panels.png"), str(out / "swarm.gif"), str(out / "cost.png")]
    assert "after 7 iterations; true minimum 0 at (0, 0)" in lines[3]
    for name in ("panels.png", "cost.png"):
        with Image.open(out / name) as im:
            assert im.format == "PNG"
    with Image.open(out / "swarm.gif") as gif:
        assert gif.n_frames == 7 + 1  # iteration 0 (the start) and every iteration after it
    assert (out / "swarm.gif").stat().st_size < 2_000_000


def test_compare_runs_both_rules_from_the_same_start(tmp_path):
    land = get_landscape("ripples")
    pso, empso = run_swarms(land, SwarmOptions(n_particles=8, iterations=10), seed=4,
                            compare=SwarmOptions(n_particles=8, iterations=10, beta=0.9))
    a, b = pso.result.trajectory.positions, empso.result.trajectory.positions
    # same start and same r1, r2; from rest both rules take the same first step, then they part
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[2], b[2])
    res = CliRunner().invoke(main, ["swarm", "ripples", "--compare", "--no-gif", "--out", str(tmp_path), *SMALL])
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "swarm.gif").exists()
    assert [line.split(" ")[0] for line in res.output.splitlines()[2:]] == ["PSO", "EMPSO"]


@pytest.mark.parametrize("args,message", [
    (["nosuch"], "error: nosuch: unknown function"),
    (["rastrigin", "--bounds", "5", "-5", "-5", "5"], "error: --bounds: x low 5 must be below x high -5"),
    (["rastrigin", "--bounds", "-5", "5", "2", "2"], "error: --bounds: y low 2 must be below y high 2"),
    (["rastrigin", "--bounds", "1", "2", "3"], "error: "),
    (["rastrigin", "--particles", "0"], "error: --particles: "),
    (["rastrigin", "--w", "fast"], "error: --w: "),
    (["no_such_module_here:f", "--bounds", "0", "1", "0", "1"], "error: no_such_module_here:f: cannot import"),
    (["math:hypot"], "error: math:hypot: a user function needs --bounds"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    res = CliRunner().invoke(main, ["swarm", *args, "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert res.output.startswith(message) and res.output.count("\n") == 1, res.output
    assert not (tmp_path / "out").exists()  # nothing written


def test_w_forms(tmp_path):
    from natsel.cli import _Inertia

    assert _Inertia().convert("0.7", None, None) == (0.7, 0.7)
    assert _Inertia().convert("0.9:0.4", None, None) == (0.9, 0.4)
