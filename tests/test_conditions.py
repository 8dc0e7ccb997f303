"""Conditional genes: `when:` in the YAML, active genes, keys, operators, show and plots (pure Python)."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import natsel
from natsel import ConfigError, load_config
from natsel._plot import fig_genes, fig_parallel
from natsel._space import Choice, Condition, FloatRange, IntRange, SearchSpace, genome_key
from natsel.cli import main
from natsel.strategies.genetic import GASettings, crossover_uniform, dedupe, initial_population, mutate, next_generation

DENSE = """
fitness: helpers:constant
workers: 0
space:
  trainer: [gradient, pso]
  pso_particles: {choices: [10, 20], when: {trainer: pso}}
  neurons: {repeat: 3, choices: [0, 16, 32]}
  dropout: {repeat: 3, choices: [0.0, 0.1, 0.3], when: {neurons: {gt: 0}}}
  head: {low: 0.0, high: 1.0, when: {neurons0: {ge: 16, le: 32}, dropout0: [0.1, 0.3]}}
  skip: {choices: [a, b], when: {neurons1: {not_in: [0]}}}
"""


def dense_space(write_config) -> SearchSpace:
    return load_config(write_config(DENSE)).space


def genome(**changes):
    g = {"trainer": "gradient", "pso_particles": 10, "neurons0": 16, "neurons1": 0, "neurons2": 32,
         "dropout0": 0.1, "dropout1": 0.0, "dropout2": 0.3, "head": 0.5, "skip": "a"}
    return {**g, **changes}


# ---------------------------------------------------------------- parsing


def test_when_parses_shorthands_comparisons_and_the_same_index_rule(write_config):
    space = dense_space(write_config)
    c = space.conditions
    assert c["pso_particles"] == (Condition("trainer", "in", ("pso",)),)  # a plain value: `in [value]`
    # in a repeated gene, naming the repeated `neurons` means the copy with the same index
    assert [c[f"dropout{i}"] for i in range(3)] == [(Condition(f"neurons{i}", "gt", 0),) for i in range(3)]
    assert c["head"] == (Condition("neurons0", "ge", 16), Condition("neurons0", "le", 32),
                         Condition("dropout0", "in", (0.1, 0.3)))
    assert c["skip"] == (Condition("neurons1", "not_in", (0,)),)
    assert "trainer" not in c and "neurons0" not in c
    assert space.names[:3] == ["trainer", "pso_particles", "neurons0"]  # the genes keep the config's order


def test_repeated_gene_may_name_one_copy_for_all_its_copies(write_config):
    space = load_config(write_config("""
        fitness: helpers:constant
        space:
          neurons: {repeat: 2, choices: [0, 8]}
          dropout: {repeat: 2, choices: [0.1, 0.2], when: {neurons0: {gt: 0}}}
    """)).space
    assert space.conditions["dropout1"] == (Condition("neurons0", "gt", 0),)


def test_active_follows_conditions_and_chains(write_config):
    space = dense_space(write_config)
    on = space.active(genome())
    assert on == {"trainer", "neurons0", "neurons1", "neurons2", "dropout0", "dropout2", "head"}
    assert "pso_particles" in space.active(genome(trainer="pso"))
    # head reads dropout0; with neurons0 = 0, dropout0 is inactive, so head is too (even though
    # dropout0's value 0.1 would satisfy head's condition)
    off = space.active(genome(neurons0=0))
    assert "dropout0" not in off and "head" not in off
    assert "head" not in space.active(genome(dropout0=0.0))
    assert "skip" in space.active(genome(neurons1=16))


ERRORS = [
    # (the gene lines under `space:`, line of the error, words the message must contain)
    ("  a: [1, 2]\n  b: {choices: [1, 2], when: {nope: [1]}}\n", 4, "depends on unknown gene 'nope'"),
    ("  a: [1, 2]\n  b: {choices: [1, 2], when: {a: [3]}}\n", 4, "3 is not a value of gene 'a'"),
    ("  a: [1, 2]\n  b:\n    choices: [1, 2]\n    when:\n      a:\n        - 1\n        - 7\n", 9,
     "7 is not a value of gene 'a'"),
    ("  a: {low: 0, high: 8}\n  b: {choices: [1, 2], when: {a: {gt: 8}}}\n", 4, "could never be active"),
    ("  a: {low: 0.0, high: 1.0}\n  b:\n    choices: [1, 2]\n    when:\n      a: {ge: 0.6, lt: 0.5}\n", 7,
     "no value of 'a' satisfies a >= 0.6 and a < 0.5"),
    ("  a: [x, y]\n  b: {choices: [1, 2], when: {a: {not_in: [x, y]}}}\n", 4, "could never be active"),
    ("  a: [x, y]\n  b: {choices: [1, 2], when: {a: {gt: 0}}}\n", 4, "gene 'a' is not numeric"),
    ("  a: [1, 2]\n  b: {choices: [1, 2], when: {a: {gt: high}}}\n", 4, "'gt' in the condition on 'a' must be a number"),
    ("  a: [1, 2]\n  b: {choices: [1, 2], when: {a: {above: 0}}}\n", 4, "unknown key 'above'"),
    ("  a: [1, 2]\n  b: {choices: [1, 2], when: {a: {}}}\n", 4, "condition on 'a' is empty"),
    ("  a: [1, 2]\n  b: {choices: [1, 2], when: {a: []}}\n", 4, "lists no values"),
    ("  a: [1, 2]\n  b: {choices: [1, 2], when: [a]}\n", 4, "'when' of gene 'b' must map gene names"),
    ("  a: [1, 2]\n  b: {choices: [1, 2], when: {b: [1]}}\n", 4, "cannot depend on itself"),
    ("  a:\n    choices: [1, 2]\n    when: {c: [1]}\n  b: {choices: [1, 2], when: {a: [1]}}\n"
     "  c: {choices: [1, 2], when: {b: [2]}}\n", 5, "cycle: a -> c -> b -> a"),
    ("  n: {repeat: 2, choices: [0, 8]}\n  d: {repeat: 3, choices: [1, 2], when: {n: {gt: 0}}}\n", 4,
     "depends on 'n2' (the same copy), but 'n' has only 2 copies"),
    ("  n: {repeat: 2, choices: [0, 8]}\n  d: {choices: [1, 2], when: {n: {gt: 0}}}\n", 4, "'n' is repeated"),
]


@pytest.mark.parametrize("genes,line,words", ERRORS, ids=[e[2] for e in ERRORS])
def test_bad_conditions_are_config_errors_with_file_and_line(write_config, genes, line, words):
    path = write_config("fitness: helpers:constant\nspace:\n" + genes)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:{line}: "), str(info.value)
    assert words in str(info.value)


def test_the_docs_example_of_conditional_genes_loads(write_config):
    import re
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "config.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "head_dropout" in b)
    space = load_config(write_config("fitness: helpers:constant\n" + block)).space
    assert space.conditions["dropout2"] == (Condition("neurons2", "gt", 0),)
    assert space.conditions["head_dropout"] == (Condition("neurons2", "ge", 64), Condition("neurons2", "le", 128),
                                                Condition("trainer", "in", ("gradient",)))


def test_a_bad_condition_stops_the_cli_with_one_line_and_exit_2(write_config, tmp_path):
    path = write_config("fitness: helpers:constant\nspace:\n  a: [1, 2]\n  b: {choices: [1], when: {a: [5]}}\n")
    res = CliRunner().invoke(main, ["evolve", str(path), "--run-dir", str(tmp_path / "out"), "-q"])
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [f"error: {path}:4: gene 'b': 5 is not a value of gene 'a'"]
    assert not (tmp_path / "out").exists()


def test_conditions_on_conditioned_genes_are_fine_when_acyclic(write_config):
    space = load_config(write_config("""
        fitness: helpers:constant
        space:
          c: {choices: [1, 2], when: {b: [2]}}
          b: {choices: [1, 2], when: {a: [1]}}
          a: [1, 2]
    """)).space
    assert space.active({"a": 1, "b": 2, "c": 1}) == {"a", "b", "c"}
    assert space.active({"a": 2, "b": 2, "c": 1}) == {"a"}  # b is off, so c is off although b's value is 2


def test_the_library_api_checks_conditions_too():
    a, b = Choice("a", (1, 2)), Choice("b", (1, 2))
    with pytest.raises(ValueError, match="unknown gene 'z'"):
        SearchSpace([a, b], {"b": [Condition("z", "in", (1,))]})
    with pytest.raises(ValueError, match="cycle: a -> b -> a|cycle: b -> a -> b"):
        SearchSpace([a, b], {"a": [Condition("b", "in", (1,))], "b": [Condition("a", "in", (1,))]})
    assert Condition("t", "in", "pso") == Condition("t", "in", ["pso"])  # one value is not a list of letters
    with pytest.raises(ValueError, match="unknown condition op"):
        Condition("a", "between", (1, 2))


# ---------------------------------------------------------------- keys


def test_genomes_differing_only_in_inactive_genes_share_a_key(write_config):
    space = dense_space(write_config)
    assert space.key(genome(neurons1=0, dropout1=0.0)) == space.key(genome(neurons1=0, dropout1=0.3))
    assert space.key(genome(pso_particles=10)) == space.key(genome(pso_particles=20))  # trainer: gradient
    assert space.key(genome(neurons0=0, dropout0=0.1, head=0.2)) == space.key(genome(neurons0=0, dropout0=0.3,
                                                                                         head=0.9))
    # active genes still count
    assert space.key(genome(neurons1=16, dropout1=0.0)) != space.key(genome(neurons1=16, dropout1=0.3))
    assert space.key(genome(trainer="pso", pso_particles=10)) != space.key(genome(trainer="pso", pso_particles=20))
    assert json.loads(space.key(genome())) == {k: v for k, v in genome().items()
                                               if k not in ("pso_particles", "dropout1", "skip")}


def test_the_brief_example_neurons0_zero(write_config):
    space = SearchSpace([IntRange("neurons0", 0, 64, step=16), FloatRange("dropout0", 0.0, 0.5)],
                        {"dropout0": [Condition("neurons0", "gt", 0)]})
    assert space.key({"neurons0": 0, "dropout0": 0.1}) == space.key({"neurons0": 0, "dropout0": 0.3})
    assert space.key({"neurons0": 0, "dropout0": 0.1}) == '{"neurons0":0}'


def test_keys_of_spaces_without_conditions_do_not_change():
    g = {"b": 1.0, "a": "x", "lr": 0.30000000000000004, "n": np.int64(3)}
    assert natsel.genome_key(g) == '{"a":"x","b":1,"lr":0.3,"n":3}'  # run folders depend on this text
    space = SearchSpace([Choice("a", ("x", "y")), IntRange("b", 0, 4), FloatRange("lr", 0.0, 1.0),
                         Choice("n", (3, 4))])
    assert space.key(g) == natsel.genome_key(g)
    # a conditioned space in which every gene is active keys like genome_key as well
    cond = SearchSpace(space.genes, {"lr": [Condition("a", "in", ("x",))]})
    assert cond.key(g) == natsel.genome_key(g)


def _old_mutate(genome, space, factor, rng):
    """mutate() as it was before conditions: every gene with more than one value may change."""
    mutable = [g for g in space.genes if g.size > 1]
    child = dict(genome)
    hits = [g for g in mutable if rng.random() < factor]
    if not hits:
        hits = [mutable[int(rng.integers(len(mutable)))]]
    for g in hits:
        child[g.name] = g.mutate(child[g.name], rng)
    return child


def test_unconditioned_mutation_draws_exactly_as_before():
    """Resuming a run made before conditions plans the same genomes."""
    space = SearchSpace([Choice("a", tuple(range(6))), IntRange("b", 0, 99), FloatRange("c", 0.0, 1.0)])
    for seed in range(200):
        g = space.sample(np.random.default_rng(seed))
        assert mutate(g, space, 0.3, np.random.default_rng([seed, 1])) == _old_mutate(
            g, space, 0.3, np.random.default_rng([seed, 1]))


def test_size_counts_distinct_keys():
    space = SearchSpace([Choice("neurons0", (0, 16, 32)), Choice("dropout0", (0.1, 0.2, 0.3)), Choice("act", (1, 2))],
                        {"dropout0": [Condition("neurons0", "gt", 0)]})
    assert space.size == (1 + 2 * 3) * 2
    assert math.isinf(SearchSpace([Choice("t", (0, 1)), FloatRange("x", 0.0, 1.0)],
                                  {"x": [Condition("t", "in", (1,))]}).size)


# ---------------------------------------------------------------- operators


def _genomes(space: SearchSpace):
    return st.integers(0, 2**32 - 1).map(lambda s: space.sample(np.random.default_rng(s)))


SPACE = SearchSpace(
    [Choice("trainer", ("gradient", "pso")), Choice("pso_particles", (10, 20, 30)),
     Choice("neurons0", (0, 16)), Choice("neurons1", (0, 16)), FloatRange("dropout0", 0.0, 0.5),
     FloatRange("dropout1", 0.0, 0.5), IntRange("epochs", 1, 3)],
    {"pso_particles": [Condition("trainer", "in", ("pso",))], "dropout0": [Condition("neurons0", "gt", 0)],
     "dropout1": [Condition("neurons1", "gt", 0)]},
)


@settings(max_examples=300, deadline=None)
@given(parent=_genomes(SPACE), seed=st.integers(0, 2**32 - 1), factor=st.sampled_from([0.01, 1 / 7, 0.5, 1.0]))
def test_mutation_changes_an_active_gene_and_never_an_inactive_one(parent, seed, factor):
    child = mutate(parent, SPACE, factor, np.random.default_rng(seed))
    on = SPACE.active(parent)
    assert SPACE.invalid_genes(child) == []
    assert any(child[k] != parent[k] for k in on)  # the change is spent on a gene that builds the network
    assert all(child[k] == parent[k] for k in SPACE.names if k not in on)  # inactive genes keep their values
    assert SPACE.key(child) != SPACE.key(parent)


@settings(max_examples=100, deadline=None)
@given(a=_genomes(SPACE), b=_genomes(SPACE), seed=st.integers(0, 2**32 - 1))
def test_crossover_and_dedupe_give_valid_genomes_with_a_value_for_every_gene(a, b, seed):
    rng = np.random.default_rng(seed)
    child = crossover_uniform(a, b, SPACE.names, rng)
    assert SPACE.invalid_genes(child) == []
    taken = {SPACE.key(a), SPACE.key(b), SPACE.key(child)}
    fresh, new = dedupe(child, lambda g: SPACE.key(g) in taken, SPACE, 1 / 7, rng, 25)
    assert new and SPACE.invalid_genes(fresh) == [] and SPACE.key(fresh) not in taken


def test_generations_plan_distinct_active_genomes():
    """Initial and bred generations never plan two genomes that differ only in inactive genes."""
    settings_ = GASettings(population=30)
    rng = np.random.default_rng(0)
    gen0 = initial_population(SPACE, settings_, rng, lambda k: False)
    keys0 = [SPACE.key(p.genome) for p in gen0]
    assert len(set(keys0)) == len(keys0)
    fitness = [float(i) for i in range(len(gen0))]
    gen1 = next_generation([p.genome for p in gen0], fitness, SPACE, settings_, rng, lambda k: k in set(keys0))
    keys1 = [SPACE.key(p.genome) for p in gen1]
    assert len(set(keys1)) == len(keys1)
    assert all(k not in keys0 for k, p in zip(keys1, gen1, strict=True) if p.origin != "elite")


# ---------------------------------------------------------------- whole runs

RUN = """
name: cond
seed: {seed}
fitness: helpers:counted_mixed
workers: {workers}
evolution: {{population: 12, generations: {generations}}}
space:
  activation: [relu, elu, tanh, sigmoid]
  batch_size: [32, 64]
  layers: {{low: 1, high: 8}}
  learning_rate: [0.001, 0.00316, 0.01]
  width: {{choices: [1, 2, 3, 4, 5, 6, 7, 8], when: {{layers: {{gt: 5}}}}}}
  slope: {{choices: [0.1, 0.2, 0.3, 0.4, 0.5], when: {{activation: [relu, elu]}}}}
