"""Figures of a run, from the run store alone (matplotlib; never TensorFlow).

Each ``fig_*`` function returns a matplotlib Figure (tests read the plotted numbers back);
:func:`write_plots` renders them all and writes ``report.html``.
"""

from __future__ import annotations

import base64
import html
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from natsel._mpl import plt as _plt
from natsel._mpl import render
from natsel._run import Run, _ok, evaluations, is_failed, run_space
from natsel._space import Choice, Gene, IntRange, SearchSpace, _Range
from natsel._store import atomic_write_bytes

#: how an inactive gene's value is shown (``natsel show``, report.html)
INACTIVE = "–"
STATUS_COLORS = {"ok": "tab:blue", "timeout": "tab:orange", "failed": "tab:red", "killed": "black"}
#: the values a metric can take: the +-1 std band of the fitness plot is clipped to them
METRIC_RANGE = {"accuracy": (0.0, 1.0), "f1": (0.0, 1.0), "auc": (0.0, 1.0),
                "loss": (0.0, math.inf), "mae": (0.0, math.inf), "mse": (0.0, math.inf)}


def _label(run: Run) -> str:
    """What the fitness is called: the metric, or with several objectives the first one's name."""
    return run.goal.names[0] if run.goal.multi else str(run.meta.get("metric") or "fitness")


def _gene(space: SearchSpace | None, name: str) -> Gene | None:
    return space[name] if space is not None and name in space.names else None


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _is_log(gene: Gene | None, values: list[Any]) -> bool:
    """The gene's own log flag; without a parsed space, a guess from the values' spread."""
    if isinstance(gene, _Range):
        return gene.log
    if gene is not None:
        return False
    y = np.array(values, dtype=float)
    return bool(y.min() > 0 and y.max() / y.min() > 50)


def _categories(gene: Gene | None, values: list[Any]) -> list[str]:
    """Category labels in the config's order (sorted when the space is unknown)."""
    seen = sorted({str(v) for v in values})
    if isinstance(gene, Choice):
        cats = [str(v) for v in gene.values]
        return cats + [c for c in seen if c not in cats]
    return seen


def fig_fitness(run: Run) -> Any:
    """Fitness by generation: mean line, +-1 std band, max line (NaturalSelection's plot).

    The band is clipped to the values the metric can take (accuracy never goes above 1)."""
    plt = _plt()
    hist = [h for h in run.history if h["mean"] is not None]
    g = [h["generation"] for h in hist]
    mean = np.array([h["mean"] for h in hist], dtype=float)
    std = np.array([h["std"] for h in hist], dtype=float)
    lo, hi = METRIC_RANGE.get(str(run.meta.get("metric")), (-math.inf, math.inf))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.fill_between(g, np.clip(mean - std, lo, hi), np.clip(mean + std, lo, hi), alpha=0.25, color="tab:blue",
                    label="mean ± 1 std")
    ax.plot(g, mean, color="tab:blue", label="mean")
    ax.plot(g, [h["max"] for h in hist], color="tab:green", marker="o", ms=3, label="max")
    if not run.maximize:
        ax.plot(g, [h["min"] for h in hist], color="tab:purple", marker="o", ms=3, label="min (best)")
    ax.set_xlabel("generation")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.set_ylabel(_label(run))
    ax.set_title(f"{run.meta.get('name', run.path.name)}: fitness by generation")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def best_so_far(run: Run) -> tuple[list[int], list[float], list[float]]:
    """(trials finished, seconds since start, best so far) after each evaluation (cache hits included), in finish order."""
    done = sorted((t for t in evaluations(run.trials) if t["finished"]), key=lambda t: t["finished"])
    if not done:
        return [], [], []
    start = min(t["started"] or t["finished"] for t in done)
    best: float | None = None
    n, secs, vals = [], [], []
    for i, t in enumerate(done, 1):
        f = t["fitness"]
        if _ok(f) and (best is None or (f > best if run.maximize else f < best)):
            best = f
        if best is not None:
            n.append(i)
            secs.append(t["finished"] - start)
            vals.append(best)
    return n, secs, vals


