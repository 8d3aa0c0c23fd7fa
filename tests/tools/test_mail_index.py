"""The Maildir's FTS5 index: incremental, persistent, shared between processes, rebuildable."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from morrow.tools.email import index as index_module
from morrow.tools.email.maildir import MaildirMailbox

T0 = datetime(2025, 3, 28, 9, 0, tzinfo=UTC)


def make_maildir(root: Path) -> Path:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def mail(subject: str, body: str, sent: datetime = T0, sender: str = "a@b.example") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "me@example.com", subject
    msg["Date"] = format_datetime(sent)
    msg.set_content(body)
    return msg.as_bytes()


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the index parses, in order."""
    parsed: list[str] = []
    original = index_module._parse_file

    def spy(base: Path, file: Any) -> Any:
        parsed.append(file.key)
        return original(base, file)

    monkeypatch.setattr(index_module, "_parse_file", spy)
    return parsed


def test_incremental_updates(tmp_path: Path, counted: list[str]) -> None:
    root = make_maildir(tmp_path / "Mail")
    (root / "cur" / "1:2,S").write_bytes(mail("Alpha", "first"))
    (root / "new" / "2").write_bytes(mail("Beta", "second", T0 - timedelta(days=1)))
    box = MaildirMailbox(root, index_path=tmp_path / "index" / "mail.sqlite")
    assert [e.subject for e in box.search()] == ["Alpha", "Beta"]
    assert sorted(counted) == ["1", "2"]
    # nothing changed: nothing parsed
    box.search()
    assert len(counted) == 2
    # a flag change (rename) updates the row without parsing
    os.rename(root / "new" / "2", root / "cur" / "2:2,S")
    assert box.search(unread=True) == [] and len(counted) == 2
    # a new file is parsed, a deleted one leaves the index
    (root / "new" / "3").write_bytes(mail("Gamma", "third", T0 + timedelta(hours=1)))
    (root / "cur" / "1:2,S").unlink()
    assert [e.subject for e in box.search()] == ["Gamma", "Beta"] and counted[-1] == "3"
    # rewritten content (size or mtime changed) is parsed again
    (root / "new" / "3").write_bytes(mail("Gamma v2", "rewritten body", T0 + timedelta(hours=1)))
    assert box.search(query="rewritten")[0].subject == "Gamma v2"


def test_index_persists_across_instances_and_tracks_folders(
    tmp_path: Path, counted: list[str]
) -> None:
    root = make_maildir(tmp_path / "Mail")
    make_maildir(root / ".Archive")
    (root / ".Archive" / "cur" / "1:2,S").write_bytes(mail("Old", "archived"))
    db = tmp_path / "mail.sqlite"
    MaildirMailbox(root, index_path=db).search()
    assert counted == ["1"]
    second = MaildirMailbox(root, index_path=db)
    assert [e.folder for e in second.search()] == ["Archive"] and counted == ["1"]
    # a removed folder leaves the index
    for sub in ("cur", "new", "tmp"):
        for f in (root / ".Archive" / sub).iterdir():
            f.unlink()
        (root / ".Archive" / sub).rmdir()
    (root / ".Archive").rmdir()
    assert second.search() == []


def test_directory_mtime_skips_unchanged_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_maildir(tmp_path / "Mail")
    (root / "cur" / "1:2,S").write_bytes(mail("Alpha", "x"))
    old = 1_600_000_000_000_000_000  # directories last changed long ago
    for sub in ("cur", "new"):
        os.utime(root / sub, ns=(old, old))
    box = MaildirMailbox(root, index_path=tmp_path / "i.sqlite")
    box.search()
    listed: list[Path] = []  # the subdirectories listed, either way
    every_file, names_only = index_module._list_files, index_module._list_names

    def list_files(base: Path, subdirs: set[str], *rest: Any) -> Any:
        listed.extend(base / sub for sub in sorted(subdirs))
        return every_file(base, subdirs, *rest)

    def list_names(directory: Path, root: Path) -> Any:
        listed.append(directory)
        return names_only(directory, root)

    monkeypatch.setattr(index_module, "_list_files", list_files)
    monkeypatch.setattr(index_module, "_list_names", list_names)
    box.search()
    assert listed == []  # remembered as clean: not listed again
    (root / "new" / "2").write_bytes(mail("Beta", "y"))  # changes new/'s mtime
    assert len(box.search()) == 2 and listed == [root / "new"]  # cur/ is not listed again


