"""Email: Maildir search over 20,000 generated messages, through the SQLite FTS5 index.

A Maildir of 20,000 messages (INBOX 70 %, Sent 15 %, Archive 15 %; bodies of 300 to 3,000
characters, one in ten unread, a third of them replies with References, some non-ASCII and
some Japanese) is generated in a temporary folder. Then:

1. index build: the first search indexes every file (parse, decode, FTS5 insert);
2. refresh with nothing changed: a search when no file moved (directory mtimes checked);
3. incremental update: 100 new messages, 100 marked read (renamed), 50 deleted, then a search;
4. search latency for a few query shapes, each timed as the tool runs it (refresh included),
   median and p95 of repeated runs. Aim: at most 300 ms per search after indexing.

    .venv/bin/python bench/email_bench.py [--quick]      (--quick: 2,000 messages)
"""

from __future__ import annotations

import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

from morrow.tools.email.maildir import MaildirMailbox  # noqa: E402

AIM_MS = 300.0
WORDS = (
    "budget review launch roadmap invoice contract meeting schedule travel hotel flight "
    "design draft proposal quarterly report numbers forecast hiring interview offer team "
    "dinner lunch coffee weekend project deadline release bug feature customer support "
    "renewal pricing discount partner agenda minutes notes follow up thanks question answer "
    "Übergabe Grüße café naïve résumé"
).split()
JAPANESE = ["見積書をお送りします", "会議の議事録です", "よろしくお願いします"]
START = datetime(2024, 1, 1, tzinfo=UTC)


def _people(rng: random.Random) -> list[str]:
    first = "Priya Jonas Ana Li Marco Sofia Kenji Amara Lukas Zoë Omar Hana".split()
    last = "Shah Weber Silva Chen Rossi Novak Tanaka Okafor Müller Dubois Haddad Kim".split()
    domains = ["corp", "mail", "lab"]
    return [
        f"{rng.choice(first)} {rng.choice(last)} <user{n}@{rng.choice(domains)}.example>"
        for n in range(300)
    ]


def _message(rng: random.Random, number: int, people: list[str], folder: str) -> bytes:
    msg = EmailMessage()
    me = "Alex Morgan <alex@example.com>"
    other = rng.choice(people)
    msg["From"], msg["To"] = (me, other) if folder == "Sent" else (other, me)
    topic = " ".join(rng.sample(WORDS, 3))
    reply = number % 3 == 0 and number > 10
    msg["Subject"] = f"Re: {topic}" if reply else topic.capitalize()
    msg["Date"] = format_datetime(START + timedelta(minutes=37 * number))
    msg["Message-ID"] = f"<m{number}@bench.example>"
    if reply:
        parent = rng.randrange(number)
        msg["In-Reply-To"] = f"<m{parent}@bench.example>"
        msg["References"] = f"<m{parent // 2}@bench.example> <m{parent}@bench.example>"
    words = rng.choices(WORDS, k=rng.randint(50, 450))
    if number % 50 == 0:
        words.append(rng.choice(JAPANESE))
    msg.set_content(" ".join(words) + f"\n\nref {number}\n")
    return msg.as_bytes()


def build_maildir(root: Path, count: int, seed: int = 7) -> None:
    """Write ``count`` messages: INBOX 70 %, Sent 15 %, Archive 15 %; one in ten unread."""
    rng = random.Random(seed)
    people = _people(rng)
    for base in (root, root / ".Sent", root / ".Archive"):
        for sub in ("cur", "new", "tmp"):
            (base / sub).mkdir(parents=True, exist_ok=True)
    for number in range(count):
        roll = rng.random()
        folder = "INBOX" if roll < 0.7 else "Sent" if roll < 0.85 else "Archive"
        base = root if folder == "INBOX" else root / f".{folder}"
        data = _message(rng, number, people, folder)
        unread = folder == "INBOX" and rng.random() < 0.1
        name = f"{1700000000 + number}.M{number}P1.bench"
        path = base / "new" / name if unread else base / "cur" / f"{name}:2,S"
        path.write_bytes(data)


