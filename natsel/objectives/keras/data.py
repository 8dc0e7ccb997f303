"""Data for the Keras objective: loading, checking, a seeded stratified split, standardisation.

Runs in the parent (numpy and scikit-learn only, never TensorFlow), so bad data stops the run
before anything is written. Splits:

* ``test`` - never seen by the search; only ``natsel train-best`` scores it;
* ``validation`` - the fitness of every trial is measured here;
* ``train`` - what networks learn from; a further ``early_stopping`` share of it is held out to
  decide early stopping and best weights, so the fitness is never measured on the data that
  chose when to stop (NaturalSelection's mistake).

Tabular data (``x`` of rows) is standardised per column on the train split. Images (``x`` with
3 or 4 dimensions: Fashion-MNIST, scikit-learn's digits as 8x8, an ``.npz`` or a Python function
returning such arrays) keep their shape as (height, width, channels) and are scaled per pixel by
one number (:func:`pixel_scale`), never standardised per column.
"""

from __future__ import annotations

import csv
import gzip
import math
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from natsel._errors import DataError
from natsel.objectives.keras import table

SKLEARN = {"iris": "load_iris", "wine": "load_wine", "breast_cancer": "load_breast_cancer",
           "digits": "load_digits", "diabetes": "load_diabetes"}
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
MAX_CLASSES = 20  # more distinct numeric targets than this: regression (unless training.task says)


