"""Multi-fidelity: budgets per trial, successive halving inside each generation, pruning, dispatch order."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import natsel
from natsel import objectives
from natsel._store import RunStore
from natsel._trial import Direction, Result, Status, Task, budget_rank
from natsel.cli import main
from natsel.objectives import ObjectiveFamily, Prepared

SH = """
name: sh
seed: {seed}
fitness: helpers:{fitness}
workers: {workers}
training: {{max_epochs: 9}}
fidelity: {{resource: epochs, minimum: 1, eta: 3}}
evolution: {{population: 9, generations: {generations}}}
space:
  activation: [relu, elu, tanh, sigmoid]
  batch_size: [16, 32, 64, 128]
  layers: {{low: 1, high: 8}}
  learning_rate: {{low: 1e-4, high: 1e-1, log: true}}
"""


def sh_config(write_config, seed=0, workers=0, generations=3, name="config.yaml", fitness="budgeted_mixed"):
    return write_config(SH.format(seed=seed, workers=workers, generations=generations, fitness=fitness), name)


def table(run):
    return [(t["generation"], t["slot"], t["key"], t["budget"], t["status"], t["fitness"]) for t in run.trials]


def test_successive_halving_promotes_the_best_third_rung_by_rung(write_config, tmp_path):
    run = natsel.evolve(sh_config(write_config), tmp_path / "run", progress=False)
    d = Direction(True)
    for g in range(3):
        rows = [t for t in run.trials if t["generation"] == g]
        assert Counter(t["budget"] for t in rows) == {"epochs=1": 9, "epochs=3": 3, "full": 1}
        for low, high in (("epochs=1", "epochs=3"), ("epochs=3", "full")):
            below = sorted((t for t in rows if t["budget"] == low), key=lambda t: (*d.sort_key(t["fitness"]), t["slot"]))
            keep = len(below) // 3
            assert {t["key"] for t in rows if t["budget"] == high} == {t["key"] for t in below[:keep]}
        assert all(t["origin"] == "promoted" for t in rows if t["budget"] != "epochs=1")
    full = [t for t in run.trials if t["budget"] == "full"]
    assert run.best["fitness"] == max(t["fitness"] for t in full)  # ranked on full-budget results only
    assert all(h["rungs"] == {"epochs=1": 9, "epochs=3": 3, "full": 1} for h in run.history)


def test_the_function_is_told_its_budget_and_no_budget_is_evaluated_twice(write_config, tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    monkeypatch.setenv("NATSEL_TEST_LOG", str(log))
    natsel.evolve(sh_config(write_config, generations=4), tmp_path / "run", progress=False)
    calls = log.read_text().split()
    assert len(calls) == len(set(calls))  # (genome, budget) never twice
    assert {c.rpartition("|")[2] for c in calls} == {"1", "3", "9"}


def test_halving_is_deterministic_whatever_the_workers(write_config, tmp_path):
    inline = natsel.evolve(sh_config(write_config), tmp_path / "a", progress=False)
    pooled = natsel.evolve(sh_config(write_config, workers=2, name="b.yaml"), tmp_path / "b", progress=False)
    assert table(inline) == table(pooled)


@pytest.mark.parametrize("fitness", ["budgeted_mixed", "settling"])
def test_kill_9_mid_rung_then_resume_matches_an_uninterrupted_run(write_config, tmp_path, fitness):
    cfg = sh_config(write_config, generations=3, fitness=fitness)
    env = {**os.environ, "NATSEL_TEST_KILL_AFTER": "20"}  # generation 1: its first rung, mid-way

    def natsel_cli(*args, **kw):
        return subprocess.run([sys.executable, "-m", "natsel", *args], capture_output=True, text=True, timeout=300,
                              **kw)

    first = natsel_cli("evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q", env=env)
    assert first.returncode == -9
    partial = natsel.load_run(tmp_path / "run")
    assert any(t["status"] == "pending" for t in partial.trials)
    assert natsel_cli("evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q").returncode == 0
    assert natsel_cli("evolve", str(cfg), "--run-dir", str(tmp_path / "straight"), "-q").returncode == 0
    assert table(natsel.load_run(tmp_path / "run")) == table(natsel.load_run(tmp_path / "straight"))


def test_rungs_divide_the_full_budget_by_eta_with_no_near_copy_of_it():
    from natsel._settings import Fidelity

    assert Fidelity().budgets(27) == ["epochs=1", "epochs=3", "epochs=9", "full"]
    assert Fidelity().budgets(20) == ["epochs=2", "epochs=7", "full"]  # was 1, 3, 9 and 20: 9 of 20 is no screen
    assert Fidelity().budgets(10) == ["epochs=1", "epochs=3", "full"]
    assert Fidelity().budgets(2) == ["epochs=1", "full"]  # under minimum x eta: one rung at the minimum
    assert Fidelity(resource="rows", minimum=0.1).budgets(1.0) == ["rows=0.111111", "rows=0.333333", "full"]
    assert Fidelity(minimum=2).budgets(10) == ["epochs=3", "full"]


def test_the_default_population_with_fidelity_is_one_bracket(write_config):
    base = "fitness: helpers:budgeted_mixed\nworkers: 0\ntraining: {max_epochs: %d}\nfidelity: {eta: 3}\n"
    space = "space:\n  layers: {low: 1, high: 8}\n"
    cfg = natsel.load_config(write_config(base % 10 + space))
    assert cfg.ga.population == 9  # rungs 1, 3, full: 9 -> 3 -> 1, one full-budget result a generation
    assert natsel.load_config(write_config(base % 27 + space, "b.yaml")).ga.population == 27
    explicit = natsel.load_config(write_config(base % 10 + "evolution: {population: 4}\n" + space, "c.yaml"))
    assert explicit.ga.population == 4


def test_a_rung_trial_that_stopped_early_is_promoted_without_training_again(write_config, tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    monkeypatch.setenv("NATSEL_TEST_LOG", str(log))
    res = CliRunner().invoke(main, ["evolve", str(sh_config(write_config, fitness="settling", generations=5)), "--run-dir",
                                    str(tmp_path / "run"), "-q"])
    assert res.exit_code == 0, res.output
    run = natsel.load_run(tmp_path / "run")
    calls = log.read_text().split()
    assert len(calls) == len(set(calls))
    by_id = {t["id"]: t for t in run.trials}
    settled = [t for t in run.trials if t["status"] == "cached" and t["extra"].get("early_stopped")]
    assert settled  # genomes with an odd number of layers settle before the 3-epoch rung ends
    for t in settled:
        source = by_id[t["extra"]["source_trial"]]
        assert source["key"] == t["key"] and source["status"] == "ok" and source["metrics"]["early_stopped"]
        assert source["metrics"]["epochs"] < float(source["budget"].partition("=")[2])
        assert t["fitness"] == source["fitness"] and t["seconds"] == 0.0
        assert f"{t['key']}|{9 if t['budget'] == 'full' else 3}" not in calls  # never trained at this budget
    trained = [t for t in run.trials if t["status"] == "ok" and t["budget"] != "epochs=1"]
    assert any(t["budget"] == "full" for t in trained)
    for t in trained:  # promoted genomes that had not settled were trained
        lower = [s for s in run.trials if s["key"] == t["key"] and s["generation"] == t["generation"]
                 and s["budget"] != t["budget"] and s["status"] == "ok"]
        assert lower and not any(s["metrics"].get("early_stopped") for s in lower)
    full = [t for t in run.trials if t["budget"] == "full"]
    assert run.best["fitness"] == max(t["fitness"] for t in full)  # settled full results are ranked
    assert run.outcome["settled"] == len(settled)
    assert f"{len(settled)} of them promotions settled at a lower rung" in res.output


def test_breeding_judges_genomes_by_the_highest_budget_they_reached():
    from natsel._space import Choice, SearchSpace
    from natsel.strategies import PlanContext

    def row(slot, x, budget, fitness):
        return {"generation": 0, "slot": slot, "key": f'{{"x":{x}}}', "genome": {"x": x}, "budget": budget,
                "fitness": fitness, "status": "ok", "id": slot}

    rows = [row(0, 1, "epochs=1", 0.9), row(1, 2, "epochs=1", 0.5), row(2, 3, "epochs=1", 0.7),
            row(3, 2, "full", 0.1), row(4, 3, "full", 0.2)]
    ctx = PlanContext(1, SearchSpace([Choice("x", (1, 2, 3))]), 3, Direction(True), rows, lambda k: True,
                      np.random.default_rng(0))
    genomes, fitness = ctx.parents()
    assert [g["x"] for g in genomes] == [1, 2, 3]
    # x=3 and x=2 reached the full budget (3 scored higher there); x=1 stopped at the first rung
    assert fitness[2] > fitness[1] > fitness[0]


def test_pruning_thresholds_come_from_earlier_generations_only():
    from natsel._evolve import prune_thresholds
    from natsel._settings import Pruning

    hist = [{"extra": {"curve": [0.1 * i, 0.2 * i]}} for i in range(1, 6)] + [{"extra": {}}]
    th = prune_thresholds(hist, Pruning(quantile=0.5, warmup=1, min_trials=5), Direction(True))
    assert th == [None, pytest.approx(0.6)]  # epoch 1 is warm-up; epoch 2: the median of 0.2 .. 1.0
    minimise = prune_thresholds(hist, Pruning(quantile=0.5, warmup=0, min_trials=5), Direction(False))
    assert minimise == [pytest.approx(-0.3), pytest.approx(-0.6)]  # oriented: larger is better
    assert prune_thresholds(hist, Pruning(min_trials=6), Direction(True)) == [None, None]


def test_longest_expected_trials_are_dispatched_first():
    from natsel._evolve import longest_first
    from natsel._space import IntRange, SearchSpace

    space = SearchSpace([IntRange("units", 0, 100)])
    hist = [{"genome": {"units": u}, "seconds": 1.0 + u, "status": "ok", "budget": "full"} for u in (0, 50, 100)]
    tasks = [Task(i, {"units": u}, str(u), 0) for i, u in enumerate((10, 95, 40))]
    assert [t.genome["units"] for t in longest_first(tasks, hist, space, k=1)] == [95, 40, 10]
    assert longest_first(tasks, [], space) == tasks  # no history: slot order


class RungState(ObjectiveFamily):
    """An objective whose trials leave a checkpoint and say which one they were given."""

    name = "rungstate"
    sections = frozenset()
    inline = True

    @classmethod
    def validate(cls, cfg: Any, v: Any) -> None:
        pass

    @classmethod
    def prepare(cls, cfg: Any) -> Prepared:
        return Prepared(objectives.spec_for(cls), identity={})

    @staticmethod
    def build(spec: Mapping[str, Any], payload: Any) -> Any:
        def run(task: Task) -> Result:
            budget = 9.0 if task.budget == "full" else float(task.budget.partition("=")[2])
            seen = {"asked": task.checkpoint, "resume": task.resume.decode() if task.resume else None,
                    "resume_from": task.resume_from}
            return Result(task.trial_id, Status.OK, task.genome["x"] * budget, seen,
                          checkpoint=f"{task.key}|{task.budget}".encode() if task.checkpoint else None)

        return run


objectives.register(RungState)


@pytest.mark.parametrize("checkpoints", [True, False])
def test_a_promotion_is_given_its_lower_rungs_checkpoint_and_checkpoints_go_with_their_generation(
        write_config, tmp_path, monkeypatch, checkpoints):
    cfg = write_config(f"""
    objective: rungstate
    workers: 0
    training: {{max_epochs: 9}}
    fidelity: {{minimum: 1, eta: 3, checkpoints: {str(checkpoints).lower()}}}
    evolution: {{population: 9, generations: 2}}
    space:
      x: {{low: 0.0, high: 1.0}}
    """)
    left: list[int] = []  # checkpoint files present whenever natsel clears those of finished generations
    drop = RunStore.drop_checkpoints

    def counting_drop(self, keep=()):
        left.append(len(list((self.path / "checkpoints").glob("*.npz"))))
        drop(self, keep)

    monkeypatch.setattr(RunStore, "drop_checkpoints", counting_drop)
    run = natsel.evolve(cfg, tmp_path / "run", progress=False)
    by_id = {t["id"]: t for t in run.trials}
    promoted = [t for t in run.trials if t["budget"] != "epochs=1"]
    assert len(run.trials) == 2 * (9 + 3 + 1) and promoted
    for t in run.trials:
        assert t["metrics"]["asked"] == (checkpoints and t["budget"] != "full")
    for t in promoted:
        if not checkpoints:
            assert t["metrics"]["resume"] is None
            continue
        source = by_id[t["metrics"]["resume_from"]]  # the same genome one rung lower, same generation
        assert (source["key"], source["generation"]) == (t["key"], t["generation"])
        assert source["budget"] == {"epochs=3": "epochs=1", "full": "epochs=3"}[t["budget"]]
        assert t["metrics"]["resume"] == f"{source['key']}|{source['budget']}"
    # 12 checkpoints a generation (9 at 1 epoch, 3 at 3), all deleted when the generation ends
    assert left == ([0, 12, 0, 12] if checkpoints else [0, 0, 0, 0])
    assert not list((tmp_path / "run" / "checkpoints").glob("*"))


def test_fidelity_and_pruning_config_errors(write_config):
    base = "fitness: helpers:constant\nworkers: 0\nspace:\n  x: [1, 2]\n"
    with pytest.raises(natsel.ConfigError, match=r"config.yaml:5: fidelity minimum \(20\) must be below"):
        natsel.load_config(write_config(base + "fidelity: {minimum: 20}\n"))
    with pytest.raises(natsel.ConfigError, match=r"config.yaml:5: pruning stops training between epochs"):
        natsel.load_config(write_config(base + "pruning: {quantile: 0.5}\n"))
    with pytest.raises(natsel.ConfigError, match=r"unknown key 'rate' in 'fidelity'"):
        natsel.load_config(write_config(base + "fidelity: {rate: 2}\n"))
    with pytest.raises(natsel.ConfigError, match=r"config.yaml:5: .*checkpoints.*must be true or false, not 'yes!'"):
        natsel.load_config(write_config(base + "fidelity: {checkpoints: yes!}\n"))


KERAS_HALVING = """
data: {source: digits}
training: {max_epochs: 4, patience: 0, max_training_time: 30}
fidelity: {minimum: 1, eta: 2, checkpoints: %s}
pruning: {quantile: 0.75, warmup: 0, min_trials: 2}
evolution: {population: 4, generations: 2}
workers: 2
space:
  neurons0: [8, 16, 32, 64]
  learning_rate: {low: 1e-4, high: 3e-2, log: true}
