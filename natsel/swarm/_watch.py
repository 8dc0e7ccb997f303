"""Watch a swarm on a 2-D landscape: the run, its six-panel figure, its animation and its cost curve.

Everything is drawn from the recorded run (``minimize(..., record=True)``), never a re-simulation.
matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from natsel.swarm._landscapes import Landscape
from natsel.swarm._pso import SwarmOptions, SwarmResult, minimize

GRID = 200  # landscape samples per axis for the contours
GIF_GRID = 120  # coarser for the animation: its contours are redrawn for every frame
LEVELS = 24  # colour bands


@dataclass
class WatchedRun:
    """One swarm run on a landscape, with its label (``PSO`` or ``EMPSO``)."""

    label: str
    options: SwarmOptions
    result: SwarmResult


def describe(options: SwarmOptions) -> str:
    """``PSO (w 0.9->0.4, c1 1.5, c2 1.5)`` or ``EMPSO (beta 0.9, c1 1.5, c2 1.5)``."""
    if options.beta is not None:
        head = f"EMPSO (beta {options.beta:g}"
    elif options.w_start == options.w_end:
        head = f"PSO (w {options.w_start:g}"
    else:
        head = f"PSO (w {options.w_start:g}->{options.w_end:g}"
    return f"{head}, c1 {options.c1:g}, c2 {options.c2:g})"


def run_swarms(land: Landscape, options: SwarmOptions, seed: int, compare: SwarmOptions | None = None) -> list[WatchedRun]:
    """Run the swarm on ``land`` with recording; with ``compare``, run that variant from the same start.

    Both runs start from the same positions (uniform in the landscape's bounds, drawn with ``seed``)
    and draw the same random numbers r1, r2 (same seed), so only the update rule differs.
    """
    xmin, xmax, ymin, ymax = land.bounds
    low, high = np.array([xmin, ymin]), np.array([xmax, ymax])
    init = low + np.random.default_rng(seed).random((options.n_particles, 2)) * (high - low)
    runs = []
    for opt in [options] + ([compare] if compare is not None else []):
        res = minimize(land.cost, 2, opt, bounds=(low, high), init=init, seed=seed, record=True)
        runs.append(WatchedRun("EMPSO" if opt.beta is not None else "PSO", opt, res))
    return runs


def panel_iterations(iterations: int, panels: int = 6) -> list[int]:
    """``panels`` evenly spaced iterations from 0 to ``iterations``, both included (fewer if the run is short)."""
    return sorted({int(round(t)) for t in np.linspace(0, iterations, panels)})


def _plt() -> Any:
    from natsel._mpl import plt

    return plt()


def _surface(land: Landscape, grid: int = GRID) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grid, values and colour levels. Levels are quantiles of the values, so that steep landscapes
    (Rosenbrock, Himmelblau) show their valleys as clearly as flat ones show their ripples."""
    xmin, xmax, ymin, ymax = land.bounds
    x, y = np.meshgrid(np.linspace(xmin, xmax, grid), np.linspace(ymin, ymax, grid))
    z = np.asarray(land.fn(x.ravel(), y.ravel()), dtype=np.float64).reshape(x.shape)
    finite = z[np.isfinite(z)]
    if finite.size == 0:
        finite = np.zeros(1)
    levels = np.unique(np.quantile(finite, np.linspace(0, 1, LEVELS + 1)))
    if len(levels) < 2:
        levels = np.array([levels[0] - 1, levels[0] + 1])
    return x, y, z, levels


class _Scene:
    """One axes showing the landscape and the swarm at an iteration; ``show(t)`` moves the swarm."""

    def __init__(self, ax: Any, land: Landscape, surface: tuple[np.ndarray, ...], run: WatchedRun,
                 marker_size: float = 14, crisp: bool = False) -> None:
        import matplotlib.patheffects as pe
        from matplotlib.colors import BoundaryNorm, ListedColormap

        self.ax, self.run, self.traj = ax, run, run.result.trajectory
        x, y, z, levels = surface
        # Greys from dark (low cost) to white, without the near-black end so that blue arrows stay visible.
        cmap = ListedColormap(_plt().get_cmap("Greys_r")(np.linspace(0.12, 1.0, 256)))
        # BoundaryNorm: band i gets the i-th of evenly spaced greys whatever its values (the levels are quantiles).
        # crisp (the GIF): bands without anti-aliased edges and no contour lines: few colours, a small file.
        ax.contourf(x, y, z, levels=levels, cmap=cmap, norm=BoundaryNorm(levels, cmap.N), antialiased=not crisp)
        if not crisp:
            ax.contour(x, y, z, levels=levels[::4], colors="0.35", linewidths=0.3)
        xmin, xmax, ymin, ymax = land.bounds
        inside = [(mx, my) for mx, my in land.minima if xmin <= mx <= xmax and ymin <= my <= ymax]
        outline = [pe.withStroke(linewidth=3, foreground="black")]
        if inside:
            mx, my = np.array(inside).T
            # under the star but larger: when the swarm sits on the minimum, the cross's arms still show
            ax.plot(mx, my, "x", color="white", ms=marker_size * 1.05, mew=2.2, path_effects=outline,
                    zorder=5, label="true minimum")
        pos = self.traj.positions[0]
        self.quiver = ax.quiver(pos[:, 0], pos[:, 1], np.zeros(len(pos)), np.zeros(len(pos)), color="#1f5fff",
                                angles="xy", scale_units="xy", scale=1, width=0.006, headwidth=3.5,
                                headlength=4, minlength=0, zorder=3, label="velocity")
        self.dots = ax.scatter(pos[:, 0], pos[:, 1], s=marker_size, c="red", edgecolors="darkred",
                               linewidths=0.4, zorder=4, label="particles")
        (self.star,) = ax.plot([], [], "*", color="gold", mec="black", mew=0.8, ms=marker_size * 0.8,
                               zorder=6, label="swarm best")
        ax.set_xlim(xmin, xmax)
        ax.set_ylim(ymin, ymax)
        ax.tick_params(labelsize=7)

    def show(self, t: int) -> list[Any]:
        pos, vel = self.traj.positions[t], self.traj.velocities[t]
        self.dots.set_offsets(pos)
        self.quiver.set_offsets(pos)
        self.quiver.set_UVC(vel[:, 0], vel[:, 1])
        gx, gy = self.traj.gbest_positions[t]
        self.star.set_data([gx], [gy])
        self.ax.set_title(f"iteration {t}", fontsize=9)
        return [self.dots, self.quiver, self.star]


def _cost_text(run: WatchedRun, t: int) -> str:
    return f"swarm best {run.result.trajectory.gbest_costs[t]:.3g}"


def fig_panels(land: Landscape, run: WatchedRun, panels: int = 6) -> Any:
    """The landscape with the swarm at six evenly spaced iterations (first and last included), each
    panel titled ``iteration T``: particles (red), velocities (blue arrows, true length: the step the
    particle just took), swarm best (star), true minima (white crosses)."""
    plt = _plt()
    traj = run.result.trajectory
    iters = panel_iterations(traj.iterations, panels)
    fig, axes = plt.subplots(2, 3, figsize=(10, 6.6), sharex=True, sharey=True)
    surface = _surface(land)
    for ax, t in zip(axes.flat, iters, strict=False):
        scene = _Scene(ax, land, surface, run)
        scene.show(t)
        ax.text(0.02, 0.02, _cost_text(run, t), transform=ax.transAxes, fontsize=7,
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8})
    for ax in axes.flat[len(iters):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False, markerscale=0.8)
    fig.suptitle(f"{describe(run.options)} on {land.name}: {run.options.n_particles} particles", fontsize=11)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def write_gif(land: Landscape, run: WatchedRun, path: Path, fps: int = 8, dpi: int = 72,
              progress: bool = True) -> Path:
    """An animated GIF of the run: one frame per recorded state, iteration 0 (the start) to the last,
    so ``iterations + 1`` frames."""
    from matplotlib.animation import FuncAnimation, PillowWriter
    from tqdm import tqdm

    plt = _plt()
    traj = run.result.trajectory
    fig, ax = plt.subplots(figsize=(4.6, 4.6), dpi=dpi)  # the same dpi as the frames: no rescaled redraws
    scene = _Scene(ax, land, _surface(land, GIF_GRID), run, marker_size=18, crisp=True)
    note = ax.text(0.02, 0.02, "", transform=ax.transAxes, fontsize=8,
                   bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8})
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=4, fontsize=7, frameon=False, markerscale=0.7,
               handlelength=1.2, columnspacing=1.0)
    fig.suptitle(f"{describe(run.options)} on {land.name}", fontsize=9)
    # Fixed margins, not tight_layout: a figure with a layout engine is drawn twice per saved frame.
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.14, top=0.88)

    def frame(t: int) -> list[Any]:
        note.set_text(_cost_text(run, t))
        return [*scene.show(t), note]

    # FuncAnimation asks the canvas for a redraw after every frame, and the writer then renders the
    # frame again to grab it; on this off-screen figure the first render is wasted work (half the time).
    fig.canvas.draw_idle = lambda *args, **kwargs: None
    frames = traj.iterations + 1
    anim = FuncAnimation(fig, frame, frames=frames, blit=False, repeat=False)
    with tqdm(total=frames, desc="gif", unit="frame", disable=not progress, leave=False) as bar:
        anim.save(path, writer=PillowWriter(fps=fps), dpi=dpi,
                  progress_callback=lambda i, n: bar.update(1))
    plt.close(fig)
    return path


