"""The refresh layer of `mlenv drift`: engine events in Pulumi's documented JSON shape -> findings.

Every event below is first parsed by the Pulumi SDK's own ``automation.events.EngineEvent.from_json``
(the oracle for the shape: it rejects, e.g., a PropertyDiff without ``diffKind``), and the adapter's
``event_json`` must give back the same document, so the parser sees the same JSON whether the events
come from an event log or from the automation API.
"""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.automation.events import EngineEvent

from stacks.automation import event_json
from stacks.drift.findings import Fix, Kind, Layer
from stacks.drift.refresh import findings_from_events

SG = "urn:pulumi:dev::mlenv::mlenv:network:Network$aws:ec2/securityGroup:SecurityGroup::dev-nodes"
BUCKET = "urn:pulumi:dev::mlenv::mlenv:artifacts:ArtifactStore$aws:s3/bucket:Bucket::dev-models"
QUEUE = "urn:pulumi:dev::mlenv::mlenv:compute:Karpenter$aws:sqs/queue:Queue::dev-interruptions"
ROLE = "urn:pulumi:dev::mlenv::mlenv:cluster:EksCluster$aws:iam/role:Role::dev-cluster"
STACK = "urn:pulumi:dev::mlenv::pulumi:pulumi:Stack::mlenv-dev"


def _state(urn: str, type_: str, inputs: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "urn": urn,
        "type": type_,
        "custom": True,
        "delete": False,
        "id": "x-1",
        "parent": STACK,
        "protect": False,
        "inputs": inputs,
        "outputs": outputs,
        "provider": "urn:pulumi:dev::mlenv::pulumi:providers:aws::default::id",
        "initErrors": [],
    }


def _step(sequence: int, op: str, urn: str, type_: str, **metadata: Any) -> dict[str, Any]:
    return {
        "sequence": sequence,
        "timestamp": 1764518400,
        "resourcePreEvent": {
            "metadata": {
                "op": op,
                "urn": urn,
                "type": type_,
                "provider": "urn:pulumi:dev::mlenv::pulumi:providers:aws::default::id",
                # Go's StepEventMetadata.DetailedDiff has no omitempty: the engine always writes it.
                "detailedDiff": {},
                **metadata,
            },
            "planning": True,
        },
    }


SG_TYPE = "aws:ec2/securityGroup:SecurityGroup"
OPENED = {"ingress": [{"cidrBlocks": ["0.0.0.0/0"], "fromPort": 22}]}
CODE = {"ingress": [{"cidrBlocks": ["10.20.0.0/16"], "fromPort": 443}]}

EVENTS: list[dict[str, Any]] = [
    {"sequence": 0, "timestamp": 1764518390, "preludeEvent": {"config": {"aws:region": "us-east-1"}}},
    _step(
        1,
        "same",
        STACK,
        "pulumi:pulumi:Stack",
        old=_state(STACK, "pulumi:pulumi:Stack", {}, {}),
        new=_state(STACK, "pulumi:pulumi:Stack", {}, {}),
    ),
    # Someone opened SSH on the node security group: after the refresh, the code differs from live.
    _step(
        2,
        "update",
        SG,
        SG_TYPE,
        old=_state(SG, SG_TYPE, OPENED, OPENED),
        new=_state(SG, SG_TYPE, CODE, {}),
        diffs=["ingress"],
        detailedDiff={"ingress": {"diffKind": "update", "inputDiff": False}},
    ),
    # The interruption queue was deleted by hand: the refresh dropped it, the preview re-creates it.
    _step(3, "create", QUEUE, "aws:sqs/queue:Queue", new=_state(QUEUE, "aws:sqs/queue:Queue", {}, {})),
    # Unchanged resources are "same".
    _step(
        4,
        "same",
        ROLE,
        "aws:iam/role:Role",
        old=_state(ROLE, "aws:iam/role:Role", {}, {}),
        new=_state(ROLE, "aws:iam/role:Role", {}, {}),
    ),
    {
        "sequence": 5,
        "timestamp": 1764518401,
        "diagnosticEvent": {"message": "refreshing", "color": "never", "severity": "info"},
    },
    # A `refresh --preview-only` stream: old and new outputs of the bucket differ.
    _step(
        6,
        "refresh",
        BUCKET,
        "aws:s3/bucket:Bucket",
        old=_state(BUCKET, "aws:s3/bucket:Bucket", {}, {"forceDestroy": False, "tags": {"team": "ml"}}),
        new=_state(BUCKET, "aws:s3/bucket:Bucket", {}, {"forceDestroy": True, "tags": {"team": "ml"}}),
    ),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: str(e["sequence"]))
def test_events_are_in_the_documented_shape_and_survive_the_automation_api(event: dict[str, Any]) -> None:
    parsed = EngineEvent.from_json(event)
    assert event_json(parsed) == _without_nulls(event)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def test_drifted_resources_become_findings_and_nothing_else() -> None:
    findings = findings_from_events(EVENTS, "dev")
    assert {(f.kind, f.resource) for f in findings} == {
        (Kind.CHANGED, SG),
        (Kind.GONE, QUEUE),
        (Kind.CHANGED, BUCKET),
    }
    assert all(f.layer is Layer.STATE and f.fix is Fix.REAPPLY and f.urn == f.resource for f in findings)
    by_urn = {f.resource: f for f in findings}
    (line,) = by_urn[SG].differs
    assert line.startswith("ingress: live ") and "0.0.0.0/0" in line and "10.20.0.0/16" in line
    assert by_urn[BUCKET].differs == ("forceDestroy: state false, live true",)
    assert "pulumi up --stack dev --policy-pack policies" in by_urn[SG].how


def test_events_parsed_by_the_sdk_give_the_same_findings() -> None:
    through_sdk = [event_json(EngineEvent.from_json(e)) for e in EVENTS]
    assert findings_from_events(through_sdk, "dev") == findings_from_events(EVENTS, "dev")


def test_replacement_is_marked() -> None:
    event = _step(
        1,
        "replace",
        SG,
        SG_TYPE,
        old=_state(SG, SG_TYPE, {"vpcId": "vpc-1"}, {"vpcId": "vpc-1"}),
        new=_state(SG, SG_TYPE, {"vpcId": "vpc-2"}, {}),
        keys=["vpcId"],
        detailedDiff={"vpcId": {"diffKind": "update-replace", "inputDiff": True}},
    )
    EngineEvent.from_json(event)
    (finding,) = findings_from_events([event], "dev")
    assert finding.differs == ('vpcId: live "vpc-1", code "vpc-2" (forces replacement)',)
