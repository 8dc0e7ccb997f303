"""natsel on a real Dask cluster on 127.0.0.1: one scheduler and two worker processes (no mocks)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import natsel

pytestmark = pytest.mark.dask
distributed = pytest.importorskip("distributed")
DASK = str(Path(sys.executable).parent / "dask")
ROOT = str(Path(natsel.__file__).resolve().parent.parent)

CFG = """
name: dasktest
seed: 3
fitness: helpers:{fitness}
workers: 2
evolution: {{population: {population}, generations: {generations}}}
space:
  activation: [relu, elu, tanh, sigmoid]
  batch_size: [16, 32, 64, 128]
  layers: {{low: 1, high: 8}}
  learning_rate: {{low: 1e-4, high: 1e-1, log: true}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tls_flags(certs, name: str) -> list[str]:
    """``dask scheduler`` / ``dask worker`` options for ``name``'s certificate from the ``tls_certs`` fixture."""
    cert, key = certs(name)
    return ["--tls-ca-file", str(cert.parent / "ca.pem"), "--tls-cert", str(cert), "--tls-key", str(key)]


class Cluster:
    """A scheduler and two workers on 127.0.0.1; with ``certs`` (the ``tls_certs`` fixture), all on tls://."""

    def __init__(self, tmp_path: Path, env: dict[str, str], certs=None,
                 worker_paths: tuple[str, str] = ("", "")) -> None:
        """``worker_paths``: a folder each worker has on its ``PYTHONPATH`` besides natsel's and tmp_path."""
        scheme = "tls" if certs else "tcp"
        self.address = f"{scheme}://127.0.0.1:{free_port()}"
        port = self.address.rsplit(":", 1)[1]
        # workers import the natsel under test (this checkout's), then the tests' helpers
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, str(tmp_path)]), **env}
        self.log = open(tmp_path / "cluster.log", "w")  # noqa: SIM115 - closed in stop()
        tls = ["--protocol", "tls", *tls_flags(certs, "scheduler")] if certs else []
        self.scheduler = subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", port,
                                           "--no-dashboard", *tls], stdout=self.log, stderr=self.log, env=self.env)
        self.workers = [subprocess.Popen([DASK, "worker", self.address, "--nthreads", "1", "--no-nanny",
                                          "--no-dashboard", "--name", f"w{i}",
                                          *(tls_flags(certs, f"worker{i}") if certs else [])],
                                         stdout=self.log, stderr=self.log,
                                         env={**self.env, "PYTHONPATH": os.pathsep.join(
                                             p for p in (self.env["PYTHONPATH"], worker_paths[i]) if p)})
                        for i in range(2)]
        security = None
        if certs:
            from distributed.security import Security

            cert, key = certs("watcher")
            security = Security(tls_ca_file=str(cert.parent / "ca.pem"), tls_client_cert=str(cert),
                                tls_client_key=str(key), require_encryption=True)
        with distributed.Client(self.address, timeout=60, security=security) as client:
            client.wait_for_workers(2, timeout=60)

    def stop(self) -> None:
        for p in [*self.workers, self.scheduler]:
            if p.poll() is None:
                p.kill()
            p.wait(10)
        self.log.close()


@pytest.fixture
def cluster(tmp_path, write_config, request):
    env = getattr(request, "param", {})
    env = {k: str(tmp_path / v) for k, v in env.items()}
    c = Cluster(tmp_path, env)
    yield c
    c.stop()


def table(run):
    return [(t["generation"], t["slot"], t["key"], t["status"], t["fitness"]) for t in run.trials]


def test_dask_run_equals_the_local_pool(cluster, write_config, tmp_path):
    cfg = natsel.load_config(write_config(CFG.format(fitness="counted_mixed", population=6, generations=3)))
    local = natsel.evolve(cfg, tmp_path / "local", progress=False)
    cfg.executor.type, cfg.executor.scheduler = "dask", cluster.address
    remote = natsel.evolve(cfg, tmp_path / "dask", progress=False)
    assert table(remote) == table(local)
    assert remote.status == "finished" and all(t["status"] in ("ok", "cached") for t in remote.trials)


