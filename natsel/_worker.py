"""The child processes' main functions: a pool worker, and the train-best trainer.

Both start the same way (:func:`natsel._child.start_child`): no part in Ctrl-C, death with the
parent, then the payload over natsel's own pipe.
"""

from __future__ import annotations

import os
from multiprocessing.connection import Connection
from typing import Any

from natsel._child import GONE, start_child
from natsel._trial import Result


def worker_main(conn: Connection, init: dict[str, Any]) -> None:
    """Entry point of a worker process (spawned by :class:`natsel.executors.LocalPool`)."""
    from natsel._trial import error_line
    from natsel.objectives import build_objective

    payload = start_child(conn, init)
    if payload is GONE:
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
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a failing trial (sys.exit too) must not kill the worker
            result = Result(task.trial_id, "failed", error=error_line(exc))
        conn.send(("result", result))


def train_best_main(conn: Connection, init: dict[str, Any]) -> None:
    """Entry point of the train-best process: trains one genome fully and saves the model.

    Sends ``("epoch", n, logs)`` after every epoch, then ``("done", info)`` or ``("error", text)``.
    """
    from natsel._trial import error_line

    payload = start_child(conn, init)
    if payload is GONE:
        return
    try:
        from natsel.objectives.keras.train import train_fully

        info = train_fully({**init, "payload": payload}, lambda n, logs: conn.send(("epoch", n, logs)))
        conn.send(("done", info))
    except Exception as exc:  # noqa: BLE001 - reported to the parent in one line
        conn.send(("error", error_line(exc)))
    conn.close()
