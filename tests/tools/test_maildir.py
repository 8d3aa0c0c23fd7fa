"""The Maildir backend and the email tools."""

import json
import os
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from morrow.tools.email.maildir import MaildirMailbox
from morrow.tools.email.reading import MAX_BODY_CHARS
from morrow.tools.errors import NotFoundError

DATA = Path(__file__).parents[1] / "data" / "email"
REAL = sorted(
    p for p in DATA.rglob("*") if p.suffix in (".eml", ".txt") and "LICENSES" not in p.parts
)


def make_maildir(root: Path, folders: tuple[str, ...] = ()) -> Path:
    for base in (root, *(root / f".{name}" for name in folders)):
        for sub in ("cur", "new", "tmp"):
            (base / sub).mkdir(parents=True, exist_ok=True)
    return root


def deliver(root: Path, key: str, data: bytes, *, folder: str = "", seen: bool = True) -> str:
    base = root / f".{folder}" if folder else root
    name = f"{key}:2,S" if seen else key
    (base / ("cur" if seen else "new") / name).write_bytes(data)
    return f"{folder or 'INBOX'}/{key}"


def message(
    subject: str, sender: str, sent: datetime, body: str = "hello", to: str = "me@example.com"
) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = format_datetime(sent)
    msg["Message-ID"] = f"<{subject.replace(' ', '.')}@test>"
    msg.set_content(body)
    return msg.as_bytes()


# -- real messages ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_box(tmp_path_factory: pytest.TempPathFactory) -> tuple[MaildirMailbox, dict[str, str]]:
    root = make_maildir(tmp_path_factory.mktemp("real") / "Mail")
    ids = {}
    for number, path in enumerate(REAL):
        ids[path.relative_to(DATA).as_posix()] = deliver(
            root, f"{number:03d}.real", path.read_bytes()
        )
    return MaildirMailbox(root), ids


def test_every_real_message_reads_and_searches_without_raising(real_box: Any) -> None:
    box, ids = real_box
    assert len(ids) == 39
    for email_id in ids.values():
        email = box.read(email_id)
        assert email.id == email_id and email.date.tzinfo is not None
    assert len(box.search(limit=100)) == 39
    assert box.search(query="zzz-not-anywhere", limit=100) == []


def _expectations() -> dict[str, dict[str, Any]]:
    entries = json.loads((DATA / "expectations.json").read_text())["entries"]
    return {entry["file"]: entry["expect"] for entry in entries}


def test_decoded_headers_match_expectations(real_box: Any) -> None:
    box, ids = real_box
    expect = _expectations()
    utf8 = box.read(ids["mikel-mail/rfc6532/utf8_headers.eml"])
    e = expect["mikel-mail/rfc6532/utf8_headers.eml"]
    assert utf8.subject == e["subject"]
    assert utf8.from_ == f"{e['from_display_name']} <{e['from_address']}>"
    assert utf8.to == [f"{e['to_display_name']} <{e['to_address']}>"]
    bilingual = box.read(ids["flanker/bilingual-simple.eml"])
    assert bilingual.subject == expect["flanker/bilingual-simple.eml"]["subject"]
    invalid = box.read(ids["mikel-mail/error_emails/invalid_subject_characters.eml"])
    name = expect["mikel-mail/error_emails/invalid_subject_characters.eml"]["from_display_name"]
    assert invalid.from_.startswith(name)
    assert invalid.subject.startswith("Formação FrenetikPolis")  # raw cp1252 bytes decoded
    # a raw ISO-8859-1 byte in From: flanker's reading, which we share (CPython gives U+FFFD)
    assert (
        box.read(ids["flanker/from-encoding.eml"]).from_ == "Ingo Lütkebohle <ingo@blank.pages.de>"
    )
    assert box.read(ids["flanker/mailformed-headers.eml"]).subject
    msg35 = box.read(ids["cpython/msg_35.txt"])
    assert msg35.subject == expect["cpython/msg_35.txt"]["headers"]["Subject"]
    assert msg35.body == expect["cpython/msg_35.txt"]["body"].strip()


