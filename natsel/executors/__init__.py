"""Executors run trials and hand back results as they finish.

``LocalPool`` (worker processes on this machine) is the default; ``InlineExecutor`` runs
plain-Python fitness functions in the calling process (``workers: 0``); ``DaskExecutor`` sends
trials to a Dask cluster.
"""

from natsel.executors._base import Executor, Result, Task
from natsel.executors._inline import InlineExecutor
from natsel.executors._local import LocalPool

__all__ = ["Executor", "InlineExecutor", "LocalPool", "Result", "Task"]
