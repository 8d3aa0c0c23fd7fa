"""The Gmail backend and the email tools over it: exact requests, on the static discovery doc."""

import base64
import json
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from googleapiclient.discovery import build
from googleapiclient.http import HttpMockSequence

from morrow.tools.email.backend import EmailSummary, OutcomeUnknownError
from morrow.tools.email.compose import build_message
from morrow.tools.email.gmail import GmailMailbox, folder_of, gmail_query
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
from morrow.tools.errors import BackendError, NotFoundError

API = "https://gmail.googleapis.com/gmail/v1/users/me"
OK = {"status": "200"}
ME = "Alex Morgan <alex@example.com>"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def headers(**values: str) -> list[dict[str, str]]:
    return [{"name": name.replace("_", "-"), "value": value} for name, value in values.items()]


QUESTION = {
    "id": "m1",
    "threadId": "t1",
    "labelIds": ["INBOX", "UNREAD"],
    "snippet": "Can you confirm the contingency line &amp; the total?",
    "internalDate": "1743152400000",  # 2025-03-28T09:00:00Z
    "payload": {
        "mimeType": "multipart/mixed",
        "headers": headers(
            From="=?utf-8?q?Priya_Sh=C3=A1h?= <priya@example.com>",
            To="alex@example.com",
            Subject="Q3 budget",
            Date="Fri, 28 Mar 2025 09:00:00 +0000",
            Message_ID="<budget-1@example.com>",
            References="<kickoff@example.com>",
        ),
        "parts": [
            {
                "mimeType": "multipart/alternative",
                "parts": [
                    {
                        "mimeType": "text/plain",
                        "headers": headers(Content_Type="text/plain; charset=iso-8859-1"),
                        "body": {
                            "size": 48,
                            "data": b64(
                                "Can you confirm the contingency line? Grüße".encode("latin-1")
                            ),
                        },
                    },
                    {
                        "mimeType": "text/html",
                        "headers": headers(Content_Type="text/html; charset=utf-8"),
                        "body": {"size": 20, "data": b64(b"<p>ignored</p>")},
                    },
                ],
            },
            {
                "mimeType": "application/pdf",
                "filename": "budget.pdf",
                "body": {"attachmentId": "a1", "size": 1026},
            },
        ],
    },
}


def gmail(*responses: Any, address: str | None = ME) -> tuple[GmailMailbox, HttpMockSequence]:
    """A backend over scripted responses: a JSON body (status 200) or a (status, body) pair."""
    pairs = [r if isinstance(r, tuple) else (OK, r) for r in responses]
    http = HttpMockSequence([(status, json.dumps(body)) for status, body in pairs])
    service = build("gmail", "v1", http=http, static_discovery=True)
    return GmailMailbox(service, address=address), http


def requests(http: HttpMockSequence) -> list[tuple[str, str, Any]]:
    """(method, path?query, decoded JSON body) of every request, alt=json left out."""
    out = []
    for uri, method, body, _ in http.request_sequence:
        parts = urlsplit(uri)
        query = {k: v for k, v in parse_qs(parts.query).items() if k != "alt"}
        out.append(
            (
                method,
                parts.path.removeprefix("/gmail/v1/users/me"),
                query,
                json.loads(body) if body else None,
            )
        )
    return out


def raw_message(body: dict[str, Any]) -> tuple[bytes, Any]:
    raw = body["raw"] if "raw" in body else body["message"]["raw"]
    data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    return data, BytesParser(policy=policy.default).parsebytes(data)


@pytest.fixture
def use(workspace: Any) -> Any:
    def attach(box: GmailMailbox) -> Any:
        workspace.mail = box
        return workspace

    return attach


# -- reading ------------------------------------------------------------------------------------


def test_search_paginates_and_reads_metadata(use: Any, call: Any) -> None:
    box, http = gmail(
        {"messages": [{"id": "m1", "threadId": "t1"}], "nextPageToken": "p2"},
        {"messages": [{"id": "m2", "threadId": "t2"}]},
        QUESTION,
        {
            **QUESTION,
            "id": "m2",
            "threadId": "t2",
            "labelIds": ["SENT"],
            "internalDate": "1743066000000",
        },
    )
    found = call(
        search_emails,
        use(box),
        query="budget",
        sender="priya",
        unread=True,
        limit=2,
        since="2025-03-01T00:00:00Z",
    )
    assert [e["id"] for e in found] == ["m1", "m2"]
    assert found[0]["folder"] == "INBOX" and found[1]["folder"] == "Sent"
    assert found[0]["thread_id"] == "t1" and found[0]["unread"] is True
    assert found[0]["has_attachments"] is True
    assert found[0]["content"] == (
        '<untrusted_content source="email:m1">\nFrom: Priya Sháh <priya@example.com>\n'
        "To: alex@example.com\nSubject: Q3 budget\n\n"
        "Can you confirm the contingency line & the total?\n</untrusted_content>"
    )
    q = "budget from:priya is:unread after:1740787200"
    metadata = {
        "format": ["metadata"],
        "metadataHeaders": ["From", "To", "Subject", "Date", "Message-ID"],
    }
    assert requests(http) == [
        ("GET", "/messages", {"q": [q], "maxResults": ["2"]}, None),
        ("GET", "/messages", {"q": [q], "maxResults": ["1"], "pageToken": ["p2"]}, None),
        ("GET", "/messages/m1", metadata, None),
        ("GET", "/messages/m2", metadata, None),
    ]


