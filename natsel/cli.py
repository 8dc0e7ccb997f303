"""The ``natsel`` command line: a thin layer over the library API. Never imports TensorFlow."""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from natsel._version import __version__

if TYPE_CHECKING:
    from natsel._space import SearchSpace


def _friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user-input errors into one ``error:`` line and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from natsel._errors import NatselError

        try:
            return fn(*args, **kwargs)
        except NatselError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    return wrapper


class OneLineError(click.ClickException):
    """A usage error shown as the single line ``error: <where>: <what>`` (exit code 2)."""

    exit_code = 2

    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where}: {what}")

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


_RANGE = [  # click's range messages, said the way natsel's config errors say them
    (re.compile(r"^(.+) is not in the range x>=(\S+)$"), r"\1 is smaller than the minimum \2"),
    (re.compile(r"^(.+) is not in the range x>(\S+)$"), r"\1 must be greater than \2"),
    (re.compile(r"^(.+) is not in the range x<=(\S+)$"), r"\1 is larger than the maximum \2"),
    (re.compile(r"^(.+) is not in the range (\S+)<=x<=(\S+)$"), r"\1 is not between \2 and \3"),
    (re.compile(r"^(.+) is not a valid integer range$"), r"\1 is not a valid integer"),
    (re.compile(r"^(.+) is not a valid float range$"), r"\1 is not a valid number"),
    (re.compile(r"^[Oo]ption '[^']+' requires an argument$"), "requires a value"),
]


def _what(message: str) -> str:
    text = " ".join(message.split()).rstrip(".")
    for pattern, repl in _RANGE:
        text = pattern.sub(repl, text)
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        text = text[0].lower() + text[1:]
    return text


def _param_name(param: click.Parameter) -> str:
    if isinstance(param, click.Option):
        return max(param.opts, key=len)
    return param.human_readable_name


def one_line(exc: click.UsageError) -> OneLineError:
    """``error: <where>: <what>`` for any click usage or parameter error."""
    if isinstance(exc, click.BadParameter):
        if exc.param_hint is not None:
            hint = exc.param_hint
            where = hint if isinstance(hint, str) else " / ".join(hint)
        elif exc.param is not None:
            where = _param_name(exc.param)
        else:
            where = (exc.ctx.command_path if exc.ctx else "") or "natsel"
        if isinstance(exc, click.MissingParameter):
            kind = exc.param_type or (exc.param.param_type_name if exc.param else "parameter")
            return OneLineError(where, f"missing {kind}" + (f" ({_what(exc.message)})" if exc.message else ""))
        return OneLineError(where, _what(exc.message))
    if isinstance(exc, click.NoSuchOption):
        extra = f" (did you mean {', '.join(exc.possibilities)}?)" if exc.possibilities else ""
        return OneLineError(exc.option_name, f"no such option{extra}")
    no_such_command = getattr(click.exceptions, "NoSuchCommand", None)  # click >= 8.4; before: a UsageError
    unknown = (exc.command_name if no_such_command is not None and isinstance(exc, no_such_command)
               else (re.findall(r"^No such command '(.+)'", exc.message) or [None])[0])
    if unknown is not None:
        group = exc.ctx.command if exc.ctx else None
        names = sorted(group.commands) if isinstance(group, click.Group) else []
        return OneLineError(unknown, "no such command" + (f" (commands: {', '.join(names)})" if names else ""))
    if isinstance(exc, click.BadOptionUsage):
        return OneLineError(exc.option_name, _what(exc.message))
    return OneLineError((exc.ctx.command_path if exc.ctx else "") or "natsel", _what(exc.message))


_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click >= 8.2


@contextmanager
def _usage_errors_on_one_line() -> Iterator[None]:
    try:
        yield
    except _NO_ARGS_IS_HELP:
        raise  # plain `natsel`: the help text, as click prints it
    except click.UsageError as exc:
        raise one_line(exc) from None


