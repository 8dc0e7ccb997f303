"""Importing the user's code: ``module:function`` references from a config.

The config's folder comes first on ``sys.path``, and a same-named module imported earlier from
another folder is not reused. A reference's identity (file and source hash) scopes shared caches.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any


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
    if base in sys.path:
        sys.path.remove(base)
    sys.path.insert(0, base)
    local = _local_module_file(mod_name, base_dir)
    if local is None or not _found_elsewhere(mod_name.split(".")[0], folder):
        return importlib.import_module(mod_name)
    import hashlib
    import types

    private = "_natsel_user_" + hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    if private not in sys.modules:
        package = types.ModuleType(private, f"natsel's view of the modules in {folder}")
        package.__path__ = [str(folder)]
        sys.modules[private] = package
    return importlib.import_module(f"{private}.{mod_name}")


def resolve_callable(ref: str, base_dir: Path) -> Any:
    """Import ``package.module:function``; the config's folder is importable too (and comes first)."""
    if ":" not in ref:
        raise ValueError(f"'{ref}' must look like package.module:function")
    mod_name, _, attr = ref.partition(":")
    try:
        module = _import_module(mod_name, base_dir)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's module
        raise ValueError(f"cannot import '{mod_name}': {exc.__class__.__name__}: {exc}") from None
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
    import hashlib

    mod_name = ref.partition(":")[0]
    module = _import_module(mod_name, base_dir)
    file = getattr(module, "__file__", None)
    if not file:
        return {"ref": ref, "module": mod_name}
    path = Path(file).resolve()
    return {"ref": ref, "file": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16]}