def fig_best_so_far(run: Run) -> Any:
    plt = _plt()
    n, secs, vals = best_so_far(run)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    a.step(n, vals, where="post", color="tab:green")
    a.set_xlabel("trials finished")
    a.set_ylabel(f"best {_label(run)} so far")
    b.step(secs, vals, where="post", color="tab:green")
    b.set_xlabel("seconds since the first trial")
    for ax in (a, b):
        ax.grid(alpha=0.3)
    fig.suptitle("best so far")
    fig.tight_layout()
    return fig


def gene_names(run: Run, space: SearchSpace | None = None) -> list[str]:
    """The genes of a run's genomes, in the config's order where the space is known."""
    names: list[str] = []
    for t in run.trials:
        names += [k for k in t["genome"] if k not in names]
    order = {n: i for i, n in enumerate(space.names)} if space is not None else {}
    return sorted(names, key=lambda n: order.get(n, len(order)))


def active_genes(space: SearchSpace | None, genome: dict[str, Any]) -> set[str]:
    """The genes of ``genome`` that are active (all of them when the space is unknown)."""
    return space.active(genome) | (set(genome) - set(space.names)) if space is not None else set(genome)


def _gene_values(run: Run, space: SearchSpace | None = None) -> dict[str, tuple[list[int], list[Any]]]:
    """Per gene: (generations, values) of the trials in which the gene is active (inactive ones are skipped)."""
    active = [active_genes(space, t["genome"]) for t in run.trials]
    out: dict[str, tuple[list[int], list[Any]]] = {}
    for k in gene_names(run, space):
        rows = [(t["generation"], t["genome"].get(k)) for t, on in zip(run.trials, active, strict=True) if k in on]
        out[k] = ([g for g, _ in rows], [v for _, v in rows])
    return out


def _varies(values: list[Any]) -> bool:
    return len({json.dumps(x) for x in values}) > 1


def fig_genes(run: Run) -> Any:
    """Each gene's values in each generation's population: how the population converges.

    Numeric genes are drawn over their whole range, on a log axis where the gene is ``log``;
    categories are listed in the config's order. A conditional gene is drawn only where it is
    active (its title says in how many trials)."""
    plt = _plt()
    space = run_space(run)
    genes = {k: gv for k, gv in _gene_values(run, space).items() if _varies(gv[1])}
    n = max(1, len(genes))
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, (name, (gen_list, values)) in zip(axes.flat, genes.items(), strict=False):
        gene = _gene(space, name)
        gens = np.array(gen_list)
        title = name if len(values) == len(run.trials) else f"{name} (active in {len(values)}/{len(run.trials)})"
        if _numeric(values) and not isinstance(gene, Choice):
            y = np.array(values, dtype=float)
            ax.scatter(gens + rng.uniform(-0.25, 0.25, len(y)), y, s=6, alpha=0.5)
            if _is_log(gene, values):
                ax.set_yscale("log")
                title += " (log)"
                if isinstance(gene, _Range):
                    ax.set_ylim(gene.low / 1.25, gene.high * 1.25)
            elif isinstance(gene, _Range) and gene.high > gene.low:
                pad = 0.05 * (gene.high - gene.low)
                ax.set_ylim(gene.low - pad, gene.high + pad)
        else:
            cats = _categories(gene, values)
            idx = np.array([cats.index(str(v)) for v in values], dtype=float)
            ax.scatter(gens + rng.uniform(-0.25, 0.25, len(idx)), idx + rng.uniform(-0.15, 0.15, len(idx)),
                       s=6, alpha=0.5)
            ax.set_yticks(range(len(cats)), cats, fontsize=7)
            ax.set_ylim(-0.5, len(cats) - 0.5)
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(genes):]:
        ax.axis("off")
    fig.supxlabel("generation")
    fig.tight_layout()
    return fig


