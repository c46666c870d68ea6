"""Karpenter: NodePools and EC2NodeClasses stay pinned, capped, tainted and hardened, and the
controller is the catalog's chart and image.

A NodePool's GPUs come from its instance-type requirement, its pool from the ``mlenv.io/pool``
label of its node template, its image from the EC2NodeClass it references (by name) and that
class's ``amiSelectorTerms`` id, so the GPU-pool and GPU-workload policies see elastic pools like
node groups (``elastic_pools``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from components.karpenter_names import CHART
from components.scheduling import (
    GPU_RESOURCE,
    GPU_TAINT_EFFECT,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    LABEL_EXPERIMENT,
    LABEL_PURPOSE,
)
from images.catalog import load_catalog
from images.instance_types import load_instance_types
from policies import resource_types as T
from policies.config import schema, setting
from policies.gpu_pools import GpuPool, image_for_ami
from policies.joins import of_type
from policies.policy_types import Report, ResourcePolicy, StackPolicy
from policies.properties import get, mappings, number, strings

INSTANCE_TYPE_KEYS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")


def node_pool_instance_types(props: Any) -> list[str]:
    """The instance types a NodePool's ``In`` requirement allows."""
    return [
        value
        for requirement in mappings(get(props, ("spec", "template", "spec", "requirements")))
        if get(requirement, "key") in INSTANCE_TYPE_KEYS and get(requirement, "operator") == "In"
        for value in strings(get(requirement, "values"))
    ]


def node_pool_labels(props: Any) -> dict[str, Any]:
    """The labels a NodePool's nodes get."""
    labels = get(props, ("spec", "template", "metadata", "labels"))
    return dict(labels) if isinstance(labels, Mapping) else {}


def class_ami_ids(node_class: PolicyResource) -> list[str]:
    """The AMI ids an EC2NodeClass selects by id."""
    return [
        str(get(t, "id"))
        for t in mappings(get(node_class.props, ("spec", "amiSelectorTerms")))
        if get(t, "id")
    ]


def elastic_pools(resources: Iterable[PolicyResource]) -> list[GpuPool]:
    """Every GPU NodePool as a GpuPool: GPUs from its instance types, image from its class's AMI."""
    resources = list(resources)
    data = load_instance_types().instance_types
    classes = {
        str(get(c.props, ("metadata", "name"))): c for c in of_type(resources, T.KARPENTER_EC2_NODE_CLASS)
    }
    pools = []
    for pool in of_type(resources, T.KARPENTER_NODE_POOL):
        gpus = [data[t] for t in node_pool_instance_types(pool.props) if t in data]
        if not gpus:
            continue
        node_class = classes.get(str(get(pool.props, ("spec", "template", "spec", "nodeClassRef", "name"))))
        amis = class_ami_ids(node_class) if node_class is not None else []
        owner = image_for_ami(amis[0]) if len(amis) == 1 else None
        pools.append(GpuPool(pool, gpus, None, owner[0] if owner else None))
    return pools


def stack_regions(resources: Iterable[PolicyResource]) -> set[str]:
    """The regions of the stack's AWS providers (where its AMIs must be)."""
    return {
        str(get(r.props, "region"))
        for r in resources
        if r.resource_type == T.AWS_PROVIDER and isinstance(get(r.props, "region"), str)
    }


def check_node_class_ami_pinned(args: StackValidationArgs, report: Report) -> None:
    """EC2NodeClasses select exactly one catalog AMI by id, of the stack's region."""
    classes = of_type(args.resources, T.KARPENTER_EC2_NODE_CLASS)
    if not classes:
        args.not_applicable("the stack has no EC2NodeClass")
    regions = stack_regions(args.resources)
    for node_class in classes:
        name = node_class.name
        terms = list(mappings(get(node_class.props, ("spec", "amiSelectorTerms"))))
        loose = [t for t in terms if set(t) != {"id"}]
        if loose or len(terms) != 1:
            report(
                f"EC2NodeClass {name}: amiSelectorTerms must be exactly [{{id: <catalog AMI>}}] (no alias, "
                "tags, name or ssmParameter: those follow whatever AMI is newest); use catalog.ami(<image>, "
                "<region>)",
                node_class.urn,
            )
            continue
        ami = str(get(terms[0], "id"))
        owner = image_for_ami(ami)
        if owner is None:
            report(f"EC2NodeClass {name}: AMI {ami} is not in images/catalog.yaml", node_class.urn)
        elif regions and owner[1] not in regions:
            report(
                f"EC2NodeClass {name}: AMI {ami} is {owner[0].id}'s AMI in {owner[1]}, not in the stack's "
                f"region ({', '.join(sorted(regions))}): use that region's AMI from the catalog",
                node_class.urn,
            )


node_class_ami_pinned = StackPolicy(
    name="node-class-ami-pinned",
    description="EC2NodeClasses boot one catalog AMI by id for the stack's region, never an alias.",
    check=check_node_class_ami_pinned,
)


def _gpu_node_pool(args: ResourceValidationArgs) -> bool:
    if args.resource_type != T.KARPENTER_NODE_POOL:
        return False
    data = load_instance_types().instance_types
    if not any(t in data for t in node_pool_instance_types(args.props)):
        args.not_applicable("not a GPU NodePool (no NVIDIA GPU instance type)")
    return True


def check_node_pool_gpu_limit(args: ResourceValidationArgs, report: Report) -> None:
    """GPU NodePools cap their GPUs."""
    if not _gpu_node_pool(args):
        return
    limit = number(get(args.props, ("spec", "limits", GPU_RESOURCE)))
    if limit is None or limit <= 0:
        report(
            f"set spec.limits['{GPU_RESOURCE}'] (max_size x GPUs per node): without it Karpenter "
            "launches GPU nodes for as many pods as are Pending"
        )


