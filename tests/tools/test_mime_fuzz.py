"""Fuzzing the MIME reading path: whatever the bytes, reading a message never raises."""

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from morrow.tools.email import mime
from morrow.tools.email.reading import parse_message, to_email
from morrow.tools.email.untrusted import email_item, strip_quoted

DATA = Path(__file__).parents[1] / "data" / "email"
REAL = sorted(p.read_bytes() for p in DATA.rglob("*") if p.suffix in (".eml", ".txt"))
WHEN = datetime(2025, 1, 1, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Berlin")
FUZZ = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])


def read_all_the_way(data: bytes) -> None:
    """What a tool does with a message: parse, build the Email, render it for the model."""
    parsed = parse_message(data)
    email = to_email(parsed, email_id="INBOX/x", folder="INBOX", unread=True, received=WHEN)
    item = email_item(email, ZONE)
    assert item["content"].count("</untrusted_content>") == 1
    assert email.date.tzinfo is not None
    strip_quoted(email.body)


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes(data: bytes) -> None:
    read_all_the_way(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(REAL)))
    for _ in range(draw(st.integers(1, 8))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "drop", "dup"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[at:]
        elif action == "insert":
            data[at:at] = draw(
                st.sampled_from(
                    [
                        b"\r\n--",
                        b"\n\n",
                        b'Content-Type: multipart/mixed; boundary="x"\n',
                        b"=?utf-8?b?////?=",
                        b"=?x-unknown?q?=FF=FE?=",
                        b"Content-Transfer-Encoding: base64\n",
                        b'charset="\xff"',
                        b"\x00\x1b$B",
                        b"filename*=utf-8''%FF%FE",
                        b"Date: Mon, 99 Foo 12345 25:61:61 +9999\n",
                    ]
                )
            )
        elif action == "drop":
            del data[at : at + draw(st.integers(1, 200))]
        elif action == "dup":
            data[at:at] = data[at : at + draw(st.integers(1, 500))]
    return bytes(data)


@FUZZ
@given(mutated())
def test_mutated_real_messages(data: bytes) -> None:
    read_all_the_way(data)


HEADER_NAMES = ["From", "To", "Cc", "Subject", "Date", "Message-ID", "References", "In-Reply-To"]


@FUZZ
@given(
    st.lists(
        st.tuples(st.sampled_from(HEADER_NAMES), st.text(max_size=120)), min_size=1, max_size=10
    ),
    st.text(max_size=500),
    st.sampled_from(["utf-8", "latin-1", "cp1252", "shift_jis", "koi8-r"]),
)
def test_arbitrary_header_text_and_charsets(
    headers: list[tuple[str, str]], body: str, charset: str
) -> None:
    lines = [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Type: text/plain; charset={charset}")
    data = ("\n".join(lines) + "\n\n").encode("utf-8", "surrogatepass") + body.encode(
        charset, "replace"
    )
    read_all_the_way(data)
    mime.thread_root(mime.parse_headers(data))


def test_a_header_cpython_cannot_parse_still_reads() -> None:
    # found by fuzzing msg_45-like input: an RFC 2231 boundary holding a line break makes
    # CPython's structured header parser raise IndexError while parsing
    data = (
        b"From: Anne <a@b.example>\nSubject: Signed\n"
        b"Content-Type: multipart/signed; micalg*=ansi-x3.4-1968''pgp-md5;\n"
        b"\tboundary*=\"ansi-x3.4-1968''\n--EeQfG\"\n\n--EeQfG\nContent-Type: text/plain\n\nHello\n"
    )
    parsed = parse_message(data)
    assert (parsed.subject, parsed.sender) == ("Signed", "Anne <a@b.example>")
    assert "Hello" in parsed.body