def test_corrupt_or_foreign_index_is_rebuilt(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "Mail")
    (root / "cur" / "1:2,S").write_bytes(mail("Alpha", "x"))
    db = tmp_path / "mail.sqlite"
    db.write_bytes(b"this is not a database" * 100)
    assert len(MaildirMailbox(root, index_path=db).search()) == 1
    other = make_maildir(tmp_path / "Other")
    assert MaildirMailbox(other, index_path=db).search() == []  # another Maildir: rebuilt
    assert len(MaildirMailbox(root, index_path=db).search()) == 1


def test_query_shapes(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "Mail")
    (root / "cur" / "1:2,S").write_bytes(
        mail("Café crème", "Die Übergabe ist am Montag", sender="Zoë <zoe@example.com>")
    )
    (root / "cur" / "2:2,S").write_bytes(
        mail("見積書", "お見積もりを送ります。よろしくお願いします")
    )
    (root / "cur" / "3:2,S").write_bytes(mail("Budget_2025 (draft)", "see the numbers"))
    box = MaildirMailbox(root)
    subjects = lambda q: [e.subject for e in box.search(query=q)]  # noqa: E731
    assert subjects("cafe") == ["Café crème"]  # diacritics folded
    assert subjects("UBERGABE mon") == ["Café crème"]  # case, prefix
    assert subjects("zoe@example.com") == ["Café crème"]  # an address is a phrase
    assert subjects("見積") == ["見積書"]  # CJK as substring
    assert subjects("よろしく") == ["見積書"]
    assert subjects('budget_2025 "draft" AND OR NOT') == []  # FTS syntax is never interpreted
    assert subjects("budget_2025 (draft)") == ["Budget_2025 (draft)"]
    assert len(subjects("*")) == 3  # no word in it: no text condition


SCRIPT = """
import sys
from pathlib import Path
from morrow.tools.email.maildir import MaildirMailbox
box = MaildirMailbox(Path(sys.argv[1]), index_path=Path(sys.argv[2]))
for _ in range(20):
    assert len(box.search(limit=100)) == int(sys.argv[3])
print("ok")
"""


def test_two_processes_share_the_index(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "Mail")
    for number in range(60):
        (root / "cur" / f"{number}:2,S").write_bytes(mail(f"Message {number}", "text " * 50))
    db = tmp_path / "index" / "mail.sqlite"
    command = [sys.executable, "-c", SCRIPT, str(root), str(db), "60"]
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for _ in range(3)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        assert out.strip() == b"ok"
    import sqlite3

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 60
    conn.close()


# -- a crash mid-update, links out of the Maildir, huge queries (issues 15 and 19) ------------

KILLED_MID_BATCH = """
import os, signal, sys
from pathlib import Path
from morrow.tools.email import index as index_module
from morrow.tools.email.maildir import MaildirMailbox

inserted = 0
original = index_module.MailIndex._insert

def insert_then_die(self, *args):
    global inserted
    original(self, *args)
    inserted += 1
    if inserted == int(sys.argv[3]):  # inside the second batch's transaction
        os.kill(os.getpid(), signal.SIGKILL)

index_module.MailIndex._insert = insert_then_die
MaildirMailbox(Path(sys.argv[1]), index_path=Path(sys.argv[2])).search()
print("not killed")
"""


