"""The README a newcomer follows: its links exist in a clone, and its First run works.

``.ci/first-run`` runs the First run section as written on a fresh clone in CI (``make demo``
builds the environment there); these tests check, fast and offline, that the section is what
that script runs and that its chat works on the demo workspace.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def tracked() -> set[str]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return set(listed.splitlines())


def test_every_link_of_the_readme_is_a_file_of_the_clone():
    links = re.findall(r"\]\(([^)#]+)\)", README)
    local = [link for link in links if "://" not in link]
    assert local, "the README links its docs"
    files = tracked() | {str(p.relative_to(ROOT)) for p in ROOT.glob("*")}
    assert [link for link in local if link not in files] == []
    assert "../" not in README  # nothing outside the clone


def first_run() -> list[str]:
    section = README.split("\n## First run\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_first_run_is_the_demo_then_the_chat_and_ci_runs_it():
    assert first_run() == ["make demo", ".venv/bin/morrow --home .demo"]
    assert "bash .ci/first-run" in (ROOT / ".ci" / "run").read_text()
    assert "make demo" in (ROOT / "Makefile").read_text()


def test_the_chat_of_the_first_run_works_on_the_demo(tmp_path):
    demo = tmp_path / ".demo"  # what `make demo` writes, with this checkout's installed morrow
    subprocess.run(
        [sys.executable, "-m", "morrow.tools.demo", str(demo)], check=True, capture_output=True
    )
    env = {**os.environ, "MORROW_HOME": str(demo)}
    briefed = subprocess.run(
        [sys.executable, "-m", "morrow.agent.cli", "brief", "--force"],
        env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert briefed.returncode == 0, briefed.stderr
    assert "Briefing for" in briefed.stdout
    typed = "what is on today?\nany unread mail?\nadd lunch with Sam tomorrow at 12:30\nn\n"
    chat = subprocess.run(
        [sys.executable, "-m", "morrow.agent.cli", "--home", str(demo)],
        input=typed, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert chat.returncode == 0, chat.stderr
    for expected in ("On the calendar:", "unread:", "morrow wants to run create_event"):
        assert expected in chat.stdout, chat.stdout
    assert "offline demo model" in chat.stdout  # it says what it is
    assert "Traceback" not in chat.stderr
