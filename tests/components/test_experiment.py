"""The experiment program under the offline engine, on the dev platform's offline plan (StackReference).

Oracles: the platform stack's own offline plan (cluster, subnets, bucket and key ARNs), moto's copy of
EC2's instance-type data (GPUs per node), the image catalog (AMI ids), botocore's EKS/DynamoDB models
(enums), kubernetes-validate, the pulumi-aws SDK (which types take tags) and the policy pack itself.
"""

from __future__ import annotations

import json
import math
import runpy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from moto.ec2.models.instance_types import INSTANCE_TYPES

from components.experiment_slice import PODS_PER_NODE, node_class_name
from components.tags import REQUIRED_TAGS, TAG_EXPERIMENT, TAG_EXPIRES_AT
from images.catalog import load_catalog
from stacks.check.runner import check_plan
from stacks.errors import StackFileError
from stacks.experiments.records import LEDGER_KEY
from stacks.experiments.settings import platform_defaults
from stacks.offline.engine import PROGRAM, STACKS_DIR, load_stack_config, plan_stack, run_program
from stacks.offline.plan import Plan, PlannedResource
from tests.components.compute_helpers import only, spec_of
from tests.oracles.botocore_models import assert_allowed
from tests.oracles.karpenter import validate as validate_karpenter
from tests.oracles.kubernetes import validate
from tests.oracles.pulumi_schema import aws_takes_tags

TEMPLATE = yaml.safe_load((STACKS_DIR / "Pulumi.experiment.yaml").read_text())["config"]["mlenv:environment"]
PREFIX = f"experiments/{TEMPLATE['name']}/"


@dataclass(frozen=True)
class PlannedTemplate:
    plan: Plan
    started: datetime
    finished: datetime


@pytest.fixture(scope="module")
def planned() -> PlannedTemplate:
    """`mlenv plan experiment`: the template stack, its StackReference answered by the dev plan."""
    started = datetime.now(UTC).replace(microsecond=0)
    result = plan_stack("experiment")
    return PlannedTemplate(result, started, datetime.now(UTC))


@pytest.fixture(scope="module")
def plan(planned: PlannedTemplate) -> Plan:
    return planned.plan


@pytest.fixture(scope="module")
def expires_at(plan: Plan) -> str:
    """The expiry the template's plan stamped on its namespace (the tags must all say the same)."""
    namespace = only(of_type(plan, "kubernetes:core/v1:Namespace")).plain_inputs()
    value = namespace["metadata"]["annotations"]["mlenv.io/expires-at"]
    assert isinstance(value, str)
    return value


def test_the_template_expires_ttl_hours_after_planning(planned: PlannedTemplate, expires_at: str) -> None:
    ttl = timedelta(hours=TEMPLATE["experiment"]["ttl_hours"])
    assert "expires_at" not in TEMPLATE["experiment"]
    assert planned.started + ttl <= datetime.fromisoformat(expires_at) <= planned.finished + ttl


def of_type(plan: Plan, type_: str) -> list[PlannedResource]:
    return [r for r in plan.resources if r.type == type_ and r.custom]


def run_experiment(platform: Plan, **experiment: Any) -> Plan:
    """The real program over the template with some experiment fields changed."""
    config, secrets = load_stack_config("experiment")
    environment = json.loads(config["mlenv:environment"])
    environment["experiment"] |= experiment
    config["mlenv:environment"] = json.dumps(environment)
    return run_program(
        lambda: runpy.run_path(str(PROGRAM), run_name="__main__"),
        config=config,
        secret_keys=secrets,
        stack="exp-variant",
        region=environment["region"],
        stack_outputs={environment["experiment"]["platform_stack"]: platform.outputs},
    )


def node_pool(plan: Plan) -> dict[str, Any]:
    """The NodePool the program registered, as the object the API server would receive."""
    return only(of_type(plan, "kubernetes:karpenter.sh/v1:NodePool")).plain_inputs()