def fig_fitness_vs_seconds(run: Run) -> Any:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for status, color in STATUS_COLORS.items():
        pts = [(t["seconds"], t["fitness"]) for t in run.trials if t["status"] == status and _ok(t["fitness"])
               and t["seconds"] is not None]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.scatter(xs, ys, s=14, alpha=0.7, color=color, label=status)
    ax.set_xlabel("trial seconds")
    ax.set_ylabel(_label(run))
    ax.set_title("fitness against training time")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    fig.tight_layout()
    return fig


def _axis(gene: Gene | None, values: list[Any]) -> tuple[Any, list[tuple[float, str]], bool]:
    """(value -> position in [0, 1], labelled ticks, log) of one parallel-coordinates axis."""
    if _numeric(values) and not isinstance(gene, Choice):
        log = _is_log(gene, values)
        lo, hi = (gene.low, gene.high) if isinstance(gene, _Range) else (float(min(values)), float(max(values)))
        f = math.log if log else float

        def pos(v: Any) -> float:
            return 0.5 if hi == lo else (f(float(v)) - f(lo)) / (f(hi) - f(lo))

        mid = math.sqrt(lo * hi) if log else (lo + hi) / 2
        if isinstance(gene, IntRange):
            mid = gene._snap(mid)
        ends = [lo, hi] if hi == lo or (isinstance(gene, _Range) and gene.size <= 2) else [lo, mid, hi]
        return pos, [(pos(v), f"{v:.3g}") for v in ends], log
    cats = _categories(gene, values)

    def cat(v: Any) -> float:
        return 0.5 if len(cats) == 1 else cats.index(str(v)) / (len(cats) - 1)

    return cat, [(cat(c), c) for c in cats], False


def fig_parallel(run: Run, top: int = 20) -> Any:
    """Parallel coordinates of the top trials, colour by fitness. Each gene's axis spans its range
    in the config (log where the gene is log) and is labelled with its values: the range ends and
    middle of a numeric gene, every category of a choice. A trial's line has a gap at a gene that
    is inactive in it."""
    plt = _plt()
    rows = [r for r in run.leaderboard(top) if _ok(r["fitness"])]
    space = run_space(run)
    genes = {k: values for k, (_, values) in _gene_values(run, space).items()}
    axes_names = [k for k, v in genes.items() if _varies(v)]
    fig, ax = plt.subplots(figsize=(max(7, 1.4 * len(axes_names) + 2.5), 4.8))
    if rows and axes_names:
        axes = {k: _axis(_gene(space, k), genes[k]) for k in axes_names}
        fits = np.array([r["fitness"] for r in rows], dtype=float)
        norm = plt.Normalize(fits.min(), fits.max() if fits.max() > fits.min() else fits.min() + 1)
        cmap = plt.get_cmap("viridis" if run.maximize else "viridis_r")
        for r in reversed(rows):
            on = active_genes(space, r["genome"])
            ax.plot(range(len(axes_names)), [axes[k][0](r["genome"][k]) if k in on else np.nan for k in axes_names],
                    color=cmap(norm(r["fitness"])), alpha=0.8, lw=1.2,
                    marker="o" if space is not None and space.conditional else None, ms=2)
        for i, k in enumerate(axes_names):
            ax.axvline(i, color="0.6", lw=0.8, zorder=0)
            for y, text in axes[k][1]:
                ax.text(i + 0.04, y, text, fontsize=7, ha="left", va="center",
                        bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.75})
        ax.set_xticks(range(len(axes_names)), [k + (" (log)" if axes[k][2] else "") for k in axes_names],
                      rotation=30, ha="right", fontsize=8)
        ax.set_xlim(-0.2, len(axes_names) - 0.4)
        fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=_label(run))
    ax.set_ylim(-0.06, 1.06)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"top {len(rows)} trials")
    fig.tight_layout()
    return fig


