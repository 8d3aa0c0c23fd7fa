"""The chat's slash commands.

/help, /new, /sessions, /resume, /model, /cost, /memory, /undo and /exit.
Each command is a coroutine taking the chat's state (:class:`ChatState`, which the REPL's
``Repl`` is) and the rest of the line; it prints through the chat's view and returns
``"exit"`` to leave. A command's mistake (an unknown session, a bad fact id) is one red line:
the chat stays open.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from rich.table import Table

from morrow.agent.errors import AssistantError
from morrow.memory.errors import MemoryStoreError, NotStoredError

if TYPE_CHECKING:
    from morrow.agent.app import App
    from morrow.agent.chat.view import LiveView
    from morrow.agent.context.sessions import Session
    from morrow.agent.loop import TurnResult
    from morrow.agent.messages import Message
    from morrow.agent.providers.base import Provider
    from morrow.agent.safety.undo import Undoer
    from morrow.memory.store import Store

Outcome = Literal["exit"] | None


@dataclass
class Spent:
    """Tokens and dollars of the turns run in this chat."""

    turns: int = 0
    tokens: int = 0
    usd: float = 0.0
    last: TurnResult | None = None
    last_usd: float = 0.0


class ChatState(Protocol):
    """What the slash commands see of the chat."""

    app: App
    store: Store
    session: Session
    provider: Provider
    provider_name: str | None
    view: LiveView
    spent: Spent
    notes: list[str]

    @property
    def undoer(self) -> Undoer:
        """Undo over this session."""
        ...

    def open_session(self, session_id: str | None, *, new: bool) -> None:
        """Switch to another session."""

    async def use_provider(self, name: str | None) -> None:
        """Switch the provider for the rest of the chat."""


Run = Callable[[ChatState, str], Awaitable[Outcome]]


@dataclass(frozen=True)
class Command:
    """A slash command: what it does (for /help and completion) and how."""

    help: str
    run: Run
    usage: str = ""


async def _help(repl: ChatState, rest: str) -> Outcome:
    table = Table.grid(padding=(0, 2))
    for name, command in COMMANDS.items():
        table.add_row(f"{name} {command.usage}".strip(), command.help)
    repl.view.show(table)
    repl.view.note(
        "Esc-Enter or a trailing \\ starts a new line; Ctrl-C cancels a turn; Ctrl-D leaves."
    )
    return None


async def _new(repl: ChatState, rest: str) -> Outcome:
    repl.open_session(rest.strip() or None, new=True)
    repl.view.note(f"(new session {repl.session.id})", style="")
    return None


async def _sessions(repl: ChatState, rest: str) -> Outcome:
    sessions = repl.store.sessions()[:20]
    if not sessions:
        repl.view.note("no stored sessions")
        return None
    table = Table(box=None, padding=(0, 2), show_edge=False)
    zone = repl.app.config.user.zone
    for column in ("", "id", f"updated ({zone.key})", "turns", "title"):
        table.add_column(column, no_wrap=column != "title")
    for info in sessions:
        mark = "*" if info.id == repl.session.id else ""
        when = info.updated.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        table.add_row(mark, info.id, when, str(info.turns), (info.title or "(empty)")[:60])
    repl.view.show(table)
    repl.view.note("/resume ID continues one (* is this one)")
    return None


async def _resume(repl: ChatState, rest: str) -> Outcome:
    wanted = rest.strip()
    if not wanted:
        raise AssistantError("/resume needs a session id, or its first letters (see /sessions)")
    session_id = _unique_session(repl.store, wanted)
    repl.open_session(session_id, new=False)
    turns = repl.session.info.turns
    repl.view.note(f"(session {session_id} resumed: {turns} earlier turn{'s' * (turns != 1)})")
    for role, text in last_turns(repl.session.history):
        repl.view.note(f"{'you' if role == 'user' else 'morrow'}: {text}")
    return None


def _unique_session(store: Store, wanted: str) -> str:
    """The id of the one session whose id is ``wanted`` or starts with it."""
    from morrow.agent.context.sessions import no_such_session

    ids = [info.id for info in store.sessions()]
    if wanted in ids:
        return wanted
    found = [i for i in ids if i.startswith(wanted)]
    if not found:
        raise no_such_session(wanted)
    if len(found) > 1:
        shown = ", ".join(found[:5]) + (" ..." if len(found) > 5 else "")
        raise AssistantError(f"{wanted!r} starts {len(found)} session ids ({shown}): say more")
    return found[0]


def last_turns(history: list[Message], turns: int = 2, width: int = 160) -> list[tuple[str, str]]:
    """What was said in the last ``turns`` turns: (role, first line of the text), oldest first."""
    said: list[tuple[str, str]] = [
        (m.role, m.text) for m in history if m.role in ("user", "assistant") and m.text
    ]
    starts = [i for i, (role, _) in enumerate(said) if role == "user"]
    shown = said[starts[-turns] :] if len(starts) >= turns else said
    lines: list[tuple[str, str]] = []
    for role, text in shown:
        line = " ".join(text.split())
        lines.append((role, line if len(line) <= width else line[: width - 1] + "…"))
    return lines


async def _model(repl: ChatState, rest: str) -> Outcome:
    providers = repl.app.config.providers
    wanted = rest.split()
    if not wanted:
        current = repl.provider_name or "the configured chain"
        repl.view.note(f"using {current}: {repl.provider.name} {repl.provider.model}", style="")
        for p in providers:
            repl.view.note(f"  {p.name}: {p.kind} {p.model}")
        repl.view.note("/model NAME switches to that provider; /model NAME MODEL also its model")
        return None
    name, model = wanted[0], (wanted[1] if len(wanted) > 1 else None)
    chosen = next((p for p in providers if p.name == name), None)
    if chosen is None:
        known = ", ".join(p.name for p in providers) or "none configured"
        raise AssistantError(f"no provider named {name!r} (known: {known})")
    if model is not None and model != chosen.model:
        changed = [p.model_copy(update={"model": model}) if p is chosen else p for p in providers]
        repl.app.config = repl.app.config.model_copy(update={"providers": changed})
    await repl.use_provider(name)
    repl.view.note(f"now using {name}: {repl.provider.model} (for this chat)", style="")
    return None


async def _cost(repl: ChatState, rest: str) -> Outcome:
    spent, last = repl.spent, repl.spent.last
    if last is None:
        repl.view.note("no turn has finished in this chat yet")
    else:
        u = last.usage
        repl.view.note(
            f"last turn: {u.total_tokens:,} tokens ({u.input_tokens:,} in, "
            f"{u.output_tokens:,} out, {u.cache_read_tokens:,} cached), "
            f"${spent.last_usd:.4f}, {last.steps} step(s) on {last.provider}/{last.model}",
            style="",
        )
        repl.view.note(
            f"this chat: {spent.turns} turn(s), {spent.tokens:,} tokens, ${spent.usd:.4f}",
            style="",
        )
    from morrow.memory.ledger import Ledger

    try:
        total = Ledger(repl.store).totals(session=repl.session.id)
    except MemoryStoreError as error:
        repl.view.note(f"(the usage ledger cannot be read: {error})")
        return None
    if total.requests:
        repl.view.note(
            f"session {repl.session.id} in all: {total.requests} request(s), "
            f"{total.tokens:,} tokens, ${total.cost_usd:.4f}",
            style="",
        )
    return None


async def _memory(repl: ChatState, rest: str) -> Outcome:
    from morrow.memory.facts import Facts

    action, _, argument = rest.strip().partition(" ")
    facts = Facts(repl.store)
    if action == "forget":
        if not argument.strip().isdigit():
            raise AssistantError("/memory forget needs a fact id (a number, see /memory)")
        try:
            gone = facts.forget(int(argument))
        except NotStoredError:
            raise AssistantError(f"no remembered fact with id {argument.strip()}") from None
        repl.view.note(f"forgot [{gone.id}] {gone.text}", style="")
        return None
    if action:
        raise AssistantError("/memory lists the facts; /memory forget ID deletes one")
    listed = facts.all()
    if not listed:
        repl.view.note('nothing remembered yet (say "remember that ...")')
    for fact in listed:
        repl.view.note(f"[{fact.id}] {fact.text}", style="")
        repl.view.note(f"     you said: «{fact.quote}» (session {fact.session_id})")
    return None


async def _undo(repl: ChatState, rest: str) -> Outcome:
    outcome = await asyncio.to_thread(repl.undoer.undo, repl.session.history)
    repl.view.note(outcome.message, style="green" if outcome.undone else "yellow")
    if outcome.undone:
        repl.notes.append(f"/undo: {outcome.message}")
    return None


async def _exit(repl: ChatState, rest: str) -> Outcome:
    return "exit"


COMMANDS: dict[str, Command] = {
    "/help": Command("the commands", _help),
    "/new": Command("start a new session", _new, "[ID]"),
    "/sessions": Command("the stored sessions, newest first", _sessions),
    "/resume": Command("continue a stored session (its id or first letters)", _resume, "ID"),
    "/model": Command(
        "show or switch the provider (and model) for this chat", _model, "[NAME [MODEL]]"
    ),
    "/cost": Command("tokens and cost of the last turn and of this chat", _cost),
    "/memory": Command(
        "the remembered facts; /memory forget ID deletes one", _memory, "[forget ID]"
    ),
    "/undo": Command("revert the last reversible change (never a send)", _undo),
    "/exit": Command("leave (also Ctrl-D)", _exit),
}
ALIASES = {"/quit": "/exit", "/q": "/exit", "/?": "/help"}


async def dispatch(repl: ChatState, line: str) -> Outcome:
    """Run the slash command on ``line``; an unknown one or a failure is one line."""
    name, _, rest = line.partition(" ")
    name = ALIASES.get(name, name)
    command = COMMANDS.get(name)
    if command is None:
        repl.view.note(f"unknown command {name}; /help lists them", style="red")
        return None
    try:
        return await command.run(repl, rest)
    except (AssistantError, MemoryStoreError) as error:
        repl.view.note(f"morrow: {error}", style="red")
        return None