class NatselGroup(click.Group):
    """Every usage or parameter error of every command (a bad option value, an unknown option or
    command, a missing argument) is one line ``error: <where>: <what>`` with exit code 2, like
    natsel's own input errors. ``--help`` is click's."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        with _usage_errors_on_one_line():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with _usage_errors_on_one_line():  # resolving the command, parsing its arguments, running it
            return super().invoke(ctx)


@click.group(cls=NatselGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="natsel")
def main() -> None:
    """Evolve neural-network hyperparameters with a genetic algorithm.

    \b
    natsel evolve configs/quickstart.yaml   # search, writes runs/<name>-<time>/
    natsel show RUN_DIR                     # leaderboard of the trials
    natsel plot RUN_DIR                     # figures and report.html
    natsel train-best RUN_DIR               # train the fittest genome fully
    natsel swarm rastrigin                  # watch a particle swarm on a 2-D landscape
    """


def _short(genome: dict[str, Any], width: int = 90) -> str:
    text = " ".join(f"{k}={v}" for k, v in genome.items())
    return text if len(text) <= width else text[: width - 1] + "…"


@main.command()
@click.argument("config", type=click.Path(path_type=Path))  # a folder: load_config says so
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Run folder to write (or resume if it holds a run). Default: runs/<name>-<time>.")
@click.option("--seed", type=click.IntRange(min=0), help="Override the config's seed.")
@click.option("--workers", type=click.IntRange(min=0), help="Worker processes (0: in-process, Python fitness only).")
@click.option("--population", type=click.IntRange(min=2), help="Override evolution.population.")
@click.option("--generations", type=click.IntRange(min=1), help="Override evolution.generations.")
@click.option("--max-trials", type=click.IntRange(min=1), help="Stop after this many trained trials (stop.max_trials).")
@click.option("--timeout", metavar="DURATION",
              help="Stop starting trials after this much search time: seconds, or 90s, 30m, 2h (stop.timeout).")
@click.option("--target", type=float, help="Stop once a trial's fitness is at least this good (stop.target).")
@click.option("--patience", type=click.IntRange(min=1),
              help="Stop after this many generations (steady: trials) without improving the best (stop.patience).")
@click.option("--min-delta", type=click.FloatRange(min=0), help="The improvement --patience waits for (stop.min_delta).")
@click.option("--resume", is_flag=True, help="Continue the newest run of this config's name (or --run-dir).")
@click.option("--allow-change", "allow_change", metavar="KEY", multiple=True,
              help="Let a resume change KEY (cache, training.grace): trials keep their identity, but the rest of "
                   "the run may differ from one uninterrupted run (docs/config.md, \"What a resume checks\").")
@click.option("--scheduler", metavar="tls://HOST:PORT", help="Run trials on a Dask cluster (docs/dask.md).")
@click.option("--tls-ca-file", type=click.Path(dir_okay=False, path_type=Path),
              help="CA certificate (PEM) of a tls:// scheduler; with --tls-cert/--tls-key it replaces executor.security.")
@click.option("--tls-cert", type=click.Path(dir_okay=False, path_type=Path),
              help="This client's certificate (PEM), signed by that CA.")
@click.option("--tls-key", type=click.Path(dir_okay=False, path_type=Path),
              help="Its private key (PEM); leave out if --tls-cert holds it.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@_friendly
def evolve(config: Path, run_dir: Path | None, seed: int | None, workers: int | None, population: int | None,
           generations: int | None, max_trials: int | None, timeout: str | None, target: float | None,
           patience: int | None, min_delta: float | None, resume: bool, allow_change: tuple[str, ...],
           scheduler: str | None, tls_ca_file: Path | None, tls_cert: Path | None, tls_key: Path | None,
           quiet: bool) -> None:
    """Evolve the search space of CONFIG (a YAML file) and record every trial.

    Exit codes: 0 done; 2 bad input (one line says what and where); 3 no trial succeeded;
    1 the cluster was lost; 130 interrupted (finished trials are saved: --resume continues).
    """
    from natsel import evolve as run_evolve
    from natsel import load_config
    from natsel._config import apply_executor_options
    from natsel._errors import ConfigError
    from natsel._settings import check_allow_change, parse_duration

    allowed = check_allow_change(allow_change)  # before the config is read: nothing is written
    try:
        seconds = None if timeout is None else parse_duration(timeout)
    except ValueError as exc:
        raise ConfigError(str(exc), "--timeout") from None
    cfg = load_config(config).override(seed=seed, population=population, generations=generations,
                                       max_trials=max_trials, timeout=seconds, target=target, patience=patience,
                                       min_delta=min_delta)
    if min_delta is not None and cfg.stop.patience is None:
        raise ConfigError("--min-delta is the improvement --patience waits for; give --patience too", "--min-delta")
    if workers is not None:
        if workers == 0 and cfg.data is not None:
            raise ConfigError("--workers 0 runs Python fitness in-process; Keras training needs workers >= 1")
        cfg.workers = workers
    apply_executor_options(cfg, scheduler, tls_ca_file, tls_cert, tls_key)
    cfg.allow_change = allowed
    from natsel.executors._base import ExecutorLost

    try:
        run = run_evolve(cfg, run_dir, resume=resume, progress=not quiet)
    except KeyboardInterrupt:
        click.echo("\ninterrupted: finished trials are saved; run the same command with --resume to continue",
                   err=True)
        sys.exit(130)
    except ExecutorLost as exc:
        click.echo(f"error: {exc}; finished trials are saved; run the same command with --resume to continue",
                   err=True)
        sys.exit(1)
    n = run.outcome
    settled = f", {n['settled']} of them promotions settled at a lower rung" if n["settled"] else ""
    shared = f", {n['shared']} from the shared cache" if n["shared"] else ""
    click.echo(f"run: {run.path}  ({run.status}: {n['trained']} trained, {n['failed']} failed, "
               f"{n['cached']} from cache{settled}{shared})")
    if run.meta.get("stop_reason"):
        click.echo(f"stopped by {run.meta['stop_reason']}")
    if n["failed"]:
        line = (f"{n['failed']} of {n['trained'] + n['failed']} trials failed; most common error "
                f"({n['common_error_count']}x): {n['common_error']}")
        if n["succeeded"] == 0:
            click.echo(f"error: no trial succeeded: {line}", err=True)
            sys.exit(3)
        click.echo(f"warning: {line}", err=True)
    best, goal = run.best, run.goal
    if goal.constraints and best and not best.get("feasible"):
        click.echo("warning: no trial met the constraints; the closest is shown", err=True)
    if best and goal.multi:
        values = ", ".join(f"{k}={v:.6g}" for k, v in best["values"].items())
        click.echo(f"Pareto front: {len(run.front())} trials (natsel show {run.path} --pareto); best {goal.names[0]}: "
                   f"{values} (trial {best['id']}): {_short(cfg.space.project(best['genome']), 200)}")
    elif best:
        click.echo(f"best fitness {best['fitness']:.6g} (trial {best['id']}, generation {best['generation']}): "
                   f"{_short(cfg.space.project(best['genome']), 200)}")


SHOW_KEYS = ("rank", "id", "generation", "fitness", "status", "seconds", "genome", "metrics", "error")
CSV_FIXED = ("rank", "id", "generation", "fitness", "status", "seconds")


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def leaderboard_csv(rows: list[dict[str, Any]], genes: list[str], space: SearchSpace | None = None) -> str:
    """The leaderboard as CSV: rank, id, generation, fitness, status, seconds, one column per gene
    (``genes``, in that order), one per scalar metric (``metrics.<name>``), and error. Missing values
    and genes inactive in a trial (under ``space``'s conditions) are empty cells; floats keep every digit."""
    import csv
    import io

    from natsel._plot import active_genes

    genes = genes + [k for r in rows for k in r["genome"] if k not in genes]
    genes = list(dict.fromkeys(genes))
    metrics: list[str] = []
    for r in rows:
        metrics += [k for k, v in (r["metrics"] or {}).items() if _scalar(v) and k not in metrics]
    gene_cols = {g: f"gene.{g}" if g in CSV_FIXED or g == "error" or g.startswith("metrics.") else g for g in genes}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*CSV_FIXED, *gene_cols.values(), *(f"metrics.{m}" for m in metrics), "error"])

    def cell(v: Any) -> Any:
        return "" if v is None else repr(v) if isinstance(v, float) else v

    for r in rows:
        m = r["metrics"] or {}
        on = active_genes(space, r["genome"])
        w.writerow([*(cell(r[k]) for k in CSV_FIXED), *(cell(r["genome"].get(g) if g in on else None) for g in genes),
                    *(cell(m.get(k)) if _scalar(m.get(k)) else "" for k in metrics), cell(r["error"])])
    return buf.getvalue()