def test_steady_schedule_on_dask_keeps_both_workers_fed(cluster, write_config, tmp_path):
    text = CFG.format(fitness="counted_mixed", population=3, generations=4).replace(
        "generations: 4}", "generations: 4, schedule: steady}")
    cfg = natsel.load_config(write_config(text))
    cfg.executor.type, cfg.executor.scheduler = "dask", cluster.address
    run = natsel.evolve(cfg, tmp_path / "dask", progress=False)
    assert run.status == "finished" and len(run.trials) == 3 * 4
    assert len({t["key"] for t in run.trials}) == len(run.trials)
    assert all(t["status"] == "ok" for t in run.trials)
    assert all("seen_upto" in t["extra"] for t in run.trials if t["generation"] > 0)


@pytest.mark.parametrize("cluster", [{"NATSEL_TEST_LOG": "calls.log", "NATSEL_TEST_RELEASE": "release"}],
                         indirect=True)
def test_a_worker_killed_mid_trial_loses_nothing(cluster, write_config, tmp_path):
    cfg = natsel.load_config(write_config(CFG.format(fitness="held", population=4, generations=2)))
    cfg.executor.type, cfg.executor.scheduler = "dask", cluster.address
    log, release = tmp_path / "calls.log", tmp_path / "release"
    box: dict = {}

    def go() -> None:
        try:
            box["run"] = natsel.evolve(cfg, tmp_path / "run", progress=False, plots=False)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            box["error"] = exc

    thread = threading.Thread(target=go)
    thread.start()
    end = time.monotonic() + 60
    pids: set[int] = set()
    while len(pids) < 2 and time.monotonic() < end:  # wait until both workers hold a trial
        if log.exists():
            pids = {int(line.split()[0]) for line in log.read_text().splitlines()}
        time.sleep(0.05)
    assert len(pids) == 2, "both workers should be running a trial"
    victim = cluster.workers[0].pid
    assert victim in pids
    os.kill(victim, signal.SIGKILL)
    cluster.workers[0].wait(10)
    release.touch()
    thread.join(120)
    assert not thread.is_alive() and "error" not in box, box.get("error")
    run = box["run"]
    assert run.status == "finished"
    slots = [(t["generation"], t["slot"]) for t in run.trials]
    assert len(slots) == len(set(slots)) == 8  # every trial recorded once
    assert all(t["status"] in ("ok", "cached") for t in run.trials)
    lines = log.read_text().splitlines()
    assert any(int(line.split()[0]) == victim for line in lines)


def test_unreachable_scheduler_is_one_line(write_config, tmp_path):
    from click.testing import CliRunner

    from natsel.cli import main

    cfg = write_config(CFG.format(fitness="counted_mixed", population=4, generations=1) + "executor: {timeout: 2}\n")
    addr = f"tcp://127.0.0.1:{free_port()}"
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--scheduler", addr, "--run-dir", str(tmp_path / "r"), "-q"])
    assert res.exit_code == 2, res.output
    assert res.stderr.strip().startswith(f"error: cannot reach the Dask scheduler at {addr}: OSError: ")
    assert not (tmp_path / "r").exists()  # no husk of a run folder: the cluster is reached first


@pytest.mark.parametrize("cluster", [{"NATSEL_TEST_LOG": "calls.log", "NATSEL_TEST_RELEASE": "release"}],
                         indirect=True)
def test_scheduler_loss_stops_cleanly_and_the_run_resumes(cluster, write_config, tmp_path):
    cfg = natsel.load_config(write_config(CFG.format(fitness="held", population=4, generations=2)))
    cfg.executor.type, cfg.executor.scheduler = "dask", cluster.address
    log = tmp_path / "calls.log"
    box: dict = {}

    def go() -> None:
        try:
            natsel.evolve(cfg, tmp_path / "run", progress=False, plots=False)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            box["error"] = exc

    thread = threading.Thread(target=go)
    thread.start()
    end = time.monotonic() + 60
    while not (log.exists() and len(log.read_text().splitlines()) >= 2) and time.monotonic() < end:
        time.sleep(0.05)
    started = time.monotonic()
    cluster.scheduler.kill()
    cluster.scheduler.wait(10)
    thread.join(120)
    assert not thread.is_alive(), "evolve must not hang when the scheduler dies"
    from natsel.executors._base import ExecutorLost

    assert isinstance(box.get("error"), ExecutorLost), box
    assert time.monotonic() - started < 90
    partial = natsel.load_run(tmp_path / "run")
    assert partial.status == "interrupted"
    (tmp_path / "release").touch()
    cfg.executor.type, cfg.executor.scheduler = "local", None  # resume on this machine
    done = natsel.evolve(cfg, tmp_path / "run", progress=False)
    assert done.status == "finished" and all(t["status"] in ("ok", "cached") for t in done.trials)


