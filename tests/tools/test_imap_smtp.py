"""The IMAP backend against a real dovecot, and SMTP against a real aiosmtpd sink."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import pytest
from imapclient import IMAPClient
from support.mail_servers import Dovecot, SmtpSink, run_dovecot, run_smtp_sink

from morrow.tools.email.imap import ImapMailbox, ImapSettings
from morrow.tools.email.smtp import SmtpSettings
from morrow.tools.email.tools import (
    archive_email,
    draft_email,
    mark_email,
    read_email,
    read_thread,
    search_contacts,
    search_emails,
    send_draft,
    send_email,
)
from morrow.tools.errors import NotFoundError

ME = "Alex Morgan <alex@example.com>"
T0 = datetime(2025, 3, 27, 9, 0, tzinfo=UTC)


def _message(subject: str, sender: str, sent: datetime, body: str, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "alex@example.com", subject
    msg["Date"] = format_datetime(sent)
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Dovecot, SmtpSink]]:
    with run_dovecot() as dovecot, run_smtp_sink() as sink:
        with IMAPClient("127.0.0.1", port=dovecot.port, ssl=False) as client:
            client.login(dovecot.user, dovecot.password)
            client.append(
                "INBOX",
                _message(
                    "Q3 budget",
                    "Priya Shah <priya@example.com>",
                    T0,
                    "Can you confirm the contingency line by Friday?",
                    Message_ID="<budget-1@example.com>",
                ),
            )
            client.append(
                "INBOX",
                _message(
                    "Weekly news", "News <news@weekly.example>", T0 - timedelta(days=1), "Caching"
                ),
                flags=[b"\\Seen"],
            )
            client.append(
                "INBOX",
                _message(
                    "Übergabe", "Jonas Müller <jonas@example.de>", T0 - timedelta(days=2), "Grüße"
                ),
                flags=[b"\\Seen"],
            )
        yield dovecot, sink


@pytest.fixture
def imap_workspace(servers: Any, workspace: Any) -> Any:
    dovecot, sink = servers
    workspace.mail = ImapMailbox(
        ImapSettings(
            host="127.0.0.1",
            port=dovecot.port,
            security="none",
            username=dovecot.user,
            password=dovecot.password,
        ),
        address=ME,
        smtp=SmtpSettings(host="127.0.0.1", port=sink.port, security="none"),
    )
    return workspace


def _subjects(found: list[dict[str, Any]]) -> list[str]:
    return [
        line.removeprefix("Subject: ")
        for e in found
        for line in e["content"].splitlines()
        if line.startswith("Subject: ")
    ]


def test_search_read_mark_archive_send(imap_workspace: Any, servers: Any, call: Any) -> None:
    _, sink = servers
    ws = imap_workspace
    # search: newest first, filters
    everything = call(search_emails, ws, folder="INBOX")
    assert _subjects(everything) == ["Q3 budget", "Weekly news", "Übergabe"]
    unread = call(search_emails, ws, unread=True)
    assert _subjects(unread) == ["Q3 budget"]
    assert _subjects(call(search_emails, ws, query="contingency")) == ["Q3 budget"]
    assert _subjects(call(search_emails, ws, query="grüße")) == ["Übergabe"]
    assert _subjects(call(search_emails, ws, sender="priya")) == ["Q3 budget"]
    window = call(search_emails, ws, since="2025-03-26T00:00:00Z", until="2025-03-27T00:00:00Z")
    assert _subjects(window) == ["Weekly news"]

    # read: full body, and reading does not mark it read
    email_id = unread[0]["id"]
    read = call(read_email, ws, email_id=email_id)
    assert "contingency line" in read["content"] and read["unread"] is True
    assert read["thread_id"] == "budget-1@example.com"

    # mark read, then unread again
    assert call(mark_email, ws, email_id=email_id, read=True) == {
        "email_id": email_id,
        "read": True,
    }
    assert call(search_emails, ws, unread=True) == []
    call(mark_email, ws, email_id=email_id, read=False)
    assert _subjects(call(search_emails, ws, unread=True)) == ["Q3 budget"]

    # send a reply: the sink gets exactly one message, threaded, with Bcc only in the envelope
    sent = call(
        send_email,
        ws,
        to=["priya@example.com"],
        subject="Q3 budget",
        body="Confirmed.",
        bcc=["boss@example.com"],
        reply_to_email_id=email_id,
    )
    assert len(sink.received) == 1
    got = sink.received[0]
    assert got.mail_from == "alex@example.com"
    assert got.rcpt_tos == ["priya@example.com", "boss@example.com"]
    message = got.message
    assert message["Subject"] == "Re: Q3 budget"
    assert message["In-Reply-To"] == "<budget-1@example.com>"
    assert message["References"] == "<budget-1@example.com>"
    assert message["Message-ID"] == f"<{sent['message_id']}>"
    assert message["From"] == ME and "Bcc" not in message
    assert "> Can you confirm the contingency line by Friday?" in message.get_content()
    # ... and a copy is in Sent, found by its Message-ID
    assert sent["email_id"].startswith("Sent/")
    assert ws.mail.find_sent(sent["message_id"]).id == sent["email_id"]

    # the thread holds the question and the reply
    thread = call(read_thread, ws, thread_id=read["thread_id"])
    assert [m["folder"] for m in thread["messages"]] == ["INBOX", "Sent"]

    # archive: gone from INBOX, readable under its new id
    moved = call(archive_email, ws, email_id=email_id)
    assert moved["email_id"].startswith("Archive/")
    assert "Q3 budget" not in _subjects(call(search_emails, ws, folder="INBOX"))
    assert "contingency" in call(read_email, ws, email_id=moved["email_id"])["content"]
    with pytest.raises(NotFoundError):
        ws.mail.read(email_id)

    # contacts: Priya, whom the user wrote to, comes first
    people = call(search_contacts, ws, query="example")
    assert people[0]["address"] == "priya@example.com" and people[0]["you_wrote"] == 1


def test_draft_then_send_draft(imap_workspace: Any, servers: Any, call: Any) -> None:
    _, sink = servers
    before = len(sink.received)
    draft = call(
        draft_email,
        imap_workspace,
        to=["Jonas Müller <jonas@example.de>"],
        subject="Grüße",
        body="Bis bald",
    )
    assert draft["draft_id"].startswith("Drafts/")
    assert len(sink.received) == before  # a draft sends nothing
    message = imap_workspace.mail.draft(draft["draft_id"])  # what the gate judges
    assert message["To"] == "Jonas Müller <jonas@example.de>" and message["Subject"] == "Grüße"
    assert not imap_workspace.mail.is_sent(imap_workspace.mail.read(draft["draft_id"]))
    sent = call(send_draft, imap_workspace, draft_id=draft["draft_id"])
    assert len(sink.received) == before + 1
    assert imap_workspace.mail.is_sent(imap_workspace.mail.read(sent["email_id"]))
    assert sent["message_id"] == draft["message_id"]
    message = sink.received[-1].message
    assert message["To"] == "Jonas Müller <jonas@example.de>"
    assert message["Subject"] == "Grüße"
    assert call(search_emails, imap_workspace, folder="Drafts") == []
    with pytest.raises(NotFoundError):
        imap_workspace.mail.read(draft["draft_id"])