def _table(header: list[str], body: list[list[str]], right: int) -> list[str]:
    """Columns as wide as their widest cell; the first ``right`` columns right-aligned."""
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    return [" ".join(c.rjust(wd) if i < right else c.ljust(wd) for i, (c, wd) in enumerate(zip(row, widths, strict=True))
                     ).rstrip() for row in [header, *body]]


def _gene_text(v: Any) -> str:
    return "-" if v is None else str(v)


def _shown_genome(genome: dict[str, Any], space: SearchSpace | None) -> dict[str, Any]:
    """The genome ``show --json`` prints: a gene inactive under the space's conditions is null."""
    from natsel._plot import active_genes

    on = active_genes(space, genome)
    return {k: (v if k in on else None) for k, v in genome.items()}


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--top", "top", type=click.IntRange(min=1),
              help="How many trials. Default: 10 in the table, every trial with --json or --csv.")
@click.option("--all", "show_all", is_flag=True, help="Every evaluated trial.")
@click.option("--wide", is_flag=True, help="One column per gene, nothing cut (the default cuts genomes at 90 characters).")
@click.option("--json", "as_json", is_flag=True, help="Print the trials as JSON (every trial unless --top).")
@click.option("--csv", "as_csv", is_flag=True,
              help="Print the trials as CSV, one column per gene and metric (every trial unless --top).")
