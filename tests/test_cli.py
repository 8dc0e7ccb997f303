"""The command line: one-line usage errors for every command."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from natsel.cli import main


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(res) -> str:
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1, res.output
    assert lines[0].startswith("error: ") and "Usage:" not in res.output and "Traceback" not in res.output
    return lines[0]


def test_config_that_is_a_directory_or_a_png(tmp_path):
    assert one_line_error(cli("evolve", tmp_path)) == f"error: {tmp_path}: a directory, not a YAML config file"
    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert one_line_error(cli("evolve", png)) == (f"error: {png}: not a YAML text file "
                                                  "(byte 0x89 at offset 0 is not UTF-8)")


USAGE = [
    (["evolve", "configs/mixed.yaml", "--population", "1"], "error: --population: 1 is smaller than the minimum 2"),
    (["evolve", "configs/mixed.yaml", "--seed", "-3"], "error: --seed: -3 is smaller than the minimum 0"),
    (["evolve", "configs/mixed.yaml", "--generations", "x"], "error: --generations: 'x' is not a valid integer"),
    (["evolve", "configs/mixed.yaml", "--popu", "3"], "error: --popu: no such option (did you mean --population?)"),
    (["evolve"], "error: CONFIG: missing argument"),
    (["show"], "error: RUN_DIR: missing argument"),
    (["show", ".", "--top"], "error: --top: requires a value"),
    (["plot", ".", "--format", "gif"], "error: --format: 'gif' is not one of 'png', 'svg'"),
    (["train-best", ".", "--max-time", "0"], "error: --max-time: 0.0 must be greater than 0"),
    (["evolve", "configs/mixed.yaml", "--run-dir", "README.md"], "error: --run-dir: directory 'README.md' is a file"),
    (["bogus"], "error: bogus: no such command (commands: evolve, plot, show, train-best)"),
    (["--bogus"], "error: --bogus: no such option"),
    (["show", "a", "b"], "error: main show: got unexpected extra argument (b)"),
]


@pytest.mark.parametrize("args,line", USAGE, ids=[" ".join(a) for a, _ in USAGE])
def test_usage_errors_are_one_line_and_exit_2(args, line):
    assert one_line_error(cli(*args)) == line


def test_help_is_still_clicks():
    for args in (["--help"], ["evolve", "--help"], ["show", "-h"]):
        res = cli(*args)
        assert res.exit_code == 0 and res.output.startswith("Usage: ") and "Options:" in res.output
