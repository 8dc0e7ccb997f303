from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from click.testing import CliRunner

import natsel
from natsel._plot import best_so_far, fig_best_so_far, fig_fitness
from natsel.cli import main

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
    assert report.count("data:image/png;base64,") == len(FIGS)
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
