"""The local worker pool under misbehaving objectives (plain Python: no TensorFlow)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import natsel
from natsel.executors import LocalPool, Task

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find worker processes")


def children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(d.name))
    return out


def workers_of(pid: int) -> list[int]:
    """Worker processes of ``pid`` (spawned by multiprocessing; its resource tracker is left out)."""
    out = []
    for c in children(pid):
        try:
            cmd = Path(f"/proc/{c}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmd:
            out.append(c)
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(cond, timeout: float, what: str):
    """Poll a condition until it holds (a deadline, not a guess: fails with `what` if it never does)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def spec(tmp_path: Path) -> dict:
    import shutil

    shutil.copy(Path(__file__).parent / "helpers.py", tmp_path / "helpers.py")
    return {"kind": "python", "ref": "helpers:misbehave", "base_dir": str(tmp_path), "sys_path": [str(tmp_path)]}


def test_each_failure_is_recorded_and_the_worker_replaced(tmp_path):
    modes = ["ok", "raise", "ok", "exit", "segv", "hang", "ok", "ok"]
    tasks = [Task(i, {"mode": m, "x": i}, str(i), 0) for i, m in enumerate(modes)]
    pool = LocalPool(spec(tmp_path), workers=2, hard_limit=2.0)
    try:
        results = {r.trial_id: r for r in pool.run(tasks)}
    finally:
        pool.close()
    assert sorted(results) == list(range(len(modes)))
    for i, m in enumerate(modes):
        if m == "ok":
            assert results[i].status == "ok" and results[i].fitness == i
    assert results[1].status == "failed" and "RuntimeError: boom" in results[1].error
    assert results[3].status == "failed" and results[3].error == "worker died: exit code 3"
    assert results[4].status == "failed" and results[4].error == "worker died: killed by SIGSEGV"
    assert results[5].status == "killed" and "hard limit of 2s" in results[5].error
    assert pool.spawned >= 4  # exit and segv each cost a worker that had to be replaced


def test_workers_are_recycled_after_max_trials(tmp_path):
    pool = LocalPool(spec(tmp_path), workers=1, max_trials_per_worker=3)
    try:
        results = list(pool.run([Task(i, {"mode": "ok", "x": i}, str(i), 0) for i in range(7)]))
    finally:
        pool.close()
    assert [r.status for r in results] == ["ok"] * 7
    assert pool.spawned == 3  # 3 + 3 + 1 trials


def test_init_error_stops_instead_of_respawning(tmp_path):
    bad = {"kind": "python", "ref": "helpers:nope", "base_dir": str(tmp_path), "sys_path": [str(tmp_path)]}
    spec(tmp_path)
    pool = LocalPool(bad, workers=2)
    with pytest.raises(natsel.NatselError, match="worker could not start: ValueError: 'helpers' has no attribute"):
        list(pool.run([Task(0, {"mode": "ok", "x": 1}, "0", 0)]))
    assert pool.spawned <= 2


RUN = """
name: pool
fitness: helpers:misbehave
workers: 2
training: {{max_training_time: {limit}, grace: 0.5}}
evolution: {{population: 6, generations: {generations}}}
space:
  mode: {modes}
  x: {{low: 0, high: 1000}}
"""


def test_run_completes_with_crashing_and_hanging_trials(write_config, tmp_path):
    cfg = write_config(RUN.format(limit=1, generations=3, modes="[ok, fine, raise, exit, hang]"))
    run = natsel.evolve(natsel.load_config(cfg), tmp_path / "run", progress=False)
    statuses = {t["status"] for t in run.trials}
    assert run.status == "finished" and len(run.history) == 3
    assert {"ok", "failed"} <= statuses
    assert all(t["status"] != "pending" for t in run.trials)
    killed = [t for t in run.trials if t["genome"]["mode"] == "hang" and t["status"] == "killed"]
    died = [t for t in run.trials if t["genome"]["mode"] == "exit" and t["status"] == "failed"]
    assert all("hard limit" in t["error"] for t in killed) and all("worker died" in t["error"] for t in died)
    assert run.fittest["mode"] in ("ok", "fine")


