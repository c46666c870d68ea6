"""Run pack policies in-process over recorded plan resources, built as the SDK's servicer builds them.

``resource_args`` / ``stack_args`` turn ``PlannedResource`` records into pulumi-policy's own
``ResourceValidationArgs`` / ``StackValidationArgs``: properties through ``deserialize_properties``
and ``unknown_checking_proxy`` (so an unknown value raises ``UnknownValueError`` exactly as in the
servicer), options, provider, parent and (property) dependencies linked to resource objects.
``run`` calls a policy's ``validate`` and classifies the outcome like the servicer does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from google.protobuf import json_format, struct_pb2
from pulumi_policy import (
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from stacks.offline.plan import PlannedResource

Outcome = Literal["pass", "violation", "not-applicable", "unknown"]


def _props(inputs: Mapping[str, Any]) -> Any:
    """Through a protobuf Struct and back, as on the wire: every number arrives as a float."""
    struct = struct_pb2.Struct()
    struct.update(dict(inputs))
    return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(struct)))


def _options(resource: PlannedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        resource.protect,
        list(resource.ignore_changes),
        resource.delete_before_replace if resource.delete_before_replace else None,
        [],
        PolicyCustomTimeouts(0, 0, 0),
        list(resource.additional_secret_outputs),
        resource.parent,
    )


def _provider(
    resource: PlannedResource, by_urn: Mapping[str, PlannedResource]
) -> PolicyProviderResource | None:
    if not resource.provider:
        return None
    urn = resource.provider.rsplit("::", 1)[0]
    found = by_urn.get(urn)
    if found is None:
        return None
    return PolicyProviderResource(found.type, _props(found.inputs), found.urn, found.name)


def resource_args(
    resource: PlannedResource,
    plan_resources: Sequence[PlannedResource] = (),
    config: Mapping[str, Any] | None = None,
) -> ResourceValidationArgs:
    """What the servicer's Analyze hands a resource policy for this resource."""
    by_urn = {r.urn: r for r in plan_resources}
    return ResourceValidationArgs(
        resource.type,
        _props(resource.inputs),
        resource.urn,
        resource.name,
        _options(resource),
        _provider(resource, by_urn),
        dict(config) if config else None,
        {},
    )


def stack_args(
    resources: Sequence[PlannedResource], config: Mapping[str, Any] | None = None
) -> StackValidationArgs:
    """What the servicer's AnalyzeStack hands a stack policy."""
    by_urn = {r.urn: r for r in resources}
    built = {
        r.urn: PolicyResource(
            r.type, _props(r.inputs), r.urn, r.name, _options(r), _provider(r, by_urn), None, [], {}
        )
        for r in resources
    }
    for r in resources:
        policy_resource = built[r.urn]
        if r.parent in built:
            policy_resource.parent = built[r.parent]
        policy_resource.dependencies.extend(built[d] for d in r.dependencies if d in built)
        for prop, urns in r.property_dependencies.items():
            policy_resource.property_dependencies[prop] = [built[u] for u in urns if u in built]
    return StackValidationArgs(list(built.values()), dict(config) if config else None, {})


@dataclass
class Result:
    """What a policy reported over some resources."""

    violations: list[tuple[str, str]] = field(default_factory=list)
    """(message, urn) pairs; a stack-level violation has urn ''."""
    not_applicable: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> Outcome:
        """violation > unknown > not-applicable > pass, like a reader of the findings would rank them."""
        if self.violations:
            return "violation"
        if self.unknown:
            return "unknown"
        if self.not_applicable:
            return "not-applicable"
        return "pass"

    @property
    def urns(self) -> set[str]:
        """URNs the violations were reported on."""
        return {urn for _, urn in self.violations}


def run(
    policy: Policy,
    resources: Sequence[PlannedResource],
    config: Mapping[str, Any] | None = None,
    subjects: Iterable[PlannedResource] | None = None,
) -> Result:
    """Call the policy as the servicer would: a resource policy once per subject (default: every
    resource), a stack policy once over ``resources``."""
    from pulumi_policy.policy import _NotApplicableError  # the servicer catches exactly this

    result = Result()
    calls: list[tuple[Any, str]] = []
    if isinstance(policy, ResourceValidationPolicy):
        calls = [
            (resource_args(r, resources, config), r.urn)
            for r in (subjects if subjects is not None else resources)
        ]
    else:
        assert isinstance(policy, StackValidationPolicy)
        calls = [(stack_args(resources, config), "")]
    for args, default_urn in calls:

        def report(message: str, urn: str | None = None, default: str = default_urn) -> None:
            result.violations.append((message, urn or default))

        try:
            policy.validate(args, report)
        except UnknownValueError as exc:
            result.unknown.append(exc.message)
        except _NotApplicableError as exc:
            result.not_applicable.append(exc.reason or "")
    return result
