"""YAML loading that remembers the line of every key, so errors can point at it."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from natsel._errors import ConfigError

Path_ = tuple[Any, ...]


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads YAML 1.2 floats such as ``1e-4`` (PyYAML wants ``1.0e-4``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


class Located:
    """A loaded YAML document plus the line (1-based) of each key path."""

    def __init__(self, data: Any, lines: dict[Path_, int], file: str) -> None:
        self.data = data
        self.lines = lines
        self.file = file

    def where(self, path: Path_) -> str:
        """``file:line`` for the nearest recorded ancestor of ``path``."""
        p = tuple(path)
        while p and p not in self.lines:
            p = p[:-1]
        return f"{self.file}:{self.lines.get(p, 1)}"

    def error(self, path: Path_, message: str) -> ConfigError:
        return ConfigError(message, self.where(path))


def _build(node: yaml.Node, loader: _Loader, path: Path_, lines: dict[Path_, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                raise ConfigError(f"mapping key {key!r} must be a plain name", f"?:{key_node.start_mark.line + 1}")
            if key in out:
                raise ConfigError(f"duplicate key '{key}'", f"?:{key_node.start_mark.line + 1}")
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _build(value_node, loader, path + (key,), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(v, loader, path + (i,), lines) for i, v in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load_yaml(path: str | Path) -> Located:
    """Load ``path``; a missing file or bad YAML raises ConfigError with its location."""
    p = Path(path)
    name = str(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {name}") from None
    except IsADirectoryError:
        raise ConfigError("a directory, not a YAML config file", name) from None
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start : exc.start + 1].hex()
        raise ConfigError(f"not a YAML text file (byte 0x{byte} at offset {exc.start} is not UTF-8)", name) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the config: {exc.strerror or exc.__class__.__name__}", name) from None
    return loads_yaml(text, name)


def loads_yaml(text: str, name: str = "<config>") -> Located:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        lines: dict[Path_, int] = {}
        try:
            data = {} if node is None else _build(node, loader, (), lines)
        except ConfigError as exc:
            line = (exc.where or "?:1").split(":")[-1]
            raise ConfigError(exc.message, f"{name}:{line}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError(f"invalid YAML: {exc.problem or exc.context}", f"{name}:{line}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", f"{name}:1") from None
    finally:
        loader.dispose()
    return Located(data, lines, name)


class Validator:
    """Validation helpers bound to one located document."""

    def __init__(self, doc: Located) -> None:
        self.doc = doc

    def err(self, path: tuple[Any, ...], msg: str) -> ConfigError:
        return self.doc.error(path, msg)

    def mapping(self, value: Any, path: tuple[Any, ...], what: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.err(path, f"'{what}' must be a mapping, got {type(value).__name__}")
        return value

    def keys(self, value: dict[str, Any], allowed: set[str], path: tuple[Any, ...], what: str) -> None:
        for k in value:
            if k not in allowed:
                raise self.err(path + (k,), f"unknown key '{k}' in {what} (allowed: {', '.join(sorted(allowed))})")

    def number(self, value: Any, path: tuple[Any, ...], *, integer: bool = False, low: float | None = None,
               high: float | None = None, low_open: bool = False) -> Any:
        name = path[-1]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and math.isnan(value)):
            kind = "an integer" if integer else "a number"
            raise self.err(path, f"'{name}' must be {kind}, got {value!r}")
        if integer and not (isinstance(value, int) or float(value).is_integer()):
            raise self.err(path, f"'{name}' must be an integer, got {value!r}")
        if low is not None and (value < low or (low_open and value == low)):
            op = ">" if low_open else ">="
            raise self.err(path, f"'{name}' must be {op} {low}, got {value!r}")
        if high is not None and value > high:
            raise self.err(path, f"'{name}' must be <= {high}, got {value!r}")
        return int(value) if integer else float(value)

    def string(self, value: Any, path: tuple[Any, ...], choices: set[str] | None = None) -> str:
        if not isinstance(value, str) or not value:
            raise self.err(path, f"'{path[-1]}' must be a non-empty string, got {value!r}")
        if choices is not None and value not in choices:
            raise self.err(path, f"'{path[-1]}' must be one of {', '.join(sorted(choices))}, got {value!r}")
        return value


_V = Validator  # the short name the parsers use
