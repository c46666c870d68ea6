"""Durations as users type them (``8h``, ``90m``, ``2d``, ``1h30m``) and as `mlenv exp ls` prints them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from stacks.experiments.errors import InvalidDurationError

# Units in descending order, each at most once: "1d2h30m" reads, "30m1h" and "1h1h" do not.
_DURATION = re.compile(r"^(?:(?P<d>\d{1,4})d)?(?:(?P<h>\d{1,5})h)?(?:(?P<m>\d{1,6})m)?$")


def parse_duration(text: str) -> timedelta:
    """``"1h30m"`` -> ``timedelta(hours=1, minutes=30)``; raise InvalidDurationError for anything else.

    Accepts whole days, hours and minutes in that order, case-insensitive, surrounding blanks
    ignored. Zero is rejected: a zero TTL or extension is always a mistake.
    """
    cleaned = text.strip().lower()
    match = _DURATION.fullmatch(cleaned)
    if not cleaned or match is None:
        raise InvalidDurationError(text)
    parts = {unit: int(value) for unit, value in match.groupdict().items() if value is not None}
    duration = timedelta(days=parts.get("d", 0), hours=parts.get("h", 0), minutes=parts.get("m", 0))
    if duration <= timedelta(0):
        raise InvalidDurationError(text)
    return duration


def format_duration(duration: timedelta) -> str:
    """A short human reading, to the minute: ``2d3h``, ``5h12m``, ``40m``, ``0m``; negative gets a ``-``."""
    sign = "-" if duration < timedelta(0) else ""
    minutes = int(abs(duration).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        text = f"{days}d{hours}h" if hours else f"{days}d"
    elif hours:
        text = f"{hours}h{mins}m" if mins else f"{hours}h"
    else:
        text = f"{mins}m"
    return sign + text


def hours(duration: timedelta) -> float:
    """A duration in (fractional) hours, the unit of TTLs and prices."""
    return duration.total_seconds() / 3600


def to_iso(instant: datetime) -> str:
    """UTC instant as the ``mlenv:expires-at`` tag writes it: ``2026-11-22T18:00:00Z`` (whole seconds)."""
    return instant.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_iso(text: str) -> datetime:
    """Read an ISO-8601 instant (``Z`` or an offset); naive values are taken as UTC."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