@dataclass
class Dataset:
    name: str
    task: str  # multiclass | binary | regression
    n_classes: int
    x_train: np.ndarray
    y_train: np.ndarray
    x_es: np.ndarray
    y_es: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[Any] = field(default_factory=list)

    source_hash: str = ""  # set by load_dataset: the raw rows, how they were split and scaled
    pixel_scale: float | None = None  # images: what the raw pixels were divided by; None: tabular
    #: tables: the feature columns, with what turns their raw values into the network's inputs
    columns: list[table.Column] = field(default_factory=list)
    raw_shape: tuple[int, ...] = ()  # images: one raw example's shape (before a channel axis is added)
    target_name: str = "target"
    #: regression: the train split's target mean and deviation (networks learn the standardised target)
    target_scale: tuple[float, float] | None = None
    #: the validation and test rows as the source gives them (train-best scores the saved model on them)
    raw_val: np.ndarray | None = None
    raw_test: np.ndarray | None = None

    @property
    def image(self) -> bool:
        return self.x_train.ndim == 4

    @property
    def input_shape(self) -> tuple[int, ...]:
        """What one example looks like to the model: (features,) or (height, width, channels)."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @cached_property
    def fingerprint(self) -> str:
        """A content hash of the data: equal only for the same rows, split the same way.

        Taken over the rows as loaded (before standardisation) and the split's row indices, so the
        same data gives the same hash on any machine."""
        return self.source_hash or content_hash(self.task, self.classes, self.x_train, self.y_train, self.x_es,
                                                self.y_es, self.x_val, self.y_val, self.x_test, self.y_test)

    def preprocess(self) -> dict[str, Any]:
        """What the saved model carries so that it takes raw inputs and answers in the target's terms
        (plain data: the worker builds Keras preprocessing layers from it)."""
        target: dict[str, Any] = {"name": self.target_name, "task": self.task}
        if self.task == "regression":
            mean, std = self.target_scale or (0.0, 1.0)
            target.update(mean=mean, std=std)
        else:
            target["classes"] = list(self.classes)
        if self.image:
            return {"kind": "image", "pixel_scale": self.pixel_scale, "raw_shape": list(self.raw_shape),
                    "target": target}
        return {"kind": "table", "columns": [c.to_dict() for c in self.columns], "target": target}

    def _base(self) -> dict[str, Any]:
        return {"name": self.name, "task": self.task, "n_classes": self.n_classes,
                "n_features": int(np.prod(self.input_shape)), "input_shape": self.input_shape, "image": self.image,
                "classes": self.classes, "fingerprint": self.fingerprint,
                "target_scale": list(self.target_scale) if self.target_scale else None}

    def search_payload(self) -> dict[str, Any]:
        """What workers get during the search: train, early-stopping and validation. Never test."""
        return {**self._base(), "x_train": self.x_train, "y_train": self.y_train, "x_es": self.x_es,
                "y_es": self.y_es, "x_val": self.x_val, "y_val": self.y_val}

    def final_payload(self) -> dict[str, Any]:
        """For train-best: train on train + early-stopping rows, stop on validation, score test."""
        y_es = self.y_val  # early stopping on validation, in the units the network learns
        if self.target_scale is not None:
            y_es = ((self.y_val - self.target_scale[0]) / self.target_scale[1]).astype(np.float32)
        return {**self._base(), "x_train": np.concatenate([self.x_train, self.x_es]),
                "y_train": np.concatenate([self.y_train, self.y_es]), "x_es": self.x_val, "y_es": y_es,
                "x_val": self.x_val, "y_val": self.y_val, "x_test": self.x_test, "y_test": self.y_test,
                "preprocess": self.preprocess(), "raw_val": self.raw_val, "raw_test": self.raw_test}


def content_hash(*parts: Any) -> str:
    """sha256 (16 hex digits) over arrays (dtype, shape and bytes) and plain values."""
    import hashlib

    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, np.ndarray):
            a = np.ascontiguousarray(p)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes() if a.dtype != object else repr(a.tolist()).encode())
        else:
            h.update(repr(p).encode())
    return h.hexdigest()[:16]


def _path(spec: dict[str, Any], base_dir: Path, what: str) -> Path:
    if "path" not in spec:
        raise DataError(f"data source '{spec['source']}' needs 'path' ({what})")
    p = Path(spec["path"])
    p = p if p.is_absolute() else base_dir / p
    if not p.is_file():
        raise DataError(f"data file not found: {p}")
    return p


def _read_csv(p: Path, target: str | int | None, header: bool = True, delimiter: str | None = None,
              categorical: list[Any] | None = None) -> tuple[np.ndarray, np.ndarray, str, list[str]]:
    """(features, targets, the target column's name, the feature columns' names) of a CSV file.

    ``header``: the first line names the columns (else they are named by index: 0, 1, ...);
    ``target``: a column name or index (0-based), by default the last column; ``delimiter``: one
    character, else sniffed from the file's start (comma, semicolon, tab or bar). Quoted fields may
    hold the delimiter. A UTF-8 byte-order mark is not part of the first column's name. A feature
    column whose every cell is a number is numeric; any other is categorical (its text is its
    value), and the features are then an object array; a column of numbers with some text is an
    error, unless ``categorical`` names it (its values are then categories, numbers included)."""
    with p.open(newline="", encoding="utf-8-sig") as f:
        sample = f.read(65536)
        f.seek(0)
        rows = list(csv.reader(f, delimiter=delimiter or sniff_delimiter(sample)))
    rows = [r for r in rows if r]  # a blank line (often the last) is no row
    first = 2 if header else 1  # the line number of the first data row
    if len(rows) < first:
        raise DataError(f"{p}: needs a header line and at least one row" if header else f"{p}: has no rows")
    if header:
        names = [h.strip() for h in rows[0]]
        if names and all(table.is_number(h) for h in names):
            print(f"warning: {p}:1: the header line is all numbers ({', '.join(names[:4])}"
                  f"{', ...' if len(names) > 4 else ''}): it looks like a row of data, and it is read as column "
                  "names; if the file has no header line, set 'header: false' in 'data:'", file=sys.stderr)
        rows = rows[1:]
    else:
        names = [str(i) for i in range(len(rows[0]))]
    if isinstance(target, int) and not isinstance(target, bool):
        if not 0 <= target < len(names):
            raise DataError(f"{p}:1: no column {target} (columns are 0..{len(names) - 1})")
        target = names[target]
    target = target if target is not None else names[-1]
    if target not in names:
        raise DataError(f"{p}:1: no target column '{target}' (columns: {', '.join(names)})")
    ti = names.index(target)
    features = [c for c in range(len(names)) if c != ti]
    cells: list[list[str]] = []
    y: list[str] = []
    for r, row in enumerate(rows):
        line = r + first
        if len(row) != len(names):
            raise DataError(f"{p}:{line}: {len(row)} fields, " + (f"the header has {len(names)}" if header else
                                                                 f"the first line has {len(names)}"))
        if row[ti].strip() == "":
            raise DataError(f"{p}:{line}: empty target '{target}'")
        y.append(row[ti].strip())
        values = [row[c].strip() for c in features]
        for c, v in zip(features, values, strict=True):
            if v == "":
                raise DataError(f"{p}:{line}: column '{names[c]}' is missing (empty cell)")
        cells.append(values)
    kinds = table.kinds_of(cells, len(features))
    forced = [str(c) for c in categorical or []]
    for name in forced:
        if name not in names or name == target:
            raise DataError(f"{p}:1: 'categorical' names '{name}', which is not a feature column "
                            f"(columns: {', '.join(names[c] for c in features)})")
    for j, c in enumerate(features):
        if names[c] in forced:
            kinds[j] = table.CATEGORICAL
        elif kinds[j] == table.CATEGORICAL:
            numbers = [r for r, row in enumerate(cells) if table.is_number(row[j])]
            if numbers:  # a column of numbers with some text: a typo or a missing-value marker
                bad = next(r for r, row in enumerate(cells) if not table.is_number(row[j]))
                raise DataError(f"{p}:{bad + first}: column '{names[c]}' is not numeric ({cells[bad][j]!r}) but "
                                f"{len(numbers)} of its {len(cells)} cells are numbers; fix the cell, or list the "
                                "column under data.categorical to treat its values as categories")
    for j, kind in enumerate(kinds):
        if kind == table.NUMERIC:
            for r, row in enumerate(cells):
                if math.isnan(float(row[j])):
                    raise DataError(f"{p}:{r + first}: column '{names[features[j]]}' is missing (NaN)")
    if all(k == table.NUMERIC for k in kinds):
        x = np.array([[float(v) for v in row] for row in cells], dtype=np.float64).reshape(len(cells), len(features))
    else:
        x = np.empty((len(cells), len(features)), dtype=object)
        for r, row in enumerate(cells):
            x[r] = [float(v) if k == table.NUMERIC else str(v) for v, k in zip(row, kinds, strict=True)]
    where = f"{p}: target column '{target}'"
    feature_names = [names[c] for c in features]
    try:
        return x, np.array([float(v) for v in y]), where, feature_names
    except ValueError:
        return x, np.array(y), where, feature_names


def sniff_delimiter(sample: str) -> str:
    """The delimiter of a CSV file from its first lines: comma, semicolon, tab or bar (comma if unsure)."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _fashion(spec: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    def idx(name: str) -> np.ndarray:
        p = FASHION_DIR / name
        if not p.is_file():
            raise DataError(f"Fashion-MNIST not found at {p}: install the Debian package dataset-fashion-mnist "
                            "(apt-get install dataset-fashion-mnist)")
        with gzip.open(p, "rb") as f:
            raw = f.read()
        dims = raw[3]
        shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
        return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)

    xtr, ytr = idx("train-images-idx3-ubyte.gz"), idx("train-labels-idx1-ubyte.gz")
    xte, yte = idx("t10k-images-idx3-ubyte.gz"), idx("t10k-labels-idx1-ubyte.gz")
    return xtr, ytr.astype(int), xte, yte