def best_epoch(history: dict[str, list[float]]) -> int | None:
    """The epoch (1-based) whose weights training restored: the lowest validation loss (first of ties)."""
    key = next((k for k in history if "val" in k or k == "es_loss"), None)
    vals = np.array(history.get(key, []) if key else [], dtype=float)
    if not np.isfinite(vals).any():
        return None
    return int(np.nanargmin(np.where(np.isfinite(vals), vals, np.nan))) + 1


def fig_learning_curve(history: dict[str, list[float]], title: str = "learning curve", axis: str = "epoch") -> Any:
    """Loss per epoch (whole-number epochs), with the restored best epoch marked.

    ``axis="iteration"``: a swarm-trained network's best loss per swarm iteration (no epochs)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    few = max((len(v) for v in history.values()), default=0) <= 40
    for name, values in history.items():
        ax.plot(range(1, len(values) + 1), values, label=name, marker="o" if few else None, ms=3)
    best = best_epoch(history)
    if best is not None:
        key = next(k for k in history if "val" in k or k == "es_loss")
        ax.axvline(best, color="0.4", ls="--", lw=1, label=f"best epoch {best} (weights restored)")
        ax.plot([best], [history[key][best - 1]], marker="*", ms=12, color="tab:red", ls="none")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.set_xlabel(axis)
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def swarm_trials(run: Run, top: int = 10) -> list[dict[str, Any]]:
    """Swarm-trained trials that stored a cost history, fittest first."""
    rows = [t for t in run.leaderboard() if (t.get("extra") or {}).get("cost_history") and _ok(t["fitness"])]
    return rows[:top]


def fig_swarm_costs(run: Run) -> Any:
    """Cost history of the swarm-trained trials: PSO's global best per iteration, AdaSwarm's loss per epoch."""
    plt = _plt()
    rows = swarm_trials(run)
    axes_kinds = sorted({r["extra"].get("cost_axis", "iteration") for r in rows})
    fig, axes = plt.subplots(1, max(1, len(axes_kinds)), figsize=(6 * max(1, len(axes_kinds)), 4), squeeze=False)
    for ax, kind in zip(axes.flat, axes_kinds, strict=False):
        for r in rows:
            if r["extra"].get("cost_axis", "iteration") == kind:
                costs = r["extra"]["cost_history"]
                label = "pso" if kind == "iteration" else "adaswarm"
                ax.plot(range(1, len(costs) + 1), costs, lw=1.2,
                        label=f"trial {r['id']} ({label}, fitness {r['fitness']:.3g})")
        ax.set_xlabel(kind)
        ax.set_ylabel("training loss" + (" (global best)" if kind == "iteration" else ""))
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("swarm-trained trials: cost history")
    fig.tight_layout()
    return fig


def fig_importance(run: Run, info: dict[str, Any] | None = None) -> Any:
    """Each gene's importance for fitness (``natsel importance``): mean and spread over resamples."""
    from natsel._importance import importance

    info = info if info is not None else importance(run)
    genes = [g for g in info["genes"] if g["mean"] is not None][::-1]  # most important at the top
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.32 * max(1, len(genes))))
    y = np.arange(len(genes))
    ax.barh(y, [g["mean"] for g in genes], xerr=[g["std"] for g in genes], color="tab:blue", alpha=0.8,
            error_kw={"ecolor": "black", "capsize": 2, "lw": 0.8})
    n = info["trials"]
    ax.set_yticks(y, [g["gene"] + (f"  (active in {g['trials']})" if g["trials"] < n else "") for g in genes])
    fanova = info["method"].startswith("fANOVA")
    ax.set_xlabel("share of the fitness variance it explains" if fanova else "drop in R² when its values are shuffled")
    ax.set_title(f"gene importance: {info['method'].split(' (')[0]}, {n} full-budget trials, "
                 f"mean ± std over {info['resamples']} resamples", fontsize=9)
    ax.set_xlim(left=0)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def front_points(run: Run) -> dict[str, Any]:
    """What the front figure draws, per finished full-budget trial with every objective: its values
    (``names`` order), whether it is feasible and on the front; and the constraint bounds on objectives."""
    goal = run.goal
    rows = [t for t in evaluations(run.trials) if goal.oriented(t) is not None]
    on_front = {t["id"] for t in run.front()}
    bounds = {n: b for n, b in goal.constraints if n in goal.names}
    return {"names": goal.names, "maximize": [d.maximize for _, d in goal.objectives],
            "values": [[float(goal.value(t, n)) for n in goal.names] for t in rows],
            "ids": [t["id"] for t in rows], "feasible": [goal.feasible(t) for t in rows],
            "front": [t["id"] in on_front for t in rows], "bounds": bounds}


