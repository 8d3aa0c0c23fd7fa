"""The non-interactive commands: ``ask``, ``tools list``, ``tools call`` and ``doctor``.

Each takes the parsed arguments and returns an exit code; output goes to stdout, one-line
errors are raised as :class:`~agent.errors.AssistantError` and printed by the CLI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, TextIO

from agent.app import App
from agent.errors import AssistantError, ConfigError, UsageError
from agent.loop import Limits, Observer, TurnResult, run_turn
from agent.messages import ToolCallPart


class _Printer(Observer):
    """Streams the answer to stdout; text of a step that restarts is taken back.

    A step restarts (a retry or a failover after text was streamed) before it completes. On a
    terminal, the step's text is shown live and erased on a restart (``(restarting…)`` goes to
    stderr). To a pipe or a file, each step's text is held until the step is complete, so the
    output never holds anything twice.
    """

    def __init__(
        self, out: TextIO | None = None, err: TextIO | None = None, *, live: bool | None = None
    ) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.live = self.out.isatty() if live is None else live
        self.wrote = False
        self._step: list[str] = []  # this step's text: shown (live) or held back (pipe)
        self._column = 0  # the cursor's column (live)
        self._origin = 0  # the column where this step's text began (live)

    def text(self, delta: str) -> None:
        if self.live:
            if not self._step:
                self._origin = self._column
            self._emit(delta)
        self._step.append(delta)

    def step_started(self, step: int) -> None:
        self.finish()

    def tool_started(self, call: ToolCallPart) -> None:
        self.finish()

    def step_restarted(self, step: int, provider: str, reason: str) -> None:
        if not "".join(self._step):
            return  # nothing was shown: the restart stays invisible
        if self.live:
            self.out.write(_erase("".join(self._step), self._origin))
            self.out.flush()
            self._column = self._origin
        self._step.clear()
        self.err.write(f"(restarting… {provider}: {reason.splitlines()[0][:200]})\n")
        self.err.flush()

    def finish(self) -> None:
        """The step's text is final: write what was held back."""
        if not self.live:
            self._emit("".join(self._step))
        self._step.clear()

    def _emit(self, text: str) -> None:
        if not text:
            return
        self.out.write(text)
        self.out.flush()
        self.wrote = True
        _, newline, tail = text.rpartition("\n")
        self._column = len(tail) if newline else self._column + len(tail)


def _erase(text: str, origin: int) -> str:
    """ANSI codes that erase ``text``, written from column ``origin`` up to the cursor."""
    import shutil

    width = max(1, shutil.get_terminal_size().columns)
    rows, column = 0, origin
    for char in text:
        if char == "\n":
            rows, column = rows + 1, 0
            continue
        if column >= width:  # the terminal wraps before the character that does not fit
            rows, column = rows + 1, 0
        column += 1
    up = f"\x1b[{rows}A" if rows else ""
    return f"{up}\x1b[{origin + 1}G\x1b[J"


def run_ask(args: argparse.Namespace) -> int:
    """``morrow ask TEXT``: one turn; the answer on stdout (or JSON with ``--json``)."""
    app = App.load(home=args.home, config=args.config)
    printer = None if args.json else _Printer()
    result, session_id = asyncio.run(_ask(app, args, printer))
    if printer is not None:
        printer.finish()
    if args.json:
        payload = {**_result_json(result), "session": session_id}
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        if printer is None or not printer.wrote:
            sys.stdout.write(result.answer)
        print()
        _explain_stop(result)
    return 0


async def _ask(
    app: App, args: argparse.Namespace, printer: _Printer | None
) -> tuple[TurnResult, str]:
    """Run the turn in its session, saved whatever the turn's outcome.

    ``--session ID`` continues (or creates) that session; ``--new`` starts one and prints its
    id on stderr; with neither, a fresh session is started and stored without a word (it is
    listed by ``morrow memory sessions`` and in ``--json`` output).
    """
    from agent.sessions import Session, open_store

    provider = app.provider(args.provider)
    recorder = open_recorder(args.record, app)
    store = open_store(app)
    try:
        session = Session.open(
            app, store, provider, session_id=args.session, new=args.new, provider_name=args.provider
        )
        if args.new:
            print(f"morrow: session {session.id}", file=sys.stderr)
        turn = run_turn(
            session.history,
            args.text,
            provider=recorder.wrap(provider),
            tools=app.tools(),
            workspace=app.workspace(),
            gate=recorder.watch(app.gate(interactive=False)),
            system=app.system_prompt(session.prompt_facts(args.text)),
            limits=Limits(max_steps=app.config.agent.max_steps),
            observer=printer,
            stream=app.config.agent.stream and not args.no_stream,
            context=session.window,
        )
        try:
            return await session.run(args.text, turn), session.id
        finally:
            recorder.turn_done(session.history)
    finally:
        store.close()
        await provider.aclose()


