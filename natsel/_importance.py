"""How much each gene matters for fitness, over a run's full-budget trials (``natsel importance``).

With the ``optuna`` extra installed: Optuna's fANOVA evaluator (``FanovaImportanceEvaluator``: a
random forest of the trials, and the share of the fitness variance each gene's marginal explains),
run on an in-memory study that the export path builds (``natsel.tracking._optuna``). Without it:
scikit-learn's permutation importance of a random forest fitted to the trials (the drop in R^2 when a
gene's values are shuffled). Either way the result says which was used.

* Trials: the run's finished full-budget evaluations with a fitness (one per genome; failures and
  reduced budgets left out).
* Conditional genes: a gene is scored over the trials where it is active, with the genes active in
  all of those trials beside it; a gene active everywhere is scored over every trial.
* Spread: ``resamples`` random 80% subsets of the trials (seeds 0, 1, ...; drawn without replacement,
  as a forest would read repeated trials as evidence): the mean and standard deviation over them.
* Which trials: importance describes the trials it is given. A random search's trials (``strategy:
  random``) cover the space evenly; an evolved run's cluster where fitness is high, so genes that
  were settled early look unimportant there, and chance correlations among the survivors can look
  important (README.md says what that did on bench's many problem).
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

import numpy as np

from natsel._errors import RunDirError
from natsel._run import evaluations, run_space
from natsel._space import Fixed, SearchSpace
from natsel._trial import TrialRow, is_number

if TYPE_CHECKING:
    from natsel._run import Run

#: fewer trials than this (where a gene is active) give no importance for it
MIN_TRIALS = 8
#: the share of the trials in each resample
SUBSAMPLE = 0.8
#: fANOVA's forest: Optuna's default is 64 trees of depth 64; 32 of depth 6 gave the same ranking
#: on bench problems (many, 400 random trials, 2 seeds) about 4x faster, which keeps ``natsel plot`` quick
FANOVA = {"n_trees": 32, "max_depth": 6}


def method_name(use_optuna: bool) -> str:
    """What :func:`importance` uses, with the tool's version."""
    if use_optuna:
        import optuna

        return f"fANOVA (Optuna {optuna.__version__})"
    import sklearn

    hint = "" if importlib.util.find_spec("optuna") else "; pip install 'natsel[optuna]' for fANOVA"
    return f"permutation importance of a random forest (scikit-learn {sklearn.__version__}{hint})"


def scored_trials(run: Run) -> list[TrialRow]:
    """The trials importance is computed over: full-budget evaluations with a fitness."""
    return [t for t in evaluations(run.trials) if is_number(t["fitness"])]


def _fanova(run: Run, rows: list[TrialRow], params: list[str], space: SearchSpace, seed: int) -> dict[str, float]:
    import optuna

    from natsel.tracking._optuna import in_memory_study

    study = in_memory_study(run, rows, space)
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed, **FANOVA)
    return optuna.importance.get_param_importances(study, evaluator=evaluator, params=params, normalize=False)


def _permutation(run: Run, rows: list[TrialRow], params: list[str], space: SearchSpace, seed: int) -> dict[str, float]:
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    x = np.array([[space[p].encode(r["genome"][p]) for p in params] for r in rows], dtype=float)
    y = np.array([float(r["fitness"]) for r in rows])
    forest = RandomForestRegressor(n_estimators=64, min_samples_leaf=2, random_state=seed).fit(x, y)
    res = permutation_importance(forest, x, y, n_repeats=5, random_state=seed)
    return {p: max(0.0, float(v)) for p, v in zip(params, res.importances_mean, strict=True)}


def importance(run: Run, resamples: int = 5, use_optuna: bool | None = None) -> dict[str, Any]:
    """Each searched gene's importance for fitness: ``{"method", "trials", "resamples", "genes": [{"gene",
    "mean", "std", "trials"}, ...]}``, most important first; a gene with too few trials where it is
    active, or a single value there, has ``mean`` None."""
    space = run_space(run)
    if space is None:
        raise RunDirError(f"{run.path}: the config's space cannot be read")
    rows = scored_trials(run)
    if use_optuna is None:
        use_optuna = importlib.util.find_spec("optuna") is not None
    score = _fanova if use_optuna else _permutation
    genes = [g.name for g in space.genes if not isinstance(g, Fixed) and g.size > 1]
    active = {name: {i for i, r in enumerate(rows) if name in space.active(r["genome"])} for name in genes}
    # genes scored together: those active in exactly the same trials; beside them, every gene active there too
    groups: dict[frozenset[int], list[str]] = {}
    for name in genes:
        groups.setdefault(frozenset(active[name]), []).append(name)
    values: dict[str, list[float]] = {g: [] for g in genes}
    counts = {g: len(active[g]) for g in genes}
    for r in range(resamples):
        sample = (np.random.default_rng(r).permutation(len(rows))[: max(1, int(SUBSAMPLE * len(rows)))]
                  if resamples > 1 else np.arange(len(rows)))
        for where, names in groups.items():
            picked = [rows[i] for i in sample if i in where]
            beside = [g for g in genes if active[g] >= where]
            varying = [g for g in beside if len({repr(t["genome"][g]) for t in picked}) > 1]
            if len(picked) < MIN_TRIALS or not any(n in varying for n in names):
                continue
            got = score(run, picked, varying, space, r)
            for n in names:
                values[n].append(float(got.get(n, 0.0)))
    out = []
    for g in genes:
        v = values[g]
        enough = len(v) >= max(1, resamples // 2)
        out.append({"gene": g, "mean": float(np.mean(v)) if enough else None,
                    "std": float(np.std(v)) if enough else None, "trials": counts[g]})
    out.sort(key=lambda e: (e["mean"] is None, -(e["mean"] or 0.0), e["gene"]))
    return {"method": method_name(use_optuna), "trials": len(rows), "resamples": resamples, "genes": out}
