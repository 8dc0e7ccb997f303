"""Run folders: which one a command writes, one writer at a time, what a resume must match.

* :func:`resolve` picks the folder: ``--run-dir``, the newest run of the config's name
  (``--resume``), or a new ``runs/<name>-<YYYYmmdd>-<HHMMSS>`` claimed atomically;
* :class:`RunFolder` holds the folder's lock while a run writes it, opens the store (checking that
  a resumed run was made with the same search, the same data and the same scoring), and after an
  early failure removes a new folder that holds no finished trial, so no husk is left behind.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from natsel._errors import RunDirError
from natsel._run import outcome
from natsel._settings import ALLOW_CHANGE, RESUMABLE, Config, without
from natsel._store import LOCK_NAME, RunLock, RunStore, SharedCache, is_empty_dir, is_run_dir, read_meta
from natsel._version import __version__
from natsel.objectives import Prepared

#: run folders are ``<name>-<YYYYmmdd>-<HHMMSS>`` with ``-<n>`` when two start in the same second
STAMP = r"-(\d{8}-\d{6})(?:-(\d+))?"


def resolve(cfg: Config, run_dir: str | Path | None, resume: bool, runs_root: Path) -> tuple[Path, bool, bool]:
    """(folder, whether it holds a run already, whether this call created it).

    A new generated folder is created here, atomically, so two runs started in the same second
    never share one."""
    if run_dir is not None:
        p = Path(run_dir)
        if is_run_dir(p):
            return p, True, False
        if not is_empty_dir(p):
            raise RunDirError(f"{p} exists but is not a natsel run folder; choose an empty or new folder")
        if resume:
            raise RunDirError(f"nothing to resume: {p} is not a natsel run folder")
        return p, False, not p.exists()
    if resume:
        pattern = re.compile(re.escape(cfg.name) + STAMP)
        found = []
        for d in runs_root.iterdir() if runs_root.is_dir() else []:
            m = pattern.fullmatch(d.name)
            if m and is_run_dir(d):
                found.append(((m.group(1), int(m.group(2) or 1)), d))
        if not found:
            raise RunDirError(f"nothing to resume: no run named '{cfg.name}' under {runs_root}/")
        return max(found)[1], True, False
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    runs_root.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        p = runs_root / (f"{cfg.name}-{stamp}" + (f"-{n}" if n > 1 else ""))
        try:
            p.mkdir()  # claims the name: two runs started in the same second get -1 and -2
        except FileExistsError:
            continue
        return p, False, True
    raise RunDirError(f"cannot create a run folder under {runs_root}/")  # pragma: no cover


def redraw_report(path: Path) -> None:
    """Redraw ``plots/report.html`` if there is one; a plotting problem is one warning, never a failed run."""
    if not (path / "plots" / "report.html").is_file():
        return
    try:
        from natsel._plot import redraw_report as redraw

        redraw(path)
    except Exception as exc:  # noqa: BLE001 - the run is done; a figure must not cost the user its result
        print(f"natsel: could not redraw {path / 'plots' / 'report.html'}: {exc}", file=sys.stderr)


def cache_scope(cfg: Config, prepared: Prepared) -> str:
    """What a shared-cache entry is valid for: the objective (spec and identity), its data, the seed.

    A fitness function is identified by its module's absolute file and a hash of its source, data by
    a content hash, so two projects that both say ``fitness: fit:score`` or ``path: data.csv`` never
    serve each other's results.
    """
    spec = {k: v for k, v in prepared.spec.items() if k not in ("threads", "base_dir", "sys_path", "module",
                                                                 "model_sha256")}  # identity has it
    scope = {"objective": spec, "identity": prepared.identity, "data": prepared.fingerprint, "seed": cfg.seed}
    return hashlib.sha256(json.dumps(scope, sort_keys=True, default=str).encode()).hexdigest()[:16]


def config_diff(before: Any, now: Any, path: str = "") -> list[str]:
    """Where two configs differ, as ``section.key (old -> new)``, deepest keys first named (a section
    one side lacks is named by its keys: ``training.grace ((not set) -> 60)``)."""
    if isinstance(before, dict) and now is None or before is None and isinstance(now, dict):
        before, now = before or {}, now or {}
    if isinstance(before, dict) and isinstance(now, dict):
        out: list[str] = []
        for k in sorted(set(before) | set(now), key=str):
            out += config_diff(before.get(k), now.get(k), f"{path}.{k}" if path else str(k))
        return out
    if before == now:
        return []

    def show(x: Any) -> str:
        text = "(not set)" if x is None else json.dumps(x, default=str)
        return text if len(text) <= 40 else text[:37] + "..."

    return [f"{path or 'the config'} ({show(before)} -> {show(now)})"]


def resume_changes(before: dict[str, Any], now: dict[str, Any], allowed: list[str], path: Path) -> list[str]:
    """Issue 28 item 3: what a resume changes in the search fingerprint, as ``key (old -> new)``; every
    change must be in ``allowed`` (``--allow-change``, keys of :data:`ALLOW_CHANGE`), else a
    RunDirError names the differences: an :data:`ALLOW_CHANGE` key with the flag that allows it,
    anything else with the ``warm_start`` a new search would use. Stored fingerprints of any natsel
    version compare: what :data:`RESUMABLE` names is dropped from both sides."""
    before, now = without(before, RESUMABLE), without(now, RESUMABLE)
    if without(before, ALLOW_CHANGE) != without(now, ALLOW_CHANGE):
        diff = config_diff(before, now)
        raise RunDirError(f"{path} was made with a different config (differs in: {'; '.join(diff) or 'format'}); "
                          f"use a new run folder (with 'warm_start: [{path}]' its trials inform the new search)")
    refused = [k for k in ALLOW_CHANGE if k not in allowed and _at(before, k) != _at(now, k)]
    if refused:
        diff = config_diff(before, now)
        raise RunDirError(f"{path} was made with a different config (differs in: {'; '.join(diff)}); "
                          f"{' and '.join(refused)} may change on resume with "
                          f"{' '.join('--allow-change ' + k for k in refused)} ({ALLOW_CHANGE[refused[0]]})")
    return config_diff(before, now)


def _at(tree: Any, key: str) -> Any:
    """The value at a dotted key of a nested mapping (None: not there)."""
    for part in key.split("."):
        tree = tree.get(part) if isinstance(tree, dict) else None
    return tree


def cache_conditions(cfg: Config) -> str:
    """What a result other than a score depends on beyond its scope: the time limits that may have
    stopped or killed it, the pruning settings and the retries of a lost worker. A shared cache
    serves a failed, killed or timed-out result only to a run with the same conditions."""
    t = cfg.training
    conditions = {"max_training_time": t.max_training_time, "grace": t.grace, "retries": cfg.executor.retries,
                  "pruning": None if cfg.pruning is None else vars(cfg.pruning)}
    return json.dumps(conditions, sort_keys=True)


class RunFolder:
    """One run folder while a run writes it: locked, opened, and cleaned up after an early failure."""

    def __init__(self, path: Path, created: bool) -> None:
        self.path = path
        self.created = created  # this command made the folder: remove it whole after an early failure
        self.lock = RunLock(path).acquire()
        self.started = time.time()  # this session's start: its wall-clock is added to run.json at release
        self.existing = is_run_dir(path)  # decided again under the lock
        self.before: dict[str, Any] = read_meta(path) if self.existing else {}
        self.store: RunStore | None = None
        #: wall-clock seconds earlier sessions of this run searched (a stop rule's timeout counts them)
        self.spent = 0.0

    def open(self, cfg: Config, prepared: Prepared) -> RunStore:
        """Open (resume) or create the store; a resume must match the search, data and scoring."""
        fingerprint = json.loads(json.dumps(cfg.search_fingerprint(), default=str))
        meta = {"maximize": cfg.maximize, **prepared.meta}
        if not cfg.goal.plain:
            meta["goal"] = cfg.goal.to_json()
        if self.existing:
            store = RunStore(self.path)
            old = store.meta()
            try:
                changed = self.check_resume(cfg, old, fingerprint, meta)
            except BaseException:  # a refused resume writes nothing: not even the run's status
                store.close()
                raise
            self.store = store
            self.spent = float(old.get("wall_seconds") or 0.0)
            if old.get("status") == "running" and old.get("session_started"):  # a session killed (kill -9) mid-run:
                last = max((t["finished"] or 0.0 for t in store.trials()), default=0.0)  # it searched until its last result
                self.spent += max(0.0, last - float(old["session_started"]))
            more: dict[str, Any] = {}
            if changed:  # what the run goes on with: a later resume with these settings needs no --allow-change
                print(f"natsel: resuming {self.path} with {'; '.join(changed)} (--allow-change)", file=sys.stderr)
                more = {"fingerprint": fingerprint, "scope": cache_scope(cfg, prepared),
                        "changes": [*(old.get("changes") or []), {"session_started": self.started, "changed": changed}]}
            store.update_meta(status="running", generations=cfg.max_generations, overrides=cfg.settings_beyond_file(),
                              session_started=self.started, wall_seconds=self.spent, **more)
        else:
            prior: list[dict[str, Any]] = []
            if cfg.warm_start:  # read (and refused) before the folder is written
                from natsel._warm import describe, prior_trials

                prior, counts = prior_trials(cfg.warm_start, cfg.space, cfg.seed, cache_scope(cfg, prepared),
                                             cfg.maximize, meta.get("metric"))
                meta["warm_start"] = {"runs": [str(p) for p in cfg.warm_start], **counts}
                print(f"natsel: {describe(counts)}", file=sys.stderr)
            meta.update({"natsel_version": __version__, "scope": cache_scope(cfg, prepared), "name": cfg.name, "seed": cfg.seed,
                         "fingerprint": fingerprint, "objective": cfg.objective, "strategy": cfg.strategy,
                         "generations": cfg.max_generations, "population": cfg.ga.population,
                         "overrides": cfg.settings_beyond_file(), "config_name": cfg.source_name, "base_dir": str(cfg.base_dir),
                         "session_started": self.started})
            self.store = store = RunStore.create(self.path, cfg.source_text, meta)
            if prior:
                store.add_prior(prior)
        if cfg.cache is not None:
            store.attach_cache(SharedCache(cfg.cache, cache_scope(cfg, prepared), cache_conditions(cfg)))
        return store

    def check_resume(self, cfg: Config, old: dict[str, Any], fingerprint: dict[str, Any],
                     meta: dict[str, Any]) -> list[str]:
        """The changes (``key (old -> new)``) a resume makes that ``--allow-change`` allowed; a
        RunDirError when it is not the same search (config, code, data, metric or direction)."""
        changed = resume_changes(old.get("fingerprint") or {}, fingerprint, cfg.allow_change, self.path)
        for key, what in (("fitness", "the fitness function"), ("model", "the model builder")):
            before, now = old.get(key) or {}, meta.get(key) or {}
            if before.get("sha256") and before.get("sha256") != now.get("sha256"):
                where = now.get("file") or before.get("file") or before.get("ref")
                raise RunDirError(f"{self.path} cannot be resumed: {what} {before.get('ref')} has changed since "
                                  f"the run was made ({where}: source hash {before['sha256']}, now "
                                  f"{now.get('sha256') or 'gone'}); its trials would mix two codes in one "
                                  "leaderboard: undo the edit, or use a new run folder")
        for key, what in (("data_fingerprint", "the data has changed (its content hash differs: the file or "
                                               "the function that makes it gives other rows)"),
                          ("metric", "the metric differs"), ("maximize", "the direction differs")):
            if old.get(key) is not None and meta.get(key) is not None and old[key] != meta[key]:
                raise RunDirError(f"{self.path} cannot be resumed: {what} since the run was made; "
                                  "use a new run folder")
        return changed

    def abandon(self, interrupted: bool, summarize: Any = None) -> None:
        """After an error: keep a run that has finished trials (resumable); remove a new one that has none."""
        store = self.store
        if store is not None:
            finished = outcome(store.trials())
            try:
                if summarize is not None:
                    summarize(store)
                store.update_meta(status="interrupted" if interrupted else "failed")
            finally:
                store.close()
            if self.existing or interrupted or finished["trained"] + finished["failed"] + finished["cached"] > 0:
                return
        if self.existing:
            return
        if self.created:
            shutil.rmtree(self.path, ignore_errors=True)
        else:  # an empty folder the user gave: empty it again
            for p in self.path.iterdir():
                if p.name != LOCK_NAME:
                    shutil.rmtree(p) if p.is_dir() else p.unlink()

    def release(self) -> None:
        """The session is over (its final status written): add its wall-clock to run.json, redraw a
        ``plots/report.html`` drawn during the run (it would say running for good), let the lock go."""
        try:
            if self.store is not None and is_run_dir(self.path):
                meta = read_meta(self.path)
                self.store.update_meta(wall_seconds=float(meta.get("wall_seconds") or 0.0) + time.time() - self.started)
                redraw_report(self.path)
        finally:
            self.lock.release()
