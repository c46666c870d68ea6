"""The feature store and serving as the real dev and prod programs wire them, asserted on the plans.

The expectations come from the stack files (the plan's own recorded config), from the resources
the same plan registered (node groups, buckets, tables), from EC2's instance-type data
(images/gpu_instance_types.json), botocore's EKS model and kubernetes-validate; never from the
wiring code's constants.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import stacks.offline.engine
from images.instance_types import gpu_info
from stacks.cli.app import app, write_generated_files
from stacks.offline.engine import plan_stack
from stacks.offline.plan import Plan, PlannedResource, is_secret, unwrap_secrets
from tests.components.compute_helpers import NODE_GROUP, gpu_pools, pool_resource, spec_of
from tests.oracles.botocore_models import assert_allowed
from tests.oracles.kubernetes import validate
from tests.oracles.pulumi_schema import aws_takes_tags

FEATURE_STORE = "mlenv:data:FeatureStore"
SERVING = "mlenv:serving:Serving"
TABLE = "aws:dynamodb/table:Table"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
GPU = "nvidia.com/gpu"
REQUIRED_TAGS = ("mlenv:stack", "mlenv:component", "mlenv:owner", "mlenv:managed-by")
"""ARCHITECTURE.md: every taggable resource carries these."""

STACK_FILE_COUNTS = {"dev": (1, 1), "prod": (2, 2)}
"""(feature views, served models) each stack file declares (issue 4)."""

runner = CliRunner()


def component(plan: Plan, type_: str) -> PlannedResource:
    (found,) = plan.of_type(type_)
    return found


def below(plan: Plan, type_: str, component_type: str) -> list[PlannedResource]:
    """Resources of ``type_`` registered under the one component of ``component_type``."""
    return [r for r in plan.descendants(component(plan, component_type).urn) if r.type == type_]


def by_k8s_name(resources: list[PlannedResource]) -> dict[str, dict[str, Any]]:
    return {r.inputs["metadata"]["name"]: r.plain_inputs() for r in resources}


def test_feature_store_and_serving_have_what_the_stack_file_declares(plan: Plan) -> None:
    spec = spec_of(plan)
    assert spec.feature_store is not None and spec.serving is not None
    views, models = STACK_FILE_COUNTS[plan.stack]
    assert len(spec.feature_store.feature_views) == views and len(spec.serving.models) == models
    tables = below(plan, TABLE, FEATURE_STORE)
    assert len(tables) == views
    expected = sorted(m.name for m in spec.serving.models)
    for kind in (
        DEPLOYMENT,
        "kubernetes:core/v1:Service",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "kubernetes:policy/v1:PodDisruptionBudget",
    ):
        assert sorted(by_k8s_name(below(plan, kind, SERVING))) == expected, kind
    # Serving runs through the cluster's own Kubernetes provider.
    (provider,) = plan.of_type("pulumi:providers:kubernetes")
    for deployment in below(plan, DEPLOYMENT, SERVING):
        assert deployment.provider is not None and deployment.provider.startswith(provider.urn)


def tolerates(toleration: dict[str, Any], taint: dict[str, str]) -> bool:
    """Kubernetes' matching rule (k8s.io/api core/v1 Toleration.ToleratesTaint)."""
    if toleration.get("effect") and toleration["effect"] != taint["effect"]:
        return False
    if toleration.get("operator") == "Exists":
        return not toleration.get("key") or toleration["key"] == taint["key"]
    return toleration.get("key") == taint["key"] and toleration.get("value", "") == taint.get("value", "")


def k8s_taint(eks_taint: dict[str, str]) -> dict[str, str]:
    """An EKS node-group taint as the kubelet registers it: NO_SCHEDULE -> NoSchedule."""
    assert_allowed(eks_taint["effect"], "eks", "TaintEffect")
    effect = "".join(word.capitalize() for word in eks_taint["effect"].split("_"))
    return {"key": eks_taint["key"], "value": eks_taint.get("value", ""), "effect": effect}


EKS_EFFECTS = {
    "NoSchedule": "NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
}


def pool_nodes(plan: Plan) -> dict[str, dict[str, Any]]:
    """Each GPU pool's node facts as a node group states them: labels, EKS taints, instance types
    (static pools from their node group, elastic ones from their NodePool)."""
    nodes = {
        name: pool_resource(plan, c.urn, NODE_GROUP).plain_inputs() for name, c in gpu_pools(plan).items()
    }
    for pool in plan.of_type("kubernetes:karpenter.sh/v1:NodePool"):
        template = pool.plain_inputs()["spec"]["template"]
        types = next(
            r for r in template["spec"]["requirements"] if r["key"] == "node.kubernetes.io/instance-type"
        )
        nodes[pool.inputs["metadata"]["name"]] = {
            "labels": template["metadata"]["labels"],
            "taints": [{**t, "effect": EKS_EFFECTS[t["effect"]]} for t in template["spec"]["taints"]],
            "instanceTypes": types["values"],
        }
    return nodes


