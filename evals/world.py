"""The world an eval runs in: a calendar (.ics) and a Maildir, written into a temporary home.

A :class:`World` is either inline (the .ics text and every message, as a trajectory recorded
from a live session keeps them) or a reference to a fixture directory holding ``calendar.ics``
and a Maildir ``Mail/`` (as the suites keep them). :meth:`World.materialize` writes it where the
config of the run expects it (``<home>/calendar.ics`` and ``<home>/Mail``).

:func:`digest` reads a home back into a :class:`WorldDigest`: every VEVENT as written (masters
and overridden occurrences, not expanded) and every message per folder with its flags. The
digest is built from the files directly, not through the tools, so it is the ground truth the
outcome scorers and the replay's final check compare. :mod:`morrow.evals.diff` compares two digests.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import os
import shutil
import sqlite3
import tempfile
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Any

import icalendar
from pydantic import BaseModel, ConfigDict, Field

from morrow.tools.email import mime

CALENDAR_FILE = "calendar.ics"
MAIL_DIR = "Mail"
INDEX_FILE = "index/mail.sqlite"  # where agent.app keeps the Maildir's search index
INBOX = "INBOX"


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoredMessage(_Doc):
    """One message of an inline Maildir.

    Attributes:
        name: the Maildir unique name (the email id is ``<folder>/<name>``).
        flags: the Maildir flags, e.g. "S" for seen, "RS" for replied and seen.
        raw: the RFC 5322 text, when it is valid UTF-8.
        raw_base64: the bytes, base64-encoded, otherwise.
    """

    name: str
    flags: str = ""
    raw: str | None = None
    raw_base64: str | None = None

    def data(self) -> bytes:
        """The message bytes."""
        if self.raw is not None:
            return self.raw.encode("utf-8")
        return base64.b64decode(self.raw_base64 or "")

    @classmethod
    def of(cls, name: str, flags: str, data: bytes) -> StoredMessage:
        """Keep ``data`` as text when it is UTF-8, as base64 otherwise."""
        try:
            return cls(name=name, flags=flags, raw=data.decode("utf-8"))
        except UnicodeDecodeError:
            return cls(name=name, flags=flags, raw_base64=base64.b64encode(data).decode())


class World(_Doc):
    """The initial calendar and mailbox of a session, inline or by reference.

    Attributes:
        ref: a fixture: a JSON file holding an inline world, or a directory with
            ``calendar.ics`` and ``Mail/`` (relative to the file that names it); when set, the
            inline fields are ignored.
        calendar_ics: the .ics text (absent: an empty calendar).
        mail: folder name ("INBOX", "Sent", ...) to its messages.
    """

    ref: str | None = None
    calendar_ics: str | None = None
    mail: dict[str, list[StoredMessage]] = Field(default_factory=dict)

    def resolved(self, base: Path) -> World:
        """This world with a relative ``ref`` made absolute against ``base``."""
        if self.ref is None or Path(self.ref).is_absolute():
            return self
        return self.model_copy(update={"ref": str((base / self.ref).resolve())})

    def materialize(self, home: Path) -> None:
        """Write ``home/calendar.ics``, the Maildir ``home/Mail`` and its search index.

        Old ones are replaced. The world is written once per process into a template, where
        the Maildir is indexed; each home is a copy of the template (see :func:`_template`).
        """
        template = _template(self)
        home.mkdir(parents=True, exist_ok=True)
        (home / CALENDAR_FILE).unlink(missing_ok=True)
        for name in (MAIL_DIR, Path(INDEX_FILE).parent):
            shutil.rmtree(home / name, ignore_errors=True)
        if (template / CALENDAR_FILE).exists():
            shutil.copy2(template / CALENDAR_FILE, home / CALENDAR_FILE)
        shutil.copytree(template / MAIL_DIR, home / MAIL_DIR, copy_function=_link_or_copy)
        (home / INDEX_FILE).parent.mkdir(parents=True)
        shutil.copy2(template / INDEX_FILE, home / INDEX_FILE)
        _rebase_index(home / INDEX_FILE, home / MAIL_DIR)

    def write(self, home: Path) -> None:
        """Write ``home/calendar.ics`` and the Maildir ``home/Mail`` (replacing old ones)."""
        home.mkdir(parents=True, exist_ok=True)
        calendar, maildir = home / CALENDAR_FILE, home / MAIL_DIR
        calendar.unlink(missing_ok=True)
        shutil.rmtree(maildir, ignore_errors=True)
        if self.ref is not None and Path(self.ref).is_file():
            load_world_file(Path(self.ref)).write(home)
            return
        if self.ref is not None:
            source = Path(self.ref)
            if not source.is_dir():
                raise FileNotFoundError(f"world fixture {source} does not exist")
            if (source / CALENDAR_FILE).exists():
                shutil.copyfile(source / CALENDAR_FILE, calendar)
            if (source / MAIL_DIR).is_dir():
                shutil.copytree(source / MAIL_DIR, maildir)
            else:
                _empty_maildir(maildir)
            return
        if self.calendar_ics is not None:
            calendar.write_text(self.calendar_ics, encoding="utf-8", newline="")
        _empty_maildir(maildir)
        for folder, messages in self.mail.items():
            base = maildir if folder == INBOX else maildir / f".{folder}"
            _empty_maildir(base)
            for message in messages:
                (base / "cur" / f"{message.name}:2,{message.flags}").write_bytes(message.data())

    def inline(self) -> World:
        """The same world with a reference read into inline fields (for self-contained files)."""
        if self.ref is None:
            return self
        if Path(self.ref).is_file():
            return load_world_file(Path(self.ref))
        return snapshot(Path(self.ref) / CALENDAR_FILE, Path(self.ref) / MAIL_DIR)

    def relative_to(self, base: Path) -> World:
        """This world with its ``ref`` written relative to ``base`` (for files kept together).

        Both are compared as real paths: in an editable install, one may be a link.
        """
        if self.ref is None:
            return self
        real = os.path.relpath(os.path.realpath(self.ref), os.path.realpath(base))
        return self.model_copy(update={"ref": real})


# -- templates: a world written and indexed once per process, copied into each home ---------

_TEMPLATES_KEPT = 32
_templates: dict[str, Path] = {}
_templates_lock = threading.Lock()


def scratch_dir() -> str | None:
    """Where throwaway homes go: ``$MORROW_EVAL_TMP``, else RAM (/dev/shm) when there is one.

    A run writes and deletes a few hundred small files (the world, the mail index); on a busy
    disk that costs more than the run itself.
    """
    chosen = os.environ.get("MORROW_EVAL_TMP")
    if chosen:
        return chosen
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _template(world: World) -> Path:
    """A directory holding ``world`` written out, with its Maildir already indexed.

    Building the search index (parsing every message) costs more than the rest of a short
    eval run; every case of a suite starts from the same few worlds, so each is indexed once.
    Templates are keyed by the world's content (for a fixture directory: its files' names,
    sizes and times) and removed when the process ends.
    """
    key = _world_key(world)
    with _templates_lock:
        if key in _templates and _templates[key].is_dir():
            return _templates[key]
        if len(_templates) >= _TEMPLATES_KEPT:
            shutil.rmtree(_templates.pop(next(iter(_templates))), ignore_errors=True)
        template = Path(tempfile.mkdtemp(prefix="morrow-eval-world-", dir=scratch_dir()))
        world.write(template)
        _index_maildir(template)
        _templates[key] = template
        return template


def _world_key(world: World) -> str:
    if world.ref is None:
        return hashlib.sha256(world.model_dump_json().encode()).hexdigest()
    source = Path(world.ref)
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    stamps = [f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files]
    return hashlib.sha256("\n".join([world.ref, *stamps]).encode()).hexdigest()


def _index_maildir(home: Path) -> None:
    """Build the Maildir's search index where a run over ``home`` will look for it."""
    from morrow.tools.email.maildir import MaildirMailbox

    mailbox = MaildirMailbox(home / MAIL_DIR, index_path=home / INDEX_FILE)
    try:
        mailbox.search(limit=1)  # a search brings the index up to date first
    finally:
        mailbox.close()


