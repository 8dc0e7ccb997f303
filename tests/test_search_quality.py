"""Issue 27: the default strategy keeps its lead late (a local search around the incumbent with a
step adapted from the history) and does not stay on a plateau; the run records its planning time."""

from __future__ import annotations

import numpy as np
import pytest

import natsel
from natsel._trial import Direction
from natsel.strategies import PlanContext
from natsel.strategies.surrogate import LOCAL_GROW, LOCAL_STEP, local_step

RUN = """
name: q
seed: {seed}
fitness: helpers:{fitness}
workers: 0
evolution: {{generations: {generations}{schedule}}}
space:
  x: {{low: 0, high: 1000}}
  y: [a, b, c]
  z: {{low: 0.0, high: 1.0}}
"""


def run(write_config, tmp_path, fitness="mixed_x", generations=6, seed=0, schedule=""):
    cfg = write_config(RUN.format(fitness=fitness, generations=generations, seed=seed, schedule=schedule))
    return natsel.evolve(cfg, tmp_path / f"run-{fitness}-{seed}{schedule and '-s'}", progress=False, plots=False)


def test_each_generation_records_its_planning_seconds(write_config, tmp_path):
    """Issue 27 item 4: history.json (and natsel show) say what planning cost, per generation."""
    from click.testing import CliRunner

    from natsel.cli import main

    for schedule in ("", ", schedule: steady"):
        r = run(write_config, tmp_path, schedule=schedule, generations=4)
        seconds = [h["plan_seconds"] for h in r.history]
        assert len(seconds) == 4 and all(s is not None and 0 <= s < 60 for s in seconds)
    shown = CliRunner().invoke(main, ["show", str(r.path)])
    assert "planning=" in shown.output and "a generation)" in shown.output


def _row(i, g, origin, fitness):
    return {"id": i, "generation": g, "origin": origin, "fitness": fitness, "key": str(i), "status": "ok",
            "budget": "full", "genome": {}}


def test_the_local_step_follows_the_one_fifth_rule_from_the_history_alone():
    """Issue 27 item 3: a generation whose local child beat the best so far grows the step, one that did not
    shrinks it by the fourth root; replayed from stored trials, so a resume plans the same."""
    def step(rows):
        return local_step(PlanContext(generation=9, space=None, population=5, direction=Direction(True),  # type: ignore[arg-type]
                                      history=rows, known=lambda k: False, rng=np.random.default_rng(0)))

    start = LOCAL_STEP[0]
    base = [_row(i, 0, "random", float(i)) for i in range(5)]  # best 4.0
    assert step(base) == start  # no local children yet
    better = base + [_row(5, 1, "local", 9.0), _row(6, 1, "surrogate", 1.0)]
    assert step(better) == pytest.approx(start * LOCAL_GROW)
    worse = base + [_row(5, 1, "local", 3.0), _row(6, 2, "local", 2.0)]
    assert step(worse) == pytest.approx(start * LOCAL_GROW ** -0.5)
    minimize = PlanContext(generation=9, space=None, population=5, direction=Direction(False),  # type: ignore[arg-type]
                           history=base + [_row(5, 1, "local", -1.0)], known=lambda k: False,
                           rng=np.random.default_rng(0))
    assert local_step(minimize) == pytest.approx(start * LOCAL_GROW)  # lower is better there


def test_a_run_searches_locally_around_its_best(write_config, tmp_path):
    """Issue 27 item 3: after the start, some slots of each generation are local children of the incumbent."""
    r = run(write_config, tmp_path)
    origins = [t["origin"] for t in r.trials if t["generation"] >= 2]
    assert "local" in origins and "surrogate" in origins


def test_a_plateau_makes_the_strategy_sample_afresh(write_config, tmp_path):
    """Issue 27 item 2: where the scores are one level plus noise (a model explains nothing), half the slots
    sample the space afresh and none searches locally; with a real signal, none does."""
    flat = run(write_config, tmp_path, fitness="noise_only", generations=5)
    later = [t["origin"] for t in flat.trials if t["generation"] >= 2]
    assert later.count("random") >= len(later) // 2 - 1 and "local" not in later
    signal = run(write_config, tmp_path, fitness="mixed_x", generations=5)
    assert "random" not in [t["origin"] for t in signal.trials if t["generation"] >= 2]


def test_the_default_strategy_is_still_deterministic(write_config, tmp_path):
    """Issue 27: the same seed plans the same genomes (the local search and the plateau check included)."""
    a = run(write_config, tmp_path, seed=3)
    b = run(write_config, tmp_path / "again", seed=3)
    assert [(t["key"], t["origin"]) for t in a.trials] == [(t["key"], t["origin"]) for t in b.trials]


def test_coordinate_slots_change_one_discrete_gene_of_the_incumbent(write_config, tmp_path):
    """Issue 27: a coordinate slot trains the best genome so far with exactly one discrete gene (a
    choice, or an integer of at most 32 values) set to another value; wide integers and floats stay."""
    cfg = write_config(RUN.replace("  z:", "  k: {{low: 0, high: 7}}\n  z:").format(
        fitness="mixed_x", generations=8, seed=1, schedule=""))
    r = natsel.evolve(cfg, tmp_path / "run", progress=False, plots=False)
    coordinate = [t for t in r.trials if t["origin"] == "coordinate"]
    assert len(coordinate) >= 5
    for t in coordinate:
        before = sorted((u for u in r.trials if u["generation"] < t["generation"] and u["fitness"] is not None),
                        key=lambda u: (-u["fitness"], u["id"]))
        changed = {k for k, v in t["genome"].items() if v != before[0]["genome"][k]}
        assert len(changed) == 1 and changed <= {"y", "k"}, (t["genome"], before[0]["genome"])


