"""The pack's once-per-request servicer answers exactly as pulumi-policy's own servicer does.

Both servicers get the same pack, the same Configure request (the runner's) and the same
Analyze/AnalyzeStack requests (the runner's, from real plans and from every failing, missing and
unknown fixture of tests/policies/cases.py); their responses must be equal message for message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import StackValidationArgs, StackValidationPolicy
from pulumi_policy.policy import _PolicyAnalyzerServicer

from policies import analyzer_servicer
from policies.__main__ import PACK_LEVEL, PACK_NAME, POLICIES
from policies.config import initial_config
from stacks.check.config import reconcile, to_proto
from stacks.check.requests import build_requests
from stacks.offline.plan import Plan
from tests.policies.cases import CASES
from tests.policies.fixtures import Case, apply

EDITED = [c for c in CASES if c.edit is not None and not c.config]


def _servicer(kind: type[Any]) -> Any:
    servicer = kind(PACK_NAME, "0.0.1", POLICIES, PACK_LEVEL, dict(initial_config(POLICIES, PACK_LEVEL)))
    info = servicer.GetAnalyzerInfo(empty_pb2.Empty(), None)
    request = analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=to_proto(reconcile(info)))
    servicer.Configure(request, None)
    servicer.ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(stack="s", project="mlenv"), None)
    return servicer


@pytest.fixture(scope="module")
def servicers() -> tuple[Any, Any]:
    return _servicer(_PolicyAnalyzerServicer), _servicer(analyzer_servicer.ConvertOnceServicer)


@pytest.mark.parametrize("stack", ["dev", "prod", "experiment", "redis"])
def test_same_answers_over_whole_plans(
    stack: str, plans: dict[str, Plan], servicers: tuple[Any, Any]
) -> None:
    stock, once = servicers
    requests = build_requests(plans[stack])
    for _, request in requests.analyze:
        assert once.Analyze(request, None) == stock.Analyze(request, None), request.urn
    stack_answer = once.AnalyzeStack(requests.stack, None)
    assert stack_answer == stock.AnalyzeStack(requests.stack, None)


@pytest.mark.parametrize("case", EDITED, ids=[c.id for c in EDITED])
def test_same_answers_on_every_fixture(
    case: Case, plans: dict[str, Plan], servicers: tuple[Any, Any]
) -> None:
    stock, once = servicers
    assert case.edit is not None
    plan = plans[case.base]
    edited, expected = apply(list(plan.resources), case.edit)
    requests = build_requests(plan, edited)
    answered = False
    for ref, request in requests.analyze:
        if ref.urn in expected:
            mine, theirs = once.Analyze(request, None), stock.Analyze(request, None)
            assert mine == theirs, ref.urn
            answered |= bool(theirs.diagnostics) or bool(theirs.not_applicable)
    if case.kind != "pass" and not answered:
        # The policy is a stack policy (or reports on another resource): compare the stack pass.
        assert once.AnalyzeStack(requests.stack, None) == stock.AnalyzeStack(requests.stack, None)


def test_the_pack_serves_through_it_only_on_tested_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    import pulumi_policy.policy as policy_module

    monkeypatch.setattr(policy_module, "_PolicyAnalyzerServicer", _PolicyAnalyzerServicer)
    assert not analyzer_servicer.install("0.0.0")
    assert policy_module._PolicyAnalyzerServicer is _PolicyAnalyzerServicer
    assert analyzer_servicer.install()  # the installed pulumi-policy is a tested one
    assert policy_module._PolicyAnalyzerServicer is analyzer_servicer.ConvertOnceServicer


def _plain(value: Any) -> Any:
    """A proxied property value as plain data (the proxies compare by identity)."""
    if isinstance(value, Mapping):
        return {k: _plain(value[k]) for k in value}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return value


def test_stack_policies_see_the_same_resource_graph(plans: dict[str, Plan]) -> None:
    """What a stack policy is given (properties, options, parent, dependencies, property
    dependencies), seen by a recording policy under both servicers."""
    seen: list[list[Any]] = []

    def record(args: StackValidationArgs, report_violation: Any) -> None:
        seen.append(
            [
                (
                    r.resource_type,
                    r.urn,
                    r.name,
                    _plain(r.props),
                    r.opts.protect,
                    list(r.opts.ignore_changes),
                    r.opts.parent,
                    r.parent.urn if r.parent is not None else None,
                    [d.urn for d in r.dependencies],
                    {k: [d.urn for d in v] for k, v in r.property_dependencies.items()},
                    r.provider.urn if r.provider is not None else None,
                )
                for r in args.resources
            ]
        )

    recorder = StackValidationPolicy(name="record-graph", description="records", validate=record)
    request = build_requests(plans["prod"]).stack
    for kind in (_PolicyAnalyzerServicer, analyzer_servicer.ConvertOnceServicer):
        kind(PACK_NAME, "0.0.1", [recorder], PACK_LEVEL).AnalyzeStack(request, None)  # type: ignore[no-untyped-call]
    stock, once = seen
    assert any(deps for *_, deps, _, _ in stock)  # the plan has dependencies to compare
    assert once == stock
