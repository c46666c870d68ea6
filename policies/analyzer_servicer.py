"""The pack's analyzer servicer: pulumi-policy's own, converting each request's properties once.

Why: pulumi-policy 1.21's ``_PolicyAnalyzerServicer`` converts a resource's properties (protobuf
Struct -> dict -> ``deserialize_properties`` -> ``unknown_checking_proxy``, which wraps every
nested value eagerly) once per *policy*: in ``Analyze`` inside its loop over the policies, in
``AnalyzeStack`` for every resource of the stack inside its loop over the stack policies. With 55
policies that is 5-10 ms per resource against 0.4-0.9 ms for the policies themselves (issue 17;
``benchmarks/check.py`` prints the figures). Here the same loops run over properties converted once
per request; everything else (enforcement levels, config, not-applicable, the preview diagnostic
for unknown values, remediations, info) is pulumi-policy's own code, inherited.

The pack installs this servicer in ``policies/__main__.py`` before it constructs ``PolicyPack``,
which looks ``_PolicyAnalyzerServicer`` up in its module when it is called: so it serves the same
way under ``pulumi preview --policy-pack policies`` as under ``mlenv check`` (one code path). The
overridden methods read the servicer's private state, so they are used only with the pulumi-policy
versions they were written and tested against (``TESTED_VERSIONS``); with any other version the pack
keeps pulumi-policy's servicer (same answers, slower) and says so on stderr, which the Pulumi CLI
and ``mlenv check`` show.

Sharing one converted object between policies is sound because our policies are stateless and
never write to the properties they are given (STYLE.md 7; the pack's tests compare every answer
with pulumi-policy's own servicer).
"""

from __future__ import annotations

import asyncio
import sys
from importlib import metadata
from inspect import isawaitable
from typing import Any

import pulumi_policy.policy as policy_module
from google.protobuf import json_format
from pulumi.runtime import proto
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
    _NotApplicableError,
    _PolicyAnalyzerServicer,
)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

TESTED_VERSIONS = frozenset({"1.21.0"})
"""pulumi-policy versions whose ``_PolicyAnalyzerServicer`` this subclass was checked against."""


class ConvertOnceServicer(_PolicyAnalyzerServicer):
    """pulumi-policy's servicer with each Analyze/AnalyzeStack request's properties converted once."""

    def _private(self, name: str) -> Any:
        return getattr(self, f"_PolicyAnalyzerServicer__{name}")

    def _run_policy(self, policy: Any, args: Any, response: Any, report_violation: Any) -> None:
        """What pulumi-policy does around one policy's ``validate`` (same diagnostics)."""
        try:
            result = policy.validate(args, report_violation)
            if isawaitable(result):
                loop = asyncio.new_event_loop()
                loop.run_until_complete(asyncio.Task(result, loop=loop))  # type: ignore[arg-type]
                loop.close()
        except UnknownValueError as e:
            name, version = self._private("policy_pack_name"), self._private("policy_pack_version")
            response.diagnostics.append(
                proto.AnalyzeDiagnostic(
                    policyName=policy.name,
                    policyPackName=name,
                    policyPackVersion=version,
                    message=(
                        f"can't run policy '{policy.name}' from policy pack "
                        f"'{name}@v{version}' during preview: {e.message}"
                    ),
                    urn="",
                    description=policy.description,
                    enforcementLevel=self._map_enforcement_level(EnforcementLevel.ADVISORY),
                )
            )
        except _NotApplicableError as e:
            response.not_applicable.append(
                proto.PolicyNotApplicable(policy_name=policy.name, reason=e.reason or "")
            )

    def _properties(self, request: Any) -> Any:
        return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(request.properties)))

    def Analyze(self, request: Any, _context: Any) -> Any:
        self._configure_runtime_settings()  # type: ignore[no-untyped-call]
        response = proto.AnalyzeResponse()
        converted: tuple[Any, Any, Any] | None = None
        for policy in self._private("policies"):
            level = self._get_enforcement_level(policy)
            if level == EnforcementLevel.DISABLED or not isinstance(policy, ResourceValidationPolicy):
                continue
            if not policy.has_validation():
                response.not_applicable.append(
                    proto.PolicyNotApplicable(
                        policy_name=policy.name, reason="Policy does not implement validate"
                    )
                )
                continue
            if level == EnforcementLevel.REMEDIATE:
                level = EnforcementLevel.MANDATORY
            report_violation = self._create_report_violation(
                response, policy.name, policy.description, level, policy.severity
            )
            if converted is None:
                converted = (
                    self._properties(request),
                    self._get_resource_options(request),
                    self._get_provider_resource(request),
                )
            props, opts, provider = converted
            args = ResourceValidationArgs(
                request.type,
                props,
                request.urn,
                request.name,
                opts,
                provider,
                self._get_policy_config(policy.name),
                self._private("stack_tags"),
            )
            self._run_policy(policy, args, response, report_violation)
        return response

    def _stack_resources(self, request: Any) -> list[PolicyResource]:
        """Every resource of the stack, converted once, parents and dependencies linked."""
        resources: list[PolicyResource] = []
        links: list[tuple[PolicyResource, Any]] = []
        for r in request.resources:
            resource = PolicyResource(
                r.type,
                self._properties(r),
                r.urn,
                r.name,
                self._get_resource_options(r),
                self._get_provider_resource(r),
                None,
                [],
                {},
            )
            resources.append(resource)
            links.append((resource, r))
        by_urn = {resource.urn: resource for resource in resources}
        for resource, r in links:
            if r.parent is not None and r.parent in by_urn:
                resource.parent = by_urn[r.parent]
            resource.dependencies.extend(by_urn[d] for d in r.dependencies if d in by_urn)
            for key, urns in r.propertyDependencies.items():
                resource.property_dependencies[key] = [by_urn[d] for d in urns.urns if d in by_urn]
        return resources

    def AnalyzeStack(self, request: Any, _context: Any) -> Any:
        self._configure_runtime_settings()  # type: ignore[no-untyped-call]
        response = proto.AnalyzeResponse()
        resources: list[PolicyResource] | None = None
        for policy in self._private("policies"):
            level = self._get_enforcement_level(policy)
            if level == EnforcementLevel.DISABLED or not isinstance(policy, StackValidationPolicy):
                continue
            if level == EnforcementLevel.REMEDIATE:
                level = EnforcementLevel.MANDATORY
            report_violation = self._create_report_violation(
                response, policy.name, policy.description, level, policy.severity
            )
            if resources is None:
                resources = self._stack_resources(request)
            args = StackValidationArgs(
                resources, self._get_policy_config(policy.name), self._private("stack_tags")
            )
            self._run_policy(policy, args, response, report_violation)
        return response


def installed_version() -> str | None:
    try:
        return metadata.version("pulumi-policy")
    except metadata.PackageNotFoundError:
        return None


def install(version: str | None = None) -> bool:
    """Make ``PolicyPack`` serve through ConvertOnceServicer if pulumi-policy is a tested version.

    Otherwise leave pulumi-policy's servicer in place, say why on stderr, and return False.
    """
    version = version if version is not None else installed_version()
    if version not in TESTED_VERSIONS:
        print(
            f"mlenv policy pack: pulumi-policy {version} is not a version the once-per-request "
            f"property conversion was tested with ({', '.join(sorted(TESTED_VERSIONS))}); serving with "
            "pulumi-policy's own analyzer (same results, slower on large stacks)",
            file=sys.stderr,
        )
        return False
    policy_module._PolicyAnalyzerServicer = ConvertOnceServicer  # type: ignore[misc]
    return True
