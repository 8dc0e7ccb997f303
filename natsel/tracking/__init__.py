"""Trackers: a run's trials mirrored where users already look (Optuna's dashboard, MLflow).

A tracker is a callback of the evolution loop (:class:`natsel._progress.Callbacks`), one class per
tool. It never writes trial data of natsel's own and never holds the search up: each stored result
only wakes a background thread, which reads the run store (the truth) and sends the finished trials
the tool does not have yet. A tool that fails (a bad URL, a server gone mid-run) is warned about
once; the search goes on, later wake-ups try again, and the end of the run waits at most
``tracking.timeout`` seconds for the last of it. ``natsel export`` is the same sending, done once.

The tools themselves (``optuna``, ``mlflow``) are imported only when a config or command asks for them.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from natsel._progress import Callbacks
from natsel._trial import Result, Status, TrialRow
from natsel.tracking._base import Target

if TYPE_CHECKING:
    from natsel._run import Run
    from natsel._settings import Config, Tracking
    from natsel._stop import Stopper


def finished(run: Run) -> list[TrialRow]:
    """The trials a tracker sends: every finished one (pending trials are sent once they finish)."""
    return [t for t in run.trials if Status(t["status"]).finished]


class Mirror:
    """Sends a run's finished trials to a target, remembering what it sent (across calls)."""

    def __init__(self, target: Target, run_path: Path) -> None:
        self.target = target
        self.run_path = Path(run_path)
        self.sent: set[int] | None = None  # None: not connected yet

    def sync(self, final: bool = False) -> int:
        """Send what the target lacks; returns how many trials were sent. Raises what the tool raises."""
        from natsel._run import Run

        run = Run(self.run_path)
        if self.sent is None:
            self.sent = set(self.target.connect(run))
        n = 0
        for row in finished(run):
            if row["id"] not in self.sent:
                self.target.send(run, row)
                self.sent.add(row["id"])
                n += 1
        self.target.finish(run, final)
        return n


class Tracker(Callbacks):
    """Mirrors a running search to one target from a background thread (see the module's text)."""

    def __init__(self, target: Target, run_path: Path, timeout: float = 30.0) -> None:
        self.mirror = Mirror(target, run_path)
        self.target = target
        self.timeout = timeout
        self.warned = False
        self.error: str | None = None
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None

    # -- the loop's side: never waits ----------------------------------------------------------
    def start(self, generations: int | None, first: int, stop: Stopper | None = None) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=f"natsel-{self.target.tool}", daemon=True)
            self._thread.start()
        self._wake.set()  # a resume: send what an earlier session stored

    def generation_start(self, g: int, trials: int, best: float | None) -> None:
        self._wake.set()  # cache hits were stored without a result

    def result(self, res: Result) -> None:
        self._wake.set()

    def close(self) -> None:
        """Send what is left: wait at most ``timeout`` seconds, then leave the thread (a daemon) behind."""
        if self._thread is None:
            return
        self._stop = True
        self._wake.set()
        self._thread.join(self.timeout)
        if self._thread.is_alive():
            self._warn(f"not done after {self.timeout:g} s (tracking.timeout)", ending=True)
        self._thread = None

    # -- the background thread ---------------------------------------------------------------
    def _work(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            last = self._stop
            try:
                self.mirror.sync(final=last)
                self.error = None
            except Exception as exc:  # noqa: BLE001 - a tracking tool must never cost the user their search
                self.error = describe(exc)
                self._warn(self.error)
            if last:
                return

    def _warn(self, what: str, ending: bool = False) -> None:
        if self.warned:
            return
        self.warned = True
        t = self.target
        then = ("the search has ended; send the trials not sent by" if ending else
                "the search goes on, trials not sent are sent again later and at its end, or by")
        print(f"natsel: warning: tracking to {t.tool} ({t.url}) failed: {what}; {then}: "
              f"{t.export_hint(self.mirror.run_path)}", file=sys.stderr, flush=True)


def describe(exc: BaseException) -> str:
    """``Type: first line`` of an exception, short."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{exc.__class__.__name__}: {text}"[:300]


def targets(tracking: Tracking, run_path: Path, config_name: str) -> list[Target]:
    """The targets a ``tracking:`` section names (the tools are imported when a target connects)."""
    out: list[Target] = []
    if tracking.optuna:
        from natsel.tracking._optuna import OptunaTarget

        out.append(OptunaTarget(tracking.optuna, tracking.study))
    if tracking.mlflow:
        from natsel.tracking._mlflow import MlflowTarget

        out.append(MlflowTarget(tracking.mlflow, tracking.experiment or config_name))
    return out


def trackers(cfg: Config, run_path: Path) -> list[Callbacks]:
    """The loop callbacks of a config's ``tracking:`` section (none without one)."""
    if cfg.tracking is None:
        return []
    return [Tracker(t, run_path, cfg.tracking.timeout) for t in targets(cfg.tracking, run_path, cfg.name)]


def export(run_dir: str | Path, *, optuna: str | None = None, study: str | None = None, mlflow: str | None = None,
           experiment: str | None = None) -> dict[str, int]:
    """Send a run's finished trials to Optuna and/or MLflow once (only those not there yet); returns
    how many trials each tool got. Errors of the tools are raised."""
    from natsel._run import Run
    from natsel._settings import Tracking

    path = Path(run_dir)
    run = Run(path)  # a folder that is not a run: one line, before anything is sent
    name = experiment or str(run.meta.get("config_name") or path.name)
    out: dict[str, int] = {}
    for target in targets(Tracking(optuna=optuna, study=study, mlflow=mlflow, experiment=experiment), path,
                          Path(name).stem):
        out[target.tool] = Mirror(target, path).sync(final=True)
    return out


__all__ = ["Mirror", "Target", "Tracker", "describe", "export", "trackers"]