def test_query_and_folders() -> None:
    assert gmail_query(None, "Priya Shah", False, None, None, "Archive") == (
        'from:"Priya Shah" is:read -in:inbox -in:sent -in:drafts'
    )
    assert gmail_query("x", None, None, None, None, "Receipts") == "x label:Receipts"
    assert folder_of(["CATEGORY_UPDATES"]) == "Archive"
    assert folder_of(["DRAFT"]) == "Drafts" and folder_of(["SPAM", "INBOX"]) == "Spam"


def test_search_in_trash_includes_spam_and_trash() -> None:
    box, http = gmail({"resultSizeEstimate": 0})
    assert box.search(folder="Trash") == []
    assert requests(http)[0][2]["includeSpamTrash"] == ["true"]


def test_read_email_full_format(use: Any, call: Any) -> None:
    box, http = gmail(QUESTION)
    result = call(read_email, use(box), email_id="m1")
    assert requests(http) == [("GET", "/messages/m1", {"format": ["full"]}, None)]
    content = result["content"]
    assert "Attachments: budget.pdf (application/pdf, 1 KB)" in content
    assert content.endswith("\n\nCan you confirm the contingency line? Grüße\n</untrusted_content>")
    assert result["thread_id"] == "t1" and result["date"] == "2025-03-28T10:00:00+01:00"


def test_read_falls_back_to_raw_when_the_body_is_not_inline() -> None:
    not_inline = {
        **QUESTION,
        "payload": {
            "mimeType": "text/plain",
            "headers": QUESTION["payload"]["headers"],
            "body": {"attachmentId": "big", "size": 900000},
        },
    }
    raw = b"From: a@b.example\r\nSubject: Big\r\nMessage-ID: <big@b.example>\r\n\r\nLong text\r\n"
    box, http = gmail(not_inline, {"id": "m1", "raw": b64(raw)})
    email = box.read("m1")
    assert email.body == "Long text" and email.subject == "Big" and email.thread_id == "t1"
    assert [r[2] for r in requests(http)] == [{"format": ["full"]}, {"format": ["raw"]}]


def test_read_thread(use: Any, call: Any) -> None:
    reply = {
        **QUESTION,
        "id": "m2",
        "labelIds": ["SENT"],
        "internalDate": "1743156000000",
        "payload": {
            "mimeType": "text/plain",
            "headers": headers(From=ME, To="priya@example.com", Subject="Re: Q3 budget"),
            "body": {
                "size": 40,
                "data": b64(b"Yes.\n\nOn Fri, Priya wrote:\n> Can you confirm?\n"),
            },
        },
    }
    box, http = gmail({"id": "t1", "messages": [reply, QUESTION]})
    result = call(read_thread, use(box), thread_id="t1")
    assert requests(http) == [("GET", "/threads/t1", {"format": ["full"]}, None)]
    assert [m["id"] for m in result["messages"]] == ["m1", "m2"]  # oldest first
    assert result["messages"][1]["content"].endswith(
        "Subject: Re: Q3 budget\n\nYes.\n</untrusted_content>"
    )
    assert "left out" in result["note"]


def test_unknown_id_is_not_found() -> None:
    box, _ = gmail(({"status": "404"}, {"error": {"code": 404, "message": "Not Found"}}))
    with pytest.raises(NotFoundError):
        box.read("nope")


