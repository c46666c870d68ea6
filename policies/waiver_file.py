"""The waivers file: which violations a team accepted for a while, why, and until when.

``policies/waivers.yaml`` (or the file named by ``MLENV_POLICY_WAIVERS``) holds a list of waivers::

    - policy: s3-access-logging              # a policy name of this pack
      resource: "urn:pulumi:prod::mlenv::*::prod-scratch"   # a URN, or an fnmatch pattern of URNs
      reason: scratch bucket, deleted after the migration (TICKET-123)
      owner: ml-platform
      expires: 2025-07-01                    # inclusive, at most 90 days ahead

Loading never raises: a malformed file or entry becomes a *problem* (reported by the pack's
``waivers-are-valid`` policy) and suppresses nothing, so a broken waivers file cannot stop the
pack from starting nor quietly waive anything. A waiver is *in force* on days ``today <= expires
<= today + 90``; an expired one, or one set too far ahead, suppresses nothing and is a problem.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

WAIVERS_ENV = "MLENV_POLICY_WAIVERS"
"""Environment variable naming another waivers file (tests, or a repository keeping it elsewhere)."""
DEFAULT_WAIVERS = Path(__file__).with_name("waivers.yaml")
MAX_DAYS_AHEAD = 90
FIELDS = ("policy", "resource", "reason", "owner", "expires")


@dataclass(frozen=True)
class Waiver:
    """One accepted violation: ``policy`` on the resources whose URN matches ``resource``."""

    policy: str
    resource: str
    reason: str
    owner: str
    expires: dt.date
    entry: int
    """Position in the file (1-based), for messages."""

    def matches(self, policy: str, urn: str) -> bool:
        """Whether this waiver covers ``policy`` on the resource ``urn``."""
        return self.policy == policy and (self.resource == urn or fnmatch.fnmatchcase(urn, self.resource))

    def in_force(self, today: dt.date) -> bool:
        """Not expired and not set more than ``MAX_DAYS_AHEAD`` days ahead."""
        return today <= self.expires <= today + dt.timedelta(days=MAX_DAYS_AHEAD)

    def describe(self) -> str:
        """``reason: ...; owner: ...; expires: YYYY-MM-DD``."""
        return f"reason: {self.reason}; owner: {self.owner}; expires: {self.expires.isoformat()}"


@dataclass(frozen=True)
class WaiverFile:
    """A loaded waivers file: the well-formed waivers and the problems of the others."""

    path: Path
    waivers: tuple[Waiver, ...]
    problems: tuple[str, ...]


def waivers_path() -> Path:
    """The waivers file in use: ``$MLENV_POLICY_WAIVERS`` or ``policies/waivers.yaml``."""
    override = os.environ.get(WAIVERS_ENV)
    return Path(override) if override else DEFAULT_WAIVERS


_CACHE: dict[tuple[str, int, int], WaiverFile] = {}


def load_waivers(path: Path | None = None) -> WaiverFile:
    """Parse the waivers file; cached per file version (path, size, mtime), never raises."""
    path = path or waivers_path()
    try:
        stat = path.stat()
    except OSError:
        # No file means no waivers; only a file someone pointed at explicitly must exist.
        problems = () if path == DEFAULT_WAIVERS else (f"{path}: waivers file not found",)
        return WaiverFile(path, (), problems)
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _CACHE:
        _CACHE.clear()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            return WaiverFile(path, (), (f"{path}: cannot read the waivers file: {exc}",))
        _CACHE[key] = parse_waivers(text, path)
    return _CACHE[key]


class _DatesAsText(yaml.SafeLoader):
    """SafeLoader that leaves timestamps as text: PyYAML raises a bare ValueError on an impossible
    date (2025-02-30), which would crash the pack mid-AnalyzeStack; ``_date`` reports it instead."""


def _timestamp_as_text(loader: _DatesAsText, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


_DatesAsText.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def parse_waivers(text: str, path: Path) -> WaiverFile:
    """Waivers and problems of a waivers file's text; never raises."""
    try:
        raw = yaml.load(text, Loader=_DatesAsText)  # a SafeLoader subclass: no arbitrary objects
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        return WaiverFile(path, (), (f"{path}: not valid YAML: {exc}",))
    if raw is None:
        return WaiverFile(path, (), ())
    if not isinstance(raw, list):
        return WaiverFile(path, (), (f"{path}: must be a list of waivers, found {type(raw).__name__}",))
    waivers: list[Waiver] = []
    problems: list[str] = []
    for number, entry in enumerate(raw, start=1):
        waiver, entry_problems = _parse_entry(entry, number)
        problems.extend(f"{path}: waiver {number}: {p}" for p in entry_problems)
        if waiver is not None:
            waivers.append(waiver)
    return WaiverFile(path, tuple(waivers), tuple(problems))


def _parse_entry(entry: Any, number: int) -> tuple[Waiver | None, list[str]]:
    if not isinstance(entry, Mapping):
        return None, [f"must be a mapping with {', '.join(FIELDS)}; found {type(entry).__name__}"]
    problems = [f"missing {name}" for name in FIELDS if entry.get(name) in (None, "")]
    problems += [
        f"unknown field {key!r} (allowed: {', '.join(FIELDS)})" for key in entry if key not in FIELDS
    ]
    for name in ("policy", "resource", "reason", "owner"):
        value = entry.get(name)
        if value not in (None, "") and not isinstance(value, str):
            problems.append(f"{name} must be text, found {value!r}")
    expires = _date(entry.get("expires"))
    if entry.get("expires") not in (None, "") and expires is None:
        problems.append(f"expires {entry.get('expires')!r} is not a date (write YYYY-MM-DD)")
    if problems or expires is None:
        return None, problems
    return (
        Waiver(
            policy=entry["policy"],
            resource=entry["resource"],
            reason=entry["reason"],
            owner=entry["owner"],
            expires=expires,
            entry=number,
        ),
        [],
    )


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
        try:
            return dt.datetime.fromisoformat(value).date()
        except ValueError:
            return None
    return None


def today() -> dt.date:
    """Today in UTC: waivers expire on UTC dates, wherever the check runs."""
    return dt.datetime.now(dt.UTC).date()


def validity_problems(file: WaiverFile, known_policies: Iterable[str], on: dt.date) -> list[str]:
    """Every reason the file is not acceptable: malformed entries, unknown policies, expired or
    too-far-ahead waivers."""
    known = set(known_policies)
    problems = list(file.problems)
    limit = on + dt.timedelta(days=MAX_DAYS_AHEAD)
    for waiver in file.waivers:
        where = f"{file.path}: waiver {waiver.entry} ({waiver.policy} on {waiver.resource})"
        if waiver.policy not in known:
            problems.append(f"{where}: unknown policy {waiver.policy!r}; use a policy name of this pack")
        if waiver.expires < on:
            problems.append(
                f"{where}: expired on {waiver.expires.isoformat()}; fix the violation or renew the waiver "
                f"with a new expiry (at most {MAX_DAYS_AHEAD} days ahead)"
            )
        elif waiver.expires > limit:
            problems.append(
                f"{where}: expires {waiver.expires.isoformat()}, more than {MAX_DAYS_AHEAD} days ahead; "
                f"set expires to {limit.isoformat()} or earlier"
            )
    return problems


def waiver_for(policy: str, urn: str, on: dt.date | None = None) -> Waiver | None:
    """The first in-force waiver of the current file covering ``policy`` on ``urn``."""
    on = on or today()
    for waiver in load_waivers().waivers:
        if waiver.in_force(on) and waiver.matches(policy, urn):
            return waiver
    return None
