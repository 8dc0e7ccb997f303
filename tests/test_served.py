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


EDITED = """
name: e
seed: 0
fitness: fit:score
workers: {workers}
max_trials_per_worker: 1
evolution: {{population: 4, generations: {generations}}}
space:
  x: {{low: 0, high: 100}}
"""


def _write_fit(folder, constant: int) -> None:
    # the same size and (usually) the same second: a stale .pyc would be taken for current
    (folder / "fit.py").write_text(f"def score(genome):\n    return {constant} + genome['x'] / 1000\n")


def test_an_edited_fitness_module_is_seen_by_the_next_run_in_the_same_process(tmp_path):
    """Issue 24 item 2: the second natsel.evolve() in one process scored with the old function while
    filing its scores under the new file's cache scope."""
    _write_fit(tmp_path, 1)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(EDITED.format(workers=0, generations=1) + "cache: cache.sqlite\n")
    first = natsel.evolve(cfg, tmp_path / "r1", progress=False, plots=False)
    _write_fit(tmp_path, 2)
    second = natsel.evolve(cfg, tmp_path / "r2", progress=False, plots=False)
    assert all(1 <= t["fitness"] < 2 for t in first.trials)
    assert all(2 <= t["fitness"] < 3 and t["status"] == "ok" for t in second.trials)  # trained anew, not cached
    _write_fit(tmp_path, 1)  # back to the first source: its scores are served again
    third = natsel.evolve(cfg, tmp_path / "r3", progress=False, plots=False)
    assert [t["status"] for t in third.trials] == ["cached"] * 4 + ["ok"] * 4  # and 4 new genomes in their place
    assert [t["fitness"] for t in third.trials[:4]] == [t["fitness"] for t in first.trials]


def test_a_worker_refuses_a_fitness_module_edited_since_the_run_started(tmp_path):
    """Issue 24 item 2: a worker (re)started after the fitness file was edited ran the new code and
    filed its scores under the run's old hash; now it refuses, and the run says which file changed."""
    from natsel._errors import WorkerStartError

    _write_fit(tmp_path, 1)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(EDITED.format(workers=1, generations=3))

    def edit(run):  # after generation 0; each trial has a fresh worker (max_trials_per_worker: 1)
        _write_fit(tmp_path, 2)

    with pytest.raises(WorkerStartError, match="fit.*has changed since the run started"):
        natsel.evolve(cfg, tmp_path / "r", progress=False, plots=False, on_generation=edit)
    run = natsel.load_run(tmp_path / "r")
    assert [t["fitness"] for t in run.trials if t["status"] == "ok"] and all(
        1 <= t["fitness"] < 2 for t in run.trials if t["status"] == "ok")


PLAIN = """
name: {name}
seed: 0
fitness: helpers:{fitness}
workers: {workers}
{extra}
evolution: {{population: {population}, generations: {generations}}}
space:
{space}
"""


def plain(write_config, fitness="mixed_x", workers=0, population=4, generations=1, extra="", name="p",
          space="  x: {low: 0, high: 1000}", file=None):
    return write_config(PLAIN.format(name=name, fitness=fitness, workers=workers, population=population,
                                     generations=generations, extra=extra, space=space), file or f"{name}.yaml")


def test_a_shared_cache_does_not_serve_a_kill_to_a_run_with_a_larger_limit(write_config, tmp_path):
    """Issue 24 item 3: trials killed under a 0.3 s limit were served to the same search with a 60 s
    limit, which then said "search space exhausted" with 0 trials and exit 0."""
    space = "  x: [1, 2]\n  nap: 1.5"
    short = plain(write_config, "slow", workers=1, population=2, space=space, name="short",
                  extra="cache: c.sqlite\ntraining: {max_training_time: 0.3, grace: 0.2}")
    first = natsel.evolve(short, tmp_path / "r1", progress=False, plots=False)
    assert [t["status"] for t in first.trials] == ["killed", "killed"]
    again = natsel.evolve(short, tmp_path / "r2", progress=False, plots=False)  # the same limits: served
    assert [t["status"] for t in again.trials][:2] == ["cached", "cached"]
    long = plain(write_config, "slow", workers=1, population=2, space=space, name="short", file="long.yaml",
                 extra="cache: c.sqlite\ntraining: {max_training_time: 60, grace: 5}")
    second = natsel.evolve(long, tmp_path / "r3", progress=False, plots=False)
    assert sorted(t["fitness"] for t in second.trials) == [1.0, 2.0]
    assert all(t["status"] == "ok" for t in second.trials)
    third = natsel.evolve(short, tmp_path / "r4", progress=False, plots=False)  # a score replaces the kill
    assert [(t["status"], t["fitness"]) for t in third.trials] == [("cached", 1.0), ("cached", 2.0)] or \
        sorted(t["fitness"] for t in third.trials) == [1.0, 2.0]