@click.option("--pareto", is_flag=True,
              help="The Pareto front only: trials that meet every constraint and that no such trial beats on "
                   "every objective, best first on the first objective.")
@_friendly
def show(run_dir: Path, top: int | None, show_all: bool, wide: bool, as_json: bool, as_csv: bool,
         pareto: bool = False) -> None:
    """Leaderboard of a run: rank, fitness (or each objective), status, seconds, genome."""
    if as_json and as_csv:
        raise click.BadParameter("cannot be combined with --csv", param_hint="--json")
    if show_all and top is not None:
        raise click.BadParameter("cannot be combined with --top", param_hint="--all")
    from natsel import load_run
    from natsel._plot import INACTIVE, active_genes, gene_names, run_space

    run = load_run(run_dir)
    if top is None and not (show_all or as_json or as_csv or pareto):
        top = 10
    rows = run.pareto(top) if pareto else run.leaderboard(top)
    space = run_space(run)  # its conditions say which genes are inactive in a trial
    goal = run.goal
    if as_json:
        keys = SHOW_KEYS if goal.plain else (*SHOW_KEYS, "values", "feasible")
        click.echo(json.dumps([{k: _shown_genome(r[k], space) if k == "genome" else r[k] for k in keys}
                               for r in rows], indent=2))
        return
    genes = gene_names(run, space)  # in the config's order
    if as_csv:
        click.echo(leaderboard_csv(rows, genes, space), nl=False)
        return
    n_gen = len(run.history)
    n_eval = len(run.leaderboard())
    status = run.status
    if status == "interrupted":
        status += f" (resume with: {run.resume_command})"
    planning = [h["plan_seconds"] for h in run.history if h.get("plan_seconds") is not None]
    plan = f"  planning={sum(planning):.2f}s (max {max(planning):.2f}s a generation)" if planning else ""
    aim = (f"direction={'maximize' if run.maximize else 'minimize'}" if not goal.multi else
           "objectives=" + ",".join(f"{n}:{'max' if d.maximize else 'min'}" for n, d in goal.objectives))
    if goal.constraints:
        aim += "  constraints=" + ",".join(f"{n} {b.text()}" for n, b in goal.constraints)
    click.echo(f"{run.path}  status={status}  generations={n_gen}  trials={len(run.trials)}  {aim}{plan}")
    scores = goal.names if goal.multi else ["fitness"]
    header = ["rank", "trial", "gen", *scores, *(["feasible"] if goal.constraints else []), "status", "seconds"]
    body = []
    for r in rows:
        fit = [f"{v:.5g}" if (v := goal.value(r, n)) is not None else "-" for n in scores]
        ok = (["yes" if r.get("feasible") else "no"] if goal.constraints else [])
        secs = f"{r['seconds']:.2f}" if r["seconds"] is not None else "-"
        body.append([str(r["rank"]), str(r["id"]), str(r["generation"]), *fit, *ok, r["status"], secs])
    fixed = len(header)  # right-aligned; the genes after them are not
    cut = False
    if wide:
        errors = any(r["error"] for r in rows)
        header += genes + (["error"] if errors else [])
        for line, r in zip(body, rows, strict=True):
            on = active_genes(space, r["genome"])
            line += [_gene_text(r["genome"].get(g)) if g in on or g not in r["genome"] else INACTIVE for g in genes]
            line += [r["error"] or ""] if errors else []
    else:
        header.append("genome")
        for line, r in zip(body, rows, strict=True):
            on = active_genes(space, r["genome"])  # the genome column lists the active genes only
            text = _short({g: r["genome"][g] for g in genes if g in r["genome"] and g in on})
            cut = cut or text.endswith("…")
            line.append(text + (f"  [{r['error']}]" if r["error"] else ""))
    for line in _table(header, body, right=fixed):
        click.echo(line)
    notes = []
    if pareto:
        notes.append(f"the Pareto front: {len(rows)} of {n_eval} evaluated trials")
    elif len(rows) < n_eval:
        notes.append(f"{len(rows)} of {n_eval} evaluated trials (--all: every one)")
    if cut:
        notes.append("genomes cut at 90 characters (--wide: one column per gene)")
    reduced = sum(t.get("budget", "full") != "full" for t in run.trials)
    if reduced:
        notes.append(f"ranked by full-budget results only; {reduced} trials at reduced budgets are in report.html")
    if notes:
        click.echo("; ".join(notes))


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Folder for the figures. Default: RUN_DIR/plots.")
@click.option("--format", "fmt", type=click.Choice(["png", "svg"]), default="png", show_default=True)
@_friendly
def plot(run_dir: Path, out: Path | None, fmt: str) -> None:
    """Draw a run's figures and a one-page report.html (read-only: safe while the run goes on)."""
    from natsel import load_run
    from natsel._errors import RunDirError
    from natsel._plot import write_plots

    run = load_run(run_dir)
    if run.best is None:
        n = run.outcome
        if n["failed"] and not n["succeeded"]:  # they finished: every one failed
            raise RunDirError(f"{run_dir}: no trial succeeded ({n['failed']} failed; most common error "
                              f"({n['common_error_count']}x): {n['common_error']}): nothing to plot")
        raise RunDirError(f"{run_dir} has no finished trial yet: nothing to plot")
    for path in write_plots(run, out or run.path / "plots", fmt):
        click.echo(str(path))


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--optuna", "optuna_url", metavar="STORAGE_URL",
              help="An Optuna storage (sqlite:///study.db, postgresql://...): optuna-dashboard STORAGE_URL shows it.")
