"""The model a search ships: raw inputs in, answers in the target's terms out. Imports TensorFlow
(train-best's worker and ``natsel predict`` only).

:func:`shipped_model` wraps a trained network in Keras preprocessing layers built from the data's
``preprocess`` description (:meth:`natsel.objectives.keras.data.Dataset.preprocess`):

* a table whose columns are all numeric: one input of the raw rows, ``Normalization`` with the
  train split's means and variances;
* a table with categorical columns: one input per column, by the column's name (numbers, or text
  for a categorical column), each numeric column normalised and each categorical one
  ``StringLookup(output_mode="one_hot")`` over the train split's values (slot 0: a value it never
  held), concatenated in column order, as the search's trials saw them;
* images: the raw pixels (the source's shape), ``Rescaling`` by the pixel scale;
* regression: the network's standardised output ``Rescaling`` back into the target's units.

So ``keras.models.load_model("best_model.keras")`` predicts on raw data in any process, natsel or
not; class names are in ``labels.json`` beside it (``natsel.load_model`` and ``natsel predict``
use them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from natsel.objectives.keras import table
from natsel.objectives.keras.metrics import classification_scores, regression_scores


def shipped_model(keras: Any, net: Any, preprocess: dict[str, Any]) -> Any:
    """``net`` (a trained functional model) behind its preprocessing, answering in the target's units."""
    if preprocess["kind"] == "image":
        shape = tuple(preprocess["raw_shape"])
        inputs: Any = keras.Input(shape, name="pixels")
        x = inputs
        if len(shape) == 2:  # grey images as the source gives them: natsel adds the channel axis
            x = keras.layers.Reshape((*shape, 1), name="channel")(x)
        x = keras.layers.Rescaling(1.0 / float(preprocess["pixel_scale"]), name="pixel_scale")(x)
    else:
        columns = [table.Column.from_dict(c) for c in preprocess["columns"]]
        if all(c.kind == table.NUMERIC for c in columns):
            inputs = keras.Input((len(columns),), name="rows")
            x = keras.layers.Normalization(mean=[c.mean for c in columns], variance=[c.std**2 for c in columns],
                                           name="standardize")(inputs)
        else:
            inputs, parts = {}, []
            for j, c in enumerate(columns):
                if c.kind == table.NUMERIC:
                    inputs[c.name] = keras.Input((1,), name=c.name, dtype="float32")
                    parts.append(keras.layers.Normalization(mean=[c.mean], variance=[c.std**2],
                                                            name=f"standardize_{j}")(inputs[c.name]))
                else:
                    inputs[c.name] = keras.Input((1,), name=c.name, dtype="string")
                    parts.append(keras.layers.StringLookup(vocabulary=c.vocabulary, num_oov_indices=1,
                                                           output_mode="one_hot", name=f"one_hot_{j}")(inputs[c.name]))
            x = keras.layers.Concatenate(name="features")(parts) if len(parts) > 1 else parts[0]
    out = net(x)
    target = preprocess["target"]
    if target["task"] == "regression" and (target.get("mean", 0.0), target.get("std", 1.0)) != (0.0, 1.0):
        out = keras.layers.Rescaling(float(target["std"]), offset=float(target["mean"]), name="target_units")(out)
    return keras.Model(inputs, out, name="natsel_model")


def raw_predict(model: Any, raw: np.ndarray, preprocess: dict[str, Any], batch: int = 4096) -> np.ndarray:
    """The shipped model's outputs on raw rows (or images), in chunks."""
    columns = [table.Column.from_dict(c) for c in preprocess.get("columns", [])]
    out = []
    for i in range(0, len(raw), batch):
        part = raw[i : i + batch]
        inputs = table.model_inputs(columns, part) if preprocess["kind"] == "table" else part.astype(np.float32)
        if isinstance(inputs, dict):
            import tensorflow as tf

            inputs = {k: tf.constant(v.astype(str)) if v.dtype == object else v for k, v in inputs.items()}
        out.append(np.asarray(model.predict(inputs, verbose=0, batch_size=len(part))))
    return np.concatenate(out) if out else np.zeros((0, 1), dtype=np.float32)


def raw_scores(model: Any, raw: np.ndarray, y: np.ndarray, preprocess: dict[str, Any],
               n_classes: int) -> dict[str, float]:
    """The shipped model's metrics on raw inputs (the target in its own units)."""
    pred = raw_predict(model, raw, preprocess)
    if preprocess["target"]["task"] == "regression":
        return regression_scores(y, pred)
    return classification_scores(y, pred, n_classes)


def load_shipped(path: Any) -> Any:
    """``keras.models.load_model`` of a shipped model (TensorFlow imported here, quietly)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import keras

    return keras.models.load_model(str(path))
