"""A natsel run as an Optuna study, through Optuna's documented API only (``create_study``,
``optuna.trial.create_trial``, ``Study.add_trial``): ``optuna-dashboard STORAGE_URL`` shows it.

One natsel trial is one Optuna trial:

* params: the trial's active genes (inactive ones are left out, as Optuna leaves out a parameter a
  conditional search space did not suggest), each with the distribution of its gene: a choice is
  categorical, an integer range ``IntDistribution`` (with its step, or log), a float range
  ``FloatDistribution`` (log where the gene is). Fixed genes are not searched: they are the study's
  user attribute ``fixed``.
* state and value: ``ok``/``timeout`` at the full budget -> COMPLETE with the fitness as its value
  (the study has the run's direction, and the metric's name); ``failed``/``killed`` (or a
  non-finite fitness) -> FAIL; ``pruned`` -> PRUNED; a trial at a reduced budget (a ``fidelity:`` rung)
  -> PRUNED too, its score an intermediate value at its budget, so the study's best value is always a
  full-budget one. A cache hit is the state of the result it copies.
* intermediate values: the validation curve a Keras trial keeps (epoch 1, 2, ...).
* user attributes: ``natsel_trial`` (the trial's id: what makes a second export add only new
  trials), generation, slot, origin, budget, status, seconds, error, and each scalar metric as
  ``metric.<name>``. The trial's start and end are natsel's own.
"""

from __future__ import annotations

import datetime
import math
import warnings
from typing import TYPE_CHECKING, Any

from natsel._errors import NatselError
from natsel._space import Choice, FloatRange, IntRange, SearchSpace
from natsel._trial import FULL_BUDGET, Bound, Goal, Status, TrialRow, is_number
from natsel.tracking._base import Target

if TYPE_CHECKING:
    from natsel._run import Run


def distribution(gene: Any) -> Any:
    """The Optuna distribution of a natsel gene (None for a fixed gene: it is not searched)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(gene, Choice):
        return CategoricalDistribution(list(gene.values))
    if isinstance(gene, IntRange):
        if gene.log and gene.step == 1:
            return IntDistribution(int(gene.low), int(gene.high), log=True)
        return IntDistribution(int(gene.low), int(gene.high), step=int(gene.step))  # Optuna: log needs step 1
    if isinstance(gene, FloatRange):
        return FloatDistribution(float(gene.low), float(gene.high), log=gene.log)
    return None


def _steps(budget: str) -> int:
    """An intermediate value's step for a reduced budget: its epochs, or its share of the rows in percent."""
    resource, _, amount = budget.partition("=")
    return int(round(float(amount) * (100 if resource == "rows" else 1)))


def frozen_trial(row: TrialRow, space: SearchSpace, maximize: bool, goal: Goal | None = None) -> Any:
    """A finished natsel trial as an Optuna ``FrozenTrial`` (``optuna.trial.create_trial``). With a goal
    of several objectives, a trial of a multi-objective study (its ``values``, no intermediate values,
    which Optuna keeps to one objective); with constraints, Optuna's ``constraints`` system attribute
    (one number per constraint, feasible at 0 or below, as Optuna's samplers and dashboard read it)."""
    import optuna
    from optuna.trial import TrialState

    genome = row["genome"]
    on = space.active(genome)
    params: dict[str, Any] = {}
    dists: dict[str, Any] = {}
    outside: dict[str, Any] = {}
    for gene in space.genes:
        if gene.name not in on or gene.name not in genome:
            continue
        d = distribution(gene)
        if d is None:
            continue
        if gene.contains(genome[gene.name]):
            params[gene.name], dists[gene.name] = genome[gene.name], d
        else:  # a value this space no longer holds (an older config): kept, but not as a parameter
            outside[gene.name] = genome[gene.name]
    status, extra = Status(row["status"]), row.get("extra") or {}
    source = Status(extra.get("source_status", "ok")) if status is Status.CACHED else status
    fitness = row["fitness"] if is_number(row["fitness"]) else None
    budget = row.get("budget", FULL_BUDGET)
    curve = [float(v) for v in (extra.get("curve") or []) if is_number(v)]
    intermediate = {i + 1: v for i, v in enumerate(curve)}
    value = None
    if source is Status.PRUNED:
        state = TrialState.PRUNED
    elif source.failed or fitness is None:
        state = TrialState.FAIL
    elif budget != FULL_BUDGET:
        state = TrialState.PRUNED
        intermediate.setdefault(_steps(budget), float(fitness))  # type: ignore[arg-type]
    else:
        state, value = TrialState.COMPLETE, float(fitness)  # type: ignore[arg-type]
    values = None
    if goal is not None and goal.multi:
        intermediate = {}
        named = [goal.value(row, n) for n in goal.names]
        if value is not None and all(is_number(v) for v in named):
            values, value = [float(v) for v in named], None
        elif value is not None:
            state, value = TrialState.FAIL, None
    system: dict[str, Any] = {}
    if goal is not None and goal.constraints and state is TrialState.COMPLETE:
        system["constraints"] = [constraint_value(goal.value(row, n), b) for n, b in goal.constraints]
    attrs: dict[str, Any] = {"natsel_trial": row["id"], "generation": row["generation"], "slot": row["slot"],
                             "origin": row["origin"], "budget": budget, "status": row["status"],
                             "seconds": row["seconds"]}
    if fitness is not None and value is None:
        attrs["fitness"] = fitness
    if row.get("error"):
        attrs["error"] = row["error"]
    if "source_trial" in extra:
        attrs["source_trial"] = extra["source_trial"]
    if outside:
        attrs["outside_space"] = outside
    for k, v in (row.get("metrics") or {}).items():
        if isinstance(v, (str, bool)) or is_number(v):
            attrs[f"metric.{k}"] = v
    trial = optuna.trial.create_trial(state=state, value=value, values=values, params=params, distributions=dists,
                                      user_attrs=attrs, system_attrs=system or None, intermediate_values=intermediate)
    start, end = row.get("started"), row.get("finished")
    if end:
        trial.datetime_complete = datetime.datetime.fromtimestamp(float(end))
        if start and start <= end:
            trial.datetime_start = datetime.datetime.fromtimestamp(float(start))
        elif row.get("seconds") and math.isfinite(row["seconds"]):
            trial.datetime_start = trial.datetime_complete - datetime.timedelta(seconds=float(row["seconds"]))
        else:
            trial.datetime_start = trial.datetime_complete
    return trial


