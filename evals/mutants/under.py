"""Run a morrow command with a mutant applied: ``python -m morrow.evals.mutants.under NAME ARGS``.

``python -m morrow.evals.mutants.under send-drops-cc eval run core`` is ``morrow eval run core``
in a process where ``send_email`` drops Cc. Exit 3 when the mutant cannot be applied.
"""

from __future__ import annotations

import sys

from morrow.evals.mutants.catalog import NotApplied, mutant

NOT_APPLIED = 3


def main(argv: list[str]) -> int:
    """Apply ``argv[0]`` and run the morrow command line ``argv[1:]``."""
    from morrow.agent.cli import main as morrow

    if not argv:
        sys.stderr.write("usage: python -m morrow.evals.mutants.under MUTANT MORROW-ARGS...\n")
        return 2
    try:
        mutant(argv[0]).apply()
    except (KeyError, NotApplied) as exc:
        sys.stderr.write(f"mutant not applied: {exc}\n")
        return NOT_APPLIED
    return morrow(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
