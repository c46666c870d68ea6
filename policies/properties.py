"""Reading resource properties as pulumi-policy hands them to a policy.

The SDK wraps properties in an unknown-checking proxy: mappings are ``Mapping`` (not ``dict``),
lists are ``Sequence`` (not ``list``), and reading a value that is unknown at preview raises
``UnknownValueError``. These helpers read through that proxy without catching the error, so a
policy that needs an unknown value is reported as not evaluated by the SDK, never passed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from components.tags import REQUIRED_TAGS

_MISSING = object()


def get(props: Any, path: str | tuple[str, ...]) -> Any:
    """The value at a dotted ``path`` (``"vpcConfig.endpointPublicAccess"``), or None if any step is absent.

    Integer steps index sequences (``"rules.0.status"``). Keys that contain dots (labels such as
    ``mlenv.io/pool``) are given as a tuple of steps.
    """
    value: Any = props
    for step in path.split(".") if isinstance(path, str) else path:
        if isinstance(value, Mapping):
            value = value.get(step, _MISSING)
        elif is_sequence(value) and step.isdigit():
            index = int(step)
            value = value[index] if index < len(value) else _MISSING
        else:
            return None
        if value is _MISSING:
            return None
    return value


def is_sequence(value: Any) -> bool:
    """A list-like value (the proxy's sequences included), but not a string."""
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def mappings(value: Any) -> Iterator[Mapping[str, Any]]:
    """The mapping items of a list-like value; nothing for anything else."""
    if is_sequence(value):
        for item in value:
            if isinstance(item, Mapping):
                yield item


def strings(value: Any) -> list[str]:
    """A string or a list of strings as a list; anything else is an empty list."""
    if isinstance(value, str):
        return [value]
    if is_sequence(value):
        return [item for item in value if isinstance(item, str)]
    return []


def is_true(value: Any) -> bool:
    """True for ``True`` and the string ``"true"`` (some AWS inputs are stringly typed booleans)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def json_document(value: Any) -> Mapping[str, Any] | None:
    """A JSON policy document given as a string or an object; None if it is neither."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The statements of an IAM-style policy document (a single statement object counts as one)."""
    raw = document.get("Statement")
    if isinstance(raw, Mapping):
        return [raw]
    return list(mappings(raw))


def stack_of(urn: str) -> str:
    """``urn:pulumi:prod::mlenv::...`` -> ``prod``."""
    head = urn.split("::", 1)[0]
    return head.removeprefix("urn:pulumi:")


def tags_of(props: Mapping[str, Any]) -> Mapping[str, Any]:
    """A resource's ``tags`` input; empty if it has none."""
    tags = get(props, "tags")
    return tags if isinstance(tags, Mapping) else {}


def missing_tags(tags: Mapping[str, Any]) -> list[str]:
    """The required mlenv tags (components/tags.py) that are absent or empty."""
    return [key for key in REQUIRED_TAGS if not (isinstance(tags.get(key), str) and tags.get(key))]


def has_key(props: Any, key: str) -> bool:
    """Whether ``key`` is set, without reading its value (a value unknown at preview is still set)."""
    return isinstance(props, Mapping) and key in list(iter(props))


def number(value: Any) -> float | None:
    """A numeric value, however it arrived: on the wire every number is a float (``2`` -> ``2.0``),
    and Kubernetes quantities such as GPU counts are strings (``"2"``). None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