def test_the_platform_is_read_through_a_stack_reference(plan: Plan, dev_plan: Plan) -> None:
    reference = only([r for r in plan.resources if r.type == "pulumi:pulumi:StackReference"])
    assert reference.inputs["name"] == TEMPLATE["experiment"]["platform_stack"] == "dev"
    # The NodePool uses the class the platform publishes for the image (the interim name otherwise).
    published = dev_plan.outputs.get("gpu_node_classes")
    expected = node_class_name(published, TEMPLATE["experiment"]["image"])
    assert node_pool(plan)["spec"]["template"]["spec"]["nodeClassRef"] == {
        "group": "karpenter.k8s.aws",
        "kind": "EC2NodeClass",
        "name": expected,
    }
    provider = only([r for r in plan.resources if r.type == "pulumi:providers:kubernetes"]).plain_inputs()
    kubeconfig = yaml.safe_load(provider["kubeconfig"])
    (cluster,) = kubeconfig["clusters"]
    assert cluster["cluster"]["server"] == dev_plan.outputs["cluster_endpoint"]


def test_no_node_group_and_no_launch_template_any_more(plan: Plan) -> None:
    types = {r.type for r in plan.resources}
    assert not types & {"aws:eks/nodeGroup:NodeGroup", "aws:ec2/launchTemplate:LaunchTemplate"}


