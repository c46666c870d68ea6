"""GPU node pools and the device plugin, asserted on what the real program registered."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest

import stacks.offline.engine
from components.scheduling import GPU_TAINT_KEY, LABEL_GPU_PRODUCT, LABEL_IMAGE, LABEL_POOL
from images.catalog import load_catalog
from images.instance_types import load_instance_types
from stacks.offline.engine import plan_stack
from stacks.offline.plan import Plan
from tests.components.compute_helpers import (
    LAUNCH_TEMPLATE,
    NODE_GROUP,
    gpu_pools,
    only,
    pool_resource,
    spec_of,
)
from tests.oracles.botocore_models import assert_all_allowed, assert_allowed
from tests.oracles.kubernetes import validate

NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"


def test_one_node_group_per_static_pool(dev_plan: Plan, prod_plan: Plan) -> None:
    """Only static (EFA) pools are node groups; elastic pools are NodePools (test_karpenter.py)."""
    assert (
        sorted(gpu_pools(dev_plan))
        == [p.name for p in spec_of(dev_plan).gpu_pools if p.capacity == "static"]
        == []
    )
    assert sorted(gpu_pools(prod_plan)) == ["training"]


def test_launch_template_pins_the_catalog_ami_and_hardens_the_node(plan: Plan) -> None:
    spec = spec_of(plan)
    catalog = load_catalog()
    for pool in (p for p in spec.gpu_pools if p.capacity == "static"):
        component = gpu_pools(plan)[pool.name]
        template = pool_resource(plan, component.urn, LAUNCH_TEMPLATE).plain_inputs()
        assert template["imageId"] == catalog.image(pool.image).amis[spec.region]
        meta = template["metadataOptions"]
        assert (meta["httpTokens"], meta["httpPutResponseHopLimit"]) == ("required", 1)
        assert_allowed(meta["httpTokens"], "ec2", "LaunchTemplateHttpTokensState")
        (disk,) = template["blockDeviceMappings"]
        assert disk["ebs"]["volumeSize"] == pool.disk_size_gib
        assert_allowed(disk["ebs"]["volumeType"], "ec2", "VolumeType")
        assert disk["ebs"]["volumeType"] == "gp3" and disk["ebs"]["encrypted"] == "true"
        assert "keyName" not in template
        user_data = base64.b64decode(template["userData"]).decode()
        assert "kind: NodeConfig" in user_data or '"kind": "NodeConfig"' in user_data
        assert f"--register-with-taints={GPU_TAINT_KEY}=true:NoSchedule" in user_data


def test_node_group_uses_the_template_version_taint_labels_and_no_remote_access(plan: Plan) -> None:
    spec = spec_of(plan)
    data = load_instance_types()
    catalog = load_catalog()
    for pool in (p for p in spec.gpu_pools if p.capacity == "static"):
        component = gpu_pools(plan)[pool.name]
        template = pool_resource(plan, component.urn, LAUNCH_TEMPLATE)
        group = pool_resource(plan, component.urn, NODE_GROUP)
        inputs = group.plain_inputs()
        assert inputs["launchTemplate"]["id"] == template.id
        assert inputs["launchTemplate"]["version"] == "1"  # the template's latestVersion, explicit
        assert_allowed(inputs["amiType"], "eks", "AMITypes")
        assert inputs["amiType"] == "CUSTOM"
        assert_allowed(inputs["capacityType"], "eks", "CapacityTypes")
        assert inputs["capacityType"] == pool.capacity_type
        assert_all_allowed(inputs["instanceTypes"], "ec2", "InstanceType")
        assert "remoteAccess" not in inputs
        (taint,) = inputs["taints"]
        assert_allowed(taint["effect"], "eks", "TaintEffect")
        assert (taint["key"], taint["value"], taint["effect"]) == (GPU_TAINT_KEY, "true", "NO_SCHEDULE")
        labels = inputs["labels"]
        assert labels[LABEL_POOL] == pool.name
        assert labels[LABEL_IMAGE] == pool.image
        assert labels[LABEL_GPU_PRODUCT] == data.gpu_info(pool.instance_types[0]).gpu_model
        assert catalog.image(pool.image).driver_version in labels.values()
        scaling = inputs["scalingConfig"]
        assert (scaling["minSize"], scaling["maxSize"]) == (pool.min_size, pool.max_size)
        # Fixed size, no autoscaler: desiredSize is the program's and never ignored.
        assert scaling["desiredSize"] == pool.min_size == pool.max_size
        assert not group.ignore_changes
        assert group.delete_before_replace is False
        assert pool.name in inputs["nodeGroupName"] and len(inputs["nodeGroupName"]) <= 63


def test_node_role_is_minimal(plan: Plan) -> None:
    for component in gpu_pools(plan).values():
        attached = {
            r.inputs["policyArn"].rsplit("/", 1)[-1]
            for r in plan.descendants(component.urn)
            if r.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
        }
        assert attached == {
            "AmazonEKSWorkerNodePolicy",
            "AmazonEC2ContainerRegistryReadOnly",
            "AmazonEKS_CNI_Policy",
        }


def test_efa_pool_gets_every_efa_interface_a_placement_group_and_one_az(prod_plan: Plan) -> None:
    spec = spec_of(prod_plan)
    data = load_instance_types()
    for pool in (p for p in spec.gpu_pools if p.capacity == "static"):
        component = gpu_pools(prod_plan)[pool.name]
        template_resource = pool_resource(prod_plan, component.urn, LAUNCH_TEMPLATE)
        template = template_resource.plain_inputs()
        group = pool_resource(prod_plan, component.urn, NODE_GROUP).plain_inputs()
        groups = [r for r in prod_plan.descendants(component.urn) if r.type.endswith(":PlacementGroup")]
        if not pool.efa:
            assert "networkInterfaces" not in template and not groups
            assert spec.network is not None and len(group["subnetIds"]) == spec.network.az_count
            continue
        (placement,) = groups
        assert_allowed(placement.inputs["strategy"], "ec2", "PlacementStrategy")
        assert placement.inputs["strategy"] == "cluster"
        assert template["placement"]["groupName"]
        assert template_resource.property_dependencies["placement"] == [placement.urn]
        interfaces = template["networkInterfaces"]
        assert len(interfaces) == data.gpu_info(pool.instance_types[0]).max_efa_interfaces
        assert {i["interfaceType"] for i in interfaces} == {"efa"}
        assert sorted(i["networkCardIndex"] for i in interfaces) == list(range(len(interfaces)))
        assert len(group["subnetIds"]) == 1


def test_device_plugin_release_is_pinned_tolerates_the_taint_and_validates(plan: Plan) -> None:
    release = only(
        [r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if r.name.endswith("device-plugin")]
    )
    inputs = release.plain_inputs()
    chart = load_catalog().chart("nvidia-device-plugin")
    assert (inputs["chart"], inputs["version"]) == (chart.chart, chart.version)
    assert inputs["repositoryOpts"]["repo"] == chart.repository
    values = inputs["values"]
    assert {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"} in values["tolerations"]
    container = load_catalog().container(chart.container)
    assert values["image"]["tag"].endswith(f"@{container.digest}")
    cluster_provider = only(plan.of_type("pulumi:providers:kubernetes"))
    assert release.provider is not None and release.provider.startswith(cluster_provider.urn)
    cluster = spec_of(plan).cluster
    assert cluster is not None
    version = cluster.version
    for obj in plan.of_type("kubernetes:core/v1:Namespace"):
        validate(obj.plain_inputs(), version)
    # The chart's pod template fields, validated as a pod spec the API server would accept.
    validate(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "device-plugin-scheduling"},
            "spec": {
                "containers": [{"name": "plugin", "image": "x"}],
                "tolerations": values["tolerations"],
                "affinity": values["affinity"],
                "priorityClassName": values["priorityClassName"],
            },
        },
        version,
    )


@pytest.fixture
def prod_with_new_serving_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Plan:
    """Prod with the serving pool moved to another catalog image (with a us-west-2 AMI)."""
    stacks_dir = tmp_path / "stacks"
    stacks_dir.mkdir()
    source = stacks.offline.engine.STACKS_DIR / "Pulumi.prod.yaml"
    shutil.copy(source, stacks_dir)
    text = source.read_text()
    marker = "      - name: serving\n"
    head, tail = text.split(marker)
    tail = tail.replace(
        "image: al2023-nvidia-580-k8s1.33-20251020", "image: al2023-nvidia-570-k8s1.32-20250501", 1
    )
    # Driver 570 runs CUDA <= 12.8: the served models move to containers it can run.
    tail = tail.replace("container: tritonserver-25.08", "container: tritonserver-25.01")
    (stacks_dir / "Pulumi.prod.yaml").write_text(head + marker + tail)
    return plan_stack("prod", stacks_dir=stacks_dir)


def test_new_image_is_a_new_node_class_and_the_node_pool_switches_to_it(
    prod_plan: Plan, prod_with_new_serving_image: Plan
) -> None:
    """Blue/green: the serving NodePool stays (same URN) and points at a new EC2NodeClass, so
    Karpenter drifts its nodes under the budgets; the training node group is untouched."""

    def pools(plan: Plan) -> dict[str, tuple[str, str]]:
        return {
            r.inputs["metadata"]["name"]: (
                r.urn,
                r.inputs["spec"]["template"]["spec"]["nodeClassRef"]["name"],
            )
            for r in plan.of_type(NODE_POOL)
        }

    def classes(plan: Plan) -> set[str]:
        return {r.inputs["metadata"]["name"] for r in plan.of_type(NODE_CLASS)}

    before, after = pools(prod_plan), pools(prod_with_new_serving_image)
    assert after["serving"][0] == before["serving"][0]
    assert after["serving"][1] != before["serving"][1]
    assert after["serving"][1] in classes(prod_with_new_serving_image) - classes(prod_plan)
    training = {g.urn: g.inputs for g in prod_plan.of_type(NODE_GROUP) if g.name == "prod-training"}
    assert training == {
        g.urn: g.inputs for g in prod_with_new_serving_image.of_type(NODE_GROUP) if g.name == "prod-training"
    }
