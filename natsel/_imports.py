"""Importing the user's code: ``module:function`` references from a config.

The config's folder comes first on ``sys.path`` while the named module is imported (its own imports
find the files beside it first, as a script's do), and goes to the end of ``sys.path`` after, so it
never hides a standard or installed module from anything imported later: in this process, in the
worker processes it starts, or on a Dask worker that serves other runs too. A same-named module
imported earlier from another folder is not reused. A reference's identity (file and source hash) scopes shared caches.

What runs is what is hashed: a user's module (one outside the Python installation) that natsel
imports is compiled from the bytes natsel hashes, never from a cached ``.pyc``, and when its file
changed since natsel loaded it, it is loaded again before it is used, so a long-lived process (two
``natsel.evolve()`` calls, a Dask worker) runs the file as it is now and files its scores under that
file's hash. A module the user imported before natsel did is used as it is (it may have been set up
by the user's script), identified by its file's hash. Only the named module's own file is hashed: a
helper module it imports is not watched.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import sys
import sysconfig
from pathlib import Path
from typing import Any

#: the attribute a module natsel loaded carries: the hash of the source it was compiled from
STAMP = "__natsel_sha256__"


def source_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


class _HashingLoader(importlib.machinery.SourceFileLoader):
    """Compiles a module from its source bytes (no bytecode cache: a ``.pyc`` written in the same
    second as an edit of the same size would be taken for current) and remembers their hash."""

    sha256: str | None = None

    def get_code(self, fullname: str) -> Any:
        source = self.get_data(self.path)
        self.sha256 = source_hash(source)
        return compile(source, self.path, "exec", dont_inherit=True)


def _installed(path: Path) -> bool:
    """A file of the Python installation (standard library, site-packages): not the user's to edit."""
    roots = {sys.prefix, sys.base_prefix, *(sysconfig.get_paths().get(k, "") for k in ("stdlib", "purelib", "platlib"))}
    return any(r and path.is_relative_to(Path(r).resolve()) for r in roots)


