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


class ToolRetry(Exception):  # a control-flow signal, not an error (STYLE.md naming)
    """The model's arguments were wrong; the message tells it how to fix them."""
