"""What the docs show must be what natsel accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from natsel import load_config

ROOT = Path(__file__).parent.parent


def schema_example() -> str:
    text = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    return re.search(r"```yaml\n(.*?)```", text, re.S).group(1)


@pytest.mark.parametrize("keep", ["data", "fitness"])
def test_config_schema_example_is_valid_with_either_objective(tmp_path, keep, tls_certs):
    tls_certs("natsel")  # the example's executor names certs/ca.pem, certs/natsel.pem and certs/natsel.key
    lines = schema_example().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("# Either"))
    end = next(i for i, ln in enumerate(lines) if ln.startswith("training:"))
    drop_from = next(i for i in range(start, end) if lines[i].startswith("# ... or" if keep == "fitness" else "fitness:"))
    drop_to = end if keep == "fitness" else next(i for i in range(start, end) if lines[i].startswith("# ... or"))
    text = "\n".join(lines[:drop_from] + lines[drop_to:]) + "\n"
    (tmp_path / "mypackage").mkdir()
    (tmp_path / "mypackage" / "__init__.py").write_text("")
    # the example has fidelity:, so its fitness takes the budget (issue 24 item 10)
    (tmp_path / "mypackage" / "mymodule.py").write_text("def score(genome, budget):\n    return 0.0\n")
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    cfg = load_config(tmp_path / "config.yaml")  # a Keras search rejects genes it cannot use
    assert cfg.space.names == ["optimizer", "learning_rate", "batch_size", "initializer", "neurons0", "neurons1",
                               "neurons2", "dropout0", "dropout1", "dropout2"]
    assert (cfg.data is not None) == (keep == "data")



@pytest.mark.parametrize("config", sorted(p.name for p in (ROOT / "configs").glob("*.yaml")))
def test_every_bundled_config_loads(config):
    """The configs the README and docs point at are valid (and configs/wine.yaml's CSV reads)."""
    cfg = load_config(ROOT / "configs" / config)
    if cfg.data and cfg.data.get("source") == "csv":
        from natsel.objectives.keras.data import load_dataset

        ds = load_dataset(cfg.data, cfg.base_dir, cfg.seed)
        assert ds.classes == ["barbera", "barolo", "grignolino"] and len(ds.columns) == 13