def _load_fresh(name: str, file: Path) -> Any:
    """(Re)load module ``name`` from ``file`` with :class:`_HashingLoader`; its parent package stays."""
    loader = _HashingLoader(name, str(file))
    package = file.name == "__init__.py"
    spec = importlib.util.spec_from_file_location(name, file, loader=loader,
                                                  submodule_search_locations=[str(file.parent)] if package else None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    old = sys.modules.get(name)
    sys.modules[name] = module
    try:
        loader.exec_module(module)
    except BaseException:
        if old is not None:
            sys.modules[name] = old
        else:
            sys.modules.pop(name, None)
        raise
    setattr(module, STAMP, loader.sha256)
    parent, _, child = name.rpartition(".")
    if parent and parent in sys.modules:
        setattr(sys.modules[parent], child, module)
    return module


def _current(name: str) -> Any:
    """Module ``name`` as its file is now: imported if new, loaded again if its file changed since."""
    module = sys.modules.get(name)
    if module is None:
        parent = name.rpartition(".")[0]
        if parent:
            importlib.import_module(parent)
        spec = importlib.util.find_spec(name)
        file = Path(spec.origin).resolve() if spec is not None and spec.origin and spec.has_location else None
        if file is None or file.suffix != ".py" or _installed(file):
            return importlib.import_module(name)
        return _load_fresh(name, file)
    file_name = getattr(module, "__file__", None)
    if not file_name or not file_name.endswith(".py"):
        return module
    file = Path(file_name).resolve()
    stamp = getattr(module, STAMP, None)
    if stamp is None or _installed(file) or not file.is_file():
        # imported by someone else (the user's own script, which may have set it up): used as it is,
        # and its identity is its file's hash now (natsel cannot know what it was loaded from)
        return module
    if stamp != source_hash(file.read_bytes()):
        return _load_fresh(name, file)
    return module


def _local_module_file(mod_name: str, base_dir: Path) -> Path | None:
    """``base_dir/a/b.py`` (or ``base_dir/a/b/__init__.py``) for module ``a.b``, if it exists."""
    stem = base_dir.joinpath(*mod_name.split("."))
    for p in (stem.with_suffix(".py"), stem / "__init__.py"):
        if p.is_file():
            return p.resolve()
    return None


def _lives_in(module: Any, folder: Path) -> bool:
    files = [getattr(module, "__file__", None), *list(getattr(module, "__path__", []) or [])]
    return any(f and Path(f).resolve().is_relative_to(folder) for f in files)


def _found_elsewhere(top: str, folder: Path) -> bool:
    """A module ``top`` is loaded, built in, or importable from somewhere other than ``folder``."""
    import importlib.machinery

    loaded = sys.modules.get(top)
    if loaded is not None:
        return not _lives_in(loaded, folder)
    if top in sys.builtin_module_names:
        return True
    others = [p for p in sys.path if Path(p or ".").resolve() != folder]
    return importlib.machinery.PathFinder.find_spec(top, others) is not None


def _import_module(mod_name: str, base_dir: Path) -> Any:
    """Import ``mod_name``, the config's folder first: a module there wins over any other of that name.

    When its name is taken elsewhere (another project's ``fit.py`` imported earlier in this process,
    a standard-library ``queue``, a package of the same name), the config's own module is imported
    under a private package name instead, and the modules this process already has stay untouched.
    """
    folder = base_dir.resolve()
    base = str(base_dir)
    where = sys.path.index(base) if base in sys.path else None
    if where is not None:
        sys.path.remove(base)
    sys.path.insert(0, base)
    try:
        local = _local_module_file(mod_name, base_dir)
        if local is None or not _found_elsewhere(mod_name.split(".")[0], folder):
            return _current(mod_name)
        import types

        private = "_natsel_user_" + hashlib.sha256(str(folder).encode()).hexdigest()[:12]
        if private not in sys.modules:
            package = types.ModuleType(private, f"natsel's view of the modules in {folder}")
            package.__path__ = [str(folder)]
            sys.modules[private] = package
        return _current(f"{private}.{mod_name}")
    finally:
        # back where the user had it, or last: still importable (a function that imports a file
        # beside it when called), but never ahead of the modules everything else imports
        if base in sys.path:
            sys.path.remove(base)
        sys.path.insert(where if where is not None else len(sys.path), base)


#: the module name of references to functions held in this process (``natsel.evolve(cfg, fitness=fn)``
#: with a lambda or a function of ``__main__``); only ``workers: 0`` can call them
IN_PROCESS = "natsel.in_process"
_HELD: dict[str, Any] = {}


def function_hash(fn: Any) -> str:
    """A hash of what a function does: its bytecode, constants and names (not where it is written:
    the same lambda on another line is the same function) and the values it closes over."""
    code = getattr(fn, "__code__", None)
    what = _code_text(code) if code is not None else repr(fn)
    cells = [repr(c.cell_contents) for c in (getattr(fn, "__closure__", None) or ()) if _filled(c)]
    return source_hash(repr((what, getattr(fn, "__qualname__", ""), cells)).encode())


def _code_text(code: Any) -> str:
    consts = [_code_text(c) if hasattr(c, "co_code") else repr(c) for c in code.co_consts]
    return repr((code.co_code, consts, code.co_names, code.co_varnames, code.co_freevars))


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


def hold_in_process(fn: Any) -> str:
    """A ``module:function`` reference to ``fn`` that resolves in this process only, named by its hash."""
    name = f"{''.join(c if c.isalnum() else '_' for c in getattr(fn, '__name__', 'fn'))}_{function_hash(fn)}"
    _HELD[name] = fn
    return f"{IN_PROCESS}:{name}"


def resolve_callable(ref: str, base_dir: Path, expect: str | None = None) -> Any:
    """Import ``package.module:function``; the config's folder is importable too (first while importing).

    ``expect``: the source hash the run was started with (:func:`callable_identity`); a module that
    is not that source any more is refused (ValueError), so no score is filed under another file's hash."""
    if ":" not in ref:
        raise ValueError(f"'{ref}' must look like package.module:function")
    mod_name, _, attr = ref.partition(":")
    if mod_name == IN_PROCESS:
        if attr not in _HELD:
            raise ValueError(f"'{ref}' is a function held by the process that started the run; pass it again "
                             "(natsel.evolve(cfg, fitness=fn)), and run it with workers: 0")
        return _HELD[attr]
    try:
        module = _import_module(mod_name, base_dir)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's module
        raise ValueError(f"cannot import '{mod_name}': {exc.__class__.__name__}: {exc}") from None
    if expect is not None and _module_hash(module) not in (None, expect):
        raise ValueError(f"'{mod_name}' ({getattr(module, '__file__', '?')}) has changed since the run started "
                         f"(source hash {_module_hash(module)}, the run's is {expect}); its scores would be filed "
                         "under the old code: start a new run, or undo the edit to resume")
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"'{mod_name}' has no attribute '{attr}'")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"'{ref}' is not callable")
    return obj


def callable_identity(ref: str, base_dir: Path) -> dict[str, str]:
    """Where ``module:function`` really lives: the module's absolute file and a hash of its source.

    Two projects that both say ``fitness: fit:score`` name different functions; so does one project
    after its ``fit.py`` changed. The shared genome cache is scoped by this identity.
    """
    mod_name = ref.partition(":")[0]
    if mod_name == IN_PROCESS:  # named by its own hash (held functions: a lambda, one of __main__)
        return {"ref": ref, "sha256": ref.rpartition("_")[2]}
    module = _import_module(mod_name, base_dir)
    file = getattr(module, "__file__", None)
    if not file:
        return {"ref": ref, "module": mod_name}
    return {"ref": ref, "file": str(Path(file).resolve()), "sha256": _module_hash(module) or ""}


def _module_hash(module: Any) -> str | None:
    """The hash of the source ``module`` runs: natsel's stamp, or (a module natsel did not load, e.g.
    an installed one) its file's hash now; None for a module without a file."""
    stamp = getattr(module, STAMP, None)
    if stamp:
        return str(stamp)
    file = getattr(module, "__file__", None)
    try:
        return source_hash(Path(file).read_bytes()) if file else None
    except OSError:
        return None