def _spread_log(values: np.ndarray) -> bool:
    """Positive values over more than two decades: a log axis shows them (parameter counts)."""
    return bool(len(values) and values.min() > 0 and values.max() / values.min() > 100)


def _front_axes(ax: Any, d: dict[str, Any], i: int, j: int) -> None:
    """Objective ``i`` against ``j``: feasible trials, infeasible ones, the front (a line through it with
    two objectives; with more, its points: a projection of a front is no curve), bounds as dashed lines."""
    v = np.array(d["values"], dtype=float).reshape(-1, len(d["names"]))
    feas, front = np.array(d["feasible"], dtype=bool), np.array(d["front"], dtype=bool)
    ax.scatter(v[feas & ~front, i], v[feas & ~front, j], s=14, color="0.6", alpha=0.7, label="feasible")
    if (~feas).any():
        ax.scatter(v[~feas, i], v[~feas, j], s=16, marker="x", color="tab:red", alpha=0.7, label="infeasible")
    if front.any():
        f = v[front][np.argsort(v[front, i])]
        ax.plot(f[:, i], f[:, j], "-o" if v.shape[1] == 2 else "o", color="tab:blue", ms=5, lw=1.2,
                label="Pareto front", zorder=3)
    for k, line in ((i, ax.axvline), (j, ax.axhline)):
        b = d["bounds"].get(d["names"][k])
        for edge in (b.low, b.high) if b is not None else ():
            if edge is not None:
                line(edge, color="tab:red", ls="--", lw=1)
    for k, scale in ((i, ax.set_xscale), (j, ax.set_yscale)):
        if _spread_log(v[:, k]):
            scale("log")
    arrow = {True: " (higher is better)", False: " (lower is better)"}
    ax.set_xlabel(d["names"][i] + arrow[d["maximize"][i]])
    ax.set_ylabel(d["names"][j] + arrow[d["maximize"][j]])
    ax.grid(alpha=0.3)


def fig_front(run: Run) -> Any:
    """The trials in objective space with the Pareto front and the constraints on objectives (dashed):
    one panel for two objectives; every pair, and the front in parallel coordinates, for more."""
    plt = _plt()
    d = front_points(run)
    m = len(d["names"])
    if m == 2:
        fig, ax = plt.subplots(figsize=(6.5, 5))
        _front_axes(ax, d, 0, 1)
        ax.legend(fontsize=8)
    else:
        pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
        fig, axes = plt.subplots(1, len(pairs) + 1, figsize=(4.2 * (len(pairs) + 1), 4))
        for ax, (i, j) in zip(axes, pairs, strict=False):
            _front_axes(ax, d, i, j)
        v = np.array(d["values"], dtype=float).reshape(-1, m)
        f = v[np.array(d["front"], dtype=bool)]
        ax = axes[-1]
        if len(f):
            low, high = v.min(axis=0), v.max(axis=0)
            z = (f - low) / np.where(high > low, high - low, 1.0)
            for row in z:
                ax.plot(range(m), row, color="tab:blue", alpha=0.6)
        ax.set_xticks(range(m), d["names"], rotation=20)
        ax.set_ylabel("scaled to the trials' range")
        ax.set_title("the front, one line per trial", fontsize=9)
        axes[0].legend(fontsize=8)
    n_front, n = sum(d["front"]), len(d["ids"])
    fig.suptitle(f"Pareto front: {n_front} of {n} trials" +
                 (f" ({n - sum(d['feasible'])} infeasible)" if not all(d["feasible"]) else ""))
    fig.tight_layout()
    return fig


