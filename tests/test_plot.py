from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import natsel
from natsel._plot import (
    best_epoch,
    best_so_far,
    fig_best_so_far,
    fig_fitness,
    fig_genes,
    fig_learning_curve,
    fig_parallel,
    run_space,
)
from natsel.cli import main

#: the line of helpers.misbehave that raises (error lines name it)
BOOM_LINE = next(i for i, line in enumerate((Path(__file__).parent / "helpers.py").read_text().splitlines(), 1)
                 if "boom from the fitness function" in line and "raise" in line)

CFG = """
name: plotme
fitness: helpers:counted_mixed
workers: 0
evolution: {population: 8, generations: 5}
space:
  activation: [relu, elu, tanh]
  batch_size: [16, 32, 64]
  layers: {low: 1, high: 8}
  learning_rate: {low: 1e-4, high: 1e-1, log: true}
"""
FIGS = ["fitness", "best_so_far", "genes", "fitness_vs_seconds", "parallel"]


@pytest.fixture
def run_dir(write_config, tmp_path):
    seen = []

    def after(run):
        seen.append(((run.path / "plots" / "fitness.png").is_file(), len(run.history)))

    natsel.evolve(natsel.load_config(write_config(CFG)), tmp_path / "run", progress=False, on_generation=after)
    assert seen == [(True, g) for g in range(1, 6)]  # the fitness plot is there after every generation
    return tmp_path / "run"


def test_plot_writes_every_figure_and_the_report(run_dir, tmp_path):
    res = CliRunner().invoke(main, ["plot", str(run_dir), "--out", str(tmp_path / "figs")])
    assert res.exit_code == 0, res.output
    import matplotlib.image as mpimg

    for name in FIGS:
        p = tmp_path / "figs" / f"{name}.png"
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        img = mpimg.imread(p)
        assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300
        assert img[..., :3].std() > 0.01  # not a blank canvas
    report = (tmp_path / "figs" / "report.html").read_text()
    run = natsel.load_run(run_dir)
    drawn = len(FIGS) + (tmp_path / "figs" / "importance.png").exists()  # importance: enough scored trials (issue 30)
    assert report.count("data:image/png;base64,") == drawn
    assert f"<b>{run.best['fitness']:.6g}</b>" in report
    assert "src='http" not in report and 'src="http' not in report  # viewable offline


def test_svg_format(run_dir, tmp_path):
    res = CliRunner().invoke(main, ["plot", str(run_dir), "--out", str(tmp_path / "svg"), "--format", "svg"])
    assert res.exit_code == 0, res.output
    for name in FIGS:
        root = ET.parse(tmp_path / "svg" / f"{name}.svg").getroot()
        assert root.tag.endswith("svg")


def test_plotted_numbers_are_the_stored_ones(run_dir):
    run = natsel.load_run(run_dir)
    hist = json.loads((run_dir / "history.json").read_text())
    fig = fig_fitness(run)
    lines = {ln.get_label(): ln for ln in fig.axes[0].lines}
    assert np.allclose(lines["max"].get_ydata(), [h["max"] for h in hist])
    assert np.allclose(lines["mean"].get_ydata(), [h["mean"] for h in hist])
    assert list(lines["max"].get_xdata()) == [h["generation"] for h in hist]
    band = fig.axes[0].collections[0].get_paths()[0].vertices
    top = max(v[1] for v in band if v[0] == 0)
    assert top == pytest.approx(hist[0]["mean"] + hist[0]["std"])
    n, secs, vals = best_so_far(run)
    assert vals[-1] == pytest.approx(run.best["fitness"]) and n[-1] == sum(t["status"] == "ok" for t in run.trials)
    assert all(b >= a for a, b in zip(vals, vals[1:], strict=False))  # maximised: never goes down
    assert np.allclose(fig_best_so_far(run).axes[0].lines[0].get_ydata(), vals)


def test_plot_is_read_only_while_a_writer_holds_the_store(run_dir, tmp_path):
    db = run_dir / "trials.sqlite"
    writer = sqlite3.connect(db)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE trials SET error='in flight' WHERE id=1")
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    res = CliRunner().invoke(main, ["plot", str(run_dir), "--out", str(tmp_path / "figs")])
    assert res.exit_code == 0, res.output
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    writer.commit()  # the writer was not disturbed
    writer.close()
    assert natsel.load_run(run_dir).trials[0]["error"] == "in flight"


