"""How a plan is marshalled into analyzer requests, and how policy config is reconciled (as the CLI)."""

from __future__ import annotations

from google.protobuf import json_format
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy.deserialize import deserialize_properties

from stacks.check.config import PolicyConfigEntry, parse_policy_config, reconcile
from stacks.check.requests import (
    OUTPUT_VALUE_SIG,
    RESOURCE_REF_SIG,
    build_requests,
    engine_properties,
)
from stacks.offline.plan import SECRET_SIG, SIG_KEY, UNKNOWN, Plan
from tests.policies.runner_fixtures import small_plan

__all__ = ["small_plan"]

CUSTOM_REF = {SIG_KEY: RESOURCE_REF_SIG, "urn": "urn:pulumi:s::p::aws:s3/bucket:Bucket::b", "id": "b-123"}
COMPONENT_REF = {SIG_KEY: RESOURCE_REF_SIG, "urn": "urn:pulumi:s::p::mlenv:x:Y::c"}


def test_wire_values_become_what_pulumi_policy_can_read() -> None:
    inputs = {
        "bucket": CUSTOM_REF,
        "component": COMPONENT_REF,
        "pending": {SIG_KEY: RESOURCE_REF_SIG, "urn": "urn:pulumi:s::p::aws:x:Y::n", "id": UNKNOWN},
        "known": {SIG_KEY: OUTPUT_VALUE_SIG, "value": 3, "dependencies": []},
        "unknown": {SIG_KEY: OUTPUT_VALUE_SIG, "dependencies": []},
        "secret_output": {SIG_KEY: OUTPUT_VALUE_SIG, "value": "pw", "secret": True},
        "secret": {SIG_KEY: SECRET_SIG, "value": [CUSTOM_REF]},
        "__defaults": ["internal"],
    }
    struct = engine_properties(inputs)
    # What the pack's servicer does with a request's properties.
    seen = deserialize_properties(json_format.MessageToDict(struct))
    assert seen == {
        "bucket": "b-123",
        "component": "urn:pulumi:s::p::mlenv:x:Y::c",
        "pending": UNKNOWN,
        "known": 3,
        "unknown": UNKNOWN,
        "secret_output": "pw",
        "secret": ["b-123"],
    }
    assert json_format.MessageToDict(struct)["secret"] == {SIG_KEY: SECRET_SIG, "value": ["b-123"]}


def test_requests_carry_options_provider_and_dependencies(small_plan: Plan) -> None:
    requests = build_requests(small_plan)
    by_urn = {ref.urn: request for ref, request in requests.analyze}
    good = next(r for r in small_plan.resources if r.name == "good" and r.type == "aws:s3/bucket:Bucket")
    request = by_urn[good.urn]
    assert request.options.protect is True
    assert request.options.parent == good.parent
    assert request.provider.type == "pulumi:providers:aws"
    assert json_format.MessageToDict(request.provider.properties) == {"region": "us-east-1"}

    stack_entry = {r.urn: r for r in requests.stack.resources}
    versioning = next(r for r in small_plan.resources if r.type == "aws:s3/bucketVersioning:BucketVersioning")
    entry = stack_entry[versioning.urn]
    assert entry.options.parent == ""  # AnalyzeStack carries the parent on the resource, not the options
    assert entry.parent == versioning.parent
    assert list(entry.propertyDependencies["bucket"].urns) == [good.urn]
    assert "versioningConfiguration" not in entry.propertyDependencies  # empty lists are dropped
    # The default provider the engine would register is analyzed and part of the stack.
    assert "urn:pulumi:runner::mlenv::pulumi:providers:aws::default" in stack_entry


def _info(
    *policies: analyzer_pb2.PolicyInfo, initial: dict[str, analyzer_pb2.PolicyConfig] | None = None
) -> analyzer_pb2.AnalyzerInfo:
    info = analyzer_pb2.AnalyzerInfo(name="p", policies=list(policies))
    for key, value in (initial or {}).items():
        info.initialConfig[key].CopyFrom(value)
    return info


def _policy(
    name: str, level: analyzer_pb2.EnforcementLevel.ValueType, schema: dict[str, object] | None = None
) -> analyzer_pb2.PolicyInfo:
    policy = analyzer_pb2.PolicyInfo(name=name, enforcementLevel=level)
    if schema:
        policy.configSchema.properties.update(schema)
    return policy


def test_reconcile_defaults_initial_config_and_user_file() -> None:
    info = _info(
        _policy("a", analyzer_pb2.MANDATORY, {"max": {"type": "number", "default": 4}}),
        _policy("b", analyzer_pb2.MANDATORY),
        _policy("c", analyzer_pb2.ADVISORY),
        initial={"b": analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.MANDATORY)},
    )
    user = parse_policy_config({"all": "advisory", "a": {"max": 8}, "c": "disabled"}, source="test")
    assert reconcile(info) == {
        "a": PolicyConfigEntry("mandatory", {"max": 4}),
        "b": PolicyConfigEntry("mandatory", {}),
        "c": PolicyConfigEntry("advisory", {}),
    }
    assert reconcile(info, user) == {
        "a": PolicyConfigEntry("advisory", {"max": 8}),
        "b": PolicyConfigEntry("advisory", {}),
        "c": PolicyConfigEntry("disabled", {}),
    }


def test_initial_config_without_a_level_reads_as_advisory_like_the_cli() -> None:
    """pulumi/pulumi analyzer_plugin.go converts the unset proto enum (0) to advisory and applies it."""
    initial = analyzer_pb2.PolicyConfig()
    initial.properties.update({"max": 2})
    info = _info(_policy("a", analyzer_pb2.MANDATORY, {"max": {"type": "number"}}), initial={"a": initial})
    assert reconcile(info)["a"] == PolicyConfigEntry("advisory", {"max": 2})
