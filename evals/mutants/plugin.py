"""A pytest plugin that applies the mutant named by ``MORROW_MUTANT`` before the tests run.

``MORROW_MUTANT=send-drops-cc pytest -p morrow.evals.mutants.plugin tests/...``; without the
variable it does nothing. :mod:`morrow.evals.mutants.run` uses it for every mutant.
"""

from __future__ import annotations

import os

import pytest

from morrow.evals.mutants.catalog import mutant


def pytest_configure(config: pytest.Config) -> None:
    """Apply the mutant (a missing target stops the run with the reason)."""
    name = os.environ.get("MORROW_MUTANT")
    if name:
        mutant(name).apply()