def fig_hypervolume(run: Run) -> Any:
    """Hypervolume of the feasible front after each generation (objectives scaled to [0, 1] between the
    run's best and worst feasible values, reference point 1.1), and the front's size."""
    plt = _plt()
    gens = [h["generation"] for h in run.history if h.get("hypervolume") is not None]
    hv = [h["hypervolume"] for h in run.history if h.get("hypervolume") is not None]
    size = [h.get("front", 0) for h in run.history if h.get("hypervolume") is not None]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(gens, hv, "-o", color="tab:green", ms=3, label="hypervolume")
    ax.set_xlabel("generation")
    ax.set_ylabel("hypervolume (scaled objectives, reference 1.1)")
    ax.grid(alpha=0.3)
    twin = ax.twinx()
    twin.plot(gens, size, "s:", color="tab:blue", alpha=0.6, ms=3, label="front size")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    twin.set_ylabel("trials on the front")
    twin.yaxis.set_major_locator(plt.MaxNLocator(integer=True))
    lines = ax.get_legend_handles_labels(), twin.get_legend_handles_labels()
    ax.legend(lines[0][0] + lines[1][0], lines[0][1] + lines[1][1], loc="lower right", fontsize=8)
    ax.set_title("hypervolume per generation")
    fig.tight_layout()
    return fig


FIGURES = {
    "fitness": fig_fitness,
    "best_so_far": fig_best_so_far,
    "genes": fig_genes,
    "fitness_vs_seconds": fig_fitness_vs_seconds,
    "parallel": fig_parallel,
}


def write_fitness_plot(run: Run) -> Path:
    """The fitness plot only: written by ``natsel evolve`` after every generation."""
    path = run.path / "plots" / "fitness.png"
    atomic_write_bytes(path, render(fig_fitness(run)))
    return path


def write_plots(run: Run, out: Path, fmt: str = "png") -> list[Path]:
    """Every figure plus ``report.html`` (images embedded: one file, viewable offline)."""
    images: dict[str, bytes] = {}
    extra = {}
    if run.goal.multi:  # several objectives: the front, and how it grew, first
        images["front"] = render(fig_front(run), fmt)
        if any(h.get("hypervolume") is not None for h in run.history):
            images["hypervolume"] = render(fig_hypervolume(run), fmt)
    for name, make in FIGURES.items():
        images[name] = render(make(run), fmt)
    from natsel._importance import MIN_TRIALS, scored_trials

    if len(scored_trials(run)) >= MIN_TRIALS:
        from natsel._importance import importance

        info = importance(run)
        if any(g["mean"] is not None for g in info["genes"]):
            images["importance"] = render(fig_importance(run, info), fmt)
            extra["importance"] = info["method"]
    swarm = [t for t in run.trials if (t.get("extra") or {}).get("cost_history")]
    if swarm:
        images["swarm_costs"] = render(fig_swarm_costs(run), fmt)
    written = []
    for name, data in images.items():
        p = out / f"{name}.{fmt}"
        atomic_write_bytes(p, data)
        written.append(p)
    report = out / "report.html"
    atomic_write_bytes(report, _report(run, images, fmt, extra).encode("utf-8"))
    return written + [report]


def redraw_report(path: Path) -> list[Path]:
    """Draw ``<run>/plots/report.html`` (and its figures) again, in the format it was drawn in: the
    end of a run calls this, so a report drawn while the run went on does not say running for good."""
    out = path / "plots"
    fmt = "svg" if b"data:image/svg+xml" in (out / "report.html").read_bytes() else "png"
    return write_plots(Run(path), out, fmt)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min {secs} s"