def _link_or_copy(source: str, target: str) -> None:
    """A hard link to a template's message, or a copy (file times kept either way).

    A Maildir message is never written in place: changing its flags renames it, and every new
    message is a new file, so an eval home can share the template's files.
    """
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not supported
        shutil.copy2(source, target)


def _rebase_index(index: Path, maildir: Path) -> None:
    """Point a copied index at its new Maildir.

    The index records the Maildir's path and its folders' directory times; with the root
    changed and the directory times dropped, the first search lists each folder once and
    finds every file unchanged (same name, size and time), so no message is parsed again.
    Should the index's layout ever change, it notices the mismatch and rebuilds itself.
    """
    with contextlib.closing(sqlite3.connect(index)) as db, db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'root'", (str(maildir),))
        db.execute("DELETE FROM dirs")


@atexit.register
def _remove_templates() -> None:
    for template in _templates.values():
        shutil.rmtree(template, ignore_errors=True)


def load_world_file(path: Path) -> World:
    """Read a world fixture kept as one JSON file (an inline :class:`World`)."""
    world = World.model_validate_json(path.read_bytes())
    if world.ref is not None:
        raise ValueError(f"{path}: a world file must be inline, not another reference")
    return world


def snapshot(calendar: Path, maildir: Path) -> World:
    """Read a calendar file and a Maildir into an inline :class:`World`."""
    ics = calendar.read_text(encoding="utf-8") if calendar.exists() else None
    mail: dict[str, list[StoredMessage]] = {}
    for folder, path in _folders(maildir):
        mail[folder] = [
            StoredMessage.of(name, flags, file.read_bytes()) for name, flags, file in _files(path)
        ]
    return World(calendar_ics=ics, mail=mail)


