from __future__ import annotations

import pytest
from click.testing import CliRunner

from natsel import load_config
from natsel.cli import main

GOOD = """
name: t
fitness: helpers:constant
workers: 0
evolution:
  population: 4
  generations: 1
space:
  act: [relu, elu]
  units: {low: 8, high: 64, step: 8}
  lr: {low: 1e-4, high: 1e-1, log: true}
  epochs: 3
  neurons: {repeat: 3, choices: [0, 16, 32]}
"""


def run_cli(*args):
    return CliRunner().invoke(main, list(args))


def test_valid_config_parses_all_gene_forms(write_config):
    cfg = load_config(write_config(GOOD))
    names = cfg.space.names
    assert names == ["act", "units", "lr", "epochs", "neurons0", "neurons1", "neurons2"]
    assert cfg.space["lr"].log and cfg.space["lr"].low == pytest.approx(1e-4)
    assert cfg.space["units"].step == 8
    assert cfg.space["epochs"].size == 1


def test_naturalselection_config_has_the_15_default_genes():
    cfg = load_config("configs/naturalselection.yaml")
    base = [g for g in cfg.space.names if g != "learning_rate"]
    assert len(base) == 15
    assert cfg.ga.elitism == 0.05 and cfg.ga.breeding == 0.8 and cfg.ga.mutation == 0.2
    assert cfg.ga.factor(len(cfg.space)) == pytest.approx(1 / len(cfg.space))


BAD = [
    # (yaml text, line the error must name, words the message must contain)
    ("name: t\nfitness: helpers:constant\nspace:\n  a: [1, 2]\nbogus: 1\n", 5, "unknown key 'bogus'"),
    ("fitness: helpers:constant\nspace:\n  a: [1, 2]\nevolution:\n  population: many\n", 5, "must be an integer"),
    ("fitness: helpers:constant\nspace:\n  a: []\n", 3, "empty choice list"),
    ("fitness: helpers:constant\nspace:\n  a:\n    low: 5\n    high: 1\n", 4, "greater than high"),
    ("fitness: helpers:constant\nspace:\n  lr: {low: 0, high: 1, log: true}\n", 3, "log range"),
    ("fitness: helpers:no_such_function\nspace:\n  a: [1, 2]\n", 1, "has no attribute"),
    ("fitness: not_a_module_xyz:f\nspace:\n  a: [1, 2]\n", 1, "cannot import"),
    ("fitness: helpers:constant\nspace:\n  a: [1, 2\n", 4, "invalid YAML"),
    ("fitness: helpers:constant\nspace:\n  a: {choices: [1], wat: 2}\n", 3, "unknown key 'wat'"),
    ("fitness: helpers:constant\nspace:\n  a: {low: 1, high: 2, step: 0.5, type: float}\n", 3, "'step' applies"),
    ("fitness: helpers:constant\nevolution:\n  mutation: 1.5\nspace:\n  a: [1, 2]\n", 3, "must be <= 1"),
    ("fitness: helpers:constant\n", 1, "no 'space'"),
    ("space:\n  a: [1, 2]\n", 1, "exactly one of 'fitness'"),
    ("fitness: helpers:constant\nspace:\n  a: [1, 1.0]\n", 3, "twice"),
    ("fitness: helpers:constant\nspace:\n  a: [1, 2]\nevolution:\n  initial_genome: {a: 3}\n", 5, "not a valid value"),
]


@pytest.mark.parametrize("text,line,words", BAD, ids=[b[2] for b in BAD])
def test_invalid_config_one_line_and_exit_2(write_config, tmp_path, text, line, words):
    path = write_config(text)
    res = run_cli("evolve", str(path), "--run-dir", str(tmp_path / "out"), "-q")
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"error: {path}:{line}: "), lines[0]
    assert words in lines[0]
    assert "Traceback" not in res.output
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_missing_config_file(tmp_path):
    res = run_cli("evolve", str(tmp_path / "nope.yaml"))
    assert res.exit_code == 2 and res.stderr.strip() == f"error: config file not found: {tmp_path / 'nope.yaml'}"


def test_show_on_a_folder_that_is_not_a_run(tmp_path):
    res = run_cli("show", str(tmp_path))
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: {tmp_path} is not a natsel run folder (no run.json / trials.sqlite)"


def test_help_and_version():
    assert run_cli("--help").exit_code == 0
    res = run_cli("--version")
    assert res.exit_code == 0 and "natsel" in res.output
    for cmd in ("evolve", "show"):
        assert run_cli(cmd, "--help").exit_code == 0


def test_swarm_options_are_validated(write_config):
    path = write_config("data: {source: iris}\nworkers: 1\nspace:\n  trainer: [gradient, pso]\n"
                        "swarm:\n  pso: {c1: 1.5, speed: 3}\n")
    res = run_cli("evolve", str(path), "-q")
    assert res.exit_code == 2 and f"{path}:6: unknown key 'speed' in 'swarm.pso'" in res.stderr
    path = write_config("data: {source: iris}\nworkers: 1\nspace:\n  optimizer: [adam, adagrad5]\n")
    res = run_cli("evolve", str(path), "-q")
    assert res.exit_code == 2 and "gene 'optimizer': unknown value 'adagrad5'" in res.stderr


def test_a_quoted_number_gene_value_says_it_must_be_a_number(write_config, tmp_path):
    """Issue 24 item 12: batch_size: [16, "32"] says the value must be an integer, not that it is outside
    1..1048576."""
    for genes, expected in [('batch_size: [16, "32"]', "gene 'batch_size': '32' must be an integer (write it "
                                                       "without quotes)"),
                            ("neurons0: [8, sixteen]", "gene 'neurons0': 'sixteen' must be an integer, not str"),
                            ('learning_rate: [0.01, "1e-3"]', "gene 'learning_rate': '1e-3' must be a number (write "
                                                              "it without quotes)"),
                            ("batch_size: [16, 0]", "gene 'batch_size': 0 is outside 1..1048576")]:
        path = write_config(f"data: {{source: iris}}\nworkers: 1\nspace:\n  {genes}\n")
        res = run_cli("evolve", str(path), "--run-dir", str(tmp_path / "run"), "-q")
        assert res.exit_code == 2 and f"{path}:4: {expected}" in res.stderr, res.stderr
        assert not (tmp_path / "run").exists()
