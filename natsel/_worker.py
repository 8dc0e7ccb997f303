"""The worker process: builds its objective once, then scores genomes until told to stop.

It never takes part in Ctrl-C (the parent decides), and it dies with its parent: on Linux the
kernel kills it when the parent dies (PR_SET_PDEATHSIG); everywhere a watchdog thread notices
that the parent is gone within a second.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from natsel.executors._base import Result


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True, name="natsel-parent-watch").start()
    if os.getppid() != parent_pid:  # the parent died before the watch started
        os._exit(1)


_GONE = object()


def _receive_payload(conn: Connection) -> Any:
    """Say hello, then receive the data over our own pipe.

    The data never travels in the spawn arguments: CPython's parent keeps the child's end of the
    spawn pipe open until it has written everything, so a child that died before reading a payload
    larger than the pipe buffer would leave the parent blocked in write() forever. On our pipe a
    dead child is a broken pipe, which the parent handles.
    """
    try:
        conn.send(("hello", os.getpid()))
        msg = conn.recv()
    except (EOFError, OSError):
        return _GONE
    if msg[0] != "payload":  # told to stop before the data came: the run ended first
        return _GONE
    return msg[1]


def worker_main(conn: Connection, init: dict[str, Any]) -> None:
    """Entry point of a worker process (spawned by :class:`natsel.executors.LocalPool`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(init["parent_pid"])
    os.environ.update(init.get("env", {}))
    from natsel._objective import build_objective, error_line

    payload = _receive_payload(conn)
    if payload is _GONE:
        return
    try:
        objective = build_objective(init["objective"], payload)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which stops the run
        conn.send(("init_error", error_line(exc)))
        conn.close()
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "stop":
            conn.close()
            return
        task = msg[1]
        try:
            result = objective(task)
        except Exception as exc:  # noqa: BLE001 - a failing trial must not kill the worker
            result = Result(task.trial_id, "failed", error=error_line(exc))
        conn.send(("result", result))


def train_best_main(conn: Connection, init: dict[str, Any]) -> None:
    """Entry point of the train-best process: trains one genome fully and saves the model.

    Sends ``("epoch", n, logs)`` after every epoch, then ``("done", info)`` or ``("error", text)``.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(init["parent_pid"])
    from natsel._objective import error_line

    payload = _receive_payload(conn)
    if payload is _GONE:
        return
    try:
        from natsel._keras import train_fully

        info = train_fully({**init, "payload": payload}, lambda n, logs: conn.send(("epoch", n, logs)))
        conn.send(("done", info))
    except Exception as exc:  # noqa: BLE001 - reported to the parent in one line
        conn.send(("error", error_line(exc)))
    conn.close()
