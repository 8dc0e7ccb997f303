"""The YAML config: one schema, validated before any work starts.

Every problem raises :class:`~natsel.ConfigError` whose text is ``<file>:<line>: <what>``.
Relative paths in the config (data files, cache, python modules) are resolved against the
folder that holds the config file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from natsel import strategies
from natsel._errors import ConfigError
from natsel._imports import callable_identity, resolve_callable
from natsel._settings import (
    STOP_KEYS,
    Config,
    ExecutorSettings,
    Fidelity,
    Pruning,
    StopRules,
    TLSSettings,
    Tracking,
    Training,
    check_metric_fits,
    parse_duration,
)
from natsel._space import (
    CONDITION_OPS,
    Choice,
    Condition,
    Fixed,
    FloatRange,
    Gene,
    IntRange,
    SearchSpace,
    can_hold,
    canonical,
    expand_names,
    find_cycle,
)
from natsel._yaml import Located, Validator, load_yaml, loads_yaml
from natsel.executors._factory import check_workers
from natsel.objectives.keras.metrics import DIRECTION as METRICS
from natsel.strategies.genetic import CROSSOVERS, GASettings

if TYPE_CHECKING:
    from natsel.objectives import ObjectiveFamily

_V = Validator
__all__ = ["Config", "ExecutorSettings", "TLSSettings", "Training", "callable_identity", "config_from_dict",
           "load_config", "parse_space", "resolve_callable"]

TOP_KEYS = {
    "name", "seed", "direction", "training", "evolution", "space", "objective",
    "workers", "max_trials_per_worker", "threads", "gpus", "cache", "executor", "strategy", "fidelity", "pruning",
    "tracking", "stop", "warm_start", "initial_genomes", "objectives", "constraints",
}  # plus the sections of the objective families (``fitness``, ``data``, ``swarm``, ...)
EVOLUTION_KEYS = {
    "population", "generations", "elitism", "breeding", "mutation", "mutation_factor",
    "crossover", "initial_genome", "max_retries", "schedule",
}
TRAINING_KEYS = {
    "max_epochs", "patience", "max_training_time", "grace", "metric", "task",
    "steps_per_execution",
}
EXECUTOR_KEYS = {"type", "scheduler", "retries", "gpu", "timeout", "security"}
SECURITY_KEYS = {"ca_file", "cert", "key"}
TRACKING_KEYS = {"optuna", "study", "mlflow", "experiment", "timeout"}
#: the package each tracker needs, and the extra that installs it
TRACKER_PACKAGES = {"optuna": ("optuna", "natsel[optuna]"), "mlflow": ("mlflow", "natsel[mlflow]")}
#: evolution: keys only the genetic strategy reads
GA_ONLY = ("elitism", "breeding", "mutation", "mutation_factor", "crossover", "max_retries")
GENE_KEYS = {"choices", "low", "high", "step", "log", "type", "value", "repeat", "digits", "when"}


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def _parse_gene(v: _V, name: str, spec: Any, path: tuple[Any, ...]) -> list[Gene]:
    if _scalar(spec):
        return [Fixed(name, spec)]
    if isinstance(spec, list):
        return [_choice(v, name, spec, path)]
    if not isinstance(spec, dict):
        raise v.err(path, f"gene '{name}' must be a value, a list of choices or a mapping")
    v.keys(spec, GENE_KEYS, path, f"gene '{name}'")
    if "repeat" in spec:
        n = v.number(spec["repeat"], path + ("repeat",), integer=True, low=1)
        rest = {k: x for k, x in spec.items() if k != "repeat"}
        return [g for sub in expand_names(name, n) for g in _parse_gene(v, sub, rest, path)]
    forms = [k for k in ("choices", "value", "low") if k in spec]
    if "high" in spec and "low" not in spec:
        raise v.err(path, f"gene '{name}' has 'high' but no 'low'")
    if len(forms) != 1:
        raise v.err(path, f"gene '{name}' needs exactly one of 'choices', 'value' or 'low'/'high'")
    extra = set(spec) - {forms[0], "high", "step", "log", "type", "digits"} if forms[0] == "low" else set(spec) - {forms[0]}
    if extra:
        key = sorted(extra)[0]
        raise v.err(path + (key,), f"'{key}' does not apply to a gene with '{forms[0]}'")
    if forms[0] == "choices":
        if not isinstance(spec["choices"], list):
            raise v.err(path + ("choices",), f"'choices' of gene '{name}' must be a list")
        return [_choice(v, name, spec["choices"], path + ("choices",))]
    if forms[0] == "value":
        if not _scalar(spec["value"]):
            raise v.err(path + ("value",), f"'value' of gene '{name}' must be a single value")
        return [Fixed(name, spec["value"])]
    return [_range(v, name, spec, path)]


def _choice(v: _V, name: str, values: list[Any], path: tuple[Any, ...]) -> Choice:
    if not values:
        raise v.err(path, f"gene '{name}' has an empty choice list")
    seen = set()
    for i, x in enumerate(values):
        if not _scalar(x):
            raise v.err(path + (i,), f"choices of gene '{name}' must be plain values, got {x!r}")
        c = canonical(x)
        if (type(c).__name__, c) in seen:
            raise v.err(path + (i,), f"gene '{name}' lists {x!r} twice")
        seen.add((type(c).__name__, c))
    return Choice(name, tuple(values))


def _range(v: _V, name: str, spec: dict[str, Any], path: tuple[Any, ...]) -> Gene:
    if "high" not in spec:
        raise v.err(path, f"gene '{name}' has 'low' but no 'high'")
    low = v.number(spec["low"], path + ("low",))
    high = v.number(spec["high"], path + ("high",))
    if low > high:
        raise v.err(path + ("low",), f"gene '{name}': low ({spec['low']}) is greater than high ({spec['high']})")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise v.err(path + ("log",), f"'log' of gene '{name}' must be true or false")
    if log and low <= 0:
        raise v.err(path + ("low",), f"gene '{name}': a log range must be above 0, got low={spec['low']}")
    kind = spec.get("type")
    if kind is None:
        ints = all(isinstance(spec[k], int) and not isinstance(spec[k], bool) for k in ("low", "high"))
        kind = "int" if ints and isinstance(spec.get("step", 1), int) else "float"
    kind = v.string(kind, path + ("type",), {"int", "float"})
    if kind == "int":
        lo = v.number(spec["low"], path + ("low",), integer=True)
        hi = v.number(spec["high"], path + ("high",), integer=True)
        step = v.number(spec.get("step", 1), path + ("step",), integer=True, low=1)
        if "digits" in spec:
            raise v.err(path + ("digits",), f"'digits' does not apply to integer gene '{name}'")
        return IntRange(name, lo, hi, log=log, step=step)
    if "step" in spec:
        raise v.err(path + ("step",), f"'step' applies to integer genes only ('{name}' is a float range)")
    digits = v.number(spec.get("digits", 4), path + ("digits",), integer=True, low=1, high=15)
    return FloatRange(name, low, high, log=log, digits=digits)


def parse_space(v: _V, spec: Any, path: tuple[Any, ...] = ("space",)) -> SearchSpace:
    spec = v.mapping(spec, path, "space")
    if not spec:
        raise v.err(path, "'space' must define at least one gene")
    genes: list[Gene] = []
    families: dict[str, int] = {}  # a gene with 'repeat': how many copies
    pending: list[tuple[str, Any, tuple[Any, ...], int | None]] = []  # (gene, its 'when', where, copy index)
    for name, gspec in spec.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise v.err(path + (name,), f"gene name {name!r} must be an identifier (letters, digits, _)")
        when = None
        if isinstance(gspec, dict) and "when" in gspec:
            when = gspec["when"]
            gspec = {k: x for k, x in gspec.items() if k != "when"}
        new = _parse_gene(v, name, gspec, path + (name,))
        repeated = isinstance(gspec, dict) and "repeat" in gspec
        if repeated:
            families[name] = len(new)
        genes.extend(new)
        if when is not None:
            pending += [(g.name, when, path + (name, "when"), i if repeated else None) for i, g in enumerate(new)]
    names = [g.name for g in genes]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise v.err(path, f"gene '{dupes[0]}' is defined twice (check 'repeat' expansions)")
    by_name = {g.name: g for g in genes}
    conditions: dict[str, list[Condition]] = {}
    where: dict[str, tuple[Any, ...]] = {}
    for gene, when, wpath, index in pending:
        conditions[gene] = _parse_when(v, gene, when, wpath, index, by_name, families)
        where[gene] = wpath
    cycle = find_cycle(conditions)
    if cycle:
        raise v.err(where[cycle[0]], f"the conditions of genes form a cycle: {' -> '.join(cycle)}")
    return SearchSpace(genes, conditions)


def _parse_when(v: _V, gene: str, when: Any, path: tuple[Any, ...], index: int | None, by_name: dict[str, Gene],
                families: dict[str, int]) -> list[Condition]:
    """``when: {other: [values] | value | {in|not_in|gt|ge|lt|le: ...}}``: every entry must hold.

    In a repeated gene, naming another repeated gene means its copy with the same index
    (``dropout: {repeat: 3, when: {neurons: {gt: 0}}}``: ``dropout1`` depends on ``neurons1``)."""
    if not isinstance(when, dict) or not when:
        raise v.err(path, f"'when' of gene '{gene}' must map gene names to the values that activate it, "
                          "e.g. when: {trainer: pso} or when: {neurons0: {gt: 0}}")
    out: list[Condition] = []
    for ref, cspec in when.items():
        p = path + (ref,)
        ref = str(ref)
        if index is not None and ref in families:
            if index >= families[ref]:
                raise v.err(p, f"gene '{gene}' depends on '{ref}{index}' (the same copy), but '{ref}' has only "
                               f"{families[ref]} copies")
            target = f"{ref}{index}"
        elif ref in by_name:
            target = ref
        elif ref in families:
            raise v.err(p, f"gene '{gene}': '{ref}' is repeated ({ref}0 .. {ref}{families[ref] - 1}); name one copy "
                           f"(a condition of a repeated gene on '{ref}' means the copy with the same index)")
        else:
            raise v.err(p, f"gene '{gene}' depends on unknown gene '{ref}'")
        if target == gene:
            raise v.err(p, f"gene '{gene}' cannot depend on itself")
        other = by_name[target]
        if isinstance(cspec, dict):
            ops = cspec
            if not ops:
                raise v.err(p, f"the condition on '{ref}' is empty (use one of {', '.join(CONDITION_OPS)})")
            v.keys(ops, set(CONDITION_OPS), p, f"the condition on '{ref}'")
        else:
            ops = {"in": cspec}  # a list of values, or one value
        conds: list[Condition] = []
        for op, val in ops.items():
            q = p + (op,) if isinstance(cspec, dict) else p
            if op in ("in", "not_in"):
                values = val if isinstance(val, list) else [val]
                if not values:
                    raise v.err(q, f"the condition on '{ref}' lists no values")
                for i, x in enumerate(values):
                    if not _scalar(x) or not other.contains(x):
                        raise v.err(q + (i,) if isinstance(val, list) else q,
                                    f"gene '{gene}': {x!r} is not a value of gene '{target}'")
                conds.append(Condition(target, op, tuple(values)))
            else:
                if isinstance(val, bool) or not isinstance(val, (int, float)):
                    raise v.err(q, f"'{op}' in the condition on '{ref}' must be a number, got {val!r}")
                if not _numeric_gene(other):
                    raise v.err(q, f"'{op}' compares numbers, but gene '{target}' is not numeric")
                conds.append(Condition(target, op, val))
        if not can_hold(other, conds):
            raise v.err(p, f"gene '{gene}' could never be active: no value of '{target}' satisfies "
                           + " and ".join(str(c) for c in conds))
        out += conds
    return out


def _numeric_gene(g: Gene) -> bool:
    if isinstance(g, (IntRange, FloatRange)):
        return True
    values = g.values if isinstance(g, Choice) else (g.value,) if isinstance(g, Fixed) else ()
    return bool(values) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in values)


def stored_overrides(meta: dict[str, Any], run_path: Path) -> dict[str, Any]:
    """The settings a run was made with beyond its config file (``--seed``, ``--population``, ...)."""
    if "overrides" in meta:
        return dict(meta["overrides"] or {})
    # a run made before natsel stored them: what run.json says beyond the run's config.yaml
    try:
        raw = load_yaml(run_path / "config.yaml").data
    except (ConfigError, OSError):
        return {}
    raw = raw if isinstance(raw, dict) else {}
    evo = raw.get("evolution") if isinstance(raw.get("evolution"), dict) else {}
    file = {"seed": raw.get("seed", Config.seed), "population": evo.get("population", GASettings.population),
            "generations": evo.get("generations", Config.generations)}
    return {k: meta[k] for k in file if meta.get(k) is not None and meta[k] != file[k]}


def apply_run_settings(cfg: Config, meta: dict[str, Any], run_path: Path) -> Config:
    """Give a config the settings its run was made with (resume, train-best).

    A run stores what it was started with beyond its config file (the seed, population and
    generations, however they were set) and the task the data resolved to. Settings changed now
    (on the command line, or on the Config object) win; a resume then checks that the search still
    matches.
    """
    changed = set(cfg.overrides) | set(cfg.settings_beyond_file())
    keep = {k: v for k, v in stored_overrides(meta, run_path).items()
            if k in ("seed", "population", "generations", *STOP_KEYS) and k not in changed}
    cfg.override(**keep)
    if meta.get("task"):
        cfg.resolved_task = meta["task"]
    if "strategy" not in cfg.raw:  # a config that names none keeps the strategy its run was made with,
        cfg.strategy = meta.get("strategy", "genetic")  # even after natsel's default changed (0.1: genetic)
    evo = cfg.raw.get("evolution") if isinstance(cfg.raw.get("evolution"), dict) else {}
    if "population" not in evo and "population" not in changed and meta.get("population"):
        from dataclasses import replace  # likewise the population the run was made with (the default may differ)

        cfg.ga = replace(cfg.ga, population=int(meta["population"]))
        cfg.file_population = cfg.ga.population
    return cfg


def _path(base_dir: Path, text: str) -> Path:
    return (base_dir / Path(text).expanduser()).resolve()


#: the first 16 bytes of every SQLite database file
SQLITE_HEADER = b"SQLite format 3\x00"


def cache_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a shared cache file (None: it can): a folder, an existing file that is not
    SQLite, or a parent folder that cannot be created or written."""
    if path.is_dir():
        return "a folder, not a cache file (name a file, e.g. cache.sqlite)"
    if path.exists():
        try:
            with path.open("rb") as f:
                head = f.read(len(SQLITE_HEADER))
        except OSError as exc:
            return f"cannot be read ({exc.strerror or exc.__class__.__name__})"
        if head and head != SQLITE_HEADER:
            return "not an SQLite file (a shared cache is one; name a new file or an earlier cache)"
        if not os.access(path, os.W_OK):
            return "not writable"
        return None
    parent = path.parent
    while not parent.exists():  # the nearest folder that exists must hold (and let natsel make) the rest
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot be created: {parent} is a file, not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be created: {parent} is not writable"
    return None