def pool_urns(plan: Plan) -> dict[str, str]:
    """Each GPU pool's node group or NodePool URN."""
    urns = {name: pool_resource(plan, c.urn, NODE_GROUP).urn for name, c in gpu_pools(plan).items()}
    urns.update(
        {p.inputs["metadata"]["name"]: p.urn for p in plan.of_type("kubernetes:karpenter.sh/v1:NodePool")}
    )
    return urns


def test_model_servers_land_on_the_pool_the_stack_names_and_fit_its_nodes(plan: Plan) -> None:
    spec = spec_of(plan)
    assert spec.serving is not None
    groups = pool_nodes(plan)
    deployments = by_k8s_name(below(plan, DEPLOYMENT, SERVING))
    for model in spec.serving.models:
        pod = deployments[model.name]["spec"]["template"]["spec"]
        group = groups[model.pool]
        selector = pod["nodeSelector"].items()
        assert selector and selector <= group["labels"].items(), (model.name, group["labels"])
        assert not any(selector <= other["labels"].items() for n, other in groups.items() if n != model.pool)
        for taint in map(k8s_taint, group["taints"]):
            assert any(tolerates(t, taint) for t in pod["tolerations"]), (model.name, taint)
        (container,) = pod["containers"]
        limits, requests = container["resources"]["limits"], container["resources"]["requests"]
        assert limits[GPU] == requests[GPU] == str(model.gpus_per_replica)
        node_gpus = min(gpu_info(t).gpu_count for t in group["instanceTypes"])
        assert int(limits[GPU]) <= node_gpus, (model.name, group["instanceTypes"])


def test_model_servers_wait_for_their_pool_and_the_device_plugin(plan: Plan) -> None:
    spec = spec_of(plan)
    assert spec.serving is not None
    plugin = component(plan, "mlenv:compute:NvidiaDevicePlugin")
    plugin_children = {r.urn for r in plan.descendants(plugin.urn)}
    deployments = {r.inputs["metadata"]["name"]: r for r in below(plan, DEPLOYMENT, SERVING)}
    for model in spec.serving.models:
        depends = set(deployments[model.name].dependencies)
        groups = pool_urns(plan)
        assert groups[model.pool] in depends
        assert not {urn for name, urn in groups.items() if name != model.pool} & depends
        assert depends & (plugin_children | {plugin.urn})