def _timed(func: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = func()
    return (time.perf_counter() - started) * 1000, result


def _age_directories(root: Path) -> None:
    """Make the folders look untouched for a while (as a real mailbox between deliveries)."""
    old = time.time_ns() - 3_600_000_000_000
    for base in (root, root / ".Sent", root / ".Archive"):
        for sub in ("cur", "new"):
            os.utime(base / sub, ns=(old, old))


SHAPES: list[tuple[str, dict[str, Any]]] = [
    ("latest 20, no filter", {}),
    ("unread", {"unread": True}),
    ("one common word", {"query": "budget"}),
    ("two words", {"query": "invoice renewal"}),
    ("rare word (a reference number)", {"query": "1997"}),
    ("sender", {"sender": "tanaka"}),
    ("address as a phrase", {"query": "user42@corp.example"}),
    (
        "word + folder + date range",
        {
            "query": "meeting",
            "folder": "Sent",
            "since": datetime(2024, 3, 1, tzinfo=UTC),
            "until": datetime(2024, 9, 1, tzinfo=UTC),
        },
    ),
    ("Japanese substring", {"query": "議事録"}),
    ("limit 100", {"query": "team", "limit": 100}),
]


def run(quick: bool = False) -> str:
    """Build, index, update and search a generated Maildir; return the Markdown section."""
    count = 2_000 if quick else 20_000
    repeats = 7 if quick else 25
    work = Path(tempfile.mkdtemp(prefix="morrow-email-bench-"))
    try:
        root = work / "Mail"
        gen_ms, _ = _timed(lambda: build_maildir(root, count))
        _age_directories(root)
        db = work / "index" / "mail.sqlite"
        box = MaildirMailbox(root, index_path=db)
        build_ms, _ = _timed(lambda: box.search(limit=1))
        idle = [_timed(lambda: box.search(limit=1))[0] for _ in range(repeats)]
        update_ms = _incremental(root, box, count)
        _age_directories(root)
        box.search(limit=1)  # remember the aged directories as clean
        rows = []
        for label, args in SHAPES:
            times, found = [], []
            for _ in range(repeats):
                ms, found = _timed(lambda args=args: box.search(**{"limit": 20, **args}))
                times.append(ms)
            rows.append((label, statistics.median(times), _p95(times), len(found)))
        size_mb = sum(p.stat().st_size for p in db.parent.iterdir()) / 1e6
        with sqlite3.connect(db) as conn:
            indexed = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        conn.close()
        box.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _report(count, indexed, gen_ms, build_ms, idle, update_ms, rows, size_mb, repeats)


def _incremental(root: Path, box: MaildirMailbox, count: int) -> float:
    rng = random.Random(11)
    people = _people(rng)
    for number in range(count, count + 100):
        (root / "new" / f"{1800000000 + number}.M{number}P2.bench").write_bytes(
            _message(rng, number, people, "INBOX")
        )
    current = sorted((root / "cur").iterdir())
    for path in current[:100]:
        os.rename(path, path.with_name(path.name.split(":")[0] + ":2,"))  # marked unread
    for path in current[100:150]:
        path.unlink()
    ms, _ = _timed(lambda: box.search(limit=1))
    return ms


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _report(
    count: int,
    indexed: int,
    gen_ms: float,
    build_ms: float,
    idle: list[float],
    update_ms: float,
    rows: list[tuple[str, float, float, int]],
    size_mb: float,
    repeats: int,
) -> str:
    worst = max(p95 for _, _, p95, _ in rows)
    lines = [
        "## Email: Maildir search over the FTS5 index",
        "",
        f"`.venv/bin/python bench/email_bench.py` ({count:,} generated messages; "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs; each search timed as the tool "
        f"runs it, refresh of the index included, {repeats} runs).",
        "",
        f"- Generating the Maildir (not morrow's work): {gen_ms / 1000:.1f} s.",
        f"- Index build (first search, {indexed:,} messages after the update below): "
        f"{build_ms / 1000:.1f} s ({build_ms / count:.2f} ms a message); index size "
        f"{size_mb:.0f} MB.",
        f"- Search when nothing changed (directory mtimes only): median "
        f"{statistics.median(idle):.1f} ms.",
        f"- Incremental update (100 new, 100 renamed by a flag change, 50 deleted), then a "
        f"search: {update_ms:.0f} ms.",
        "",
        "| query shape | median ms | p95 ms | results |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {label} | {med:.1f} | {p95:.1f} | {n} |" for label, med, p95, n in rows]
    verdict = "met" if worst <= AIM_MS else "NOT met"
    lines += [
        "",
        f"- Aim: every search at most {AIM_MS:.0f} ms after indexing: {verdict} "
        f"(worst p95 {worst:.1f} ms).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    section = run(quick="--quick" in sys.argv)
    out = ROOT / "bench" / "results" / "email.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(section, encoding="utf-8")
    print(section)