@click.option("--study", help="The Optuna study's name. Default: the run folder's name.")
@click.option("--mlflow", "mlflow_uri", metavar="TRACKING_URI", help="An MLflow tracking URI (file:./mlruns, http://...).")
@click.option("--experiment", help="The MLflow experiment. Default: the config's name.")
@_friendly
def export(run_dir: Path, optuna_url: str | None, study: str | None, mlflow_uri: str | None,
           experiment: str | None) -> None:
    """Write RUN_DIR's finished trials into an Optuna study and/or MLflow (again: only new trials)."""
    from natsel._config import local_url
    from natsel._errors import NatselError
    from natsel.tracking import describe
    from natsel.tracking import export as run_export

    if not optuna_url and not mlflow_uri:
        raise click.UsageError("name where to: --optuna STORAGE_URL and/or --mlflow TRACKING_URI")
    if study and not optuna_url:
        raise click.BadParameter("names the Optuna study; it needs --optuna", param_hint="--study")
    if experiment and not mlflow_uri:
        raise click.BadParameter("names the MLflow experiment; it needs --mlflow", param_hint="--experiment")
    if optuna_url and "://" not in optuna_url:
        raise click.BadParameter(f"must be an Optuna storage URL such as sqlite:///study.db, got {optuna_url!r}",
                                 param_hint="--optuna")
    import importlib.util

    for flag, module, given in (("--optuna", "optuna", optuna_url), ("--mlflow", "mlflow", mlflow_uri)):
        if given and importlib.util.find_spec(module) is None:
            raise click.BadParameter(f"needs {module}, which is not installed: pip install \"natsel[{module}]\"",
                                     param_hint=flag)
    cwd = Path.cwd()
    try:
        sent = run_export(run_dir, optuna=local_url(optuna_url, cwd) if optuna_url else None, study=study,
                          mlflow=local_url(mlflow_uri, cwd) if mlflow_uri else None, experiment=experiment)
    except NatselError:
        raise
    except Exception as exc:  # noqa: BLE001 - the tool's own error (a bad URL, a server not there): one line
        raise NatselError(describe(exc), optuna_url or mlflow_uri) from None
    for tool, n in sent.items():
        click.echo(f"{tool}: {n} new trials")


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--resamples", type=click.IntRange(min=1), default=5, show_default=True,
              help="Random 80% subsets of the trials the spread is measured over (1: all trials once, no spread).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_friendly