def test_namespace_objects_are_valid_and_guard_the_namespace(
    plan: Plan, dev_plan: Plan, expires_at: str
) -> None:
    ns = f"exp-{TEMPLATE['name']}"
    namespace = only(of_type(plan, "kubernetes:core/v1:Namespace")).plain_inputs()
    assert namespace["metadata"]["name"] == ns
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    objects = [r.plain_inputs() for r in plan.resources if r.type.startswith("kubernetes:") and r.custom]
    assert {o["kind"] for o in objects} == {
        "Namespace",
        "ResourceQuota",
        "LimitRange",
        "NetworkPolicy",
        "ServiceAccount",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "NodePool",
    }
    for obj in objects:
        if obj["kind"] == "NodePool":
            validate_karpenter(obj)
        else:
            validate(obj)
        assert obj["metadata"]["annotations"]["mlenv.io/expires-at"] == expires_at
        assert obj["metadata"]["labels"]["mlenv.io/experiment"] == TEMPLATE["name"]
        if obj["kind"] in ("ResourceQuota", "LimitRange", "NetworkPolicy", "ServiceAccount"):
            assert obj["metadata"]["namespace"] == ns
    policies = {
        p.name.removeprefix(f"{TEMPLATE['name']}-"): p.plain_inputs()["spec"]
        for p in of_type(plan, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
    }
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    allow = policies["allow"]
    https = [rule for rule in allow["egress"] if {"protocol": "TCP", "port": 443} in rule.get("ports", [])]
    assert [rule["to"] for rule in https] == [[{"ipBlock": {"cidr": dev_plan.outputs["vpc_cidr"]}}]]
    assert dev_plan.outputs["vpc_cidr"] == spec_of(dev_plan).network.cidr  # type: ignore[union-attr]
    assert all(rule.get("to") for rule in allow["egress"]) and all(
        rule.get("from") for rule in allow["ingress"]
    )
    binding = only(
        of_type(plan, "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding")
    ).plain_inputs()
    admission = only(
        of_type(plan, "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy")
    ).plain_inputs()
    assert binding["spec"]["policyName"] == admission["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert admission["spec"]["failurePolicy"] == "Fail"


@pytest.mark.parametrize(
    ("gpus", "instance_type"),
    [(4, "g6e.12xlarge"), (6, "g6e.12xlarge"), (3, "g6e.xlarge"), (16, "p5.48xlarge"), (1, "g6.xlarge")],
)
def test_node_pool_is_capped_at_the_gpus_granted_on_the_catalog_image(
    dev_plan: Plan, gpus: int, instance_type: str
) -> None:
    started = datetime.now(UTC).replace(microsecond=0)
    plan = run_experiment(dev_plan, gpus=gpus, instance_type=instance_type)
    ec2 = INSTANCE_TYPES[instance_type]
    per_node = sum(g["Count"] for g in ec2["GpuInfo"]["Gpus"])
    nodes = math.ceil(gpus / per_node)
    pool = node_pool(plan)
    validate_karpenter(pool)
    spec = pool["spec"]
    assert spec["limits"] == {"nvidia.com/gpu": str(gpus)}
    template = spec["template"]["spec"]
    assert {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [instance_type]} in (
        template["requirements"]
    )
    assert template["taints"] == [
        {"key": "mlenv.io/experiment", "value": TEMPLATE["name"], "effect": "NoSchedule"}
    ]
    labels = spec["template"]["metadata"]["labels"]
    assert labels["mlenv.io/experiment"] == TEMPLATE["name"] and "mlenv.io/pool" not in labels
    assert labels["mlenv.io/image"] == TEMPLATE["experiment"]["image"]
    # expireAfter: no later than the experiment's expiry, counted from when the program ran.
    minutes = int(template["expireAfter"].removesuffix("m"))
    expires = datetime.fromisoformat(plan.outputs["expires_at"])
    assert started + timedelta(minutes=minutes) <= expires
    assert expires - (started + timedelta(minutes=minutes)) < timedelta(minutes=5)
    quota = only(of_type(plan, "kubernetes:core/v1:ResourceQuota")).plain_inputs()
    assert quota["spec"]["hard"] == {
        "requests.nvidia.com/gpu": str(gpus),
        "requests.cpu": str(nodes * ec2["VCpuInfo"]["DefaultVCpus"]),
        "requests.memory": f"{nodes * ec2['MemoryInfo']['SizeInMiB']}Mi",
        "pods": str(nodes * PODS_PER_NODE),
    }
    assert plan.outputs["nodes"] == nodes and plan.outputs["gpu_pool"] == pool["metadata"]["name"]
    assert plan.outputs["ami_id"] == load_catalog().ami(TEMPLATE["experiment"]["image"], TEMPLATE["region"])


def test_workload_role_can_touch_only_its_prefix(plan: Plan, dev_plan: Plan) -> None:
    bucket = dev_plan.outputs["bucket_arns"]["experiments"]
    datasets = dev_plan.outputs["bucket_arns"]["datasets"]
    policy = json.loads(only(of_type(plan, "aws:iam/rolePolicy:RolePolicy")).plain_inputs()["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert all(s["Effect"] == "Allow" for s in statements.values())
    assert statements["OwnPrefixObjects"]["Resource"] == f"{bucket}/{PREFIX}*"
    listing = statements["ListOwnPrefix"]
    assert listing["Action"] == "s3:ListBucket" and listing["Resource"] == bucket
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [PREFIX, f"{PREFIX}*"]}}
    reading = statements["ReadSharedDatasets"]
    assert reading["Resource"] == [f"{datasets}/*"]
    assert not any(a.startswith(("s3:Put", "s3:Delete")) for a in reading["Action"])
    assert statements["ListSharedDatasets"]["Resource"] == [datasets]
    # Nothing in the Object-Locked models bucket.
    models = dev_plan.outputs["bucket_arns"]["models"]
    assert models not in json.dumps(policy)
    key = statements["BucketKeyThroughS3"]
    assert key["Resource"] == dev_plan.outputs["artifacts_kms_key_arn"]
    assert key["Condition"]["StringEquals"]["kms:ViaService"] == f"s3.{TEMPLATE['region']}.amazonaws.com"
    resources = [
        r
        for s in statements.values()
        for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
    ]
    assert "*" not in resources and not any(
        a.endswith("*") for s in statements.values() for a in [s["Action"]] if isinstance(a, str)
    )
    assert plan.outputs["artifact_prefix"] == f"s3://{dev_plan.outputs['buckets']['experiments']}/{PREFIX}"

    role = next(r for r in of_type(plan, "aws:iam/role:Role") if r.name.endswith("-workload")).plain_inputs()
    (trust,) = json.loads(role["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Federated": dev_plan.outputs["oidc_provider_arn"]}
    issuer = dev_plan.outputs["oidc_provider_url"].removeprefix("https://")
    assert (
        trust["Condition"]["StringEquals"][f"{issuer}:sub"] == "system:serviceaccount:exp-example:experiment"
    )
    account = only(of_type(plan, "kubernetes:core/v1:ServiceAccount")).plain_inputs()
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == plan.outputs["role_arn"]


def test_every_taggable_resource_carries_the_expiry(plan: Plan, expires_at: str) -> None:
    aws_resources = [r for r in plan.resources if r.custom and r.type.startswith("aws:")]
    taggable = [r for r in aws_resources if aws_takes_tags(r.type)]
    assert {r.type for r in taggable} >= {"aws:iam/role:Role"}
    for resource in taggable:
        tags = resource.plain_inputs()["tags"]
        assert tags[TAG_EXPIRES_AT] == expires_at, resource.name
        assert tags[TAG_EXPERIMENT] == TEMPLATE["name"]
        assert set(REQUIRED_TAGS) <= set(tags)
    assert not any(r.protect or r.retain_on_delete for r in plan.resources)


def test_policy_pack_passes_the_experiment(plan: Plan) -> None:
    report = check_plan(plan, jobs=1)
    assert report.violations == [], [f.message for f in report.violations]
    assert report.exit_code == 0


def _write_experiment(stacks_dir: Path, stack: str, platform: str) -> None:
    environment = dict(TEMPLATE) | {"name": stack}
    environment["experiment"] = TEMPLATE["experiment"] | {"platform_stack": platform}
    document = {"config": {"mlenv:environment": environment}}
    (stacks_dir / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document))


def test_references_outside_the_project_or_in_a_cycle_are_errors(tmp_path: Path) -> None:
    _write_experiment(tmp_path, "alpha", "bravo")
    _write_experiment(tmp_path, "bravo", "alpha")
    with pytest.raises(StackFileError, match="stack references form a cycle: alpha -> bravo -> alpha"):
        plan_stack("alpha", stacks_dir=tmp_path)
    _write_experiment(tmp_path, "charlie", "acme/other-project/prod")
    with pytest.raises(StackFileError, match="only stacks of project 'mlenv'"):
        plan_stack("charlie", stacks_dir=tmp_path)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_platform_creates_the_ledger(stack: str, dev_plan: Plan, prod_plan: Plan) -> None:
    platform = {"dev": dev_plan, "prod": prod_plan}[stack]
    table = only(
        [r for r in of_type(platform, "aws:dynamodb/table:Table") if r.name.endswith("-experiment-ledger")]
    )
    inputs = table.plain_inputs()
    assert inputs["hashKey"] == LEDGER_KEY
    assert inputs["attributes"] == [{"name": LEDGER_KEY, "type": "S"}]
    assert_allowed(inputs["billingMode"], "dynamodb", "BillingMode")
    assert inputs["pointInTimeRecovery"] == {"enabled": True}
    assert inputs["serverSideEncryption"] == {
        "enabled": True,
        "kmsKeyArn": platform.outputs["artifacts_kms_key_arn"],
    }
    assert inputs["deletionProtectionEnabled"] is True
    assert table.protect and table.retain_on_delete
    # `mlenv exp` finds the table the platform stack creates without being told.
    assert platform.outputs["ledger_table"] == inputs["name"] == platform_defaults(stack)[0]
    assert platform_defaults(stack)[1] == platform.outputs["region"]
