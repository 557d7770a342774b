"""The Retry-After header (RFC 9110): model providers and the Amigo API send one with a 429."""

from __future__ import annotations

import datetime
import email.utils


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds (a number or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds())