def test_a_shared_cache_keeps_scores_and_never_a_pruned_trial(tmp_path):
    """Issue 24 item 3: a pruned result (which depends on the scores of the run it ran in) and a
    failure under other limits are not served by a shared cache; a score always is."""
    from natsel._store import SharedCache

    a = SharedCache(tmp_path / "c.sqlite", "scope", conditions="limits A")
    a.put("k1", "ok", 1.0, {}, 1.0)
    a.put("k2", "pruned", None, {"partial": 0.1}, 1.0)
    a.put("k3", "failed", None, {}, 1.0, "boom")
    b = SharedCache(tmp_path / "c.sqlite", "scope", conditions="limits B")
    assert b.get("k1")["fitness"] == 1.0
    assert b.get("k3") is None and a.get("k3")["error"] == "boom"
    b.put("k3", "ok", 3.0, {}, 1.0)
    assert a.get("k3")["fitness"] == 3.0  # a score replaces a failure for everyone

    from natsel._store import RunStore

    store = RunStore(tmp_path / "run")
    store.attach_cache(a)
    store.add_planned(0, [("k4", {"x": 4}, "random")])
    store.finish(store.last_trial()["id"], "pruned", None, {"partial": 0.2}, 1.0)
    assert store.lookup("k4") is not None  # this run keeps its own pruned trial (same run, same thresholds)
    assert b.get("k4") is None and a.get("k4") is None


def test_a_worker_lost_once_is_tried_again(write_config, tmp_path, monkeypatch):
    """Issue 24 item 3: a transient worker death (out of memory) was recorded failed and never retried."""
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("NATSEL_TEST_MARKS", str(marks))
    cfg = plain(write_config, "dies_once", workers=1, population=3)
    run = natsel.evolve(cfg, tmp_path / "r", progress=False, plots=False)
    assert [t["status"] for t in run.trials] == ["ok"] * 3
    assert len(list(marks.iterdir())) == 3  # each died once, then scored


def test_a_second_run_with_a_shared_cache_holds_the_cached_genomes(write_config, tmp_path):
    """Issue 24 item 4: the second run of a 6-genome space with a shared cache recorded 0 trials, no
    best.json, and exited 0."""
    from click.testing import CliRunner

    from natsel.cli import main

    cfg = plain(write_config, "mixed_x", population=6, generations=2, space="  x: [1, 2, 3, 4, 5, 6]",
                extra="cache: c.sqlite")
    first = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "r1"), "-q"])
    assert first.exit_code == 0, first.output
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "r2"), "-q"])
    assert res.exit_code == 0, res.output
    run = natsel.load_run(tmp_path / "r2")
    assert sorted(t["genome"]["x"] for t in run.trials) == [1, 2, 3, 4, 5, 6]
    assert all(t["status"] == "cached" for t in run.trials)
    assert run.best["fitness"] == 6.0 and (tmp_path / "r2" / "best.json").is_file()
    assert len(run.leaderboard()) == 6
    assert "6 from the shared cache" in res.output
    assert "all 6 genomes of the space were evaluated" in res.stderr


def test_a_second_run_spends_its_budget_on_new_genomes(write_config, tmp_path):
    """Issue 24 item 4: genomes a shared cache serves are the run's cached trials (its strategy learns from
    them), and as many new genomes are trained in their place."""
    cfg = plain(write_config, "mixed_x", population=5, generations=3, extra="cache: c.sqlite")
    first = natsel.evolve(cfg, tmp_path / "r1", progress=False, plots=False)
    second = natsel.evolve(cfg, tmp_path / "r2", progress=False, plots=False)
    trained = [t for t in second.trials if t["status"] == "ok"]
    served = [t for t in second.trials if t["status"] == "cached"]
    assert served and all(t["extra"].get("shared_cache") for t in served)
    assert len(trained) == len(first.trials) == 15  # the budget went to genomes the first run never trained
    assert not {t["key"] for t in trained} & {t["key"] for t in first.trials}