def tls_mismatch(scheduler: str, security: TLSSettings | None) -> tuple[str, str] | None:
    """``("scheduler" | "security", problem)`` when the scheduler's scheme and the TLS credentials disagree."""
    from natsel.executors._tls import TLS_SCHEMES, scheme_of

    scheme = scheme_of(scheduler)
    if scheme in TLS_SCHEMES and security is None:
        return "scheduler", (f"the {scheme}:// scheduler {scheduler} needs TLS credentials: 'security: {{ca_file, "
                             "cert, key}' under 'executor' or --tls-ca-file, --tls-cert, --tls-key (docs/dask.md)")
    if security is not None and scheme not in TLS_SCHEMES:
        return "security", (f"TLS credentials apply only to a tls:// scheduler; {scheduler} would ignore them "
                            "(use tls://HOST:PORT, or drop the credentials)")
    return None


def apply_executor_options(cfg: Config, scheduler: str | None = None, tls_ca_file: Path | None = None,
                           tls_cert: Path | None = None, tls_key: Path | None = None) -> None:
    """Apply ``natsel evolve``'s ``--scheduler`` and ``--tls-*`` options to ``cfg``, checked like the config.

    Relative paths are taken from the current folder. Given together, ``--tls-ca-file`` and
    ``--tls-cert`` (and ``--tls-key``) replace the config's ``executor.security``.
    Problems raise :class:`ConfigError` located at the option (``--tls-cert: ...``).
    """
    e = cfg.executor
    if scheduler:
        e.type, e.scheduler = "dask", scheduler
    flags = {"ca_file": "--tls-ca-file", "cert": "--tls-cert", "key": "--tls-key"}
    given = {k: p for k, p in (("ca_file", tls_ca_file), ("cert", tls_cert), ("key", tls_key)) if p is not None}
    if given:
        for k in ("ca_file", "cert"):
            if k not in given:
                other = flags[next(iter(given))]
                raise ConfigError(f"{other} needs {flags[k]} too (--tls-ca-file, --tls-cert and --tls-key go together; "
                                  "--tls-key may be left out when the cert file holds the key)", flags[k])
        files = {k: _path(Path.cwd(), str(p)) for k, p in given.items()}
        from natsel.executors._tls import check_tls_files

        problem = check_tls_files(files["ca_file"], files["cert"], files.get("key"))
        if problem:
            raise ConfigError(problem[1], flags[problem[0]])
        e.security = TLSSettings(**files)
    if e.type == "dask" and (scheduler or given):
        problem = tls_mismatch(e.scheduler or "", e.security)
        if problem:
            raise ConfigError(problem[1], "--scheduler" if scheduler else "--tls-ca-file")


