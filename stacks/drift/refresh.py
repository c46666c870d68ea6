"""The state-vs-live layer: Pulumi's own refresh, read from its engine events.

With the Pulumi CLI present, the adapter (``stacks.automation``) runs ``pulumi preview --refresh``
with the policy pack and hands every engine event over as the JSON object the engine writes
(pulumi/pulumi ``sdk/go/common/apitype/events.go``, also the REST API's AppEngineEvent and
``pulumi.automation.events``): ``sequence``, ``timestamp`` and exactly one of ``resourcePreEvent``,
``resOutputsEvent``, ``diagnosticEvent`` ...; a step's ``metadata`` (StepEventMetadata) has ``op``,
``urn``, ``type``, ``old``/``new`` (StepEventStateMetadata with ``inputs`` and ``outputs``),
``diffs`` and ``detailedDiff``, a map of property path to PropertyDiff ``{"diffKind": add|delete|
update|add-replace|delete-replace|update-replace, "inputDiff": bool}``.

``--expect-no-changes`` is not passed: it would turn the first drifted resource into a failed command,
while the events report every drifted resource. What the events mean after a refresh:

* ``update`` / ``replace``: the refreshed live state differs from the code at the ``detailedDiff`` paths;
* ``create``: the resource is in the code but the refresh found it gone;
* ``refresh`` with outputs that differ between ``old`` and ``new``: live values changed (a
  ``refresh --preview-only`` stream); ``new`` missing: gone.

Other ops (``same``, ``read``, ``delete`` of what the code dropped ...) are not drift.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from stacks.drift.findings import DriftFinding, Fix, Kind, Layer

CHANGE_OPS = {"update", "replace", "create-replacement"}
MAX_VALUE = 60


def findings_from_events(events: Iterable[Mapping[str, Any]], stack: str) -> list[DriftFinding]:
    """One finding per drifted resource in a stream of engine events (JSON objects)."""
    found: dict[str, DriftFinding] = {}
    for event in events:
        step = event.get("resourcePreEvent") or event.get("resOutputsEvent")
        if not isinstance(step, Mapping):
            continue
        metadata = step.get("metadata")
        if not isinstance(metadata, Mapping):
            continue
        urn = str(metadata.get("urn", ""))
        if not urn or urn in found or str(metadata.get("type", "")).startswith("pulumi:"):
            continue
        finding = _finding(metadata, urn, stack, None)
        if finding is not None:
            found[urn] = finding
    return list(found.values())


def _finding(metadata: Mapping[str, Any], urn: str, stack: str, since: str | None) -> DriftFinding | None:
    op = str(metadata.get("op", ""))
    type_ = str(metadata.get("type", ""))
    old = metadata.get("old") if isinstance(metadata.get("old"), Mapping) else {}
    new = metadata.get("new") if isinstance(metadata.get("new"), Mapping) else None
    reapply = f"`pulumi up --stack {stack} --policy-pack policies` puts the code's values back"
    assert isinstance(old, Mapping)
    if op in CHANGE_OPS:
        differs = _detailed(metadata, old, new or {})
        return DriftFinding(
            Layer.STATE, Kind.CHANGED, urn, type_, tuple(differs), Fix.REAPPLY, reapply, since, urn
        )
    if op == "create":
        return DriftFinding(
            Layer.STATE,
            Kind.GONE,
            urn,
            type_,
            ("in the code and the state, but gone from the cloud",),
            Fix.REAPPLY,
            f"`pulumi up --stack {stack} --refresh --policy-pack policies` re-creates it",
            since,
            urn,
        )
    if op == "refresh":
        if new is None:
            return DriftFinding(
                Layer.STATE,
                Kind.GONE,
                urn,
                type_,
                ("the refresh found it gone",),
                Fix.REAPPLY,
                reapply,
                since,
                urn,
            )
        differs = _outputs_diff(old.get("outputs") or {}, new.get("outputs") or {})
        if differs:
            return DriftFinding(
                Layer.STATE, Kind.CHANGED, urn, type_, tuple(differs), Fix.REAPPLY, reapply, since, urn
            )
    return None


def _detailed(metadata: Mapping[str, Any], old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    detailed = metadata.get("detailedDiff")
    lines: list[str] = []
    if isinstance(detailed, Mapping) and detailed:
        for path, diff in sorted(detailed.items()):
            kind = diff.get("diffKind", "update") if isinstance(diff, Mapping) else "update"
            live = _lookup(old.get("outputs") or old.get("inputs") or {}, path)
            code = _lookup(new.get("inputs") or {}, path)
            replace = " (forces replacement)" if str(kind).endswith("-replace") else ""
            lines.append(f"{path}: live {_show(live)}, code {_show(code)}{replace}")
        return lines
    diffs = metadata.get("diffs")
    if isinstance(diffs, list) and diffs:
        return [f"{key}: live value differs from the code" for key in sorted(str(d) for d in diffs)]
    return ["live state differs from the code (the provider gave no property diff)"]


def _outputs_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return [
        f"{key}: state {_show(old.get(key))}, live {_show(new.get(key))}"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def _lookup(values: Mapping[str, Any], path: str) -> Any:
    """Top-level and dotted paths (``tags.owner``); ``[i]`` indices are not followed."""
    current: Any = values
    for part in path.replace('["', ".").replace('"]', "").split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."
