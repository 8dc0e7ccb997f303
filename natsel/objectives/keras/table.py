"""Tabular data's columns: what each one is, and how its raw values become the network's inputs.

Numpy only (the parent, and ``natsel predict``, use it without TensorFlow). A :class:`Column` is
numeric (standardised with the train split's mean and deviation) or categorical (one-hot over the
train split's vocabulary, with slot 0 for a value the train split never held). The saved model does
exactly this with Keras preprocessing layers (``Normalization``, ``StringLookup(output_mode=
"one_hot")``), so it takes the raw columns; the search's trials encode here once, for speed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

NUMERIC, CATEGORICAL = "numeric", "categorical"


@dataclass
class Column:
    name: str
    kind: str = NUMERIC  # numeric | categorical
    mean: float = 0.0  # numeric: the train split's mean and deviation (1 where it is constant)
    std: float = 1.0
    vocabulary: list[str] = field(default_factory=list)  # categorical: the train split's values, sorted

    @property
    def width(self) -> int:
        """Inputs this column gives the network: 1, or the vocabulary plus the unknown-value slot."""
        return 1 if self.kind == NUMERIC else len(self.vocabulary) + 1

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.kind == NUMERIC:
            out.pop("vocabulary")
        else:
            out.pop("mean"), out.pop("std")
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Column:
        return cls(**{k: d[k] for k in ("name", "kind", "mean", "std", "vocabulary") if k in d})


def is_number(text: str) -> bool:
    """Reads as a number (NaN included: a numeric column with a NaN is a missing value, not a category)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def kinds_of(cells: Sequence[Sequence[str]], n_columns: int) -> list[str]:
    """A column is numeric when every cell of it reads as a number, else categorical."""
    numeric = [True] * n_columns
    for row in cells:
        for j in range(n_columns):
            if numeric[j] and not is_number(row[j]):
                numeric[j] = False
    return [NUMERIC if n else CATEGORICAL for n in numeric]


def fit(names: Sequence[str], kinds: Sequence[str], train: np.ndarray) -> list[Column]:
    """The columns, with their statistics and vocabularies learned on the train split's raw rows."""
    out = []
    numeric = [j for j, k in enumerate(kinds) if k == NUMERIC]
    if numeric:
        values = train[:, numeric].astype(np.float64)
        means, stds = values.mean(axis=0), values.std(axis=0)
        stds[stds == 0] = 1.0
    stats = {j: (float(means[i]), float(stds[i])) for i, j in enumerate(numeric)}
    for j, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        if kind == NUMERIC:
            out.append(Column(name, NUMERIC, *stats[j]))
        else:
            out.append(Column(name, CATEGORICAL, vocabulary=sorted({str(v) for v in train[:, j].tolist()})))
    return out


def encode(columns: Sequence[Column], raw: np.ndarray) -> np.ndarray:
    """Raw rows (one column per :class:`Column`, in order) as the network's float32 inputs."""
    if all(c.kind == NUMERIC for c in columns):  # the same arithmetic as always: float64, then float32
        mean = np.array([c.mean for c in columns])
        std = np.array([c.std for c in columns])
        return ((raw.astype(np.float64) - mean) / std).astype(np.float32)
    parts = []
    for j, c in enumerate(columns):
        if c.kind == NUMERIC:
            parts.append(((raw[:, j].astype(np.float64) - c.mean) / c.std).astype(np.float32)[:, None])
        else:
            index = {v: i + 1 for i, v in enumerate(c.vocabulary)}  # 0: a value the train split never held
            hot = np.zeros((len(raw), c.width), dtype=np.float32)
            hot[np.arange(len(raw)), [index.get(str(v), 0) for v in raw[:, j].tolist()]] = 1.0
            parts.append(hot)
    return np.concatenate(parts, axis=1) if parts else np.zeros((len(raw), 0), dtype=np.float32)


def model_inputs(columns: Sequence[Column], raw: np.ndarray) -> Any:
    """Raw rows as the saved model takes them: the array itself when every column is numeric, else a
    mapping of column name to its values (strings for categorical columns)."""
    if all(c.kind == NUMERIC for c in columns):
        return raw.astype(np.float32)
    return {c.name: (raw[:, j].astype(np.float32) if c.kind == NUMERIC else raw[:, j].astype(str).astype(object))
            for j, c in enumerate(columns)}
