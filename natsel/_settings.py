"""A validated config as plain data (the dataclasses :func:`natsel.load_config` returns).

No parsing here (``natsel._config`` reads YAML into these), and nothing that imports a strategy or
objective family beyond the GA's rates and the metric table, so every room can name a ``Config``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from natsel._errors import ConfigError
from natsel._space import SearchSpace
from natsel._trial import Goal
from natsel._yaml import Located
from natsel.objectives.keras.metrics import DIRECTION as METRICS
from natsel.strategies.genetic import GASettings


@dataclass
class Training:
    """Per-network limits and scoring (used by the Keras objective; the limits apply to any)."""

    max_epochs: int = 20
    patience: int = 3
    max_training_time: float = 120.0
    grace: float = 30.0
    metric: str | None = None  # None: accuracy for classification, loss for regression
    task: str = "auto"  # auto | multiclass | binary | regression
    steps_per_execution: int = 0  # 0: natsel picks


@dataclass
class Fidelity:
    """Successive halving inside each generation (``fidelity:``): rungs of growing budgets.

    The rungs divide the full budget by ``eta`` again and again, as Hyperband's do: ``top / eta**k``
    for k = K .. 1 with K the most that keeps the first rung at or above ``minimum``, then the full
    budget (``top``); at least one rung (at ``minimum``) when the minimum is below the full budget. So
    the last reduced rung is a 1/eta share of the full budget, never a near copy of it. The
    generation's genomes are trained at the first rung; the best ``1/eta`` of each rung go on to the
    next.
    """

    resource: str = "epochs"  # epochs | rows (a fraction of the training rows)
    minimum: float = 1.0
    maximum: float | None = None  # as given; the full budget is Config.full_budget() (max_epochs, or 1.0 for rows)
    eta: float = 3.0
    #: a promotion continues from its lower rung's checkpoint (Keras, epochs) instead of training again
    checkpoints: bool = True

    def budgets(self, full: float) -> list[str]:
        """The rungs' budget strings, smallest first; the last is ``"full"``."""
        top = full
        k = 0 if top <= self.minimum else max(1, math.floor(math.log(top / self.minimum) / math.log(self.eta) + 1e-9))
        out: list[str] = []
        for i in range(k, 0, -1):
            b = max(self.minimum, top / self.eta**i)  # a full budget under minimum * eta: one rung at the minimum
            if self.resource == "epochs":  # whole epochs, never below the minimum
                b = max(self.minimum, float(round(b)))
            if b < top and (not out or b > float(out[-1].partition("=")[2])):
                out.append(f"{self.resource}={b:.6g}")
        return [*out, "full"]

    def bracket(self, full: float) -> int:
        """Genomes per generation that one full bracket needs: ``eta ** (rungs - 1)``, so each
        generation ends with one full-budget result (the default population with ``fidelity:``)."""
        return max(1, int(round(self.eta ** (len(self.budgets(full)) - 1))))


@dataclass
class Pruning:
    """Median-style pruning (``pruning:``): stop a trial whose validation score after an epoch falls
    below the ``quantile`` of earlier generations' trials at that epoch."""

    quantile: float = 0.5
    warmup: int = 1  # epochs always trained before a trial may be pruned
    min_trials: int = 5  # earlier trials needed at an epoch before it prunes


#: the generations a run has when no stop rule is set at all (``evolution.generations``'s default)
DEFAULT_GENERATIONS = 10
#: the stop rules besides ``evolution.generations`` (``stop:``, ``--max-trials`` ...), in the order they are named
STOP_KEYS = ("max_trials", "timeout", "target", "patience", "min_delta")


#: Issue 28 item 3: what a resume may change freely (docs/config.md "What a resume checks"). None of
#: these changes a trial's identity (genome key and budget under the objective's scope: training
#: limits, metric, data, seed, code) or which trials the run plans, so a resume that changes them
#: continues as one uninterrupted run would. Everything not named here or in ALLOW_CHANGE is part
#: of the search: a resume that changes it is refused, and pointed to ``warm_start``.
RESUMABLE: dict[str, str] = {
    "name": "the run folders' name; a resume names its folder (--run-dir or the newest run of the name)",
    "workers": "how many trials run at once; a generation's genomes and scores are the same with any number",
    "threads": "TensorFlow threads per worker: how fast a trial trains, not what it trains",
    "gpus": "which GPU each worker sees: where a trial trains, not what it trains",
    "max_trials_per_worker": "when a worker process is replaced by a fresh one; a fresh worker computes the same",
    "executor": "where trials run (local or a Dask cluster), how long to wait for it, and how often a trial whose "
                "worker died is tried again",
    "tracking": "where finished trials are mirrored (Optuna, MLflow); not part of the search",
    "stop": "when the search ends; a larger budget runs the trials the run left planned, then goes on",
    "evolution.generations": "a stop rule, as stop: is",
}
#: Issue 28 item 3: what a resume may change only when named with ``--allow-change KEY``: no trial
#: stored so far becomes wrong (its identity is unchanged), but what the rest of the run does may
#: differ from one uninterrupted run, so the user says they mean it.
ALLOW_CHANGE: dict[str, str] = {
    "cache": "where results are shared: every result served has this run's scope, but a genome the cache serves "
             "is a cached trial and a new genome is planned in its place, so which genomes are trained next changes",
    "training.grace": "the margin past max_training_time before a busy worker is killed: scores are unchanged, "
                      "but a slow trial killed under one margin may finish under the other",
}


