"""Errors that the CLI turns into one line and exit code 2."""

from __future__ import annotations


class NatselError(Exception):
    """A problem with the user's input (config, data, paths, run folders).

    The CLI prints ``error: <message>`` and exits with code 2. ``where`` is an
    optional location such as ``config.yaml:12``; it is put in front of the message.
    """

    def __init__(self, message: str, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(NatselError):
    """The YAML config or its search space is invalid."""


class DataError(NatselError):
    """The data named by the config cannot be loaded or split."""


class RunDirError(NatselError):
    """A folder given as a run folder is not one, or cannot be used."""


class WorkerStartError(NatselError):
    """A worker process could not start (its objective or TensorFlow failed to load)."""


def refuse_in_bootstrapping_child(what: str) -> None:
    """Fail at once when called while a spawned process is still importing its parent's script.

    That happens when a script calls natsel without ``if __name__ == "__main__":``: every worker
    would re-run the script and start a search of its own.
    """
    import multiprocessing as mp

    if mp.parent_process() is not None and getattr(mp.current_process(), "_inheriting", False):
        raise RuntimeError(f"{what} was called while a worker process was starting: the script that calls "
                           "natsel must guard the call with: if __name__ == '__main__':")
