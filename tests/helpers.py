"""Fitness functions the tests point configs at (copied next to each test's config)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import types

from natsel.examples import mixed

# Each test's folder holds its own copy of this module, and natsel imports the copy next to the config
# (never a same-named module from another folder), so the calls are kept in one list for all copies.
_shared = sys.modules.setdefault("natsel_test_shared", types.ModuleType("natsel_test_shared"))
if not hasattr(_shared, "CALLS"):
    _shared.CALLS = []
CALLS: list[dict] = _shared.CALLS


def _log(genome: dict) -> None:
    path = os.environ.get("NATSEL_TEST_LOG")
    if path:
        from natsel import genome_key

        with open(path, "a", encoding="utf-8") as f:
            f.write(genome_key(genome) + "\n")


def counted_mixed(genome: dict) -> float:
    """``mixed``, logging every call; kills its own process (kill -9) after NATSEL_TEST_KILL_AFTER calls."""
    CALLS.append(dict(genome))
    _log(genome)
    limit = os.environ.get("NATSEL_TEST_KILL_AFTER")
    if limit and len(CALLS) >= int(limit):
        os.kill(os.getpid(), signal.SIGKILL)
    return mixed(genome)


def misbehave(genome: dict) -> float:
    """Fails in the way gene ``mode`` says: raise, exit (os._exit), segv, hang; else returns x."""
    _log(genome)
    mode = genome["mode"]
    if mode == "raise":
        raise RuntimeError("boom from the fitness function")
    if mode == "exit":
        os._exit(3)
    if mode == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    if mode == "hang":
        threading.Event().wait()
    return float(genome["x"])


def constant(genome: dict) -> float:
    _log(genome)
    return 1.0


def held(genome: dict) -> float:
    """Logs '<pid> <key>' and waits (at most 60 s) until the file NATSEL_TEST_RELEASE exists."""
    import time

    from natsel import genome_key

    path = os.environ.get("NATSEL_TEST_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {genome_key(genome)}\n")
    release = os.environ.get("NATSEL_TEST_RELEASE")
    end = time.monotonic() + 60
    while release and not os.path.exists(release) and time.monotonic() < end:
        time.sleep(0.01)
    return mixed(genome)


def visible_gpu(genome: dict) -> dict:
    """Reports the CUDA_VISIBLE_DEVICES this process was started with, and its pid."""
    _log(genome)
    return {"fitness": float(genome["x"]), "gpu": os.environ.get("CUDA_VISIBLE_DEVICES", "unset"),
            "pid": os.getpid()}


def budgeted_mixed(genome: dict, budget: float) -> float:
    """``mixed`` seen through a budget: a low budget sees a blurred landscape (a bias that shrinks
    as the budget grows, as a network trained for fewer epochs looks). Logs '<key> <budget>';
    kills its own process (kill -9) after NATSEL_TEST_KILL_AFTER calls."""
    from natsel import genome_key

    CALLS.append(dict(genome))
    path = os.environ.get("NATSEL_TEST_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{genome_key(genome)}|{budget:g}\n")
    limit = os.environ.get("NATSEL_TEST_KILL_AFTER")
    if limit and len(CALLS) >= int(limit):
        os.kill(os.getpid(), signal.SIGKILL)
    return mixed(genome) - 1.0 / budget - 0.01 * (len(genome["activation"]) % 3) / budget


def settling(genome: dict, budget: float) -> dict:
    """A training run that stops on its own: a genome with an odd number of ``layers`` stops improving
    after 2 epochs, so a budget above that trains the same 2 epochs and reports ``early_stopped``; the
    others train their whole budget. Logs like ``budgeted_mixed`` (and kills itself the same way)."""
    epochs = min(float(budget), 2.0 if genome["layers"] % 2 else float("inf"))
    out = budgeted_mixed(genome, epochs)
    return {"fitness": out, "early_stopped": epochs < budget, "epochs": epochs}