def importance(run_dir: Path, resamples: int, as_json: bool) -> None:
    """How much each gene matters for fitness, over RUN_DIR's full-budget trials (fANOVA with the optuna extra)."""
    from natsel import load_run
    from natsel._errors import RunDirError
    from natsel._importance import MIN_TRIALS, importance, scored_trials

    run = load_run(run_dir)
    n = len(scored_trials(run))
    if n < MIN_TRIALS:
        raise RunDirError(f"{run_dir}: {n} full-budget trials with a fitness; importance needs at least {MIN_TRIALS}")
    info = importance(run, resamples=resamples)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"{info['method']}: {n} full-budget trials, mean ± std over {resamples} resamples "
               "(trials: those where the gene is active)")
    body = [["-" if g["mean"] is None else f"{g['mean']:.3f}", "-" if g["std"] is None else f"{g['std']:.3f}",
             str(g["trials"]), g["gene"]] for g in info["genes"]]
    for line in _table(["importance", "±", "trials", "gene"], body, right=3):
        click.echo(line)


@main.command("train-best")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--trial", type=int, help="Train this trial's genome instead of the fittest.")
@click.option("--pick", metavar="WHAT",
              help="With several objectives, which member of the feasible front to train: 'knee' (the best "
                   "trade-off), or an objective's name (the front's best on it). Default: the best on the first.")
@click.option("--epochs", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--patience", type=click.IntRange(min=0), default=10, show_default=True,
              help="Epochs without improvement on validation before stopping (0: never).")
@click.option("--max-time", type=click.FloatRange(min=0, min_open=True), default=600.0, show_default=True,
              help="Wall-clock limit in seconds.")
@click.option("--seed", type=click.IntRange(min=0), help="Default: the run's seed.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output folder. Default: RUN_DIR.")
@click.option("--all-rows", is_flag=True,
              help="Train on every training row, also those the data's 'limit' kept from the search "
                   "(validation and test rows stay the search's).")
