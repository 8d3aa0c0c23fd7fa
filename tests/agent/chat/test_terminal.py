"""The chat on a real pseudo-terminal: an approval with an edit, Ctrl-C mid-stream, /undo.

pexpect runs ``morrow chat`` (``tests/support/chat_driver.py``: the real CLI and REPL, a
scripted model) on a pty and waits for screen text with ``expect()``, never a sleep; pyte
replays everything the chat wrote into a screen of the same size, so the test asserts what
the user saw (issue 16, "Done means").
"""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pexpect
import pytest
from support.screen import shown

from morrow.tools.demo import build_demo_workspace, demo_config

DRIVER = Path(__file__).parents[2] / "support" / "chat_driver.py"
ROWS, COLUMNS = 120, 100


@pytest.fixture
def home(tmp_path: Path) -> Path:
    root = tmp_path / "home"
    build_demo_workspace(root, today=date(2030, 5, 6), timezone=ZoneInfo("Europe/Berlin"))
    (root / "config.toml").write_text(demo_config(root))
    return root


def test_approve_with_an_edit_cancel_mid_stream_and_undo(home, tmp_path):
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import sys, pathlib\np = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('title: Lunch with Sam', 'title: Lunch with Priya'))\n"
    )
    env = {
        **os.environ,
        "EDITOR": f"{sys.executable} {editor}",
        "TERM": "xterm",
        "PROMPT_TOOLKIT_NO_CPR": "1",  # pexpect does not answer cursor-position queries
        "COLUMNS": str(COLUMNS),
        "LINES": str(ROWS),
    }
    env.pop("VISUAL", None)
    chat = pexpect.spawn(
        sys.executable,
        [str(DRIVER), str(home)],
        env=env,
        dimensions=(ROWS, COLUMNS),
        timeout=30,
    )
    output = []
    chat.logfile_read = _Sink(output)
    try:
        chat.expect("new session t1")
        chat.sendline("add lunch with Sam tomorrow at 12")
        chat.expect("Do it\\?")
        chat.send("e\r")  # edit: the editor renames the lunch
        chat.expect("as you edited it")
        chat.expect("Do it\\?")
        chat.send("y\r")
        chat.expect("Added")
        chat.sendline("tell me a story")
        chat.expect("there was a calendar")
        chat.sendintr()  # Ctrl-C while the answer streams
        chat.expect("cancelled; the turn is kept as far as it got")
        chat.sendline("/undo")
        chat.expect("Undone")
        chat.sendline("/exit")  # a line, not Ctrl-D: typed before the prompt is up, it still counts
        chat.expect(pexpect.EOF)
    finally:
        chat.close(force=True)
    assert chat.exitstatus == 0, b"".join(output)[-2000:]
    screen = shown(b"".join(output), columns=COLUMNS, lines=ROWS)
    boxes = screen.split("morrow wants to run create_event")
    assert len(boxes) == 3  # the action, then the action as edited
    assert "title: Lunch with Sam" in boxes[1] and "title: Lunch with Priya" in boxes[2]
    assert "· create_event title=Lunch with Priya" in screen  # the edited call is what ran
    assert "Added Lunch with Priya." not in screen and "Added Lunch with Sam." in screen
    assert screen.count("Once upon a time") == 1  # Ctrl-C mid-stream: no line shown twice
    assert screen.count("there was a calendar") == 1
    assert 'Undone: the event "Lunch with Priya" was removed from your calendar.' in screen
    assert "Lunch with Priya" not in (home / "calendar.ics").read_text()


class _Sink:
    """pexpect's log: everything the chat wrote, as bytes."""

    def __init__(self, into: list[bytes]) -> None:
        self.into = into

    def write(self, data: bytes) -> None:
        self.into.append(data)

    def flush(self) -> None:
        pass