class _NotRecording:
    """What ``open_recorder`` gives without ``--record``: every hook lets things through."""

    def wrap(self, provider: Any) -> Any:
        return provider

    def watch(self, gate: Any) -> Any:
        return gate

    def turn_done(self, history: Any) -> None:
        pass


def open_recorder(path: str | None, app: App) -> Any:
    """``--record FILE``: the trajectory recorder the ``morrow.recorder`` entry point provides.

    ``agent`` does not import ``evals`` (it sits above); the recorder plugs in like the
    ``eval`` command does. It wraps the provider, watches each turn's approval gate and writes
    the trajectory after every turn (``turn_done``). Without a path, nothing is recorded.
    """
    if not path:
        return _NotRecording()
    from importlib.metadata import entry_points

    for entry in entry_points(group="morrow.recorder"):
        return entry.load()(path, app)
    raise UsageError("--record needs the evals package (morrow's eval tools), not installed")


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
    try:
        output = asyncio.run(_call_through_gate(app, tool, validated, args))
    except (ToolError, ToolRetry) as exc:
        raise AssistantError(f"{args.name}: {exc}") from None
    print(json.dumps(json.loads(output), indent=2, ensure_ascii=False))
    return 0


async def _call_through_gate(app: App, tool: Any, validated: Any, args: argparse.Namespace) -> str:
    """One tool call through the approval gate and the effect journal, like the loop's.

    ``--approve`` is the user's explicit approval of exactly this action (shown on stderr);
    without it an effect is refused. The ``--args`` JSON counts as the user's own words.
    """
    import uuid

    from agent.approvals import ApprovalGate, ApprovalRequest, Decision
    from agent.messages import Message

    workspace = app.workspace()
    if tool.effect_for(validated) == "read":
        result: str = await tool.run(workspace, validated)
        return result

    async def approved(request: ApprovalRequest) -> Decision:
        return Decision(approved=True, reason="approved on the command line (--approve)")

    ask = approved if args.approve else None
    gate = ApprovalGate(mode="ask" if args.approve else "deny", ask=ask)
    call_id = f"cli-{uuid.uuid4().hex[:12]}"
    request = await gate.review(
        tool, validated, call_id, workspace=workspace, history=[Message.user(args.args)]
    )
    decision = await gate.decide(request)
    if not decision.approved:
        raise AssistantError(
            f"{args.name} has a {request.effect} effect; nothing was done (add --approve to "
            f"allow it). The action:\n{request.describe()}"
        )
    print(f"morrow: approved (--approve):\n{request.describe()}", file=sys.stderr)
    return await gate.run(call_id, tool, validated, workspace)


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
    problems = _doctor_providers(app, offline=getattr(args, "offline", False))
    problems += _doctor_backends(app)
    print("ok" if not problems else f"{problems} problem(s) found")
    return 0 if not problems else 1


def _doctor_providers(app: App, *, offline: bool = False) -> int:
    import time

    from agent.config import api_key_for
    from agent.health import describe
    from agent.reachability import check

    providers = app.config.providers
    health, now = app.health(), time.time()
    if not providers:
        print("providers: none configured (briefings fall back to the offline digest)")
        return 0
    problems = 0
    for index, provider in enumerate(providers):
        where = f" at {provider.base_url}" if provider.base_url else ""
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
            print(f"  {reach.detail}")
        print(f"  health: {describe(health.get(provider.name), now)}")
    order = health.order([p.name for p in providers])
    if order != [p.name for p in providers]:
        print(f"  next run tries them in this order: {', '.join(order)}")
    _doctor_usage(app)
    return problems


def _doctor_usage(app: App) -> None:
    """Today's usage from the ledger, against the day budget."""
    from memory.ledger import Ledger, LedgerError

    path = app.paths.home / "state" / "usage.sqlite"
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
    if not path.exists():
        print(f"usage:    nothing recorded yet{limit_text}")
        return
    try:
        with Ledger(path) as ledger:
            today = ledger.totals(day=app.today())
    except LedgerError as error:
        print(f"usage:    UNREADABLE: {error}")
        return
    print(
        f"usage:    today {today.requests} requests, {today.tokens:,} tokens, "
        f"${today.cost_usd:.4f}{limit_text}"
    )


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
