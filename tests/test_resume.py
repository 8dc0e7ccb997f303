"""Issue 28 item 3: extend instead of restart. A resume may change the stop rules and the settings that
change neither a trial's identity nor which trials the run plans (``RESUMABLE``); ``cache`` and
``training.grace`` keep every trial's identity but may change what the rest of the run does, so they
change only with ``--allow-change KEY`` (``ALLOW_CHANGE``); anything else is refused, the difference
named and ``warm_start`` suggested."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import natsel
from natsel._settings import ALLOW_CHANGE, RESUMABLE, check_allow_change
from natsel.cli import main

BASE = """
name: mixed
seed: 3
fitness: helpers:counted_mixed
workers: 0
evolution: {{population: 5}}
{extra}
space:
  activation: [relu, elu, tanh, sigmoid]
  batch_size: [16, 32, 64, 128]
  layers: {{low: 1, high: 8}}
  learning_rate: {{low: 1e-4, high: 1e-1, log: true}}
"""


def finished(path: Path) -> list[tuple]:
    """The finished trials as (id, generation, slot, key, status, fitness), in trial order."""
    return [(t["id"], t["generation"], t["slot"], t["key"], t["status"], t["fitness"])
            for t in natsel.load_run(path).trials if t["status"] != "pending"]


def evolve(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, ["evolve", *args, "-q"])
    return res.exit_code, res.stdout, res.stderr


@pytest.fixture
def straight(write_config, tmp_path):
    """One uninterrupted run of 23 trained trials (a cut inside generation 3)."""
    code, out, err = evolve(str(write_config(BASE.format(extra=""), "straight.yaml")), "--run-dir",
                            str(tmp_path / "straight"), "--max-trials", "23")
    assert code == 0, out + err
    return finished(tmp_path / "straight")


# (what the resumed config adds, --allow-change keys)
FREE = {
    "workers and max_trials_per_worker": ("workers: 1\nmax_trials_per_worker: 4", []),
    "threads and gpus": ("threads: 2\ngpus: [0]", []),
    "executor": ("executor: {retries: 5, timeout: 5}", []),
    "name": ("name: renamed", []),
    "stop": ("stop: {target: 1.0e9}", []),
    "cache, allowed": ("cache: shared.sqlite", ["cache"]),
    "training.grace, allowed": ("training: {grace: 90}", ["training.grace"]),
}


@pytest.mark.parametrize("case", list(FREE))
def test_a_setting_outside_the_search_changes_on_resume_and_the_run_continues_exactly(write_config, tmp_path,
                                                                                     straight, case):
    """Issue 28 item 3: a run cut at 11 trials, resumed with the setting changed and a larger max_trials,
    holds exactly the trials of one uninterrupted run."""
    first = write_config(BASE.format(extra=""), "first.yaml")
    code, out, err = evolve(str(first), "--run-dir", str(tmp_path / "run"), "--max-trials", "11")
    assert code == 0, out + err
    extra, allow = FREE[case]
    text = BASE.format(extra=extra)
    if extra.startswith(("name:", "workers:")):  # the key is already in BASE: replace it, not repeat it
        text = text.replace("name: mixed\n", "") if extra.startswith("name:") else text.replace("workers: 0\n", "")
    again = write_config(text, "again.yaml")
    flags = [a for k in allow for a in ("--allow-change", k)]
    code, out, err = evolve(str(again), "--run-dir", str(tmp_path / "run"), "--resume", "--max-trials", "23", *flags)
    assert code == 0, out + err
    assert finished(tmp_path / "run") == straight
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    if allow:  # the change is recorded, and the run goes on with it: the same config resumes without the flag
        (change,) = meta["changes"]
        assert change["changed"][0].startswith(allow[0] + " (")
        assert f"with {change['changed'][0]} (--allow-change)" in err
        code, out, err = evolve(str(again), "--run-dir", str(tmp_path / "run"), "--max-trials", "24")
        assert code == 0, out + err
        assert len(finished(tmp_path / "run")) == 24
    else:
        assert "changes" not in meta
    if case == "cache, allowed":  # results the resume trained are shared from now on
        assert (tmp_path / "shared.sqlite").is_file()


def test_an_allow_change_key_without_the_flag_is_refused_and_the_flag_named(write_config, tmp_path):
    """Issue 28 item 3: training.grace may change only with --allow-change; without it the resume is refused,
    naming the difference, the flag and why; nothing is written."""
    code, out, err = evolve(str(write_config(BASE.format(extra=""), "a.yaml")), "--run-dir", str(tmp_path / "run"),
                            "--max-trials", "5")
    assert code == 0, out + err
    before = (tmp_path / "run" / "run.json").read_text(), finished(tmp_path / "run")
    b = write_config(BASE.format(extra="training: {grace: 60}\ncache: c.sqlite"), "b.yaml")
    code, out, err = evolve(str(b), "--run-dir", str(tmp_path / "run"), "--max-trials", "10",
                            "--allow-change", "cache")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert 'differs in: cache ((not set) -> "c.sqlite"); training.grace ((not set) -> 60)' in err
    assert "training.grace may change on resume with --allow-change training.grace" in err
    assert "cache may change" not in err  # it was allowed
    assert ((tmp_path / "run" / "run.json").read_text(), finished(tmp_path / "run")) == before
    assert not (tmp_path / "c.sqlite").exists()


IDENTITY = {
    "training.max_epochs": "training: {max_epochs: 5}",
    "training.patience": "training: {patience: 1}",
    "training.max_training_time": "training: {max_training_time: 30}",
    "seed": "seed: 4",
    "evolution.population": "evolution: {population: 6}",
    "strategy": "strategy: random",
    "space.layers.high": "layers: {low: 1, high: 9}",
    "direction": "direction: minimize",
    "initial_genomes": "initial_genomes: [{layers: 2}]",
    "warm_start": "warm_start: [run]",
}


@pytest.mark.parametrize("key", list(IDENTITY))
def test_a_setting_of_the_search_is_refused_with_the_difference_and_warm_start(write_config, tmp_path, key):
    """Issue 28 item 3: a change to what a trial computes or to the search's plan is refused, naming the
    key, and pointing to warm_start, also when --allow-change names an allowed key."""
    code, out, err = evolve(str(write_config(BASE.format(extra=""), "a.yaml")), "--run-dir", str(tmp_path / "run"),
                            "--max-trials", "5")
    assert code == 0, out + err
    before = (tmp_path / "run" / "run.json").read_text(), finished(tmp_path / "run")
    change = IDENTITY[key]
    text = BASE.format(extra="")
    for line in ("seed: 3", "evolution: {population: 5}", "layers: {low: 1, high: 8}"):
        if change.split(":")[0] == line.split(":")[0]:
            text = text.replace(line, change)
            break
    else:
        text = text.replace("space:", change + "\nspace:")
    code, out, err = evolve(str(write_config(text, "b.yaml")), "--run-dir", str(tmp_path / "run"),
                            "--max-trials", "10", "--allow-change", "training.grace")
    assert code == 2, out + err
    assert err.count("\n") == 1
    assert f"was made with a different config (differs in: {key} (" in err
    assert f"with 'warm_start: [{tmp_path / 'run'}]' its trials inform the new search" in err
    assert ((tmp_path / "run" / "run.json").read_text(), finished(tmp_path / "run")) == before


@pytest.mark.parametrize("key", ["training.max_epochs", "seed", "strategy", "nonsense"])
def test_allow_change_of_a_key_outside_the_list_is_a_one_line_error(write_config, tmp_path, monkeypatch, key):
    """Issue 28 item 3: --allow-change takes only the keys natsel lets a resume change; anything else is
    one line, exit 2, and nothing written (no run folder)."""
    monkeypatch.chdir(tmp_path)
    code, out, err = evolve(str(write_config(BASE.format(extra=""))), "--allow-change", key)
    assert code == 2
    assert err == (f"error: --allow-change: '{key}' cannot change on resume (it is part of the search: a trial's "
                   f"identity or the plan); only cache, training.grace take --allow-change; for another search "
                   f"start a new run with 'warm_start: [RUN_DIR]'\n")
    assert not (tmp_path / "runs").exists()
    with pytest.raises(natsel.ConfigError, match=f"allow_change: '{key}' cannot change on resume"):
        natsel.evolve(write_config(BASE.format(extra="")), tmp_path / "api", allow_change=[key], progress=False)
    assert not (tmp_path / "api").exists()


def test_a_run_made_before_the_rule_resumes_with_a_changed_max_trials_per_worker(write_config, tmp_path):
    """Issue 28 item 3: older runs stored max_trials_per_worker in their fingerprint; it compares as free."""
    code, out, err = evolve(str(write_config(BASE.format(extra=""), "a.yaml")), "--run-dir", str(tmp_path / "run"),
                            "--max-trials", "5")
    assert code == 0, out + err
    meta_path = tmp_path / "run" / "run.json"
    meta = json.loads(meta_path.read_text())
    meta["fingerprint"]["max_trials_per_worker"] = 50  # as natsel wrote it before
    meta_path.write_text(json.dumps(meta))
    code, out, err = evolve(str(write_config(BASE.format(extra="max_trials_per_worker: 7"), "b.yaml")),
                            "--run-dir", str(tmp_path / "run"), "--max-trials", "8")
    assert code == 0, out + err
    assert len(finished(tmp_path / "run")) == 8


def test_the_lists_are_disjoint_and_every_entry_says_why():
    """Issue 28 item 3: one documented rule, each key with its reason, and docs/config.md lists the same keys."""
    assert not set(RESUMABLE) & set(ALLOW_CHANGE)
    assert all(len(why) > 20 for why in [*RESUMABLE.values(), *ALLOW_CHANGE.values()])
    doc = (Path(__file__).parent.parent / "docs" / "config.md").read_text()
    section = doc.split("### What a resume checks", 1)[1]
    for key in [*RESUMABLE, *ALLOW_CHANGE]:
        assert f"`{key}`" in section, key
    # a key that needs no flag is accepted by --allow-change too (it changes nothing)
    assert check_allow_change(["workers", "executor.retries", "stop.max_trials", "cache"]) == [
        "workers", "executor.retries", "stop.max_trials", "cache"]
