"""Issue 30: gene importance (``natsel importance``, a figure in ``natsel plot``) on bench/search.py's
pure-Python problems, whose functions say which genes matter and which do nothing."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import natsel
from natsel._importance import importance
from natsel.cli import main

BENCH = Path(__file__).parent.parent / "bench"
sys.path.insert(0, str(BENCH))
#: the genes `many` is built from with real weight (0.35, 0.2, 0.2, 0.15); batch_size and initializer
#: weigh 0.05 each (a spread of 0.02 in fitness), the 18 aux_* genes nothing
MANY_MATTER = {"learning_rate", "optimizer", "layers", "dropout"}


def problem_run(tmp: Path, name: str, trials: int, space: dict | None = None) -> natsel.Run:
    """A random search (it covers the space evenly) of a bench problem, in-process."""
    from problems import PROBLEMS

    shutil.copy(BENCH / "problems.py", tmp / "problems.py")
    cfg = {"name": name, "seed": 0, "workers": 0, "fitness": f"problems:{name}", "strategy": "random",
           "evolution": {"population": 50, "generations": trials // 50}, "space": space or PROBLEMS[name].space}
    (tmp / f"{name}.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return natsel.evolve(tmp / f"{name}.yaml", tmp / name, progress=False, plots=False)


@pytest.fixture(scope="module")
def many_run(tmp_path_factory):
    return problem_run(tmp_path_factory.mktemp("many"), "many", 400)


@pytest.mark.parametrize("use_optuna", [True, False], ids=["fanova", "permutation"])
def test_the_genes_a_function_is_built_from_rank_above_those_that_do_nothing(many_run, use_optuna):
    """Issue 30: on `many` (24 genes, 18 that do nothing), both methods rank the four genes that carry
    the function above every aux_* gene, with a spread over resamples."""
    if use_optuna:
        pytest.importorskip("optuna", reason="fANOVA comes with the optuna extra")
    info = importance(many_run, resamples=2, use_optuna=use_optuna)
    assert info["method"].startswith("fANOVA" if use_optuna else "permutation importance")
    assert info["trials"] == 400
    ranked = [g["gene"] for g in info["genes"]]
    assert set(ranked[:4]) == MANY_MATTER, ranked
    weakest = min(g["mean"] for g in info["genes"] if g["gene"] in MANY_MATTER)
    assert all(g["mean"] < weakest for g in info["genes"] if g["gene"].startswith("aux_"))
    assert all(g["std"] is not None and g["std"] >= 0 for g in info["genes"])


def test_conditional_genes_are_scored_where_they_are_active(tmp_path):
    """Issue 30: with `when:` conditions (a layer's dropout only where the layer exists), each dropout is
    scored over the trials where it is active; a gene the function never reads ranks below the ones
    it weighs most."""
    pytest.importorskip("optuna", reason="fANOVA comes with the optuna extra")
    space = {
        "neurons": {"repeat": 4, "choices": [0, 16, 32, 64, 128, 256, 512]},
        "dropout": {"repeat": 4, "choices": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5], "when": {"neurons": {"gt": 0}}},
        "activation": ["relu", "elu", "tanh", "sigmoid"],
        "learning_rate": {"low": 1e-4, "high": 1e-1, "log": True},
        "unused": {"low": 0.0, "high": 1.0},
    }
    run = problem_run(tmp_path, "conditional", 200, space)
    res = CliRunner().invoke(main, ["importance", str(tmp_path / "conditional"), "--resamples", "2", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["method"].startswith("fANOVA (Optuna ")
    by = {g["gene"]: g for g in info["genes"]}
    cfg_space = natsel.load_config(tmp_path / "conditional.yaml").space
    for i in range(4):
        where = sum(f"dropout{i}" in cfg_space.active(t["genome"]) for t in run.trials)
        assert by[f"dropout{i}"]["trials"] == where < info["trials"]
    assert by["learning_rate"]["mean"] > by["unused"]["mean"]
    assert by["neurons0"]["mean"] > by["unused"]["mean"]


def test_natsel_plot_draws_importance_into_the_report(tmp_path):
    """Issue 30: `natsel plot` draws importance.png (most important gene at the top) and report.html
    says which method drew it."""
    pytest.importorskip("optuna", reason="fANOVA comes with the optuna extra")
    problem_run(tmp_path, "separable", 100)
    res = CliRunner().invoke(main, ["plot", str(tmp_path / "separable")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "separable" / "plots" / "importance.png").stat().st_size > 10_000
    report = (tmp_path / "separable" / "plots" / "report.html").read_text(encoding="utf-8")
    assert "gene importance for fitness, by fANOVA (Optuna" in report


def test_too_few_trials_is_one_line(tmp_path):
    """Issue 30: importance of a run with too few scored trials, or of no run, is one line, exit 2."""
    shutil.copy(BENCH / "problems.py", tmp_path / "problems.py")
    cfg = {"seed": 0, "workers": 0, "fitness": "problems:separable", "strategy": "random",
           "evolution": {"population": 4, "generations": 1}, "space": __import__("problems").SEPARABLE_SPACE}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    natsel.evolve(tmp_path / "c.yaml", tmp_path / "few", progress=False, plots=False)
    res = CliRunner().invoke(main, ["importance", str(tmp_path / "few")])
    assert res.exit_code == 2
    assert res.output == f"error: {tmp_path / 'few'}: 4 full-budget trials with a fitness; importance needs at least 8\n"
    res = CliRunner().invoke(main, ["importance", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and res.output.startswith("error: run folder not found")
