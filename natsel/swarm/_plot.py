"""The swarm figure of ``natsel plot`` (matplotlib only)."""

from __future__ import annotations

from typing import Any

from natsel._run import Run, _ok


def swarm_trials(run: Run, top: int = 10) -> list[dict[str, Any]]:
    """Swarm-trained trials that stored a cost history, fittest first."""
    rows = [t for t in run.leaderboard() if (t.get("extra") or {}).get("cost_history") and _ok(t["fitness"])]
    return rows[:top]


def fig_swarm_costs(run: Run) -> Any:
    """Cost history of the swarm-trained trials: PSO's global best per iteration, AdaSwarm's loss per epoch."""
    from natsel._plot import _plt

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
