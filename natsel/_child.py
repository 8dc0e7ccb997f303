"""Child processes that natsel spawns (pool workers, the train-best trainer), both sides of the pipe.

The protocol, the same for every child:

1. the parent spawns the child with a small ``init`` dict (never the data) and keeps one end of a
   pipe; the child ignores Ctrl-C (the parent decides) and dies with its parent (Linux:
   ``PR_SET_PDEATHSIG``; everywhere a watchdog thread notices within a second);
2. the child says ``("hello", pid)``; the parent answers ``("payload", data)`` (or ``("stop",)``
   if the run ended first);
3. then the child's own messages (results, epochs, errors) until it is told to stop or killed.

The data never travels in the spawn arguments: CPython's parent keeps the child's end of the spawn
pipe open until it has written everything, so a child that died before reading a payload larger
than the pipe buffer would leave the parent blocked in write() forever. On natsel's pipe a dead
child is a broken pipe, which the parent handles.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

#: what :func:`receive_payload` returns when the parent went away or said stop
GONE = object()


class Child:
    """The parent's handle on one spawned child."""

    def __init__(self, ctx: Any, target: Callable[[Connection, dict[str, Any]], None], init: dict[str, Any],
                 name: str) -> None:
        self.conn, child_conn = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(child_conn, {"parent_pid": os.getpid(), **init}), daemon=True,
                                name=name)
        self.proc.start()
        child_conn.close()

    def answer_hello(self, payload: Any) -> bool:
        """Send the payload; False if the child died meanwhile (its death shows on the next poll)."""
        try:
            self.conn.send(("payload", payload))
            return True
        except OSError:
            return False

    def send(self, msg: tuple[Any, ...]) -> bool:
        try:
            self.conn.send(msg)
            return True
        except OSError:
            return False

    def end(self, timeout: float = 5.0, kill: bool = False) -> None:
        """Stop the child (ask it, or kill it at once) and reap it; at most ``timeout`` seconds."""
        if kill and self.proc.is_alive():
            self.proc.kill()
        elif not kill:
            self.send(("stop",))
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(2.0)
        self.conn.close()


def start_child(conn: Connection, init: dict[str, Any]) -> Any:
    """The child's first steps: leave Ctrl-C to the parent, die with it, take its env, get the payload."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(init["parent_pid"])
    os.environ.update(init.get("env", {}))
    return receive_payload(conn)


def die_with_parent(parent_pid: int) -> None:
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


def receive_payload(conn: Connection) -> Any:
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
        return GONE
    if msg[0] != "payload":  # told to stop before the data came: the run ended first
        return GONE
    return msg[1]


