"""What a tracking tool is to natsel (a module of its own: the tools' modules import nothing else of
the package, so the importance code can use the Optuna export without the loop's callbacks)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from natsel._trial import TrialRow

if TYPE_CHECKING:
    from natsel._run import Run


class Target:
    """One tool a run is mirrored to: ``connect`` once, then ``send`` finished trials it lacks."""

    #: the tool's name, as the config and messages say it
    tool = "tool"

    def __init__(self, url: str) -> None:
        self.url = url

    def connect(self, run: Run) -> set[int]:
        """Open the tool's side of ``run`` (made if missing); the natsel trial ids it already holds."""
        raise NotImplementedError

    def send(self, run: Run, row: TrialRow) -> None:
        """Record one finished trial."""
        raise NotImplementedError

    def finish(self, run: Run, final: bool = False) -> None:
        """After a sync (``final``: the last one of a session: the run is ending); the default does nothing."""

    def export_hint(self, run_path: Path) -> str:
        return f"natsel export {run_path} --{self.tool} {self.url}"
