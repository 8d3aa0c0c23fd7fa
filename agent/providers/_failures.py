"""What every adapter shares when it turns an HTTP failure into a ProviderError.

The classification follows DESIGN.md: connection errors, timeouts, 408, 409, 429, 5xx and
"overloaded" are worth retrying; 400, 401, 403, 404, 413, 422 (and any other 4xx) are not.
The wait a provider asks for comes from ``retry-after-ms`` (milliseconds) or ``Retry-After``
(seconds, or an HTTP date).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from morrow.agent.errors import ProviderError, ProviderRejected, ProviderUnavailable

RETRYABLE_STATUSES = frozenset({408, 409, 429, 529})


def is_retryable_status(status: int) -> bool:
    """Whether an HTTP status means "try again later" rather than "this request is wrong"."""
    return status in RETRYABLE_STATUSES or 500 <= status <= 599


def retry_after(
    headers: Mapping[str, str] | None, *, now: Callable[[], datetime] | None = None
) -> float | None:
    """Seconds the server asked us to wait, or None when it did not say (or said nonsense)."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now() if now else datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def from_status(
    provider: str,
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> ProviderError:
    """The ProviderError for an HTTP error status."""
    if is_retryable_status(status):
        return ProviderUnavailable(
            message, provider=provider, status=status, retry_after=retry_after(headers)
        )
    return ProviderRejected(message, provider=provider, status=status)


def error_message(body: object, fallback: str) -> str:
    """The human part of an API error body (``{"error": {"message": ...}}`` in both APIs)."""
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping):
            message = error.get("message")
            kind = error.get("type") or error.get("code")
            if isinstance(message, str) and message:
                return f"{kind}: {message}" if isinstance(kind, str) and kind else message
        if isinstance(error, str) and error:
            return error
    return fallback