def _raw(spec: dict[str, Any], base_dir: Path, seed: int,
         names: list[str] | None = None) -> tuple[np.ndarray, np.ndarray, Any, str]:
    """(x, y, official test split or None, what the targets are called in an error message); the
    feature columns' names, where the source has them, are put in ``names``."""
    src = spec["source"]
    names = names if names is not None else []
    if src in SKLEARN:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, SKLEARN[src])()
        x, y = bunch.data, bunch.target
        if src == "digits":  # 8x8 images of 0..16 grey levels, flattened by scikit-learn
            x = x.reshape(len(x), 8, 8)
        else:
            names.extend(str(n) for n in bunch.feature_names)
        return x, y, None, f"data {src}: the target"
    if src == "synthetic":
        import sklearn.datasets

        n = int(spec.get("n_samples", 1000))
        d = int(spec.get("n_features", 20))
        if spec.get("kind", "classification") == "regression":
            x, y = sklearn.datasets.make_regression(n_samples=n, n_features=d, noise=float(spec.get("noise", 0.1)),
                                                    random_state=seed)
            return x, y, None, f"data {src}: the target"
        k = int(spec.get("n_classes", 2))
        x, y = sklearn.datasets.make_classification(n_samples=n, n_features=d, n_informative=max(2, d // 2),
                                                    n_classes=k, random_state=seed)
        return x, y, None, f"data {src}: the target"
    if src == "csv":
        x, y, where, columns = _read_csv(_path(spec, base_dir, "a CSV file"), spec.get("target"),
                                         spec.get("header", True), spec.get("delimiter"), spec.get("categorical"))
        names.extend(columns)
        return x, y, None, where
    if src == "npz":
        p = _path(spec, base_dir, "an .npz file")
        try:
            with np.load(p, allow_pickle=False) as z:
                xk, yk = spec.get("x", "x"), spec.get("y", "y")
                missing = [k for k in (xk, yk) if k not in z.files]
                if missing:
                    raise DataError(f"{p}: no array '{missing[0]}' (arrays: {', '.join(z.files)})")
                return z[xk], z[yk], None, f"{p}: array '{yk}'"
        except (OSError, ValueError) as exc:
            raise DataError(f"{p}: not a readable .npz file ({exc})") from None
    if src == "python":
        from natsel._imports import resolve_callable

        ref = spec.get("function")
        if not ref:
            raise DataError("data source 'python' needs 'function: module:function' returning (x, y)")
        try:
            out = resolve_callable(ref, base_dir)()
        except ValueError as exc:
            raise DataError(f"data function {ref}: {exc}") from None
        if not (isinstance(out, tuple) and len(out) == 2):
            raise DataError(f"data function {ref} must return a tuple (x, y)")
        return np.asarray(out[0]), np.asarray(out[1]), None, f"data function {ref}: its targets"
    if src == "fashion_mnist":
        xtr, ytr, xte, yte = _fashion(spec)
        return xtr, ytr, (xte, yte), f"data {src}: the target"
    raise DataError(f"unknown data source '{src}'")


def _check(x: np.ndarray, y: np.ndarray, name: str) -> np.ndarray:
    """Rows of features (2-D), or images as (n, height, width, channels): 3-D ``x`` gets one channel."""
    if x.ndim == 1:
        x = x.reshape(len(x), 1)
    elif x.ndim == 3:
        x = x[..., None]
    elif x.ndim > 4:
        raise DataError(f"data {name}: features have {x.ndim} dimensions; natsel takes rows (2), grey images "
                        "(3: n, height, width) or images with channels (4: n, height, width, channels)")
    if x.dtype == object and x.ndim == 2:  # a table with categorical columns (a CSV's text)
        if len(x) != len(y):
            raise DataError(f"data {name}: {len(x)} feature rows but {len(y)} targets")
        return x
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"data {name}: features must be numeric, got dtype {x.dtype}")
    if len(x) != len(y):
        raise DataError(f"data {name}: {len(x)} feature rows but {len(y)} targets")
    bad = np.argwhere(~np.isfinite(x)) if x.dtype.kind in "fc" else np.empty((0, 1), dtype=int)
    if len(bad):
        rows = ", ".join(str(int(r)) for r in np.unique(bad[:, 0])[:5])
        raise DataError(f"data {name}: {len(bad)} NaN or infinite feature values (rows {rows})")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise DataError(f"data {name}: NaN or infinite targets")
    return x


