from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a YAML config (dedented) into tmp_path next to a copy of tests/helpers.py."""
    shutil.copy(HERE / "helpers.py", tmp_path / "helpers.py")

    def write(text: str, name: str = "config.yaml") -> Path:
        p = tmp_path / name
        p.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return p

    return write


@pytest.fixture(autouse=True)
def _fresh_helper_calls():
    import sys

    mod = sys.modules.get("helpers")
    if mod is not None:
        mod.CALLS.clear()
    yield
