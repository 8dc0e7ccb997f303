"""Examples: plain-Python fitness functions with known optima, and a Keras model builder (:mod:`.models`).

``mixed`` mixes a categorical, an integer, a choice of numbers and a log-scaled float gene.
Its maximum, 0, is at ``activation=elu, batch_size=64, layers=5, learning_rate=10**-2.5``.
"""

from __future__ import annotations

import math
from typing import Any

MIXED_OPTIMUM = {"activation": "elu", "batch_size": 64, "layers": 5, "learning_rate": 10 ** -2.5}


def mixed(genome: dict[str, Any]) -> float:
    """Maximum 0 at :data:`MIXED_OPTIMUM`; every gene matters."""
    score = 0.0 if genome["activation"] == "elu" else -1.0
    score -= 0.0 if genome["batch_size"] == 64 else 0.5
    score -= 0.25 * (genome["layers"] - 5) ** 2
    score -= (math.log10(genome["learning_rate"]) + 2.5) ** 2
    return score


def sphere(genome: dict[str, Any]) -> dict[str, float]:
    """Sum of squares of every numeric gene (minimise); returns a dict with extra metrics."""
    values = [float(v) for v in genome.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return {"fitness": sum(v * v for v in values), "n": float(len(values))}
