"""``morrow memory``: see and delete what morrow keeps about you.

```
morrow memory list [--json]                       remembered facts, with the words they rest on
morrow memory sessions [--json]                   stored conversations
morrow memory forget ID                           delete one fact
morrow memory export [--session ID] [--out FILE]  everything kept, as JSON
morrow memory purge (--session ID | --all) [--yes]
```

``purge`` deletes a session (its messages, summaries, token usage, the facts learned in it,
its effect journal, usage ledger and undo state) or everything (also the journal rows of no
session, provider health and the chat's input history), then compacts the file so the text is
gone from disk. Only argparse is imported when the parser is built; each command imports what
it needs when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from morrow.agent.app import App

Handler = Callable[[argparse.Namespace], int]


def register(commands: Any) -> None:
    """Add ``memory`` and its actions to the CLI's subparsers."""
    memory = commands.add_parser("memory", help="see, export and delete what morrow keeps")
    actions = memory.add_subparsers(dest="memory_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="remembered facts and where you said them")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=run_list)
    sessions = actions.add_parser("sessions", help="stored conversations")
    sessions.add_argument("--json", action="store_true", help="print JSON")
    sessions.set_defaults(handler=run_sessions)
    forget = actions.add_parser("forget", help="delete one remembered fact")
    forget.add_argument("id", help="the fact's id (see `morrow memory list`)")
    forget.set_defaults(handler=run_forget)
    export = actions.add_parser("export", help="everything kept, as JSON")
    export.add_argument("--session", help="only this session (and the facts learned in it)")
    export.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    export.set_defaults(handler=run_export)
    purge = actions.add_parser("purge", help="delete a session, or everything, for good")
    which = purge.add_mutually_exclusive_group(required=True)
    which.add_argument("--session", help="delete this session and what was learned in it")
    which.add_argument("--all", action="store_true", help="delete every session and fact")
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    purge.set_defaults(handler=run_purge)


def _app(args: argparse.Namespace) -> App:
    from morrow.agent.app import App

    app = App.load(home=args.home, config=args.config)
    args.zone = app.config.user.zone  # times are shown in the user's zone, as in the chat
    return app


def _local(moment: Any, args: argparse.Namespace) -> str:
    """A stored time in the user's zone (the chat's /sessions shows the same)."""
    return str(moment.astimezone(args.zone).strftime("%Y-%m-%d %H:%M"))


def _say(text: str, *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")


def _failed(exc: Exception) -> Exception:
    from morrow.agent.errors import AssistantError

    return AssistantError(str(exc))


def run_list(args: argparse.Namespace) -> int:
    """``morrow memory list``: every fact, its id, and the user's words it rests on."""
    from morrow.memory.facts import Facts

    with _app(args) as app:
        facts = Facts(app.store()).all()
    if args.json:
        _say(json.dumps([_fact_json(f) for f in facts], ensure_ascii=False, indent=2))
        return 0
    if not facts:
        _say("no remembered facts")
    for fact in facts:
        said = _local(fact.said_at, args)
        _say(f"[{fact.id}] {fact.text}")
        _say(f"     you said: «{fact.quote}» ({said}, session {fact.session_id})")
    return 0


def _fact_json(fact: Any) -> dict[str, Any]:
    return {
        "id": fact.id,
        "fact": fact.text,
        "quote": fact.quote,
        "session": fact.session_id,
        "message": fact.message_ref,
        "said_at": fact.said_at.isoformat(),
        "created": fact.created.isoformat(),
    }


def run_sessions(args: argparse.Namespace) -> int:
    """``morrow memory sessions``: every stored conversation, most recent first."""
    with _app(args) as app:
        sessions = app.store().sessions()
    if args.json:
        rows = [
            {
                "id": s.id,
                "title": s.title,
                "created": s.created.isoformat(),
                "updated": s.updated.isoformat(),
                "provider": s.provider,
                "model": s.model,
                "turns": s.turns,
                "messages": s.messages,
            }
            for s in sessions
        ]
        _say(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not sessions:
        _say("no stored sessions")
    else:
        _say(f"id, last updated ({args.zone.key}), turns, title")
    for s in sessions:
        when = _local(s.updated, args)
        title = s.title or "(empty)"
        _say(f"{s.id}  {when}  {s.turns:>4} turns  {title[:60]}")
    return 0


def run_forget(args: argparse.Namespace) -> int:
    """``morrow memory forget ID``: delete one fact."""
    from morrow.agent.errors import UsageError
    from morrow.memory.errors import NotStoredError
    from morrow.memory.facts import Facts

    if not args.id.strip().isdigit():
        raise UsageError(f"a fact id is a number (see `morrow memory list`), not {args.id!r}")
    with _app(args) as app:
        try:
            fact = Facts(app.store()).forget(int(args.id))
        except NotStoredError as exc:
            raise _failed(exc) from None
    _say(f"forgot [{fact.id}] {fact.text}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    """``morrow memory export``: everything kept (or one session) as JSON."""
    from morrow.agent.context.sessions import no_such_session
    from morrow.memory.errors import MemoryStoreError
    from morrow.memory.export import export

    with _app(args) as app:
        if args.session and app.store().session(args.session) is None:
            raise no_such_session(args.session)
        try:
            document = export(app.store(), args.session)
        except MemoryStoreError as exc:
            raise _failed(exc) from None
    text = json.dumps(document, ensure_ascii=False, indent=2)
    if args.out:
        _write_private(args.out, text + "\n")
        _say(f"exported to {args.out}", err=True)
    else:
        _say(text)
    return 0


def _write_private(path: str, text: str) -> None:
    """Write ``text`` to ``path`` readable by the user only (it holds their conversations)."""
    from pathlib import Path

    from morrow.memory.files import atomic_write

    try:
        atomic_write(Path(path), text, mode=0o600)
    except OSError as exc:
        raise _failed(OSError(f"cannot write {path}: {exc.strerror}")) from None


def run_purge(args: argparse.Namespace) -> int:
    """``morrow memory purge``: delete a session or everything, then compact the file."""
    from morrow.agent.errors import UsageError

    what = f"session {args.session}" if args.session else "every session and every fact"
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(f"purge would delete {what}; add --yes to confirm")
        answer = input(f"Delete {what} for good? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            _say("nothing deleted")
            return 0
    from morrow.agent.context.sessions import no_such_session

    with _app(args) as app:
        store = app.store()
        if args.session and store.session(args.session) is None:
            raise no_such_session(args.session)
        purged = store.purge(args.session)
        if args.all:  # every line typed in the chat, kept by its input history
            (app.paths.home / "state" / "chat-history").unlink(missing_ok=True)
    _say(
        f"deleted {purged.sessions} session(s), {purged.messages} message(s), "
        f"{purged.summaries} summary(ies), {purged.facts} fact(s), {purged.usage} usage "
        f"record(s) and {purged.effects} journal entry(ies)"
    )
    return 0