def _failed_table(run: Run, limit: int = 500) -> str:
    failed = [t for t in run.trials if is_failed(t)]
    if not failed:
        return ""
    esc = html.escape
    rows = []
    for t in failed[:limit]:
        secs = f"{t['seconds']:.2f}" if t["seconds"] is not None else "–"
        genome = ", ".join(f"{k}={v}" for k, v in t["genome"].items())
        rows.append(f"<tr><td>{t['id']}</td><td>{t['generation']}</td><td>{esc(t['status'])}</td><td>{secs}</td>"
                    f"<td class=g>{esc(t['error'] or t['status'])}</td><td class=g>{esc(genome)}</td></tr>")
    more = (f"<p>The first {limit} of {len(failed)} are listed; <code>natsel show RUN --all --csv</code> lists "
            "every one.</p>" if len(failed) > limit else "")
    return (f"<h2>Failed trials</h2><p>{len(failed)} failed (a cache hit that copies a failure counts as one).</p>"
            f"<table><tr><th>trial</th><th>gen</th><th>status</th><th>seconds</th><th>error</th><th>genome</th></tr>"
            f"{''.join(rows)}</table>{more}")


def budget_scores(run: Run) -> tuple[list[str], list[tuple[dict[str, Any], dict[str, float | None]]]]:
    """Each genome's score at each budget it was trained with (successive halving's rungs).

    Returns the budgets (smallest first, ``full`` last) and, per genome, its genome and
    {budget: score}; genomes ordered by the highest budget reached, then by score there."""
    from natsel._trial import budget_rank

    budgets = sorted({t.get("budget", "full") for t in run.trials}, key=budget_rank)
    per: dict[str, tuple[dict[str, Any], dict[str, float | None]]] = {}
    for t in evaluations(run.trials, budget=None):
        per.setdefault(t["key"], (t["genome"], {}))[1][t.get("budget", "full")] = t["fitness"]

    def order(item: tuple[dict[str, Any], dict[str, float | None]]) -> tuple[float, float]:
        top = max(item[1], key=budget_rank)
        o = run.direction.oriented(item[1][top])
        return (-budget_rank(top), -(o if o is not None else -math.inf))

    return budgets, sorted(per.values(), key=order)


def _budgets_table(run: Run, top: int = 20) -> str:
    budgets, rows = budget_scores(run)
    if budgets == ["full"]:
        return ""
    esc = html.escape
    head = "".join(f"<th>{esc(b)}</th>" for b in budgets)
    body = []
    for genome, scores in rows[:top]:
        cells = "".join(f"<td>{scores[b]:.4g}</td>" if scores.get(b) is not None else "<td>–</td>" for b in budgets)
        text = ", ".join(f"{k}={v}" for k, v in genome.items())
        body.append(f"<tr>{cells}<td class=g>{esc(text)}</td></tr>")
    return (f"<h2>Scores per budget</h2><p>Successive halving: each genome's {esc(_label(run))} at each budget it "
            f"reached (the leaderboard ranks full-budget results only).</p>"
            f"<table><tr>{head}<th>genome</th></tr>{''.join(body)}</table>")


def _caption(name: str, extra: dict[str, Any]) -> str:
    if name == "importance":
        return f"gene importance for fitness, by {extra['importance']} (natsel importance RUN_DIR)"
    return name.replace("_", " ")


def _aim(run: Run) -> str:
    """What the run optimised, in words: its direction, or its objectives; and its constraints."""
    goal = run.goal
    aim = (f"direction {'maximize' if run.maximize else 'minimize'}" if not goal.multi else
           "objectives " + ", ".join(f"{n} ({d.name})" for n, d in goal.objectives))
    if goal.constraints:
        aim += "; constraints " + ", ".join(f"{n} {b.text()}" for n, b in goal.constraints)
    return aim


