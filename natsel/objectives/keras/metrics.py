"""Scores of predictions, the same in workers, train-best and tests (scikit-learn's metrics)."""

from __future__ import annotations

import numpy as np

#: metric name -> larger is better (the config's `training.metric` accepts exactly these)
DIRECTION = {"accuracy": True, "f1": True, "auc": True, "loss": False, "mae": False, "mse": False}


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of one class against the rest; nan when the truth holds only one of the two."""
    from sklearn.metrics import roc_auc_score

    if y.min() == y.max():
        return float("nan")
    return float(roc_auc_score(y, score))


def _rows_sum_to_one(p: np.ndarray) -> np.ndarray:
    """float32 softmax rows sum to 1 only within ~1e-7, which log_loss warns about on every call."""
    total = p.sum(axis=1, keepdims=True)
    return np.divide(p, total, out=p.copy(), where=total > 0)


def classification_scores(y: np.ndarray, proba: np.ndarray, n_classes: int) -> dict[str, float]:
    """accuracy, macro f1, (macro one-vs-rest) auc and cross-entropy loss.

    ``proba`` is (n, n_classes) for multi-class or (n,) / (n, 1) of P(class 1) for binary.
    f1 averages over the classes present in the truth or the predictions; auc over the classes
    present in the truth (binary: nan unless both are), from the unclipped scores.
    """
    from sklearn.metrics import accuracy_score, f1_score, log_loss

    y = np.asarray(y).astype(int).ravel()
    p = np.asarray(proba, dtype=np.float64)
    if n_classes == 2 and (p.ndim == 1 or p.shape[1] == 1):
        p1 = p.ravel()
        p = np.stack([1 - p1, p1], axis=1)
    pred = p.argmax(axis=1)
    present = np.union1d(y, pred)
    if n_classes == 2:
        auc = _auc((y == 1).astype(int), p[:, 1])
    else:
        aucs = [_auc((y == c).astype(int), p[:, c]) for c in range(n_classes)]
        aucs = [a for a in aucs if not np.isnan(a)]
        auc = float(np.mean(aucs)) if aucs else float("nan")
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "f1": float(f1_score(y, pred, labels=present, average="macro", zero_division=0)),
        "auc": auc,
        "loss": float(log_loss(y, _rows_sum_to_one(p), labels=list(range(n_classes)))),
    }


def regression_scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    t = np.asarray(y, dtype=np.float64).ravel()
    q = np.asarray(pred, dtype=np.float64).ravel()
    mse = float(mean_squared_error(t, q))
    spread = float(np.sum((t - t.mean()) ** 2))
    r2 = 1.0 - float(np.sum((t - q) ** 2)) / spread if spread > 0 else float("nan")
    return {"loss": mse, "mse": mse, "mae": float(mean_absolute_error(t, q)), "r2": r2}
