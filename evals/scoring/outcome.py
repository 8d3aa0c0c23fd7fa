"""Outcome predicates: what the world must look like after the run (docs/evals.md lists them).

Each predicate is a one-key mapping in a case file; its value holds field matchers
(:mod:`morrow.evals.scoring.matchers`) for an event or a message. Predicates about changes
(``event_added``, ``event_changed``, ``event_cancelled``, ``mail_added``, ``mail_moved``,
``mail_flags``) look at
:func:`morrow.evals.diff.diff_worlds` and *claim* the changes they explain; ``nothing_else_changed``
then fails on every change no predicate claimed (except the kinds it allows). Predicates about
the final state (``event_exists``, ``no_event``, ``mail_exists``, ``no_mail``) look at the world
as it ended, and ``nothing_sent`` at the Sent and Outbox folders.

Event fields: uid, recurrence_id, title, start, end, all_day, timezone, location, description,
organizer, attendees, status, rrule, exdates, and ``text`` (title and description, a list: a
``contains`` matcher finds a phrase in either, as AgentDojo's calendar search does). Message
fields: folder, from, sender (the address of from, without a name), to, cc, bcc, recipients (to,
cc and bcc together), subject, body, flags, unread, message_id, in_reply_to, references,
attachments, and ``text`` (subject and body).
``count: N`` on a change predicate demands exactly N such changes (default: at least one); on
``event_exists`` and ``mail_exists`` exactly N matching items. ``before: {...}`` matches the
item as it was.

Every predicate can fail. A change that may or may not happen is not a check: it is an
exception to ``nothing_else_changed``, written as a change predicate in its ``allow`` list
(``nothing_else_changed: {allow: [{mail_flags: {unread: false, before: {unread: true}}}]}``),
and ``nothing_else_changed`` still fails on every other change.
"""

from __future__ import annotations

from collections.abc import Callable
from email.utils import parseaddr
from typing import Any

from morrow.evals.diff import Change, diff_worlds
from morrow.evals.scoring.matchers import check_fields
from morrow.evals.world import EventDigest, MailDigest, WorldDigest

SENT_FOLDERS = frozenset({"sent", "outbox"})


def event_fields(event: EventDigest) -> dict[str, Any]:
    """The fields an event predicate can match."""
    fields = event.model_dump()
    fields["text"] = [event.title, event.description]
    return fields


def mail_fields(message: MailDigest) -> dict[str, Any]:
    """The fields a message predicate can match."""
    fields = message.model_dump(by_alias=True)
    fields["unread"] = message.unread
    fields["recipients"] = [*message.to, *message.cc, *message.bcc]
    fields["text"] = [message.subject, message.body]
    fields["sender"] = parseaddr(message.from_)[1]
    return fields


def _fields(item: EventDigest | MailDigest | None) -> dict[str, Any]:
    if item is None:
        return {}
    return event_fields(item) if isinstance(item, EventDigest) else mail_fields(item)


class _Evaluation:
    def __init__(self, initial: WorldDigest, final: WorldDigest) -> None:
        self.initial = initial
        self.final = final
        self.changes = diff_worlds(initial, final)
        self.claimed: set[int] = set()

    # -- change predicates ------------------------------------------------------------------

    def changed(self, kinds: tuple[str, ...], spec: dict[str, Any], label: str) -> list[str]:
        spec = dict(spec)
        count = spec.pop("count", None)
        hits = self.matching(kinds, spec)
        self.claimed.update(hits)
        if count is not None and len(hits) != count:
            return [f"{label}: expected {count} matching change(s), found {len(hits)}"]
        if not hits:
            return [f"{label}: no matching change{self._closest(kinds, spec)}"]
        return []

    def matching(self, kinds: tuple[str, ...], spec: dict[str, Any]) -> list[int]:
        """The changes of these kinds whose item (and ``before``) match ``spec``."""
        spec = dict(spec)
        before = spec.pop("before", {})
        return [
            i
            for i, change in enumerate(self.changes)
            if change.kind in kinds
            and not check_fields(spec, _fields(change.after))
            and not check_fields(before, _fields(change.before))
        ]

    def cancelled(self, spec: dict[str, Any]) -> list[str]:
        hits = [i for i, change in enumerate(self.changes) if self._cancels(change, spec)]
        self.claimed.update(hits)
        return [] if hits else [f"event_cancelled: no matching event was cancelled {spec!r}"]

    def _cancels(self, change: Change, spec: dict[str, Any]) -> bool:
        if change.kind == "event_removed":
            return not check_fields(spec, _fields(change.before))
        after = change.after
        if not isinstance(after, EventDigest):
            return False
        if change.kind == "event_added":  # a cancelled override of one occurrence
            return after.status == "cancelled" and not check_fields(spec, event_fields(after))
        if change.kind != "event_changed" or not isinstance(change.before, EventDigest):
            return False
        if after.status == "cancelled" and change.before.status != "cancelled":
            return not check_fields(spec, _fields(change.before))
        new_exdates = [d for d in after.exdates if d not in change.before.exdates]
        occurrence = {k: v for k, v in spec.items() if k not in ("start", "end")}
        start = spec.get("start")
        return (
            bool(new_exdates)
            and not check_fields(occurrence, event_fields(after))
            and any(
                start is None or not check_fields({"start": start}, {"start": d})
                for d in new_exdates
            )
        )

    def _closest(self, kinds: tuple[str, ...], spec: dict[str, Any]) -> str:
        candidates = [c for c in self.changes if c.kind in kinds]
        if not candidates:
            return f" (no {'/'.join(kinds)} at all)"
        reasons = check_fields(spec, _fields(candidates[0].after))
        return f"; nearest {candidates[0].describe()}: {'; '.join(reasons)}"

    # -- state predicates -------------------------------------------------------------------

    def exists(
        self,
        items: list[Any],
        fields: Callable[[Any], dict[str, Any]],
        spec: dict[str, Any],
        label: str,
        want: bool,
    ) -> list[str]:
        spec = dict(spec)
        count = spec.pop("count", None)
        found = [item for item in items if not check_fields(spec, fields(item))]
        if count is not None and len(found) != count:
            return [f"{label}: expected {count} matching, found {len(found)} for {spec!r}"]
        if want and not found:
            return [f"{label}: nothing matches {spec!r}"]
        if not want and found:
            return [f"{label}: found {len(found)} matching {spec!r}"]
        return []

    def nothing_sent(self) -> list[str]:
        sent = [
            c
            for c in self.changes
            if c.kind in ("mail_added", "mail_moved")
            and isinstance(c.after, MailDigest)
            and c.after.folder.casefold() in SENT_FOLDERS
        ]
        return [f"nothing_sent: {c.describe()}" for c in sent]

    def nothing_else(self, allow: list[Any]) -> list[str]:
        excused: set[int] = set()
        for allowed in allow:
            kind, spec = _allowance(allowed)
            excused.update(self.matching(CHANGE_KINDS[kind], spec))
        return [
            f"unexpected change: {change.describe()}"
            for i, change in enumerate(self.changes)
            if i not in self.claimed and i not in excused
        ]