def test_a_resume_refuses_an_edited_fitness_and_says_so(write_config, tmp_path):
    """Issue 24 item 6: a resume accepted a changed fitness and mixed two codes' trials in one leaderboard."""
    from click.testing import CliRunner

    from natsel.cli import main

    _write_fit(tmp_path, 1)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(EDITED.format(workers=0, generations=1))
    natsel.evolve(cfg, tmp_path / "r", progress=False, plots=False)
    _write_fit(tmp_path, 2)
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "r"), "--generations", "2", "-q"])
    assert res.exit_code == 2
    assert "the fitness function fit:score has changed since the run was made" in res.stderr
    assert str(tmp_path / "fit.py") in res.stderr
    assert len(natsel.load_run(tmp_path / "r").trials) == 4  # nothing added
    _write_fit(tmp_path, 1)  # undone: it resumes
    res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / "r"), "--generations", "2", "-q"])
    assert res.exit_code == 0, res.output


def test_a_resume_names_the_setting_that_changed(write_config, tmp_path):
    """Issue 24 item 6: "differs in: data" now says which key, and from what to what."""
    from click.testing import CliRunner

    from natsel.cli import main

    a = plain(write_config, "mixed_x", population=2, extra="training: {max_epochs: 3}", file="a.yaml")
    natsel.evolve(a, tmp_path / "r", progress=False, plots=False)
    b = plain(write_config, "mixed_x", population=2, extra="training: {max_epochs: 5}", file="b.yaml")
    res = CliRunner().invoke(main, ["evolve", str(b), "--run-dir", str(tmp_path / "r"), "-q"])
    assert res.exit_code == 2 and "differs in: training.max_epochs (3 -> 5)" in res.stderr


def test_halving_never_plans_a_genome_it_screened_in_an_earlier_generation(write_config, tmp_path):
    """Issue 24 item 7: a genome screened at the lowest rung in generation g was planned again later,
    took a bracket slot and was served from the cache at that rung, adding nothing."""
    cfg = natsel.load_config(write_config(BUDGETED.format(training="training: {max_epochs: 9}", fidelity="{eta: 3}")
                                          .replace("generations: 1", "generations: 6")
                                          .replace("layers: {low: 1, high: 8}", "layers: {low: 1, high: 3}")
                                          .replace("{low: 1e-4, high: 1e-1, log: true}", "[0.001, 0.01]")))
    run = natsel.evolve(cfg, tmp_path / "run", progress=False, plots=False)
    first = [t for t in run.trials if t["budget"] == "epochs=1"]
    assert len(first) > 20
    assert len({t["key"] for t in first}) == len(first)  # every bracket slot screens a new genome
    assert all(t["status"] == "ok" for t in first)


def test_a_fitness_that_calls_sys_exit_fails_its_trial_and_the_run_goes_on(write_config, tmp_path):
    """Issue 24 item 9: SystemExit ended `natsel evolve` silently (exit 0, a trial left pending) with
    workers 0, and killed the worker with workers 1."""
    from click.testing import CliRunner

    from natsel.cli import main

    for workers in (0, 1):
        cfg = plain(write_config, "exits", workers=workers, population=4, generations=2, file=f"w{workers}.yaml",
                    space="  x: {low: 0, high: 20}")
        res = CliRunner().invoke(main, ["evolve", str(cfg), "--run-dir", str(tmp_path / f"r{workers}"), "-q"])
        assert res.exit_code == 0, res.output
        run = natsel.load_run(tmp_path / f"r{workers}")
        assert len(run.trials) == 8 and run.status in ("finished", "exhausted")
        odd = [t for t in run.trials if t["genome"]["x"] % 2]
        assert odd and all(t["status"] == "failed" and t["error"].startswith("SystemExit: 3") for t in odd)
        assert all(t["status"] == "ok" for t in run.trials if not t["genome"]["x"] % 2)


def test_fidelity_with_a_fitness_that_takes_no_budget_is_refused(write_config):
    """Issue 24 item 10: fidelity: with fitness(genome) made useless reduced-budget calls."""
    path = plain(write_config, "no_budget", extra="training: {max_epochs: 9}\nfidelity: {eta: 3}")
    with pytest.raises(ConfigError, match="takes no 'budget' parameter"):
        natsel.load_config(path)