@click.option("--force", is_flag=True, help="Replace a model an earlier train-best saved in the output folder.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@_friendly
def train_best(run_dir: Path, trial: int | None, pick: str | None, epochs: int, patience: int, max_time: float,
               seed: int | None, out: Path | None, all_rows: bool, force: bool, quiet: bool) -> None:
    """Train the fittest genome of RUN_DIR fully; save the model and report validation and test scores."""
    from natsel._train_best import TrainingError
    from natsel._train_best import train_best as run_train_best

    try:
        info = run_train_best(run_dir, trial=trial, pick=pick, epochs=epochs, patience=patience, max_time=max_time, seed=seed,
                              out=out, progress=not quiet, all_rows=all_rows, force=force)
    except TrainingError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("\ninterrupted: nothing was saved", err=True)
        sys.exit(130)
    metric = info["metric"]
    steps = (f"{info['swarm_iterations']} swarm iterations" if info.get("swarm_iterations")
             else f"{info['epochs']} epochs")
    click.echo(f"trial {info['trial']}: {steps} on {info['train_rows']} training rows in {info['seconds']:.1f}s")
    shown = [metric] + [m for m in ("mae", "r2") if m in info["test"] and m != metric]
    for split in ("validation", "test"):
        click.echo(f"{split:<10} " + "   ".join(f"{m} {info[split][m]:.4g}" for m in shown))
    for line in goal_lines(info):
        click.echo(line)
    click.echo(f"model: {info['model']} (takes raw data; classes and columns in labels.json; "
               f"natsel predict {run_dir} DATA)")


def goal_lines(info: dict[str, Any]) -> list[str]:
    """train-best's objectives and constraints, a line each (none for a run with one objective)."""
    def value(name: str, e: dict[str, Any]) -> str:
        def num(x: Any) -> str:
            return "-" if x is None else f"{x:,}" if name == "params" else f"{x:.4g}"

        if "test" in e:
            return f"validation {num(e['validation'])}  test {num(e['test'])}  (search {num(e['search'])})"
        rows = f" on {e['rows']} rows" if e.get("rows") else ""
        return f"{num(e['value'])}{rows}  (search {num(e['search'])})"

    if "objectives" not in info:
        return []
    width = max(map(len, [*info["objectives"], *info["constraints"]]))
    out = [f"picked: {info['pick']}" + ("" if info["feasible_in_search"] else " (infeasible in the search)")]
    out += [f"objective  {n:<{width}} {e['direction']:<8}  {value(n, e)}" for n, e in info["objectives"].items()]
    for n, e in info["constraints"].items():
        bound = " and ".join(f"{'>=' if k == 'min' else '<='} {e[k]:g}" for k in ("min", "max") if k in e)
        out.append(f"constraint {n:<{width}} {bound}  {value(n, e)}  {'met' if e['met'] else 'NOT met'}")
    return out


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="CSV file to write (default: standard output).")
@click.option("--proba", is_flag=True, help="Add a p(<class>) column per class.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8192, show_default=True,
              help="Rows read and predicted at a time (memory stays bounded by it).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@_friendly
def predict(run_dir: Path, data: Path, out: Path | None, proba: bool, batch_size: int, quiet: bool) -> None:
    """Predict DATA (a CSV with the columns trained on, or an .npz with array x) with the model
    `natsel train-best` saved in RUN_DIR (or its --out folder); answers in the data's own labels."""
    import tempfile

    from natsel._predict import predict_file

    if out is None:
        info = predict_file(run_dir, data, sys.stdout, proba=proba, batch=batch_size, progress=not quiet)
    else:  # written beside, then renamed: an interrupted predict leaves no half file
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=out.parent, prefix=f".{out.name}.", suffix=".tmp", delete=False,
                                         newline="", encoding="utf-8") as f:
            tmp = Path(f.name)
            try:
                info = predict_file(run_dir, data, f, proba=proba, batch=batch_size, progress=not quiet)
            except BaseException:
                f.close()
                tmp.unlink(missing_ok=True)
                raise
        tmp.replace(out)
    for column, n in info["unknown"].items():
        click.echo(f"note: {n} value(s) of column '{column}' were not in its training values (read as unknown)",
                   err=True)
    if "accuracy" in info or "mae" in info:
        what = f"accuracy {info['accuracy']:.4f}" if "accuracy" in info else f"mae {info['mae']:.4g}"
        click.echo(f"{info['rows']} rows predicted; against the file's own '{info['target']}' column: {what}",
                   err=True)
    elif out is not None:
        click.echo(f"{info['rows']} rows predicted: {out}", err=True)


