"""An example ``model:`` builder: ``model: natsel.examples.models:build`` in a config.

natsel calls ``build(genome, input_shape, n_outputs, task)`` in each worker and trains what it
returns. This one is a small residual network of plain Keras layers (so a saved ``.keras`` file
reloads with ``keras.models.load_model`` and no natsel): on images, ``blocks`` stages of two 3x3
convolutions with a skip connection and max pooling, ``width`` filters doubling per stage; on rows
of features, dense layers with the same skip connections. Its genes are its own: ``blocks``,
``width``, ``units``, ``dropout`` (and ``optimizer``, ``learning_rate``, ``batch_size``, which natsel
uses to compile and train it because it comes back uncompiled).

Keras is imported inside the function: the module itself is cheap to import anywhere.
"""

from __future__ import annotations

from typing import Any


def build(genome: dict[str, Any], input_shape: tuple[int, ...], n_outputs: int, task: str) -> Any:
    import keras
    from keras import layers

    width = int(genome.get("width", 16))
    inputs = keras.Input(input_shape)
    x = inputs
    if len(input_shape) == 3:  # (height, width, channels)
        size = min(input_shape[0], input_shape[1])
        for i in range(int(genome.get("blocks", 1))):
            if size < 2:
                raise ValueError(f"blocks={genome['blocks']} pools a {input_shape[0]}x{input_shape[1]} image "
                                 "below 1x1")
            x = layers.Conv2D(width * 2**i, 3, padding="same", activation="relu")(x)
            skip = x
            x = layers.Conv2D(width * 2**i, 3, padding="same", activation="relu")(x)
            x = layers.Add()([x, skip])
            x = layers.MaxPooling2D(2)(x)
            size //= 2
        x = layers.GlobalAveragePooling2D()(x)
    else:
        x = layers.Dense(width, activation="relu")(x)
        for _ in range(int(genome.get("blocks", 1))):
            x = layers.Add()([x, layers.Dense(width, activation="relu")(x)])
    x = layers.Dense(int(genome.get("units", 32)), activation="relu")(x)
    if float(genome.get("dropout", 0.0)) > 0:
        x = layers.Dropout(float(genome["dropout"]))(x)
    activation = {"multiclass": "softmax", "binary": "sigmoid"}.get(task)  # natsel scores probabilities
    return keras.Model(inputs, layers.Dense(n_outputs, activation=activation)(x))