def fig_costs(land: Landscape, runs: list[WatchedRun]) -> Any:
    """The swarm's best cost per iteration (iteration 0: the best initial particle), one line per run.

    With a known minimum the curve is the gap ``best - minimum`` on a log scale; otherwise the best
    cost, on a log scale when it stays positive."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    gap = land.min_value is not None
    ys = [r.result.trajectory.gbest_costs - (land.min_value if gap else 0.0) for r in runs]
    positive = all(np.all(y[np.isfinite(y)] > 0) for y in ys)
    for r, y in zip(runs, ys, strict=True):
        ax.plot(np.arange(len(y)), np.where(y > 0, y, np.nan) if gap else y, lw=1.6,
                label=describe(r.options))
    if gap or positive:
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"best cost - minimum ({land.min_value:g})" if gap else "best cost")
    ax.set_title(f"{land.name}: the swarm's best cost per iteration", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def watch(land: Landscape, options: SwarmOptions, out: Path, *, seed: int = 0, compare: bool = False,
          gif: bool = True, progress: bool = True) -> tuple[list[WatchedRun], list[Path]]:
    """Run the swarm on ``land`` and write ``panels.png``, ``swarm.gif`` (unless ``gif=False``) and
    ``cost.png`` into ``out``. ``compare``: also run EMPSO (beta 0.9), or PSO when ``options`` is
    EMPSO, from the same start, and draw both cost curves. Returns the runs and the files written."""
    other = None
    if compare:
        other = replace(options, beta=None) if options.beta is not None else replace(options, beta=0.9)
    runs = run_swarms(land, options, seed, other)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    written.append(_save_png(fig_panels(land, runs[0]), out / "panels.png"))
    if gif:
        written.append(write_gif(land, runs[0], out / "swarm.gif", progress=progress))
    written.append(_save_png(fig_costs(land, runs), out / "cost.png"))
    return runs, written


def _save_png(fig: Any, path: Path, dpi: int = 90) -> Path:
    """Save as a palette PNG (256 colours, no dithering): a third of the size, no visible loss here."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    _plt().close(fig)
    buf.seek(0)
    with Image.open(buf) as im:
        im.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
            path, optimize=True)
    return path
