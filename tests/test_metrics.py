"""Scores match scikit-learn's definitions (natsel once had hand-written copies that did not)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from natsel.objectives.keras.metrics import classification_scores, regression_scores


def test_auc_ranks_distinct_scores_near_one_without_ties():
    # clipping to 1 - 1e-7 before ranking made these three scores equal: AUC 0.5 instead of 1
    y = np.array([0, 1, 1])
    p = np.array([1 - 1e-8, 1 - 1e-9, 1 - 1e-10])
    assert classification_scores(y, p, 2)["auc"] == 1.0
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 1 - 1e-8, 1 - 1e-9, 0.99999999999])  # sklearn: 1.0; the old clip: 0.75
    assert classification_scores(y, p, 2)["auc"] == 1.0
    assert math.isnan(classification_scores(np.array([1, 1]), np.array([0.3, 0.9]), 2)["auc"])


def test_multiclass_auc_is_the_mean_over_classes_in_the_truth_of_unclipped_scores():
    e = 1e-10
    p = np.array([[1 - 2 * e, e, e], [1 - 4 * e, 3 * e, e], [1 - 3 * e, e, 2 * e], [1 - 5 * e, e, 4 * e]])
    y = np.array([0, 1, 0, 2])
    from sklearn.metrics import roc_auc_score

    want = np.mean([roc_auc_score(y == c, p[:, c]) for c in range(3)])
    assert classification_scores(y, p, 3)["auc"] == pytest.approx(want)
    assert want > 0.9  # the old clip turned every score of classes 1 and 2 into the same tie
    y = np.array([0, 1, 0, 1])  # class 2 never occurs: left out of the mean, as before
    want = np.mean([roc_auc_score(y == c, p[:, c]) for c in range(2)])
    assert classification_scores(y, p, 3)["auc"] == pytest.approx(want)


def test_macro_f1_leaves_out_classes_absent_from_truth_and_prediction():
    y = np.array([0, 0, 1, 1])
    p = np.array([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1]])
    scores = classification_scores(y, p, 3)  # class 2: never true, never predicted
    assert scores["f1"] == 1.0 and scores["accuracy"] == 1.0
    assert scores["loss"] == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.8, 0.7])))


def test_scores_are_sklearns_on_float32_softmax_and_sure_mistakes(recwarn):
    from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 300)
    p = rng.dirichlet(np.ones(4), 300).astype(np.float32)  # rows sum to 1 only within float32 rounding
    s = classification_scores(y, p, 4)
    assert s["accuracy"] == accuracy_score(y, p.argmax(1))
    assert s["f1"] == pytest.approx(f1_score(y, p.argmax(1), average="macro"))
    assert s["auc"] == pytest.approx(roc_auc_score(y, p / p.sum(1, keepdims=True), multi_class="ovr"))
    assert s["loss"] == pytest.approx(log_loss(y, p / p.sum(1, keepdims=True)))
    assert not [w for w in recwarn if "sum to one" in str(w.message)]
    y, p = np.array([0, 1]), np.array([[1.0, 0.0], [1.0, 0.0]])  # a sure and wrong prediction
    assert classification_scores(y, p, 2)["loss"] == pytest.approx(log_loss(y, p, labels=[0, 1]))  # not 1e-7 clip
    r = regression_scores(np.array([1.0, 2.0, 3.0]), np.array([[1.0], [2.5], [5.0]]))
    r2 = 1 - 4.25 / 2.0  # 1 - SSE / total sum of squares around the mean (2.0)
    assert r == pytest.approx({"loss": 4.25 / 3, "mse": 4.25 / 3, "mae": 2.5 / 3, "r2": r2})