@pytest.fixture(scope="module")
def two_serving_pools(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    """Prod with a second serving pool and the support-chat model moved onto it."""
    source = Path(stacks.offline.engine.STACKS_DIR) / "Pulumi.prod.yaml"
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    environment = document["config"]["mlenv:environment"]
    serving_pool = next(p for p in environment["gpu_pools"] if p["name"] == "serving")
    environment["gpu_pools"].append({**serving_pool, "name": "chat", "min_size": 2})
    for model in environment["serving"]["models"]:
        if model["name"] == "support-chat":
            model["pool"] = "chat"
    directory = tmp_path_factory.mktemp("stacks")
    (directory / "Pulumi.prod.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    return plan_stack("prod", stacks_dir=directory)


def test_a_model_waits_for_its_own_pool_not_the_others(two_serving_pools: Plan) -> None:
    plan = two_serving_pools
    test_model_servers_wait_for_their_pool_and_the_device_plugin(plan)
    spec = spec_of(plan)
    assert spec.serving is not None
    assert len({m.pool for m in spec.serving.models}) == 2
    pools = gpu_pools(plan)
    deployments = {r.inputs["metadata"]["name"]: r for r in below(plan, DEPLOYMENT, SERVING)}
    for model in spec.serving.models:
        others = {r.urn for name, c in pools.items() if name != model.pool for r in plan.descendants(c.urn)}
        assert not others & set(deployments[model.name].dependencies), model.name


def policy_statements(resource: PlannedResource) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = json.loads(resource.plain_inputs()["policy"])["Statement"]
    return statements


def test_iam_policies_name_the_buckets_tables_and_key_of_this_plan(plan: Plan) -> None:
    spec = spec_of(plan)
    assert spec.feature_store is not None and spec.serving is not None
    bucket_arns = plan.outputs["bucket_arns"]
    datasets, models, key = (
        bucket_arns["datasets"],
        bucket_arns["models"],
        plan.outputs["artifacts_kms_key_arn"],
    )
    tables = {t.inputs["name"] for t in below(plan, TABLE, FEATURE_STORE)}
    project = spec.feature_store.project

    policies = {r.name: policy_statements(r) for r in below(plan, "aws:iam/policy:Policy", FEATURE_STORE)}
    reader = {s["Sid"]: s for s in policies[f"{spec.name}-fs-reader"]}
    assert reader["ReadRegistry"]["Resource"] == [f"{datasets}/feature-store/{project}/registry.pb"]
    assert {r.split(":table/")[1] for r in reader["ReadOnlineTables"]["Resource"]} == tables
    for arn in reader["ReadOnlineTables"]["Resource"]:
        assert arn.startswith(f"arn:aws:dynamodb:{spec.region}:")
    writer = policies[f"{spec.name}-fs-writer"]
    s3 = [r for s in writer for r in s["Resource"] if r.startswith("arn:aws:s3:::")]
    assert s3 and all(r == datasets or r.startswith(f"{datasets}/feature-store/{project}") for r in s3)

    serving_policies = below(plan, "aws:iam/rolePolicy:RolePolicy", SERVING)
    assert serving_policies
    paths = {f"{models}/{m.model_path.strip('/')}/*" for m in spec.serving.models}
    for resource in serving_policies:
        by_sid = {s["Sid"]: s for s in policy_statements(resource)}
        assert set(by_sid["ReadModelArtifacts"]["Resource"]) <= paths
        assert by_sid["ListModelPrefixes"]["Resource"] == [models]
        assert by_sid["DecryptThroughS3"]["Resource"] == [key]
    for document in [*policies.values(), *map(policy_statements, serving_policies)]:
        for statement in document:
            assert all("*" not in action for action in statement["Action"]), statement
            assert "*" not in statement["Resource"], statement


def test_models_that_read_features_get_the_feature_store_read_policy(plan: Plan) -> None:
    spec = spec_of(plan)
    assert spec.serving is not None
    reader = next(
        r for r in below(plan, "aws:iam/policy:Policy", FEATURE_STORE) if r.name == f"{spec.name}-fs-reader"
    )
    attachments = below(plan, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", SERVING)
    attached = [a for a in attachments if reader.urn in a.property_dependencies.get("policyArn", [])]
    deployments = by_k8s_name(below(plan, DEPLOYMENT, SERVING))
    readers = {m.name for m in spec.serving.models if m.uses_features}
    assert readers and len(attached) == 1
    accounts = {deployments[m]["spec"]["template"]["spec"]["serviceAccountName"] for m in readers}
    (role_urn,) = attached[0].property_dependencies["role"]
    role_name = plan.get(role_urn).name
    assert all(role_name.endswith(f"-{account}") for account in accounts)
    for name, deployment in deployments.items():
        if name not in readers:
            assert deployment["spec"]["template"]["spec"]["serviceAccountName"] not in accounts


def test_every_kubernetes_object_passes_kubernetes_validate(plan: Plan) -> None:
    cluster = spec_of(plan).cluster
    assert cluster is not None
    # Karpenter's objects have no schema in kubernetes-validate: tests/components/test_karpenter.py
    # validates them against Karpenter's CRDs.
    objects = [
        r
        for r in plan.resources
        if r.type.startswith("kubernetes:") and r.custom and "kind" in r.inputs and "karpenter" not in r.type
    ]
    kinds = {o.inputs["kind"] for o in objects}
    assert {
        "Namespace",
        "ServiceAccount",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
    } <= kinds
    for obj in objects:
        validate(obj.plain_inputs(), cluster.version)


@pytest.mark.parametrize("component_type", [FEATURE_STORE, SERVING])
def test_taggable_resources_carry_the_mlenv_tags(plan: Plan, component_type: str) -> None:
    taggable = [
        r
        for r in plan.descendants(component(plan, component_type).urn)
        if r.custom and r.type.startswith("aws:") and aws_takes_tags(r.type)
    ]
    assert taggable
    for resource in taggable:
        tags = resource.plain_inputs().get("tags", {})
        assert all(tags.get(key) for key in REQUIRED_TAGS), (resource.type, resource.name, tags)
        assert tags["mlenv:stack"] == plan.stack


def test_feature_store_yaml_points_feast_at_the_planned_resources(plan: Plan) -> None:
    spec = spec_of(plan)
    assert spec.feature_store is not None
    document = yaml.safe_load(plan.outputs["feature_store_yaml"])
    # Feast's RepoConfig: project, provider, registry, online_store and offline_store, each with a type.
    assert {"project", "provider", "registry", "online_store", "offline_store"} <= document.keys()
    assert document["project"] == spec.feature_store.project
    assert document["provider"] == "aws"
    datasets_bucket = plan.outputs["buckets"]["datasets"]
    assert document["registry"]["path"] == plan.outputs["feature_store_registry"]
    assert document["registry"]["path"].startswith(f"s3://{datasets_bucket}/")
    online = document["online_store"]
    assert online["type"] == spec.feature_store.online_store == "dynamodb"
    assert online["region"] == spec.region
    tables = {t.inputs["name"] for t in below(plan, TABLE, FEATURE_STORE)}
    named = {
        online["table_name_template"].format(project=document["project"], table_name=view.name)
        for view in spec.feature_store.feature_views
    }
    assert named == tables == set(plan.outputs["feature_store_tables"].values())
    offline = document["offline_store"]
    assert offline["type"] == "athena" and offline["region"] == spec.region
    (database,) = below(plan, "aws:glue/catalogDatabase:CatalogDatabase", FEATURE_STORE)
    (workgroup,) = below(plan, "aws:athena/workgroup:Workgroup", FEATURE_STORE)
    assert offline["database"] == database.inputs["name"] == plan.outputs["feature_store_glue_database"]
    assert offline["workgroup"] == workgroup.inputs["name"] == plan.outputs["feature_store_athena_workgroup"]
    assert offline["s3_staging_location"].startswith(f"s3://{datasets_bucket}/")


def test_stack_outputs_name_the_serving_namespace_and_endpoints(plan: Plan) -> None:
    spec = spec_of(plan)
    assert spec.serving is not None
    (namespace,) = below(plan, "kubernetes:core/v1:Namespace", SERVING)
    assert plan.outputs["serving_namespace"] == namespace.inputs["metadata"]["name"] == spec.serving.namespace
    services = by_k8s_name(below(plan, "kubernetes:core/v1:Service", SERVING))
    endpoints = plan.outputs["serving_endpoints"]
    assert sorted(endpoints) == sorted(services)
    for name, service in services.items():
        (port,) = service["spec"]["ports"]
        assert (
            endpoints[name]
            == f"http://{name}.{namespace.inputs['metadata']['name']}.svc.cluster.local:{port['port']}"
        )


def test_mlenv_plan_prod_out_dir_writes_the_feature_store_yaml(prod_plan: Plan, tmp_path: Path) -> None:
    result = runner.invoke(app, ["plan", "prod", "--out-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = tmp_path / "feature_store.yaml"
    assert f"wrote {written}" in result.output.replace("\n", "")
    assert written.read_text(encoding="utf-8") == prod_plan.outputs["feature_store_yaml"]


def test_a_redis_online_store_lives_in_the_private_subnets_and_keeps_its_yaml_secret(
    tmp_path: Path,
) -> None:
    source = (stacks.offline.engine.STACKS_DIR / "Pulumi.prod.yaml").read_text(encoding="utf-8")
    document = yaml.safe_load(source)
    document["config"]["mlenv:environment"]["feature_store"]["online_store"] = "redis"
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    plan = plan_stack("prod", stacks_dir=tmp_path)
    spec = spec_of(plan)
    assert spec.network is not None
    assert not below(plan, TABLE, FEATURE_STORE)
    (group,) = below(plan, "aws:elasticache/replicationGroup:ReplicationGroup", FEATURE_STORE)
    (subnets,) = below(plan, "aws:elasticache/subnetGroup:SubnetGroup", FEATURE_STORE)
    assert subnets.plain_inputs()["subnetIds"] == plan.outputs["private_subnet_ids"]
    (firewall,) = below(plan, "aws:ec2/securityGroup:SecurityGroup", FEATURE_STORE)
    assert firewall.plain_inputs()["vpcId"] == plan.outputs["vpc_id"]
    assert [rule["cidrBlocks"] for rule in firewall.plain_inputs()["ingress"]] == [[spec.network.cidr]]
    assert group.inputs["transitEncryptionEnabled"] is True and group.protect
    # The connection string carries the auth token: the rendered file is a secret output.
    assert is_secret(plan.outputs["feature_store_yaml"])
    online = yaml.safe_load(unwrap_secrets(plan.outputs["feature_store_yaml"]))["online_store"]
    assert online["type"] == "redis"
    assert online["connection_string"].startswith(
        f"{plan.outputs['feature_store_redis_endpoint']}:6379,ssl=true"
    )
    assert write_generated_files(plan, tmp_path / "out") == []
