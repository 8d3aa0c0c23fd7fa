"""The ``morrow eval`` and ``morrow replay`` commands (added through ``morrow.commands``).

```
morrow eval run SUITE [--replay | --script | --provider NAME] [--k N] [--json FILE]
                      [--case ID ...] [--record-dir DIR] [--judge] [--verbose]
morrow eval record SUITE [--case ID ...]     write the suite's golden trajectories from scripts
morrow eval compare A.json B.json            which cases changed verdict
morrow eval list                             the shipped suites
morrow replay FILE [--ignore-system]         replay one trajectory offline, report divergence
```

Exit codes: 0 when every case passed (for suites scored against a reference benchmark: when
every recorded verdict agrees by its benchmark version's rules; and for attack cases, when no
defended run let an attacker call through), 1 otherwise; ``compare`` exits 1 when a case that
passed now fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOG_FILE = "evals.jsonl"
"""Evals log here, beside morrow.jsonl: thousands of replayed steps are not the user's log."""


def register(commands: Any) -> None:
    """The ``morrow.commands`` entry point for ``eval``."""
    parser = commands.add_parser("eval", help="run eval suites, record and compare results")
    parser.set_defaults(log_file=LOG_FILE)
    actions = parser.add_subparsers(dest="eval_command", metavar="ACTION", required=True)

    run = actions.add_parser("run", help="run a suite and score it")
    run.add_argument("suite", help="a shipped suite (see `morrow eval list`) or a suite folder")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--replay", action="store_true", help="replay recordings offline (default)")
    mode.add_argument("--script", action="store_true", help="run every case's reference script")
    mode.add_argument("--provider", help="ask this configured provider (a live run)")
    run.add_argument("--k", type=int, default=1, help="attempts per case (live runs)")
    run.add_argument("--json", metavar="FILE", help="write the results as JSON")
    run.add_argument("--case", action="append", default=[], help="run only this case (repeat)")
    run.add_argument("--record-dir", metavar="DIR", help="where live attempts are recorded")
    run.add_argument("--judge", action="store_true", help="grade rubrics with the LLM judge")
    run.add_argument("--verbose", action="store_true", help="show every case's details")
    run.set_defaults(handler=run_eval)

    record = actions.add_parser("record", help="write a suite's golden trajectories")
    record.add_argument("suite")
    record.add_argument("--case", action="append", default=[], help="only this case (repeat)")
    record.set_defaults(handler=run_record)

    comparing = actions.add_parser("compare", help="which cases changed between two results")
    comparing.add_argument("before", help="a result file from --json")
    comparing.add_argument("after", help="another result file")
    comparing.set_defaults(handler=run_compare)

    listing = actions.add_parser("list", help="the shipped suites")
    listing.set_defaults(handler=run_list)


def register_replay(commands: Any) -> None:
    """The ``morrow.commands`` entry point for ``replay``."""
    parser = commands.add_parser("replay", help="replay a recorded session offline")
    parser.set_defaults(log_file=LOG_FILE)
    parser.add_argument("file", help="a trajectory file (from --record or an eval run)")
    parser.add_argument(
        "--ignore-system", action="store_true", help="do not compare the system prompt"
    )
    parser.set_defaults(handler=run_replay)


def run_eval(args: argparse.Namespace) -> int:
    """``morrow eval run``."""
    from morrow.agent.errors import UsageError
    from morrow.evals.catalog import load_suite
    from morrow.evals.report import render, to_json
    from morrow.evals.runner import RunOptions, run_suite

    if args.k < 1:
        raise UsageError("--k must be at least 1")
    if args.suite == "injection" and not args.provider:  # its own runner: every mode, a table
        from morrow.evals.agentdojo.injection import run_command

        with progress_bar("injection") as tick:
            return run_command(args, progress=tick)
    suite = load_suite(args.suite)
    options = RunOptions(
        mode="live" if args.provider else "script" if args.script else "replay",
        k=args.k if args.provider else 1,
        only=frozenset(args.case),
    )
    if args.provider or args.judge:
        _live_options(args, options, suite.name)
    unknown = options.only - {c.id for c in suite.cases}
    if unknown:
        raise UsageError(f"suite {suite.name} has no case {', '.join(sorted(unknown))}")
    with progress_bar(suite.name) as tick:
        options.progress = tick
        result = asyncio.run(run_suite(suite, options))
    print(render(result, verbose=args.verbose))
    if args.json:
        Path(args.json).write_text(json.dumps(to_json(result), indent=2) + "\n", encoding="utf-8")
    from morrow.evals.verdicts import succeeded

    return 0 if succeeded(result) else 1