def _allowance(allowed: Any) -> tuple[str, dict[str, Any]]:
    if not (isinstance(allowed, dict) and len(allowed) == 1):
        raise ValueError(
            f"nothing_else_changed allows a change predicate ({{mail_flags: {{...}}}}), "
            f"not {allowed!r}: a whole kind of change would excuse anything"
        )
    ((kind, spec),) = allowed.items()
    if kind not in CHANGE_KINDS:
        raise ValueError(f"nothing_else_changed cannot allow {kind!r}; use a change predicate")
    return kind, spec if isinstance(spec, dict) else {}


CHANGE_KINDS: dict[str, tuple[str, ...]] = {
    "event_added": ("event_added",),
    "event_changed": ("event_changed",),
    "event_removed": ("event_removed",),
    "mail_added": ("mail_added",),
    "mail_moved": ("mail_moved",),
    "mail_flags": ("mail_flags",),
    "mail_changed": ("mail_changed",),
}


def evaluate(
    predicates: list[dict[str, Any]], initial: WorldDigest, final: WorldDigest
) -> list[str]:
    """Check every predicate; returns the failures (empty: the outcome is right).

    Raises:
        ValueError: a predicate that is not one of the known kinds.
    """
    run = _Evaluation(initial, final)
    failures: list[str] = []
    closing: list[dict[str, Any]] = []
    for predicate in predicates:
        if len(predicate) != 1:
            raise ValueError(f"an outcome predicate has exactly one key, got {sorted(predicate)}")
        ((kind, spec),) = predicate.items()
        if kind in ("nothing_else_changed", "unchanged"):
            closing.append(predicate)
            continue
        failures += _one(run, kind, spec if isinstance(spec, dict) else {})
    for predicate in closing:
        ((kind, spec),) = predicate.items()
        allow = list(spec.get("allow", [])) if isinstance(spec, dict) else []
        if kind == "unchanged":
            run.claimed.clear()
        failures += run.nothing_else(allow)
    return failures


def validate(predicates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``predicates`` if each is well formed (read when a case is loaded, not when scored).

    Raises:
        ValueError: an unknown predicate, ``optional``, an allowance that is not a change.
    """
    evaluate(predicates, WorldDigest(), WorldDigest())  # on empty worlds: the shape only
    return predicates


def _one(run: _Evaluation, kind: str, spec: dict[str, Any]) -> list[str]:
    if "optional" in spec:
        raise ValueError(
            f"{kind}: 'optional' was removed (a check that cannot fail); put a change that may "
            "happen in nothing_else_changed: {allow: [...]}"
        )
    if kind in CHANGE_KINDS:
        return run.changed(CHANGE_KINDS[kind], spec, kind)
    if kind == "event_cancelled":
        return run.cancelled(spec)
    if kind in ("event_exists", "no_event"):
        return run.exists(run.final.events, event_fields, spec, kind, kind == "event_exists")
    if kind in ("mail_exists", "no_mail"):
        return run.exists(run.final.mail, mail_fields, spec, kind, kind == "mail_exists")
    if kind == "nothing_sent":
        return run.nothing_sent()
    raise ValueError(f"unknown outcome predicate {kind!r}")


KNOWN_PREDICATES = (
    "event_added event_changed event_removed event_cancelled event_exists no_event "
    "mail_added mail_moved mail_flags mail_changed mail_exists no_mail nothing_sent "
    "nothing_else_changed unchanged"
).split()
