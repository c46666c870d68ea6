"""A Plan as the Pulumi engine would send it to an analyzer: AnalyzeRequest and AnalyzeStackRequest.

Mirrors the engine (pulumi/pulumi ``pkg/resource/deploy/step_generator.go`` and
``sdk/go/common/resource/plugin/analyzer_plugin.go``):

* Analyze is called once per registered resource (custom, component, provider, the stack), with
  its inputs, resource options (parent included) and its provider resource; not for ``get`` reads.
* AnalyzeStack is called once with every resource of the stack, reads included, with parent,
  dependencies and property dependencies on the resource (options without parent), empty
  property-dependency lists dropped.
* Properties are marshalled with KeepUnknowns and KeepSecrets and without internal ``__`` keys:
  unknowns travel as the unknown sentinel, secrets as ``{sig: secret, value}``; resource
  references (KeepResources off) become the referenced id, or the URN of a component.
* A resource whose provider is not in the plan (a default provider) gets the provider the engine
  would create: ``pulumi:providers:<pkg>`` whose inputs are the stack's ``<pkg>:*`` config.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2

from stacks.check.findings import ResourceRef
from stacks.offline.plan import SIG_KEY, UNKNOWN, Plan, PlannedResource

RESOURCE_REF_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER_PREFIX = "pulumi:providers:"


def engine_value(value: Any) -> Any:
    """One wire value from the plan, as the engine marshals it for an analyzer."""
    if isinstance(value, dict):
        sig = value.get(SIG_KEY)
        if sig == SECRET_SIG:
            return {SIG_KEY: SECRET_SIG, "value": engine_value(value.get("value"))}
        if sig == OUTPUT_VALUE_SIG:
            if "value" not in value:
                return UNKNOWN
            inner = engine_value(value["value"])
            return {SIG_KEY: SECRET_SIG, "value": inner} if value.get("secret") else inner
        if sig == RESOURCE_REF_SIG:
            if "id" in value:
                resource_id = value["id"]
                return UNKNOWN if resource_id in ("", None) else engine_value(resource_id)
            return value.get("urn", UNKNOWN)
        if sig is not None:
            # Assets and archives keep their wire form; pulumi-policy deserializes them.
            return value
        return {k: engine_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [engine_value(v) for v in value]
    return value


def engine_properties(inputs: Mapping[str, Any]) -> struct_pb2.Struct:
    """A resource's inputs as a Struct: engine form, internal ``__`` keys skipped."""
    struct = struct_pb2.Struct()
    struct.update({k: engine_value(v) for k, v in inputs.items() if not k.startswith("__")})
    return struct


def split_provider_reference(reference: str) -> tuple[str, str]:
    """``<provider urn>::<provider id>`` -> (urn, id)."""
    urn, _, provider_id = reference.rpartition("::")
    return (urn, provider_id) if urn else (reference, "")


def urn_type(urn: str) -> str:
    parts = urn.split("::", 3)
    return parts[2].rsplit("$", 1)[-1] if len(parts) == 4 else ""


def urn_name(urn: str) -> str:
    parts = urn.split("::", 3)
    return parts[3] if len(parts) == 4 else urn


@dataclass(frozen=True)
class AnalyzerRequests:
    """Everything the runner sends for one plan, built once."""

    analyze: tuple[tuple[ResourceRef, analyzer_pb2.AnalyzeRequest], ...]
    stack: analyzer_pb2.AnalyzeStackRequest
    resources: Mapping[str, ResourceRef]


def _default_provider(plan: Plan, package: str) -> PlannedResource:
    prefix = f"{package}:"
    urn = f"urn:pulumi:{plan.stack}::{plan.project}::{PROVIDER_PREFIX}{package}::default"
    return PlannedResource(
        urn=urn,
        type=f"{PROVIDER_PREFIX}{package}",
        name="default",
        parent=None,
        custom=True,
        id=f"default-{package}-id",
        inputs={k[len(prefix) :]: v for k, v in plan.config.items() if k.startswith(prefix)},
    )