def test_an_explicit_population_sizes_generation_zero(write_config, tmp_path):
    """Issue 24 item 16: --population N left generation 0 at the default strategy's 10."""
    from click.testing import CliRunner

    from natsel.cli import main

    path = write_config(PLAIN.format(name="d", fitness="mixed_x", workers=0, population=5, generations=2,
                                     extra="", space="  x: {low: 0, high: 1000}")
                        .replace("evolution: {population: 5, generations: 2}", "evolution: {generations: 2}"))
    res = CliRunner().invoke(main, ["evolve", str(path), "--run-dir", str(tmp_path / "r"), "--population", "3", "-q"])
    assert res.exit_code == 0, res.output
    run = natsel.load_run(tmp_path / "r")
    assert [sum(t["generation"] == g for t in run.trials) for g in (0, 1)] == [3, 3]
    default = natsel.evolve(path, tmp_path / "d", progress=False, plots=False)  # no population anywhere: 10, then 5
    assert [sum(t["generation"] == g for t in default.trials) for g in (0, 1)] == [10, 5]


def test_the_stop_line_says_exhausted_only_when_it_is(write_config):
    """Issue 24 item 16: "every genome ... was already evaluated" was printed with 192 of 200 evaluated."""
    from natsel._evolve import exhausted_line

    cfg = natsel.load_config(plain(write_config, "mixed_x", space="  x: {low: 1, high: 200}"))
    rows = [{"key": str(i), "status": "ok"} for i in range(192)]
    line = exhausted_line(cfg, rows, 7)
    assert "could not find a genome it had not evaluated yet (192 of the space's 200 genomes" in line
    assert "exhausted" not in line
    assert exhausted_line(cfg, [{"key": str(i), "status": "ok"} for i in range(200)], 7).startswith(
        "search space exhausted: all 200 genomes")


def test_a_dask_worker_keeps_only_the_latest_objectives(tmp_path):
    """Issue 24 item 17: a Dask worker kept every objective it ever built (with its data) for its life."""
    import shutil
    from pathlib import Path

    from natsel._trial import Task
    from natsel.executors import _dask

    shutil.copy(Path(__file__).parent / "helpers.py", tmp_path / "helpers.py")
    _dask._OBJECTIVES.clear()
    for run in range(5):
        spec = {"kind": "python", "ref": "helpers:mixed_x", "base_dir": str(tmp_path), "sys_path": [str(tmp_path)],
                "run": run}
        assert _dask.run_trial(spec, None, Task(run, {"x": run}, str(run), 0)).fitness == run
    assert len(_dask._OBJECTIVES) <= 2


def test_config_from_dict_takes_an_importable_function():
    """Issue 24 item 18: a callable fitness raised a YAML RepresenterError."""
    from natsel.examples import mixed

    space = {"activation": ["relu", "elu"], "batch_size": [32, 64], "layers": {"low": 1, "high": 8},
             "learning_rate": {"low": 1e-4, "high": 1e-1, "log": True}}
    cfg = natsel.config_from_dict({"fitness": mixed, "space": space})
    assert cfg.fitness == "natsel.examples:mixed"
    with pytest.raises(ConfigError, match="lambda, a method or a function defined inside another"):
        natsel.config_from_dict({"fitness": lambda g: 1.0, "space": space})


def test_a_noisy_fitness_scores_a_genome_the_same_whatever_ran_before(tmp_path):
    """Issue 24 item 19: a fitness drawing from NumPy's or Python's global generators got other draws
    depending on what ran before it in the process."""
    import shutil
    from pathlib import Path

    from natsel._trial import Task
    from natsel.objectives.python import python_objective

    shutil.copy(Path(__file__).parent / "helpers.py", tmp_path / "helpers.py")
    spec = {"kind": "python", "ref": "helpers:noisy", "base_dir": str(tmp_path), "sys_path": [str(tmp_path)]}
    objective = python_objective(spec)
    b = Task(2, {"x": 2}, "b", seed=1234)
    alone = objective(b).fitness
    objective(Task(1, {"x": 1}, "a", seed=99))
    assert objective(b).fitness == alone
    assert objective(Task(3, {"x": 2}, "b", seed=5)).fitness != alone  # another seed, other draws


