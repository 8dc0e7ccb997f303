"""Issue 28 item 4: the Python API as people use it: natsel.evolve(cfg, fitness=callable) and an
ask/tell Search with the same store, cache, resume, stop rules and strategies as evolve."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import natsel
from natsel.cli import main
from natsel.examples import mixed

SPACE = {
    "activation": ["relu", "elu", "tanh", "sigmoid"],
    "batch_size": [16, 32, 64, 128],
    "layers": {"low": 1, "high": 8},
    "learning_rate": {"low": 1e-4, "high": 1e-1, "log": True},
}
YAML = """
name: api
seed: 5
fitness: helpers:counted_mixed
workers: 0
stop: {max_trials: 32}
space:
  activation: [relu, elu, tanh, sigmoid]
  batch_size: [16, 32, 64, 128]
  layers: {low: 1, high: 8}
  learning_rate: {low: 1e-4, high: 1e-1, log: true}
"""


def base(**extra):
    return {"name": "api", "seed": 5, "workers": 0, "stop": {"max_trials": 32}, "space": SPACE, **extra}


def table(run: natsel.Run) -> list[tuple]:
    return [(t["id"], t["generation"], t["slot"], t["key"], t["status"], t["fitness"]) for t in run.trials]


@pytest.fixture
def reference(write_config, tmp_path):
    """The YAML config run through the CLI: what every API form must reproduce."""
    cfg = write_config(YAML)
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "ref"), "-q"])
    assert res.exit_code == 0, res.output
    return table(natsel.load_run(tmp_path / "ref"))


def test_a_lambda_fitness_runs_in_process_and_a_resume_knows_it(reference, tmp_path):
    """Issue 28: evolve(cfg, fitness=lambda) with workers 0 gives the config's trials; the function is
    identified by its source hash, so the same function resumes and an edited one is refused."""
    run = natsel.evolve(base(), tmp_path / "run", fitness=lambda g: mixed(g), progress=False, plots=False)
    assert table(run) == reference
    assert run.meta["fitness"]["ref"].startswith("natsel.in_process:")
    more = natsel.evolve(base(stop={"max_trials": 40}), tmp_path / "run", resume=True, fitness=lambda g: mixed(g),
                         progress=False, plots=False)
    assert len([t for t in table(more) if t[4] != "pending"]) == 40
    with pytest.raises(natsel.RunDirError, match="fitness"):
        natsel.evolve(base(stop={"max_trials": 45}), tmp_path / "run", resume=True, fitness=lambda g: -mixed(g),
                      progress=False, plots=False)


def test_an_importable_fitness_goes_to_workers_by_reference(reference, tmp_path):
    """Issue 28: a top-level function of a module is sent to worker processes by name."""
    import helpers

    run = natsel.evolve(base(workers=2), tmp_path / "run", fitness=helpers.counted_mixed, progress=False,
                        plots=False)
    assert run.meta["fitness"]["ref"] == "helpers:counted_mixed"
    assert [t[:5] for t in table(run)] == [t[:5] for t in reference]


def test_a_fitness_workers_cannot_import_is_a_clear_error(tmp_path, capsys):
    """Issue 28: a lambda (or a function of __main__) with worker processes: one line that says why
    and what to do, and no run folder."""
    with pytest.raises(natsel.ConfigError) as err:
        natsel.evolve(base(workers=2), tmp_path / "run", fitness=lambda g: 1.0, progress=False)
    text = str(err.value)
    assert text.startswith("fitness: ") and "cannot be sent to worker processes" in text and "workers: 0" in text
    assert "\n" not in text and not (tmp_path / "run").exists()


def test_ask_tell_plans_the_same_trials_as_evolve(reference, tmp_path):
    """Issue 28: ask/tell with the same seed gives the trials evolve gives, whatever order values are told in."""
    search = natsel.Search(base(), tmp_path / "run")
    asked = 0
    while genomes := search.ask():
        for g in reversed(genomes):  # told in another order than asked: the same trials
            search.tell(g, mixed(g))
            asked += 1
    assert search.done and asked == 32
    assert table(search.run) == reference
    assert search.run.meta["stopped_by"] == "max_trials"
    assert natsel.load_run(tmp_path / "run").best["fitness"] == max(t[5] for t in reference if t[5] is not None)


def test_ask_tell_closed_midway_resumes_exactly_and_records_failures(reference, tmp_path):
    """Issue 28: a search closed midway keeps its told trials; Search(..., resume=True) asks the rest and
    ends with the trials of an uninterrupted one; a told error is a failed trial; a genome that was
    not asked is refused."""
    search = natsel.Search(base(), tmp_path / "run")
    first = search.ask()
    with pytest.raises(ValueError, match="not a genome ask"):
        search.tell({**first[0], "layers": 99}, 1.0)
    for g in first[:4]:
        search.tell(g, mixed(g))
    search.close()
    assert natsel.load_run(tmp_path / "run").status == "interrupted"
    resumed = natsel.Search(base(), tmp_path / "run", resume=True)
    again = resumed.ask()
    assert again == first[4:]  # the rest of the generation, planned before the close
    while genomes := resumed.ask():
        for g in genomes:
            resumed.tell(g, mixed(g))
    assert table(resumed.run) == reference
    with natsel.Search(base(stop={"max_trials": 3}), tmp_path / "fail") as failing:
        g = failing.ask()[0]
        failing.tell(g, error="CUDA out of memory")
        for g in failing.ask():
            failing.tell(g, None)
        assert failing.ask() == []
    rows = natsel.load_run(tmp_path / "fail").trials
    assert [t["status"] for t in rows if t["status"] != "pending"] == ["failed"] * 3
    assert rows[0]["error"] == "CUDA out of memory"


def test_ask_tell_uses_the_shared_cache(tmp_path):
    """Issue 28: a second search with the same shared cache is served the first one's values, and is
    asked only for genomes new to the cache."""
    cfg = base(cache=str(tmp_path / "cache.sqlite"), stop={"max_trials": 12})
    seen = set()
    for name in ("a", "b"):
        search = natsel.Search(cfg, tmp_path / name)
        while genomes := search.ask():
            for g in genomes:
                key = natsel.genome_key(g)
                assert key not in seen  # never asked twice across the two searches
                seen.add(key)
                search.tell(g, mixed(g))
    second = natsel.load_run(tmp_path / "b")
    assert second.outcome["shared"] >= 10 and second.outcome["trained"] == 12
