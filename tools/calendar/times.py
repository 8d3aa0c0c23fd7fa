"""Times as the model writes them and as the tools show them.

The model writes ISO 8601 with an offset (``2025-03-10T09:00:00+01:00``), optionally followed by
an IANA zone in brackets, RFC 9557 style (``2025-03-10T09:00:00-04:00[America/New_York]``): the
zone says which zone an event is kept in, so that it stays at 09:00 New York time across DST
changes. A naive time, an unknown zone, or an offset the zone does not have at that moment is a
validation error the model reads and corrects.

Results show ``start`` and ``end`` in the user's zone; an event written in another zone also
carries ``zone_start``/``zone_end`` in that zone, and its ``timezone`` names it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

from morrow.tools.calendar.backend import Event
from morrow.tools.email.addresses import AddressError, parse
from morrow.tools.workspace import Workspace

_BRACKETED = re.compile(r"^(?P<time>[^\[\]]+)\[(?P<zone>[^\[\]]+)\]$")


def _zoned(value: Any) -> Any:
    """Accept ``<ISO 8601 with offset>[<IANA zone>]`` and return the time in that zone."""
    if not isinstance(value, str):
        return value
    match = _BRACKETED.match(value.strip())
    if not match:
        return value
    name = match["zone"].strip()
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name like Europe/Berlin)"
        ) from None
    try:
        moment = datetime.fromisoformat(match["time"].strip())
    except ValueError:
        raise ValueError(f"{match['time']!r} is not an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        raise ValueError("the time needs an offset before the zone, e.g. +01:00[Europe/Berlin]")
    local = moment.astimezone(zone)
    if local.utcoffset() != moment.utcoffset():
        raise ValueError(
            f"{name} is at UTC{local.strftime('%z')} at that moment, not "
            f"UTC{moment.strftime('%z')}: fix the offset or the zone"
        )
    return local


When = Annotated[AwareDatetime, BeforeValidator(_zoned)]
"""An aware datetime; a ``[Zone]`` suffix keeps the IANA zone as its tzinfo."""


def _email(value: str) -> str:
    try:
        return parse(value).spec
    except AddressError as exc:
        raise ValueError(f"{exc} (find the address with search_contacts)") from None


Email = Annotated[str, AfterValidator(_email)]
"""An email address as it goes into invitations: normalised by the one address parser
(:mod:`morrow.tools.email.addresses`: IDNA domain, NFKC), without a display name."""


def localize(workspace: Workspace, event: Event) -> Event:
    """The event with ``start`` and ``end`` in the user's zone."""
    zone = workspace.timezone
    return event.model_copy(
        update={"start": event.start.astimezone(zone), "end": event.end.astimezone(zone)}
    )