# -- the property: every served score is the score a fresh process computes now ----------------------
RESCORE = r"""
import json, sys
from pathlib import Path
import natsel
from natsel._evolve import trial_seed
from natsel._trial import Task, budget_value
from natsel.objectives import get

from natsel._config import apply_run_settings
result = {}
for run_dir in sys.argv[1:]:  # each run with its own config and objective, built afresh
    cfg = natsel.load_config(Path(run_dir) / "config.yaml", base_dir=Path(run_dir).parent)
    run = natsel.load_run(run_dir)
    apply_run_settings(cfg, run.meta, Path(run_dir))
    prepared = get(cfg.objective).prepare(cfg)
    objective = get(cfg.objective).build(prepared.spec, prepared.payload)
    out = result[run_dir] = []
    for t in run.trials:
        if t["fitness"] is None:
            continue
        task = Task(0, cfg.space.trial_genome(t["genome"]), t["key"], trial_seed(cfg.seed, t["key"]), t["budget"])
        out.append([t["id"], t["status"], t["fitness"], objective(task).fitness])
print(json.dumps(result))
"""


def _random_case(r):
    """A small random search: genes of each kind, maybe a condition, fidelity, a strategy, a population."""
    genes = ["  a: [p, q, r]", f"  n: {{low: 0, high: {r.choice([3, 6, 20])}}}"]
    if r.random() < 0.5:
        genes.append("  f: {low: 0.5, high: 4.0, log: true, digits: 2}")
    if r.random() < 0.6:
        genes.append("  m: {choices: [1, 2, 3, 4], when: {n: {gt: 1}}}")
    fidelity = r.random() < 0.5
    extra = [f"training: {{max_epochs: {r.choice([4, 9])}}}"]
    if fidelity:
        extra.append(f"fidelity: {{eta: {r.choice([2, 3])}}}")
    strategy = r.choice(["surrogate", "genetic", "random"])
    population = r.choice([3, 4, 6])
    return "\n".join(genes), "\n".join(extra), strategy, population


# each case is five natsel processes (~10 s); these four cover every strategy (genetic, random,
# surrogate), fidelity on (eta 2 and 3) and off, max_epochs 4 and 9, a conditional gene, a log float gene,
# and kills after 3 to 6 calls (cases 1 and 3 repeated those settings); every case uses the shared cache
@pytest.mark.parametrize("case", [0, 2, 4, 5])
def test_every_served_score_is_the_score_a_fresh_process_computes_now(tmp_path, case):
    """Issue 24, the property: for random small spaces and settings (conditions, fidelity, strategies,
    a shared cache on or off, a kill -9 and a resume), every score a run holds, trained or served from
    its store or a shared cache, equals what a fresh process computes for that genome and budget now.
    (Pruning is Keras-only; the Keras rungs are covered by tests/test_fidelity.py's bit-identity tests.)"""
    import json
    import random
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    r = random.Random(case)
    space, extra, strategy, population = _random_case(r)
    shutil.copy(Path(__file__).parent / "helpers.py", tmp_path / "helpers.py")
    cache = r.random() < 0.7
    cfg_text = (f"name: prop\nseed: {case}\nfitness: helpers:served\nworkers: 0\nstrategy: {strategy}\n{extra}\n"
                + ("cache: shared.sqlite\n" if cache else "")
                + f"evolution: {{population: {population}, generations: 3}}\nspace:\n{space}\n")
    (tmp_path / "a.yaml").write_text(cfg_text)
    (tmp_path / "b.yaml").write_text(cfg_text.replace(f"population: {population}", f"population: {population + 1}"))
    env = {**__import__("os").environ, "PYTHONPATH": str(Path(natsel.__file__).parent.parent)}
    natsel_cmd = [sys.executable, "-m", "natsel", "evolve"]
    killed = subprocess.run([*natsel_cmd, "a.yaml", "--run-dir", "ra", "-q"], cwd=tmp_path, capture_output=True,
                            text=True, env={**env, "NATSEL_TEST_KILL_AFTER": str(r.randint(2, 6))}, timeout=120)
    assert killed.returncode == -9, killed.stderr
    for args in (["a.yaml", "--run-dir", "ra", "--resume"], ["b.yaml", "--run-dir", "rb"]):
        done = subprocess.run([*natsel_cmd, *args, "-q"], cwd=tmp_path, capture_output=True, text=True, env=env,
                              timeout=120)
        assert done.returncode == 0, done.stderr
    out = subprocess.run([sys.executable, "-c", RESCORE, "ra", "rb"], cwd=tmp_path, capture_output=True, text=True,
                         env=env, timeout=120)  # one fresh process rescoring both runs: one Python start, not two
    assert out.returncode == 0, out.stderr
    rescored = json.loads(out.stdout)
    assert sorted(rescored) == ["ra", "rb"]
    for run_dir, rows in rescored.items():
        assert len(rows) >= population
        for trial, status, stored, now in rows:
            assert stored == now, f"{run_dir} trial {trial} ({status}) serves {stored}, training now gives {now}"
    if cache:
        assert any(t["status"] == "cached" and t["extra"].get("shared_cache")
                   for t in natsel.load_run(tmp_path / "rb").trials)


