"""cProfile one variant (``run.py --profile VARIANT``): where does a run's time go?"""

from __future__ import annotations

import asyncio
import cProfile
import pstats

import loops
import variants


def run(name: str, url: str, iterations: int, logs: str) -> None:
    """Profile ``iterations`` runs of a variant (after a warm-up) and print the top functions."""
    if name.startswith("morrow"):
        variants.configure_logs(logs)
    profiler = cProfile.Profile()

    async def go() -> None:
        loop = loops.build(name, url)
        for _ in range(20):
            await loop.run()
        profiler.enable()
        for _ in range(iterations):
            await loop.run()
        profiler.disable()
        await loop.close()

    asyncio.run(go())
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(30)