def _empty_maildir(path: Path) -> None:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)


def _folders(maildir: Path) -> list[tuple[str, Path]]:
    if not maildir.is_dir():
        return []
    found = [(INBOX, maildir)]
    found += [
        (child.name[1:], child)
        for child in sorted(maildir.iterdir())
        if child.name.startswith(".") and child.is_dir() and (child / "cur").is_dir()
    ]
    return found


def _files(folder: Path) -> list[tuple[str, str, Path]]:
    out = []
    for sub in ("new", "cur"):
        directory = folder / sub
        if not directory.is_dir():
            continue
        for file in sorted(directory.iterdir()):
            if file.name.startswith("."):
                continue
            name, _, info = file.name.partition(":")
            out.append((name, info[2:] if info.startswith("2,") else "", file))
    return out


# -- digest --------------------------------------------------------------------------------


class EventDigest(_Doc):
    """One VEVENT as written in the .ics file (a series master or an overridden occurrence).

    Times are ISO 8601: with an offset for zoned times, without for floating ones, a bare date
    for all-day events. ``responses`` maps each attendee (lower case) to their PARTSTAT
    ("accepted", "declined", "tentative", "needs-action") where the file says it.
    """

    uid: str
    recurrence_id: str | None = None
    title: str = ""
    start: str = ""
    end: str = ""
    all_day: bool = False
    timezone: str | None = None
    location: str = ""
    description: str = ""
    organizer: str = ""
    attendees: list[str] = Field(default_factory=list)
    responses: dict[str, str] = Field(default_factory=dict)
    status: str = ""
    rrule: str = ""
    exdates: list[str] = Field(default_factory=list)
    sequence: int = 0

    @property
    def key(self) -> str:
        """The identity of this event across two digests."""
        return self.uid if self.recurrence_id is None else f"{self.uid}@{self.recurrence_id}"


class MailDigest(_Doc):
    """One message in one folder, with the headers that matter and its body text."""

    folder: str
    name: str
    message_id: str = ""
    from_: str = Field(default="", alias="from")
    to: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    bcc: list[str] = Field(default_factory=list)
    subject: str = ""
    date: str = ""
    in_reply_to: str = ""
    references: list[str] = Field(default_factory=list)
    body: str = ""
    flags: str = ""
    attachments: list[str] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    @property
    def unread(self) -> bool:
        """Whether the message lacks the seen flag."""
        return "S" not in self.flags


class WorldDigest(_Doc):
    """The whole world in comparable form: events sorted by start, mail by folder and date."""

    events: list[EventDigest] = Field(default_factory=list)
    mail: list[MailDigest] = Field(default_factory=list)

    def folder(self, name: str) -> list[MailDigest]:
        """The messages of one folder (case-insensitive)."""
        return [m for m in self.mail if m.folder.casefold() == name.casefold()]


def digest(home: Path) -> WorldDigest:
    """Read ``home/calendar.ics`` and ``home/Mail`` into a digest."""
    return WorldDigest(
        events=digest_calendar(home / CALENDAR_FILE), mail=digest_maildir(home / MAIL_DIR)
    )


# Digests of file contents already seen: every run of a suite starts from the same world, so
# most messages and often the whole calendar are parsed once per process, not once per run.
_CACHE_LIMIT = 50_000
_calendar_cache: dict[bytes, list[EventDigest]] = {}
_mail_cache: dict[tuple[str, str, str, bytes], MailDigest] = {}


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value


