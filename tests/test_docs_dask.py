"""docs/dask.md's commands, run as written on loopback: the addresses A and B are 127.0.0.1, the
documented ports are replaced by free ones (the machine is shared), and the config is a tiny one.
Every process they start must listen on 127.0.0.1 only (read from the kernel's socket table)."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import natsel

pytestmark = pytest.mark.dask
distributed = pytest.importorskip("distributed")
DOC = Path(__file__).resolve().parent.parent / "docs" / "dask.md"
BIN = Path(sys.executable).parent
ROOT = str(Path(natsel.__file__).resolve().parent.parent)
TINY = "fitness: fit:score\nevolution: {population: 2, generations: 1}\nspace:\n  x: {low: 0, high: 10}\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def blocks(section: str) -> list[str]:
    """The ```bash blocks of the part of docs/dask.md under the heading that starts with ``section``."""
    text = DOC.read_text(encoding="utf-8")
    part = re.split(r"\n#{2,} ", text)  # headings; a comment in a block has one #
    body = next(p for p in part if p.startswith(section))
    return re.findall(r"```bash\n(.*?)```", body, re.S)


def commands(block: str) -> list[str]:
    """The block's commands, continuation lines joined, comments dropped."""
    joined = block.replace("\\\n", " ")
    return [line.split(" #", 1)[0].strip() for line in joined.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def on_loopback(command: str, ports: dict[str, str], config: Path) -> list[str]:
    command = re.sub(r"(?<=//)[AB](?=:)", "127.0.0.1", command)
    command = re.sub(r"--host [AB]\b", "--host 127.0.0.1", command)
    command = re.sub(r"\b87(8[6-9]|9[0-3])\b", lambda m: ports.setdefault(m.group(0), str(free_port())), command)
    command = command.replace("configs/naturalselection.yaml", str(config))
    argv = shlex.split(command)
    if (BIN / argv[0]).exists():
        argv[0] = str(BIN / argv[0])
    return argv


def tree(pid: int) -> set[int]:
    """``pid`` and its descendants (a worker's nanny starts the worker process)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        out.add(p)
        todo += [c for c, pp in parents.items() if pp == p]
    return out


def listening(pids: set[int]) -> list[tuple[str, int]]:
    """The TCP sockets the processes ``pids`` listen on, from /proc/net/tcp and tcp6."""
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    out = []
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            f = line.split()
            if f[3] != "0A" or f[9] not in inodes:  # 0A: LISTEN
                continue
            ip, port = f[1].split(":")
            raw = bytes.fromhex(ip)
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))  # each 32-bit word is host-order
            out.append((socket.inet_ntop(family, raw), int(port, 16)))
    return sorted(out)


def start_cluster(argvs: list[list[str]], cwd: Path, log: Path, security=None) -> tuple[list, str]:
    env = {**os.environ, "PYTHONPATH": ROOT}
    out = open(log, "w")  # noqa: SIM115 - the processes write to it until the test ends
    procs = [subprocess.Popen(a, cwd=cwd, stdout=out, stderr=out, env=env) for a in argvs]
    address = next(a[2] for a in argvs if a[1] == "worker")
    with distributed.Client(address, timeout=60, security=security, set_as_default=False) as client:
        client.wait_for_workers(1, timeout=90)
    return procs, address


def stop(procs: list) -> None:
    for p in procs:
        for pid in sorted(tree(p.pid), reverse=True):
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        p.wait(10)


def check_loopback_only(procs: list) -> None:
    scheduler, worker = listening(tree(procs[0].pid)), listening(tree(procs[1].pid))
    assert len(scheduler) == 2 and len(worker) == 3, (scheduler, worker)  # comm + HTTP; worker, nanny, HTTP
    assert {ip for ip, _ in scheduler + worker} == {"127.0.0.1"}, (scheduler, worker)


def test_plain_setup_as_documented_listens_on_loopback_only(tmp_path):
    """Issue 25 item 8: the plain-tcp commands bind every socket to 127.0.0.1 (the worker once
    listened on 0.0.0.0 and [::], and served HTTP on 0.0.0.0 even with --no-dashboard)."""
    (tmp_path / "fit.py").write_text("def score(genome):\n    return genome['x']\n")
    (tmp_path / "tiny.yaml").write_text(TINY)
    cmds = commands(blocks("Plain `tcp://`")[0])
    assert [c.split()[:2] for c in cmds] == [["dask", "scheduler"], ["dask", "worker"], ["natsel", "evolve"]]
    ports: dict[str, str] = {}
    argvs = [on_loopback(c, ports, tmp_path / "tiny.yaml") for c in cmds]
    procs, _ = start_cluster(argvs[:2], tmp_path, tmp_path / "cluster.log")
    try:
        check_loopback_only(procs)
        res = subprocess.run(argvs[2], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONPATH": ROOT})
        assert res.returncode == 0, res.stderr
    finally:
        stop(procs)


def test_tls_setup_as_documented_listens_on_loopback_only(tmp_path):
    """Issue 25 item 8: the CA block, then the TLS scheduler and worker commands from the certs folder,
    then natsel's command: every socket on 127.0.0.1, and the run goes through."""
    if not (BIN / "openssl").exists() and subprocess.run(["which", "openssl"], capture_output=True).returncode:
        pytest.skip("needs the openssl command")
    ca_block, scheduler, worker, natsel_cmd = (*blocks("1. Make a CA"), *blocks("2. Start the scheduler")[:2],
                                               blocks("3. Point natsel")[0])
    subprocess.run(["bash", "-e", "-c", ca_block], cwd=tmp_path, check=True, capture_output=True, timeout=120)
    (tmp_path / "fit.py").write_text("def score(genome):\n    return genome['x']\n")
    (tmp_path / "tiny.yaml").write_text(TINY)
    ports: dict[str, str] = {}
    argvs = [on_loopback(c, ports, tmp_path / "tiny.yaml") for b in (scheduler, worker) for c in commands(b)]
    assert [a[1] for a in argvs] == ["scheduler", "worker"]
    from distributed.security import Security

    certs = tmp_path / "certs"
    security = Security(tls_ca_file=str(certs / "ca.pem"), tls_client_cert=str(certs / "natsel.pem"),
                        tls_client_key=str(certs / "natsel.key"), require_encryption=True)
    procs, _ = start_cluster(argvs, certs, tmp_path / "cluster.log", security)
    try:
        check_loopback_only(procs)
        (run,) = [on_loopback(c, ports, tmp_path / "tiny.yaml") for c in commands(natsel_cmd)]
        res = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONPATH": ROOT})
        assert res.returncode == 0, res.stderr
    finally:
        stop(procs)