def test_search_contacts(use: Any, call: Any) -> None:
    sent = {
        "id": "s1",
        "threadId": "t1",
        "labelIds": ["SENT"],
        "internalDate": "1743156000000",
        "payload": {
            "headers": headers(From=ME, To="Priya Shah <priya@example.com>", Cc="pat@example.com")
        },
    }
    box, http = gmail({"messages": [{"id": "s1"}]}, sent, {"messages": [{"id": "m1"}]}, QUESTION)
    people = call(search_contacts, use(box), query="priya")
    assert people == [
        {
            "address": "priya@example.com",
            "name": '<untrusted_content source="email headers">Priya Shah</untrusted_content>',
            "you_wrote": 1,
            "wrote_to_you": 1,
        }
    ]
    wanted = {"format": ["metadata"], "metadataHeaders": ["From", "To", "Cc", "Date"]}
    assert requests(http) == [
        (
            "GET",
            "/messages",
            {"q": ["in:sent {to:priya cc:priya bcc:priya}"], "maxResults": ["25"]},
            None,
        ),
        ("GET", "/messages/s1", wanted, None),
        ("GET", "/messages", {"q": ["from:priya -in:sent -in:drafts"], "maxResults": ["25"]}, None),
        ("GET", "/messages/m1", wanted, None),
    ]


# -- writing ------------------------------------------------------------------------------------


def test_send_email_reply_raw_mime(use: Any, call: Any) -> None:
    box, http = gmail(QUESTION, {"id": "m9", "threadId": "t1", "labelIds": ["SENT"]})
    result = call(
        send_email,
        use(box),
        to=["Priya Sháh <priya@example.com>"],
        cc=["Jonas Müller <jonas@example.de>"],
        bcc=["boss@example.com"],
        subject="RE: Re: Q3 budget — Übersicht",
        body="Bestätigt, danke!",
        reply_to_email_id="m1",
    )
    (get, send) = requests(http)
    assert get[:3] == ("GET", "/messages/m1", {"format": ["full"]})
    assert send[:3] == ("POST", "/messages/send", {})
    assert send[3]["threadId"] == "t1" and set(send[3]) == {"raw", "threadId"}
    data, message = raw_message(send[3])
    assert data.isascii() and b"\r\n" in data  # 7-bit clean, CRLF on the wire
    assert message["From"] == ME
    assert message["To"] == "Priya Sháh <priya@example.com>"
    assert message["Cc"] == "Jonas Müller <jonas@example.de>"
    assert message["Bcc"] == "boss@example.com"  # Gmail delivers to Bcc and strips it
    assert b"To: Priya =?utf-8?q?Sh=C3=A1h?= <priya@example.com>\r\n" in data
    assert b"Subject: Re: Q3 budget =?utf-8?q?=E2=80=94_=C3=9Cbersicht?=\r\n" in data
    assert message["Subject"] == "Re: Q3 budget — Übersicht"
    assert message["In-Reply-To"] == "<budget-1@example.com>"
    assert message["References"] == "<kickoff@example.com> <budget-1@example.com>"
    assert message["Message-ID"] == f"<{result['message_id']}>"
    assert result["message_id"].endswith(".morrow@example.com")
    assert message.get_content_charset() == "utf-8"
    text = message.get_content().replace("\r\n", "\n")
    assert text.startswith(
        "Bestätigt, danke!\n\nOn Fri, 28 Mar 2025 at 10:00, Priya Sháh <priya@example.com> wrote:\n"
    )
    assert "> Can you confirm the contingency line? Grüße" in text
    assert result == {
        "message_id": result["message_id"],
        "email_id": "m9",
        "thread_id": "t1",
        "recipients": ["priya@example.com", "jonas@example.de", "boss@example.com"],
        "delivered": True,
        "subject": "Re: Q3 budget — Übersicht",
        "in_reply_to": "m1",
        "quoted": "the original email is quoted below the body",
    }


def test_send_is_never_retried(use: Any, call: Any) -> None:
    box, http = gmail(({"status": "503"}, {"error": {"code": 503, "message": "busy"}}))
    with pytest.raises(OutcomeUnknownError, match="Message-ID") as caught:
        call(send_email, use(box), to=["priya@example.com"], subject="Hi", body="Hello")
    assert len(http.request_sequence) == 1  # one attempt, no retry
    assert caught.value.message_id.endswith("@example.com")


def test_send_refused_is_not_sent() -> None:
    box, _ = gmail(({"status": "400"}, {"error": {"code": 400, "message": "Invalid To header"}}))

    message = build_message(
        sender=ME, to=["a@b.example"], subject="s", body="b", now=datetime(2025, 3, 28, tzinfo=UTC)
    )
    with pytest.raises(BackendError, match="nothing was sent"):
        box.send(message, None)


