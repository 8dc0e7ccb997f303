"""Regression tests for results that were wrong and failures that were silent (issue "Trust").

Each test names the defect it pins; each fails on the code before the fix.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from multiprocessing import Pipe
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import natsel
from natsel.cli import main

#: the line of helpers.misbehave that raises (error lines name it)
BOOM_LINE = next(i for i, line in enumerate((Path(__file__).parent / "helpers.py").read_text().splitlines(), 1)
                 if "boom from the fitness function" in line and "raise" in line)

MIXED = """
name: {name}
seed: 0
fitness: helpers:{fitness}
workers: 0
evolution: {{population: {population}, generations: {generations}}}
space:
  activation: [relu, elu, tanh, sigmoid]
  batch_size: [16, 32, 64, 128]
  layers: {{low: 1, high: 8}}
  learning_rate: {{low: 1e-4, high: 1e-1, log: true}}
"""

KERAS = """
name: k
data: {data}
training: {training}
evolution: {{population: 2, generations: 1}}
workers: 1
space:
  neurons0: [16, 32]
  learning_rate: 0.003
"""


def fake_executor(monkeypatch, fitness=lambda task: 0.5):
    """Replace the executor by one that scores genomes without TensorFlow; returns the tasks it saw."""
    import natsel._evolve as ev
    from natsel.executors import Executor, Result

    seen: list = []

    class Fake(Executor):
        def run(self, tasks):
            for t in tasks:
                seen.append(t)
                yield Result(t.trial_id, "ok", fitness(t), {}, 0.1)

    monkeypatch.setattr(ev, "make_executor", lambda cfg, spec, payload: Fake())
    return seen


def one_line_error(res) -> str:
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: "), res.stderr
    return lines[0]


def files(path: Path) -> list[str]:
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*")) if path.exists() else []


# -- 1. regression data with task: auto ---------------------------------------------------------

def test_auto_task_on_regression_data_scores_the_loss_and_minimises(write_config, tmp_path, monkeypatch):
    fake_executor(monkeypatch)
    cfg = natsel.load_config(write_config(KERAS.format(data="{source: diabetes}", training="{max_epochs: 1}")))
    run = natsel.evolve(cfg, tmp_path / "run", progress=False)
    assert run.meta["task"] == "regression"
    assert run.meta["metric"] == "loss" and run.maximize is False


@pytest.mark.parametrize("data,metric,task", [("{source: diabetes}", "accuracy", "regression"),
                                              ("{source: diabetes}", "f1", "regression"),
                                              ("{source: iris}", "mae", "multiclass classification")])
def test_a_metric_that_cannot_score_the_datas_task_is_a_config_error(write_config, tmp_path, data, metric, task):
    cfg = write_config(KERAS.format(data=data, training=f"{{max_epochs: 1, metric: {metric}}}"))
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 2
    line = one_line_error(res)
    assert line.startswith(f"error: {cfg}:3: metric '{metric}' cannot score {task}")
    assert not (tmp_path / "run").exists()


def test_explicit_task_and_metric_that_do_not_fit_fail_at_load(write_config):
    cfg = write_config(KERAS.format(data="{source: iris}", training="{task: regression, metric: auc}"))
    with pytest.raises(natsel.ConfigError, match=r"config.yaml:3: metric 'auc' cannot score regression"):
        natsel.load_config(cfg)


@pytest.mark.keras
def test_diabetes_with_task_auto_trains_and_succeeds(write_config, tmp_path):
    cfg = write_config(KERAS.format(data="{source: diabetes}", training="{max_epochs: 2, patience: 0}"))
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 0, res.output + res.stderr
    run = natsel.load_run(tmp_path / "run")
    assert all(t["status"] == "ok" and t["fitness"] > 0 for t in run.trials)  # an MSE, not an accuracy


# -- 2. everything a run depends on is stored and reused -----------------------------------------

def test_train_best_splits_the_data_with_the_runs_seed(write_config, tmp_path, monkeypatch):
    import natsel._train_best as tb
    from natsel.objectives.keras.data import load_dataset

    fake_executor(monkeypatch)
    cfg = write_config(KERAS.format(data="{source: synthetic, n_samples: 300}", training="{max_epochs: 1}"))
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--seed", "5", "--run-dir", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 0, res.output
    seen: dict = {}

    def fake_worker(init, payload, epochs, progress):
        seen.update(init=init, payload=payload)
        Path(init["model_path"]).write_bytes(b"model")
        return {"epochs": 1, "timed_out": False, "validation": {"accuracy": 0.5}, "test": {"accuracy": 0.5},
                "history": {"train loss": [1.0]}, "seconds": 0.1}

    monkeypatch.setattr(tb, "_run_worker", fake_worker)
    info = natsel.train_best(tmp_path / "run", progress=False)
    want = load_dataset({"source": "synthetic", "n_samples": 300}, seed=5)
    assert np.array_equal(seen["payload"]["x_test"], want.x_test)  # the rows the search never saw
    assert seen["init"]["seed"] == 5 and info["seed"] == 5


def test_resume_reuses_the_seed_and_generations_given_on_the_command_line(write_config, tmp_path):
    cfg = write_config(MIXED.format(name="m", fitness="counted_mixed", population=6, generations=15))
    first = CliRunner().invoke(main, ["evolve", str(cfg), "--seed", "5", "--generations", "2",
                                      "--run-dir", str(tmp_path / "run"), "-q"])
    assert first.exit_code == 0, first.output
    before = natsel.load_run(tmp_path / "run").trials
    again = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"])
    assert again.exit_code == 0, again.output + again.stderr
    assert "already stopped (generations: all 2 generations ran)" in again.stderr and "--generations" in again.stderr
    run = natsel.load_run(tmp_path / "run")
    assert run.trials == before and len(run.history) == 2 and run.meta["seed"] == 5
    extended = CliRunner().invoke(main, ["evolve", str(cfg), "--generations", "3", "--run-dir", str(tmp_path / "run"),
                                         "-q"])
    assert extended.exit_code == 0 and len(natsel.load_run(tmp_path / "run").history) == 3


# -- 3. long-lived (Dask) workers key their objective by the data ---------------------------------

def test_a_worker_objective_is_rebuilt_for_other_data(monkeypatch, write_config):
    import natsel.objectives as objectives
    from natsel.executors import Result, Task
    from natsel.executors._dask import run_trial

    built: list = []

    def build(spec, payload):
        built.append(payload["fingerprint"])
        return lambda task: Result(task.trial_id, "ok", 1.0, {"data": payload["fingerprint"]})

    monkeypatch.setattr(objectives, "build_objective", build)
    cfg = natsel.load_config(write_config(KERAS.format(data="{source: iris}", training="{max_epochs: 1}")))
    spec = objectives.get("keras").prepare(cfg).spec
    a, b = {"fingerprint": "aaaa"}, {"fingerprint": "bbbb"}
    task = Task(1, {}, "k", 0)
    assert run_trial({**spec, "data": "aaaa"}, a, task).metrics["data"] == "aaaa"
    assert run_trial({**spec, "data": "bbbb"}, b, task).metrics["data"] == "bbbb"
    assert built == ["aaaa", "bbbb"]


# -- 4. the shared cache knows where a fitness and the data live -----------------------------------

def _project(root: Path, value: float, cache: Path) -> Path:
    root.mkdir()
    (root / "fit.py").write_text(f"def score(genome):\n    return {value} + genome['x'] / 1000\n")
    cfg = root / "config.yaml"
    cfg.write_text(f"fitness: fit:score\nworkers: 0\ncache: {cache}\nevolution: {{population: 4, generations: 1}}\n"
                   "space:\n  x: [1, 2, 3, 4]\n")
    return cfg


def test_two_projects_sharing_a_cache_never_serve_each_others_fitness(tmp_path):
    cache = tmp_path / "shared.sqlite"
    one = natsel.evolve(_project(tmp_path / "one", 1.0, cache), tmp_path / "r1", progress=False)
    two = natsel.evolve(_project(tmp_path / "two", 2.0, cache), tmp_path / "r2", progress=False)
    assert sorted(t["fitness"] for t in one.trials) == [1.001, 1.002, 1.003, 1.004]
    assert sorted(t["fitness"] for t in two.trials) == [2.001, 2.002, 2.003, 2.004]
    assert all(t["status"] == "ok" for t in two.trials)


def test_data_files_of_the_same_name_in_two_folders_have_two_cache_scopes(tmp_path):
    from natsel import objectives
    from natsel._rundir import cache_scope

    scopes = []
    for i, name in enumerate(("a", "b")):
        d = tmp_path / name
        d.mkdir()
        (d / "data.csv").write_text("f,label\n" + "".join(f"{(j * (i + 2)) % 7},{j % 2}\n" for j in range(40)))
        (d / "config.yaml").write_text("data: {source: csv, path: data.csv}\nspace:\n  neurons0: [8, 16]\n")
        cfg = natsel.load_config(d / "config.yaml")
        scopes.append(cache_scope(cfg, objectives.get("keras").prepare(cfg)))
    assert scopes[0] != scopes[1]


# -- 5. a trial served from the cache is a finished trial -------------------------------------------

def test_a_run_served_entirely_from_the_shared_cache_has_a_best_a_leaderboard_and_plots(write_config, tmp_path):
    cfg = write_config("""
    fitness: helpers:counted_mixed
    workers: 0
    cache: shared.sqlite
    strategy: genetic  # plans known genomes when nothing new is left (then served from the cache)
    evolution: {population: 4, generations: 1}
    space:
      activation: [elu, relu]
      batch_size: [64, 32]
      layers: 5
      learning_rate: 0.003
    """)
    first = natsel.evolve(natsel.load_config(cfg), tmp_path / "one", progress=False)
    second = natsel.evolve(natsel.load_config(cfg), tmp_path / "two", progress=False)
    assert all(t["status"] == "cached" for t in second.trials)
    assert second.best is not None and second.best["fitness"] == max(t["fitness"] for t in second.trials)
    assert second.best["fitness"] in [t["fitness"] for t in first.trials]
    assert json.loads((tmp_path / "two" / "best.json").read_text())["genome"] == second.fittest
    assert len(second.leaderboard()) == len({t["key"] for t in second.trials}) > 0
    res = CliRunner().invoke(main, ["plot", str(tmp_path / "two")])
    assert res.exit_code == 0, res.output


def test_copies_of_a_trial_in_the_same_run_are_not_counted_twice(write_config, tmp_path):
    cfg = write_config(MIXED.format(name="m", fitness="counted_mixed", population=6, generations=4)
                       + "strategy: genetic\n")
    run = natsel.evolve(natsel.load_config(cfg), tmp_path / "run", progress=False)
    assert any(t["status"] == "cached" for t in run.trials)  # the genetic strategy's elites are copies
    keys = [r["key"] for r in run.leaderboard()]
    assert len(keys) == len(set(keys)) == len({t["key"] for t in run.trials})


# -- 6. one writer per run folder ---------------------------------------------------------------------

def _natsel(*args, env=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "natsel", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})}, **kw)


def test_a_second_evolve_on_a_busy_run_folder_is_refused(write_config, tmp_path):
    cfg = write_config(MIXED.format(name="m", fitness="held", population=4, generations=1).replace(
        "workers: 0", "workers: 1"))
    log, release = tmp_path / "calls.log", tmp_path / "release"
    env = {"NATSEL_TEST_LOG": str(log), "NATSEL_TEST_RELEASE": str(release)}
    first = _natsel("evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q", env=env)
    try:
        end = time.monotonic() + 60
        while not (log.exists() and log.read_text().strip()) and time.monotonic() < end:
            time.sleep(0.05)  # poll until the first run has a trial in flight
        assert log.read_text().strip(), "the first run should have started a trial"
        second = subprocess.run([sys.executable, "-m", "natsel", "evolve", str(cfg), "--run-dir", str(tmp_path / "run"),
                                 "-q"], capture_output=True, text=True, env={**os.environ, **env}, timeout=120)
        assert second.returncode == 2
        assert second.stderr.strip() == (f"error: {tmp_path / 'run'} is in use by another natsel process "
                                         f"(pid {first.pid} on {os.uname().nodename}); wait for it to end, "
                                         "or stop it first")
    finally:
        release.touch()
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    run = natsel.load_run(tmp_path / "run")
    calls = log.read_text().splitlines()
    assert run.status == "finished" and len(calls) == len(set(calls)) == len(run.trials) == 4  # each genome once


def test_a_lock_left_by_a_killed_process_does_not_block_a_resume(write_config, tmp_path):
    cfg = write_config(MIXED.format(name="m", fitness="counted_mixed", population=4, generations=2))
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from natsel._store import RunLock
        RunLock(Path({str(tmp_path / 'run')!r})).acquire()
        print("locked", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    assert holder.wait(30) == -signal.SIGKILL
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 0, res.output + res.stderr
    assert natsel.load_run(tmp_path / "run").status == "finished"


# -- 7. a run where trials fail says so -----------------------------------------------------------------

def test_a_run_where_every_trial_fails_exits_3_with_the_error(write_config, tmp_path):
    cfg = write_config("""
    fitness: helpers:misbehave
    workers: 0
    evolution: {population: 4, generations: 2}
    space:
      mode: raise
      x: {low: 0, high: 100}
    """)
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 3
    assert one_line_error(res).startswith("error: no trial succeeded: 8 of 8 trials failed; most common error (8x): "
                                          "RuntimeError: boom from the fitness function")
    run = natsel.load_run(tmp_path / "run")
    assert run.status == "failed" and "RuntimeError: boom" in run.meta["error"]
    assert run.outcome["trained"] == 0 and run.outcome["failed"] == 8
    assert [(h["trained"], h["failed"]) for h in run.history] == [(0, 4), (0, 4)]


def test_a_fitness_returning_a_string_fails_loudly(write_config, tmp_path):
    (tmp_path / "bad.py").write_text("def fit(genome):\n    return 'high'\n")
    cfg = write_config("fitness: bad:fit\nworkers: 0\nevolution: {population: 3, generations: 1}\n"
                       "space:\n  x: [1, 2, 3]\n")
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 3
    assert "fitness must be a number, got str" in one_line_error(res)


def test_some_failed_trials_give_a_warning_and_separate_counts(write_config, tmp_path):
    cfg = write_config("""
    fitness: helpers:misbehave
    workers: 0
    evolution: {population: 8, generations: 2}
    space:
      mode: [ok, raise]
      x: {low: 0, high: 100}
    """)
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 0
    n = natsel.load_run(tmp_path / "run").outcome
    assert n["failed"] > 0 and n["trained"] > 0
    assert f"{n['trained']} trained, {n['failed']} failed, {n['cached']} from cache" in res.output
    assert res.stderr.strip().startswith(f"warning: {n['failed']} of {n['trained'] + n['failed']} trials failed")


# -- 9. the main-module guard -------------------------------------------------------------------------------

def test_a_spawned_child_reimporting_an_unguarded_script_stops_with_one_line(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent("""
        import multiprocessing as mp
        from natsel._errors import refuse_in_bootstrapping_child

        refuse_in_bootstrapping_child("natsel.evolve()")

        def child():
            pass

        if __name__ == "__main__":
            p = mp.get_context("spawn").Process(target=child)
            p.start()
            p.join()
            print("child exit", p.exitcode)
        """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "child exit 78"
    assert proc.stderr.count("must guard the call with: if __name__ == '__main__':") == 1
    assert "Traceback" not in proc.stderr


def test_readme_python_example_guards_its_calls():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split("## Python API", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    assert 'if __name__ == "__main__":' in block
    guard = block.index('if __name__ == "__main__":')
    assert block.index("natsel.evolve(") > guard and block.index("natsel.train_best(") > guard


# -- 10. no husk of a run folder after an early failure ------------------------------------------------------

def test_a_worker_that_cannot_start_leaves_no_run_folder(write_config, tmp_path, monkeypatch):
    import natsel._evolve as ev
    from natsel._errors import WorkerStartError
    from natsel.executors import Executor

    class Broken(Executor):
        def run(self, tasks):
            raise WorkerStartError("worker could not start: ImportError: no TensorFlow")
            yield  # pragma: no cover

    monkeypatch.setattr(ev, "make_executor", lambda cfg, spec, payload: Broken())
    monkeypatch.chdir(tmp_path)
    cfg = write_config(KERAS.format(data="{source: iris}", training="{max_epochs: 1}"))
    res = CliRunner().invoke(main, ["evolve", str(cfg), "-q"])
    assert res.exit_code == 2 and "no TensorFlow" in one_line_error(res)
    assert files(tmp_path / "runs") == []
    resumed = CliRunner().invoke(main, ["evolve", str(cfg), "--resume", "-q"])
    assert "nothing to resume" in one_line_error(resumed)


# -- 11. a worker stopped before its data arrives ------------------------------------------------------------

def test_a_worker_told_to_stop_while_waiting_for_its_data_exits_quietly():
    from natsel._child import GONE, receive_payload

    parent, child = Pipe()
    box: dict = {}
    t = threading.Thread(target=lambda: box.update(got=receive_payload(child)))
    t.start()
    assert parent.recv()[0] == "hello"
    parent.send(("stop",))
    t.join(10)
    assert box["got"] is GONE


# -- 12. --resume finds this config's runs only ---------------------------------------------------------------

def test_resume_does_not_take_a_run_of_another_config_with_a_longer_name(write_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mix = write_config(MIXED.format(name="mix", fitness="counted_mixed", population=4, generations=1), "mix.yaml")
    small = write_config(MIXED.format(name="mix-small", fitness="counted_mixed", population=4, generations=1),
                         "small.yaml")
    assert CliRunner().invoke(main, ["evolve", str(mix), "-q"]).exit_code == 0
    (mine,) = [d for d in Path("runs").iterdir()]
    newer = Path("runs") / "mix-small-29991231-235959"  # the other config's run, and the newest
    assert CliRunner().invoke(main, ["evolve", str(small), "--run-dir", str(newer), "-q"]).exit_code == 0
    res = CliRunner().invoke(main, ["evolve", str(mix), "--resume", "--generations", "2", "-q"])
    assert res.exit_code == 0, res.output + res.stderr
    assert f"run: {mine}" in res.output
    assert len(natsel.load_run(mine).history) == 2


# -- 8. train-best on every trainer --------------------------------------------------------------------------

@pytest.mark.keras
@pytest.mark.parametrize("trainer,optimizer,axis", [("pso", "adam", "iteration"), ("gradient", "adaswarm", "epoch")])
def test_train_best_works_for_every_trainer(write_config, tmp_path, trainer, optimizer, axis):
    cfg = write_config(f"""
    name: swarmy
    data: {{source: iris}}
    training: {{max_epochs: 5, patience: 0, max_training_time: 30}}
    evolution: {{population: 2, generations: 1}}
    workers: 1
    space:
      trainer: {trainer}
      optimizer: {optimizer}
      neurons0: [8, 10]
      pso_particles: 10
      pso_iterations: 20
    """)
    assert CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"]).exit_code == 0
    res = CliRunner().invoke(main, ["train-best", str(tmp_path / "run"), "-q", "--epochs", "5"])
    assert res.exit_code == 0, res.output + res.stderr
    info = json.loads((tmp_path / "run" / "train_best.json").read_text())
    assert info["history_axis"] == axis and info["test"]["accuracy"] >= 0.0
    import keras

    model = keras.models.load_model(tmp_path / "run" / "best_model.keras")
    assert model.predict(np.zeros((1, 4), dtype="float32"), verbose=0).shape == (1, 3)


# -- 3 again, for real: two runs on one long-lived cluster -----------------------------------------------------

@pytest.mark.keras
@pytest.mark.dask
def test_two_runs_on_one_dask_cluster_each_train_on_their_own_data(write_config, tmp_path):
    pytest.importorskip("distributed")
    from test_dask import Cluster

    cluster = Cluster(tmp_path, {})
    try:
        fingerprints = []
        for seed in (1, 2):
            cfg = natsel.load_config(write_config(KERAS.format(data="{source: iris}",
                                                               training="{max_epochs: 1, patience: 0}")))
            cfg.override(seed=seed)
            cfg.executor.type, cfg.executor.scheduler = "dask", cluster.address
            run = natsel.evolve(cfg, tmp_path / f"run{seed}", progress=False, plots=False)
            assert all(t["status"] == "ok" for t in run.trials)
            assert {t["extra"]["data"] for t in run.trials} == {run.meta["data_fingerprint"]}
            fingerprints.append(run.meta["data_fingerprint"])
        assert fingerprints[0] != fingerprints[1]  # another seed, another split: other data
    finally:
        cluster.stop()


# -- found in review ------------------------------------------------------------------------------------------

def test_a_seed_set_through_the_api_is_stored_and_evolve_leaves_the_config_alone(write_config, tmp_path):
    path = write_config(MIXED.format(name="m", fitness="counted_mixed", population=4, generations=2))
    cfg = natsel.load_config(path)
    cfg.seed = 5
    natsel.evolve(cfg, tmp_path / "run", progress=False)
    assert cfg.overrides == {} and cfg.resolved_task is None  # the caller's Config is not changed
    straight = natsel.evolve(cfg, tmp_path / "straight", progress=False)
    cfg2 = natsel.load_config(path)
    cfg2.generations = 3  # extend, from a freshly loaded config that says seed 0
    resumed = natsel.evolve(cfg2, tmp_path / "run", progress=False)
    assert resumed.meta["seed"] == 5
    cfg.generations = 3
    straight = natsel.evolve(cfg, tmp_path / "straight", progress=False)
    assert [t["key"] for t in resumed.trials] == [t["key"] for t in straight.trials]


def test_same_named_packages_of_two_projects_are_two_fitness_functions(tmp_path):
    cache = tmp_path / "shared.sqlite"
    runs = []
    for name, value in (("one", 1.0), ("two", 2.0)):
        root = tmp_path / name
        (root / "pkg").mkdir(parents=True)
        (root / "pkg" / "__init__.py").write_text("")
        (root / "pkg" / "sub.py").write_text(f"def score(genome):\n    return {value}\n")
        (root / "config.yaml").write_text(f"fitness: pkg.sub:score\nworkers: 0\ncache: {cache}\n"
                                          "evolution: {population: 2, generations: 1}\nspace:\n  x: [1, 2]\n")
        runs.append(natsel.evolve(root / "config.yaml", tmp_path / f"r-{name}", progress=False))
    assert {t["fitness"] for t in runs[0].trials} == {1.0}
    assert {t["fitness"] for t in runs[1].trials} == {2.0} and all(t["status"] == "ok" for t in runs[1].trials)


def test_a_fitness_module_named_like_a_standard_module_does_not_replace_it(tmp_path):
    import queue

    (tmp_path / "queue.py").write_text("def score(genome):\n    return 1.0\n")
    (tmp_path / "config.yaml").write_text("fitness: queue:score\nworkers: 0\nevolution: {population: 2, generations: 1}"
                                          "\nspace:\n  x: [1, 2]\n")
    run = natsel.evolve(tmp_path / "config.yaml", tmp_path / "run", progress=False)
    assert {t["fitness"] for t in run.trials} == {1.0}
    import sys

    assert sys.modules["queue"] is queue and hasattr(queue, "Queue")


def test_a_direction_that_contradicts_the_metric_is_a_config_error(write_config, tmp_path):
    cfg = write_config("direction: maximize\n" + KERAS.format(data="{source: diabetes}", training="{max_epochs: 1}"))
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 2
    assert one_line_error(res).startswith(f"error: {cfg}:1: direction: maximize contradicts the metric 'loss'")
    assert not (tmp_path / "run").exists()


def test_resume_refuses_changed_data(write_config, tmp_path, monkeypatch):
    fake_executor(monkeypatch)
    csv = tmp_path / "d.csv"
    csv.write_text("a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(40)))
    cfg = write_config(KERAS.format(data="{source: csv, path: d.csv}", training="{max_epochs: 1}"))
    natsel.evolve(natsel.load_config(cfg), tmp_path / "run", progress=False)
    csv.write_text("a,label\n" + "".join(f"{i * 2},{i % 2}\n" for i in range(40)))
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "--generations", "2",
                                    "-q"])
    assert res.exit_code == 2
    assert "cannot be resumed: the data has changed" in one_line_error(res)
    assert len(natsel.load_run(tmp_path / "run").history) == 1


def test_failures_served_from_the_shared_cache_still_fail_loudly(write_config, tmp_path):
    cfg = write_config("""
    fitness: helpers:misbehave
    workers: 0
    cache: shared.sqlite
    strategy: genetic
    evolution: {population: 3, generations: 1}
    space:
      mode: raise
      x: [1, 2, 3]
    """)
    for name in ("one", "two"):
        res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / name), "-q"])
        assert res.exit_code == 3, (name, res.output, res.stderr)
        assert "RuntimeError: boom from the fitness function" in one_line_error(res)
    assert {t["status"] for t in natsel.load_run(tmp_path / "two").trials} == {"cached"}


def test_numpy_numbers_are_fitness_values(tmp_path):
    (tmp_path / "npfit.py").write_text("import numpy as np\n\ndef score(genome):\n    return np.float32(genome['x'])\n")
    (tmp_path / "config.yaml").write_text("fitness: npfit:score\nworkers: 0\nevolution: {population: 2, generations: 1}"
                                          "\nspace:\n  x: [1, 2]\n")
    run = natsel.evolve(tmp_path / "config.yaml", tmp_path / "run", progress=False)
    assert sorted(t["fitness"] for t in run.trials) == [1.0, 2.0]


def test_two_runs_started_in_the_same_second_get_two_folders(write_config, tmp_path):
    from natsel._rundir import resolve

    cfg = natsel.load_config(write_config(MIXED.format(name="m", fitness="constant", population=2, generations=1)))
    first, second = resolve(cfg, None, False, tmp_path / "runs"), resolve(cfg, None, False, tmp_path / "runs")
    assert first[0] != second[0] and first[0].is_dir() and second[0].is_dir()
    assert first[1:] == second[1:] == (False, True)


def test_train_best_all_rows_adds_the_rows_beyond_the_limit_and_keeps_the_search_split(write_config, tmp_path,
                                                                                        monkeypatch):
    import natsel._train_best as tb
    from natsel.objectives.keras.data import load_dataset

    fake_executor(monkeypatch)
    data = {"source": "synthetic", "n_samples": 300, "limit": 200}
    cfg = write_config(KERAS.format(data="{source: synthetic, n_samples: 300, limit: 200}",
                                    training="{max_epochs: 1}"))
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 0, res.output
    seen: list = []

    def fake_worker(init, payload, epochs, progress):
        seen.append(payload)
        Path(init["model_path"]).write_bytes(b"model")
        return {"epochs": 1, "timed_out": False, "validation": {"accuracy": 0.5}, "test": {"accuracy": 0.5},
                "history": {"train loss": [1.0]}, "seconds": 0.1}

    monkeypatch.setattr(tb, "_run_worker", fake_worker)
    assert natsel.train_best(tmp_path / "run", progress=False)["train_rows"] == 120  # 200 less 40 val, 40 test
    info = natsel.train_best(tmp_path / "run", progress=False, all_rows=True, force=True)  # the second model
    search = load_dataset(data)
    limited, grown = seen
    assert info["train_rows"] == 220 and len(grown["x_train"]) == 220
    for k in ("x_val", "x_test", "y_test"):  # validation and test rows are the search's own, scaled the same
        assert np.array_equal(grown[k], limited[k]) and np.array_equal(limited[k], search.final_payload()[k])
    n_train = len(search.x_train)  # then the 100 rows beyond the limit, then the early-stopping rows
    assert np.array_equal(grown["x_train"][:n_train], limited["x_train"][:n_train])
    assert np.array_equal(grown["x_train"][n_train + 100:], limited["x_train"][n_train:])
    res = CliRunner().invoke(main, ["train-best", str(tmp_path / "run"), "-q", "--all-rows", "--force"])
    assert res.exit_code == 0 and "on 220 training rows" in res.output, res.output


def test_limit_cuts_every_source_not_only_fashion_mnist():
    from natsel.objectives.keras.data import load_dataset

    ds = load_dataset({"source": "breast_cancer", "limit": 300})
    assert len(ds.x_train) + len(ds.x_es) + len(ds.x_val) + len(ds.x_test) == 300


@pytest.mark.parametrize("value", ["0", "-5", "2.5", "lots"])
def test_a_bad_limit_is_a_config_error(write_config, value):
    cfg = write_config(KERAS.format(data=f"{{source: iris, limit: {value}}}", training="{max_epochs: 1}"))
    with pytest.raises(natsel.ConfigError, match=r"config.yaml:\d+: .*limit"):
        natsel.load_config(cfg)


def test_a_limit_that_drops_classes_of_a_sorted_source_is_a_data_error():
    from natsel.objectives.keras.data import DataError, load_dataset

    with pytest.raises(DataError, match=r"data iris: its first 100 rows \('limit'\) hold 2 of its 3 classes"):
        load_dataset({"source": "iris", "limit": 100})


# -- issue 24 item 14: a killed run, and a run whose every trial failed ---------------------------------

def test_a_killed_run_shows_interrupted_with_the_command_that_resumes_it(write_config, tmp_path):
    """Issue 24 item 14: kill -9 leaves run.json at running; show says interrupted and how to resume."""
    cfg = write_config(MIXED.format(name="m", fitness="counted_mixed", population=4, generations=2))
    killed = subprocess.run([sys.executable, "-m", "natsel", "evolve", str(cfg), "--run-dir", str(tmp_path / "run"),
                             "-q"], capture_output=True, text=True, env={**os.environ, "NATSEL_TEST_KILL_AFTER": "3"},
                            timeout=120)
    assert killed.returncode == -signal.SIGKILL
    run = natsel.load_run(tmp_path / "run")
    assert run.meta["status"] == "running" and run.status == "interrupted"
    res = CliRunner().invoke(main, ["show", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    command = f"natsel evolve {cfg} --run-dir {tmp_path / 'run'} --resume"
    assert res.output.splitlines()[0].startswith(f"{tmp_path / 'run'}  status=interrupted (resume with: {command})  ")
    resumed = CliRunner().invoke(main, [*command.split()[1:], "-q"])  # the command it prints works
    assert resumed.exit_code == 0, resumed.output
    assert natsel.load_run(tmp_path / "run").status == "finished"


def test_a_run_whose_lock_is_held_is_still_running(write_config, tmp_path):
    """Issue 24 item 14: while a process holds the run's lock, run.json's running is believed."""
    from natsel._store import RunLock

    cfg = write_config(MIXED.format(name="m", fitness="counted_mixed", population=4, generations=1))
    natsel.evolve(natsel.load_config(cfg), tmp_path / "run", progress=False)
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    (tmp_path / "run" / "run.json").write_text(json.dumps({**meta, "status": "running"}))
    assert natsel.load_run(tmp_path / "run").status == "interrupted"
    lock = RunLock(tmp_path / "run").acquire()
    try:
        assert natsel.load_run(tmp_path / "run").status == "running"
    finally:
        lock.release()


def test_plot_of_a_run_whose_every_trial_failed_says_they_failed(write_config, tmp_path):
    """Issue 24 item 14: the trials finished, and failed: plot says so and names the error."""
    cfg = write_config("""
    fitness: helpers:misbehave
    workers: 0
    evolution: {population: 4, generations: 1}
    space:
      mode: raise
      x: {low: 0, high: 100}
    """)
    assert CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"]).exit_code == 3
    res = CliRunner().invoke(main, ["plot", str(tmp_path / "run")])
    assert res.exit_code == 2
    assert one_line_error(res) == (f"error: {tmp_path / 'run'}: no trial succeeded (4 failed; most common error (4x): "
                                   f"RuntimeError: boom from the fitness function (helpers.py:{BOOM_LINE})): nothing to plot")
    assert not (tmp_path / "run" / "plots" / "report.html").exists()


def test_a_config_folder_hides_no_standard_module_from_a_later_run(two_folders):
    """A config's folder stayed first on sys.path after natsel imported its module, so every worker started
    later in that process (another run, from another folder) imported the folder's colorsys.py instead of
    the standard module; a run from a folder holding queue.py broke every later Keras run of the process."""
    a, b = two_folders
    cfg_a = natsel.load_config(a / "config.yaml")
    cfg_a.workers = 0  # in this process: the file beside the module is still found when the function runs
    first = natsel.evolve(cfg_a, a / "run", progress=False, plots=False)
    assert sorted(t["fitness"] for t in first.trials) == [3.0, 6.0]
    second = natsel.evolve(b / "config.yaml", b / "run", progress=False, plots=False)  # a worker process
    assert [t["status"] for t in second.trials] == ["ok", "ok"], [t["error"] for t in second.trials]
    assert sorted(t["fitness"] for t in second.trials) == [1.5, 2.5]