class _OneLineUsage(click.Command):
    """A command whose usage errors (bad option values, missing arguments) are one ``error:`` line, exit 2."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.MissingParameter as exc:
            click.echo(f"error: {ctx.command_path}: {exc.format_message()}", err=True)
        except click.BadParameter as exc:
            where = exc.param_hint or (exc.param.opts[0] if exc.param is not None and exc.param.opts else self.name)
            if isinstance(where, (list, tuple)):
                where = "/".join(where)
            click.echo(f"error: {str(where).strip(chr(39))}: {exc.message}", err=True)
        except click.UsageError as exc:
            click.echo(f"error: {ctx.command_path}: {exc.message}", err=True)
        ctx.exit(2)


class _Inertia(click.ParamType):
    """``W`` (constant) or ``START:END`` (linear from START at the first iteration to END at the last)."""

    name = "W|START:END"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[float, float]:
        if isinstance(value, tuple):
            return value
        parts = str(value).split(":")
        try:
            if len(parts) not in (1, 2):
                raise ValueError
            start, end = float(parts[0]), float(parts[-1])
        except ValueError:
            self.fail(f"{value!r} is neither a number nor START:END (e.g. 0.9:0.4)", param, ctx)
        if not (0 <= start and 0 <= end):
            self.fail(f"{value!r}: inertia weights must be >= 0", param, ctx)
        return start, end


@main.command(cls=_OneLineUsage)
@click.argument("function")
@click.option("--particles", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--iterations", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--w", "inertia", type=_Inertia(), default="0.9:0.4", show_default=True,
              help="Inertia weight: a constant, or START:END for a linear decrease over the iterations.")
@click.option("--c1", type=click.FloatRange(min=0), default=1.5, show_default=True,
              help="Pull towards the particle's own best.")
@click.option("--c2", type=click.FloatRange(min=0), default=1.5, show_default=True,
              help="Pull towards the swarm's best.")
@click.option("--beta", type=click.FloatRange(min=0, max=1, max_open=True),
              help="Run EMPSO with this momentum instead of PSO (--w is then unused).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--bounds", type=float, nargs=4, metavar="XMIN XMAX YMIN YMAX",
              help="The search rectangle (required for module:function; replaces a built-in's default).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output folder. Default: swarm-FUNCTION.")
@click.option("--compare", is_flag=True,
              help="Also run EMPSO (beta 0.9), or PSO when --beta is given, from the same start; plot both costs.")
@click.option("--no-gif", is_flag=True, help="Skip the animation.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@_friendly
def swarm(function: str, particles: int, iterations: int, inertia: tuple[float, float], c1: float, c2: float,
          beta: float | None, seed: int, bounds: tuple[float, ...] | None, out: Path | None, compare: bool,
          no_gif: bool, quiet: bool) -> None:
    """Watch PSO (or EMPSO) minimise a 2-D FUNCTION; write its figures and animation.

    FUNCTION is a built-in landscape (sphere, rosenbrock, rastrigin, ackley, himmelblau, ripples) or
    module:function, a function of (x, y) from an importable module (the current folder included),
    which then needs --bounds. Writes panels.png (six iterations), swarm.gif (every iteration) and
    cost.png (best cost per iteration) into --out.

    \b
    natsel swarm rastrigin
    natsel swarm himmelblau --w 0.7 --compare --out figs
    natsel swarm mymod:bumpy --bounds -3 3 -3 3
    """
    from natsel.swarm import SwarmOptions
    from natsel.swarm._landscapes import get_landscape
    from natsel.swarm._watch import describe, watch

    land = get_landscape(function, bounds or None)
    options = SwarmOptions(n_particles=particles, iterations=iterations, c1=c1, c2=c2, w_start=inertia[0],
                           w_end=inertia[1], beta=beta)
    folder = out or Path(f"swarm-{land.name}")
    runs, written = watch(land, options, folder, seed=seed, compare=compare, gif=not no_gif, progress=not quiet)
    for path in written:
        click.echo(str(path))
    for run in runs:
        res = run.result
        x, y = res.best_position
        line = f"{describe(run.options)}: best {res.best_cost:.6g} at ({x:.6g}, {y:.6g}) after {res.iterations} iterations"
        nearest = land.nearest_minimum(res.best_position)
        if nearest is not None:
            (mx, my), dist = nearest
            line += f"; true minimum {land.min_value:g} at ({mx:.6g}, {my:.6g}), {dist:.3g} away"
        click.echo(line)


if __name__ == "__main__":  # pragma: no cover
    main()