node_pool_gpu_limit = ResourcePolicy(
    name="node-pool-gpu-limit",
    description="GPU NodePools set a limit on nvidia.com/gpu, so a burst of pods cannot buy unbounded GPUs.",
    check=check_node_pool_gpu_limit,
)


def check_node_pool_gpu_taint(args: ResourceValidationArgs, report: Report) -> None:
    """GPU NodePools taint their nodes: the GPU taint (platform pools), or an experiment's own
    ``mlenv.io/experiment=<name>`` NoSchedule taint (experiment slices keep everyone else off)."""
    if not _gpu_node_pool(args):
        return
    taints = list(mappings(get(args.props, ("spec", "template", "spec", "taints"))))
    gpu = any(
        get(t, "key") == GPU_TAINT_KEY
        and get(t, "value") == GPU_TAINT_VALUE
        and get(t, "effect") == GPU_TAINT_EFFECT
        for t in taints
    )
    experiment = any(
        get(t, "key") == LABEL_EXPERIMENT and get(t, "effect") == GPU_TAINT_EFFECT and get(t, "value")
        for t in taints
    )
    if not (gpu or experiment):
        report(
            f"add the taint {{key: {GPU_TAINT_KEY}, value: {GPU_TAINT_VALUE}, effect: {GPU_TAINT_EFFECT}}} "
            "to spec.template.spec.taints"
        )


node_pool_gpu_taint = ResourcePolicy(
    name="node-pool-gpu-taint",
    description="GPU NodePools taint their nodes, so only pods that asked for GPUs land there.",
    check=check_node_pool_gpu_taint,
)


def check_serving_pool_budgets(args: ResourceValidationArgs, report: Report) -> None:
    """Serving NodePools state disruption budgets that bound how many nodes are replaced at once."""
    if args.resource_type != T.KARPENTER_NODE_POOL:
        return
    if node_pool_labels(args.props).get(LABEL_PURPOSE) != "serving":
        args.not_applicable("not a serving pool")
    budgets = list(mappings(get(args.props, ("spec", "disruption", "budgets"))))
    bounded = [b for b in budgets if "schedule" not in b and "reasons" not in b and get(b, "nodes") != "100%"]
    if not bounded:
        report(
            "set spec.disruption.budgets with an always-active budget such as {nodes: '1'}: without one "
            "Karpenter may replace 10% of the serving nodes at once (its default) or all of them"
        )


serving_pool_budgets = ResourcePolicy(
    name="serving-pool-budgets",
    description="Serving NodePools bound voluntary disruption with budgets, so a rollout never drains them.",
    check=check_serving_pool_budgets,
)


def check_node_class_imdsv2(args: ResourceValidationArgs, report: Report) -> None:
    """EC2NodeClasses require IMDSv2 with a hop limit pods cannot cross."""
    if args.resource_type != T.KARPENTER_EC2_NODE_CLASS:
        return
    options = get(args.props, ("spec", "metadataOptions"))
    limit = setting(args, "max_imds_hop_limit")
    hops = number(get(options, "httpPutResponseHopLimit"))
    if get(options, "httpTokens") != "required":
        report("set spec.metadataOptions.httpTokens: required (IMDSv2 only)")
    if hops is None or hops > limit:
        report(
            f"set spec.metadataOptions.httpPutResponseHopLimit to at most {limit} (found {hops}): pods "
            "must not reach the node role through IMDS"
        )


node_class_imdsv2 = ResourcePolicy(
    name="node-class-imdsv2",
    description="Karpenter nodes require IMDSv2 with hop limit 1, so pods cannot take the node's role.",
    check=check_node_class_imdsv2,
    config_schema=schema("max_imds_hop_limit"),
)


def check_node_class_volumes_encrypted(args: ResourceValidationArgs, report: Report) -> None:
    """EC2NodeClasses declare an encrypted root volume, and every EBS volume they map is encrypted."""
    if args.resource_type != T.KARPENTER_EC2_NODE_CLASS:
        return
    mappings_ = list(mappings(get(args.props, ("spec", "blockDeviceMappings"))))
    if not any(get(m, "rootVolume") is True for m in mappings_):
        report("declare the root volume in spec.blockDeviceMappings (rootVolume: true, ebs.encrypted: true)")
    for mapping in mappings_:
        if get(mapping, ("ebs", "encrypted")) is not True:
            report(f"set ebs.encrypted: true on block device {get(mapping, 'deviceName')}")


node_class_volumes_encrypted = ResourcePolicy(
    name="node-class-volumes-encrypted",
    description="Karpenter nodes' EBS volumes (the root volume included) are encrypted.",
    check=check_node_class_volumes_encrypted,
)


def check_karpenter_image_pinned(args: ResourceValidationArgs, report: Report) -> None:
    """The Karpenter release runs the catalog's controller image, by digest."""
    if args.resource_type != T.HELM_RELEASE:
        return
    entry = load_catalog().helm_charts.get(CHART)
    if entry is None or get(args.props, "chart") not in (entry.chart, entry.reference):
        args.not_applicable("not the Karpenter chart")
    assert entry is not None
    container = load_catalog().container(entry.container)
    image = get(args.props, ("values", "controller", "image"))
    if get(image, "digest") != container.digest or get(image, "repository") != container.repository:
        report(
            f"set values.controller.image to {{repository: {container.repository}, "
            f"digest: {container.digest}}} (images/catalog.yaml {container.id}); "
            f"found {get(image, 'repository')} {get(image, 'digest')}"
        )


karpenter_image_pinned = ResourcePolicy(
    name="karpenter-image-pinned",
    description="The Karpenter controller image is the catalog's, pulled by digest.",
    check=check_karpenter_image_pinned,
)
