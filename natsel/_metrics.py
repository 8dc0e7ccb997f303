"""Scores computed with numpy from predictions, the same in workers, train-best and tests."""

from __future__ import annotations

import numpy as np

#: metric name -> larger is better (the config's `training.metric` accepts exactly these)
DIRECTION = {"accuracy": True, "f1": True, "auc": True, "loss": False, "mae": False, "mse": False}


def _auc_binary(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum formula (ties get their mean rank)."""
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    i = 0
    while i < len(score):
        j = i
        while j + 1 < len(score) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classification_scores(y: np.ndarray, proba: np.ndarray, n_classes: int) -> dict[str, float]:
    """accuracy, macro f1, (macro one-vs-rest) auc and cross-entropy loss.

    ``proba`` is (n, n_classes) for multi-class or (n,) / (n, 1) of P(class 1) for binary.
    """
    y = np.asarray(y).astype(int).ravel()
    p = np.asarray(proba, dtype=np.float64)
    if n_classes == 2 and (p.ndim == 1 or p.shape[1] == 1):
        p1 = np.clip(p.ravel(), 1e-7, 1 - 1e-7)
        p = np.stack([1 - p1, p1], axis=1)
    p = np.clip(p, 1e-7, 1.0)
    pred = p.argmax(axis=1)
    f1s = []
    for c in range(n_classes):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    aucs = [_auc_binary((y == c).astype(int), p[:, c]) for c in range(n_classes)]
    aucs = [a for a in aucs if not np.isnan(a)]
    if n_classes == 2:
        aucs = aucs[1:] if len(aucs) == 2 else aucs
    return {
        "accuracy": float(np.mean(pred == y)),
        "f1": float(np.mean(f1s)),
        "auc": float(np.mean(aucs)) if aucs else float("nan"),
        "loss": float(-np.mean(np.log(p[np.arange(len(y)), y]))),
    }


def regression_scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    err = np.asarray(pred, dtype=np.float64).ravel() - np.asarray(y, dtype=np.float64).ravel()
    return {"loss": float(np.mean(err**2)), "mse": float(np.mean(err**2)), "mae": float(np.mean(np.abs(err)))}