"""


def run_cond(write_config, tmp_path, name="a", seed=0, workers=0, generations=8):
    cfg = load_config(write_config(RUN.format(seed=seed, workers=workers, generations=generations), f"{name}.yaml"))
    return cfg, natsel.evolve(cfg, tmp_path / name, progress=False, plots=False)


def test_a_ga_run_never_trains_two_genomes_with_the_same_active_genes(write_config, tmp_path):
    cfg, run = run_cond(write_config, tmp_path)
    import natsel_test_shared as helpers  # every copy of tests/helpers.py records its calls here

    space = cfg.space
    calls = helpers.CALLS
    trained = [t for t in run.trials if t["status"] == "ok"]
    assert len(calls) == len(trained) > 40
    # the fitness gets the active genes only (issue 24 item 5): what it reads is what the key is made of
    assert all(set(g) == space.active(g) for g in calls)
    assert any(set(g) != set(space.names) for g in calls)
    active_keys = {space.key(g) for g in calls}
    assert len(active_keys) == len(calls)  # no network trained twice
    assert all(t["key"] == space.key(t["genome"]) for t in run.trials)


def test_control_with_keys_blind_to_conditions_the_same_run_trains_networks_twice(write_config, tmp_path,
                                                                                   monkeypatch):
    """The test above can fail: keyed on whole genomes, this run trains duplicate networks."""
    import natsel_test_shared as helpers

    monkeypatch.setattr(SearchSpace, "key", lambda self, g: genome_key(g))
    cfg, _ = run_cond(write_config, tmp_path)
    monkeypatch.undo()
    assert len({cfg.space.key(g) for g in helpers.CALLS}) < len(helpers.CALLS)


def test_same_seed_same_genomes_with_0_or_2_workers(write_config, tmp_path):
    def table(run):
        return [(t["generation"], t["slot"], t["key"], genome_key(t["genome"])) for t in run.trials]

    _, inline = run_cond(write_config, tmp_path, "a", generations=3)
    _, pooled = run_cond(write_config, tmp_path, "b", workers=2, generations=3)
    assert table(inline) == table(pooled)
    _, other = run_cond(write_config, tmp_path, "c", seed=1, generations=3)
    assert table(other) != table(inline)


# ---------------------------------------------------------------- show and plots


@pytest.fixture
def cond_run(write_config, tmp_path):
    cfg, run = run_cond(write_config, tmp_path, generations=3)
    return cfg.space, natsel.load_run(run.path)


def cli(*args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.output


def test_show_marks_inactive_genes(cond_run):
    space, run = cond_run
    board = run.leaderboard()
    assert any("width" not in space.active(r["genome"]) for r in board)
    assert any("width" in space.active(r["genome"]) for r in board)

    lines = cli("show", run.path, "--all", "--wide").splitlines()
    header = lines[1].split()
    for line, r in zip(lines[2:], board, strict=False):
        cells = dict(zip(header, line.split(), strict=True))
        for gene in ("width", "slope"):
            on = gene in space.active(r["genome"])
            assert cells[gene] == (str(r["genome"][gene]) if on else "–")

    compact = cli("show", run.path, "--all").splitlines()[2:2 + len(board)]
    for line, r in zip(compact, board, strict=True):
        assert (" width=" in line) == ("width" in space.active(r["genome"]))  # the genome lists active genes

    rows = list(csv.DictReader(io.StringIO(cli("show", run.path, "--csv"))))
    for row, r in zip(rows, board, strict=True):
        on = space.active(r["genome"])
        assert row["width"] == (str(r["genome"]["width"]) if "width" in on else "")
        assert row["slope"] == (repr(r["genome"]["slope"]) if "slope" in on else "")

    shown = json.loads(cli("show", run.path, "--json"))
    for item, r in zip(shown, board, strict=True):
        on = space.active(r["genome"])
        assert set(item["genome"]) == set(space.names)  # every gene, inactive ones as null
        assert {k for k, v in item["genome"].items() if v is not None} == on
    assert run.fittest is not None and set(run.fittest) == set(space.names)  # the stored genome is whole


def test_plots_skip_inactive_values(cond_run):
    space, run = cond_run
    n_active = sum("width" in space.active(t["genome"]) for t in run.trials)
    assert 0 < n_active < len(run.trials)
    axes = {ax.get_title(): ax for ax in fig_genes(run).axes if ax.get_title()}
    title = f"width (active in {n_active}/{len(run.trials)})"
    assert len(axes[title].collections[0].get_offsets()) == n_active
    assert len(axes["layers"].collections[0].get_offsets()) == len(run.trials)

    ax = fig_parallel(run).axes[0]
    names = [t.get_text() for t in ax.get_xticklabels()]
    top = [r for r in run.leaderboard(20)]
    for line, r in zip(ax.lines[: len(top)][::-1], top, strict=True):
        y = line.get_ydata()
        for gene in ("width", "slope"):
            assert np.isnan(y[names.index(gene)]) == (gene not in space.active(r["genome"]))
