"""Pure-Python hyperparameter-like problems with a known optimum, for ``bench/search.py``.

Every problem is maximised and normalised so that its optimum fitness is exactly 1.0 (a genome
listed in ``OPTIMA`` scores 1.0; every fitness lies in [0, 1], the noisy one's observed value
aside). Each has a natsel ``space:`` dict (the YAML form natsel configs use: lists are choices,
``{low, high, log, step}`` are ranges) and a function ``f(genome, seed=None) -> float`` that natsel
can call directly (``fitness: "problems:<name>"``; natsel passes the trial seed).

``bump(x, x0, w) = exp(-((x - x0) / w) ** 2)`` is the smooth "score near a best value" used below.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Genome = dict[str, Any]


def bump(x: float, x0: float, w: float) -> float:
    """1 at ``x0``, falling as a Gaussian of width ``w``."""
    return math.exp(-(((x - x0) / w) ** 2))


def _lg(x: float) -> float:
    return math.log10(float(x))


# --- 1. separable ---------------------------------------------------------------------------

SEPARABLE_SPACE: dict[str, Any] = {
    "optimizer": ["sgd", "rmsprop", "adam", "nadam"],
    "batch_size": [16, 32, 64, 128, 256],
    "layers": {"low": 1, "high": 8},
    "units": {"low": 16, "high": 1024, "log": True},
    "learning_rate": {"low": 1e-5, "high": 1e-1, "log": True},
    "dropout": {"low": 0.0, "high": 0.6},
}
_SEP_OPT = {"sgd": 0.3, "rmsprop": 0.7, "adam": 1.0, "nadam": 0.85}
_SEP_BATCH = {16: 0.6, 32: 0.85, 64: 1.0, 128: 0.8, 256: 0.5}


def separable(genome: Genome, seed: int | None = None) -> float:
    """Separable: a weighted sum of one score in [0, 1] per gene (weights sum to 1).

    optimizer (0.15; adam 1, nadam .85, rmsprop .7, sgd .3), batch_size (0.1; 64 best),
    layers (0.15; bump at 4, width 2.5), units (0.15; bump at log2 = 8 i.e. 256, width 1.5 octaves),
    learning_rate (0.3; bump at log10(0.003), width 0.5 decades), dropout (0.15; bump at 0.2, width 0.15).
    Optimum 1.0 at adam, 64, 4 layers, 256 units, lr 0.003, dropout 0.2.
    """
    g = genome
    return (0.15 * _SEP_OPT[g["optimizer"]] + 0.1 * _SEP_BATCH[int(g["batch_size"])]
            + 0.15 * bump(g["layers"], 4, 2.5) + 0.15 * bump(math.log2(g["units"]), 8, 1.5)
            + 0.3 * bump(_lg(g["learning_rate"]), _lg(0.003), 0.5) + 0.15 * bump(g["dropout"], 0.2, 0.15))


# --- 2. categorical x continuous interaction --------------------------------------------------

INTERACTION_SPACE: dict[str, Any] = {
    "optimizer": ["sgd", "momentum", "rmsprop", "adam", "adagrad"],
    "batch_size": [16, 32, 64, 128, 256, 512],
    "learning_rate": {"low": 1e-5, "high": 1.0, "log": True},
    "weight_decay": {"low": 1e-6, "high": 1e-2, "log": True},
    "warmup": {"low": 0, "high": 10},
}
#: (peak height, best log10 learning rate at batch 64, best log10 weight decay, best warmup epochs)
_INTER = {
    "sgd": (0.86, -1.0, -3.0, 0),
    "momentum": (0.94, -1.7, -3.5, 0),
    "rmsprop": (0.95, -3.3, -4.5, 2),
    "adam": (1.0, math.log10(0.002), -4.0, 3),
    "adagrad": (0.88, -1.5, -4.0, 0),
}


def interaction(genome: Genome, seed: int | None = None) -> float:
    """Strong optimizer x learning-rate x batch-size interaction (a product of factors).

    Each optimizer has its own peak height and best log10 learning rate (sgd -1.0, momentum -1.7,
    rmsprop -3.3, adam log10(0.002) ~ -2.7, adagrad -1.5), shifted by +0.15 per doubling of the batch size above 64
    (the linear-scaling rule), with a narrow ridge of width 0.3 decades in a 5-decade range; each also
    has its own best weight decay (factor 0.85..1) and warmup (factor 0.9..1); batch size costs 2% per
    octave away from 64. Optimum 1.0 at adam, batch 64, lr 0.002, weight_decay 1e-4, warmup 3. The other optimizers' peaks (.86-.95) are local optima.
    """
    peak, lr0, wd0, wu0 = _INTER[genome["optimizer"]]
    octaves = math.log2(int(genome["batch_size"]) / 64)
    lr_term = bump(_lg(genome["learning_rate"]), lr0 + 0.15 * octaves, 0.3)
    wd_term = 0.85 + 0.15 * bump(_lg(genome["weight_decay"]), wd0, 0.7)
    wu_term = 0.9 + 0.1 * bump(genome["warmup"], wu0, 3.0)
    return peak * lr_term * wd_term * wu_term * (1 - 0.02 * abs(octaves))


# --- 3. conditional ---------------------------------------------------------------------------

CONDITIONAL_SPACE: dict[str, Any] = {
    "neurons": {"repeat": 4, "choices": [0, 16, 32, 64, 128, 256, 512]},
    "dropout": {"repeat": 4, "choices": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]},
    "activation": ["relu", "elu", "tanh", "sigmoid"],
    "learning_rate": {"low": 1e-4, "high": 1e-1, "log": True},
}
_COND_UNITS = (256, 128, 64, 32)
_COND_DROP = (0.3, 0.2, 0.1, 0.1)
_COND_ACT = {"relu": 1.0, "elu": 0.97, "tanh": 0.85, "sigmoid": 0.7}


def conditional(genome: Genome, seed: int | None = None) -> float:
    """Conditional genes: the network is ``neurons0, neurons1, ...`` up to the first 0 (so
    ``neuronsI = 0`` disables ``dropoutI`` and every deeper layer's genes).

    0.3 x depth (bump at 3 layers, width 1.2; no layer scores ~0) + 0.2 x width (mean over active
    layers of a bump at log2 of 256, 128, 64, 32 for layer 0..3, width 1.2 octaves) + 0.15 x dropout
    (mean over active layers of a bump at .3, .2, .1, .1, width .15) + 0.1 x activation (relu 1,
    elu .97, tanh .85, sigmoid .7) + 0.25 x learning rate (bump at log10(0.003), width 0.6).
    Without any layer the width and dropout terms are 0. Optimum 1.0 at neurons 256, 128, 64, 0,
    dropout .3, .2, .1, (anything), relu, lr 0.003: ``neurons3`` = 0 makes ``dropout3`` irrelevant.
    """
    active: list[tuple[int, float]] = []
    for i in range(4):
        n = int(genome[f"neurons{i}"])
        if n == 0:
            break
        active.append((n, float(genome[f"dropout{i}"])))
    depth = bump(len(active), 3, 1.2)
    if active:
        width = sum(bump(math.log2(n), math.log2(_COND_UNITS[i]), 1.2) for i, (n, _) in enumerate(active)) / len(active)
        drop = sum(bump(d, _COND_DROP[i], 0.15) for i, (_, d) in enumerate(active)) / len(active)
    else:
        width = drop = 0.0
    return (0.3 * depth + 0.2 * width + 0.15 * drop + 0.1 * _COND_ACT[genome["activation"]]
            + 0.25 * bump(_lg(genome["learning_rate"]), _lg(0.003), 0.6))


# --- 4. noisy -------------------------------------------------------------------------------

NOISY_SPACE: dict[str, Any] = {
    "optimizer": ["sgd", "rmsprop", "adam"],
    "batch_size": [16, 32, 64, 128, 256],
    "layers": {"low": 1, "high": 6},
    "units": {"low": 16, "high": 1024, "log": True},
    "learning_rate": {"low": 1e-5, "high": 1e-1, "log": True},
    "dropout": {"low": 0.0, "high": 0.6},
}
NOISE_SD = 0.03
_NOISY_LR = {"sgd": -1.5, "rmsprop": -3.0, "adam": math.log10(0.003)}
_NOISY_OPT = {"sgd": 0.85, "rmsprop": 0.95, "adam": 1.0}


def noisy_clean(genome: Genome) -> float:
    """The noiseless value of :func:`noisy`."""
    g = genome
    lr = bump(_lg(g["learning_rate"]), _NOISY_LR[g["optimizer"]], 0.5)
    rest = (0.3 * _SEP_BATCH[int(g["batch_size"])] + 0.25 * bump(g["layers"], 3, 2.0)
            + 0.25 * bump(math.log2(g["units"]), 8, 1.5) + 0.2 * bump(g["dropout"], 0.2, 0.15))
    return _NOISY_OPT[g["optimizer"]] * (0.6 * lr + 0.4 * rest)


def noisy(genome: Genome, seed: int | None = None) -> float:
    """Trial-to-trial noise like real training: ``noisy_clean(genome) + N(0, 0.03)``.

    The noise is drawn from ``numpy.random.default_rng(seed)`` with the trial seed that natsel
    passes (and that the bench passes to every other searcher the same way:
    ``crc32(f"{run_seed}:{genome_key}")``); ``seed=None`` gives the noiseless value. The bench
    reports, for each searcher, the NOISELESS value of the genome it would pick as its best by
    observed (noisy) value: what a user would get by retraining their chosen model.
    noisy_clean: optimizer factor (adam 1, rmsprop .95, sgd .85) x (0.6 x learning-rate bump at the
    optimizer's best log10 lr, log10(0.003) / -3.0 / -1.5, width 0.5) + 0.4 x a separable rest: batch 64,
    3 layers, 256 units, dropout .2). Optimum (noiseless) 1.0 at adam, 64, 3, 256, lr 0.003, dropout 0.2.
    """
    clean = noisy_clean(genome)
    if seed is None:
        return clean
    return clean + NOISE_SD * float(np.random.default_rng(seed).normal())


# --- 5. many genes, few matter ---------------------------------------------------------------

MANY_SPACE: dict[str, Any] = {
    "learning_rate": {"low": 1e-5, "high": 1e-1, "log": True},
    "optimizer": ["sgd", "rmsprop", "adam", "nadam"],
    "layers": {"low": 1, "high": 8},
    "dropout": {"low": 0.0, "high": 0.6},
    "batch_size": [16, 32, 64, 128, 256],
    "initializer": ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal"],
    "aux_c": {"repeat": 6, "choices": ["a", "b", "c", "d"]},
    "aux_i": {"repeat": 6, "low": 0, "high": 100},
    "aux_f": {"repeat": 6, "low": 0.0, "high": 1.0},
}
_MANY_INIT = {"glorot_uniform": 0.7, "glorot_normal": 0.8, "he_uniform": 0.9, "he_normal": 1.0}


def many(genome: Genome, seed: int | None = None) -> float:
    """24 genes, 4 that matter, 2 that matter a little, 18 (``aux_*``) that do not matter at all.

    0.35 x learning-rate bump at log10(0.001) (width 0.5) + 0.2 x optimizer (adam 1, nadam .9,
    rmsprop .6, sgd .2) + 0.2 x layers bump at 5 (width 2) + 0.15 x dropout bump at .25 (width .15)
    + 0.05 x batch (64 best) + 0.05 x initializer (he_normal 1 .. glorot_uniform .7).
    Optimum 1.0 at lr 0.001, adam, 5 layers, dropout .25, batch 64, he_normal, any aux_*.
    """
    g = genome
    opt = {"sgd": 0.2, "rmsprop": 0.6, "adam": 1.0, "nadam": 0.9}[g["optimizer"]]
    return (0.35 * bump(_lg(g["learning_rate"]), -3.0, 0.5) + 0.2 * opt + 0.2 * bump(g["layers"], 5, 2.0)
            + 0.15 * bump(g["dropout"], 0.25, 0.15) + 0.05 * _SEP_BATCH[int(g["batch_size"])]
            + 0.05 * _MANY_INIT[g["initializer"]])


# --- 6. multimodal integer --------------------------------------------------------------------

MULTIMODAL_SPACE: dict[str, Any] = {
    "units": {"low": 8, "high": 512, "step": 8},
    "layers": {"low": 1, "high": 12},
    "epochs": {"low": 1, "high": 100},
    "batch_size": {"low": 8, "high": 512, "log": True},
    "heads": {"low": 1, "high": 16},
}
#: (low, high, best, ripples across the range, log scale)
_MULTI = {
    "units": (8, 512, 200, 6.0, False),
    "layers": (1, 12, 7, 2.5, False),
    "epochs": (1, 100, 37, 5.0, False),
    "batch_size": (8, 512, 48, 4.0, True),
    "heads": (1, 16, 11, 3.0, False),
}


def _ripple(name: str, x: float) -> float:
    lo, hi, best, k, log = _MULTI[name]
    if log:
        u, u0 = (math.log(x) - math.log(lo)) / (math.log(hi) - math.log(lo)), (math.log(best) - math.log(lo)) / (math.log(hi) - math.log(lo))
    else:
        u, u0 = (x - lo) / (hi - lo), (best - lo) / (hi - lo)
    return bump(u, u0, 0.45) * (0.6 + 0.4 * math.cos(2 * math.pi * k * (u - u0)))


def multimodal(genome: Genome, seed: int | None = None) -> float:
    """Multimodal integer landscape: per gene a broad bump times a cosine ripple (Rastrigin-like),
    so every gene has several local optima one ripple period apart; the fitness mixes the mean
    and the product of the per-gene scores (0.5 each), so genes interact.

    Per gene (position u in [0, 1] of the range, log scale for batch_size), with best u0:
    ``bump(u, u0, 0.45) * (0.6 + 0.4 * cos(2 pi k (u - u0)))`` with k ripples: units 6, layers 2.5,
    epochs 5, batch_size 4, heads 3. Optimum 1.0 at units 200, layers 7, epochs 37, batch_size 48,
    heads 11.
    """
    s = [_ripple(n, float(genome[n])) for n in _MULTI]
    return 0.5 * sum(s) / len(s) + 0.5 * math.prod(s)


# --- 7. a plateau: most of the space scores the same, plus noise --------------------------------

PLATEAU_SPACE: dict[str, Any] = {
    "max_depth": {"low": 1, "high": 30},
    "min_samples_leaf": {"low": 1, "high": 64, "log": True},
    "criterion": ["gini", "entropy", "log_loss"],
    "max_features": {"low": 0.05, "high": 1.0},
}
#: below this depth the "tree" is too shallow to learn: the plateau
PLATEAU_DEPTH = 27
PLATEAU_LEVEL = 0.3


def plateau_clean(genome: Genome) -> float:
    """The noiseless value of :func:`plateau`."""
    g = genome
    if int(g["max_depth"]) < PLATEAU_DEPTH:
        return PLATEAU_LEVEL
    crit = {"gini": 0.8, "entropy": 1.0, "log_loss": 0.9}[g["criterion"]]
    inner = crit * bump(math.log2(g["min_samples_leaf"]), 2.0, 1.5) * bump(g["max_features"], 0.6, 0.3)
    return 0.5 + 0.5 * inner * bump(int(g["max_depth"]), 29, 3.0)


def plateau(genome: Genome, seed: int | None = None) -> float:
    """A model too shallow to learn everywhere but a small corner: ``max_depth < 27`` (26 of 30 depths,
    about 87% of the space) scores 0.3 whatever the other genes are, plus trial noise N(0, 0.01);
    depths 27-30 score 0.5 and more, up to 1.0 at depth 29, min_samples_leaf 4, entropy, max_features
    0.6. A search escapes the plateau when it evaluates any genome of that corner (noiseless > 0.45).
    Random search finds it in 1 / 0.13, about 8 trials on average; a model fitted on the plateau's
    noise alone points nowhere."""
    clean = plateau_clean(genome)
    if seed is None:
        return clean
    return clean + 0.01 * float(np.random.default_rng(seed).normal())


# --- registry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A bench problem: natsel space dict, fitness ``f(genome, seed=None)``, noiseless value, optimum."""

    name: str
    space: dict[str, Any]
    f: Callable[..., float]
    optimum: Genome
    noisy: bool = False

    def clean(self, genome: Genome) -> float:
        """The noiseless fitness (what the bench reports)."""
        return float(self.f(genome, seed=None))


OPTIMA: dict[str, Genome] = {
    "separable": {"optimizer": "adam", "batch_size": 64, "layers": 4, "units": 256, "learning_rate": 0.003,
                  "dropout": 0.2},
    "interaction": {"optimizer": "adam", "batch_size": 64, "learning_rate": 0.002, "weight_decay": 1e-4,
                    "warmup": 3},
    "conditional": {"neurons0": 256, "neurons1": 128, "neurons2": 64, "neurons3": 0, "dropout0": 0.3,
                    "dropout1": 0.2, "dropout2": 0.1, "dropout3": 0.5, "activation": "relu", "learning_rate": 0.003},
    "noisy": {"optimizer": "adam", "batch_size": 64, "layers": 3, "units": 256, "learning_rate": 0.003,
              "dropout": 0.2},
    "many": {"learning_rate": 0.001, "optimizer": "adam", "layers": 5, "dropout": 0.25, "batch_size": 64,
             "initializer": "he_normal", **{f"aux_c{i}": "a" for i in range(6)}, **{f"aux_i{i}": 0 for i in range(6)},
             **{f"aux_f{i}": 0.5 for i in range(6)}},
    "multimodal": {"units": 200, "layers": 7, "epochs": 37, "batch_size": 48, "heads": 11},
    "plateau": {"max_depth": 29, "min_samples_leaf": 4, "criterion": "entropy", "max_features": 0.6},
}

PROBLEMS: dict[str, Problem] = {
    p.name: p
    for p in (
        Problem("separable", SEPARABLE_SPACE, separable, OPTIMA["separable"]),
        Problem("interaction", INTERACTION_SPACE, interaction, OPTIMA["interaction"]),
        Problem("conditional", CONDITIONAL_SPACE, conditional, OPTIMA["conditional"]),
        Problem("noisy", NOISY_SPACE, noisy, OPTIMA["noisy"], noisy=True),
        Problem("many", MANY_SPACE, many, OPTIMA["many"]),
        Problem("multimodal", MULTIMODAL_SPACE, multimodal, OPTIMA["multimodal"]),
        Problem("plateau", PLATEAU_SPACE, plateau, OPTIMA["plateau"], noisy=True),
    )
}


def ids(text: str) -> list[int]:
    """``"1,3-5"`` -> ``[1, 3, 4, 5]``: the benches' lists of functions, dimensions and budgets."""
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out
