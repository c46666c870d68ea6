"""Karpenter's reference data (../shared/oracles/karpenter-v1.14.1/) as test oracles: the CRDs by kind,
the hand-checked CEL rules, and the reference CloudFormation's controller actions.

The CRDs' ``openAPIV3Schema`` validates NodePool and EC2NodeClass objects with jsonschema. jsonschema
does not evaluate the CRDs' ``x-kubernetes-validations`` (CEL) rules; ``cel_problems`` checks by hand
the ones our objects could break:

- EC2NodeClass: exactly one of ``role``/``instanceProfile``; ``role`` not empty; ``amiFamily`` set
  when no ``alias`` term is used; an ``id`` term carries no other field; at most one root volume;
  no restricted tag keys (``kubernetes.io/cluster*``, ``eks:eks-cluster-name``, ``karpenter.sh/nodepool``,
  ``karpenter.sh/nodeclaim``, ``karpenter.k8s.aws/ec2nodeclass``).
- NodePool: a budget sets ``schedule`` and ``duration`` together or neither; template labels use no
  restricted domain (``karpenter.sh``, ``karpenter.k8s.aws``, ``kubernetes.io`` except the well-known
  keys); ``nodeClassRef`` names a group, kind and name.

The reference CloudFormation template gives the controller's IAM actions.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import yaml

ORACLE_DIRS = tuple(
    p / "shared" / "oracles" / "karpenter-v1.14.1" for p in Path(__file__).resolve().parents[3:5]
)
"""``../shared/oracles/karpenter-v1.14.1`` from the repository (or from a worktree one level deeper)."""
CRD_FILES = {
    "NodePool": "karpenter.sh_nodepools.yaml",
    "EC2NodeClass": "karpenter.k8s.aws_ec2nodeclasses.yaml",
}
RESTRICTED_TAGS = (
    "eks:eks-cluster-name",
    "karpenter.sh/nodepool",
    "karpenter.sh/nodeclaim",
    "karpenter.k8s.aws/ec2nodeclass",
)
RESTRICTED_LABEL_DOMAINS = ("karpenter.sh", "karpenter.k8s.aws", "kubernetes.io", "k8s.io")


def oracle_dir() -> Path:
    """The reference data directory."""
    for candidate in ORACLE_DIRS:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"Karpenter reference data not found at {', '.join(map(str, ORACLE_DIRS))}")


@functools.cache
def crd_schema(kind: str) -> dict[str, Any]:
    """The served, stored version's ``openAPIV3Schema`` of a Karpenter CRD."""
    crd = yaml.safe_load((oracle_dir() / CRD_FILES[kind]).read_text(encoding="utf-8"))
    version = next(v for v in crd["spec"]["versions"] if v.get("served") and v.get("storage"))
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


@functools.cache
def reference_policy_actions() -> frozenset[str]:
    """Every IAM action the reference template grants the controller (its managed policies)."""
    template = yaml.load(
        (oracle_dir() / "cloudformation.yaml").read_text(encoding="utf-8"), Loader=_CfnLoader
    )
    actions: set[str] = set()
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::ManagedPolicy":
            continue
        document = resource["Properties"]["PolicyDocument"]
        text = document if isinstance(document, str) else str(document)
        parsed = json.loads(re.sub(r"\$\{[^}]+\}", "X", text))
        for statement in parsed["Statement"]:
            value = statement["Action"]
            actions.update([value] if isinstance(value, str) else value)
    return frozenset(actions)


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation's short-form tags (!Sub, !GetAtt ...) as plain values."""


def _tag(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _tag)


def _restricted_label(key: str) -> bool:
    domain = key.split("/", 1)[0] if "/" in key else ""
    allowed = {"kubernetes.io/arch", "kubernetes.io/os", "node.kubernetes.io/instance-type"}
    return key not in allowed and any(
        domain == d or domain.endswith("." + d) for d in RESTRICTED_LABEL_DOMAINS
    )


def cel_problems(kind: str, obj: dict[str, Any]) -> list[str]:
    """The hand-checked CEL rules (module docstring) that ``obj`` breaks."""
    spec = obj.get("spec", {})
    problems: list[str] = []
    if kind == "EC2NodeClass":
        if ("role" in spec) == ("instanceProfile" in spec):
            problems.append("exactly one of role, instanceProfile")
        if spec.get("role") == "":
            problems.append("role cannot be empty")
        terms = spec.get("amiSelectorTerms", [])
        if not any("alias" in t for t in terms) and "amiFamily" not in spec:
            problems.append("amiFamily required without an alias term")
        if any("id" in t and len(t) > 1 for t in terms):
            problems.append("id is mutually exclusive")
        if sum(1 for m in spec.get("blockDeviceMappings", []) if m.get("rootVolume")) > 1:
            problems.append("more than one root volume")
        for key in spec.get("tags", {}):
            if key == "" or key in RESTRICTED_TAGS or key.startswith("kubernetes.io/cluster"):
                problems.append(f"restricted tag {key!r}")
    else:
        for budget in spec.get("disruption", {}).get("budgets", []):
            if ("schedule" in budget) != ("duration" in budget):
                problems.append(f"budget {budget}: schedule and duration go together")
        template = spec.get("template", {})
        for key in template.get("metadata", {}).get("labels", {}):
            if _restricted_label(key):
                problems.append(f"restricted label {key!r}")
        ref = template.get("spec", {}).get("nodeClassRef", {})
        if not all(ref.get(k) for k in ("group", "kind", "name")):
            problems.append("nodeClassRef needs group, kind and name")
    return problems
