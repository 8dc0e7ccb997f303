"""2-D landscapes for watching a swarm: built-in test functions with known minima, or the user's own.

A landscape's function takes two numpy arrays ``x`` and ``y`` of the same shape and returns the
cost at every point (same shape). ``Landscape.cost`` adapts it to :func:`natsel.swarm.minimize`
(positions of shape (particles, 2) -> costs of shape (particles,)).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from natsel._errors import NatselError

XYFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]


class LandscapeError(NatselError):
    """A landscape name, a user function or its bounds cannot be used."""


@dataclass(frozen=True)
class Landscape:
    """A function of (x, y) on a rectangle, with its global minima when they are known."""

    name: str
    fn: XYFunction
    bounds: tuple[float, float, float, float]  # xmin, xmax, ymin, ymax
    minima: tuple[tuple[float, float], ...] = ()  # every global minimiser; empty when unknown
    min_value: float | None = None
    formula: str = ""

    def cost(self, positions: np.ndarray) -> np.ndarray:
        """Cost of positions of shape (particles, 2), for :func:`natsel.swarm.minimize`."""
        return np.asarray(self.fn(positions[:, 0], positions[:, 1]), dtype=np.float64)

    def nearest_minimum(self, point: np.ndarray) -> tuple[tuple[float, float], float] | None:
        """The known global minimiser nearest to ``point`` and its distance (None when unknown)."""
        if not self.minima:
            return None
        dist = [float(np.hypot(point[0] - mx, point[1] - my)) for mx, my in self.minima]
        i = int(np.argmin(dist))
        return self.minima[i], dist[i]


def _sphere(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return x**2 + y**2


def _rosenbrock(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _rastrigin(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return 20 + x**2 - 10 * np.cos(2 * np.pi * x) + y**2 - 10 * np.cos(2 * np.pi * y)


def _ackley(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r = np.sqrt(0.5 * (x**2 + y**2))
    waves = 0.5 * (np.cos(2 * np.pi * x) + np.cos(2 * np.pi * y))
    return -20 * np.exp(-0.2 * r) - np.exp(waves) + np.e + 20


def _himmelblau(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def _ripples(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # Every term is >= 0 and all are 0 only at (1, 2): the global minimum is exactly 0 there.
    return 0.5 * ((x - 1) ** 2 + (y - 2) ** 2) + (1 - np.cos(3 * (x - 1))) + (1 - np.cos(4 * (y - 2)))


LANDSCAPES: dict[str, Landscape] = {
    "sphere": Landscape("sphere", _sphere, (-5, 5, -5, 5), ((0.0, 0.0),), 0.0, "x^2 + y^2"),
    "rosenbrock": Landscape("rosenbrock", _rosenbrock, (-2, 2, -1, 3), ((1.0, 1.0),), 0.0,
                            "(1 - x)^2 + 100 (y - x^2)^2"),
    "rastrigin": Landscape("rastrigin", _rastrigin, (-5.12, 5.12, -5.12, 5.12), ((0.0, 0.0),), 0.0,
                           "20 + x^2 - 10 cos(2 pi x) + y^2 - 10 cos(2 pi y)"),
    "ackley": Landscape("ackley", _ackley, (-5, 5, -5, 5), ((0.0, 0.0),), 0.0,
                        "-20 exp(-0.2 sqrt((x^2 + y^2)/2)) - exp((cos 2 pi x + cos 2 pi y)/2) + e + 20"),
    "himmelblau": Landscape("himmelblau", _himmelblau, (-5, 5, -5, 5),
                            ((3.0, 2.0), (-2.805118086952745, 3.131312518250573),
                             (-3.779310253377747, -3.283185991286169), (3.5844283403304917, -1.8481265269644034)),
                            0.0, "(x^2 + y - 11)^2 + (x + y^2 - 7)^2"),
    "ripples": Landscape("ripples", _ripples, (-5, 5, -5, 5), ((1.0, 2.0),), 0.0,
                         "((x - 1)^2 + (y - 2)^2)/2 + 2 - cos(3 (x - 1)) - cos(4 (y - 2))"),
}


def check_bounds(bounds: tuple[float, ...] | list[float], where: str = "--bounds") -> tuple[float, float, float, float]:
    """Validate XMIN XMAX YMIN YMAX: four finite numbers with each low below its high."""
    if len(bounds) != 4:
        raise LandscapeError(f"needs 4 numbers XMIN XMAX YMIN YMAX, got {len(bounds)}", where)
    b = tuple(float(v) for v in bounds)
    if not all(np.isfinite(b)):
        raise LandscapeError(f"bounds must be finite numbers, got {' '.join(map(str, b))}", where)
    for axis, (lo, hi) in (("x", b[:2]), ("y", b[2:])):
        if not lo < hi:
            raise LandscapeError(f"{axis} low {lo:g} must be below {axis} high {hi:g}", where)
    return b  # type: ignore[return-value]


def _import_function(spec: str) -> Callable[..., object]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise LandscapeError("expected module:function", spec)
    cwd = str(Path.cwd())
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)  # the module may sit in the current directory
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise LandscapeError(f"cannot import module {module_name!r}: {exc}", spec) from exc
    except Exception as exc:  # the user's module failed while importing
        raise LandscapeError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}", spec) from exc
    finally:
        if added:
            sys.path.remove(cwd)
    fn = getattr(module, attr, None)
    if fn is None:
        raise LandscapeError(f"module {module_name!r} has no attribute {attr!r}", spec)
    if not callable(fn):
        raise LandscapeError(f"{attr!r} is not a function", spec)
    return fn


def _vectorised(fn: Callable[..., object], spec: str) -> XYFunction:
    """``fn`` itself when it maps arrays to an array of the same shape, else ``fn`` applied point by point."""
    probe = np.array([0.1, 0.7, -0.3]), np.array([0.2, -0.6, 0.5])
    try:
        out = np.asarray(fn(*probe), dtype=np.float64)
        if out.shape == probe[0].shape:
            return fn  # type: ignore[return-value]
    except Exception:  # noqa: BLE001 - a scalar-only function (math.sin, if/else on x) fails here
        pass
    scalar = np.vectorize(lambda a, b: float(fn(float(a), float(b))), otypes=[np.float64])
    try:
        scalar(*probe)
    except Exception as exc:
        raise LandscapeError(f"calling it on (x, y) failed: {type(exc).__name__}: {exc}", spec) from exc
    return scalar


def get_landscape(name: str, bounds: tuple[float, ...] | list[float] | None = None) -> Landscape:
    """A built-in landscape by name, or a user function ``module:function`` of (x, y).

    ``bounds`` (XMIN XMAX YMIN YMAX) replaces a built-in's default rectangle and is required for a
    user function, whose minima are unknown. A user function may be vectorised (arrays in, array
    out) or scalar (floats in, float out; then it is called point by point).
    """
    checked = check_bounds(bounds) if bounds is not None else None
    if ":" not in name:
        land = LANDSCAPES.get(name.lower())
        if land is None:
            raise LandscapeError(f"unknown function; built-in: {', '.join(LANDSCAPES)}; or give module:function",
                                 name)
        if checked is None:
            return land
        return Landscape(land.name, land.fn, checked, land.minima, land.min_value, land.formula)
    fn = _vectorised(_import_function(name), name)
    if checked is None:
        raise LandscapeError("a user function needs --bounds XMIN XMAX YMIN YMAX", name)
    return Landscape(name.partition(":")[2], fn, checked)