def test_plot_errors(tmp_path, write_config):
    res = CliRunner().invoke(main, ["plot", str(tmp_path)])
    assert res.exit_code == 2 and res.stderr.strip() == f"error: {tmp_path} is not a natsel run folder (no run.json / trials.sqlite)"
    assert not (tmp_path / "plots").exists()
    cfg = write_config(CFG)
    proc = subprocess.run([sys.executable, "-m", "natsel", "evolve", str(cfg), "--run-dir", str(tmp_path / "dead"), "-q"],
                          env={**os.environ, "NATSEL_TEST_KILL_AFTER": "1"}, capture_output=True)
    assert proc.returncode == -9
    res = CliRunner().invoke(main, ["plot", str(tmp_path / "dead")])
    assert res.exit_code == 2 and "has no finished trial yet" in res.stderr
    assert not (tmp_path / "dead" / "plots").exists()


def _axis_labels(ax, i):
    """The value labels drawn beside axis ``i`` of the parallel-coordinates plot, bottom to top."""
    texts = [t for t in ax.texts if abs(t.get_position()[0] - i) < 0.2]
    return [t.get_text() for t in sorted(texts, key=lambda t: t.get_position()[1])]


def test_parallel_axes_are_labelled_with_values_and_log_scale(run_dir):
    run = natsel.load_run(run_dir)
    ax = fig_parallel(run).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["activation", "batch_size", "layers",
                                                            "learning_rate (log)"]
    assert _axis_labels(ax, 0) == ["relu", "elu", "tanh"]  # every category, in the config's order
    assert _axis_labels(ax, 1) == ["16", "32", "64"]
    assert _axis_labels(ax, 2) == ["1", "5", "8"]  # the gene's range in the config, not the top trials'
    assert _axis_labels(ax, 3) == ["0.0001", "0.00316", "0.1"]
    assert not any(t.get_text() in ("low", "high") for t in ax.get_yticklabels())
    top = run.leaderboard(20)
    lines = ax.lines[: len(top)][::-1]  # drawn worst first, before the axis lines
    for line, r in zip(lines, top, strict=True):
        y = line.get_ydata()
        lr = r["genome"]["learning_rate"]
        assert y[3] == pytest.approx(math.log(lr / 1e-4) / math.log(1e3))  # position on a log axis
        assert y[2] == pytest.approx((r["genome"]["layers"] - 1) / 7)


LOGS = """
name: logs
fitness: helpers:constant
workers: 0
evolution: {population: 6, generations: 2}
space:
  lr: {low: 0.01, high: 0.1, log: true}
  units: {low: 1, high: 1000}
  act: [tanh, relu, elu]
"""


def test_genes_plot_uses_each_genes_log_flag(write_config, tmp_path):
    natsel.evolve(natsel.load_config(write_config(LOGS)), tmp_path / "run", progress=False)
    run = natsel.load_run(tmp_path / "run")
    axes = {ax.get_title(): ax for ax in fig_genes(run).axes if ax.get_title()}
    # the spread of the values alone would give the opposite answer for both genes
    assert axes["lr (log)"].get_yscale() == "log"
    assert axes["units"].get_yscale() == "linear"
    assert axes["lr (log)"].get_ylim()[0] < 0.01 and axes["lr (log)"].get_ylim()[1] > 0.1  # the whole range
    assert [t.get_text() for t in axes["act"].get_yticklabels()] == ["tanh", "relu", "elu"]
    (run.path / "config.yaml").write_text("space: [not, a, mapping\n")  # unreadable: today's heuristic
    assert run_space(run) is None
    titles = {ax.get_title(): ax.get_yscale() for ax in fig_genes(run).axes if ax.get_title()}
    assert titles == {"lr": "linear", "units (log)": "log", "act": "linear"}


