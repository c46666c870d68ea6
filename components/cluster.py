"""EksCluster: the EKS control plane, its access model, core add-ons, the CPU system node group,
and a Kubernetes provider bound to it for the other components.

Secrets are envelope-encrypted with a rotating KMS key; the API endpoint is private unless the spec
lists CIDRs; access uses the EKS access-entry API only (no aws-auth ConfigMap): admin roles get
AmazonEKSClusterAdminPolicy, read-only roles AmazonEKSViewPolicy. The cluster is created without
EKS's self-managed default add-ons, so the managed add-ons below, pinned in components/addons.py,
are the only copies and cannot drift.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.addons import CORE_ADDONS, NEEDS_NODES, addon_versions
from components.errors import ComponentError
from components.irsa import service_trust_policy
from components.key_policy import EKS_SECRETS_KEY_SERVICES, key_policy_output
from components.log_encryption import control_plane_log_group_name
from components.network import Network
from components.nodes import instance_tag_specifications, metadata_options, node_role, root_volume
from components.scheduling import LABEL_POOL, LABEL_PURPOSE
from components.stateful import stateful_options
from components.system_ami import system_ami_release
from components.tags import Tagging
from stacks.spec.model import SystemPoolSpec

COMPONENT = "cluster"
LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
SERVICE_CIDR = "172.20.0.0/16"
"""Kubernetes service range, stated rather than left to EKS, so node bootstrap (nodeadm) on custom
AMIs can name it and its DNS address without reading it back from the cluster."""
CLUSTER_DNS = "172.20.0.10"
ACCESS_POLICY_PREFIX = "arn:aws:eks::aws:cluster-access-policy/"
ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"
VIEW_POLICY = "AmazonEKSViewPolicy"
IRSA_CLIENT_ID = "sts.amazonaws.com"
SYSTEM_DISK_GIB = 50


def cluster_name(environment: str) -> str:
    """``mlenv-<environment>``: stated, so the control-plane log group can be created first."""
    return f"mlenv-{environment}"


def access_grants(admin_role_arns: Sequence[str], readonly_role_arns: Sequence[str]) -> dict[str, str]:
    """Principal ARN -> access policy name. A role listed as both is admin (EKS allows one entry
    per principal); order is the spec's."""
    grants = dict.fromkeys(admin_role_arns, ADMIN_POLICY)
    for arn in readonly_role_arns:
        grants.setdefault(arn, VIEW_POLICY)
    return grants


def bootstrap_creator_admin(admin_role_arns: Sequence[str]) -> bool:
    """Give the identity running `pulumi up` implicit admin only when the spec names no admin role;
    otherwise every admin is an explicit, reviewable access entry."""
    return not admin_role_arns


def system_ami_type(instance_types: Sequence[str]) -> str:
    """EKS-optimized AL2023 for the CPU architecture of the system instance types (Graviton: ARM)."""
    arm = [bool(re.match(r"^[a-z]+\d+[a-z]*g[a-z]*\.", t)) for t in instance_types]
    if any(arm) and not all(arm):
        raise ComponentError(f"system pool mixes ARM and x86 instance types: {list(instance_types)}")
    return "AL2023_ARM_64_STANDARD" if all(arm) else "AL2023_x86_64_STANDARD"