def constraint_value(value: Any, bound: Bound) -> float:
    """A constraint as Optuna reads one: at most 0 when ``value`` is within ``bound`` (how far past it otherwise)."""
    if not is_number(value):
        return math.inf
    over = [float(value) - bound.high] if bound.high is not None else []
    under = [bound.low - float(value)] if bound.low is not None else []
    return max(over + under)


def quiet_optuna() -> Any:
    """``optuna``, with its INFO lines ("A new study created ...") and experimental warnings off."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def run_identity(run: Run) -> dict[str, Any]:
    """What says that a study holds this run: the folder's name and the run's creation time."""
    return {"name": run.path.resolve().name, "created": run.meta.get("created")}


class OptunaTarget(Target):
    """An Optuna study in a storage (``tracking: {optuna: STORAGE_URL, study: NAME}``)."""

    tool = "optuna"

    def __init__(self, url: str, study: str | None = None) -> None:
        super().__init__(url)
        self.study_name = study
        self.study: Any = None
        self.space: SearchSpace | None = None

    def export_hint(self, run_path: Any) -> str:
        named = f" --study {self.study_name}" if self.study_name else ""
        return f"natsel export {run_path} --optuna {self.url}{named}"

    def connect(self, run: Run) -> set[int]:
        from natsel._run import run_space

        optuna = quiet_optuna()
        self.space = run_space(run)
        if self.space is None:
            raise NatselError("its config's space cannot be read, so its genes have no distributions", str(run.path))
        name = self.study_name or run.path.resolve().name
        goal = run.goal
        directions = [d.name for _, d in goal.objectives] if goal.multi else ["maximize" if run.maximize else "minimize"]
        direction = ", ".join(directions)
        study = optuna.create_study(storage=self.url, study_name=name, directions=directions, load_if_exists=True)
        me = run_identity(run)
        owner = study.user_attrs.get("natsel_run")
        if owner is not None and owner != me:
            raise NatselError(f"study '{name}' holds another natsel run ({owner.get('name')}); name another "
                              "study (--study, tracking.study)", self.url)
        theirs = ", ".join(d.name.lower() for d in study.directions)
        if theirs != direction:
            raise NatselError(f"study '{name}' is to {theirs}, this run is to {direction}", self.url)
        if owner is None:
            study.set_user_attr("natsel_run", me)
            study.set_metric_names(goal.names if goal.multi else [str(run.meta.get("metric") or "fitness")])
            fixed = {g.name: g.value for g in self.space.genes if distribution(g) is None}  # type: ignore[attr-defined]
            if fixed:
                study.set_user_attr("fixed", fixed)
        self.study = study
        return {int(t.user_attrs["natsel_trial"]) for t in study.get_trials(deepcopy=False)
                if "natsel_trial" in t.user_attrs}

    def send(self, run: Run, row: TrialRow) -> None:
        assert self.space is not None
        self.study.add_trial(frozen_trial(row, self.space, run.maximize, run.goal))


def in_memory_study(run: Run, rows: list[TrialRow], space: SearchSpace) -> Any:
    """An in-memory Optuna study of ``rows`` (what importance is computed on)."""
    optuna = quiet_optuna()
    study = optuna.create_study(direction="maximize" if run.maximize else "minimize")
    study.add_trials([frozen_trial(r, space, run.maximize) for r in rows])
    return study
