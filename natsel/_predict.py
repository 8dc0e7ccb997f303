"""Using what a search made: ``natsel.load_model(folder)`` and ``natsel predict RUN_DIR DATA``.

``natsel train-best`` saves ``best_model.keras``, a model that takes raw data (the source's feature
columns, or images with their raw pixels) and answers in the target's terms, and ``labels.json``,
which names its classes and its input columns. This module reads new data the way ``data:`` reads
it, checks it against those columns, and turns the model's outputs into the user's labels. The
reading and checking is plain Python; only loading and running the model imports TensorFlow (in
:mod:`natsel.objectives.keras.export`), so ``natsel --help`` stays instant.
"""

from __future__ import annotations

import csv
import itertools
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from natsel._errors import DataError, NatselError

MODEL, LABELS = "best_model.keras", "labels.json"


def model_folder(path: str | Path) -> Path:
    """The folder holding ``best_model.keras`` and ``labels.json``: a run folder or train-best's ``--out``."""
    p = Path(path)
    if not p.is_dir():
        raise NatselError(f"{p} is not a folder (give a run folder, or the --out folder of natsel train-best)")
    if not (p / MODEL).is_file():
        raise NatselError(f"{p} has no {MODEL}: run `natsel train-best {p}` first")
    if not (p / LABELS).is_file():
        raise NatselError(f"{p} has no {LABELS} (a model saved by natsel before 0.3, which takes standardised "
                          "inputs): run `natsel train-best --force` again")
    return p


class Model:
    """A model a search shipped: raw data in, the user's labels (or the target's units) out.

    >>> model = natsel.load_model("runs/wine-20261206-101500")  # doctest: +SKIP
    >>> model.predict([[13.2, 1.8, ...]])  # doctest: +SKIP
    array(['class_0'], dtype=object)
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = model_folder(folder)
        self.labels: dict[str, Any] = json.loads((self.folder / LABELS).read_text(encoding="utf-8"))
        from natsel.objectives.keras.export import load_shipped  # imports TensorFlow

        self.keras_model = load_shipped(self.folder / MODEL)

    @property
    def task(self) -> str:
        return str(self.labels["task"])

    @property
    def classes(self) -> list[Any]:
        return list(self.labels.get("classes", []))

    @property
    def columns(self) -> list[str]:
        return [c["name"] for c in self.labels.get("columns", [])]

    def preprocess(self) -> dict[str, Any]:
        if self.labels["input"] == "images":
            return {"kind": "image", "target": {"task": self.task}}
        return {"kind": "table", "columns": self.labels["columns"], "target": {"task": self.task}}

    def raw(self, x: Any) -> np.ndarray:
        """``x`` as rows in the trained column order (a mapping or DataFrame by column name, or rows), or images."""
        if self.labels["input"] == "images":
            arr = np.asarray(x)
            shape = tuple(self.labels["shape"])
            if arr.shape[1:] != shape:
                raise ValueError(f"images of shape {arr.shape[1:]}; the model takes {shape}")
            return arr
        names = self.columns
        if isinstance(x, Mapping) or hasattr(x, "columns"):  # a dict of columns, or a pandas DataFrame
            have = list(x.keys()) if isinstance(x, Mapping) else [str(c) for c in x.columns]
            missing = [n for n in names if n not in have]
            if missing:
                raise ValueError(f"missing column(s) {', '.join(missing)} (the model takes: {', '.join(names)})")
            cols = [np.asarray(x[n], dtype=object).ravel() for n in names]
            rows = np.empty((len(cols[0]), len(names)), dtype=object)
            for j, c in enumerate(cols):
                rows[:, j] = c
        else:
            rows = np.asarray(x, dtype=object)
            if rows.ndim == 1:
                rows = rows.reshape(1, -1)
            if rows.ndim != 2 or rows.shape[1] != len(names):
                raise ValueError(f"rows of {rows.shape[-1]} values; the model takes {len(names)} columns: "
                                 f"{', '.join(names)}")
        for j, c in enumerate(self.labels["columns"]):
            if c["kind"] == "numeric":
                try:
                    rows[:, j] = rows[:, j].astype(np.float64)
                except (TypeError, ValueError):
                    raise ValueError(f"column '{c['name']}' must hold numbers") from None
            else:
                rows[:, j] = [str(v) for v in rows[:, j]]
        return rows

    def outputs(self, x: Any) -> np.ndarray:
        """The model's raw outputs: class probabilities, P(second class) for binary, or values."""
        from natsel.objectives.keras.export import raw_predict

        return raw_predict(self.keras_model, self.raw(x), self.preprocess())

    def predict_proba(self, x: Any) -> np.ndarray:
        """One probability per class (columns in the order of :attr:`classes`)."""
        if self.task == "regression":
            raise ValueError("a regression model predicts values, not class probabilities")
        return probabilities(self.outputs(x), self.task)

    def predict(self, x: Any) -> np.ndarray:
        """The class labels (as the data named them), or the target's values in its own units."""
        return answers(self.outputs(x), self.task, self.classes)


