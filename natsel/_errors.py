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