def test_the_local_model_says_which_way_is_up_where_the_trees_are_flat():
    """Issue 27 item 3: the local broods are ranked by a Gaussian process fitted near the incumbent. On a
    slope sampled below 0.6, children at 0.65 and 0.8 lie beyond every trial: every tree puts them in one
    leaf (a tie), the local model ranks the farther one above, as the slope says."""
    from natsel.strategies.surrogate import _trees_score, local_gp_score

    rng = np.random.default_rng(0)
    x = rng.random((30, 2)) * 0.6
    y = x[:, 0] + 0.5 * x[:, 1]
    children = np.array([[0.65, 0.3], [0.8, 0.3], [0.3, 0.3]])
    near = local_gp_score(children, x, y, x[int(np.argmax(y))], kappa=0.0)
    assert near is not None and near[1] > near[0] > near[2]
    trees = _trees_score(children, x, y, 0.0, 48, 0)
    assert trees[1] == pytest.approx(trees[0])  # what the local slots saw before: no way up


@pytest.mark.parametrize("n_genes, scales", [(5, 5), (30, 1)])
def test_the_local_model_fits_on_one_blas_thread_with_a_scale_per_gene_for_few_genes(monkeypatch, n_genes, scales):
    """The local model plans in the parent while the workers train on the same cores: a threaded BLAS made
    its 40 x 40 fits ten times slower there (bench/planning.py --busy 2), so it fits on one thread. A length
    scale per gene is fitted up to LOCAL_ARD_GENES genes; beyond, one shared scale (30 hyperparameters from
    40 trials overfit, and cost seconds a generation)."""
    from sklearn.gaussian_process import GaussianProcessRegressor
    from threadpoolctl import threadpool_info

    from natsel.strategies.surrogate import LOCAL_ARD_GENES, local_gp_score

    assert 5 <= LOCAL_ARD_GENES < 30
    seen: list[tuple[list[int], int]] = []
    fit = GaussianProcessRegressor.fit

    def spy(self, x, y):
        out = fit(self, x, y)
        threads = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        seen.append((threads, np.size(self.kernel_.k1.k2.length_scale)))
        return out

    monkeypatch.setattr(GaussianProcessRegressor, "fit", spy)
    rng = np.random.default_rng(0)
    x = rng.random((60, n_genes))
    y = -((x - 0.3) ** 2).sum(axis=1)
    assert local_gp_score(x[:4] + 0.01, x, y, x[int(np.argmax(y))], kappa=1.0) is not None
    [(threads, n_scales)] = seen
    assert threads and set(threads) == {1}
    assert n_scales == scales


def test_a_flat_top_that_bred_genomes_filled_is_not_a_plateau():
    """Issue 27 item 2: best scores that tie above what random genomes score are a top, found, even once the
    genomes bred around it are most of the history (a fitness at its bound: accuracy 1.0); the plateau rule
    (half the slots random) compares the tie with the random genomes' median, not the whole history's."""
    from natsel._space import Choice, FloatRange, IntRange, SearchSpace
    from natsel.strategies.surrogate import SurrogateStrategy

    space = SearchSpace([IntRange("x", 0, 1000), Choice("y", ("a", "b", "c")), FloatRange("z", 0.0, 1.0)])
    rng = np.random.default_rng(1)
    rows = []
    for i in range(24):
        genome = space.sample(rng)
        if i >= 10:  # bred: the top reached, the other genes free
            genome["x"] = 1000
        rows.append({**_row(i, 0 if i < 10 else 1 + (i - 10) // 5, "random" if i < 10 else "surrogate",
                             float(genome["x"])), "genome": genome, "key": space.key(genome)})
    known = {r["key"] for r in rows}
    ctx = PlanContext(generation=4, space=space, population=5, direction=Direction(True), history=rows,
                      known=known.__contains__, rng=np.random.default_rng(7))
    planned = SurrogateStrategy({}).plan(ctx)
    assert planned and "random" not in [p.origin for p in planned]
    assert "local" in [p.origin for p in planned]  # a found top is refined, as before it filled the history


def test_the_local_model_is_an_option_with_a_clear_error(write_config):
    """``local_model: trees`` is the strategy before the local model (the bench's ablation); anything else is
    one config error naming the option and what it may be."""
    base = "fitness: helpers:mixed_x\nworkers: 0\nspace:\n  x: {low: 0, high: 10}\n"
    natsel.load_config(write_config(base + "strategy: {name: surrogate, local_model: trees}\n"))
    with pytest.raises(natsel.ConfigError, match=r"option 'local_model' of strategy 'surrogate' must be gp or trees"):
        natsel.load_config(write_config(base + "strategy: {name: surrogate, local_model: cubic}\n"))
