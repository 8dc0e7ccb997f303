"""A data function for tests: 3 classes x 100 rows; column 0 is a unique row id."""

import numpy as np


def make():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 100)
    x = np.column_stack([np.arange(300) / 1e6 + 1.0, rng.normal(5.0, 3.0, 300), rng.normal(size=300)])
    return x, y
