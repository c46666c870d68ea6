"""Validate Karpenter objects against Karpenter's own CRD schemas (v1.14.1, ../shared/oracles/).

The CRDs' ``openAPIV3Schema`` is JSON Schema plus Kubernetes extensions (``x-kubernetes-*``, CEL
``x-kubernetes-validations``), which jsonschema ignores: structure, types, enums, patterns and
required fields are checked here; the CEL rules only by the API server.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ORACLE = Path("shared") / "oracles" / "karpenter-v1.14.1"


def _oracle_dir() -> Path:
    """``../shared/oracles/karpenter-v1.14.1`` next to the checkout (or next to any parent of it, for
    worktrees kept in a sub-directory)."""
    for parent in Path(__file__).resolve().parents:
        if (parent / ORACLE).is_dir():
            return parent / ORACLE
    raise AssertionError(f"the Karpenter CRD oracle {ORACLE} is not next to this checkout")


CRD_FILES = {
    ("karpenter.sh/v1", "NodePool"): "karpenter.sh_nodepools.yaml",
    ("karpenter.sh/v1", "NodeClaim"): "karpenter.sh_nodeclaims.yaml",
    ("karpenter.k8s.aws/v1", "EC2NodeClass"): "karpenter.k8s.aws_ec2nodeclasses.yaml",
}


@functools.cache
def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    """The openAPIV3Schema of ``kind`` at ``api_version`` from the CRD file."""
    group, version = api_version.split("/")
    crd = yaml.safe_load((_oracle_dir() / CRD_FILES[(api_version, kind)]).read_text())
    assert crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema: dict[str, Any] = served["schema"]["openAPIV3Schema"]
    return schema


def validate(obj: dict[str, Any]) -> None:
    """AssertionError naming the object and the schema problem when ``obj`` is not valid."""
    schema = crd_schema(obj["apiVersion"], obj["kind"])
    # metadata is ObjectMeta, which the CRD leaves open ("type: object"): names are checked elsewhere.
    try:
        jsonschema.validate(obj, schema, cls=jsonschema.Draft7Validator)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        name = obj.get("metadata", {}).get("name")
        raise AssertionError(f"{obj['kind']} {name!r} is invalid at {where}: {exc.message}") from None
