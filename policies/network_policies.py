"""Kubernetes NetworkPolicies: default deny, then narrow paths only.

A NetworkPolicy rule without peers (``from``/``to`` absent or empty) matches every source or
destination, an empty ``namespaceSelector`` every namespace, and an ``ipBlock`` of ``0.0.0.0/0``
every address (https://kubernetes.io/docs/concepts/services-networking/network-policies/). Model
servers hold GPU time and read the models bucket: each path to or from them is named.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from policies import resource_types as T
from policies.joins import of_type
from policies.kubernetes import privileged_exempt
from policies.policy_types import Report, ResourcePolicy, StackPolicy
from policies.properties import get, is_sequence, mappings, strings
from policies.workloads import containers, pod_spec


def _peer_problems(peer: Mapping[str, Any]) -> list[str]:
    problems = []
    block = get(peer, "ipBlock.cidr")
    if isinstance(block, str):
        try:
            if ipaddress.ip_network(block, strict=False).prefixlen == 0:
                problems.append(f"ipBlock {block} is every address")
        except ValueError:
            problems.append(f"ipBlock {block!r} is not a CIDR")
    selector = get(peer, "namespaceSelector")
    if (
        isinstance(selector, Mapping)
        and not selector.get("matchLabels")
        and not selector.get("matchExpressions")
    ):
        problems.append("an empty namespaceSelector is every namespace")
    if block is None and selector is None and get(peer, "podSelector") is None:
        problems.append("an empty peer is every source or destination")
    return problems


def check_network_policy_narrow(args: ResourceValidationArgs, report: Report) -> None:
    """Every allow rule names its peers; no peer is every address or every namespace."""
    if args.resource_type != T.K8S_NETWORK_POLICY:
        return
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        rules = get(args.props, f"spec.{direction}")
        if not is_sequence(rules):
            continue
        for number, rule in enumerate(mappings(rules), start=1):
            peers = get(rule, peers_key)
            if not is_sequence(peers) or not list(mappings(peers)):
                report(
                    f"{direction} rule {number} has no '{peers_key}': it allows every "
                    f"{'source' if direction == 'ingress' else 'destination'}; name the namespaces, pods "
                    "or CIDRs (serving: spec clients / egress_cidrs)"
                )
                continue
            for peer in mappings(peers):
                for problem in _peer_problems(peer):
                    report(f"{direction} rule {number}: {problem}; name the peers it needs")


network_policies_narrow = ResourcePolicy(
    name="network-policies-narrow",
    description="NetworkPolicy rules allow named peers only, never every address or namespace.",
    check=check_network_policy_narrow,
)


def _denies_all(policy: Any) -> bool:
    spec = get(policy.props, "spec")
    selector = get(spec, "podSelector")
    selects_all = (
        isinstance(selector, Mapping)
        and not selector.get("matchLabels")
        and not selector.get("matchExpressions")
    )
    types = set(strings(get(spec, "policyTypes")))
    return (
        selects_all
        and {"Ingress", "Egress"} <= types
        and not get(spec, "ingress")
        and not get(spec, "egress")
    )


def check_default_deny(args: StackValidationArgs, report: Report) -> None:
    """Every namespace running workloads (other than catalog-privileged ones) has a default-deny policy."""
    workloads = [
        w
        for w in of_type(args.resources, *T.WORKLOADS)
        if not all(privileged_exempt(c) for c in containers(pod_spec(w.resource_type, w.props)))
    ]
    if not workloads:
        args.not_applicable("the stack runs no workloads")
    denied = {
        get(p.props, "metadata.namespace")
        for p in of_type(args.resources, T.K8S_NETWORK_POLICY)
        if _denies_all(p)
    }
    namespaces = {get(n.props, "metadata.name"): n.urn for n in of_type(args.resources, T.K8S_NAMESPACE)}
    reported: set[Any] = set()
    for workload in workloads:
        namespace = get(workload.props, "metadata.namespace")
        if namespace in denied or namespace in reported:
            continue
        reported.add(namespace)
        report(
            f"namespace {namespace} has no default-deny NetworkPolicy (empty podSelector, policyTypes "
            "Ingress and Egress, no rules): add one, then allow the paths its pods need",
            namespaces.get(namespace, workload.urn),
        )


namespaces_default_deny = StackPolicy(
    name="namespaces-default-deny",
    description="Namespaces that run workloads deny all traffic by default, so only named paths are open.",
    check=check_default_deny,
)
