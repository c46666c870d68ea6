"""Karpenter: the controller that gives GPU pools their nodes, owned by the platform stack.

What Karpenter's getting-started CloudFormation (v1.14.1) creates, as visible pulumi_aws resources:
the interruption SQS queue (SSE, 300 s retention, TLS only) and the EventBridge rules that feed it
(Spot interruption, rebalance, instance state change, AWS Health scheduled change, capacity
reservation interruption); the node role, here with an EKS access entry (type EC2_LINUX) because
Karpenter's nodes are not a managed node group; the controller role (IRSA, one service account) with
the policy of components/karpenter_iam.py; and the ``karpenter.sh/discovery`` tag on the cluster
security group (the private subnets carry it from components/network.py). Then the Helm release:
the chart and controller image pinned in images/catalog.yaml (exact version, digest), CRDs from the
chart's crds/ directory, running on the system node group only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.cluster import EksCluster
from components.irsa import ROLE_ARN_ANNOTATION, ServiceAccountRef, irsa_role
from components.karpenter_iam import controller_policy_json
from components.karpenter_names import CHART, NAMESPACE, SERVICE_ACCOUNT
from components.nodes import NodeRole, node_role
from components.pod_security import pod_security_labels
from components.scheduling import LABEL_POOL
from components.tags import Tagging
from images.catalog import Catalog, load_catalog

COMPONENT = "karpenter"
DISCOVERY_TAG: Final = "karpenter.sh/discovery"
"""Tag whose value is the cluster name on the subnets and security group EC2NodeClasses select."""
QUEUE_RETENTION_SECONDS: Final = 300
"""Interruption messages older than 5 minutes are stale (the reference template's value)."""

INTERRUPTION_EVENTS: Final = {
    "scheduled-change": ("aws.health", "AWS Health Event"),
    "spot-interruption": ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
    "rebalance": ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
    "instance-state-change": ("aws.ec2", "EC2 Instance State-change Notification"),
    "capacity-reservation-interruption": (
        "aws.ec2",
        "EC2 Capacity Reservation Instance Interruption Warning",
    ),
}
"""EventBridge rule -> (source, detail-type), the rules of Karpenter's reference CloudFormation."""


def queue_name(cluster_name: str) -> str:
    """The interruption queue is named after the cluster, as Karpenter's settings expect."""
    return f"{cluster_name}-karpenter"


def event_pattern(source: str, detail_type: str) -> str:
    """An EventBridge pattern matching one source and detail-type."""
    return json.dumps({"source": [source], "detail-type": [detail_type]})


def queue_policy(queue_arn: str) -> str:
    """EventBridge (and SQS itself) may send to the queue; nothing may use it without TLS."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Id": "EC2InterruptionPolicy",
            "Statement": [
                {
                    "Sid": "AllowEventBridge",
                    "Effect": "Allow",
                    "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                },
                {
                    "Sid": "DenyHTTP",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sqs:*",
                    "Resource": queue_arn,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        }
    )


def chart_values(
    *,
    cluster_name: str,
    cluster_endpoint: str,
    queue: str,
    role_arn: str,
    image_repository: str,
    image_tag: str,
    image_digest: str,
) -> dict[str, Any]:
    """Chart values (keys from the chart's values.yaml): the cluster, the queue, the IRSA role, the
    catalog's controller image by digest, on the system node group (``mlenv.io/pool: system``)."""
    return {
        "settings": {
            "clusterName": cluster_name,
            "clusterEndpoint": cluster_endpoint,
            "interruptionQueue": queue,
        },
        "serviceAccount": {"name": SERVICE_ACCOUNT, "annotations": {ROLE_ARN_ANNOTATION: role_arn}},
        "controller": {
            "image": {"repository": image_repository, "tag": image_tag, "digest": image_digest},
        },
        # Karpenter must never run on a node it manages: it would disrupt its own node.
        "nodeSelector": {"kubernetes.io/os": "linux", LABEL_POOL: "system"},
        "replicas": 2,
    }


@dataclass(frozen=True)
class KarpenterArgs:
    """Inputs of the Karpenter component."""

    environment: str
    """Environment name; prefixes every resource name."""
    tagging: Tagging
    """The environment's tags; this component adds ``mlenv:component=karpenter``."""
    region: str
    """The stack's region: the controller policy and the AMIs it may launch are this region's."""
    cluster: EksCluster
    """The cluster Karpenter manages nodes for (its k8s provider installs the chart)."""
    ami_ids: Sequence[str]
    """The catalog AMIs the EC2NodeClasses name: the only images the controller may launch."""
    catalog: Catalog | None = None
    """The catalog pinning the chart and controller image. Default: images/catalog.yaml."""


class Karpenter(pulumi.ComponentResource):
    """Karpenter's AWS resources and its Helm release (``release``: NodePools depend on its CRDs)."""

    node_role: NodeRole
    controller_role: aws.iam.Role
    queue: aws.sqs.Queue
    release: k8s.helm.v3.Release
    chart_version: str

    def __init__(self, name: str, args: KarpenterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlenv:compute:Karpenter", name, None, opts)
        tags = args.tagging.tags(COMPONENT)
        prefix = f"{args.environment}-karpenter"
        child = pulumi.ResourceOptions(parent=self)
        cluster = args.cluster
        cluster_name = cluster.cluster.name
        catalog = args.catalog or load_catalog()
        chart = catalog.chart(CHART)
        image = catalog.container(chart.container)
        self.chart_version = chart.version

        self.queue = aws.sqs.Queue(
            prefix,
            name=cluster_name.apply(queue_name),
            message_retention_seconds=QUEUE_RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
            tags=tags,
            opts=child,
        )
        aws.sqs.QueuePolicy(
            prefix, queue_url=self.queue.url, policy=self.queue.arn.apply(queue_policy), opts=child
        )
        for rule_name, (source, detail_type) in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(
                f"{prefix}-{rule_name}",
                description=f"mlenv {args.environment}: {detail_type} -> Karpenter",
                event_pattern=event_pattern(source, detail_type),
                tags=tags,
                opts=child,
            )
            aws.cloudwatch.EventTarget(
                f"{prefix}-{rule_name}",
                rule=rule.name,
                target_id="KarpenterInterruptionQueueTarget",
                arn=self.queue.arn,
                opts=child,
            )

        self.node_role = node_role(
            f"{prefix}-node",
            description=f"mlenv {args.environment}: Karpenter GPU nodes",
            tags=tags,
            parent=self,
        )
        # Nodes Karpenter launches are not a managed node group, so EKS creates no access entry for
        # their role: declare it (type EC2_LINUX puts the nodes in system:nodes).
        access = aws.eks.AccessEntry(
            f"{prefix}-node",
            cluster_name=cluster_name,
            principal_arn=self.node_role.role.arn,
            type="EC2_LINUX",
            tags=tags,
            opts=child,
        )
        aws.ec2.Tag(
            f"{prefix}-discovery-sg",
            resource_id=cluster.security_group_id,
            key=DISCOVERY_TAG,
            value=cluster_name,
            opts=child,
        )

        self.controller_role = irsa_role(
            f"{prefix}-controller",
            oidc_provider=cluster.oidc_provider,
            account=ServiceAccountRef(NAMESPACE, SERVICE_ACCOUNT),
            description=f"mlenv {args.environment}: Karpenter controller ({NAMESPACE}/{SERVICE_ACCOUNT})",
            tags=tags,
            parent=self,
        )
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))
        policy = aws.iam.RolePolicy(
            f"{prefix}-controller",
            role=self.controller_role.id,
            policy=pulumi.Output.all(
                cluster_name,
                identity.account_id,
                partition.partition,
                self.node_role.role.arn,
                self.queue.arn,
            ).apply(
                lambda v: controller_policy_json(
                    cluster_name=v[0],
                    region=args.region,
                    account=v[1],
                    partition=v[2],
                    node_role_arn=v[3],
                    queue_arn=v[4],
                    ami_ids=args.ami_ids,
                )
            ),
            opts=child,
        )

        k8s_opts = pulumi.ResourceOptions(parent=self, provider=cluster.k8s_provider)
        namespace = k8s.core.v1.Namespace(
            f"{prefix}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAMESPACE,
                labels={**args.tagging.labels(COMPONENT), **pod_security_labels("restricted")},
            ),
            opts=k8s_opts,
        )
        self.release = k8s.helm.v3.Release(
            prefix,
            name=CHART,
            chart=chart.reference,
            version=chart.version,
            namespace=namespace.metadata.name,
            values=pulumi.Output.all(
                cluster_name, cluster.cluster.endpoint, self.queue.name, self.controller_role.arn
            ).apply(
                lambda v: chart_values(
                    cluster_name=v[0],
                    cluster_endpoint=v[1],
                    queue=v[2],
                    role_arn=v[3],
                    image_repository=image.repository,
                    image_tag=image.tag,
                    image_digest=image.digest,
                )
            ),
            atomic=True,
            cleanup_on_fail=True,
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=cluster.k8s_provider,
                depends_on=[policy, access, cluster.system_node_group],
            ),
        )
        self.register_outputs({"chart_version": chart.version, "queue": self.queue.name})
