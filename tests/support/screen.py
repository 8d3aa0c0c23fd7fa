"""What a terminal shows: output with escape codes played into a pyte screen, read back."""

from __future__ import annotations

import pyte


def screen_of(output: str | bytes, *, columns: int = 80, lines: int = 40) -> list[str]:
    """The rows a VT100 terminal of this size shows after ``output``, right-trimmed."""
    screen = pyte.Screen(columns, lines)
    stream = pyte.ByteStream(screen) if isinstance(output, bytes) else pyte.Stream(screen)
    stream.feed(output.replace("\n", "\r\n") if isinstance(output, str) else output)
    return [row.rstrip() for row in screen.display]


def shown(output: str | bytes, **size: int) -> str:
    """The screen as one text, rows joined by newlines, trailing empty rows dropped."""
    return "\n".join(screen_of(output, **size)).rstrip("\n")
