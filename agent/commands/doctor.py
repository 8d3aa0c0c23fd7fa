"""``morrow doctor``: one screen saying whether the setup can work.

The home (a folder morrow can write, readable by the user alone), the config, each provider's
key and whether its server answers, the providers' health and today's usage against the
budget, the calendar and the mailbox (a local file or Maildir that is not there is named, with
how to make one, never counted as an empty day), each external MCP server (started, its tools
listed, stopped), and the effects whose outcome is not known (each looked up in Sent or on the
calendar first).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from morrow.agent.app import App
from morrow.agent.errors import ConfigError, StoreError
from morrow.agent.logs import scrub


def run_doctor(args: argparse.Namespace) -> int:
    """``morrow doctor``: one screen saying whether the setup can work."""
    from morrow.agent.config import Paths, load_config

    paths = Paths.resolve(home=args.home, config=args.config)
    home_problem = _home_problem(paths.home)
    print(f"home:     {paths.home}" + (f" ({home_problem})" if home_problem else ""))
    print(f"logs:     {paths.logs / 'morrow.jsonl'}")
    exists = "found" if paths.config.exists() else "not found, using defaults"
    print(f"config:   {paths.config} ({exists})")
    try:
        config = load_config(paths)
    except ConfigError as exc:
        print(f"  invalid: {exc}")
        return exc.exit_code
    print(f"timezone: {config.user.timezone}, working hours {config.user.working_hours}")
    with App(paths=paths, config=config) as app:
        problems = _doctor_store(app)
        problems += _doctor_providers(app, offline=getattr(args, "offline", False))
        problems += _doctor_backends(app) + bool(home_problem)
        problems += _doctor_mcp(app)
        problems += _doctor_effects(app)
    print("ok" if not problems else f"{problems} problem(s) found")
    return 0 if not problems else 1


def _doctor_store(app: App) -> int:
    """Whether the store opens; nothing is printed when it does (it is not a setting)."""
    try:
        app.store()
    except StoreError as exc:
        print(f"store:    UNUSABLE: {exc}")
        return 1
    return 0


def _doctor_providers(app: App, *, offline: bool = False) -> int:
    import time

    from morrow.agent.config import api_key_for
    from morrow.agent.providers.health import HealthStore, describe
    from morrow.agent.providers.reachability import check

    providers = app.config.providers
    if not providers:
        print("providers: none configured (briefings fall back to the offline digest)")
        return 0
    try:
        health: HealthStore | None = app.health()
    except StoreError:  # said by _doctor_store
        health = None
    problems, now = 0, time.time()
    for index, provider in enumerate(providers):
        where = f" at {scrub(provider.base_url)}" if provider.base_url else ""
        secret = None
        try:
            secret = api_key_for(provider, index, str(app.paths.config))
            key = "key present" if provider.api_key_env else "no key needed"
        except ConfigError:
            key, problems = f"MISSING key: ${provider.api_key_env} is not set", problems + 1
        print(f"provider {provider.name}: {provider.kind} {provider.model}{where}; {key}")
        if secret is not None and not offline:  # one cheap request (the model list), 5 s
            reach = check(provider, secret)
            problems += not reach.ok
            print(f"  {scrub(reach.detail)}")
        if health is not None:
            print(f"  health: {describe(health.get(provider.name), now)}")
    order = health.order([p.name for p in providers]) if health is not None else []
    if order and order != [p.name for p in providers]:
        print(f"  next run tries them in this order: {', '.join(order)}")
    _doctor_usage(app)
    return problems


def _doctor_usage(app: App) -> None:
    """Today's usage from the ledger, against the day budget."""
    from morrow.memory.errors import MemoryStoreError
    from morrow.memory.ledger import Ledger

    budget = app.config.budget
    limits = [
        f"{name} {value:g}"
        for name, value in (
            ("per_day_usd", budget.per_day_usd),
            ("per_day_tokens", budget.per_day_tokens),
            ("per_run_usd", budget.per_run_usd),
            ("per_run_tokens", budget.per_run_tokens),
        )
        if value is not None
    ]
    limit_text = f" (budget: {', '.join(limits)})" if limits else " (no budget set)"
    try:
        ledger = Ledger(app.store())
        ever, today = ledger.totals(), ledger.totals(day=app.today())
    except (StoreError, MemoryStoreError) as error:
        print(f"usage:    UNREADABLE: {error}")
        return
    if not ever.requests:
        print(f"usage:    nothing recorded yet{limit_text}")
        return
    print(
        f"usage:    today {today.requests} requests, {today.tokens:,} tokens, "
        f"${today.cost_usd:.4f}{limit_text}"
    )


