"""Whether an effect reaches other people, and how: one fact for the preview and the result.

A calendar or mailbox backend says what it does with mail to others through ``delivery()``:
the local .ics file sends none, a Maildir without ``[email.smtp]`` only saves to Sent, Google
and Gmail send themselves, a CalDAV server sends if it supports scheduling. The approval box,
the gate's list of who is emailed, ``ask``'s report and ``/undo`` all read this one fact, so
what the user is shown before an action is what the result says after it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Delivery:
    """What a backend does with mail to other people.

    Attributes:
        sends: whether anything leaves for other people at all.
        how: how it goes ("through SMTP smtp.example.com:587") or why nothing does ("the local
            calendar file sends no email").
    """

    sends: bool
    how: str


def delivery_of(backend: object) -> Delivery:
    """The backend's :class:`Delivery`; a backend that does not say is taken to send."""
    method = getattr(backend, "delivery", None)
    if callable(method):
        found = method()
        if isinstance(found, Delivery):
            return found
    return Delivery(True, f"{type(backend).__name__} sends it")
