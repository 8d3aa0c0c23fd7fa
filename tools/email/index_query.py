"""The query side of the Maildir index: search filters, the rows it returns, the SQL.

Free text becomes an FTS5 query in which every word is a prefix phrase (``priya@example.com``
is the phrase ``"priya example com"*``), so FTS5 syntax in a query is never interpreted.
Words in Chinese, Japanese or Korean are looked up in a trigram index of the messages' CJK
text (unicode61 keeps a run of such characters as one token, so a word inside it would not be
found); shorter than three characters, they are matched as substrings of that text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from morrow.tools.errors import ToolRetry

_CJK_CLASS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_CJK = re.compile(f"[{_CJK_CLASS}]")
CJK_RUNS = re.compile(f"[{_CJK_CLASS}]+")
_TOKEN = re.compile(r"[^\W_]+")

COLUMNS = (
    "m.folder, m.key, m.subdir, m.name, m.seen, m.date, m.sender, m.recipients, m.cc, "
    "m.subject, m.snippet, m.attachments, m.message_id, m.thread_id"
)


@dataclass(frozen=True)
class Indexed:
    """One message as the index knows it."""

    folder: str
    key: str
    subdir: str
    name: str
    seen: bool
    date: datetime
    sender: str
    to: list[str]
    cc: list[str]
    subject: str
    snippet: str
    has_attachments: bool
    message_id: str | None
    thread_id: str | None

    @classmethod
    def from_row(cls, row: tuple[object, ...]) -> Indexed:
        """Build from a row selected with ``COLUMNS``."""
        (folder, key, subdir, name, seen, date, sender, to, cc, subject, snip, att, mid, tid) = row
        return cls(
            folder=str(folder),
            key=str(key),
            subdir=str(subdir),
            name=str(name),
            seen=bool(seen),
            date=datetime.fromtimestamp(float(date), UTC),  # type: ignore[arg-type]
            sender=str(sender),
            to=json.loads(str(to)),
            cc=json.loads(str(cc)),
            subject=str(subject),
            snippet=str(snip),
            has_attachments=bool(att),
            message_id=None if mid is None else str(mid),
            thread_id=None if tid is None else str(tid),
        )


MAX_QUERY = 1_000  # characters of a search's words
MAX_TERMS = 24  # words in one search
MAX_SENDER = 320  # characters of a sender filter (an address is at most 320)


def check_query(query: str | None, sender: str | None) -> tuple[str, ...]:
    """The search words of ``query``, within bounds; else ToolRetry saying what to shorten.

    A search of five megabytes took minutes (each word is a condition); nobody searches
    mail with more than a few words.
    """
    if query is not None and len(query) > MAX_QUERY:
        raise ToolRetry(
            f"the query is {len(query):,} characters long; search with a few words "
            f"(at most {MAX_QUERY:,} characters)"
        )
    terms = tuple(query.split()) if query else ()
    if len(terms) > MAX_TERMS:
        raise ToolRetry(f"the query has {len(terms)} words; search with at most {MAX_TERMS}")
    if sender is not None and len(sender) > MAX_SENDER:
        raise ToolRetry(f"sender is {len(sender):,} characters long; give a name or an address")
    return terms


@dataclass(frozen=True)
class Query:
    """Search filters, already checked by the caller."""

    terms: tuple[str, ...] = ()
    sender: str | None = None
    unread: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    folders: tuple[str, ...] = ()
    limit: int = 20


def where(query: Query) -> tuple[str, list[str], list[object]]:
    """The join, conditions and parameters of a search."""
    # "+m.folder": keep SQLite from picking the (folder, key) index, so that it walks the
    # date index newest first and stops at the limit instead of sorting every match
    conditions = [f"+m.folder IN ({','.join('?' * len(query.folders))})"]
    params: list[object] = [*query.folders]
    words = [t for t in query.terms if not _CJK.search(t) and _TOKEN.search(t)]
    if words:
        conditions.append("fts MATCH ?")
        params.append(" ".join(_fts_phrase(t) for t in words))
    for term in [t for t in query.terms if _CJK.search(t)]:
        for run in CJK_RUNS.findall(term):
            if len(run) >= 3:
                conditions.append("m.id IN (SELECT rowid FROM cjk WHERE cjk MATCH ?)")
                params.append(f'"{run}"')
            else:  # shorter than a trigram: a scan, but only of messages with CJK text
                conditions.append("m.id IN (SELECT rowid FROM cjk WHERE instr(text, ?) > 0)")
                params.append(run)
    if query.sender:
        conditions.append("instr(m.sender_fold, ?) > 0")
        params.append(query.sender.casefold())
    if query.unread is not None:
        conditions.append("m.seen = ?")
        params.append(int(not query.unread))
    if query.since is not None:
        conditions.append("m.date >= ?")
        params.append(query.since.timestamp())
    if query.until is not None:
        conditions.append("m.date < ?")
        params.append(query.until.timestamp())
    join = " JOIN fts ON fts.rowid = m.id" if words else ""
    return join, conditions, params


def _fts_phrase(term: str) -> str:
    """One query word as an FTS5 prefix phrase: ``a@b.com`` -> ``"a b com"*``."""
    return '"' + " ".join(_TOKEN.findall(term)) + '"*'
