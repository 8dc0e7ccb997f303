"""The command line: `natsel show` exports, and one-line usage errors for every command."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

import natsel
from natsel.cli import main

LONG = """
name: long
fitness: natsel.examples:sphere
direction: minimize
workers: 0
evolution: {population: 8, generations: 3}
space:
  x: {low: -5, high: 5}
  y: {low: -5.0, high: 5.0}
  the_first_gene_with_a_long_name: [first_long_value_aaaaaaaaaa, second_long_value_bbbbbbbbbb]
  the_second_gene_with_a_long_name: [third_value_cccccccccccc, fourth_value_dddddddddd]
  tail_gene: [tail_one, tail_two]
"""


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def long_run(write_config, tmp_path):
    natsel.evolve(natsel.load_config(write_config(LONG)), tmp_path / "run", progress=False)
    run = natsel.load_run(tmp_path / "run")
    assert len(run.leaderboard()) > 10
    return run


def test_default_table_is_top_10_and_cuts_long_genomes(long_run):
    res = cli("show", long_run.path)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert len(lines) == 1 + 1 + 10 + 1  # title, header, 10 trials, the note
    assert all(line.endswith("…") and " x=" in line for line in lines[2:12])  # the config's order: x first
    assert "tail_gene" not in res.output
    assert lines[-1] == (f"10 of {len(long_run.leaderboard())} evaluated trials (--all: every one); "
                         "genomes cut at 90 characters (--wide: one column per gene)")


def test_wide_shows_every_gene_in_its_own_column(long_run):
    res = cli("show", long_run.path, "--wide")
    assert res.exit_code == 0, res.output
    header, *rows = res.output.splitlines()[1:12]
    assert header.split() == ["rank", "trial", "gen", "fitness", "status", "seconds", "x", "y",
                              "the_first_gene_with_a_long_name", "the_second_gene_with_a_long_name", "tail_gene"]
    board = long_run.leaderboard(10)
    for line, r in zip(rows, board, strict=True):
        cells = line.split()
        assert int(cells[1]) == r["id"]
        assert cells[6:] == [str(r["genome"][k]) for k in ("x", "y", "the_first_gene_with_a_long_name",
                                                           "the_second_gene_with_a_long_name", "tail_gene")]
    assert "…" not in res.output


def test_all_lists_every_evaluated_trial(long_run):
    res = cli("show", long_run.path, "--all")
    assert res.exit_code == 0, res.output
    ids = [int(line.split()[1]) for line in res.output.splitlines()[2:-1]]
    assert res.output.splitlines()[-1].startswith("genomes cut at 90")
    assert ids == [r["id"] for r in long_run.leaderboard()]


def test_json_without_top_exports_every_trial(long_run):
    rows = json.loads(cli("show", long_run.path, "--json").output)
    assert [r["id"] for r in rows] == [r["id"] for r in long_run.leaderboard()]
    assert rows[0]["metrics"] == {"n": 2.0}
    assert len(json.loads(cli("show", long_run.path, "--json", "--top", "3").output)) == 3


def test_csv_has_one_column_per_gene_and_metric(long_run):
    res = cli("show", long_run.path, "--csv")
    assert res.exit_code == 0, res.output
    table = list(csv.DictReader(io.StringIO(res.output)))
    assert list(table[0]) == ["rank", "id", "generation", "fitness", "status", "seconds", "x", "y",
                              "the_first_gene_with_a_long_name", "the_second_gene_with_a_long_name", "tail_gene",
                              "metrics.n", "error"]
    board = long_run.leaderboard()
    assert len(table) == len(board)
    for row, r in zip(table, board, strict=True):
        assert int(row["rank"]) == r["rank"] and int(row["id"]) == r["id"]
        assert float(row["fitness"]) == r["fitness"]  # full precision
        assert float(row["y"]) == r["genome"]["y"] and row["tail_gene"] == r["genome"]["tail_gene"]
        assert float(row["metrics.n"]) == 2.0 and row["error"] == ""


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
    (["show", ".", "--all", "--top", "3"], "error: --all: cannot be combined with --top"),
    (["plot", ".", "--format", "gif"], "error: --format: 'gif' is not one of 'png', 'svg'"),
    (["train-best", ".", "--max-time", "0"], "error: --max-time: 0.0 must be greater than 0"),
    (["evolve", "configs/mixed.yaml", "--run-dir", "README.md"], "error: --run-dir: directory 'README.md' is a file"),
    (["bogus"], "error: bogus: no such command (commands: evolve, plot, predict, show, swarm, train-best)"),
    (["--bogus"], "error: --bogus: no such option"),
    (["show", "a", "b"], "error: main show: got unexpected extra argument (b)"),
]


@pytest.mark.parametrize("args,line", USAGE, ids=[" ".join(a) for a, _ in USAGE])
def test_usage_errors_are_one_line_and_exit_2(args, line):
    assert one_line_error(cli(*args)) == line


def test_help_is_still_clicks_and_lists_the_show_options():
    for args in (["--help"], ["evolve", "--help"], ["show", "-h"]):
        res = cli(*args)
        assert res.exit_code == 0 and res.output.startswith("Usage: ") and "Options:" in res.output
    assert all(opt in cli("show", "--help").output for opt in ("--all", "--wide", "--json", "--csv"))


CACHED = """
name: cached
fitness: natsel.examples:sphere
direction: minimize
workers: 0
cache: {cache}
evolution: {{population: 4, generations: 1}}
space:
  x: {{low: -5, high: 5}}
"""


def test_a_cache_that_is_a_folder_or_not_sqlite_is_one_line_and_leaves_no_run(write_config, tmp_path):
    """Issue 24 item 13: a `cache:` path that is a folder, not SQLite, or under a file is refused at load."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.txt").write_text("not a database\n", encoding="utf-8")
    problems = {"folder": "a folder, not a cache file",
                "notes.txt": "not an SQLite file",
                "notes.txt/sub/cache.sqlite": f"cannot be created: {tmp_path / 'notes.txt'} is a file, not a folder"}
    for cache, what in problems.items():
        config = write_config(CACHED.format(cache=cache))
        line = one_line_error(cli("evolve", config, "--run-dir", tmp_path / "run", "-q"))
        assert line.startswith(f"error: {config}:5: 'cache': {tmp_path / cache}: {what}"), line
        assert not (tmp_path / "run").exists()
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "not a database\n"


def test_a_cache_that_cannot_be_opened_when_the_run_starts_is_one_line(write_config, tmp_path):
    """Issue 24 item 13: the open itself (sqlite3 errors) is one line naming the path; no run folder is left."""
    cfg = natsel.load_config(write_config(CACHED.format(cache="cache.sqlite")))
    (tmp_path / "cache.sqlite").write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)  # the header, then garbage
    with pytest.raises(natsel.NatselError) as err:
        natsel.evolve(cfg, tmp_path / "run", progress=False)
    assert str(err.value).startswith(f"{tmp_path / 'cache.sqlite'}: the shared cache (cache:) cannot be opened: ")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()