def _validate(doc: Located, base_dir: Path, text: str) -> Config:
    v = _V(doc)
    raw = v.mapping(doc.data, (), "config")
    from natsel import objectives

    v.keys(raw, TOP_KEYS | {s for f in objectives.families() for s in f.sections}, (), "the config")
    if "space" not in raw:
        raise v.err((), "the config has no 'space' (the genes to search)")
    space = parse_space(v, raw["space"])
    cfg = Config(name="run", space=space, base_dir=base_dir, source_text=text, source_name=doc.file, raw=raw, doc=doc)
    if "name" in raw:
        cfg.name = v.string(raw["name"], ("name",))
        if os.sep in cfg.name or cfg.name.startswith("."):
            raise v.err(("name",), f"'name' must be a plain folder name, got {cfg.name!r}")
    else:
        cfg.name = Path(doc.file).stem if doc.file != "<config>" else "run"
    if "seed" in raw:
        cfg.seed = cfg.file_seed = v.number(raw["seed"], ("seed",), integer=True, low=0)
    if "direction" in raw:
        cfg.direction = v.string(raw["direction"], ("direction",), {"maximize", "minimize"})

    family = _select_family(v, raw)
    cfg.objective = family.name
    _parse_goal(v, raw, cfg)

    tr = v.mapping(raw.get("training"), ("training",), "training")
    v.keys(tr, TRAINING_KEYS, ("training",), "'training'")
    t = cfg.training
    p = ("training",)
    if "max_epochs" in tr:
        t.max_epochs = v.number(tr["max_epochs"], p + ("max_epochs",), integer=True, low=1)
    if "patience" in tr:
        t.patience = v.number(tr["patience"], p + ("patience",), integer=True, low=0)
    if "max_training_time" in tr:
        t.max_training_time = v.number(tr["max_training_time"], p + ("max_training_time",), low=0, low_open=True)
    if "grace" in tr:
        t.grace = v.number(tr["grace"], p + ("grace",), low=0)
    if "metric" in tr:
        t.metric = v.string(tr["metric"], p + ("metric",), set(METRICS))
    if "task" in tr:
        t.task = v.string(tr["task"], p + ("task",), {"auto", "multiclass", "binary", "regression"})
    check_metric_fits(t.metric, t.task, doc.where(p + ("metric",)))
    if "steps_per_execution" in tr:
        t.steps_per_execution = v.number(tr["steps_per_execution"], p + ("steps_per_execution",), integer=True, low=0)

    ev = v.mapping(raw.get("evolution"), ("evolution",), "evolution")
    v.keys(ev, EVOLUTION_KEYS, ("evolution",), "'evolution'")
    p = ("evolution",)
    ga: dict[str, Any] = {}
    if "population" in ev:
        ga["population"] = v.number(ev["population"], p + ("population",), integer=True, low=2)
    if "generations" in ev:
        cfg.generations = cfg.file_generations = v.number(ev["generations"], p + ("generations",), integer=True,
                                                          low=1)
    for rate in ("elitism", "breeding", "mutation"):
        if rate in ev:
            ga[rate] = v.number(ev[rate], p + (rate,), low=0, high=1)
    if "mutation_factor" in ev and ev["mutation_factor"] is not None:
        ga["mutation_factor"] = v.number(ev["mutation_factor"], p + ("mutation_factor",), low=0, high=1, low_open=True)
    if "crossover" in ev:
        ga["crossover"] = v.string(ev["crossover"], p + ("crossover",), set(CROSSOVERS))
    if "max_retries" in ev:
        ga["max_retries"] = v.number(ev["max_retries"], p + ("max_retries",), integer=True, low=0)
    _parse_stop(v, raw, cfg)
    _parse_strategy(v, raw, cfg)
    ga_only = [k for k in GA_ONLY if k in ev]
    if ga_only and cfg.strategy != "genetic":
        which = "the default strategy" if "strategy" not in raw else "strategy"
        raise v.err(p + (ga_only[0],), f"evolution.{ga_only[0]} is a setting of the genetic strategy, which {which} "
                                       f"({cfg.strategy}) does not use; add 'strategy: genetic' to use it")
    chosen = strategies.get(cfg.strategy)
    _parse_fidelity(v, raw, cfg)
    if cfg.fidelity is not None and not chosen.supports_fidelity:
        raise v.err(("fidelity",), f"the {cfg.strategy} strategy does not plan rungs of budgets; "
                                   "use fidelity: with the surrogate, genetic or random strategy")
    if "population" not in ga and cfg.fidelity is not None:  # one full bracket: a full-budget result a generation
        ga["population"] = cfg.fidelity.bracket(cfg.full_budget())
    elif "population" not in ga:  # the strategy's own default, and the first generation that goes with it
        ga["population"] = chosen.default_population
        if chosen.default_startup and "startup" not in cfg.strategy_options:
            cfg.strategy_options = {**cfg.strategy_options, "startup": chosen.default_startup}
    cfg.ga = GASettings(**ga)
    cfg.file_population = cfg.ga.population
    if "schedule" in ev:
        cfg.schedule = v.string(ev["schedule"], p + ("schedule",), {"generational", "steady"})
    if cfg.schedule == "steady":
        if not strategies.get(cfg.strategy).supports_steady:
            raise v.err(p + ("schedule",), f"the {cfg.strategy} strategy plans whole generations; schedule: steady "
                                           "works with the surrogate and random strategies")
        if cfg.fidelity is not None:
            raise v.err(p + ("schedule",), "successive halving (fidelity:) promotes within a generation and needs "
                                           "schedule: generational; use pruning: with schedule: steady")
    if "initial_genome" in ev:
        init = v.mapping(ev["initial_genome"], p + ("initial_genome",), "initial_genome")
        for k, val in init.items():
            if k not in space.names:
                raise v.err(p + ("initial_genome", k), f"initial_genome names unknown gene '{k}'")
            if not space[k].contains(val):
                raise v.err(p + ("initial_genome", k), f"initial_genome: {val!r} is not a valid value of gene '{k}'")
        cfg.initial_genome = init
    if "initial_genomes" in raw:
        p = ("initial_genomes",)
        items = raw["initial_genomes"]
        if not isinstance(items, list) or not items:
            raise v.err(p, "'initial_genomes' must be a list of genomes (mappings of gene names to values)")
        for i, item in enumerate(items):
            init = v.mapping(item, p + (i,), "an initial genome")
            for k, val in init.items():
                if k not in space.names:
                    raise v.err(p + (i, k), f"initial_genomes[{i}] names unknown gene '{k}'")
                if not space[k].contains(val):
                    raise v.err(p + (i, k), f"initial_genomes[{i}]: {val!r} is not a valid value of gene '{k}'")
            cfg.initial_genomes.append(dict(init))
    if "warm_start" in raw:
        p = ("warm_start",)
        items = raw["warm_start"] if isinstance(raw["warm_start"], list) else [raw["warm_start"]]
        from natsel._warm import check_sources

        for i, item in enumerate(items):
            folder = _path(base_dir, v.string(item, p + (i,) if isinstance(raw["warm_start"], list) else p))
            check_sources([folder], doc.where(p))
            cfg.warm_start.append(folder)

    if "workers" in raw:
        cfg.workers = v.number(raw["workers"], ("workers",), integer=True, low=0)
    if "max_trials_per_worker" in raw:
        cfg.max_trials_per_worker = v.number(raw["max_trials_per_worker"], ("max_trials_per_worker",), integer=True, low=1)
    if "threads" in raw:
        cfg.threads = v.number(raw["threads"], ("threads",), integer=True, low=0)
    if "gpus" in raw:
        gpus = raw["gpus"] if isinstance(raw["gpus"], list) else None
        if gpus is None:
            raise v.err(("gpus",), "'gpus' must be a list of GPU indices, e.g. [0, 1]")
        cfg.gpus = [v.number(g, ("gpus", i), integer=True, low=0) for i, g in enumerate(gpus)]
    if "cache" in raw and raw["cache"] is not None:
        cfg.cache = (base_dir / v.string(raw["cache"], ("cache",))).resolve()
        if (problem := cache_problem(cfg.cache)) is not None:
            raise v.err(("cache",), f"'cache': {cfg.cache}: {problem}")
    ex = raw.get("executor")
    if isinstance(ex, str):
        ex = {"type": ex}
    ex = v.mapping(ex, ("executor",), "executor")
    v.keys(ex, EXECUTOR_KEYS, ("executor",), "'executor'")
    e = cfg.executor
    if "type" in ex:
        e.type = v.string(ex["type"], ("executor", "type"), {"local", "dask"})
    if "scheduler" in ex:
        e.scheduler = v.string(ex["scheduler"], ("executor", "scheduler"))
        e.type = "dask"
    if "retries" in ex:
        e.retries = v.number(ex["retries"], ("executor", "retries"), integer=True, low=0)
    if "timeout" in ex:
        e.timeout = v.number(ex["timeout"], ("executor", "timeout"), low=0, low_open=True)
    if "gpu" in ex:
        if not isinstance(ex["gpu"], bool):
            raise v.err(("executor", "gpu"), "'gpu' must be true or false")
        e.gpu = ex["gpu"]
    if "security" in ex:
        sec = v.mapping(ex["security"], ("executor", "security"), "security")
        v.keys(sec, SECURITY_KEYS, ("executor", "security"), "'security'")
        for k in ("ca_file", "cert"):
            if k not in sec:
                raise v.err(("executor", "security"), f"'security' needs '{k}' (and 'key', unless the cert file "
                            "holds the private key too)")
        files = {k: _path(base_dir, v.string(sec[k], ("executor", "security", k))) for k in sec}
        from natsel.executors._tls import check_tls_files

        problem = check_tls_files(files["ca_file"], files["cert"], files.get("key"))
        if problem:
            raise v.err(("executor", "security", problem[0]), problem[1])
        e.security = TLSSettings(**files)
    if e.type == "dask" and not e.scheduler:
        raise v.err(("executor",), "a dask executor needs 'scheduler: tls://HOST:PORT' (or tcp://HOST:PORT)")
    if e.type == "dask":
        problem = tls_mismatch(e.scheduler or "", e.security)
        if problem:
            raise v.err(("executor", problem[0]) if problem[0] in ex else ("executor",), problem[1])
    if raw.get("tracking") is not None:
        cfg.tracking = parse_tracking(v, raw["tracking"], base_dir)
    family.validate(cfg, v)
    check_goal(v, cfg)
    check_workers(cfg, doc.where(("workers",)))
    return cfg


