"""The run store: the one place that writes to disk.

A run folder holds:

* ``config.yaml`` - the config exactly as given;
* ``run.json`` - natsel version, status, seed, the search fingerprint (what a resume must match);
* ``trials.sqlite`` - every planned and finished trial (one row per generation slot);
* ``history.json`` - per generation: best/mean/std/min/max fitness, trained/cached/failed counts,
  best genome so far; ``best.json`` - the fittest trial so far;
* ``plots/`` - figures.

Only the parent process writes. Each finished trial is committed on its own, so a kill loses at
most the trials in flight. SQLite runs in WAL mode so readers (``natsel plot``/``show``) never
block the writer.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from natsel._errors import NatselError, RunDirError
from natsel._trial import FULL_BUDGET, Status, TrialRow

#: evaluated by this run's objective (the statuses a cache hit can copy)
DONE = Status.values(lambda s: s.done)
#: evaluated by this run's objective, or served to this run by a shared cache
FINISHED = Status.values(lambda s: s.finished)
#: names in a run folder that do not make it a run (the lock exists before the run does)
LOCK_NAME = ".lock"
SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY,
    generation INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    key TEXT NOT NULL,
    genome TEXT NOT NULL,
    origin TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    fitness REAL,
    metrics TEXT,
    seconds REAL,
    error TEXT,
    started REAL,
    finished REAL,
    extra TEXT,
    budget TEXT NOT NULL DEFAULT 'full',
    UNIQUE (generation, slot)
);
CREATE INDEX IF NOT EXISTS trials_key ON trials (key);
CREATE TABLE IF NOT EXISTS prior (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    source_trial INTEGER,
    key TEXT NOT NULL,
    genome TEXT NOT NULL,
    fitness REAL NOT NULL,
    metrics TEXT,
    servable INTEGER NOT NULL DEFAULT 0
);
"""
#: columns added since the first store format: (name, SQL definition); added on open, in order
MIGRATIONS = [("budget", "TEXT NOT NULL DEFAULT 'full'")]
CACHE_SCHEMA = """
CREATE TABLE IF NOT EXISTS cache (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    status TEXT NOT NULL,
    fitness REAL,
    metrics TEXT,
    seconds REAL,
    error TEXT,
    conditions TEXT,
    PRIMARY KEY (scope, key)
);
"""
#: what a shared cache keeps: finished evaluations, but never a pruned one (whether a trial is pruned
#: depends on the scores of the run it ran in, not on the genome)
SHARED = Status.values(lambda s: s.done and s is not Status.PRUNED)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``path`` so that readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _atomic_write(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _clean(x: Any) -> Any:
    """JSON-safe: NaN/inf become None."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def dumps(x: Any) -> str:
    return json.dumps(_clean(x), sort_keys=True)


def _row(r: sqlite3.Row) -> TrialRow:
    d = dict(r)
    d["genome"] = json.loads(d["genome"])
    for k in ("metrics", "extra"):
        d[k] = json.loads(d[k]) if d[k] else {}
    d.setdefault("budget", FULL_BUDGET)  # a run folder written before budgets existed, opened read-only
    return d  # type: ignore[return-value]


def cache_key(key: str, budget: str) -> str:
    """The evaluation identity as one string: the genome key, and the budget unless it is full."""
    return key if budget == FULL_BUDGET else f"{key}@{budget}"


def is_run_dir(path: Path) -> bool:
    return (path / "run.json").is_file() and (path / "trials.sqlite").is_file()


def read_meta(path: Path) -> dict[str, Any]:
    """A run folder's ``run.json``."""
    try:
        return json.loads((path / "run.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path / 'run.json'} cannot be read: {exc.__class__.__name__}") from None


def is_empty_dir(path: Path) -> bool:
    """A folder that does not exist, or holds nothing but a run lock."""
    if not path.exists():
        return True
    return path.is_dir() and all(p.name == LOCK_NAME for p in path.iterdir())


def lock_held(path: Path) -> bool | None:
    """Whether a process holds the run lock of the run folder ``path`` now (None: this system cannot tell).

    A non-blocking attempt to take the lock: the kernel drops a dead holder's lock (even after kill -9),
    so this is right where a pid check is not (a reused pid, another host). A lock taken here is let go at once.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not Linux/macOS
        return None
    try:
        fd = os.open(path / LOCK_NAME, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # shared: two readers asking at once do not see each other
    except OSError:
        return True
    finally:
        os.close(fd)  # closing releases it
    return False


class RunLock:
    """One writer per run folder: an exclusive ``flock`` on ``<run>/.lock``, held while a run is written.

    The kernel releases the lock when its process dies (even by kill -9), so a stale lock never
    blocks a resume. The file holds the holder's pid, host and start time for the error message.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        import socket

        self.path.mkdir(parents=True, exist_ok=True)
        lock = self.path / LOCK_NAME
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not Linux/macOS: no lock
            self.fd = fd
            return self
        for attempt in range(3):  # a reader's lock_held() holds it for microseconds: try again before refusing
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if attempt < 2:
                    time.sleep(0.05)
        else:
            os.close(fd)
            try:
                holder = json.loads(lock.read_text(encoding="utf-8") or "{}")
            except (OSError, json.JSONDecodeError):
                holder = {}
            who = f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}"
            raise RunDirError(f"{self.path} is in use by another natsel process ({who}); wait for it to end, "
                              "or stop it first") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}).encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
            self.fd = None


