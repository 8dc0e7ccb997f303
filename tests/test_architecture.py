"""The structure docs/architecture.md describes: no import circles, TensorFlow in one room only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).parent.parent / "natsel"


def modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        name = ".".join(p.relative_to(PKG.parent).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = p
    return out


def import_graph() -> dict[str, set[str]]:
    """Every natsel-to-natsel import, including those inside functions and under TYPE_CHECKING."""
    mods = modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        package = m if path.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                target = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(parts + ([target] if target else []))
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    graph[m].add(sub if sub in mods else target)
            elif isinstance(node, ast.Import):
                graph[m].update(a.name for a in node.names)
        graph[m] = {t for t in graph[m] if t in mods and t != m}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        stack.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state and (found := visit(w)):
                return found
        stack.pop()
        state[v] = 2
        return None

    for v in sorted(graph):
        if v not in state and (found := visit(v)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_natsel_has_no_import_circles():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_only_the_keras_worker_side_imports_tensorflow():
    heavy = set()
    for m, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] in ("tensorflow", "keras") for n in names):
                heavy.add(m)
    # natsel.examples.models is a user's ``model:`` builder (Keras imported inside it): only workers import it
    # natsel.objectives.keras.export runs a shipped model (train-best's worker, and predict once asked to)
    assert heavy == {"natsel.objectives.keras.train", "natsel.objectives.keras.swarm", "natsel.examples.models",
                     "natsel.objectives.keras.export"}


def test_the_cli_and_the_library_api_do_not_import_tensorflow():
    code = ("import sys, natsel, natsel.cli, natsel.objectives, natsel.strategies; "
            "natsel.objectives.families(); print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["False", "False"], out.stderr