#: fixed pixel scales of sources whose range is known (scikit-learn's digits have 17 grey levels)
KNOWN_SCALE = {"digits": 16.0, "fashion_mnist": 255.0}


def pixel_scale(x: np.ndarray, name: str) -> float:
    """One number every pixel is divided by: the source's own range where known (digits 16,
    Fashion-MNIST 255), 1 for data already within [-1, 1], 255 for data within 0..255 (uint8 range),
    else the largest absolute value in ``x`` (the train split)."""
    if name in KNOWN_SCALE:
        return KNOWN_SCALE[name]
    lo, hi = float(x.min()), float(x.max())
    peak = max(abs(lo), abs(hi))
    if peak <= 1:
        return 1.0
    return 255.0 if lo >= 0 and hi <= 255 else peak


def _task(y: np.ndarray, task: str, name: str) -> str:
    if task != "auto":
        return task
    if name == "diabetes":
        return "regression"
    if y.dtype.kind in "fiu":
        yf = y.astype(np.float64)
        if not np.all(yf == np.round(yf)) or len(np.unique(yf)) > MAX_CLASSES:
            return "regression"
    return "binary" if len(np.unique(y)) == 2 else "multiclass"


def _split(n_rows: int, y: np.ndarray | None, fractions: list[float], rng: np.random.Generator,
           labels: list[Any], name: str) -> list[np.ndarray]:
    """Index sets for each fraction (the remainder goes to the last); stratified when ``y`` is given."""
    groups = [np.arange(n_rows)] if y is None else [np.flatnonzero(y == c) for c in range(len(labels))]
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    need = 1 + sum(f > 0 for f in fractions)
    for c, idx in enumerate(groups):
        if y is not None and len(idx) < need:
            raise DataError(f"data {name}: class {labels[c]!r} has {len(idx)} rows; the stratified split needs at "
                            f"least {need} per class")
        idx = rng.permutation(idx)
        start = 0
        for i, f in enumerate(fractions):
            k = max(1, round(f * len(idx))) if f > 0 else 0
            parts[i].append(idx[start : start + k])
            start += k
        parts[-1].append(idx[start:])
    return [np.sort(np.concatenate(p)) for p in parts]


