"""Issue 28 item 1: stop rules (max_trials, timeout, target, patience, generations), the first reached
ends the run, the summary names it, and cuts are deterministic: a stopped run holds exactly the
first trials of one that went on, and a resume with a larger budget continues exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import natsel
from natsel.cli import main

MIXED = """
name: mixed
seed: 3
fitness: helpers:counted_mixed
workers: 0
{evolution}
{stop}
space:
  activation: [relu, elu, tanh, sigmoid]
  batch_size: [16, 32, 64, 128]
  layers: {{low: 1, high: 8}}
  learning_rate: {{low: 1e-4, high: 1e-1, log: true}}
"""


def config(write_config, stop: str = "", evolution: str = "", name: str = "config.yaml") -> Path:
    return write_config(MIXED.format(stop=stop, evolution=evolution), name)


def finished(run: natsel.Run) -> list[tuple]:
    """The finished trials as (id, generation, slot, key, status, fitness), in trial order."""
    return [(t["id"], t["generation"], t["slot"], t["key"], t["status"], t["fitness"])
            for t in run.trials if t["status"] != "pending"]


def cli(*args: str) -> str:
    res = CliRunner().invoke(main, ["evolve", *args, "-q"])
    assert res.exit_code == 0, res.output
    return res.output


@pytest.fixture
def unbounded(write_config, tmp_path):
    """An unbounded reference: the same config run for 14 generations (10 + 13 * 5 = 75 trials)."""
    run = natsel.evolve(natsel.load_config(config(write_config, evolution="evolution: {generations: 14}",
                                                  name="long.yaml")), tmp_path / "long", progress=False, plots=False)
    assert len(finished(run)) == 75
    return finished(run)


def test_max_trials_holds_exactly_the_first_trials_and_resume_extends_exactly(write_config, tmp_path, unbounded):
    """Issue 28: a max_trials: 37 run holds exactly the first 37 trials of an unbounded run of the same
    seed (37 cuts a generation of 5 after its 2nd slot); resuming with a larger max_trials equals one
    longer run; the summary says which rule ended it."""
    cfg = config(write_config, stop="stop: {max_trials: 37}")
    out = cli(str(cfg), "--run-dir", str(tmp_path / "run"))
    assert "stopped by max_trials: 37 trials trained" in out
    run = natsel.load_run(tmp_path / "run")
    assert finished(run) == unbounded[:37]
    assert run.meta["stopped_by"] == "max_trials"
    pending = [t for t in run.trials if t["status"] == "pending"]
    assert [t["slot"] for t in pending] == [2, 3, 4]  # the cut generation's other slots stay planned
    # the same budget again: nothing to do, and it says why
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q", "--resume"])
    assert res.exit_code == 0 and "already stopped (max_trials: 37 trials trained" in res.output
    assert finished(natsel.load_run(tmp_path / "run")) == unbounded[:37]
    # a larger budget continues exactly where the longer run went
    out = cli(str(cfg), "--run-dir", str(tmp_path / "run"), "--resume", "--max-trials", "52")
    assert "stopped by max_trials: 52 trials trained" in out
    assert finished(natsel.load_run(tmp_path / "run")) == unbounded[:52]


def test_target_stops_at_the_first_trial_that_reaches_it(write_config, tmp_path, unbounded):
    """Issue 28: target stops at the first trial (in trial order) whose fitness reaches it."""
    scores = [f for *_, f in unbounded]
    target = sorted(scores)[-8]  # reached first somewhere inside the run, not at its end
    first = next(i for i, f in enumerate(scores) if f >= target)
    assert 10 < first < 70
    out = cli(str(config(write_config, stop=f"stop: {{target: {target!r}}}")), "--run-dir", str(tmp_path / "run"))
    run = natsel.load_run(tmp_path / "run")
    assert finished(run) == unbounded[: first + 1]
    assert f"stopped by target: trial {unbounded[first][0]} reached fitness" in out
    # a minimising run reads the target the other way: the first trial at or below it
    low = sorted(scores)[5]
    text = config(write_config, stop=f"stop: {{target: {low!r}}}", name="min.yaml").read_text()
    cfg = write_config(text.replace("workers: 0", "workers: 0\ndirection: minimize"), "min.yaml")
    run = natsel.evolve(natsel.load_config(cfg), tmp_path / "min", progress=False, plots=False)
    fits = [t[-1] for t in finished(run)]
    assert fits[-1] <= low and all(f > low for f in fits[:-1]) and run.meta["stopped_by"] == "target"


def test_patience_stops_after_generations_without_improvement(write_config, tmp_path, unbounded):
    """Issue 28: patience counts generations whose best does not beat the best so far by more than
    min_delta; the run stops at the first generation boundary where that count reaches patience."""
    patience, delta = 2, 0.01
    best_by_gen: dict[int, float] = {}
    for _, g, _, _, _, f in unbounded:
        best_by_gen[g] = max(best_by_gen.get(g, -1e9), f)
    ref, since, stop_at = None, 0, None
    for g in sorted(best_by_gen):
        if ref is None or best_by_gen[g] > ref + delta:
            ref, since = best_by_gen[g], 0
        else:
            since += 1
        if since >= patience:
            stop_at = g
            break
    assert stop_at is not None and stop_at < 13, "the reference run must stall somewhere"
    out = cli(str(config(write_config, stop=f"stop: {{patience: {patience}, min_delta: {delta}}}")),
              "--run-dir", str(tmp_path / "run"))
    run = natsel.load_run(tmp_path / "run")
    assert finished(run) == [t for t in unbounded if t[1] <= stop_at]
    assert f"stopped by patience: {patience} generations without improving the best by more than {delta:g}" in out


def test_generations_is_a_stop_rule_and_stays_the_default(write_config, tmp_path, unbounded):
    """Issue 28: with no stop rule a run has the 10 default generations; with generations next to
    another rule the first reached ends the run; with another rule alone generations are unbounded."""
    run = natsel.evolve(natsel.load_config(config(write_config)), tmp_path / "default", progress=False, plots=False)
    assert finished(run) == unbounded[:55] and run.meta["stopped_by"] == "generations"
    both = config(write_config, evolution="evolution: {generations: 4}", stop="stop: {max_trials: 60}", name="b.yaml")
    out = cli(str(both), "--run-dir", str(tmp_path / "both"))
    assert "stopped by generations: all 4 generations ran" in out
    assert finished(natsel.load_run(tmp_path / "both")) == unbounded[:25]
    alone = natsel.evolve(natsel.load_config(config(write_config, stop="stop: {max_trials: 70}", name="c.yaml")),
                          tmp_path / "alone", progress=False, plots=False)
    assert finished(alone) == unbounded[:70]  # past the 10 default generations (55 trials)


def test_timeout_stops_starting_trials_and_says_so(write_config, tmp_path, unbounded, monkeypatch):
    """Issue 28: timeout is the search's wall-clock: no trial starts after it; the trials it let run
    are the first trials of a run that went on (only where it stops depends on speed)."""
    monkeypatch.setenv("NATSEL_TEST_SLEEP", "0.05")
    out = cli(str(config(write_config, stop="stop: {timeout: 1.2s}")), "--run-dir", str(tmp_path / "run"))
    run = natsel.load_run(tmp_path / "run")
    n = len(finished(run))
    assert 0 < n <= 1.2 / 0.05 and finished(run) == unbounded[:n]
    assert "stopped by timeout:" in out and "no trial starts after it" in out
    assert run.meta["wall_seconds"] >= 1.2


def test_kill_during_a_timeout_run_then_resume_is_exact_and_counts_the_killed_time(write_config, tmp_path,
                                                                                 unbounded):
    """Issue 28: kill -9 during a timeout run; the resume continues the same trials, and the killed
    session's search time counts against the timeout (up to its last finished trial)."""
    cfg = config(write_config, stop="stop: {timeout: 1h}")
    env = {**os.environ, "NATSEL_TEST_KILL_AFTER": "9", "NATSEL_TEST_SLEEP": "0.1",
           "PYTHONPATH": os.pathsep.join([str(Path(natsel.__file__).parent.parent), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "natsel", "evolve", str(cfg), "--run-dir", str(tmp_path / "run"),
                           "-q"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    killed = natsel.load_run(tmp_path / "run")
    assert finished(killed) == unbounded[:8] and killed.status == "interrupted"
    # budget left: the resume continues exactly (the 9th trial, planned before the kill, runs now)
    os.environ.pop("NATSEL_TEST_SLEEP", None)
    run = natsel.evolve(natsel.load_config(config(write_config, stop="stop: {timeout: 1h, max_trials: 30}",
                                                  name="more.yaml")),
                        tmp_path / "run", resume=True, progress=False, plots=False)
    assert finished(run) == unbounded[:30] and run.meta["stopped_by"] == "max_trials"
    # the killed session searched >= 7 x 0.1 s between its start and its 8th result: a timeout below
    # that is already spent, so a resume with it starts no trial
    proc = subprocess.run([sys.executable, "-m", "natsel", "evolve", str(cfg), "--run-dir", str(tmp_path / "k2"),
                           "-q"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9
    meta = json.loads((tmp_path / "k2" / "run.json").read_text())
    assert meta["status"] == "running"  # what kill -9 leaves
    out = cli(str(cfg), "--run-dir", str(tmp_path / "k2"), "--resume", "--timeout", "0.7")
    assert "stopped by timeout:" in out
    after = natsel.load_run(tmp_path / "k2")
    assert finished(after) == unbounded[:8] and after.meta["wall_seconds"] >= 0.7


def test_steady_schedule_max_trials_and_patience_count_trials(write_config, tmp_path):
    """Issue 28: with schedule: steady, max_trials cuts the same way (one worker: the same trials as a
    longer run) and patience counts trials."""
    evo = "evolution: {schedule: steady, generations: 12}"
    long = natsel.evolve(natsel.load_config(config(write_config, evolution=evo, name="l.yaml")), tmp_path / "l",
                         progress=False, plots=False)
    ref = finished(long)
    short = natsel.evolve(natsel.load_config(config(write_config, evolution=evo, stop="stop: {max_trials: 23}",
                                                    name="s.yaml")), tmp_path / "s", progress=False, plots=False)
    assert finished(short) == ref[:23] and short.meta["stopped_by"] == "max_trials"
    more = natsel.evolve(natsel.load_config(config(write_config, evolution=evo, stop="stop: {max_trials: 41}",
                                                   name="s.yaml")), tmp_path / "s", resume=True, progress=False,
                         plots=False)
    assert finished(more) == ref[:41]
    pat = natsel.evolve(natsel.load_config(config(write_config, evolution=evo, stop="stop: {patience: 6}",
                                                  name="p.yaml")), tmp_path / "p", progress=False, plots=False)
    fits = [t[-1] for t in finished(pat)]
    best_at = max(range(len(fits)), key=lambda i: (fits[i], -i))
    assert len(fits) - 1 - best_at == 6 and pat.meta["stopped_by"] == "patience"
    assert fits == [t[-1] for t in ref[:len(fits)]]


@pytest.mark.parametrize("stop, message", [
    ("stop: {max_trial: 3}", "unknown key"),
    ("stop: {timeout: soon}", "is not a duration"),
    ("stop: {max_trials: 0}", "'max_trials' must be >= 1"),
    ("stop: {min_delta: 0.1}", "set patience too"),
])
def test_bad_stop_rules_are_one_line_errors_and_write_nothing(write_config, tmp_path, stop, message):
    """Issue 28: a bad stop rule is one line naming its line, exit 2, and no run folder."""
    res = CliRunner().invoke(main, ["evolve", str(config(write_config, stop=stop)), "--run-dir",
                                    str(tmp_path / "run"), "-q"])
    assert res.exit_code == 2 and message in res.output and "config.yaml:6:" in res.output, res.output
    assert not (tmp_path / "run").exists()
    res = CliRunner().invoke(main, ["evolve", str(config(write_config, name="ok.yaml")), "--timeout", "x", "-q",
                                    "--run-dir", str(tmp_path / "r2")])
    assert res.exit_code == 2 and "--timeout" in res.output and not (tmp_path / "r2").exists()
