"""Every loop the bench can run: the floor and morrow (variants.py) and the installed peers.

This module sits above both lists, so neither imports the other.
"""

from __future__ import annotations

import peers
import variants


def all_variants() -> list[str]:
    """Every variant this environment can run: the floor, morrow, and the installed peers."""
    installed = [f"{p}{s}" for p in peers.installed() for s in ("", "-stream")]
    return [*variants.VARIANTS, *installed]


def floor_of(name: str) -> str:
    """The raw loop a variant is compared with: streamed for streamed variants."""
    return "raw-stream" if name.endswith("-stream") else "raw"


def build(name: str, url: str) -> variants.Variant:
    """The variant called ``name``, pointed at the fake server at ``url``."""
    if name in variants.VARIANTS:
        return variants.build_own(name, url)
    return peers.build(name, url)