def load_dataset(spec: dict[str, Any], base_dir: str | Path = ".", seed: int = 0, task: str = "auto",
                 all_rows: bool = False) -> Dataset:
    """Load, check and split the data a config's ``data:`` section names.

    ``all_rows`` (train-best): a source cut short by ``limit`` is split exactly as the search split
    it (same validation, early-stopping and test rows, same scaling, same fingerprint), and the rows
    beyond the limit join the training rows."""
    base = Path(base_dir)
    name = str(spec.get("source"))
    names: list[str] = []
    x, y, official_test, target = _raw(spec, base, seed, names)
    x, y = np.asarray(x), np.asarray(y)
    raw_shape = tuple(int(d) for d in x.shape[1:])
    extra: tuple[np.ndarray, np.ndarray] | None = None
    limit = spec.get("limit")
    if limit and int(limit) < len(x):  # the first rows only (a source's own test set is kept whole)
        if all_rows:
            extra = (_check(x[int(limit):], y[int(limit):], f"{name} (rows beyond the limit)"), y[int(limit):])
        if _task(y, task, name) != "regression":
            kept, every = np.unique(y[: int(limit)]), np.unique(y)
            if len(kept) < len(every):
                raise DataError(f"data {name}: its first {int(limit)} rows ('limit') hold {len(kept)} of its "
                                f"{len(every)} classes (are the rows sorted by class?); shuffle the rows, or "
                                "raise the limit")
        x, y = x[: int(limit)], y[: int(limit)]
    x = _check(x, y, name)
    task = _task(y, task, name)
    if task != "regression" and len(np.unique(y)) < 2:
        raise DataError(f"{target} has one class ({np.unique(y).tolist()[0]!r}) in all {len(y)} rows"
                        f"{' used' if limit else ''}; a classifier needs at least 2 (is it the right column?)")
    rng = np.random.default_rng([seed, 7])
    val_f, test_f, es_f = (float(spec.get(k, d)) for k, d in (("validation", 0.2), ("test", 0.2),
                                                              ("early_stopping", 0.1)))
    classes: list[Any] = []
    if task == "regression":
        yy = y.astype(np.float32)
        strat = None
        scale_target = bool(spec.get("scale_target", True))
    else:
        classes = sorted(np.unique(y).tolist())
        if task == "binary" and len(classes) != 2:
            raise DataError(f"data {name}: task 'binary' needs 2 classes, found {len(classes)}")
        lookup = {c: i for i, c in enumerate(classes)}
        yy = np.array([lookup[v] for v in y.tolist()], dtype=np.int64)
        strat = yy
    if official_test is not None:  # keep the source's own test set
        val_idx, rest = _split(len(x), strat, [val_f], rng, classes, name)
        x_test, yt_raw = official_test
        y_test = np.array([classes.index(v) for v in yt_raw.tolist()], dtype=np.int64) if classes else yt_raw
    else:
        test_idx, val_idx, rest = _split(len(x), strat, [test_f, val_f], rng, classes, name)
        x_test, y_test = x[test_idx], yy[test_idx]
    es_rel, train_rel = _split(len(rest), None if strat is None else strat[rest], [es_f], rng, classes, name)
    train_idx, es_idx = rest[train_rel], rest[es_rel]
    x_test = _check(np.asarray(x_test), np.asarray(y_test), f"{name} (test set)")
    if x_test.shape[1:] != x.shape[1:]:
        raise DataError(f"data {name}: test examples have shape {x_test.shape[1:]}, training ones {x.shape[1:]}")
    scale: float | None = None
    parts: tuple[Any, ...] = ()
    columns: list[table.Column] = []
    if x.ndim == 4:  # images: every pixel divided by one number, the shape kept
        scale = pixel_scale(x[train_idx], name)

        def z(a: np.ndarray) -> np.ndarray:
            return (a / np.float32(scale)).astype(np.float32)

        parts = ("pixels", scale)  # the same pixels scaled otherwise are other inputs: another hash
    else:  # a table: numeric columns standardised, categorical ones one-hot (table.py)
        if len(names) != x.shape[1]:
            names = [f"x{j}" for j in range(x.shape[1])]
        kinds = [table.CATEGORICAL if x.dtype == object and isinstance(x[0, j], str) else table.NUMERIC
                 for j in range(x.shape[1])]
        columns = table.fit(names, kinds, x[train_idx])

        def z(a: np.ndarray) -> np.ndarray:
            return table.encode(columns, a)

    target_scale: tuple[float, float] | None = None
    if task == "regression" and scale_target:  # networks learn the standardised target; scores stay in its units
        t = yy[train_idx].astype(np.float64)
        target_scale = (float(t.mean()), float(t.std()) or 1.0)
        parts = (*parts, "target scaled")  # other training targets: other evaluations
    source = content_hash(task, classes, np.asarray(x), np.asarray(y), train_idx, es_idx, val_idx,
                          x_test, np.asarray(y_test), *parts)

    def learned(t: np.ndarray) -> np.ndarray:  # the target as networks learn it
        return t if target_scale is None else ((t - target_scale[0]) / target_scale[1]).astype(np.float32)

    x_train, y_train = z(x[train_idx]), learned(yy[train_idx])
    if extra is not None and len(extra[0]):
        ex, ey = extra
        if classes:
            unknown = sorted(set(ey.tolist()) - set(classes), key=str)
            if unknown:
                raise DataError(f"data {name}: rows beyond the limit have classes the search never saw: {unknown[:5]}")
            ey = np.array([classes.index(v) for v in ey.tolist()], dtype=np.int64)
        else:
            ey = learned(ey.astype(np.float32))
        x_train, y_train = np.concatenate([x_train, z(ex)]), np.concatenate([y_train, ey])
    raw_test = np.asarray(official_test[0]) if official_test is not None else np.asarray(_raw_rows(x, test_idx))
    return Dataset(name=name, task=task, n_classes=len(classes), classes=classes,
                   x_train=x_train, y_train=y_train, x_es=z(x[es_idx]), y_es=learned(yy[es_idx]),
                   x_val=z(x[val_idx]), y_val=yy[val_idx], x_test=z(x_test),
                   y_test=np.asarray(y_test), source_hash=source, pixel_scale=scale, columns=columns,
                   raw_shape=raw_shape, target_name=target_label(target), target_scale=target_scale,
                   raw_val=_raw_rows(x, val_idx, raw_shape), raw_test=raw_test.reshape(len(raw_test), *raw_shape))


def _raw_rows(x: np.ndarray, idx: np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Rows of ``x`` as the source gave them (images without the channel axis natsel added)."""
    rows = x[idx]
    return rows.reshape(len(rows), *shape) if shape is not None else rows


def target_label(where: str) -> str:
    """The target's name from how error messages call it ("...: target column 'price'" -> price)."""
    if "target column '" in where:
        return where.rsplit("target column '", 1)[1].rstrip("'")
    return "target"
