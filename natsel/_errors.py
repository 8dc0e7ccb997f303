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


#: Exit code of a spawned process that found itself re-running an unguarded script (see below).
EXIT_UNGUARDED = 78

UNGUARDED_MESSAGE = ("the script that calls natsel must guard the call with: if __name__ == '__main__': "
                     "(natsel's worker processes import the script, and without the guard each would start a "
                     "search of its own)")


def in_bootstrapping_child() -> bool:
    """True while a spawned process is still importing its parent's main script.

    ``multiprocessing`` marks the process ``_inheriting`` for exactly that phase; ``parent_process()``
    is still ``None`` then, so it cannot tell.
    """
    import multiprocessing as mp

    return bool(getattr(mp.current_process(), "_inheriting", False))


def refuse_in_bootstrapping_child(what: str) -> None:
    """Stop a spawned process that is re-running an unguarded script, before it does any work.

    That happens when a script calls natsel without ``if __name__ == "__main__":``: every worker
    would re-run the script and start a search of its own. The child says so in one line and exits
    with :data:`EXIT_UNGUARDED`, which the parent turns into the same one-line error.
    """
    if in_bootstrapping_child():
        import sys

        print(f"natsel: {what} was called while a worker process was starting: {UNGUARDED_MESSAGE}", file=sys.stderr)
        raise SystemExit(EXIT_UNGUARDED)