def test_gpu_trials_only_run_on_workers_with_a_gpu_resource(tmp_path, write_config):
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, str(tmp_path)])}
    log = open(tmp_path / "cluster.log", "w")  # noqa: SIM115 - closed below
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              stdout=log, stderr=log, env=env)]
    try:
        for extra in (["--resources", "GPU=1", "--name", "gpu"], ["--name", "cpu"]):
            procs.append(subprocess.Popen([DASK, "worker", address, "--nthreads", "1", "--no-nanny",
                                           "--no-dashboard", *extra], stdout=log, stderr=log, env=env))
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        cfg = natsel.load_config(write_config("""
        fitness: helpers:visible_gpu
        executor: {type: dask, scheduler: ADDR, gpu: true}
        evolution: {population: 6, generations: 1}
        space:
          x: {low: 0, high: 1000}
        """.replace("ADDR", address)))
        run = natsel.evolve(cfg, tmp_path / "run", progress=False)
        pids = {t["metrics"]["pid"] for t in run.trials if t["status"] == "ok"}
        assert pids == {procs[1].pid}  # every trial ran on the worker that has GPU=1
    finally:
        for p in procs:
            p.kill()
            p.wait(10)
        log.close()


TLS_CFG = CFG + """
executor:
  scheduler: ADDR
  timeout: 10
  security:
    ca_file: certs/ca.pem
    cert: certs/natsel.pem
    key: certs/natsel.key
"""


def refused(address: str, security=None, deadline: float = 30.0) -> str:
    """Try to connect as a stranger; the exception's name if refused (fails the test if it connects or hangs)."""
    box: dict = {}

    def attempt() -> None:
        try:
            with distributed.Client(address, timeout=5, security=security, set_as_default=False):
                box["connected"] = True
        except Exception as exc:  # noqa: BLE001 - any refusal will do; the caller checks it happened
            box["error"] = f"{exc.__class__.__name__}: {exc}"

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(deadline)
    assert not thread.is_alive(), f"a client without credentials hung for {deadline}s instead of being refused"
    assert "connected" not in box, f"a client without credentials connected to {address}"
    return box["error"]


def test_tls_cluster_runs_an_evolve_and_refuses_strangers(tmp_path, write_config, tls_certs, capsys):
    tls_certs("natsel")
    cluster = Cluster(tmp_path, {}, certs=tls_certs)
    try:
        assert cluster.address.startswith("tls://127.0.0.1:")
        path = write_config(TLS_CFG.format(fitness="counted_mixed", population=6, generations=2)
                            .replace("ADDR", cluster.address))
        cfg = natsel.load_config(path)  # the relative certificate paths resolve against the config's folder
        assert cfg.executor.security.cert == (tmp_path / "certs" / "natsel.pem").resolve()
        run = natsel.evolve(cfg, tmp_path / "run", progress=False, plots=False)
        assert run.status == "finished" and len(run.trials) == 12
        assert all(t["status"] in ("ok", "cached") for t in run.trials)
        assert "neither encrypted nor authenticated" not in capsys.readouterr().err

        from distributed.security import Security

        # plain tcp to the TLS port: the scheduler drops the connection
        started = time.monotonic()
        assert "closed" in refused(cluster.address.replace("tls://", "tcp://", 1)).lower()
        # TLS, trusting the right CA, but with a certificate from another CA: the handshake is refused
        cert, key = tls_certs("rogue")
        rogue = Security(tls_ca_file=str(tmp_path / "certs" / "ca.pem"), tls_client_cert=str(cert),
                         tls_client_key=str(key), require_encryption=True)
        assert "ssl" in refused(cluster.address, rogue).lower()  # unknown ca, or the connection cut mid-handshake
        assert time.monotonic() - started < 30
        assert cluster.scheduler.poll() is None  # refused, not crashed
        # natsel with that certificate: says who refused it and which file to check (issue 25 item 7)
        from click.testing import CliRunner

        from natsel.cli import main

        res = CliRunner().invoke(main, ["evolve", str(path), "--run-dir", str(tmp_path / "rogue"), "-q",
                                        "--tls-ca-file", str(tmp_path / "certs" / "ca.pem"), "--tls-cert", str(cert),
                                        "--tls-key", str(key)])
        assert res.exit_code == 2, res.output
        line = res.stderr.strip().splitlines()[-1]
        assert line.startswith(f"error: the Dask scheduler at {cluster.address} rejected natsel's certificate ("), line
        assert f"check cert {cert}: it must be signed by the CA the scheduler was started with" in line
        assert not (tmp_path / "rogue").exists()
    finally:
        cluster.stop()