def _report(run: Run, images: dict[str, bytes], fmt: str, extra: dict[str, Any]) -> str:
    mime = "image/svg+xml" if fmt == "svg" else "image/png"
    esc = html.escape
    rows = []
    space = run_space(run)
    goal = run.goal
    scores = goal.names if goal.multi else [_label(run)]
    heads = "".join(f"<th>{esc(n)}</th>" for n in scores) + ("<th>feasible</th>" if goal.constraints else "")
    for r in run.pareto(30) if goal.multi else run.leaderboard(15):
        fit = "".join(f"<td>{v:.5g}</td>" if (v := goal.value(r, n if goal.multi else "fitness")) is not None
                      else "<td>–</td>" for n in scores)
        fit += f"<td>{'yes' if r.get('feasible') else 'no'}</td>" if goal.constraints else ""
        secs = f"{r['seconds']:.2f}" if r["seconds"] is not None else "–"
        on = active_genes(space, r["genome"])
        genome = ", ".join(f"{k}={v}" for k, v in r["genome"].items() if k in on)
        rows.append(f"<tr><td>{r['rank']}</td><td>{r['id']}</td><td>{r['generation']}</td>{fit}"
                    f"<td>{esc(r['status'])}</td><td>{secs}</td><td class=g>{esc(genome)}</td></tr>")
    best = run.best
    best_html = "<p>No trial succeeded yet.</p>"
    if best:
        on = active_genes(space, best["genome"])
        items = "".join(f"<tr><td>{esc(str(k))}</td><td>{esc(str(v) if k in on else INACTIVE)}</td></tr>"
                        for k, v in best["genome"].items())
        score = (", ".join(f"{esc(k)} <b>{v:.6g}</b>" for k, v in best["values"].items()) if goal.multi
                 else f"{_label(run)} <b>{best['fitness']:.6g}</b>")
        best_html = (f"<p>Trial {best['id']} (generation {best['generation']}): {score}"
                     f"{'' if goal.plain or best.get('feasible') else ' (no trial meets the constraints: the closest)'}"
                     f"</p><table>{items}</table>")
    figs = "".join(
        f"<figure><img alt='{esc(n)}' src='data:{mime};base64,{base64.b64encode(d).decode()}'>"
        f"<figcaption>{esc(_caption(n, extra))}</figcaption></figure>" for n, d in images.items())
    n = run.outcome  # counted as `natsel evolve` counts them
    counts = f"{n['trained']} trained, {n['failed']} failed, {n['cached']} from cache"
    if n["settled"]:
        counts += f", {n['settled']} of them promotions settled at a lower rung"
    if n["pruned"]:
        counts += f", {n['pruned']} pruned"
    status = esc(run.status)
    if run.status == "interrupted":
        status += f" (resume with: <code>{esc(run.resume_command)}</code>)"
    if run.meta.get("error"):
        status += f": {esc(str(run.meta['error']))}"
    drawn = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    config = run.config_path.read_text(encoding="utf-8") if run.config_path.is_file() else ""
    overrides = run.meta.get("overrides") or {}
    override_html = (f"<p>Settings given beyond the file (command line or API): "
                     f"<code>{esc(', '.join(f'{k}={v}' for k, v in overrides.items()))}</code></p>" if overrides else "")
    budgets_html = _budgets_table(run)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>natsel run {esc(run.path.name)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:3px 6px}}
td.g{{font-family:monospace;font-size:12px}}figure{{display:inline-block;margin:8px}}img{{max-width:100%}}</style>
</head><body>
<h1>natsel run {esc(run.path.name)}</h1>
<p>status <b>{status}</b></p>
<p>{len(run.history)} generations: {counts}; {esc(_aim(run))};
seed {esc(str(run.meta.get('seed', 'unknown')))}; wall-clock {_duration(run.wall_seconds)}.</p>
<p>Report drawn {esc(drawn)}.</p>
<h2>{'Best genome on the first objective, within the constraints' if goal.multi else 'Best genome'}</h2>{best_html}
<h2>{'Pareto front' if goal.multi else 'Leaderboard'}</h2>
<table><tr><th>rank</th><th>trial</th><th>gen</th>{heads}<th>status</th><th>seconds</th>
<th>genome</th></tr>{''.join(rows)}</table>
{_failed_table(run)}
{budgets_html}
<h2>Figures</h2>{figs}
<h2>Config</h2>{override_html}<pre>{esc(config)}</pre>
</body></html>
"""