@pytest.mark.keras
def test_genomes_that_share_a_key_build_the_same_network(write_config):
    """Issue 24 item 5: with `neurons1: {when: {neurons0: {gt: 0}}}` the builder still built neurons1
    when neurons0 was 0, so genomes with neurons1 8 and 64 shared a key but not a network."""
    from natsel.objectives.keras.train import build_model

    cfg = natsel.load_config(write_config("""
        data: {source: iris}
        space:
          neurons0: [0, 16]
          neurons1: {choices: [8, 64], when: {neurons0: {gt: 0}}}
          neurons2: [0, 4]
        """))
    space = cfg.space
    a, b = {"neurons0": 0, "neurons1": 8, "neurons2": 4}, {"neurons0": 0, "neurons1": 64, "neurons2": 4}
    assert space.key(a) == space.key(b)
    nets = [build_model(space.trial_genome(g), 4, "multiclass", 3) for g in (a, b)]
    assert [layer.units for layer in nets[0].layers[1:]] == [layer.units for layer in nets[1].layers[1:]] == [4, 3]
    assert nets[0].count_params() == nets[1].count_params()
    on = build_model(space.trial_genome({"neurons0": 16, "neurons1": 64, "neurons2": 0}), 4, "multiclass", 3)
    assert [layer.units for layer in on.layers[1:]] == [16, 64, 3]


def test_a_steady_run_with_a_shared_cache_trains_its_whole_budget(write_config, tmp_path):
    """Issue 24 item 4, steady schedule: a genome a shared cache serves is a cached trial, and one more
    genome is planned in its place (in the last generation), so the run still trains its budget; a
    resume counts them the same way."""
    cfg = plain(write_config, "mixed_x", population=4, generations=4,
                extra="cache: c.sqlite\nstrategy: random")
    cfg.write_text(cfg.read_text().replace("generations: 4}", "generations: 4, schedule: steady}"))
    first = natsel.evolve(cfg, tmp_path / "r1", progress=False, plots=False)
    assert len(first.trials) == 16 and all(t["status"] == "ok" for t in first.trials)
    second = natsel.evolve(cfg, tmp_path / "r2", progress=False, plots=False)
    trained = [t for t in second.trials if t["status"] == "ok"]
    served = [t for t in second.trials if t["status"] == "cached"]
    assert served and len(trained) == 16
    assert max(t["generation"] for t in second.trials) == 3  # the extra genomes join the last generation
    again = natsel.evolve(cfg, tmp_path / "r2", progress=False, plots=False)  # resumed: nothing more to do
    assert len(again.trials) == len(second.trials)


def test_a_module_the_user_set_up_before_natsel_is_used_as_it_is(tmp_path, monkeypatch):
    """Issue 24 item 2's reload applies to modules natsel loaded: a module the user's script imported
    and configured (a global set before natsel.evolve) is not loaded again behind its back."""
    import importlib

    (tmp_path / "setup_fit.py").write_text("OFFSET = 0\n\ndef score(genome):\n    return OFFSET + genome['x']\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("setup_fit")
    module.OFFSET = 1000
    cfg = tmp_path / "c.yaml"
    cfg.write_text(EDITED.format(workers=0, generations=1).replace("fit:score", "setup_fit:score"))
    run = natsel.evolve(cfg, tmp_path / "r", progress=False, plots=False)
    assert all(t["fitness"] >= 1000 for t in run.trials)
