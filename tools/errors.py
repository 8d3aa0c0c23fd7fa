"""Errors raised by tools and their backends.

```
ToolError              the tool failed; the message goes back to the model as an error result
├─ NotFoundError       an id the model passed does not exist
└─ BackendError        the calendar or mail backend could not do it (I/O, server, parse)
ToolRetry              not an error: the arguments were wrong, the model should try again
```

The loop turns both into a tool result with ``is_error`` set, so the model can read what went
wrong and correct itself; they never end a turn.
"""

from __future__ import annotations


class ToolError(Exception):
    """A tool could not do what was asked."""


class NotFoundError(ToolError):
    """An id passed to a tool does not exist in the backend."""


class BackendError(ToolError):
    """The backend behind a tool failed (file, server, parse)."""


class NotAuthorizedError(BackendError):
    """The account's token is missing, expired or short of a scope: the user must authorize."""


class ToolRetry(Exception):  # a control-flow signal, not an error (STYLE.md naming)
    """The model's arguments were wrong; the message tells it how to fix them."""


def printable(value: object, *, limit: int = 300) -> str:
    """``value`` as text fit for one line of an error: control characters escaped, cut short.

    Calendar and mail files can hold any bytes; a message quoting them must not move the
    cursor, ring the bell or start a new line on the user's terminal.
    """
    text = str(value)
    out = []
    for char in text[: limit + 1]:
        code = ord(char)
        if (
            code < 0x20
            or 0x7F <= code < 0xA0
            or code in (0x2028, 0x2029)
            or 0x202A <= code <= 0x202E
        ):
            out.append(
                char.encode("unicode_escape").decode("ascii") if code < 0x100 else f"\\u{code:04x}"
            )
        else:
            out.append(char)
    shown = "".join(out)
    return shown if len(text) <= limit else shown[:limit] + "..."