def local_url(url: str, base_dir: Path) -> str:
    """A storage URL or tracking URI with a relative local path made absolute against ``base_dir`` (the
    config's folder, like every path in a config): ``sqlite:///study.db``, ``file:./mlruns``, ``mlruns``."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        rest = url[len("sqlite:///"):]
        return url if rest.startswith("/") else "sqlite:///" + str((base_dir / rest).resolve())
    if url.startswith("file:"):
        rest = url[len("file:"):]
        if rest.startswith("//"):  # file:///abs or file://host/abs: already absolute
            return url
        return (base_dir / rest).resolve().as_uri() if not rest.startswith("/") else Path(rest).as_uri()
    if "://" not in url and ":" not in url.split("/")[0]:  # a plain path (MLflow: a local file store)
        return (base_dir / url).resolve().as_uri()
    return url


def parse_tracking(v: _V, spec: Any, base_dir: Path) -> Tracking:
    """``tracking: {optuna: STORAGE_URL, study: NAME, mlflow: TRACKING_URI, experiment: NAME, timeout: S}``.

    Only checks that the named tool is installed (``importlib.util.find_spec``: nothing is imported)."""
    import importlib.util

    p = ("tracking",)
    t = v.mapping(spec, p, "tracking")
    v.keys(t, TRACKING_KEYS, p, "'tracking'")
    out = Tracking()
    if "optuna" in t:
        url = v.string(t["optuna"], p + ("optuna",))
        if "://" not in url:
            raise v.err(p + ("optuna",), f"tracking.optuna must be an Optuna storage URL such as "
                                         f"sqlite:///study.db or postgresql://host/db, got {url!r}")
        out.optuna = local_url(url, base_dir)
    if "study" in t:
        if "optuna" not in t:
            raise v.err(p + ("study",), "tracking.study names the Optuna study; it needs tracking.optuna")
        out.study = v.string(t["study"], p + ("study",))
    if "mlflow" in t:
        out.mlflow = local_url(v.string(t["mlflow"], p + ("mlflow",)), base_dir)
    if "experiment" in t:
        if "mlflow" not in t:
            raise v.err(p + ("experiment",), "tracking.experiment names the MLflow experiment; it needs tracking.mlflow")
        out.experiment = v.string(t["experiment"], p + ("experiment",))
    if "timeout" in t:
        out.timeout = v.number(t["timeout"], p + ("timeout",), low=0, low_open=True)
    if out.optuna is None and out.mlflow is None:
        raise v.err(p, "tracking needs 'optuna: STORAGE_URL' or 'mlflow: TRACKING_URI' (or both)")
    for key in ("optuna", "mlflow"):
        module, extra = TRACKER_PACKAGES[key]
        if key in t and importlib.util.find_spec(module) is None:
            raise v.err(p + (key,), f"tracking.{key} needs {module}, which is not installed: "
                                    f"pip install \"{extra}\"")
    return out


def _select_family(v: _V, raw: dict[str, Any]) -> type[ObjectiveFamily]:
    """``objective: NAME``, or the one family whose section the config has (``fitness:``, ``data:``)."""
    from natsel import objectives

    known = objectives.families()
    if "objective" in raw:
        name = v.string(raw["objective"], ("objective",))
        try:
            family = objectives.get(name)
        except KeyError:
            raise v.err(("objective",), f"unknown objective '{name}' (known: "
                                        f"{', '.join(f.name for f in known)})") from None
    else:
        chosen = [f for f in known if f.selector is not None and f.selector in raw]
        if len(chosen) != 1:
            raise v.err((), "the config needs exactly one of 'fitness' (a Python function) or 'data' (train Keras "
                            "networks)" + ("" if len(known) <= 2 else " (or 'objective: NAME')"))
        family = chosen[0]
    others = {s for f in known if f is not family for s in f.sections} - set(family.sections)
    for key in raw:
        if key in others:
            raise v.err((key,), f"'{key}' does not apply to the {family.name} objective")
    return family


def _parse_fidelity(v: _V, raw: dict[str, Any], cfg: Config) -> None:
    """``fidelity: {resource, minimum, maximum, eta, checkpoints}`` and ``pruning: {quantile, warmup, min_trials}``."""
    if "fidelity" in raw:
        p = ("fidelity",)
        fi = v.mapping(raw["fidelity"], p, "fidelity")
        v.keys(fi, {"resource", "minimum", "maximum", "eta", "checkpoints"}, p, "'fidelity'")
        f = Fidelity()
        if "checkpoints" in fi:
            if not isinstance(fi["checkpoints"], bool):
                raise v.err(p + ("checkpoints",), f"fidelity checkpoints must be true or false, not {fi['checkpoints']!r}")
            f.checkpoints = fi["checkpoints"]
        if "resource" in fi:
            f.resource = v.string(fi["resource"], p + ("resource",), {"epochs", "rows"})
        if f.resource == "rows":
            f.minimum = 0.1
        if "eta" in fi:
            f.eta = v.number(fi["eta"], p + ("eta",), low=1, low_open=True)
        whole = f.resource == "epochs"
        top = cfg.full_budget(f)
        if "maximum" in fi and fi["maximum"] is not None:  # one full budget for every family: see full_budget()
            f.maximum = v.number(fi["maximum"], p + ("maximum",), integer=whole, low=0, low_open=True,
                                 high=None if whole else 1.0)
            given = (raw.get("training") or {}).get("max_epochs")
            if not whole and f.maximum != 1.0:
                raise v.err(p + ("maximum",), f"fidelity maximum ({f.maximum:g}) contradicts the full budget of "
                                              "resource rows, which is every training row (1.0); leave it out")
            if whole and given is not None and f.maximum != cfg.training.max_epochs:
                raise v.err(p + ("maximum",), f"fidelity maximum ({f.maximum:g}) contradicts training.max_epochs "
                                              f"({cfg.training.max_epochs}), the full budget; give one of them")
            if whole:
                cfg.training.max_epochs = int(f.maximum)  # the maximum alone sets the full budget
            top = cfg.full_budget(f)
        if "minimum" in fi:
            f.minimum = v.number(fi["minimum"], p + ("minimum",), integer=whole, low=0, low_open=True)
        if f.minimum >= top:
            raise v.err(p + ("minimum",), f"fidelity minimum ({f.minimum:g}) must be below the full budget ({top:g})")
        cfg.fidelity = f
    if "pruning" in raw:
        p = ("pruning",)
        pr = v.mapping(raw["pruning"], p, "pruning")
        v.keys(pr, {"quantile", "warmup", "min_trials"}, p, "'pruning'")
        cfg.pruning = Pruning(
            quantile=v.number(pr.get("quantile", 0.5), p + ("quantile",), low=0, high=1, low_open=True),
            warmup=v.number(pr.get("warmup", 1), p + ("warmup",), integer=True, low=0),
            min_trials=v.number(pr.get("min_trials", 5), p + ("min_trials",), integer=True, low=1))


def _parse_stop(v: _V, raw: dict[str, Any], cfg: Config) -> None:
    """``stop: {max_trials, timeout, target, patience, min_delta}``: any combination; the first reached ends the run."""
    if "stop" not in raw:
        return
    p = ("stop",)
    st = v.mapping(raw["stop"], p, "stop")
    v.keys(st, set(STOP_KEYS), p, "'stop'")
    rules = StopRules()
    if "max_trials" in st:
        rules.max_trials = v.number(st["max_trials"], p + ("max_trials",), integer=True, low=1)
    if "timeout" in st:
        try:
            rules.timeout = parse_duration(st["timeout"])
        except ValueError as exc:
            raise v.err(p + ("timeout",), f"stop timeout: {exc}") from None
    if "target" in st:
        rules.target = v.number(st["target"], p + ("target",))
    if "patience" in st:
        rules.patience = v.number(st["patience"], p + ("patience",), integer=True, low=1)
    if "min_delta" in st:
        rules.min_delta = v.number(st["min_delta"], p + ("min_delta",), low=0)
        if rules.patience is None:
            raise v.err(p + ("min_delta",), "stop min_delta is the improvement patience waits for; set patience too")
    cfg.stop, cfg.file_stop = rules, StopRules(**vars(rules))


def _parse_goal(v: _V, raw: dict[str, Any], cfg: Config) -> None:
    """``objectives: {name: maximize|minimize, ...}`` (two or more, in order) and ``constraints: {name:
    {min: x, max: y}}``; which names exist is the objective family's to check (``validate``)."""
    if "objectives" in raw:
        obj = v.mapping(raw["objectives"], ("objectives",), "objectives")
        if len(obj) < 2:
            raise v.err(("objectives",), "'objectives' names two or more values to optimise, each with maximize "
                                         "or minimize; for one, leave it out (the fitness, with 'direction')")
        if "direction" in raw:
            raise v.err(("direction",), "'direction' is for a single objective; with 'objectives' each has its own")
        for name, d in obj.items():
            if name == "fitness":
                raise v.err(("objectives", name), "name the values to optimise ('fitness' is what a single "
                                                  "objective is called)")
            cfg.objectives[str(name)] = v.string(d, ("objectives", name), {"maximize", "minimize"})
    if "constraints" in raw:
        con = v.mapping(raw["constraints"], ("constraints",), "constraints")
        for name, bound in con.items():
            p = ("constraints", name)
            b = v.mapping(bound, p, f"constraint '{name}'")
            v.keys(b, {"min", "max"}, p, f"constraint '{name}'")
            if not b:
                raise v.err(p, f"constraint '{name}' needs 'min', 'max' or both")
            low = v.number(b["min"], p + ("min",)) if "min" in b else None
            high = v.number(b["max"], p + ("max",)) if "max" in b else None
            if low is not None and high is not None and low > high:
                raise v.err(p, f"constraint '{name}': min {low:g} is above max {high:g}")
            cfg.constraints[str(name)] = {k: x for k, x in (("min", low), ("max", high)) if x is not None}


