"""The non-interactive commands: ``ask``, ``tools list``, ``tools call`` and ``doctor``.

Each takes the parsed arguments and returns an exit code; output goes to stdout, one-line
errors are raised as :class:`~agent.errors.AssistantError` and printed by the CLI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from agent.app import App
from agent.errors import AssistantError, ConfigError, UsageError
from agent.loop import Limits, Observer, TurnResult, run_turn
from agent.messages import Message


class _Printer(Observer):
    """Streams the answer to stdout as it arrives."""

    def __init__(self) -> None:
        self.wrote = False

    def text(self, delta: str) -> None:
        sys.stdout.write(delta)
        sys.stdout.flush()
        self.wrote = self.wrote or bool(delta)


def run_ask(args: argparse.Namespace) -> int:
    """``morrow ask TEXT``: one turn; the answer on stdout (or JSON with ``--json``)."""
    app = App.load(home=args.home, config=args.config)
    printer = None if args.json else _Printer()
    result = asyncio.run(_ask(app, args, printer))
    if args.json:
        print(json.dumps(_result_json(result), ensure_ascii=False, indent=2))
    else:
        if printer is None or not printer.wrote:
            sys.stdout.write(result.answer)
        print()
        _explain_stop(result)
    return 0


async def _ask(app: App, args: argparse.Namespace, printer: _Printer | None) -> TurnResult:
    provider = app.provider(args.provider)
    history: list[Message] = []
    try:
        return await run_turn(
            history,
            args.text,
            provider=provider,
            tools=app.tools(),
            workspace=app.workspace(),
            gate=app.gate(interactive=False),
            system=app.system_prompt(),
            limits=Limits(max_steps=app.config.agent.max_steps),
            observer=printer,
            stream=app.config.agent.stream and not args.no_stream,
        )
    finally:
        await provider.aclose()


def _explain_stop(result: TurnResult) -> None:
    if result.stop == "max_tokens":
        print("morrow: the answer was cut off at the output token limit", file=sys.stderr)
    elif result.stop == "refusal":
        print("morrow: the model declined to answer", file=sys.stderr)


def _result_json(result: TurnResult) -> dict[str, Any]:
    return {
        "answer": result.answer,
        "stop": result.stop,
        "tool_calls": [
            {"name": c.name, "arguments": c.arguments, "is_error": c.is_error} for c in result.calls
        ],
        "usage": result.usage.model_dump(),
        "steps": result.steps,
        "provider": result.provider,
        "model": result.model,
    }


def run_tools_list(args: argparse.Namespace) -> int:
    """``morrow tools list``: every tool, its effect and its description (or schemas as JSON)."""
    app = App.load(home=args.home, config=args.config)
    tools = list(app.tools())
    if args.json:
        listing = [
            {
                "name": t.name,
                "effect": t.effect,
                "description": t.description,
                "parameters": t.parameters,
            }
            for t in tools
        ]
        print(json.dumps(listing, indent=2))
        return 0
    width = max(len(t.name) for t in tools)
    for t in tools:
        summary = t.description.split("\n")[0]
        print(f"{t.name:<{width}}  {t.effect:<5}  {summary}")
    return 0


def run_tools_call(args: argparse.Namespace) -> int:
    """``morrow tools call NAME --args JSON``: validate, gate and run one tool; print JSON."""
    from tools.errors import ToolError, ToolRetry

    app = App.load(home=args.home, config=args.config)
    tool = app.tools().get(args.name)
    if tool is None:
        raise UsageError(f"unknown tool {args.name!r} (see `morrow tools list`)")
    try:
        raw = json.loads(args.args)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--args is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise UsageError("--args must be a JSON object")
    try:
        validated = tool.validate(raw)
    except ToolRetry as exc:
        raise UsageError(f"{args.name}: {exc}") from None
    effect = tool.effect_for(validated)
    if effect != "read" and not args.approve:
        raise AssistantError(
            f"{args.name} has a {effect} effect; nothing was done (add --approve to allow it)"
        )
    try:
        output = asyncio.run(tool.run(app.workspace(), validated))
    except (ToolError, ToolRetry) as exc:
        raise AssistantError(f"{args.name}: {exc}") from None
    print(json.dumps(json.loads(output), indent=2, ensure_ascii=False))
    return 0


def run_doctor(args: argparse.Namespace) -> int:
    """``morrow doctor``: one screen saying whether the setup can work."""
    from agent.config import Paths, load_config

    paths = Paths.resolve(home=args.home, config=args.config)
    print(f"home:     {paths.home}")
    print(f"logs:     {paths.logs / 'morrow.jsonl'}")
    exists = "found" if paths.config.exists() else "not found, using defaults"
    print(f"config:   {paths.config} ({exists})")
    try:
        config = load_config(paths)
    except ConfigError as exc:
        print(f"  invalid: {exc}")
        return exc.exit_code
    app = App(paths=paths, config=config)
    print(f"timezone: {config.user.timezone}, working hours {config.user.working_hours}")
    problems = _doctor_providers(app) + _doctor_backends(app)
    print("ok" if not problems else f"{problems} problem(s) found")
    return 0 if not problems else 1


def _doctor_providers(app: App) -> int:
    from agent.config import api_key_for

    providers = app.config.providers
    if not providers:
        print("providers: none configured (briefings fall back to the offline digest)")
        return 0
    problems = 0
    for index, provider in enumerate(providers):
        where = f" at {provider.base_url}" if provider.base_url else ""
        try:
            api_key_for(provider, index, str(app.paths.config))
            key = "key present" if provider.api_key_env else "no key needed"
        except ConfigError:
            key, problems = f"MISSING key: ${provider.api_key_env} is not set", problems + 1
        print(f"provider {provider.name}: {provider.kind} {provider.model}{where}; {key}")
    return problems


def _doctor_backends(app: App) -> int:
    from datetime import timedelta

    workspace = app.workspace()
    problems = 0
    now = workspace.now()
    try:
        events = workspace.calendar.list_events(now, now + timedelta(days=7))
        print(f"calendar: {app.config.calendar.backend}, {len(events)} events in the next 7 days")
    except Exception as exc:  # doctor reports every failure instead of stopping at one
        print(f"calendar: FAILED: {exc}")
        problems += 1
    try:
        unread = workspace.mail.search(None, None, True, None, None, None, 100)
        print(f"email:    {app.config.email.backend}, {len(unread)} unread")
    except Exception as exc:  # same as above
        print(f"email:    FAILED: {exc}")
        problems += 1
    return problems
