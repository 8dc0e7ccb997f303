"""Pareto arithmetic over plain arrays: non-dominated sorting, crowding, hypervolume, the knee.

Every function takes points as rows of an ``(n, m)`` array oriented so that **larger is better** in
each column (``Goal.oriented`` turns a trial's values that way), except :func:`hypervolume`, which
follows the usual convention of minimisation against a reference point. Pure numpy: strategies,
the store's summaries and the plots share one definition of a front.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: a run's hypervolume per generation is computed for up to this many objectives (exact hypervolume in
#: more costs too much to recompute after every generation)
HV_OBJECTIVES = 3


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` is at least as good as ``b`` everywhere and better somewhere (larger is better)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return bool(np.all(x >= y) and np.any(x > y))


def fronts(points: np.ndarray) -> list[list[int]]:
    """Non-dominated sorting (Deb et al., NSGA-II): the indices of front 0 (dominated by none), then
    of front 1 (dominated by front 0 only), and so on; each front in index order."""
    p = np.asarray(points, dtype=float)
    n = len(p)
    if n == 0:
        return []
    ge = np.all(p[:, None, :] >= p[None, :, :], axis=2)
    gt = np.any(p[:, None, :] > p[None, :, :], axis=2)
    dom = ge & gt  # dom[i, j]: i dominates j
    count = dom.sum(axis=0)  # how many dominate j
    out: list[list[int]] = []
    current = [int(j) for j in np.flatnonzero(count == 0)]
    while current:
        out.append(current)
        for i in current:
            count[dom[i]] -= 1
        count[current] = -1
        current = [int(j) for j in np.flatnonzero(count == 0)]
    return out


def nondominated(points: np.ndarray) -> list[int]:
    """The indices of the points no other point dominates (front 0 of :func:`fronts`), in index order."""
    p = np.asarray(points, dtype=float)
    if len(p) == 0:
        return []
    ge = np.all(p[:, None, :] >= p[None, :, :], axis=2)
    gt = np.any(p[:, None, :] > p[None, :, :], axis=2)
    return [int(j) for j in np.flatnonzero(~(ge & gt).any(axis=0))]


def crowding(points: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of each point within its set: the sum over objectives of the gap
    between its neighbours, scaled by the objective's range; the extremes get infinity."""
    p = np.asarray(points, dtype=float)
    n, m = p.shape if p.ndim == 2 else (len(p), 0)
    d = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for k in range(m):
        order = np.argsort(p[:, k], kind="stable")
        span = p[order[-1], k] - p[order[0], k]
        d[order[0]] = d[order[-1]] = np.inf
        if span > 0:
            d[order[1:-1]] += (p[order[2:], k] - p[order[:-2], k]) / span
    return d


def hypervolume(points: np.ndarray, reference: Sequence[float]) -> float:
    """The volume dominated by ``points`` and bounded by ``reference``, for **minimisation** (a point
    counts where it is below the reference in every objective). Exact: a sweep in 2 objectives,
    slicing by the last objective (HSO) in more; fronts of a few hundred points are instant."""
    ref = np.asarray(reference, dtype=float)
    p = np.asarray(points, dtype=float).reshape(-1, len(ref))
    p = p[np.all(p < ref, axis=1)]
    if len(p) == 0:
        return 0.0
    return float(_hv(_nondominated_min(np.unique(p, axis=0)), ref))  # dominated points add nothing


def _hv(p: np.ndarray, ref: np.ndarray) -> float:
    m = p.shape[1]
    if m == 1:
        return float(ref[0] - p[:, 0].min())
    if m == 2:  # sweep by the first objective: each point adds the strip below the lowest second value so far
        p = p[np.lexsort((p[:, 1], p[:, 0]))]
        lowest = np.minimum.accumulate(np.concatenate([[ref[1]], p[:, 1]]))[:-1]
        return float(np.sum((ref[0] - p[:, 0]) * np.maximum(lowest - p[:, 1], 0.0)))
    p = p[np.argsort(p[:, -1], kind="stable")]
    volume = 0.0
    for i in range(len(p)):  # the slab between this point's last objective and the next one's
        top = p[i + 1, -1] if i + 1 < len(p) else ref[-1]
        if top > p[i, -1]:
            below = p[: i + 1, :-1]
            volume += _hv(below if m == 3 else _nondominated_min(below), ref[:-1]) * (top - p[i, -1])
    return volume


def _nondominated_min(p: np.ndarray) -> np.ndarray:
    """The points of ``p`` no other point dominates (minimisation)."""
    return p[nondominated(-p)] if len(p) else p


def normalise(points: np.ndarray, ideal: np.ndarray, nadir: np.ndarray) -> np.ndarray:
    """Oriented points (larger is better) as minimisation in [0, 1]: 0 at ``ideal``, 1 at ``nadir``
    (an objective whose ideal and nadir agree maps to 0)."""
    span = np.where(ideal > nadir, ideal - nadir, 1.0)
    return (ideal - np.asarray(points, dtype=float)) / span


def knee(points: np.ndarray) -> int:
    """The index of the knee of a front (oriented: larger is better): normalised to [0, 1] per
    objective between the front's own best and worst, the point farthest below the hyperplane
    through the extremes (the smallest sum of normalised objectives); ties: the first."""
    p = np.asarray(points, dtype=float)
    z = normalise(p, p.max(axis=0), p.min(axis=0))
    return int(np.argmin(z.sum(axis=1)))