def test_the_index_survives_a_kill_in_the_middle_of_an_update(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "Mail")
    for number in range(600):
        words = f"message{number} body text"
        (root / "cur" / f"{number}:2,S").write_bytes(mail(f"Subject {number}", words))
    db = tmp_path / "index" / "mail.sqlite"
    command = [sys.executable, "-c", KILLED_MID_BATCH, str(root), str(db), "300"]
    done = subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert done.returncode == -9, done.stderr.decode()  # killed with the batch half written
    box = MaildirMailbox(root, index_path=db)
    assert len(box.search(limit=100)) == 100
    found = {e.id for e in box.search(query="message451")}
    assert found == {"INBOX/451"}
    import sqlite3

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*), count(DISTINCT key) FROM messages").fetchone() == (
            600,
            600,
        )
    conn.close()


def test_a_link_out_of_the_maildir_is_never_read(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "Mail")
    (root / "cur" / "1:2,S").write_bytes(mail("Hello", "a real message"))
    secret = tmp_path / "id_ed25519"
    secret.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n")
    (root / "cur" / "2:2,S").symlink_to(secret)
    (root / "cur" / "3:2,S").symlink_to(root / "cur" / "1:2,S")  # a link inside: a message
    box = MaildirMailbox(root, index_path=tmp_path / "i.sqlite")
    assert sorted(e.id for e in box.search()) == ["INBOX/1", "INBOX/3"]
    with pytest.raises(Exception, match="no email"):
        box.read("INBOX/2")
    # a message replaced by a link after it was indexed is not read either
    (root / "cur" / "1:2,S").unlink()
    (root / "cur" / "1:2,S").symlink_to(secret)
    with pytest.raises(Exception, match=r"not in the Maildir|no email|gone"):
        box.read("INBOX/1")
    assert "PRIVATE KEY" not in str([e.snippet for e in box.search()])


def test_a_huge_query_is_refused_at_once_with_a_clear_error(tmp_path: Path) -> None:
    from morrow.tools.errors import ToolRetry

    root = make_maildir(tmp_path / "Mail")
    (root / "cur" / "1:2,S").write_bytes(mail("Hello", "x"))
    box = MaildirMailbox(root, index_path=tmp_path / "i.sqlite")
    with pytest.raises(ToolRetry, match="5,000,000 characters long"):
        box.search(query="a" * 5_000_000)
    with pytest.raises(ToolRetry, match="30 words"):
        box.search(query=" ".join(["word"] * 30))
    with pytest.raises(ToolRetry, match="sender is"):
        box.search(sender="x" * 10_000)
    assert [e.id for e in box.search(query="hello")] == ["INBOX/1"]


def test_flag_changes_in_a_big_folder_are_found_by_names_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counted: list[str]
) -> None:
    root = make_maildir(tmp_path / "Mail")
    old = 1_600_000_000_000_000_000
    for n in range(40):
        path = root / "cur" / f"{n}:2,"
        path.write_bytes(mail(f"Message {n}", "body"))
        os.utime(path, ns=(old, old))  # delivered long ago
    box = MaildirMailbox(root, index_path=tmp_path / "i.sqlite")
    assert len(box.search(unread=True, limit=100)) == 40 and len(counted) == 40
    carefully: list[set[str]] = []
    original = index_module._list_files
    monkeypatch.setattr(
        index_module,
        "_list_files",
        lambda base, subdirs, careful, root: (
            carefully.append(careful) or original(base, subdirs, careful, root)
        ),
    )
    for n in (3, 7):  # read in another client, moments apart: cur/ changed within a tick
        os.rename(root / "cur" / f"{n}:2,", root / "cur" / f"{n}:2,S")
        assert len(box.search(unread=True, limit=100)) == 40 - (n == 7) - 1
    (root / "cur" / "7:2,S").unlink()
    assert [e.subject for e in box.search(unread=False, limit=100)] == ["Message 3"]
    assert carefully == [] and len(counted) == 40  # nothing stat'ed one by one, nothing re-read