def _default_sigint() -> None:
    """In the child before exec: Ctrl-C as a terminal's foreground job gets it. A shell runs background
    jobs (CI under ``nohup ... &``) with SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(cfg: Path, run_dir: Path, log: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "natsel", "evolve", str(cfg), "--run-dir", str(run_dir), "-q"],
                            env={**os.environ, "NATSEL_TEST_LOG": str(log), **env}, start_new_session=True,
                            preexec_fn=_default_sigint, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_9_of_the_parent_leaves_no_worker(write_config, tmp_path):
    cfg = write_config(RUN.format(limit=600, generations=1, modes="[hang]"))
    log = tmp_path / "calls.log"
    proc = _start(cfg, tmp_path / "run", log)
    try:
        workers = wait_for(lambda: log.exists() and len(log.read_text().splitlines()) == 2 and
                           len(workers_of(proc.pid)) == 2 and workers_of(proc.pid), 60, "two busy workers")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        wait_for(lambda: not any(alive(p) for p in workers), 10, "workers to exit after the parent died")
    finally:
        if proc.poll() is None:
            proc.kill()


HELD = """
name: pool
fitness: helpers:held
workers: 2
evolution: {population: 6, generations: 2}
space:
  activation: [relu, elu, tanh, sigmoid]
  batch_size: [16, 32, 64, 128]
  layers: {low: 1, high: 8}
  learning_rate: {low: 1e-4, high: 1e-1, log: true}
"""


def test_ctrl_c_stops_workers_and_the_run_resumes(write_config, tmp_path, monkeypatch):
    cfg = write_config(HELD)
    log, release = tmp_path / "calls.log", tmp_path / "release"
    # each trial waits for the release file, so the run is certainly mid-way when Ctrl-C comes
    proc = _start(cfg, tmp_path / "run", log, NATSEL_TEST_RELEASE=str(release))
    workers = wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 2 and workers_of(proc.pid),
                       60, "two trials in flight")
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    out, err = proc.communicate(timeout=30)
    stop_seconds = time.monotonic() - started
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert stop_seconds < 10
    assert not any(alive(p) for p in workers)
    partial = natsel.load_run(tmp_path / "run")
    assert partial.status == "interrupted" and any(t["status"] == "pending" for t in partial.trials)
    done_before = {t["id"]: t for t in partial.trials if t["status"] != "pending"}
    release.touch()
    monkeypatch.setenv("NATSEL_TEST_RELEASE", str(release))
    resumed = natsel.evolve(natsel.load_config(cfg), tmp_path / "run", progress=False)
    assert resumed.status == "finished"
    for t in resumed.trials:
        if t["id"] in done_before:  # nothing finished was evaluated again
            assert t["finished"] == done_before[t["id"]]["finished"]


def test_gpus_pin_each_worker_before_it_starts(write_config, tmp_path):
    cfg = write_config("""
    fitness: helpers:visible_gpu
    workers: 2
    gpus: [3, 5]
    max_trials_per_worker: 2
    evolution: {population: 8, generations: 1}
    space:
      x: {low: 0, high: 1000}
    """)
    run = natsel.evolve(natsel.load_config(cfg), tmp_path / "run", progress=False)
    seen = {(t["metrics"]["pid"], t["metrics"]["gpu"]) for t in run.trials if t["status"] == "ok"}
    assert {gpu for _, gpu in seen} == {"3", "5"}  # worker slot i gets gpus[i % 2], replacements too
    assert len({pid for pid, _ in seen}) >= 4  # recycled every 2 trials: the pinning survives recycling
    assert all(len({g for p, g in seen if p == pid}) == 1 for pid, _ in seen)


def test_a_script_without_main_guard_fails_fast_instead_of_hanging(tmp_path):
    """A worker that dies while starting must not leave the parent blocked writing the data to it.

    Without the ``__main__`` guard every spawned worker re-runs the script and dies at start-up; the
    digits payload (~600 KB) is far larger than a pipe buffer.
    """
    script = tmp_path / "search.py"
    script.write_text(
        "import natsel\n"
        "cfg = natsel.config_from_dict({'data': {'source': 'digits'}, 'workers': 1,\n"
        "    'evolution': {'population': 2, 'generations': 1}, 'space': {'neurons0': [8, 16]}})\n"
        f"natsel.evolve(cfg, {str(tmp_path / 'run')!r}, progress=False)\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    # the first worker that finds itself re-running the script says why, and the parent stops at once
    assert "natsel.evolve() was called while a worker process was starting" in proc.stderr
    assert "WorkerStartError: the script that calls natsel must guard the call" in proc.stderr
    assert "if __name__ == '__main__':" in proc.stderr
    assert not (tmp_path / "run").exists()  # no trial finished: no husk of a run folder is left