def resources_as_engine_sees_them(plan: Plan) -> list[PlannedResource]:
    """The plan's resources plus any default provider the engine would register for them."""
    resources = list(plan.resources)
    known = {r.urn for r in resources}
    for resource in plan.resources:
        needs_default = (
            resource.custom
            and resource.provider is None
            and not resource.type.startswith(PROVIDER_PREFIX)
            and resource.type != STACK_TYPE
        )
        if needs_default:
            provider = _default_provider(plan, resource.type.split(":", 1)[0])
            if provider.urn not in known:
                known.add(provider.urn)
                resources.append(provider)
    return resources


def _provider_resource(
    resource: PlannedResource,
    by_urn: Mapping[str, PlannedResource],
    structs: Mapping[str, struct_pb2.Struct],
    plan: Plan,
) -> analyzer_pb2.AnalyzerProviderResource | None:
    if resource.type.startswith(PROVIDER_PREFIX) or resource.type == STACK_TYPE:
        return None
    if resource.provider is None:
        if not resource.custom:
            return None
        provider = _default_provider(plan, resource.type.split(":", 1)[0])
    else:
        urn, _ = split_provider_reference(resource.provider)
        found = by_urn.get(urn)
        provider = found or PlannedResource(
            urn=urn, type=urn_type(urn), name=urn_name(urn), custom=True, inputs={}
        )
    properties = structs.get(provider.urn) or engine_properties(provider.inputs)
    return analyzer_pb2.AnalyzerProviderResource(
        type=provider.type, urn=provider.urn, name=urn_name(provider.urn), properties=properties
    )


def _options(resource: PlannedResource, *, with_parent: bool) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=resource.protect,
        ignoreChanges=resource.ignore_changes,
        deleteBeforeReplace=resource.delete_before_replace,
        # The plan records the flag, not whether the program set it: only True is known to be set.
        deleteBeforeReplaceDefined=resource.delete_before_replace,
        additionalSecretOutputs=resource.additional_secret_outputs,
        aliases=[],
        customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(),
        parent=(resource.parent or "") if with_parent else "",
    )


def build_requests(plan: Plan, resources: Iterable[PlannedResource] | None = None) -> AnalyzerRequests:
    """The Analyze requests (one per registered resource) and the AnalyzeStack request for a plan."""
    everything = list(resources) if resources is not None else resources_as_engine_sees_them(plan)
    by_urn = {r.urn: r for r in everything}
    structs = {r.urn: engine_properties(r.inputs) for r in everything}
    refs = {r.urn: ResourceRef(urn=r.urn, type=r.type, name=urn_name(r.urn)) for r in everything}
    analyze: list[tuple[ResourceRef, analyzer_pb2.AnalyzeRequest]] = []
    stack_resources: list[analyzer_pb2.AnalyzerResource] = []
    for resource in everything:
        provider = _provider_resource(resource, by_urn, structs, plan)
        properties = structs[resource.urn]
        name = urn_name(resource.urn)
        if not resource.read:
            request = analyzer_pb2.AnalyzeRequest(
                type=resource.type,
                urn=resource.urn,
                name=name,
                properties=properties,
                options=_options(resource, with_parent=True),
                provider=provider,
            )
            analyze.append((refs[resource.urn], request))
        stack_resources.append(
            analyzer_pb2.AnalyzerResource(
                type=resource.type,
                urn=resource.urn,
                name=name,
                properties=properties,
                options=_options(resource, with_parent=False),
                provider=provider,
                parent=resource.parent or "",
                dependencies=resource.dependencies,
                propertyDependencies={
                    key: analyzer_pb2.AnalyzerPropertyDependencies(urns=urns)
                    for key, urns in resource.property_dependencies.items()
                    if urns
                },
            )
        )
    return AnalyzerRequests(
        analyze=tuple(analyze),
        stack=analyzer_pb2.AnalyzeStackRequest(resources=stack_resources),
        resources=refs,
    )