"""


@pytest.mark.keras
def test_keras_halving_and_pruning_on_digits(write_config, tmp_path):
    cfg = write_config(KERAS_HALVING % "true")
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 0, res.output + res.stderr
    run = natsel.load_run(tmp_path / "run")
    # promotions continued from their lower rung's checkpoint, and gave what training again gives
    continued = [t for t in run.trials if "continued_from" in t["extra"]]
    assert continued and not list((tmp_path / "run" / "checkpoints").glob("*"))  # deleted once a generation ends
    by_id = {t["id"]: t for t in run.trials}
    for t in continued:
        source = by_id[t["extra"]["continued_from"]]
        assert source["key"] == t["key"] and budget_rank(source["budget"]) < budget_rank(t["budget"])
        assert t["extra"]["continued_at_epoch"] == source["metrics"]["epochs"]
    again = CliRunner().invoke(main, ["evolve", str(write_config(KERAS_HALVING % "false", "b.yaml")), "--run-dir",
                                      str(tmp_path / "again"), "-q"])
    assert again.exit_code == 0, again.output + again.stderr
    retrained = natsel.load_run(tmp_path / "again").trials
    assert not any("continued_from" in t["extra"] for t in retrained)
    assert [(t["key"], t["budget"], t["status"], t["fitness"], t["extra"].get("curve")) for t in run.trials] == \
           [(t["key"], t["budget"], t["status"], t["fitness"], t["extra"].get("curve")) for t in retrained]
    assert {t["budget"] for t in run.trials} == {"epochs=1", "epochs=2", "full"}
    for t in run.trials:
        if t["status"] == "ok":
            cap = {"epochs=1": 1, "epochs=2": 2, "full": 4}[t["budget"]]
            assert t["metrics"]["epochs"] <= cap and len(t["extra"]["curve"]) == t["metrics"]["epochs"]
    pruned = [t for t in run.trials if t["status"] == Status.PRUNED]
    assert pruned and all(t["generation"] == 1 and t["fitness"] is None for t in pruned)
    assert run.best["status"] == "ok" and run.best["fitness"] is not None


class Planted:
    """What a malicious checkpoint holds: unpickling it creates a file (any code could run instead)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def a_checkpoint(epochs: int = 2) -> dict[str, Any]:
    w = [np.arange(6, dtype=np.float32).reshape(2, 3), np.zeros(3, np.float32)]
    return {"format": 2, "variables": w, "optimizer": [np.int64(4), np.ones((2, 3), np.float32)],
            "extra": [np.array([1, 2], np.int64)], "train_seconds": 1.25, "curve": [0.5] * epochs,
            "limits": {"best": 0.75, "best_weights": [a + 1 for a in w], "wait": 1, "epochs": epochs,
                       "history": {"loss": [1.0, float("nan")][:epochs], "es_loss": [0.75, 0.8][:epochs]}}}