def test_a_worker_that_cannot_import_the_fitness_stops_the_run_before_it_starts(tmp_path, write_config, monkeypatch):
    """Issue 25 item 5: the fitness module is on this machine's path and on worker w0's, not on w1's.
    Before any trial is sent, natsel refuses in one line naming w1 (exit 2, no run folder), instead of
    letting w1 take trials and fail them."""
    from click.testing import CliRunner

    from natsel.cli import main

    ext = tmp_path / "ext"
    ext.mkdir()
    (ext / "extfit.py").write_text("def score(genome):\n    return genome['x']\n")
    monkeypatch.syspath_prepend(str(ext))
    cluster = Cluster(tmp_path, {}, worker_paths=(str(ext), ""))
    try:
        cfg = write_config("""
        fitness: extfit:score
        evolution: {population: 12, generations: 1}
        space:
          x: {low: 0, high: 10}
        """)
        res = CliRunner().invoke(main, ["evolve", str(cfg), "--scheduler", cluster.address,
                                        "--run-dir", str(tmp_path / "run"), "-q"])
        assert res.exit_code == 2, res.output
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1, res.stderr
        assert lines[0].startswith("error: Dask worker w1 (tcp://127.0.0.1:"), lines[0]
        assert "cannot run this run's trials" in lines[0] and "No module named 'extfit'" in lines[0]
        assert not (tmp_path / "run").exists()
    finally:
        cluster.stop()


def test_a_fitness_edited_between_runs_is_what_the_next_run_scores(tmp_path, write_config):
    """Issue 25 item 4: a fitness file edited after a run on the cluster: the next run's workers
    score with the edited function (they built the old one for the first run and keep none of it)."""
    cluster = Cluster(tmp_path, {})
    try:
        (tmp_path / "fit.py").write_text("def score(genome):\n    return genome['x']\n")
        cfg = natsel.load_config(write_config("""
        fitness: fit:score
        evolution: {population: 4, generations: 1}
        space:
          x: {low: 0, high: 10}
        executor: {type: dask, scheduler: ADDR}
        """.replace("ADDR", cluster.address)))
        first = natsel.evolve(cfg, tmp_path / "first", progress=False, plots=False)
        (tmp_path / "fit.py").write_text("def score(genome):\n    return genome['x'] + 1000.0\n")
        cfg = natsel.load_config(tmp_path / "config.yaml")
        second = natsel.evolve(cfg, tmp_path / "second", progress=False, plots=False)
        assert [t["fitness"] + 1000.0 for t in first.trials] == [t["fitness"] for t in second.trials]
    finally:
        cluster.stop()


def test_one_runs_folder_hides_no_standard_module_from_the_next_run_on_the_cluster(cluster, two_folders):
    """A Dask worker put each run's config folder first on its sys.path for good, so on a shared cluster a
    colorsys.py in one run's folder replaced the standard module in the next run's trials."""
    a, b = two_folders
    runs = []
    for folder in (a, b):
        cfg = natsel.load_config(folder / "config.yaml")
        cfg.executor.type, cfg.executor.scheduler = "dask", cluster.address
        runs.append(natsel.evolve(cfg, folder / "run", progress=False, plots=False))
    assert sorted(t["fitness"] for t in runs[0].trials) == [3.0, 6.0]
    assert [t["status"] for t in runs[1].trials] == ["ok", "ok"], [t["error"] for t in runs[1].trials]
    assert sorted(t["fitness"] for t in runs[1].trials) == [1.5, 2.5]