def check_goal(v: _V, cfg: Config) -> None:
    """What several objectives or constraints rule out elsewhere in the config."""
    from natsel import strategies

    if cfg.goal.plain:
        return
    what = "several objectives" if cfg.goal.multi else "constraints"
    where = ("objectives",) if cfg.goal.multi else ("constraints",)
    if cfg.stop.target is not None:
        raise v.err(("stop", "target"), f"stop target compares one fitness; with {what} it is not defined (use "
                                        "max_trials, timeout or patience)")
    from natsel._pareto import HV_OBJECTIVES

    if cfg.stop.patience is not None and len(cfg.goal.names) > HV_OBJECTIVES:
        raise v.err(("stop", "patience"), f"patience waits for a larger hypervolume, which natsel computes for up to "
                                          f"{HV_OBJECTIVES} objectives; use max_trials or timeout")
    if cfg.pruning is not None and cfg.goal.multi:
        raise v.err(("pruning",), "pruning compares one validation curve; with several objectives use fidelity: "
                                  "(successive halving promotes by non-dominated rank)")
    if not strategies.get(cfg.strategy).supports_goals:
        raise v.err(where, f"the {cfg.strategy} strategy optimises one fitness without constraints; use the "
                           "surrogate, genetic or random strategy")


def _parse_strategy(v: _V, raw: dict[str, Any], cfg: Config) -> None:
    """``strategy: random`` or ``strategy: {name: random, <option>: <value>, ...}``."""
    from natsel import strategies

    if "strategy" not in raw:
        return
    spec = raw["strategy"]
    if isinstance(spec, str):
        spec = {"name": spec}
    spec = dict(v.mapping(spec, ("strategy",), "strategy"))
    if "name" not in spec:
        raise v.err(("strategy",), "'strategy' needs 'name' (one of " + ", ".join(strategies.names()) + ")")
    name = v.string(spec.pop("name"), ("strategy", "name"))
    try:
        cls = strategies.get(name)
    except KeyError:
        raise v.err(("strategy",), f"unknown strategy '{name}' (known: {', '.join(strategies.names())})") from None
    try:
        cls.check_options(spec)
    except ValueError as exc:
        raise v.err(("strategy",), str(exc)) from None
    cfg.strategy, cfg.strategy_options = name, spec