def test_a_checkpoint_is_plain_arrays_and_anything_else_is_refused_unread(tmp_path):
    """Issue 24 item 8: a checkpoint is an .npz of arrays plus JSON numbers; a pickle (alone or inside an
    .npz entry), garbage, a cut-short file, another format or impossible numbers decode to None (the trial
    then trains from scratch), and nothing in them runs."""
    from natsel.objectives.keras import checkpoint

    ckpt = a_checkpoint()
    data = checkpoint.encode(ckpt)
    back = checkpoint.decode(data)
    assert back is not None and back["limits"]["history"]["es_loss"] == [0.75, 0.8]
    assert np.isnan(back["limits"]["history"]["loss"][1]) and back["curve"] == [0.5, 0.5]
    for group in ("variables", "optimizer", "extra"):
        assert all(a.dtype == np.asarray(b).dtype and np.array_equal(a, b) for a, b in zip(back[group], ckpt[group], strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(back["limits"]["best_weights"], ckpt["limits"]["best_weights"], strict=True))
    assert checkpoint.decode(checkpoint.encode({**ckpt, "limits": {**ckpt["limits"], "best": float("inf"),
                                                                    "best_weights": None}})) is not None

    marker = tmp_path / "planted"
    evil = pickle.dumps({**ckpt, "format": 1, "payload": Planted(marker)})
    inside = io.BytesIO()
    np.savez(inside, meta=np.array("{}"), variables_0=np.array([Planted(marker)], dtype=object))

    def with_meta(**change: Any) -> bytes:
        with np.load(io.BytesIO(data)) as z:
            arrays = {k: z[k] for k in z.files}
        import json

        meta = {**json.loads(str(arrays.pop("meta"))), **change}
        buf = io.BytesIO()
        np.savez(buf, meta=np.array(json.dumps(meta)), **arrays)
        return buf.getvalue()

    bad = [evil, inside.getvalue(), b"", b"garbage", data[: len(data) // 2], with_meta(format=1),
           with_meta(epochs=-1), with_meta(epochs=3), with_meta(wait=5), with_meta(train_seconds=float("nan")),
           with_meta(best=float("nan")), with_meta(best=float("inf")), with_meta(counts={"variables": 2}),
           with_meta(history={"loss": [1, 2]}), with_meta(curve=[0.5]), with_meta(epochs="2")]
    assert [checkpoint.decode(b) for b in bad] == [None] * len(bad)
    assert not marker.exists()
    pickle.loads(evil)  # what reading it with pickle would have done
    assert marker.exists()


def test_dropping_checkpoints_removes_old_pickles_and_what_a_kill_left_half_written(tmp_path):
    """Issue 24 item 8: checkpoints are checkpoints/<id>.npz; a .tmp a kill left behind and the .pkl files
    of older versions go when natsel clears the checkpoints of finished generations."""
    store = RunStore.create(tmp_path / "run", "", {})
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir()
    for name in ("1.npz", "2.npz", "3.pkl", ".4.npz.123.tmp", ".5.pkl.99.tmp"):
        (folder / name).write_bytes(b"x")
    assert store.checkpoint_path(2) == folder / "2.npz" and store.checkpoint(2) == b"x"
    store.drop_checkpoints(keep=[2])
    assert sorted(p.name for p in folder.iterdir()) == ["2.npz"]
    store.close()


KILLER = '''
import os
import signal


def build(genome, input_shape, n_outputs, task):
    """A small dense network; the NATSEL_TEST_KILL_AT-th network built kills natsel (kill -9) first."""
    import keras

    log = os.environ.get("NATSEL_TEST_BUILD_LOG")
    if log:
        with open(log, "a") as f:
            f.write("built\\n")
        with open(log) as f:
            if len(f.readlines()) == int(os.environ["NATSEL_TEST_KILL_AT"]):
                os.kill(os.getppid(), signal.SIGKILL)
                os._exit(1)
    inputs = keras.Input(input_shape)
    x = keras.layers.Dense(int(genome["width"]), activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(n_outputs, activation="softmax")(x))
'''

KILLED_HALVING = """
data: {source: iris}
model: killer:build
training: {max_epochs: 4, patience: 0, max_training_time: 60}
fidelity: {minimum: 1, eta: 2}
evolution: {population: 4, generations: 1}
workers: 1
space:
  width: [4, 8, 16, 32]
  learning_rate: {low: 1e-3, high: 3e-2, log: true}
"""


@pytest.mark.keras
def test_resume_never_unpickles_a_checkpoint_planted_in_the_run_folder(write_config, tmp_path):
    """Issue 24 item 8: a run killed after its first rung resumes from checkpoints/*.npz in the run folder.
    One promotion's checkpoint replaced by a pickle that would create a file, another's by a cut-short
    file: neither is run or used, both promotions train from scratch, and the run gives exactly what an
    uninterrupted run gives; the .tmp a kill can leave is cleaned up."""
    (tmp_path / "killer.py").write_text(KILLER)
    cfg = write_config(KILLED_HALVING)

    def natsel_cli(folder: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "natsel", "evolve", str(cfg), "--run-dir", str(tmp_path / folder),
                               "-q"], capture_output=True, text=True, timeout=600, env={**os.environ, **env})

    # the 5th network built is the first promotion's: the 4 trials of the first rung left their checkpoints
    first = natsel_cli("run", NATSEL_TEST_BUILD_LOG=str(tmp_path / "built.log"), NATSEL_TEST_KILL_AT="5")
    assert first.returncode == -9, first.stderr
    partial = natsel.load_run(tmp_path / "run").trials
    by_key = {t["key"]: t for t in partial if t["budget"] == "epochs=1"}
    sources = [by_key[t["key"]]["id"] for t in partial if t["budget"] == "epochs=2"]
    assert len(sources) == 2 and all(by_key[t["key"]]["status"] == "ok" for t in partial if t["budget"] == "epochs=2")
    folder = tmp_path / "run" / "checkpoints"
    files = {int(p.stem): p for p in folder.iterdir()}
    assert sorted(files) == sorted(t["id"] for t in by_key.values())
    marker = tmp_path / "planted"
    files[sources[0]].write_bytes(pickle.dumps({"format": 1, "payload": Planted(marker)}))
    real = files[sources[1]].read_bytes()
    files[sources[1]].write_bytes(real[: len(real) // 2])
    (folder / f".{files[sources[1]].name}.4242.tmp").write_bytes(real[:100])  # what a kill mid-write leaves

    resumed = natsel_cli("run")
    assert resumed.returncode == 0, resumed.stderr
    assert not marker.exists()
    assert {p.suffix for p in files.values()} == {".npz"}
    assert not list(folder.glob("*")) and not list(folder.glob(".*"))
    run = natsel.load_run(tmp_path / "run")
    promoted = [t for t in run.trials if t["budget"] == "epochs=2"]
    assert [t["status"] for t in promoted] == ["ok", "ok"] and not any("continued_from" in t["extra"] for t in promoted)
    full = [t for t in run.trials if t["budget"] == "full"]
    assert len(full) == 1 and full[0]["extra"]["continued_from"] in {t["id"] for t in promoted}  # a sound one is used
    assert natsel_cli("straight").returncode == 0
    assert table(run) == table(natsel.load_run(tmp_path / "straight"))