def digest_calendar(path: Path) -> list[EventDigest]:
    """Every VEVENT of an .ics file, sorted by start then UID."""
    if not path.exists():
        return []
    data = path.read_bytes()
    key = hashlib.sha256(data).digest()
    if key not in _calendar_cache:
        calendar = icalendar.Calendar.from_ical(data)
        events = [_event_digest(component) for component in calendar.walk("VEVENT")]
        _remember(
            _calendar_cache,
            key,
            sorted(events, key=lambda e: (e.start, e.uid, e.recurrence_id or "")),
        )
    return list(_calendar_cache[key])


def _event_digest(component: Any) -> EventDigest:
    start = _when(component.get("DTSTART"))
    end_prop = component.get("DTEND")
    if end_prop is None and component.get("DURATION") is not None and component.get("DTSTART"):
        end = _iso(component["DTSTART"].dt + component["DURATION"].dt)
    else:
        end = _when(end_prop)
    raw_start = component["DTSTART"].dt if component.get("DTSTART") is not None else None
    rid = component.get("RECURRENCE-ID")
    rrule = component.get("RRULE")
    return EventDigest(
        uid=str(component.get("UID", "")),
        recurrence_id=_when(rid) if rid is not None else None,
        title=_text(component.get("SUMMARY")),
        start=start,
        end=end,
        all_day=raw_start is not None and not isinstance(raw_start, datetime),
        timezone=_zone(raw_start),
        location=_text(component.get("LOCATION")),
        description=_text(component.get("DESCRIPTION")),
        organizer=_address(component.get("ORGANIZER")),
        attendees=sorted(_address(a) for a in _as_list(component.get("ATTENDEE"))),
        responses={
            _address(a).casefold(): str(a.params["PARTSTAT"]).lower()
            for a in _as_list(component.get("ATTENDEE"))
            if "PARTSTAT" in getattr(a, "params", {})
        },
        status=_text(component.get("STATUS")).lower(),
        rrule=rrule.to_ical().decode() if rrule is not None else "",
        exdates=sorted(_exdates(component.get("EXDATE"))),
        sequence=int(component.get("SEQUENCE", 0) or 0),
    )


def digest_maildir(maildir: Path) -> list[MailDigest]:
    """Every message of a Maildir and its Maildir++ folders."""
    out: list[MailDigest] = []
    for folder, path in _folders(maildir):
        for name, flags, file in _files(path):
            data = file.read_bytes()
            key = (folder, name, flags, hashlib.sha256(data).digest())
            if key not in _mail_cache:
                _remember(_mail_cache, key, _mail_digest(folder, name, flags, data))
            out.append(_mail_cache[key])
    return sorted(out, key=lambda m: (m.folder, m.date, m.message_id, m.name))


def _mail_digest(folder: str, name: str, flags: str, data: bytes) -> MailDigest:
    message = mime.parse(data)
    when = mime.date(message)
    ids = mime.message_ids(mime.header(message, "Message-ID"))
    reply = mime.message_ids(mime.header(message, "In-Reply-To"))
    return MailDigest(
        folder=folder,
        name=name,
        message_id=ids[0] if ids else "",
        from_=", ".join(mime.addresses(message, "From")),
        to=mime.addresses(message, "To"),
        cc=mime.addresses(message, "Cc"),
        bcc=mime.addresses(message, "Bcc"),
        subject=mime.header(message, "Subject"),
        date=when.isoformat() if when else "",
        in_reply_to=reply[0] if reply else "",
        references=mime.message_ids(mime.header(message, "References")),
        body=mime.body_text(message).strip(),
        flags="".join(sorted(flags)),
        attachments=[a.name for a in mime.attachments(message)],
    )


def _when(prop: Any) -> str:
    return _iso(prop.dt) if prop is not None else ""


def _iso(value: date | datetime) -> str:
    return value.isoformat()


def _zone(value: Any) -> str | None:
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return "floating"
    key = getattr(value.tzinfo, "key", None)
    return str(key) if key else str(value.tzname())


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _address(value: Any) -> str:
    text = _text(value)
    return text[len("mailto:") :] if text.lower().startswith("mailto:") else text


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _exdates(value: Any) -> list[str]:
    return [_iso(when.dt) for prop in _as_list(value) for when in prop.dts]