def _home_problem(home: Path) -> str | None:
    """What is wrong with the home: not a folder, not writable, or open to other users."""
    import os
    import stat

    if not home.exists():
        return "not created yet: the first run creates it, private"
    if not home.is_dir():
        return "PROBLEM: not a folder"
    if not os.access(home, os.W_OK | os.X_OK):
        return "PROBLEM: not writable: briefings, sessions and logs cannot be kept"
    mode = stat.S_IMODE(home.stat().st_mode)
    if mode & 0o077:
        return f"PROBLEM: mode {mode:04o}, others can read your data: chmod 700 {home}"
    return None


def _doctor_backends(app: App) -> int:
    from datetime import timedelta

    from morrow.agent.backends import missing_sources
    from morrow.tools.errors import printable

    missing = missing_sources(app.config, app.paths)
    backends = {"calendar": app.config.calendar.backend, "email": app.config.email.backend}
    for line in missing:
        kind, _, text = line.partition(": ")
        print(f"{kind + ':':<9} {backends[kind]}, MISSING: {text}")
    problems = len(missing)
    workspace = app.workspace()
    now = workspace.now()
    # a single missing calendar file is the whole calendar; one of several is one note
    if app.config.calendars or not any(line.startswith("calendar:") for line in missing):
        try:
            from morrow.tools.calendar.backend import notes_of

            events = workspace.calendar.list_events(now, now + timedelta(days=7))
            kinds = ", ".join(f"{c.name} ({c.backend})" for c in app.config.calendars)
            print(
                f"calendar: {kinds or app.config.calendar.backend}, {len(events)} events in the "
                "next 7 days"
            )
            notes = notes_of(events)
            for note in notes[:10]:  # an event that cannot be read, a series cut, a calendar down
                print(f"  {note}")
            problems += bool(notes)
        except Exception as exc:  # doctor reports every failure instead of stopping at one
            print(f"calendar: FAILED: {printable(exc)}")
            problems += 1
    if not any(line.startswith("email:") for line in missing):
        try:
            unread = workspace.mail.search(None, None, True, None, None, None, 100)
            print(f"email:    {app.config.email.backend}, {len(unread)} unread")
        except Exception as exc:  # same as above
            print(f"email:    FAILED: {printable(exc)}")
            problems += 1
    return problems


def _doctor_effects(app: App) -> int:
    """The effects whose outcome nobody knows (a crash, a lost connection): each a problem."""
    from morrow.agent.safety.journal import describe_settled
    from morrow.memory.errors import MemoryStoreError

    try:
        entries = app.journal().open(app.tools(external=False), app.tool_context())
    except StoreError:  # said by _doctor_store
        return 0
    except MemoryStoreError as exc:
        print(f"effects:  UNREADABLE: {exc}")
        return 1
    except Exception as exc:  # the backends to look them up in: said by _doctor_backends
        print(f"effects:  cannot be looked up: {exc}")
        return 1
    if not entries:
        print("effects:  none open")
        return 0
    unknown = sum(entry.status == "unknown" for entry in entries)
    print(f"effects:  {len(entries)} open, {unknown} with an outcome nobody knows:")
    for entry in entries:
        print(f"  {describe_settled(entry)}")
    return unknown


def _doctor_mcp(app: App) -> int:
    """Start each ``[[mcp.servers]]`` entry and list its tools: one line per server."""
    if not app.config.mcp.servers:
        return 0
    from morrow.agent.mcp.wiring import check_servers

    try:
        hub = app.mcp_hub()
    except ConfigError as exc:
        print(f"mcp:      invalid: {exc}")
        return 1
    assert hub is not None
    problems = 0
    try:
        for line, problem in check_servers(hub):
            print(line)
            problems += problem is not None
    finally:
        app.close()
    return problems