@contextmanager
def progress_bar(suite: str) -> Iterator[Callable[[int, int, str], None]]:
    """A rich progress bar on stderr while a suite runs; nothing when stderr is no terminal.

    Yields the runners' ``progress(done, total, what)`` callback.
    """
    if not sys.stderr.isatty():
        yield lambda done, total, what: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn(f"[bold]{suite}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}", style="dim"),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("", total=None)

        def tick(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=what[:50])

        yield tick


def _live_options(args: argparse.Namespace, options: Any, suite: str) -> None:
    from datetime import UTC, datetime

    from morrow.agent.app import App
    from morrow.agent.providers.prices import PriceTable
    from morrow.evals.scoring.judge import Judge

    app = App.load(home=args.home, config=args.config)
    prices = PriceTable.for_config(app.config)
    options.cost = lambda t: sum(
        prices.cost(s.response.model, s.response.usage) for s in t.steps if s.response
    )
    if args.provider:
        options.provider = lambda: app.provider(args.provider)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        default = app.paths.home / "evals" / suite / stamp
        options.record_dir = Path(args.record_dir) if args.record_dir else default
        options.record_dir.mkdir(parents=True, exist_ok=True)
        print(f"recording attempts in {options.record_dir}", file=sys.stderr)
    if args.judge:
        options.judge = Judge(lambda: app.provider(None))


def run_record(args: argparse.Namespace) -> int:
    """``morrow eval record``: run each case's script and keep it as the golden trajectory."""
    from morrow.agent.errors import UsageError
    from morrow.evals.catalog import load_suite
    from morrow.evals.runner import RunOptions, run_case

    suite = load_suite(args.suite)
    if not suite.goldens:
        raise UsageError(f"suite {suite.name} plays recorded runs: it has no goldens to record")
    options = RunOptions(mode="script")
    failed = 0
    for case in suite.cases:
        if args.case and case.id not in args.case:
            continue
        attempt = asyncio.run(run_case(suite, case, options))
        if attempt.trajectory is None:
            print(f"  FAIL {case.id}: {attempt.error}")
            failed += 1
            continue
        path = suite.golden(case)
        golden = attempt.trajectory.model_copy(
            update={"world": case.world.relative_to(path.parent)}
        )
        golden.save(path)
        verdict = "ok" if attempt.passed else "recorded, but it does not pass its own checks"
        failed += not attempt.passed
        print(f"  {verdict:>4} {case.id} -> {path}")
    return 0 if not failed else 1


def run_compare(args: argparse.Namespace) -> int:
    """``morrow eval compare A B``."""
    from morrow.evals.report import compare, load_result

    text, ok = compare(load_result(Path(args.before)), load_result(Path(args.after)))
    print(text)
    return 0 if ok else 1


def run_list(args: argparse.Namespace) -> int:
    """``morrow eval list``."""
    from morrow.evals.catalog import load_suite, suite_names

    for name in suite_names():
        suite = load_suite(name)
        print(f"{name:<16} {len(suite.cases):>4} cases  {suite.description}")
    return 0


def run_replay(args: argparse.Namespace) -> int:
    """``morrow replay FILE``: replay offline; exit 1 with a diff when it diverges."""
    from morrow.evals.replay import replay
    from morrow.evals.trajectory import load_trajectory

    trajectory = load_trajectory(Path(args.file))
    result = asyncio.run(replay(trajectory, compare_system=not args.ignore_system))
    turns = len(result.trajectory.turns)
    steps = result.provider.served
    print(f"replayed {turns} turn(s), {steps} model step(s): same requests, same final world")
    return 0
