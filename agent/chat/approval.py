"""Approvals in the chat: the exact action on screen, then yes, no or edit.

Before an effect runs, the chat shows what it would do, in full: an email's recipients, subject
and whole body; an event's time (in the user's zone, and in the event's own zone when that
differs), attendees and whether invitations go out; the event, email or draft an id points at
(looked up, so "cancel_event 3f9a…" reads as the meeting it is). Anything the gate adds to the
request beyond the call itself (a warning about an untrusted recipient, say) is shown as a
warning line. Who is emailed, and how, is the backend's own fact (the preview's ``notified``
and ``delivery``, :mod:`morrow.tools.delivery`): on the local calendar file or a Maildir
without SMTP the box says that nothing goes out, and why, as the result will.

The user answers ``y``, ``n`` or ``e``: edit opens the editable fields (see
:func:`editable_text`) in ``$EDITOR`` or inline; the edited action is checked against the
tool's schema, its preview read again (the box shows the sender, recipients and who is told
for the edited action) and confirmed before it runs. An edit that is not valid is opened
again as the user left it, with the reason on top. For ``remember``, ``a`` approves it for
the rest of the chat. The answer goes back to the gate as its
:class:`~morrow.agent.safety.gate.Decision` (edited arguments included), which records it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from morrow.agent.chat.input import Reader
from morrow.agent.chat.view import LiveView
from morrow.agent.safety.gate import ApprovalRequest, Decision, recipients_of
from morrow.tools.base import ToolRegistry
from morrow.tools.context import ToolContext
from morrow.tools.errors import ToolRetry
from morrow.tools.workspace import Workspace

log = structlog.get_logger("morrow.repl")

# The fields a person may change, per tool; the long text field goes after a blank line.
EDITABLE = {
    "send_email": ("to", "cc", "bcc", "subject", "body"),
    "draft_email": ("to", "cc", "bcc", "subject", "body"),
    "create_event": ("title", "start", "end", "attendees", "location", "description"),
    "update_event": (
        "title",
        "start",
        "end",
        "location",
        "description",
        "add_attendees",
        "remove_attendees",
    ),
    "respond_to_event": ("comment",),
    "remember": ("fact",),
}
LONG_FIELDS = ("body", "description")
LISTS = ("to", "cc", "bcc", "attendees", "add_attendees", "remove_attendees")
_BASE_FIELDS = {"tool", "effect", "arguments", "call_id"}
_REVERSIBLE = {"create_event", "archive_email", "mark_email", "draft_email", "remember"}
ALWAYS = {"remember"}
"""Tools the user may approve for the rest of the chat (``a``): private and reversible."""


_NOT_SHOWN = ("body", "notified", "delivery", "addressed")


class Approver:
    """The chat's ``ask`` callback for the approval gate.

    Args:
        reader: where answers are read.
        view: where the action is shown.
        workspace: to look up what an id points at, and the user's zone.
        tools: to check an edited action.
        on_interrupt: called when the user presses Ctrl-C at the question (cancels the turn).
        always: tools the user approved for the rest of the chat (shared across turns).
    """

    def __init__(
        self,
        reader: Reader,
        view: LiveView,
        workspace: Workspace,
        tools: ToolRegistry,
        on_interrupt: Any = None,
        always: set[str] | None = None,
    ) -> None:
        self.reader = reader
        self.view = view
        self.workspace = workspace
        self.tools = tools
        self.on_interrupt = on_interrupt
        self.always = always if always is not None else set()

    async def __call__(self, request: ApprovalRequest) -> Decision:
        """Show the action and ask; return the decision (the gate records it)."""
        if request.tool in self.always and not request.needs_explicit_approval:
            self.view.note(f"({request.tool}: approved, as you said for this chat)")
            return self._record(request, Decision(True, "approved for this chat by the user"))
        original, edited = request, False
        while True:
            shown = await asyncio.to_thread(
                render, request, request.arguments, self.workspace, edited=edited
            )
            self.view.show(shown)
            choices = "[y]es / [n]o" + (" / [e]dit" if request.tool in EDITABLE else "")
            if request.tool in ALWAYS:
                choices += f" / [a]lways for {request.tool} in this chat"
            try:
                answer = await self.reader.answer(f"Do it? {choices} ")
            except KeyboardInterrupt:
                if self.on_interrupt is not None:
                    self.on_interrupt()
                return self._record(original, Decision(False, "the user interrupted the turn"))
            choice = (answer or "n").strip().lower()
            if choice in ("a", "always") and request.tool in ALWAYS:
                self.always.add(request.tool)
                choice = "y"
            if choice in ("y", "yes"):
                changed = dict(request.arguments) if edited else None
                return self._record(original, Decision(True, arguments=changed))
            if choice in ("n", "no", ""):
                return self._record(original, Decision(False, "the user said no"))
            if choice in ("e", "edit") and request.tool in EDITABLE:
                revised = await self._edit(request)
                if revised is not None:
                    request, edited = revised, True
                continue
            self.view.note(f"Please answer {choices}.")

    async def _edit(self, request: ApprovalRequest) -> ApprovalRequest | None:
        """The request for the action as the user edited it; None when the edit was dropped.

        An edit that is not valid is opened again as the user left it, the reason on top.
        """
        text = editable_text(request.tool, request.arguments)
        while True:
            edited = await self.reader.edit(text)
            if edited is None or edited == text:  # given up, or saved as it was offered
                self.view.note("Edit abandoned; the action is unchanged.")
                return None
            try:
                changed = parse_edited(request.tool, request.arguments, _uncommented(edited))
                return await self._revised(request, changed)
            except (ValueError, ToolRetry) as exc:
                self.view.note(f"The edited action is not valid: {exc}", style="red")
                text = f"# NOT VALID: {' '.join(str(exc).split())}\n{_uncommented(edited)}"

    async def _revised(self, request: ApprovalRequest, changed: dict[str, Any]) -> ApprovalRequest:
        """The request for the edited arguments: its effect, preview and recipients read again.

        What the user typed is theirs: the warnings about addresses they kept stay, those
        about addresses they removed go.
        """
        tool = self.tools.get(request.tool)
        if tool is None:
            return dataclasses.replace(request, arguments=changed)
        args = tool.validate(changed)
        effect = tool.effect_for(args)
        preview = await tool.preview_for(ToolContext(self.workspace), args)  # reads only
        arguments = args.model_dump(mode="json")
        text = str(arguments)
        return dataclasses.replace(
            request,
            effect=effect,
            arguments=arguments,
            preview=preview,
            recipients=recipients_of(effect, arguments, preview),
            untrusted=tuple(f for f in request.untrusted if f.value in text),
        )

    def _record(self, request: ApprovalRequest, decision: Decision) -> Decision:
        log.info(
            "approval",
            tool=request.tool,
            effect=request.effect,
            call_id=request.call_id,
            approved=decision.approved,
            edited=decision.arguments is not None,
        )
        return decision


def render(
    request: ApprovalRequest, arguments: dict[str, Any], workspace: Workspace, *, edited: bool
) -> Panel:
    """The action as a panel: every field that matters, in full.

    The ``preview`` (the message exactly as it goes out, an event as it is now, who is told
    and how) is the request's own, read again after an edit.
    """
    args = arguments
    preview = dict(getattr(request, "preview", None) or {})
    lines: list[RenderableType] = []
    if request.tool in ("send_email", "draft_email") and "body" in preview:
        shown = {
            k: v
            for k, v in preview.items()
            if k not in ("body", "notified", "delivery", "addressed")
        }
        lines += [_field(k, v) for k, v in shown.items()]
        lines += [Text("body (as it goes out):", style="bold"), Text(str(preview["body"]))]
    elif request.tool in ("send_email", "draft_email"):
        lines += _email_lines(args, workspace)
    elif request.tool == "send_draft":
        lines += _draft_lines(str(args.get("draft_id", "")), workspace)
    elif request.tool in ("create_event", "update_event", "cancel_event", "respond_to_event"):
        lines += _event_lines(request.tool, args, workspace, preview)
    elif request.tool in ("archive_email", "mark_email"):
        lines += _mail_target_lines(request.tool, args, workspace)
    else:
        lines += [_field(key, value) for key, value in args.items()]
    if request.tool not in ("send_email", "draft_email", "send_draft", "create_event"):
        lines += _preview_lines(preview, args)
    lines += _gate_lines(request)
    goes_out = request.effect == "send" and bool(request.recipients)
    if goes_out:
        lines.append(Text("This goes out to other people and cannot be undone.", style="bold red"))
    elif request.effect == "send":
        lines.append(Text("Nothing goes out to anyone.", style="bold"))
    if not goes_out and request.tool in _REVERSIBLE:
        lines.append(Text("Reversible: /undo reverts it.", style="dim"))
    title = f"morrow wants to run {request.tool} ({request.effect})" + (
        ", as you edited it" if edited else ""
    )
    return Panel(Group(*lines), title=title, title_align="left", border_style="yellow")


def _field(key: str, value: Any) -> Text:
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value) or "(none)"
    elif value is None:
        value = "(none)"
    text = Text(f"{key}: ", style="bold")
    text.append(str(value))
    return text


def _email_lines(args: dict[str, Any], workspace: Workspace) -> list[RenderableType]:
    lines: list[RenderableType] = [_field("to", args.get("to", []))]
    lines += [_field(k, args[k]) for k in ("cc", "bcc") if args.get(k)]
    lines.append(_field("subject", args.get("subject", "")))
    if args.get("reply_to_email_id"):
        about = _email_about(str(args["reply_to_email_id"]), workspace)
        lines.append(_field("in reply to", about + " (quoted below the body)"))
    lines += [Text("body:", style="bold"), Text(str(args.get("body", "")))]
    return lines


def _draft_lines(draft_id: str, workspace: Workspace) -> list[RenderableType]:
    try:
        draft = workspace.mail.read(draft_id)
    except Exception as exc:  # the id may be wrong: show what can be shown
        return [_field("draft_id", draft_id), Text(f"(cannot read the draft: {exc})")]
    return [
        _field("draft_id", draft_id),
        _field("to", draft.to),
        *([_field("cc", draft.cc)] if draft.cc else []),
        _field("subject", draft.subject),
        Text("body:", style="bold"),
        Text(draft.body),
    ]


def _event_lines(
    tool: str, args: dict[str, Any], workspace: Workspace, preview: dict[str, Any]
) -> list[RenderableType]:
    zone = workspace.timezone
    lines: list[RenderableType] = []
    if "event_id" in args:
        lines.append(_field("event", _event_about(str(args["event_id"]), workspace)))
    for key in ("title", "location", "response", "comment"):
        if args.get(key):
            lines.append(_field(key, args[key]))
    if args.get("start") or args.get("end"):
        lines.append(_field("when", _span(args.get("start"), args.get("end"), zone)))
    if args.get("description"):
        lines += [Text("description:", style="bold"), Text(str(args["description"]))]
    for key in ("attendees", "add_attendees", "remove_attendees"):
        if args.get(key):
            lines.append(_field(key.replace("_", " "), args[key]))
    lines.append(Text(_who_is_told(tool, args, preview), style="bold"))
    return lines


_TOLD = {
    "create_event": ("Invitations", "send_invitations", "no invitations go out"),
    "update_event": ("The change", "send_updates", "no one is emailed about the change"),
    "cancel_event": ("The cancellation", "notify", "no one is emailed about the cancellation"),
    "respond_to_event": ("Your answer", None, "the organizer is not told"),
}


def _who_is_told(tool: str, args: dict[str, Any], preview: dict[str, Any]) -> str:
    """Who gets an email, from the preview (the backend's fact), and how; or why nobody."""
    what, flag, silent = _TOLD[tool]
    wanted = flag is None or bool(args.get(flag))
    told = [str(a) for a in preview.get("notified") or []]
    how = preview.get("delivery")
    if told:
        return f"{what} WILL be emailed to {', '.join(told)}" + (f" ({how})." if how else ".")
    if wanted and how:  # asked for, but this calendar emails nobody
        return f"Nobody is emailed: {how}."
    if tool == "create_event" and not args.get("attendees"):
        return "No one is invited."
    if tool == "create_event":
        return "The attendees are added without an email: no invitations go out."
    return f"{silent[:1].upper()}{silent[1:]}."


def _span(start: Any, end: Any, zone: ZoneInfo) -> str:
    def one(value: Any) -> tuple[str, str]:
        if not value:
            return "(unchanged)", ""
        text = str(value)
        try:
            moment = datetime.fromisoformat(text.split("[")[0])
        except ValueError:
            return text, ""
        local = moment.astimezone(zone)
        own = f" ({text})" if moment.utcoffset() != local.utcoffset() else ""
        return f"{local:%a %d %b %Y %H:%M}", own

    (first, first_own), (last, last_own) = one(start), one(end)
    return f"{first} to {last} {zone.key}{first_own}{last_own}"


def _event_about(event_id: str, workspace: Workspace) -> str:
    try:
        event = workspace.calendar.get_event(event_id)
    except Exception:  # an unknown id is the tool's to report; show the id
        return event_id
    start = event.start.astimezone(workspace.timezone)
    return f'"{event.title}" on {start:%a %d %b %H:%M} ({event_id})'


def _email_about(email_id: str, workspace: Workspace) -> str:
    try:
        email = workspace.mail.read(email_id)
    except Exception:  # an unknown id is the tool's to report; show the id
        return email_id
    return f'"{email.subject}" from {email.from_} ({email_id})'


def _mail_target_lines(tool: str, args: dict[str, Any], workspace: Workspace) -> list[Text]:
    lines = [_field("email", _email_about(str(args.get("email_id", "")), workspace))]
    if tool == "mark_email":
        lines.append(_field("mark as", "read" if args.get("read") else "unread"))
    else:
        lines.append(Text("It moves out of the inbox into the archive."))
    return lines


def _preview_lines(preview: dict[str, Any], args: dict[str, Any]) -> list[RenderableType]:
    """What the gate read from the backends that the arguments do not say (an event now)."""
    lines: list[RenderableType] = []
    for key, value in preview.items():
        if key in ("notified", "addressed", "preview_error") or args.get(key) == value:
            continue
        if key in ("event", "when") and "event_id" in args:  # the event line says it
            continue
        lines.append(_field(f"now, {key.replace('_', ' ')}", value))
    if "preview_error" in preview:
        lines.append(Text(f"(could not read the details: {preview['preview_error']})"))
    return lines


def _gate_lines(request: ApprovalRequest) -> list[Text]:
    """Who is emailed and the gate's warnings (untrusted addresses, a possible repeat)."""
    lines = []
    recipients = getattr(request, "recipients", None)
    if recipients is not None:
        who = ", ".join(recipients) if recipients else "nobody"
        how = (request.preview or {}).get("delivery")
        lines.append(Text(f"Emails go to: {who}" + (f" ({how})" if how else ""), style="bold"))
    for warning in getattr(request, "warnings", None) or []:
        lines.append(Text(f"⚠ {warning}", style="bold yellow"))
    known = _BASE_FIELDS | {
        "preview",
        "recipients",
        "untrusted",
        "repeat",
        "over_limit",
        "session_id",
    }
    for field in dataclasses.fields(request):  # anything the gate adds later
        value = getattr(request, field.name)
        if field.name in known or value in (None, "", [], (), {}, False):
            continue
        lines.append(Text(f"⚠ {field.name.replace('_', ' ')}: {value}", style="bold yellow"))
    return lines


def _uncommented(text: str) -> str:
    """``text`` without the ``# NOT VALID`` line a failed edit put on top."""
    first, newline, rest = text.partition("\n")
    return rest if newline and first.startswith("# NOT VALID:") else text


def editable_text(tool: str, arguments: dict[str, Any]) -> str:
    """The editable fields as text: ``key: value`` lines, then the long field after a blank."""
    header = [
        "# Change what you want, save and quit. Lines starting with # are ignored here;",
        "# lists are separated by commas. The text after the first empty line is the "
        + next((f for f in EDITABLE[tool] if f in LONG_FIELDS), "(no long field)")
        + ".",
    ]
    long_text = ""
    for key in EDITABLE[tool]:
        value = arguments.get(key)
        if key in LONG_FIELDS:
            long_text = str(value or "")
        elif key in LISTS:
            header.append(f"{key}: {', '.join(value or [])}")
        else:
            header.append(f"{key}: {'' if value is None else value}")
    return "\n".join(header) + "\n\n" + long_text


def parse_edited(tool: str, arguments: dict[str, Any], text: str) -> dict[str, Any]:
    """The arguments with the edited fields; a field left out keeps its value.

    Raises:
        ValueError: a line names a field that cannot be edited, or is not ``key: value``.
    """
    head, _, rest = text.partition("\n\n")
    allowed = EDITABLE[tool]
    changed = dict(arguments)
    for line in head.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, colon, value = line.partition(":")
        key = key.strip()
        if not colon or key not in allowed or key in LONG_FIELDS:
            raise ValueError(f"cannot change {line.strip()!r} (editable: {', '.join(allowed)})")
        value = value.strip()
        if key in LISTS:
            changed[key] = [v.strip() for v in value.split(",") if v.strip()]
        else:
            changed[key] = value or (None if arguments.get(key) is None else "")
    long_field = next((f for f in allowed if f in LONG_FIELDS), None)
    if long_field is not None:
        body = (
            rest.rstrip("\n") if not str(arguments.get(long_field) or "").endswith("\n") else rest
        )
        changed[long_field] = body if body or arguments.get(long_field) is not None else None
    return changed
