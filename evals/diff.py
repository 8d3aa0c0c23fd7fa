"""What changed between two world digests, and a canonical form that hides minted ids.

:func:`diff_worlds` lists the changes from one digest to another: events added, removed or
changed (by UID and RECURRENCE-ID), messages added, removed, moved between folders, changed,
or with new flags (by Message-ID). The outcome scorers claim changes with their predicates;
"nothing else changed" fails on any change left unclaimed.

:func:`canonical` renders a final digest with the ids that the run minted (UIDs of new events,
Message-IDs and Maildir names of new messages) replaced by stable placeholders, so two runs of
the same trajectory compare equal although the backend chose fresh ids each time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from morrow.evals.world import EventDigest, MailDigest, WorldDigest

ChangeKind = Literal[
    "event_added",
    "event_removed",
    "event_changed",
    "mail_added",
    "mail_removed",
    "mail_moved",
    "mail_changed",
    "mail_flags",
]

_IGNORED_EVENT_FIELDS = frozenset({"sequence"})  # bumped by every edit; says nothing itself


@dataclass(frozen=True)
class Change:
    """One difference between two worlds.

    Attributes:
        kind: what happened.
        key: the event's UID (and RECURRENCE-ID) or the message's Message-ID.
        before: the item before (None when added).
        after: the item after (None when removed).
        fields: for changes, the names of the fields that differ.
    """

    kind: ChangeKind
    key: str
    before: EventDigest | MailDigest | None
    after: EventDigest | MailDigest | None
    fields: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for reports: what changed and where."""
        item = self.after or self.before
        if isinstance(item, EventDigest):
            label = f"event {item.title!r} ({item.start})"
        elif isinstance(item, MailDigest):
            label = f"message {item.subject!r} in {item.folder}"
        else:  # pragma: no cover - every change has an item
            label = self.key
        if self.kind == "mail_moved" and isinstance(self.before, MailDigest):
            label += f" (from {self.before.folder})"
        detail = f": {', '.join(self.fields)}" if self.fields else ""
        return f"{self.kind.replace('_', ' ')}: {label}{detail}"


def diff_worlds(before: WorldDigest, after: WorldDigest) -> list[Change]:
    """Every change from ``before`` to ``after``, events first."""
    return _event_changes(before.events, after.events) + _mail_changes(before.mail, after.mail)


def _event_changes(before: list[EventDigest], after: list[EventDigest]) -> list[Change]:
    old = {e.key: e for e in before}
    new = {e.key: e for e in after}
    changes = [Change("event_removed", k, old[k], None) for k in old if k not in new]
    for key, event in new.items():
        if key not in old:
            changes.append(Change("event_added", key, None, event))
            continue
        fields = _changed_fields(old[key], event, _IGNORED_EVENT_FIELDS)
        if fields:
            changes.append(Change("event_changed", key, old[key], event, fields))
    return changes


def _mail_key(message: MailDigest) -> tuple[str, str]:
    return (message.message_id or f"name:{message.name}", message.folder)


def _mail_changes(before: list[MailDigest], after: list[MailDigest]) -> list[Change]:
    old = {_mail_key(m): m for m in before}
    new = {_mail_key(m): m for m in after}
    changes: list[Change] = []
    for key, message in new.items():
        if key in old:
            changes += _same_place(key[0], old[key], message)
    removed = [old[k] for k in old if k not in new]
    added = [new[k] for k in new if k not in old]
    for gone in list(removed):
        twin = next((m for m in added if m.message_id and m.message_id == gone.message_id), None)
        if twin is None:
            continue
        removed.remove(gone)
        added.remove(twin)
        fields = _changed_fields(gone, twin, frozenset({"folder", "name"}))
        changes.append(Change("mail_moved", gone.message_id, gone, twin, ("folder", *fields)))
    changes += [Change("mail_removed", _mail_key(m)[0], m, None) for m in removed]
    changes += [Change("mail_added", _mail_key(m)[0], None, m) for m in added]
    return changes


def _same_place(key: str, old: MailDigest, new: MailDigest) -> list[Change]:
    out = []
    if old.flags != new.flags:
        out.append(Change("mail_flags", key, old, new, ("flags",)))
    fields = _changed_fields(old, new, frozenset({"flags", "name"}))
    if fields:
        out.append(Change("mail_changed", key, old, new, fields))
    return out


def _changed_fields(
    old: EventDigest | MailDigest, new: EventDigest | MailDigest, ignored: frozenset[str]
) -> tuple[str, ...]:
    a, b = old.model_dump(), new.model_dump()
    return tuple(k for k in a if k not in ignored and a[k] != b.get(k))


def canonical(final: WorldDigest, initial: WorldDigest) -> str:
    """``final`` as pretty JSON, with ids minted since ``initial`` replaced by placeholders."""
    known_uids = {e.uid for e in initial.events}
    known_ids = {m.message_id for m in initial.mail}
    known_names = {m.name for m in initial.mail}
    uids = _numbered(e.uid for e in _by_content(final.events) if e.uid not in known_uids)
    ordered = sorted(final.mail, key=lambda m: (m.folder, m.date, m.subject, m.body))
    ids = _numbered(m.message_id for m in ordered if m.message_id not in known_ids)
    names = {m.name: "<new>" for m in final.mail if m.name not in known_names}
    events = [e.model_copy(update={"uid": uids.get(e.uid, e.uid)}) for e in final.events]
    mail = [
        m.model_copy(
            update={
                "message_id": ids.get(m.message_id, m.message_id),
                "name": names.get(m.name, m.name),
                "in_reply_to": ids.get(m.in_reply_to, m.in_reply_to),
                "references": [ids.get(r, r) for r in m.references],
            }
        )
        for m in final.mail
    ]
    events.sort(key=lambda e: (e.start, e.uid, e.recurrence_id or "", e.title))
    mail.sort(key=lambda m: (m.folder, m.date, m.subject, m.message_id))
    doc = WorldDigest(events=events, mail=mail).model_dump(mode="json", by_alias=True)
    return json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=True)


def _by_content(events: list[EventDigest]) -> list[EventDigest]:
    return sorted(events, key=lambda e: (e.start, e.title, e.end, e.uid))


def _numbered(values: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        if value and value not in out:
            out[value] = f"<new {len(out) + 1}>"
    return out