def probabilities(out: np.ndarray, task: str) -> np.ndarray:
    if task == "binary":
        p = np.asarray(out, dtype=np.float64).reshape(-1)
        return np.stack([1 - p, p], axis=1)
    return np.asarray(out, dtype=np.float64)


def answers(out: np.ndarray, task: str, classes: list[Any]) -> np.ndarray:
    if task == "regression":
        return np.asarray(out, dtype=np.float64).reshape(-1)
    labels = np.empty(len(classes), dtype=object)
    labels[:] = classes
    return labels[probabilities(out, task).argmax(axis=1)]


def load_model(folder: str | Path) -> Model:
    """The model ``natsel train-best`` saved in ``folder`` (a run folder, or its ``--out``); imports TensorFlow."""
    return Model(folder)


# -- natsel predict ------------------------------------------------------------------------------
def read_csv_batches(path: Path, labels: dict[str, Any], batch: int) -> Iterator[tuple[np.ndarray, list[str] | None]]:
    """Raw rows of a CSV in the model's column order, ``batch`` at a time, with the target column's
    values where the file has it. Checks the columns against the ones trained on (one line, naming
    the file and line, for anything that does not fit); a reordered file is read by column name."""
    from natsel.objectives.keras.data import sniff_delimiter
    from natsel.objectives.keras.table import is_number

    columns = labels["columns"]
    names = [c["name"] for c in columns]
    header = labels.get("header", True)
    f = path.open(newline="", encoding="utf-8-sig")
    try:
        reader = csv.reader(f, delimiter=labels.get("delimiter") or sniff_delimiter(f.read(65536)))
        f.seek(0)
        first = next((r for r in reader if r), None)
        if first is None:
            raise DataError(f"{path}: is empty")
        if header:
            have = [h.strip() for h in first]
            line = 1
        else:
            have = [str(i) for i in range(len(first))]
            line = 0
            f.seek(0)
            reader = csv.reader(f, delimiter=reader.dialect.delimiter)
        missing = [n for n in names if n not in have]
        target = labels.get("target")
        extra = [h for h in have if h not in names and h != target]
        if missing:
            raise DataError(f"{path}:1: missing column(s) {', '.join(missing)} (the model was trained on: "
                            f"{', '.join(names)})")
        if extra:
            raise DataError(f"{path}:1: column(s) {', '.join(extra)} the model was not trained on (it takes: "
                            f"{', '.join(names)}{f', and the target {target} may be present' if target else ''})")
        index = [have.index(n) for n in names]
        ti = have.index(target) if target in have else None
        rows: list[list[Any]] = []
        ys: list[str] = []
        for row in reader:
            line += 1
            if not row:
                continue
            if len(row) != len(have):
                raise DataError(f"{path}:{line}: {len(row)} fields, the header has {len(have)}")
            values: list[Any] = []
            for j, c in zip(index, columns, strict=True):
                cell = row[j].strip()
                if cell == "":
                    raise DataError(f"{path}:{line}: column '{c['name']}' is missing (empty cell)")
                if c["kind"] == "numeric":
                    if not is_number(cell) or cell.lower() == "nan":
                        raise DataError(f"{path}:{line}: column '{c['name']}' must be a number, got {cell!r}")
                    values.append(float(cell))
                else:
                    values.append(cell)
            rows.append(values)
            if ti is not None:
                ys.append(row[ti].strip())
            if len(rows) == batch:
                yield _rows(rows), (ys if ti is not None else None)
                rows, ys = [], []
        if rows:
            yield _rows(rows), (ys if ti is not None else None)
    finally:
        f.close()


