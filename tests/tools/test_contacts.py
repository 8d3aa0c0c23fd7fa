"""search_contacts: people from the user's own mail (sent counts more) and the vCard file."""

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from morrow.tools.email.contacts import load_vcards
from morrow.tools.email.maildir import MaildirMailbox
from morrow.tools.email.tools import search_contacts
from morrow.tools.errors import BackendError, ToolError, ToolRetry

T0 = datetime(2025, 3, 20, 9, 0, tzinfo=UTC)
VCARDS = """\
BEGIN:VCARD
VERSION:3.0
FN:Priya Shah (work)
N:Shah;Priya;;;
EMAIL;TYPE=work:Priya@Example.com
EMAIL;TYPE=home:priya.shah@home.example
END:VCARD
BEGIN:VCARD
VERSION:4.0
FN:Paul Prince
EMAIL:paul@example.org
END:VCARD
BEGIN:VCARD
VERSION:2.1
N:Nakamura;Haruki
EMAIL;INTERNET:haruki@example.jp
END:VCARD
"""


def write(root: Path, folder: str, key: str, sender: str, to: str, days: int) -> None:
    base = root / f".{folder}" if folder else root
    for sub in ("cur", "new", "tmp"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, f"mail {key}"
    msg["Date"] = format_datetime(T0 + timedelta(days=days))
    msg.set_content("text")
    (base / "cur" / f"{key}:2,S").write_bytes(msg.as_bytes())


@pytest.fixture
def ws(tmp_path: Path, workspace: Any) -> Any:
    root = tmp_path / "Mail"
    # a newsletter wrote 5 times; the user wrote to Pat twice and to Priya once
    for n in range(5):
        write(root, "", f"n{n}", "Promo Pal <promo@shop.example>", "alex@example.com", n)
    write(root, "", "p1", "Priya S <priya@example.com>", "alex@example.com", 1)
    write(root, "Sent", "s1", "Alex <alex@example.com>", "Pat Parker <pat@example.com>", 2)
    write(
        root,
        "Sent",
        "s2",
        "Alex <alex@example.com>",
        "pat@example.com, Priya <priya@example.com>",
        3,
    )
    workspace.mail = MaildirMailbox(root, address="Alex <alex@example.com>")
    return workspace


def test_people_the_user_wrote_to_come_first(ws: Any, call: Any) -> None:
    found = call(search_contacts, ws, query="p")
    assert [c["address"] for c in found] == [
        "pat@example.com",
        "priya@example.com",
        "promo@shop.example",
    ]
    assert found[0] == {
        "address": "pat@example.com",
        "name": '<untrusted_content source="email headers">Pat Parker</untrusted_content>',
        "you_wrote": 2,
        "wrote_to_you": 0,
    }
    assert found[2]["wrote_to_you"] == 5 and found[2]["you_wrote"] == 0
    assert "alex@example.com" not in [c["address"] for c in call(search_contacts, ws, query="alex")]
    with pytest.raises(ToolRetry):
        call(search_contacts, ws, query="  ")


def test_address_book_entries_merge_and_rank(ws: Any, call: Any, tmp_path: Path) -> None:
    book = tmp_path / "contacts.vcf"
    book.write_text(VCARDS)
    ws.contacts_file = book
    found = call(search_contacts, ws, query="pri")
    assert found[0] == {
        "address": "priya@example.com",
        "name": "Priya Shah (work)",  # the user's own name for her, not her mail's
        "you_wrote": 1,
        "wrote_to_you": 1,
        "in_address_book": True,
    }
    assert "priya.shah@home.example" in [c["address"] for c in found]
    assert [c["address"] for c in call(search_contacts, ws, query="haruki")] == [
        "haruki@example.jp"
    ]
    assert call(search_contacts, ws, query="nakamura")[0]["name"] == "Haruki Nakamura"
    # the file is read again when it changes
    book.write_text(VCARDS.replace("Paul Prince", "Paula Prince"))
    assert call(search_contacts, ws, query="paula")[0]["address"] == "paul@example.org"


def test_bad_vcard_file_is_a_clear_error(tmp_path: Path, ws: Any, call: Any) -> None:
    missing = tmp_path / "none.vcf"
    ws.contacts_file = missing
    with pytest.raises(ToolError, match=r"none\.vcf"):
        call(search_contacts, ws, query="x")
    broken = tmp_path / "broken.vcf"
    broken.write_text("BEGIN:VCARD\nVERSION:3.0\nFN:X\nEMAIL:x@y.example\n")  # never ends
    with pytest.raises(BackendError, match=r"broken\.vcf"):
        load_vcards(broken)