def test_draft_then_send_draft(use: Any, call: Any) -> None:
    box, http = gmail(
        {"id": "r-1", "message": {"id": "m5", "threadId": "t5", "labelIds": ["DRAFT"]}},
    )
    ws = use(box)
    draft = call(draft_email, ws, to=["priya@example.com"], subject="Agenda", body="Draft text")
    (create,) = requests(http)
    assert create[:3] == ("POST", "/drafts", {})
    assert set(create[3]) == {"message"} and set(create[3]["message"]) == {"raw"}
    _, message = raw_message(create[3])
    assert message["Subject"] == "Agenda" and message["To"] == "priya@example.com"
    assert draft == {
        "draft_id": "r-1",
        "message_id": message["Message-ID"].strip("<>"),
        "thread_id": "t5",
        "subject": "Agenda",
    }
    box2, http2 = gmail(
        {
            "id": "r-1",
            "message": {
                "id": "m5",
                "payload": {
                    "headers": headers(To="priya@example.com", Message_ID=message["Message-ID"])
                },
            },
        },
        {"id": "m6", "threadId": "t5", "labelIds": ["SENT"]},
    )
    sent = call(send_draft, use(box2), draft_id="r-1")
    assert requests(http2) == [
        ("GET", "/drafts/r-1", {"format": ["metadata"]}, None),
        ("POST", "/drafts/send", {}, {"id": "r-1"}),
    ]
    assert sent == {
        "message_id": draft["message_id"],
        "email_id": "m6",
        "thread_id": "t5",
        "recipients": ["priya@example.com"],
        "delivered": True,
    }


def test_the_draft_as_it_will_be_sent_and_what_is_sent_mail() -> None:
    raw = (
        b"From: me@example.com\r\nTo: priya@example.com\r\nBcc: hidden@example.org\r\n"
        b"Subject: Agenda\r\n\r\nDraft text\r\n"
    )
    box, http = gmail({"id": "r-1", "message": {"id": "m5", "raw": b64(raw)}})
    draft = box.draft("r-1")
    assert requests(http) == [("GET", "/drafts/r-1", {"format": ["raw"]}, None)]
    assert draft["Bcc"] == "hidden@example.org"  # the gate sees every recipient
    summary = EmailSummary.model_validate(
        {
            "id": "m1",
            "thread_id": "t",
            "folder": folder_of(["SENT"]),
            "date": datetime(2025, 3, 1, tzinfo=UTC),
        }
    )
    assert box.is_sent(summary)
    assert not box.is_sent(summary.model_copy(update={"folder": folder_of(["INBOX"])}))


def test_draft_reply_carries_the_thread_id(use: Any, call: Any) -> None:
    box, http = gmail(QUESTION, {"id": "r-2", "message": {"id": "m7", "threadId": "t1"}})
    call(
        draft_email,
        use(box),
        to=["priya@example.com"],
        subject="",
        body="Later",
        reply_to_email_id="m1",
    )
    create = requests(http)[1]
    assert create[3]["message"]["threadId"] == "t1"
    _, message = raw_message(create[3])
    assert message["Subject"] == "Re: Q3 budget"


def test_archive_and_mark(use: Any, call: Any) -> None:
    box, http = gmail({"id": "m1", "labelIds": []}, {"id": "m1"}, {"id": "m1"})
    ws = use(box)
    assert call(archive_email, ws, email_id="m1") == {"archived": True, "email_id": "m1"}
    call(mark_email, ws, email_id="m1", read=True)
    call(mark_email, ws, email_id="m1", read=False)
    assert requests(http) == [
        ("POST", "/messages/m1/modify", {}, {"removeLabelIds": ["INBOX"]}),
        ("POST", "/messages/m1/modify", {}, {"removeLabelIds": ["UNREAD"]}),
        ("POST", "/messages/m1/modify", {}, {"addLabelIds": ["UNREAD"]}),
    ]


def test_sender_from_profile_and_find_sent() -> None:
    box, http = gmail(
        {"emailAddress": "alex@gmail.example", "messagesTotal": 3},
        {"messages": [{"id": "m9"}]},
        {**QUESTION, "id": "m9", "labelIds": ["SENT"]},
        address=None,
    )
    assert box.sender() == "alex@gmail.example"
    assert box.sender() == "alex@gmail.example"  # asked once
    assert box.find_sent("<abc.morrow@gmail.example>").id == "m9"
    assert [r[:3] for r in requests(http)][:2] == [
        ("GET", "/profile", {}),
        (
            "GET",
            "/messages",
            {"q": ["in:sent rfc822msgid:abc.morrow@gmail.example"], "maxResults": ["1"]},
        ),
    ]


def test_service_factory_is_called_on_first_use() -> None:
    http = HttpMockSequence([(OK, json.dumps({"messages": []}))])
    built = []

    def factory() -> Any:
        built.append(1)
        return build("gmail", "v1", http=http, static_discovery=True)

    box = GmailMailbox(factory, address=ME)
    assert built == []
    assert box.search() == [] and built == [1]
