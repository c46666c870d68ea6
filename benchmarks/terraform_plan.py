"""The same resources as an mlenv plan, in the shapes Checkov reads: a Terraform plan JSON for the
AWS resources and a multi-document manifest of the Kubernetes objects. Used only by the peer benchmark.

How (each resource of the plan's ``resources``, custom ones only; providers and components are
left out, as Terraform has neither):

* AWS: the type token ``aws:<module>/<resource>:<Class>`` becomes ``aws_<module>_<snake(Class)>``
  (pulumi-aws is bridged from the Terraform provider and names its tokens that way: ``aws:s3/
  bucketVersioning:BucketVersioning`` is ``aws_s3_bucket_versioning``), except for the module
  ``ec2``, whose Terraform names carry no module (``aws:ec2/vpc:Vpc`` is ``aws_vpc``), and the few
  names in ``_TERRAFORM_NAMES``. Input names go from camelCase to Terraform's snake_case (tag and
  label maps keep their keys), and nested objects become one-element lists, which is how a
  Terraform plan writes a nested block. Each resource goes under ``planned_values.root_module`` and
  ``resource_changes`` (action create), the parts of the plan format Checkov's terraform_plan
  runner reads (https://developer.hashicorp.com/terraform/internals/json-format).
* Kubernetes: pulumi-kubernetes inputs are already the object (apiVersion, kind, metadata, spec);
  a Helm release is left out (Checkov would have to render the chart, which needs the network).

Values the plan cannot know before deployment (mlenv writes them as ``<unknown>``) stay strings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

_TERRAFORM_NAMES = {
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": "aws_iam_openid_connect_provider",
    "aws:ec2/eip:Eip": "aws_eip",
}
_KEEP_KEYS = {"tags", "tagsAll", "labels", "annotations", "selector", "matchLabels"}
"""Maps whose keys are the user's (tag names, label keys), not schema names."""
_SKIPPED_KUBERNETES = {"kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart"}
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake(name: str) -> str:
    return _CAMEL.sub(r"_\1", name).lower()


def terraform_type(token: str) -> str | None:
    """The Terraform resource type of a pulumi-aws token; None for anything that is not AWS."""
    if token in _TERRAFORM_NAMES:
        return _TERRAFORM_NAMES[token]
    parts = token.split(":")
    if len(parts) != 3 or parts[0] != "aws":
        return None
    module = parts[1].split("/")[0]
    name = snake(parts[2])
    return f"aws_{name}" if module == "ec2" else f"aws_{module}_{name}"


def terraform_values(value: Any, *, keep_keys: bool = False) -> Any:
    """Pulumi inputs as Terraform plan values: snake_case names, nested objects as blocks."""
    if isinstance(value, Mapping):
        converted: dict[str, Any] = {}
        for key, item in value.items():
            name = key if keep_keys else snake(key)
            inner = terraform_values(item, keep_keys=key in _KEEP_KEYS)
            converted[name] = [inner] if isinstance(inner, dict) and key not in _KEEP_KEYS else inner
        return converted
    if isinstance(value, list):
        return [terraform_values(v) for v in value]
    return value


def write_peer_inputs(plan: Mapping[str, Any], directory: Path) -> tuple[int, int]:
    """Write ``tfplan.json`` and ``manifests/*.yaml`` for a plan; return (AWS, Kubernetes) counts."""
    directory.mkdir(parents=True, exist_ok=True)
    manifests = directory / "manifests"
    manifests.mkdir(exist_ok=True)
    planned: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    documents: list[Any] = []
    seen: set[str] = set()
    for resource in plan["resources"]:
        if not resource.get("custom"):
            continue
        token = resource["type"]
        kind = terraform_type(token)
        if kind is not None:
            name = re.sub(r"[^A-Za-z0-9_-]", "_", resource["name"])
            while f"{kind}.{name}" in seen:
                name += "_"
            address = f"{kind}.{name}"
            seen.add(address)
            values = terraform_values(resource.get("inputs", {}))
            planned.append(
                {
                    "address": address,
                    "mode": "managed",
                    "type": kind,
                    "name": name,
                    "provider_name": "registry.terraform.io/hashicorp/aws",
                    "schema_version": 0,
                    "values": values,
                }
            )
            changes.append(
                {
                    "address": address,
                    "mode": "managed",
                    "type": kind,
                    "name": name,
                    "provider_name": "registry.terraform.io/hashicorp/aws",
                    "change": {"actions": ["create"], "before": None, "after": values},
                }
            )
        elif token.startswith("kubernetes:") and token not in _SKIPPED_KUBERNETES:
            inputs = resource.get("inputs", {})
            if "apiVersion" in inputs and "kind" in inputs:
                documents.append(inputs)
    document = {
        "format_version": "1.2",
        "terraform_version": "1.9.8",
        "planned_values": {"root_module": {"resources": planned}},
        "resource_changes": changes,
        "configuration": {"root_module": {}},
    }
    (directory / "tfplan.json").write_text(json.dumps(document), encoding="utf-8")
    (manifests / "objects.yaml").write_text(yaml.safe_dump_all(documents, sort_keys=False), encoding="utf-8")
    return len(planned), len(documents)