def without(tree: dict[str, Any], keys: Any) -> dict[str, Any]:
    """``tree`` (a config's raw mapping, or a stored fingerprint) without the dotted ``keys``, and
    without the sections that leaves empty (an empty section says what an absent one says)."""
    out = dict(tree)
    for key in keys:
        head, _, rest = key.partition(".")
        if rest and isinstance(out.get(head), dict):
            out[head] = without(out[head], [rest])
        elif not rest:
            out.pop(head, None)
    return {k: v for k, v in out.items() if not (isinstance(v, dict) and not v)}


def check_allow_change(keys: Any, where: str = "--allow-change") -> list[str]:
    """The keys of ``--allow-change`` (Issue 28 item 3): each must be one :data:`ALLOW_CHANGE` names (or
    :data:`RESUMABLE`, which needs no flag); anything else is a ConfigError naming what may change."""
    out = []
    for key in keys:
        key = str(key).strip()
        if key not in ALLOW_CHANGE and key not in RESUMABLE and not key.startswith(("executor.", "stop.")):
            raise ConfigError(f"'{key}' cannot change on resume (it is part of the search: a trial's identity or "
                              f"the plan); only {', '.join(ALLOW_CHANGE)} take --allow-change; for another search "
                              "start a new run with 'warm_start: [RUN_DIR]'", where)
        out.append(key)
    return out


@dataclass
class StopRules:
    """When a search ends (``stop:``; ``evolution.generations`` is a rule too): the first rule reached.

    ``max_trials``: trained trials (cache hits are not counted); ``timeout``: seconds of wall-clock of
    the whole search, resumes included (no trial starts after it); ``target``: a fitness at least this
    good in the run's direction; ``patience``: generations (trials with ``schedule: steady``) without
    improving the best by more than ``min_delta``."""

    max_trials: int | None = None
    timeout: float | None = None
    target: float | None = None
    patience: int | None = None
    min_delta: float = 0.0

    def any(self) -> bool:
        """Some rule besides ``generations`` is set (then ``generations`` has no default)."""
        return any(getattr(self, k) is not None for k in STOP_KEYS if k != "min_delta")

    def given(self) -> dict[str, Any]:
        """The rules that are set, by name."""
        return {k: getattr(self, k) for k in STOP_KEYS if getattr(self, k) is not None and
                (k != "min_delta" or self.min_delta)}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a text like ``90``, ``90s``, ``30m``, ``2h``, ``1h30m`` (ValueError if not)."""
    import re

    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?", text)
        if not text or parts is None:
            raise ValueError(f"{value!r} is not a duration (seconds, or e.g. 90s, 30m, 2h, 1h30m)")
        h, m, s = (float(x) if x else 0.0 for x in parts.groups())
        seconds = 3600 * h + 60 * m + s
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"a duration must be above 0 seconds, got {value!r}")
    return seconds


@dataclass
class TLSSettings:
    """Mutual-TLS credentials of natsel's Dask client (paths already resolved)."""

    ca_file: Path  # the CA that signed the scheduler's and workers' certificates
    cert: Path  # this client's certificate, signed by the same CA
    key: Path | None = None  # its private key; None: in the ``cert`` file


@dataclass
class ExecutorSettings:
    type: str = "local"  # local | dask
    scheduler: str | None = None
    retries: int = 2
    gpu: bool = False
    timeout: float = 20.0  # seconds to wait for the scheduler when connecting
    security: TLSSettings | None = None  # required by, and only allowed with, a tls:// scheduler