class RunStore:
    """Read and (in the parent only) write one run folder."""

    def __init__(self, path: str | Path, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        db = self.path / "trials.sqlite"
        if readonly:
            if not self.path.is_dir():
                raise RunDirError(f"run folder not found: {self.path}")
            if not is_run_dir(self.path):
                raise RunDirError(f"{self.path} is not a natsel run folder (no run.json / trials.sqlite)")
            self.conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(db, timeout=30)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.executescript(SCHEMA)
            self._migrate()
        self.conn.row_factory = sqlite3.Row
        self._cache: SharedCache | None = None
        self._prior_rows: list[dict[str, Any]] | None = None
        self._served_prior: dict[str, dict[str, Any]] | None = None

    # -- creation ---------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, config_text: str, meta: dict[str, Any]) -> RunStore:
        if not is_empty_dir(path):
            raise RunDirError(f"{path} exists and is not empty")
        store = cls(path)
        _atomic_write(path / "config.yaml", config_text)
        store.write_meta({**meta, "status": "running", "created": time.time()})
        return store

    def _migrate(self) -> None:
        """Bring a run folder written by an older natsel up to this format (adds columns; loses nothing)."""
        have = {r[1] for r in self.conn.execute("PRAGMA table_info(trials)")}
        with self.conn:
            for name, definition in MIGRATIONS:
                if name not in have:
                    self.conn.execute(f"ALTER TABLE trials ADD COLUMN {name} {definition}")

    def attach_cache(self, cache: SharedCache | None) -> None:
        self._cache = cache

    def close(self) -> None:
        self.conn.close()
        if self._cache is not None:
            self._cache.close()

    # -- metadata ---------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        return read_meta(self.path)

    def write_meta(self, meta: dict[str, Any]) -> None:
        _atomic_write(self.path / "run.json", json.dumps(_clean(meta), indent=2, sort_keys=True))

    def update_meta(self, **changes: Any) -> None:
        self.write_meta({**self.meta(), **changes})

    # -- trials -----------------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self.conn:
            yield self.conn

    def add_planned(self, generation: int, planned: Iterable[tuple[str, dict[str, Any], str]],
                    budget: str = FULL_BUDGET, first_slot: int = 0, extra: dict[str, Any] | None = None) -> None:
        """Store planned (key, genome, origin) rows of a generation, from slot ``first_slot``, in one
        transaction; ``extra`` (kept when the trial finishes) says what they were planned from."""
        with self._tx() as c:
            c.executemany(
                "INSERT INTO trials (generation, slot, key, genome, origin, budget, extra) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(generation, first_slot + i, k, dumps(g), o, budget, dumps(extra) if extra else None)
                 for i, (k, g, o) in enumerate(planned)],
            )

    def generation(self, generation: int) -> list[TrialRow]:
        cur = self.conn.execute("SELECT * FROM trials WHERE generation = ? ORDER BY slot", (generation,))
        return [_row(r) for r in cur]

    def at_budget(self, budget: str, before: int) -> list[TrialRow]:
        """The trials at ``budget`` of the generations before ``before``, in id order."""
        cur = self.conn.execute("SELECT * FROM trials WHERE budget = ? AND generation < ? ORDER BY id", (budget, before))
        return [_row(r) for r in cur]

    def last_generation(self) -> int:
        r = self.conn.execute("SELECT MAX(generation) FROM trials").fetchone()
        return -1 if r[0] is None else int(r[0])

    def trials(self) -> list[TrialRow]:
        return [_row(r) for r in self.conn.execute("SELECT * FROM trials ORDER BY id")]

    def trial(self, trial_id: int) -> TrialRow:
        return _row(self.conn.execute("SELECT * FROM trials WHERE id = ?", (trial_id,)).fetchone())

    def last_trial(self) -> TrialRow | None:
        r = self.conn.execute("SELECT * FROM trials ORDER BY id DESC LIMIT 1").fetchone()
        return None if r is None else _row(r)

    def lookup(self, key: str, budget: str = FULL_BUDGET) -> dict[str, Any] | None:
        """A finished evaluation of this (genome key, budget), in this run or the shared cache.

        Only the same budget counts: a score at a reduced budget never stands for a full one.
        """
        here = self.lookup_here(key, budget)
        if here is not None:
            return here
        if budget == FULL_BUDGET and (p := self._servable().get(key)) is not None:
            return {"key": key, "status": Status.OK.value, "fitness": p["fitness"], "metrics": p["metrics"],
                    "error": None, "seconds": None, "id": None, "warm_start": p["source"]}
        return self._cache.get(cache_key(key, budget)) if self._cache is not None else None

    # -- prior knowledge: earlier runs' trials (warm_start) -----------------------------------
    def add_prior(self, rows: Iterable[dict[str, Any]]) -> None:
        """Store the warm-start trials once, when the run is created (a resume reads the same)."""
        with self._tx() as c:
            c.executemany("INSERT INTO prior (source, source_trial, key, genome, fitness, metrics, servable) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [(r["source"], r["source_trial"], r["key"], dumps(r["genome"]), r["fitness"],
                            dumps(r["metrics"]), int(r["servable"])) for r in rows])
        self._prior_rows = None

    def prior(self) -> list[dict[str, Any]]:
        """The warm-start trials, in the order they were stored (none in a folder from before warm starts)."""
        if getattr(self, "_prior_rows", None) is None:
            try:
                cur = self.conn.execute("SELECT * FROM prior ORDER BY id")
            except sqlite3.OperationalError:  # read-only, written before the table existed
                return []
            self._prior_rows = [{**dict(r), "genome": json.loads(r["genome"]), "metrics": json.loads(r["metrics"] or "{}"),
                                 "servable": bool(r["servable"])} for r in cur]
        return list(self._prior_rows or [])

    def _servable(self) -> dict[str, dict[str, Any]]:
        """Prior trials with this run's evaluation identity, by genome key: served as cached trials."""
        if getattr(self, "_served_prior", None) is None:
            self._served_prior = {}
            for p in self.prior():
                if p["servable"]:
                    self._served_prior.setdefault(p["key"], p)
        return self._served_prior

    def lookup_here(self, key: str, budget: str = FULL_BUDGET) -> dict[str, Any] | None:
        """A finished evaluation of this (genome key, budget) in this run: a trial of its own, or one a
        shared cache served it (the first, in trial order)."""
        q = (f"SELECT * FROM trials WHERE key = ? AND budget = ? AND status IN ({','.join('?' * len(FINISHED))}) "
             "ORDER BY id LIMIT 1")
        r = self.conn.execute(q, (key, budget, *FINISHED)).fetchone()
        return _row(r) if r is not None else None

    def known(self, key: str, budget: str = FULL_BUDGET) -> bool:
        """Evaluated in this run or held by the shared cache."""
        return self.lookup(key, budget) is not None

    def known_here(self, key: str, budget: str = FULL_BUDGET) -> bool:
        """Evaluated in this run: what a strategy must not plan again (a shared cache's genome may be
        planned: it is served as a cached trial, and the loop plans a new genome in its place)."""
        return self.lookup_here(key, budget) is not None

    def in_shared_cache(self, key: str, budget: str = FULL_BUDGET) -> bool:
        """Served by the shared cache (or a warm-start run with this run's identity), not by this run."""
        if self.lookup_here(key, budget) is not None:
            return False
        return (budget == FULL_BUDGET and key in self._servable()) or (
            self._cache is not None and self._cache.get(cache_key(key, budget)) is not None)

    def finish(self, trial_id: int, status: str, fitness: float | None, metrics: dict[str, Any] | None,
               seconds: float | None, error: str | None = None, started: float | None = None,
               extra: dict[str, Any] | None = None, checkpoint: bytes | None = None) -> None:
        """Record a finished trial (``extra`` adds to what planning stored); committed at once. A
        ``checkpoint`` (a rung's trained state) is written first, so a recorded trial has its file."""
        if fitness is not None and not math.isfinite(fitness):
            fitness = None
        if checkpoint is not None:
            atomic_write_bytes(self.checkpoint_path(trial_id), checkpoint)
        with self._tx() as c:
            planned = c.execute("SELECT extra FROM trials WHERE id=?", (trial_id,)).fetchone()
            if planned is not None and planned[0]:
                extra = {**json.loads(planned[0]), **(extra or {})}
            c.execute(
                "UPDATE trials SET status=?, fitness=?, metrics=?, seconds=?, error=?, started=?, finished=?, extra=?"
                " WHERE id=?",
                (status, fitness, dumps(metrics or {}), seconds, error, started, time.time(), dumps(extra or {}), trial_id),
            )
        if self._cache is not None and status in SHARED:
            key, budget = self.conn.execute("SELECT key, budget FROM trials WHERE id=?", (trial_id,)).fetchone()
            self._cache.put(cache_key(key, budget), status, fitness, metrics or {}, seconds, error)

    # -- checkpoints: a rung's trained state, which its promotion continues from -------------------
    def checkpoint_path(self, trial_id: int) -> Path:
        """Where a trial's checkpoint lies: an ``.npz`` of plain arrays (the objective checks it before use)."""
        return self.path / "checkpoints" / f"{trial_id}.npz"

    def checkpoint(self, trial_id: int) -> bytes | None:
        """The checkpoint a trial left, if it is still there."""
        try:
            return self.checkpoint_path(trial_id).read_bytes()
        except OSError:
            return None

    def drop_checkpoints(self, keep: Iterable[int] = ()) -> None:
        """Delete the checkpoints of every trial not in ``keep`` (those of finished generations), the
        pickles older natsel versions wrote (never read again), and the half-written ``.tmp`` files a
        killed run left (only this process writes here, and it is not writing now)."""
        folder, keep = self.path / "checkpoints", {self.checkpoint_path(i).name for i in keep}
        if not folder.is_dir():
            return
        for f in folder.iterdir():
            if f.name.endswith((".pkl", ".tmp")) or (f.suffix == ".npz" and f.name not in keep):
                f.unlink(missing_ok=True)

    # -- summaries --------------------------------------------------------------------------
    def write_summaries(self, history: list[dict[str, Any]], best: dict[str, Any] | None) -> None:
        _atomic_write(self.path / "history.json", json.dumps(_clean(history), indent=2))
        if best is not None:
            _atomic_write(self.path / "best.json", json.dumps(_clean(best), indent=2))

    def read_json(self, name: str, default: Any = None) -> Any:
        p = self.path / name
        if not p.is_file():
            return default
        return json.loads(p.read_text(encoding="utf-8"))