def test_bodies_in_any_charset(real_box: Any) -> None:
    box, ids = real_box
    expect = _expectations()
    iso = "mikel-mail/multi_charset/japanese_iso_2022.eml"
    assert box.read(ids[iso]).body == expect[iso]["decoded_body"].strip()
    assert [a.split("<")[-1].rstrip(">") for a in box.read(ids[iso]).to] == expect[iso]["to"]
    korean = "mikel-mail/multi_charset/ks_c_5601-1987.eml"
    assert box.read(ids[korean]).body == expect[korean]["decoded_body_stripped"]
    assert "あいうえお" in box.read(ids["mikel-mail/multi_charset/japanese_shift_jis.eml"]).body
    assert "Как ты поживаешь" in box.read(ids["flanker/bilingual-simple.eml"]).subject
    assert box.read(ids["cpython/msg_41.txt"]).body == "Blah blah blah"  # multipart, no boundary
    outlook = box.read(ids["mikel-mail/mime_emails/raw_email_with_illegal_boundary.eml"])
    assert outlook.body  # the unquoted Outlook boundary is recovered


def test_attachments_match_expectations(real_box: Any) -> None:
    box, ids = real_box
    expect = _expectations()
    for name in (
        "mikel-mail/attachment_emails/attachment_nonascii_filename.eml",
        "mikel-mail/mime_emails/raw_email_with_nested_attachment.eml",
    ):
        email = box.read(ids[name])
        assert [a.name for a in email.attachments] == expect[name]["attachment_filenames"]
        assert email.has_attachments
    pdf = box.read(ids["mikel-mail/attachment_emails/attachment_pdf.eml"]).attachments
    size = expect["mikel-mail/attachment_emails/attachment_pdf.eml"][
        "attachment_0_decoded_size_bytes"
    ]
    assert [(a.content_type, a.size) for a in pdf] == [("application/pdf", size)]
    # CPython's view: the attached message is one attachment (Ruby Mail also counts the PDF in it)
    forwarded = box.read(ids["mikel-mail/attachment_emails/attachment_message_rfc822.eml"])
    assert [a.content_type for a in forwarded.attachments] == ["message/rfc822"]
    assert (
        box.read(ids["cpython/msg_22.txt"]).attachments[0].name
        == expect["cpython/msg_22.txt"]["part_1_param_name"]
    )


def test_threading_headers(real_box: Any) -> None:
    box, ids = real_box
    reply = box.read(ids["mikel-mail/plain_emails/raw_email_reply.eml"])
    # a reply to this message must set In-Reply-To to its Message-ID
    assert reply.message_id == "473FFE27.20003@xxx.org"
    assert reply.in_reply_to == "348F04F142D69C21-291E56D292BC@xxxx.net"
    assert reply.thread_id == (reply.references or [reply.in_reply_to])[0]


# -- search filters on a small mailbox ----------------------------------------------------------

T0 = datetime(2025, 3, 28, 9, 0, tzinfo=UTC)


@pytest.fixture
def box(tmp_path: Path) -> MaildirMailbox:
    root = make_maildir(tmp_path / "Mail", folders=("Sent", "Archive", "Trash"))
    deliver(
        root, "1.a", message("Budget question", "Priya Shah <priya@example.com>", T0), seen=False
    )
    deliver(
        root,
        "2.b",
        message(
            "Newsletter",
            "News <news@weekly.example>",
            T0 - timedelta(days=1),
            body="Remote caching explained",
        ),
    )
    deliver(
        root,
        "3.c",
        message("Lunch?", "Jonas <jonas@example.com>", T0 - timedelta(days=2)),
        seen=False,
    )
    deliver(
        root,
        "4.d",
        message(
            "Re: Budget question",
            "Me <me@example.com>",
            T0 - timedelta(hours=1),
            to="priya@example.com",
        ),
        folder="Sent",
    )
    deliver(
        root,
        "5.e",
        message("Old budget", "Priya Shah <priya@example.com>", T0 - timedelta(days=40)),
        folder="Archive",
    )
    deliver(root, "6.f", message("Spam budget", "x@spam.example", T0), folder="Trash")
    return MaildirMailbox(root)


