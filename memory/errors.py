"""Errors of the memory floor.

```
MemoryStoreError        the store cannot do what was asked (busy past the timeout, corrupt, ...)
├─ StoreUnwritable      its folder cannot be written (read-only file system, permissions)
├─ SessionExistsError   a new session was asked for under an id that is taken
└─ NotStoredError       an id (session, fact) that the store does not hold
```

``agent`` turns them into one-line messages (exit 1); the memory tools turn them into tool
errors the model can read.
"""

from __future__ import annotations


class MemoryStoreError(Exception):
    """The store failed; the message says what and where."""


class StoreUnwritable(MemoryStoreError):
    """The store's file or its lock cannot be created or written: the home is not writable."""


class SessionExistsError(MemoryStoreError):
    """A session with this id already exists."""


class NotStoredError(MemoryStoreError):
    """The store holds nothing under this id."""
