"""Mutation tests: remove one hardening our components apply from a saved plan; the pack must catch it.

Each entry of HARDENINGS alters a real prod (or dev) plan the way a careless change to a component
would, and names the policy responsible for catching it. All mutations of a stack run through one
pack process (the runner's session API), and a few go through `mlenv check --plan FILE` in-process.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stacks.check.findings import CheckReport, Status
from stacks.check.runner import PackSession, pack_session
from stacks.cli.app import app
from stacks.offline.engine import plan_stack
from stacks.offline.plan import Plan, PlannedResource

BUCKET = "aws:s3/bucket:Bucket"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OBJECT_LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
ECR = "aws:ecr/repository:Repository"
EKS = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
HELM = "kubernetes:helm.sh/v3:Release"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
POD = "spec.template.spec"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
PROD_CLASS = "prod-al2023-nvidia-580-k8s1.33-20251020-ff7d4cc7"

Mutation = Callable[[Plan], Plan]


def _one(plan: Plan, type_: str, name: str) -> PlannedResource:
    found = [r for r in plan.resources if r.type == type_ and r.name == name]
    assert len(found) == 1, f"the plan of {plan.stack} has {len(found)} {type_} named {name}"
    return found[0]


def _replace(plan: Plan, old: PlannedResource, new: PlannedResource | None) -> Plan:
    resources = (
        [r for r in plan.resources if r.urn != old.urn]
        if new is None
        else [new if r.urn == old.urn else r for r in plan.resources]
    )
    return plan.model_copy(update={"resources": resources})


def _walk(data: Any, path: str) -> tuple[Any, str | int]:
    *parents, last = path.split(".")
    for key in parents:
        data = data[int(key)] if isinstance(data, list) else data[key]
    return data, (int(last) if isinstance(data, list) else last)


def set_input(type_: str, name: str, path: str, value: Any) -> Mutation:
    def mutate(plan: Plan) -> Plan:
        resource = _one(plan, type_, name)
        inputs = json.loads(json.dumps(resource.inputs))
        parent, key = _walk(inputs, path)
        parent[key] = value
        return _replace(plan, resource, resource.model_copy(update={"inputs": inputs}))

    return mutate


def drop_input(type_: str, name: str, path: str) -> Mutation:
    def mutate(plan: Plan) -> Plan:
        resource = _one(plan, type_, name)
        inputs = json.loads(json.dumps(resource.inputs))
        parent, key = _walk(inputs, path)
        del parent[key]
        return _replace(plan, resource, resource.model_copy(update={"inputs": inputs}))

    return mutate


def set_option(type_: str, name: str, **options: Any) -> Mutation:
    def mutate(plan: Plan) -> Plan:
        resource = _one(plan, type_, name)
        return _replace(plan, resource, resource.model_copy(update=options))

    return mutate


def remove_resource(type_: str, name: str) -> Mutation:
    def mutate(plan: Plan) -> Plan:
        return _replace(plan, _one(plan, type_, name), None)

    return mutate


def set_label(type_: str, name: str, label: str, value: str) -> Mutation:
    """Set one label (label keys contain dots, so set_input's dotted paths cannot name them)."""

    def mutate(plan: Plan) -> Plan:
        resource = _one(plan, type_, name)
        inputs = json.loads(json.dumps(resource.inputs))
        inputs["metadata"]["labels"][label] = value
        return _replace(plan, resource, resource.model_copy(update={"inputs": inputs}))

    return mutate


def _compose(*mutations: Mutation) -> Mutation:
    def mutate(plan: Plan) -> Plan:
        for mutation in mutations:
            plan = mutation(plan)
        return plan

    return mutate


def edit_document(type_: str, name: str, key: str, edit: Callable[[dict[str, Any]], None]) -> Mutation:
    """Edit a JSON document input (a bucket or IAM policy)."""

    def mutate(plan: Plan) -> Plan:
        resource = _one(plan, type_, name)
        document = json.loads(resource.inputs[key])
        edit(document)
        inputs = {**resource.inputs, key: json.dumps(document)}
        return _replace(plan, resource, resource.model_copy(update={"inputs": inputs}))

    return mutate


def _drop_tls_statement(document: dict[str, Any]) -> None:
    document["Statement"] = [s for s in document["Statement"] if "aws:SecureTransport" not in json.dumps(s)]


def _wildcard_action(document: dict[str, Any]) -> None:
    document["Statement"][0]["Action"] = "*"


@dataclass(frozen=True)
class Hardening:
    """A hardening a component applies, how a careless change would undo it, and who catches it."""

    id: str
    stack: str
    mutate: Mutation
    policy: str


HARDENINGS = [
    Hardening(
        "s3-block-public-acls-off",
        "prod",
        set_input(ACCESS_BLOCK, "prod-models", "blockPublicAcls", False),
        "s3-public-access-blocked",
    ),
    Hardening(
        "s3-restrict-public-buckets-off",
        "prod",
        set_input(ACCESS_BLOCK, "prod-datasets", "restrictPublicBuckets", False),
        "s3-public-access-blocked",
    ),
    Hardening(
        "s3-versioning-resource-removed",
        "prod",
        remove_resource(VERSIONING, "prod-models"),
        "s3-versioning-enabled",
    ),
    Hardening(
        "s3-versioning-suspended",
        "prod",
        set_input(VERSIONING, "prod-datasets", "versioningConfiguration.status", "Suspended"),
        "s3-versioning-enabled",
    ),
    Hardening("s3-sse-kms-removed", "prod", remove_resource(SSE, "prod-models"), "s3-sse-kms"),
    Hardening(
        "s3-sse-kms-to-aes256",
        "prod",
        set_input(
            SSE, "prod-datasets", "rules.0.applyServerSideEncryptionByDefault", {"sseAlgorithm": "AES256"}
        ),
        "s3-sse-kms",
    ),
    Hardening(
        "s3-tls-only-statement-removed",
        "prod",
        edit_document(BUCKET_POLICY, "prod-models", "policy", _drop_tls_statement),
        "s3-tls-only",
    ),
    Hardening(
        "s3-object-lock-removed",
        "prod",
        remove_resource(OBJECT_LOCK, "prod-models"),
        "s3-object-lock-on-model-buckets",
    ),
    Hardening(
        "s3-access-logging-removed", "prod", remove_resource(LOGGING, "prod-datasets"), "s3-access-logging"
    ),
    Hardening(
        "s3-lifecycle-removed",
        "prod",
        remove_resource(LIFECYCLE, "prod-experiments"),
        "s3-lifecycle-configured",
    ),
    Hardening(
        "s3-force-destroy-in-platform",
        "prod",
        set_input(BUCKET, "prod-models", "forceDestroy", True),
        "no-force-destroy-outside-experiments",
    ),
    Hardening(
        "ecr-mutable-tags",
        "prod",
        set_input(ECR, "prod-serving", "imageTagMutability", "MUTABLE"),
        "ecr-immutable-tags",
    ),
    Hardening(
        "ecr-scan-on-push-off",
        "prod",
        set_input(ECR, "prod-training", "imageScanningConfiguration.scanOnPush", False),
        "ecr-scan-on-push",
    ),
    Hardening(
        "eks-public-endpoint-open",
        "prod",
        set_input(
            EKS,
            "prod",
            "vpcConfig",
            {
                "endpointPublicAccess": True,
                "endpointPrivateAccess": True,
                "publicAccessCidrs": ["0.0.0.0/0"],
                "subnetIds": ["subnet-1"],
            },
        ),
        "eks-private-endpoint",
    ),
    Hardening(
        "eks-secrets-encryption-removed",
        "prod",
        drop_input(EKS, "prod", "encryptionConfig"),
        "eks-secrets-encryption",
    ),
    Hardening(
        "eks-control-plane-logs-removed",
        "prod",
        set_input(EKS, "prod", "enabledClusterLogTypes", ["api"]),
        "eks-control-plane-logs",
    ),
    Hardening(
        "eks-deletion-protection-off",
        "prod",
        set_input(EKS, "prod", "deletionProtection", False),
        "platform-deletion-protection",
    ),
    Hardening(
        "imds-hop-limit-2",
        "prod",
        set_input(LAUNCH_TEMPLATE, "prod-training", "metadataOptions.httpPutResponseHopLimit", 2),
        "launch-template-imdsv2",
    ),
    Hardening(
        "imds-tokens-optional",
        "prod",
        set_input(LAUNCH_TEMPLATE, "prod-system", "metadataOptions.httpTokens", "optional"),
        "launch-template-imdsv2",
    ),
    Hardening(
        "launch-template-volume-unencrypted",
        "prod",
        set_input(LAUNCH_TEMPLATE, "prod-system", "blockDeviceMappings.0.ebs.encrypted", "false"),
        "launch-template-encrypted-volumes",
    ),
    Hardening(
        "ami-not-from-catalog",
        "prod",
        set_input(LAUNCH_TEMPLATE, "prod-training", "imageId", "ami-0123456789abcdef0"),
        "ami-from-catalog",
    ),
    Hardening(
        "gpu-taint-removed", "prod", drop_input(NODE_GROUP, "prod-training", "taints"), "gpu-pools-tainted"
    ),
    Hardening(
        "node-ssh-access",
        "prod",
        set_input(NODE_GROUP, "prod-training", "remoteAccess", {"ec2SshKey": "ops"}),
        "no-remote-access-to-nodes",
    ),
    Hardening(
        "ignore-changes-beyond-allow-list",
        "prod",
        set_option(NODE_GROUP, "prod-training", ignore_changes=["scalingConfig.desiredSize"]),
        "ignore-changes-allow-list",
    ),
    Hardening(
        "device-plugin-image-unpinned",
        "prod",
        set_input(HELM, "prod-nvidia-device-plugin", "values.image.tag", "v0.17.4"),
        "images-pinned-by-digest",
    ),
    Hardening(
        "helm-chart-unpinned",
        "prod",
        drop_input(HELM, "prod-nvidia-device-plugin", "version"),
        "helm-charts-pinned",
    ),
    Hardening(
        "mlenv-stack-tag-removed",
        "prod",
        drop_input(BUCKET, "prod-datasets", "tags.mlenv:stack"),
        "mlenv-tags-present",
    ),
    Hardening(
        "bucket-protect-removed",
        "prod",
        set_option(BUCKET, "prod-models", protect=False),
        "stateful-resources-protected",
    ),
    Hardening(
        "wildcard-iam-action",
        "prod",
        edit_document(ROLE_POLICY, "prod-flow-logs", "policy", _wildcard_action),
        "no-wildcard-iam",
    ),
    # Karpenter: the elastic pools' NodePools and EC2NodeClasses
    Hardening(
        "node-class-ami-alias",
        "prod",
        set_input(NODE_CLASS, PROD_CLASS, "spec.amiSelectorTerms", [{"alias": "al2023@latest"}]),
        "node-class-ami-pinned",
    ),
    Hardening(
        "node-class-hop-limit-2",
        "prod",
        set_input(NODE_CLASS, PROD_CLASS, "spec.metadataOptions.httpPutResponseHopLimit", 2),
        "node-class-imdsv2",
    ),
    Hardening(
        "node-class-root-unencrypted",
        "prod",
        set_input(NODE_CLASS, PROD_CLASS, "spec.blockDeviceMappings.0.ebs.encrypted", False),
        "node-class-volumes-encrypted",
    ),
    Hardening(
        "node-pool-gpu-limit-removed",
        "prod",
        drop_input(NODE_POOL, "prod-serving-nodepool", "spec.limits"),
        "node-pool-gpu-limit",
    ),
    Hardening(
        "node-pool-serving-budgets-removed",
        "prod",
        drop_input(NODE_POOL, "prod-serving-nodepool", "spec.disruption.budgets"),
        "serving-pool-budgets",
    ),
    Hardening(
        "karpenter-image-by-tag",
        "prod",
        drop_input(HELM, "prod-karpenter", "values.controller.image.digest"),
        "karpenter-image-pinned",
    ),
    Hardening(
        "dev-gpu-taint-removed",
        "dev",
        set_input(NODE_POOL, "dev-gpu-nodepool", "spec.template.spec.taints", []),
        "node-pool-gpu-taint",
    ),
    Hardening(
        "dev-s3-versioning-removed", "dev", remove_resource(VERSIONING, "dev-models"), "s3-versioning-enabled"
    ),
    # issue 16: key policies, non-root model servers, narrow network paths, encrypted logs
    Hardening(
        "kms-key-policy-removed",
        "prod",
        drop_input("aws:kms/key:Key", "prod-artifacts", "policy"),
        "kms-keys-have-key-policy",
    ),
    Hardening(
        "eks-secrets-key-policy-removed",
        "prod",
        drop_input("aws:kms/key:Key", "prod-eks-secrets", "policy"),
        "kms-keys-have-key-policy",
    ),
    Hardening(
        "model-server-may-run-as-root",
        "prod",
        _compose(
            drop_input(DEPLOYMENT, "prod-support-chat", f"{POD}.securityContext.runAsNonRoot"),
            drop_input(DEPLOYMENT, "prod-support-chat", f"{POD}.containers.0.securityContext.runAsNonRoot"),
        ),
        "pods-run-as-non-root",
    ),
    Hardening(
        "serving-namespace-enforces-baseline",
        "prod",
        set_label(NAMESPACE, "prod-serving", "pod-security.kubernetes.io/enforce", "baseline"),
        "namespace-pod-security",
    ),
    Hardening(
        "model-ingress-from-anywhere",
        "prod",
        drop_input(NETWORK_POLICY, "prod-fraud-ranker-ingress", "spec.ingress.0.from"),
        "network-policies-narrow",
    ),
    Hardening(
        "serving-egress-anywhere",
        "prod",
        set_input(
            NETWORK_POLICY,
            "prod-serving-allow-egress",
            "spec.egress.1.to",
            [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
        ),
        "network-policies-narrow",
    ),
    Hardening(
        "serving-default-deny-removed",
        "prod",
        remove_resource(NETWORK_POLICY, "prod-serving-default-deny"),
        "namespaces-default-deny",
    ),
    Hardening(
        "flow-logs-unencrypted",
        "prod",
        drop_input(LOG_GROUP, "prod-flow-logs", "kmsKeyId"),
        "log-groups-encrypted-and-retained",
    ),
]


def test_hardening_ids_are_unique() -> None:
    assert len({h.id for h in HARDENINGS}) == len(HARDENINGS)


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    return {stack: plan_stack(stack) for stack in sorted({h.stack for h in HARDENINGS})}


@pytest.fixture(scope="module")
def sessions(plans: dict[str, Plan]) -> Iterator[dict[str, PackSession]]:
    """One running, configured pack process per stack, shared by every mutation of that stack."""
    opened: dict[str, PackSession] = {}
    managers = []
    try:
        for stack, plan in plans.items():
            manager = pack_session(project=plan.project, stack=stack, stack_config=plan.config)
            opened[stack] = manager.__enter__()
            managers.append(manager)
        yield opened
    finally:
        for manager in reversed(managers):
            manager.__exit__(None, None, None)


def _violated(report: CheckReport) -> set[str]:
    return {f.policy for f in report.findings if f.status is Status.VIOLATION}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_unmutated_plan_has_no_violation(
    stack: str, plans: dict[str, Plan], sessions: dict[str, PackSession]
) -> None:
    report = sessions[stack].check(plans[stack])
    assert _violated(report) == set(), [f"{f.policy}: {f.message}" for f in report.violations]


@pytest.mark.parametrize("hardening", HARDENINGS, ids=[h.id for h in HARDENINGS])
def test_removing_a_hardening_is_a_mandatory_violation(
    hardening: Hardening, plans: dict[str, Plan], sessions: dict[str, PackSession]
) -> None:
    mutated = hardening.mutate(plans[hardening.stack])
    assert mutated != plans[hardening.stack]
    report = sessions[hardening.stack].check(mutated)
    assert report.exit_code == 1
    assert hardening.policy in _violated(report), [f"{f.policy}: {f.message}" for f in report.reported()]


CLI_CASES = ["s3-versioning-resource-removed", "eks-public-endpoint-open", "gpu-taint-removed"]


@pytest.mark.parametrize("hardening_id", CLI_CASES)
def test_mlenv_check_plan_file_exits_1_naming_the_policy(
    hardening_id: str, plans: dict[str, Plan], tmp_path: Path
) -> None:
    hardening = next(h for h in HARDENINGS if h.id == hardening_id)
    plan_file = tmp_path / f"{hardening.id}.json"
    plan_file.write_text(hardening.mutate(plans[hardening.stack]).to_json(), encoding="utf-8")
    result = CliRunner().invoke(app, ["check", "--plan", str(plan_file), "--format", "json"])
    assert result.exit_code == 1, result.output
    violated = {f["policy"] for f in json.loads(result.stdout)["findings"] if f["status"] == "violation"}
    assert hardening.policy in violated