class SharedCache:
    """A genome cache shared across runs (``cache: PATH``), scoped by the objective's fingerprint.

    What it serves (docs/config.md, "Shared cache"): an ``ok`` score to any run of the same scope
    (objective, its code's hash, data, seed); a ``failed``, ``killed`` or ``timeout`` result only to
    a run whose ``conditions`` (time limits and pruning settings) are the ones that produced it, as
    a larger time limit might have let it finish; a pruned trial is never shared. An ``ok`` score
    replaces any other result of the same evaluation.
    """

    def __init__(self, path: Path, scope: str, conditions: str = "") -> None:
        conn: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(CACHE_SCHEMA)
            have = {r[1] for r in conn.execute("PRAGMA table_info(cache)")}
            for column in ("error", "conditions"):  # a cache file written before these were kept
                if column not in have:
                    with conn:
                        conn.execute(f"ALTER TABLE cache ADD COLUMN {column} TEXT")
        except (OSError, sqlite3.Error) as exc:  # a folder, not SQLite, unwritable: one line, naming the file
            if conn is not None:
                conn.close()
            what = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise NatselError(f"the shared cache (cache:) cannot be opened: {what}", str(path)) from None
        self.conn = conn
        self.conn.row_factory = sqlite3.Row
        self.scope = scope
        self.conditions = conditions

    def get(self, key: str) -> dict[str, Any] | None:
        r = self.conn.execute("SELECT * FROM cache WHERE scope=? AND key=?", (self.scope, key)).fetchone()
        if r is None or (r["status"] != Status.OK and r["conditions"] != self.conditions):
            return None
        return {"key": key, "status": r["status"], "fitness": r["fitness"], "error": r["error"],
                "metrics": json.loads(r["metrics"] or "{}"), "seconds": r["seconds"], "id": None}

    def put(self, key: str, status: str, fitness: float | None, metrics: dict[str, Any], seconds: float | None,
            error: str | None = None) -> None:
        row = (self.scope, key, status, fitness, dumps(metrics), seconds, error, self.conditions)
        with self.conn:  # the first score stays; a result replaces any failure (other limits produced it)
            old = self.conn.execute("SELECT status FROM cache WHERE scope=? AND key=?", (self.scope, key)).fetchone()
            if old is None or old[0] != Status.OK:
                self.conn.execute(
                    "INSERT OR REPLACE INTO cache (scope, key, status, fitness, metrics, seconds, error, conditions) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)

    def close(self) -> None:
        self.conn.close()
