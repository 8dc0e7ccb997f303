"""Issue 24: every score natsel serves (from the run store or a shared cache) is the score training
would give now. Each test names the item it pins and fails on the code before the fix (0db2cb4)."""

from __future__ import annotations

import pytest

import natsel
from natsel import ConfigError

BUDGETED = """
name: b
seed: 0
fitness: helpers:budgeted_mixed
workers: 0
{training}
fidelity: {fidelity}
evolution: {{population: 9, generations: 1}}
space:
  activation: [relu, elu, tanh, sigmoid]
  batch_size: [16, 32, 64, 128]
  layers: {{low: 1, high: 8}}
  learning_rate: {{low: 1e-4, high: 1e-1, log: true}}
"""


def test_fidelity_maximum_that_contradicts_max_epochs_is_a_config_error(write_config):
    """Issue 24 item 1: max_epochs 2 with fidelity maximum 9 planned a 3-epoch rung above the full budget."""
    path = write_config(BUDGETED.format(training="training: {max_epochs: 2}", fidelity="{maximum: 9}"))
    with pytest.raises(ConfigError, match=r"maximum \(9\) contradicts training.max_epochs \(2\)"):
        natsel.load_config(path)
    path = write_config(BUDGETED.format(training="", fidelity="{resource: rows, maximum: 0.5}"))
    with pytest.raises(ConfigError, match="every training row"):
        natsel.load_config(path)


@pytest.mark.parametrize("training, fidelity", [("training: {max_epochs: 9}", "{eta: 3}"),
                                                ("", "{maximum: 9, eta: 3}"),
                                                ("training: {max_epochs: 9}", "{maximum: 9, eta: 3}")])
def test_one_full_budget_for_every_family(write_config, tmp_path, training, fidelity):
    """Issue 24 item 1: the full budget is max_epochs (or a maximum given alone, which sets it); no rung
    trains more than a full trial, and the full trial is told the full budget."""
    cfg = natsel.load_config(write_config(BUDGETED.format(training=training, fidelity=fidelity)))
    assert cfg.full_budget() == 9 == cfg.training.max_epochs
    run = natsel.evolve(cfg, tmp_path / "run", progress=False, plots=False)
    budgets = sorted({t["budget"] for t in run.trials})
    assert budgets == ["epochs=1", "epochs=3", "full"]
