"""Random search: every generation samples genomes uniformly from the space.

The baseline every tuner is measured against. It keeps natsel's promises: genomes depend only on
``(seed, generation)``, and no genome is planned twice (a known one is resampled).
"""

from __future__ import annotations

from natsel.strategies._base import PlanContext, Planned, Strategy
from natsel.strategies.genetic import all_known


class RandomStrategy(Strategy):
    """Uniform samples over the space (log-uniform for log ranges), never a known genome."""

    name = "random"
    supports_steady = True
    options_schema = {"max_retries": int}

    def plan(self, ctx: PlanContext) -> list[Planned] | None:
        retries = int(self.options.get("max_retries", 50))
        keys: set[str] = set()
        out: list[Planned] = []
        for i in range(ctx.population):
            first = i == 0 and ctx.generation == 0 and ctx.initial_genome is not None
            genome = ctx.space.complete(ctx.initial_genome, ctx.rng) if first else ctx.space.sample(ctx.rng)
            for _ in range(retries):
                k = ctx.space.key(genome)
                if k not in keys and not ctx.known(k):
                    break
                genome = ctx.space.sample(ctx.rng)
            keys.add(ctx.space.key(genome))
            out.append(Planned(genome, "initial" if first else "random"))
        return None if all_known(out, ctx.space, ctx.known) else out
