"""Fitness functions the tests point configs at (copied next to each test's config)."""

from __future__ import annotations

import math
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
    """``mixed``, logging every call; kills its own process (kill -9) after NATSEL_TEST_KILL_AFTER calls;
    takes NATSEL_TEST_SLEEP seconds per call (a trial that costs time, for the timeout stop rule)."""
    CALLS.append(dict(genome))
    _log(genome)
    if os.environ.get("NATSEL_TEST_SLEEP"):
        import time

        time.sleep(float(os.environ["NATSEL_TEST_SLEEP"]))
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
    _budgeted_call(genome, budget)
    return mixed(genome) - 1.0 / budget - 0.01 * (len(genome["activation"]) % 3) / budget


def _budgeted_call(genome: dict, budget: float) -> None:
    """Records a call of a budgeted fitness: in CALLS, as '<key>|<budget>' in NATSEL_TEST_LOG; kills its
    own process (kill -9) after NATSEL_TEST_KILL_AFTER calls."""
    from natsel import genome_key

    CALLS.append(dict(genome))
    path = os.environ.get("NATSEL_TEST_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{genome_key(genome)}|{budget:g}\n")
    limit = os.environ.get("NATSEL_TEST_KILL_AFTER")
    if limit and len(CALLS) >= int(limit):
        os.kill(os.getpid(), signal.SIGKILL)


def settling(genome: dict, budget: float) -> dict:
    """A training run that stops on its own: a genome with an odd number of ``layers`` stops improving
    after 2 epochs, so a budget above that trains the same 2 epochs and reports ``early_stopped``; the
    others train their whole budget. Logs like ``budgeted_mixed`` (and kills itself the same way)."""
    epochs = min(float(budget), 2.0 if genome["layers"] % 2 else float("inf"))
    out = budgeted_mixed(genome, epochs)
    return {"fitness": out, "early_stopped": epochs < budget, "epochs": epochs}


def slow(genome: dict) -> float:
    """Sleeps ``genome["nap"]`` seconds, then returns ``x``."""
    import time

    _log(genome)
    time.sleep(float(genome.get("nap", 0)))
    return float(genome["x"])


def dies_once(genome: dict) -> float:
    """Kills its own worker (os._exit) the first time it sees a genome (a marker file per genome in
    NATSEL_TEST_MARKS), as a worker lost to the machine's memory would be; scores it the next time."""
    from natsel import genome_key

    _log(genome)
    mark = os.path.join(os.environ["NATSEL_TEST_MARKS"], genome_key(genome).replace("/", "_")[:80])
    if not os.path.exists(mark):
        open(mark, "w").close()
        os._exit(9)
    return float(genome["x"])


def exits(genome: dict) -> float:
    """A wrapped training script that ends with sys.exit() for odd ``x``."""
    _log(genome)
    if genome["x"] % 2:
        sys.exit(3)
    return float(genome["x"])


def noisy(genome: dict) -> float:
    """``x`` plus a draw from NumPy's and Python's global generators (as a scikit-learn model's would be)."""
    import random

    import numpy as np

    return float(genome["x"]) + float(np.random.rand()) + random.random()


def no_budget(genome: dict) -> float:
    return float(genome["x"])


def mixed_stretched(genome: dict) -> float:
    """``mixed`` through a steep increasing transform (scores from 0 down to about -1e33): the same
    order of genomes, a very different scale."""
    return 1.0 - math.exp(-10.0 * mixed(genome))


def mixed_bounded(genome: dict) -> float:
    """``mixed`` as an accuracy-like score in (0, 1] (1 at the optimum): the same order of genomes, its bad
    tail squeezed towards 0 instead of stretched (``mixed`` reaches -7.75, so a search that draws the
    range's ends can put scores past the far-out fence)."""
    return math.exp(mixed(genome))


def mixed_x(genome: dict) -> float:
    """``x`` as the fitness (a numeric gene ``x``)."""
    _log(genome)
    return float(genome["x"])


def served(genome: dict, budget: float, seed: int) -> float:
    """A score that depends on everything it is given: the genome (active genes only), the budget, the
    trial seed, and draws from NumPy's global generator. Kills its own process (kill -9) after
    NATSEL_TEST_KILL_AFTER calls; logs like ``budgeted_mixed``."""
    import zlib

    import numpy as np

    from natsel import genome_key

    _budgeted_call(genome, budget)
    base = (zlib.crc32(genome_key(genome).encode()) % 1000) / 1000
    return base - 1.0 / budget + 0.01 * float(np.random.rand()) + (seed % 7) / 1000


def noise_only(genome: dict, seed: int) -> float:
    """One level plus trial noise, whatever the genome: a plateau."""
    import numpy as np

    return 0.3 + 0.01 * float(np.random.default_rng(seed).normal())


def tracked(genome: dict) -> float:
    """A score from every active gene; raises for ``act: sigmoid`` (a failed trial). After
    NATSEL_TEST_GATE_AFTER calls, each call waits (at most 60 s) until the file NATSEL_TEST_RELEASE exists:
    a search that is still going while a test looks at what it has mirrored so far."""
    import math
    import time

    CALLS.append(dict(genome))
    gate, release = os.environ.get("NATSEL_TEST_GATE_AFTER"), os.environ.get("NATSEL_TEST_RELEASE")
    if gate and release and len(CALLS) > int(gate):
        end = time.monotonic() + 60
        while not os.path.exists(release) and time.monotonic() < end:
            time.sleep(0.01)
    if genome["act"] == "sigmoid":
        raise RuntimeError("sigmoid is not allowed here")
    score = {"relu": 0.0, "elu": 0.3, "tanh": -0.5}[genome["act"]] - (math.log10(genome["lr"]) + 2.5) ** 2
    score -= 0.1 * sum(abs(genome.get(f"n{i}", 0) - 32) / 32 for i in range(genome["layers"]))
    return score - 0.05 * genome.get("drop", 0.0)


def budgeted_pair(genome: dict, budget: float = 9.0) -> dict:
    """Two objectives from ``budgeted_mixed``'s landscape: ``score`` (maximise) and ``size`` (minimise,
    grows with the layers and the batch), plus ``memory`` for a constraint; logs and kills as
    ``_budgeted_call`` says. ``NATSEL_TEST_DROP`` names a value it leaves out."""
    _budgeted_call(genome, budget)
    out = {"score": mixed(genome) - 1.0 / budget, "size": float(genome["layers"]) * 10 + genome["batch_size"] / 16,
           "memory": float(genome["layers"] * genome["batch_size"])}
    out.pop(os.environ.get("NATSEL_TEST_DROP", ""), None)
    return out
