"""A rung's trained state as plain arrays and numbers, and the check it passes before a promotion
continues from it (numpy only: no TensorFlow, no pickle).

A checkpoint travels from a worker to the parent (``Result.checkpoint``), lies in the run folder
(``checkpoints/<trial id>.npz``) and goes back to a worker (``Task.resume``). Anyone who can write
the run folder can change it, so it is an ``.npz`` read with ``allow_pickle=False``: every array
its own entry (``variables_0``, ``optimizer_3``, ...), the numbers in one JSON entry (``meta``).
:func:`decode` returns None for anything that is not exactly such a checkpoint, and the trial then
trains from scratch, to the result it would have had anyway.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

import numpy as np

#: the checkpoint format a promoted trial continues from (1 was a pickled dict; 2 is this ``.npz``)
CHECKPOINT_FORMAT = 2
#: the lists of arrays a checkpoint holds (``best_weights`` may be absent: no finite loss yet)
ARRAY_GROUPS = ("variables", "optimizer", "extra", "best_weights")
HISTORY_KEYS = ("loss", "es_loss")


def encode(ckpt: dict[str, Any]) -> bytes:
    """``ckpt`` (``format``, ``variables``, ``optimizer``, ``extra``, ``limits`` with ``best``,
    ``best_weights``, ``wait``, ``epochs``, ``history``; ``train_seconds``; optionally ``curve``) as
    the bytes of an ``.npz``."""
    limits = ckpt["limits"]
    groups = {"variables": ckpt["variables"], "optimizer": ckpt["optimizer"], "extra": ckpt.get("extra") or [],
              "best_weights": limits["best_weights"]}
    arrays: dict[str, np.ndarray] = {}
    counts: dict[str, int | None] = {}
    for group, values in groups.items():
        counts[group] = None if values is None else len(values)
        for i, value in enumerate(values or []):
            arrays[f"{group}_{i}"] = np.asarray(value)
    meta = {"format": CHECKPOINT_FORMAT, "counts": counts, "train_seconds": float(ckpt["train_seconds"]),
            "best": float(limits["best"]), "wait": int(limits["wait"]), "epochs": int(limits["epochs"]),
            "history": {k: [float(x) for x in v] for k, v in limits["history"].items()}}
    if ckpt.get("curve") is not None:
        meta["curve"] = [float(x) for x in ckpt["curve"]]
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(json.dumps(meta)), **arrays)
    return buf.getvalue()


def decode(data: bytes | None) -> dict[str, Any] | None:
    """The checkpoint in ``data`` (the dict :func:`encode` took), or None when ``data`` is anything
    else: not an ``.npz`` (a pickle is refused unread), another format, an entry missing, extra or of
    another kind, numbers that cannot be (a negative epoch count, NaN seconds). Whether its arrays fit
    the network is checked when they are loaded into it."""
    if not data:
        return None
    try:
        return _decode(data)
    except Exception:  # noqa: BLE001 - untrusted bytes: a broken zip raises many kinds of error
        return None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_float(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _decode(data: bytes) -> dict[str, Any] | None:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        if "meta" not in getattr(z, "files", ()):  # an .npz, not a single .npy array
            return None
        raw = z["meta"]
        if raw.dtype.kind != "U" or raw.shape != ():
            return None
        meta = json.loads(str(raw))
        if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
            return None
        counts = meta.get("counts")
        if not isinstance(counts, dict) or set(counts) != set(ARRAY_GROUPS):
            return None
        expected = {"meta"}
        groups: dict[str, list[np.ndarray] | None] = {}
        for group in ARRAY_GROUPS:
            n = counts[group]
            if n is None and group == "best_weights":
                groups[group] = None
                continue
            if not _is_int(n) or n < 0:
                return None
            names = [f"{group}_{i}" for i in range(n)]
            expected.update(names)
            if not set(names) <= set(z.files):
                return None
            values = [z[name] for name in names]
            if any(v.dtype.kind not in "biuf" for v in values):
                return None
            groups[group] = values
        if set(z.files) != expected:
            return None
    epochs, wait, best, seconds = meta.get("epochs"), meta.get("wait"), meta.get("best"), meta.get("train_seconds")
    if not (_is_int(epochs) and epochs >= 1 and _is_int(wait) and 0 <= wait <= epochs):
        return None
    if not (_is_float(seconds) and math.isfinite(seconds) and seconds >= 0):
        return None
    # the best loss on the early-stopping split: finite with its weights, or none yet (inf, no weights)
    if not _is_float(best) or math.isnan(best) or (groups["best_weights"] is None) != (best == math.inf):
        return None
    history = meta.get("history")
    if not (isinstance(history, dict) and set(history) == set(HISTORY_KEYS) and all(
            isinstance(v, list) and len(v) == epochs and all(_is_float(x) for x in v) for v in history.values())):
        return None
    ckpt: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT, "variables": groups["variables"], "optimizer": groups["optimizer"],
        "extra": groups["extra"], "train_seconds": float(seconds),
        "limits": {"best": float(best), "best_weights": groups["best_weights"], "wait": wait, "epochs": epochs,
                   "history": {k: [float(x) for x in v] for k, v in history.items()}}}
    if "curve" in meta:
        curve = meta["curve"]
        if not (isinstance(curve, list) and len(curve) == epochs and all(_is_float(x) for x in curve)):
            return None
        ckpt["curve"] = [float(x) for x in curve]
    return ckpt