def kubeconfig(name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig for this cluster that gets tokens from `aws eks get-token` (no static secret)."""
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", name, "--region", region, "--output", "json"],
            "interactiveMode": "Never",
        }
    }
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}
            ],
            "users": [{"name": name, "user": user}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
        }
    )


@dataclass(frozen=True)
class EksClusterArgs:
    """Inputs of an EksCluster."""

    environment: str
    """Environment name; names the cluster ``mlenv-<environment>``."""
    tagging: Tagging
    """The environment's tags; this component adds ``mlenv:component=cluster``."""
    region: str
    """AWS region, for the kubeconfig's token command."""
    network: Network
    """The VPC: the control plane and the system nodes use its private subnets."""
    version: str = "1.33"
    """Kubernetes minor version. Default 1.33 (must have a row in components/addons.py)."""
    public_access_cidrs: Sequence[str] = ()
    """CIDRs allowed to reach a public endpoint. Default none: the endpoint is private only."""
    admin_role_arns: Sequence[str] = ()
    """Roles granted cluster admin. Default none: the creating identity is admin instead."""
    readonly_role_arns: Sequence[str] = ()
    """Roles granted view access. Default none."""
    system_pool: SystemPoolSpec = field(default_factory=SystemPoolSpec)
    """The CPU node group for add-ons. Default 2-3 x m7i.large."""
    long_lived: bool = True
    """True (default): EKS deletion protection is on."""
    log_retention_days: int = 365
    """Days control-plane logs are kept. Default 365 (audit logs)."""
    kms_deletion_window_days: int = 30
    """Waiting period before a deleted secrets key is gone. Default 30."""
    logs_key: aws.kms.Key | None = None
    """The key that encrypts the control-plane log group (components/log_encryption.py). Default none:
    CloudWatch Logs' own encryption."""


class EksCluster(pulumi.ComponentResource):
    """An EKS cluster with KMS secrets encryption, access entries, IRSA, core add-ons, a system node
    group and a Kubernetes provider (``k8s_provider``) for components that deploy onto it."""

    name: str
    cluster: aws.eks.Cluster
    kms_key: aws.kms.Key
    oidc_provider: aws.iam.OpenIdConnectProvider
    node_role: aws.iam.Role
    system_node_group: aws.eks.NodeGroup
    addons: dict[str, aws.eks.Addon]
    k8s_provider: k8s.Provider
    version: str

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlenv:cluster:EksCluster", name, None, opts)
        tags = args.tagging.tags(COMPONENT)
        prefix = args.environment
        child = pulumi.ResourceOptions(parent=self)
        self.name = cluster_name(prefix)
        self.version = args.version
        versions = addon_versions(args.version)

        self.kms_key = aws.kms.Key(
            f"{prefix}-eks-secrets",
            description=f"mlenv {prefix}: EKS secrets envelope encryption",
            enable_key_rotation=True,
            deletion_window_in_days=args.kms_deletion_window_days,
            policy=key_policy_output(self, services=EKS_SECRETS_KEY_SERVICES),
            tags=tags,
            # Losing this key makes every secret in etcd unreadable: protected like other data.
            opts=stateful_options(args.long_lived, parent=self),
        )
        aws.kms.Alias(
            f"{prefix}-eks-secrets",
            name=f"alias/mlenv-{prefix}-eks-secrets",
            target_key_id=self.kms_key.key_id,
            opts=child,
        )
        role = aws.iam.Role(
            f"{prefix}-eks-cluster",
            # EKS tags its sessions: the role must allow sts:TagSession too.
            assume_role_policy=service_trust_policy(
                "eks.amazonaws.com", ("sts:AssumeRole", "sts:TagSession")
            ),
            description=f"mlenv {prefix}: EKS control plane",
            tags=tags,
            opts=child,
        )
        role_policy = aws.iam.RolePolicyAttachment(
            f"{prefix}-eks-cluster",
            role=role.name,
            policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
            opts=child,
        )
        # Created before the cluster: otherwise EKS creates it with no retention (kept forever).
        log_group = aws.cloudwatch.LogGroup(
            f"{prefix}-eks",
            name=control_plane_log_group_name(self.name),
            retention_in_days=args.log_retention_days,
            kms_key_id=args.logs_key.arn if args.logs_key is not None else None,
            tags=tags,
            opts=child,
        )
        public = list(args.public_access_cidrs)
        self.cluster = aws.eks.Cluster(
            prefix,
            name=self.name,
            version=args.version,
            role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=args.network.private_subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=bool(public),
                public_access_cidrs=public or None,
            ),
            kubernetes_network_config=aws.eks.ClusterKubernetesNetworkConfigArgs(
                service_ipv4_cidr=SERVICE_CIDR, ip_family="ipv4"
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"],
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=self.kms_key.arn),
            ),
            enabled_cluster_log_types=list(LOG_TYPES),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                bootstrap_cluster_creator_admin_permissions=bootstrap_creator_admin(args.admin_role_arns),
            ),
            bootstrap_self_managed_addons=False,
            # Standard support only: extended support costs six times as much and should be a decision.
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            deletion_protection=args.long_lived,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy, log_group]),
        )

        associations = self._access(prefix, args)
        # No thumbprint: IAM trusts EKS's OIDC issuers through its own CA library.
        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            f"{prefix}-eks-oidc",
            url=self.cluster.identities[0].oidcs[0].issuer,
            client_id_lists=[IRSA_CLIENT_ID],
            tags=tags,
            opts=child,
        )

        self.addons = {}
        for addon in CORE_ADDONS:
            if addon not in NEEDS_NODES:
                self.addons[addon] = self._addon(prefix, addon, versions[addon], tags, [])
        system_role = node_role(
            f"{prefix}-system-node", description=f"mlenv {prefix}: system nodes", tags=tags, parent=self
        )
        self.node_role = system_role.role
        self.system_node_group = self._system_nodes(
            prefix, args, tags, after=[*self.addons.values(), *system_role.attachments]
        )
        for addon in CORE_ADDONS:
            if addon in NEEDS_NODES:
                self.addons[addon] = self._addon(
                    prefix, addon, versions[addon], tags, [self.system_node_group]
                )

        self.k8s_provider = k8s.Provider(
            f"{prefix}-eks",
            kubeconfig=pulumi.Output.all(
                self.cluster.name, self.cluster.endpoint, self.cluster.certificate_authority.data
            ).apply(lambda v: kubeconfig(v[0], v[1], v[2], args.region)),
            # Kubernetes calls need the access entries in place, or the first deploy fails with 401.
            opts=pulumi.ResourceOptions(parent=self, depends_on=associations),
        )
        self.register_outputs(
            {
                "name": self.cluster.name,
                "endpoint": self.cluster.endpoint,
                "oidc_provider_arn": self.oidc_provider.arn,
                "node_role_arn": self.node_role.arn,
            }
        )

    @property
    def security_group_id(self) -> pulumi.Output[str]:
        """The cluster security group EKS creates (nodes and control plane talk through it)."""
        return self.cluster.vpc_config.cluster_security_group_id

    def _access(self, prefix: str, args: EksClusterArgs) -> list[pulumi.Resource]:
        associations: list[pulumi.Resource] = []
        for i, (arn, policy) in enumerate(
            access_grants(args.admin_role_arns, args.readonly_role_arns).items()
        ):
            entry = aws.eks.AccessEntry(
                f"{prefix}-access-{i}",
                cluster_name=self.cluster.name,
                principal_arn=arn,
                type="STANDARD",
                tags=args.tagging.tags(COMPONENT),
                opts=pulumi.ResourceOptions(parent=self),
            )
            associations.append(
                aws.eks.AccessPolicyAssociation(
                    f"{prefix}-access-{i}",
                    cluster_name=self.cluster.name,
                    principal_arn=entry.principal_arn,
                    policy_arn=ACCESS_POLICY_PREFIX + policy,
                    access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        return associations

    def _addon(
        self, prefix: str, addon: str, version: str, tags: dict[str, str], after: list[pulumi.Resource]
    ) -> aws.eks.Addon:
        return aws.eks.Addon(
            f"{prefix}-{addon}",
            cluster_name=self.cluster.name,
            addon_name=addon,
            addon_version=version,
            # The add-on's configuration is what this program says: overwrite manual edits.
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=after),
        )

    def _system_nodes(
        self, prefix: str, args: EksClusterArgs, tags: dict[str, str], *, after: list[pulumi.Resource]
    ) -> aws.eks.NodeGroup:
        pool = args.system_pool
        template = aws.ec2.LaunchTemplate(
            f"{prefix}-system",
            description=f"mlenv {prefix}: system nodes (EKS-optimized AL2023, hardened)",
            metadata_options=metadata_options(),
            block_device_mappings=[root_volume(SYSTEM_DISK_GIB)],
            tag_specifications=instance_tag_specifications(tags),
            update_default_version=True,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return aws.eks.NodeGroup(
            f"{prefix}-system",
            cluster_name=self.cluster.name,
            node_group_name=f"{prefix}-system",
            node_role_arn=self.node_role.arn,
            subnet_ids=args.network.private_subnet_ids,
            instance_types=list(pool.instance_types),
            ami_type=system_ami_type(pool.instance_types),
            capacity_type="ON_DEMAND",
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            # Pinned: without a release version EKS picks its latest AMI release (components/system_ami.py).
            release_version=system_ami_release(args.version),
            # No autoscaler owns the system nodes (Karpenter manages GPU pools only): the group runs
            # min_size nodes, and desiredSize is this program's like every other input.
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=pool.min_size, max_size=pool.max_size, desired_size=pool.min_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            labels={LABEL_POOL: "system", LABEL_PURPOSE: "system"},
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=after),
        )