@pytest.mark.parametrize("metric,low,high", [("accuracy", 0.0, 1.0), ("loss", 0.0, 1.2), ("fitness", -0.2, 1.2)])
def test_fitness_band_is_clipped_to_the_metrics_range(run_dir, metric, low, high):
    run = natsel.load_run(run_dir)
    run.meta["metric"] = metric
    run.history = [{"generation": g, "mean": 0.5, "std": 0.7, "min": 0.0, "max": 1.0} for g in range(3)]
    band = fig_fitness(run).axes[0].collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(low) and band.max() == pytest.approx(high)


def test_learning_curve_marks_the_restored_epoch_with_whole_epoch_ticks():
    history = {"train loss": [1.0, 0.6, 0.4, 0.3, 0.25], "validation loss": [0.9, 0.5, 0.45, 0.45, 0.6]}
    assert best_epoch(history) == 3  # the first of the tied minima: the weights early stopping kept
    ax = fig_learning_curve(history).axes[0]
    marks = [ln for ln in ax.lines if ln.get_label().startswith("best epoch")]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [3, 3]
    assert marks[0].get_label() == "best epoch 3 (weights restored)"
    ticks = [t for t in ax.get_xticks() if 1 <= t <= 5]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert best_epoch({"train loss": [1.0], "validation loss": [float("nan")]}) is None


FAILING = """
name: failing
seed: 7
fitness: helpers:misbehave
workers: 0
strategy: genetic  # its elites are copies: cache hits
evolution: {population: 6, generations: 3}
space:
  mode: [raise, fine]
  x: {low: 0, high: 1000}
"""


def test_a_report_drawn_mid_run_is_redrawn_at_the_end_with_counts_seed_config_and_errors(write_config, tmp_path):
    """Issue 24 item 15: a report drawn while the run goes on is redrawn when it ends, and says what the CLI says."""
    import html as html_lib

    cfg_path = write_config(FAILING)
    mid: list[str] = []

    def draw_report(run):
        if not mid:  # after generation 0, as `natsel plot RUN` would while the run goes on
            from natsel._plot import write_plots

            write_plots(run, run.path / "plots")
            mid.append((run.path / "plots" / "report.html").read_text(encoding="utf-8"))

    run = natsel.evolve(natsel.load_config(cfg_path), tmp_path / "run", progress=False, on_generation=draw_report)
    assert "status <b>running</b>" in mid[0]
    text = html_lib.unescape((tmp_path / "run" / "plots" / "report.html").read_text(encoding="utf-8"))
    assert run.status == "finished" and "status <b>finished</b>" in text and "running" not in text
    n = run.outcome
    assert n["trained"] and n["failed"] and n["cached"]  # every count is shown, not only one
    assert f"3 generations: {n['trained']} trained, {n['failed']} failed, {n['cached']} from cache;" in text
    assert "seed 7;" in text and "wall-clock " in text and "wall-clock unknown" not in text
    assert cfg_path.read_text(encoding="utf-8") in text  # the config as given
    failed = [t for t in run.trials if t["error"]]
    assert failed and all(f"<td>{t['id']}</td>" in text for t in failed)
    assert f"RuntimeError: boom from the fitness function (helpers.py:{BOOM_LINE})" in text
    assert text.count("RuntimeError: boom") == n["failed"]  # each failed trial's error, cache copies included


def test_the_fitness_plot_waits_between_redraws_and_draws_the_last_generation_at_the_end(run_dir):
    """A figure costs about half a second: generations of quick trials redraw it at most every ``every``
    seconds, and the loop's end draws the generation left out."""
    from natsel._progress import FitnessPlot

    now = [0.0]
    drawn: list[int] = []
    plot = FitnessPlot(every=10.0, clock=lambda: now[0])
    plot._draw = lambda run, _real=plot._draw: (drawn.append(len(run.history)), _real(run))  # type: ignore[method-assign]
    run = natsel.load_run(run_dir)
    for seconds in (0.0, 4.0, 9.0, 12.0, 13.0):
        now[0] = seconds
        plot.generation_end(run)
    assert drawn == [5, 5]  # at 0 s and 12 s; 4 s, 9 s and 13 s came too soon
    plot.close()
    assert drawn == [5, 5, 5]  # the one left out (13 s), from the folder as it is now
    plot.close()
    assert len(drawn) == 3  # nothing left out: nothing drawn