def _rows(rows: list[list[Any]]) -> np.ndarray:
    out = np.empty((len(rows), len(rows[0])), dtype=object)
    out[:] = rows
    return out


def predict_file(folder: str | Path, data: str | Path, out: IO[str], *, proba: bool = False, batch: int = 8192,
                 progress: bool = True) -> dict[str, Any]:
    """Predict every row of ``data`` (CSV, or an ``.npz`` with array ``x``) and write a CSV of the answers
    to ``out`` (``prediction``, and with ``proba`` a ``p(<class>)`` column per class), streaming in
    batches. Returns counts, and the score on the file's own target column where it has one."""
    folder = model_folder(folder)
    labels = json.loads((folder / LABELS).read_text(encoding="utf-8"))
    data = Path(data)
    if not data.is_file():
        raise DataError(f"data file not found: {data}")
    if data.suffix == ".npz":
        batches = _npz_batches(data, labels, batch)
    elif labels["input"] == "images":
        raise DataError(f"{data}: the model takes images; give an .npz with an array 'x'")
    else:
        batches = read_csv_batches(data, labels, batch)
    first = next(batches, None)  # the file's columns are checked before anything is written
    model = Model(folder)
    task, classes = model.task, model.classes
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["prediction"] + ([f"p({c})" for c in classes] if proba and task != "regression" else []))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(desc="predict", unit="row", dynamic_ncols=True, file=sys.stderr)
    n, truth, guessed, unknown = 0, [], [], {c["name"]: 0 for c in labels.get("columns", []) if c["kind"] != "numeric"}
    vocab = {c["name"]: set(c.get("vocabulary", [])) for c in labels.get("columns", []) if c["kind"] != "numeric"}
    try:
        for rows, ys in itertools.chain([first] if first is not None else [], batches):
            for j, c in enumerate(labels.get("columns", [])):
                if c["name"] in vocab:
                    unknown[c["name"]] += sum(v not in vocab[c["name"]] for v in rows[:, j].tolist())
            outputs = model.outputs(rows)
            said = answers(outputs, task, classes)
            p = probabilities(outputs, task) if proba and task != "regression" else None
            for i, a in enumerate(said.tolist()):
                writer.writerow([a] + ([f"{v:.6g}" for v in p[i]] if p is not None else []))
            if ys is not None:
                truth += ys
                guessed += said.tolist()
            n += len(rows)
            if bar is not None:
                bar.update(len(rows))
    finally:
        if bar is not None:
            bar.close()
    result: dict[str, Any] = {"rows": n, "unknown": {k: v for k, v in unknown.items() if v}}
    if truth:
        result["target"] = labels.get("target")
        if task == "regression":
            t = np.array([float(v) for v in truth])
            result["mae"] = float(np.mean(np.abs(t - np.array(guessed, dtype=np.float64))))
        else:
            result["accuracy"] = float(np.mean([str(g) == str(t) for g, t in zip(guessed, truth, strict=True)]))
    return result


def _npz_batches(path: Path, labels: dict[str, Any], batch: int) -> Iterator[tuple[np.ndarray, list[str] | None]]:
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    with z:
        if "x" not in z.files:
            raise DataError(f"{path}: no array 'x' (arrays: {', '.join(z.files)})")
        x = z["x"]
        y = z["y"] if "y" in z.files else None
    if labels["input"] == "images":
        shape = tuple(labels["shape"])
        if x.shape[1:] != shape:
            raise DataError(f"{path}: images of shape {x.shape[1:]}; the model takes {shape}")
    elif x.ndim != 2 or x.shape[1] != len(labels["columns"]):
        raise DataError(f"{path}: 'x' has shape {x.shape}; the model takes rows of {len(labels['columns'])} columns")
    for i in range(0, len(x), batch):
        part = x[i : i + batch]
        rows = part if labels["input"] == "images" else part.astype(object)
        yield rows, (None if y is None else [str(v.item()) if hasattr(v, "item") else str(v) for v in y[i : i + batch]])