@dataclass
class Tracking:
    """``tracking:``: where finished trials are mirrored as they are stored (README.md, "Where users already look"). Not part
    of the search: a resume may add, change or drop it."""

    optuna: str | None = None  # an Optuna storage URL (sqlite:///study.db, postgresql://...)
    study: str | None = None  # the Optuna study's name; None: the run folder's name
    mlflow: str | None = None  # an MLflow tracking URI (file:./mlruns, http://host:5000)
    experiment: str | None = None  # the MLflow experiment's name; None: the config's name
    #: seconds the end of a run waits at most for a tracker to catch up (trials are sent in the background)
    timeout: float = 30.0


@dataclass
class Config:
    """A validated natsel config. Build one with :func:`load_config` or :func:`config_from_dict`."""

    name: str
    space: SearchSpace
    seed: int = 0
    direction: str | None = None  # maximize | minimize; None: from the metric
    #: ``objectives:``: two or more reported values, each with maximize | minimize (empty: one, the fitness)
    objectives: dict[str, str] = field(default_factory=dict)
    #: ``constraints:``: reported value -> {min, max}
    constraints: dict[str, dict[str, float]] = field(default_factory=dict)
    fitness: str | None = None  # "module:function" of a plain-Python fitness
    data: dict[str, Any] | None = None
    training: Training = field(default_factory=Training)
    ga: GASettings = field(default_factory=GASettings)
    strategy: str = "surrogate"  # a name registered in natsel.strategies (natsel.strategies.DEFAULT)
    strategy_options: dict[str, Any] = field(default_factory=dict)
    #: ``evolution.generations`` (None: not given; see :attr:`max_generations`)
    generations: int | None = None
    #: the other stop rules (``stop:``)
    stop: StopRules = field(default_factory=StopRules)
    #: generational (a barrier between generations; the same genomes with any number of workers) or
    #: steady (a free worker at once gets a genome planned from everything finished so far)
    schedule: str = "generational"
    objective: str = "python"  # the objective family (natsel.objectives), chosen when the config is read
    #: what the file itself says; ``seed``/``ga.population``/``generations`` may differ (command line, API)
    file_seed: int = 0
    file_population: int = 20
    file_generations: int | None = None
    file_stop: StopRules = field(default_factory=StopRules)
    initial_genome: dict[str, Any] | None = None
    #: genomes generation 0 evaluates first (``initial_genomes:``, as Optuna's enqueue_trial)
    initial_genomes: list[dict[str, Any]] = field(default_factory=list)
    #: earlier run folders whose trials inform this run's strategy (``warm_start:``)
    warm_start: list[Path] = field(default_factory=list)
    workers: int = 1
    max_trials_per_worker: int = 50
    threads: int = 0  # 0: cores // workers
    gpus: list[int] = field(default_factory=list)
    cache: Path | None = None
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    swarm: dict[str, Any] = field(default_factory=dict)
    fidelity: Fidelity | None = None
    pruning: Pruning | None = None
    tracking: Tracking | None = None
    base_dir: Path = field(default_factory=Path.cwd)
    source_text: str = ""
    source_name: str = "<config>"
    raw: dict[str, Any] = field(default_factory=dict)
    #: settings given explicitly outside the file (``--seed``, ``--population``, ``--generations``)
    overrides: dict[str, Any] = field(default_factory=dict)
    #: keys of :data:`ALLOW_CHANGE` a resume may change (``--allow-change``; Issue 28 item 3)
    allow_change: list[str] = field(default_factory=list)
    #: the task the data turned out to be (``training.task: auto`` is resolved when the data is loaded)
    resolved_task: str | None = None
    doc: Located | None = field(default=None, repr=False)

    @property
    def max_generations(self) -> int | None:
        """The generations rule: as given, else 10 when no other stop rule is set, else none (None)."""
        if self.generations is not None:
            return self.generations
        return None if self.stop.any() else DEFAULT_GENERATIONS

    @property
    def goal(self) -> Goal:
        """The objectives and constraints (a single objective: the fitness in :attr:`maximize`'s direction)."""
        if not self.objectives and not self.constraints:
            return Goal.single(self.maximize)
        return Goal.from_json({"objectives": self.objectives, "constraints": self.constraints}, self.maximize)

    @property
    def maximize(self) -> bool:
        """The direction of the stored fitness (with several objectives: the first one's)."""
        if self.objectives:
            return next(iter(self.objectives.values())) == "maximize"
        if self.direction is not None:
            return self.direction == "maximize"
        if self.fitness is not None:
            return True
        return METRICS[self.metric]

    @property
    def task(self) -> str:
        """The Keras task: the config's ``training.task``, or what the data resolved ``auto`` to."""
        return self.resolved_task or self.training.task

    @property
    def metric(self) -> str:
        if self.training.metric:
            return self.training.metric
        return "loss" if self.task == "regression" else "accuracy"

    def resolve_task(self, task: str) -> None:
        """Record the task inferred from the data; a metric that cannot score it is a config error,
        and so is a ``direction`` that would keep the worst networks (maximising a loss)."""
        self.resolved_task = task
        check_metric_fits(self.training.metric, task, self._where(("training", "metric")))
        self.check_direction()

    def check_direction(self) -> None:
        if self.direction is None or self.data is None or self.task == "auto" and not self.training.metric:
            return
        if (self.direction == "maximize") != METRICS[self.metric]:
            better = "larger" if METRICS[self.metric] else "smaller"
            raise ConfigError(f"direction: {self.direction} contradicts the metric '{self.metric}' ({better} is "
                              "better); leave 'direction' out, it follows the metric", self._where(("direction",)))

    def override(self, *, seed: int | None = None, population: int | None = None,
                 generations: int | None = None, **stop: Any) -> Config:
        """Settings from outside the file (the command line); a run stores them, later commands reuse them."""
        from dataclasses import replace

        if seed is not None:
            self.seed = self.overrides["seed"] = int(seed)
        if population is not None:
            self.ga = replace(self.ga, population=int(population))
            self.overrides["population"] = int(population)
            strategy = self.raw.get("strategy")
            if "startup" in self.strategy_options and not (isinstance(strategy, dict) and "startup" in strategy):
                # the strategy's default first generation went with its default population; an explicit
                # population sizes generation 0 too (docs/genetic.md), unless the config sets startup
                self.strategy_options = {k: v for k, v in self.strategy_options.items() if k != "startup"}
        if generations is not None:
            self.generations = self.overrides["generations"] = int(generations)
        from dataclasses import replace as _replace

        for k, value in stop.items():
            if k not in STOP_KEYS:
                raise TypeError(f"override() got an unexpected keyword argument {k!r}")
            if value is not None:
                self.stop = _replace(self.stop, **{k: value})
                self.overrides[k] = value
        return self

    def full_budget(self, fidelity: Fidelity | None = None) -> float:
        """What the full budget amounts to, for every family: ``training.max_epochs`` (epochs) or 1.0
        (rows: every training row). A ``fidelity.maximum`` is only another way to say it (the config
        refuses one that contradicts it), so a rung never trains more than a full trial."""
        fid = fidelity if fidelity is not None else self.fidelity
        return float(self.training.max_epochs) if fid is None or fid.resource == "epochs" else 1.0

    def settings_beyond_file(self) -> dict[str, Any]:
        """Seed, population, generations and stop rules where they differ from the file (however they were set)."""
        now = {"seed": self.seed, "population": self.ga.population, "generations": self.generations,
               **{k: getattr(self.stop, k) for k in STOP_KEYS}}
        file = {"seed": self.file_seed, "population": self.file_population, "generations": self.file_generations,
                **{k: getattr(self.file_stop, k) for k in STOP_KEYS}}
        return {k: v for k, v in now.items() if v != file[k]}

    def _where(self, path: tuple[Any, ...]) -> str:
        return self.doc.where(path) if self.doc is not None else self.source_name

    def search_fingerprint(self) -> dict[str, Any]:
        """What a resume compares (stored in ``run.json``): the config without what :data:`RESUMABLE`
        names, with the seed and population in force. The :data:`ALLOW_CHANGE` keys stay in it: a
        resume may differ in them only when ``--allow-change`` names them."""
        raw = without(self.raw, RESUMABLE)
        evo = dict(raw.get("evolution") or {})
        if self.ga.population != self.file_population:
            evo["population"] = self.ga.population
        raw["evolution"] = evo
        if self.seed != self.file_seed:
            raw["seed"] = self.seed
        return raw


#: which tasks each metric can score
METRIC_TASKS = {"accuracy": ("multiclass", "binary"), "f1": ("multiclass", "binary"), "auc": ("multiclass", "binary"),
                "loss": ("multiclass", "binary", "regression"), "mae": ("regression",), "mse": ("regression",)}


def check_metric_fits(metric: str | None, task: str, where: str) -> None:
    if metric is None or task == "auto" or task in METRIC_TASKS[metric]:
        return
    kind = "regression" if task == "regression" else f"{task} classification"
    fits = sorted(m for m, tasks in METRIC_TASKS.items() if task in tasks)
    raise ConfigError(f"metric '{metric}' cannot score {kind} (the data's task); use one of {', '.join(fits)}", where)