def subjects(found: list[Any]) -> list[str]:
    return [email.subject for email in found]


def test_search_newest_first_across_folders_except_trash(box: MaildirMailbox) -> None:
    assert subjects(box.search()) == [
        "Budget question",
        "Re: Budget question",
        "Newsletter",
        "Lunch?",
        "Old budget",
    ]
    assert subjects(box.search(limit=2)) == ["Budget question", "Re: Budget question"]
    assert box.folders() == ["INBOX", "Archive", "Sent", "Trash"]


def test_search_filters(box: MaildirMailbox) -> None:
    assert subjects(box.search(sender="PRIYA")) == ["Budget question", "Old budget"]
    assert subjects(box.search(sender="jonas@")) == ["Lunch?"]
    assert subjects(box.search(unread=True)) == ["Budget question", "Lunch?"]
    assert "Budget question" not in subjects(box.search(unread=False))
    assert subjects(box.search(folder="sent")) == ["Re: Budget question"]
    assert subjects(box.search(folder="Trash")) == ["Spam budget"]
    assert subjects(box.search(since=T0 - timedelta(days=1), until=T0)) == [
        "Re: Budget question",
        "Newsletter",
    ]
    assert subjects(box.search(query="budget", folder="INBOX")) == ["Budget question"]
    assert subjects(box.search(query="remote CACHING")) == ["Newsletter"]  # found in the body
    assert subjects(box.search(query="priya@example.com")) == [
        "Budget question",
        "Re: Budget question",
        "Old budget",  # from and to
    ]
    with pytest.raises(NotFoundError, match="Archive"):
        box.search(folder="Nope")


def test_summary_fields(box: MaildirMailbox) -> None:
    first = box.search(limit=1)[0]
    assert first.id == "INBOX/1.a" and first.folder == "INBOX" and first.unread
    assert first.from_ == "Priya Shah <priya@example.com>"
    assert first.snippet == "hello"
    assert json.loads(first.model_dump_json())["from"] == first.from_


def test_ids_survive_moving_from_new_to_cur(box: MaildirMailbox) -> None:
    new = box.path / "new" / "1.a"
    os.rename(new, box.path / "cur" / "1.a:2,S")
    email = box.read("INBOX/1.a")
    assert not email.unread
    for missing in ("INBOX/nope", "Nope/1.a", "garbage"):
        with pytest.raises(NotFoundError):
            box.read(missing)


def test_missing_maildir_is_empty(tmp_path: Path) -> None:
    box = MaildirMailbox(tmp_path / "none")
    assert box.search() == [] and box.search(folder="INBOX") == []
    with pytest.raises(NotFoundError):
        box.read("INBOX/x")


def test_html_only_body_becomes_text_and_long_bodies_are_cut(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "Mail")
    html = EmailMessage()
    html["Subject"], html["Date"] = "News", format_datetime(T0)
    html.set_content(
        "<html><head><style>p{color:red}</style></head><body><h1>Title</h1>"
        "<p>Read <a href='https://x.example/a'>the story</a>.</p><ul><li>one</li><li>two</li></ul>"
        "<script>alert(1)</script></body></html>",
        subtype="html",
    )
    deliver(root, "h", html.as_bytes())
    deliver(root, "l", message("Long", "a@b.example", T0, body="x" * (MAX_BODY_CHARS + 123)))
    box = MaildirMailbox(root)
    body = box.read("INBOX/h").body
    assert body == "Title\n\nRead the story (https://x.example/a).\n\n- one\n\n- two"
    long = box.read("INBOX/l")
    assert len(long.body) == MAX_BODY_CHARS
    assert long.body_truncated and "123 more" in long.body_truncated


def test_fixture_copy_is_complete() -> None:
    assert len(REAL) == 39
    assert (DATA / "LICENSES").is_dir() and (DATA / "README.md").is_file()