def load_config(path: str | Path, base_dir: str | Path | None = None) -> Config:
    """Read and validate a YAML config file.

    Relative paths in it are resolved against ``base_dir`` (default: the file's folder).

    >>> cfg = load_config("configs/mixed.yaml")  # doctest: +SKIP
    """
    doc = load_yaml(path)
    base = Path(base_dir).resolve() if base_dir is not None else Path(path).resolve().parent
    return _validate(doc, base, Path(path).read_text(encoding="utf-8"))


def config_from_dict(data: Mapping[str, Any], base_dir: str | Path | None = None) -> Config:
    """Validate a config given as a Python mapping (as if it were the YAML file).

    ``fitness`` may be a function instead of ``"module:function"`` when workers can import it by
    that name: a function at the top level of a module (not of ``__main__``, not a lambda or a
    function defined inside another)."""
    import yaml

    data = dict(data)
    if callable(data.get("fitness")):
        data["fitness"] = function_ref(data["fitness"])
    text = yaml.safe_dump(data, sort_keys=False)
    doc = loads_yaml(text, "<config>")
    return _validate(doc, Path(base_dir or Path.cwd()).resolve(), text)


def config_with(config: Config | Mapping[str, Any] | str | Path, **sections: Any) -> Config:
    """``config`` (a Config, a mapping or a YAML file) with top-level ``sections`` set (None: removed),
    validated again; a ``fitness`` given as a function is held as :func:`natsel.evolve` documents."""
    overrides: dict[str, Any] = {}
    if isinstance(config, Config):
        data, base = dict(config.raw), config.base_dir
        overrides = dict(config.overrides)
    elif isinstance(config, Mapping):
        data, base = dict(config), None
    else:
        data = load_yaml(config).data
        if not isinstance(data, dict):
            raise ConfigError("the config must be a mapping", str(config))
        base = Path(config).resolve().parent
    held = None
    fn = sections.get("fitness")
    if callable(fn):
        try:
            sections["fitness"] = function_ref(fn)
        except ConfigError as exc:  # a lambda, a closure, a function of __main__: this process only
            from natsel._imports import hold_in_process

            held = ("it is defined in __main__, which workers cannot import" if "__main__" in str(exc) else
                    "a lambda or a function defined inside another cannot be imported by name")
            sections["fitness"] = hold_in_process(fn)
    for k, v in sections.items():
        if v is None:
            data.pop(k, None)
        else:
            data[k] = v
    if "data" in data and sections.get("fitness") is not None:
        data.pop("data", None)
    cfg = config_from_dict(data, base)
    if isinstance(config, Config):
        cfg.override(**overrides)
        cfg.workers = config.workers
    if held is not None and (cfg.workers != 0 or cfg.executor.type != "local"):
        name = getattr(fn, "__qualname__", repr(fn))
        raise ConfigError(f"fitness {name} cannot be sent to worker processes ({held}); run it in "
                          "this process with workers: 0, or define it at the top level of a module", "fitness")
    return cfg


def function_ref(fn: Any) -> str:
    """``module:qualname`` of a function that worker processes can import, else a ConfigError."""
    import sys

    module, name = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    where = "fitness"
    if not module or not name or "<" in name or "." in name:
        raise ConfigError(f"fitness {name or fn!r} cannot be imported by name (a lambda, a method or a function "
                          "defined inside another): define it at the top level of a module and pass it, or "
                          "'module:function'", where)
    if module == "__main__":
        file = getattr(sys.modules.get("__main__"), "__file__", None)
        hint = f"move it into a module (e.g. next to {Path(file).name}) and" if file else "define it in a module and"
        raise ConfigError(f"fitness {name} is defined in __main__, which worker processes cannot import by name: "
                          f"{hint} pass it, or 'module:function'", where)
    return f"{module}:{name}"
