"""Approvals in the chat: the exact action on screen, then yes, no or edit.

Before an effect runs, the chat shows what it would do, in full: an email's recipients, subject
and whole body; an event's time (in the user's zone, and in the event's own zone when that
differs), attendees and whether invitations go out; the event, email or draft an id points at
(looked up, so "cancel_event 3f9a…" reads as the meeting it is). Anything the gate adds to the
request beyond the call itself (a warning about an untrusted recipient, say) is shown as a
warning line. The user answers ``y``, ``n`` or ``e``: edit opens the editable fields (see
:func:`editable_text`) in ``$EDITOR`` or inline; the edited action is checked against the
tool's schema, shown again and confirmed before it runs. The answer goes back to the gate as
its :class:`~morrow.agent.safety.gate.Decision` (edited arguments included), which records it.
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
from morrow.agent.safety.gate import ApprovalRequest, Decision
from morrow.tools.base import ToolRegistry
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


class Approver:
    """The chat's ``ask`` callback for the approval gate.

    Args:
        reader: where answers are read.
        view: where the action is shown.
        workspace: to look up what an id points at, and the user's zone.
        tools: to check an edited action.
        on_interrupt: called when the user presses Ctrl-C at the question (cancels the turn).
    """

    def __init__(
        self,
        reader: Reader,
        view: LiveView,
        workspace: Workspace,
        tools: ToolRegistry,
        on_interrupt: Any = None,
    ) -> None:
        self.reader = reader
        self.view = view
        self.workspace = workspace
        self.tools = tools
        self.on_interrupt = on_interrupt

    async def __call__(self, request: ApprovalRequest) -> Decision:
        """Show the action and ask; return the decision (the gate records it)."""
        arguments = dict(request.arguments)
        edited = False
        while True:
            shown = await asyncio.to_thread(
                render, request, arguments, self.workspace, edited=edited
            )
            self.view.show(shown)
            choices = "[y]es / [n]o / [e]dit" if request.tool in EDITABLE else "[y]es / [n]o"
            try:
                answer = await self.reader.answer(f"Do it? {choices} ")
            except KeyboardInterrupt:
                if self.on_interrupt is not None:
                    self.on_interrupt()
                return self._record(request, Decision(False, "the user interrupted the turn"))
            choice = (answer or "n").strip().lower()
            if choice in ("y", "yes"):
                return self._record(
                    request, Decision(True, arguments=arguments if edited else None)
                )
            if choice in ("n", "no", ""):
                return self._record(request, Decision(False, "the user said no"))
            if choice in ("e", "edit") and request.tool in EDITABLE:
                changed = await self._edit(request, arguments)
                if changed is not None:
                    arguments, edited = changed, True
                continue
            self.view.note(f"Please answer {choices}.")

    async def _edit(
        self, request: ApprovalRequest, arguments: dict[str, Any]
    ) -> dict[str, Any] | None:
        text = await self.reader.edit(editable_text(request.tool, arguments))
        if text is None:
            self.view.note("Edit abandoned; the action is unchanged.")
            return None
        try:
            changed = parse_edited(request.tool, arguments, text)
            tool = self.tools.get(request.tool)
            if tool is not None:
                tool.validate(changed)
        except (ValueError, ToolRetry) as exc:
            self.view.note(f"The edited action is not valid: {exc}", style="red")
            return None
        return changed

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

    The gate's ``preview`` (the message exactly as it goes out, an event as it is now) is
    shown unless the user edited the action since it was made.
    """
    args = arguments
    preview = {} if edited else dict(getattr(request, "preview", None) or {})
    lines: list[RenderableType] = []
    if request.tool in ("send_email", "draft_email") and "body" in preview:
        lines += [_field(k, v) for k, v in preview.items() if k not in ("body", "notified")]
        lines += [Text("body (as it goes out):", style="bold"), Text(str(preview["body"]))]
    elif request.tool in ("send_email", "draft_email"):
        lines += _email_lines(args, workspace)
    elif request.tool == "send_draft":
        lines += _draft_lines(str(args.get("draft_id", "")), workspace)
    elif request.tool in ("create_event", "update_event", "cancel_event", "respond_to_event"):
        lines += _event_lines(request.tool, args, workspace)
    elif request.tool in ("archive_email", "mark_email"):
        lines += _mail_target_lines(request.tool, args, workspace)
    else:
        lines += [_field(key, value) for key, value in args.items()]
    if request.tool not in ("send_email", "draft_email", "send_draft", "create_event"):
        lines += _preview_lines(preview, args)
    lines += _gate_lines(request, edited)
    if request.effect == "send":
        lines.append(Text("This goes out to other people and cannot be undone.", style="bold red"))
    elif request.tool in _REVERSIBLE:
        lines.append(Text("Reversible: /undo reverts it.", style="dim"))
    title = f"morrow wants to run {request.tool} ({request.effect})"
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


def _event_lines(tool: str, args: dict[str, Any], workspace: Workspace) -> list[RenderableType]:
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
    lines.append(Text(_who_is_told(tool, args), style="bold"))
    return lines


def _who_is_told(tool: str, args: dict[str, Any]) -> str:
    if tool == "create_event":
        if args.get("attendees") and args.get("send_invitations"):
            return f"Invitations WILL be emailed to {', '.join(args['attendees'])}."
        if args.get("attendees"):
            return "The attendees are added without an email: no invitations go out."
        return "No one is invited."
    if tool == "update_event":
        return (
            "The change WILL be emailed to the attendees."
            if args.get("send_updates")
            else ("No one is emailed about the change.")
        )
    if tool == "cancel_event":
        return (
            "The cancellation WILL be emailed to the attendees."
            if args.get("notify")
            else ("No one is emailed about the cancellation.")
        )
    return "Your answer WILL be sent to the organizer."


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
        if key in ("notified", "preview_error") or args.get(key) == value:
            continue
        if key in ("event", "when") and "event_id" in args:  # the event line says it
            continue
        lines.append(_field(f"now, {key.replace('_', ' ')}", value))
    if "preview_error" in preview:
        lines.append(Text(f"(could not read the details: {preview['preview_error']})"))
    return lines


def _gate_lines(request: ApprovalRequest, edited: bool) -> list[Text]:
    """Who is emailed and the gate's warnings (untrusted addresses, a possible repeat)."""
    lines = []
    recipients = getattr(request, "recipients", None)
    if recipients is not None and not edited:
        who = ", ".join(recipients) if recipients else "nobody"
        lines.append(Text(f"Emails go to: {who}", style="bold"))
    for warning in getattr(request, "warnings", None) or []:
        lines.append(Text(f"⚠ {warning}", style="bold yellow"))
    known = _BASE_FIELDS | {"preview", "recipients", "untrusted", "repeat"}
    for field in dataclasses.fields(request):  # anything the gate adds later
        value = getattr(request, field.name)
        if field.name in known or value in (None, "", [], (), {}, False):
            continue
        lines.append(Text(f"⚠ {field.name.replace('_', ' ')}: {value}", style="bold yellow"))
    return lines


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
