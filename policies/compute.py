"""EKS control plane and nodes: private endpoint, secrets encryption, logs, versions, hardened nodes."""

from __future__ import annotations

import ipaddress

from pulumi_policy import ResourceValidationArgs

from policies import resource_types as T
from policies.config import schema, setting, setting_strings
from policies.policy_types import Report, ResourcePolicy
from policies.properties import get, is_true, mappings, number, strings

WIDEST_IPV4_ADDRESSES = 2**24
"""More IPv4 addresses than a /8 in total is "the whole internet", however it is split."""
WIDEST_IPV6_PREFIX = 32


def admits_the_internet(cidrs: list[str]) -> bool:
    """Whether the CIDRs together open the endpoint to the internet: compared as address sets,
    not strings, so 0.0.0.0/1 + 128.0.0.0/1 or ::/0 count as open; an unparsable CIDR counts too."""
    v4: list[ipaddress.IPv4Network] = []
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            return True
        if isinstance(network, ipaddress.IPv6Network):
            if network.prefixlen < WIDEST_IPV6_PREFIX:
                return True
        else:
            v4.append(network)
    return sum(n.num_addresses for n in ipaddress.collapse_addresses(v4)) > WIDEST_IPV4_ADDRESSES


def check_eks_private_endpoint(args: ResourceValidationArgs, report: Report) -> None:
    """The API endpoint is private, or public only to listed CIDRs."""
    if args.resource_type != T.EKS_CLUSTER:
        return
    vpc = get(args.props, "vpcConfig")
    if get(vpc, "endpointPrivateAccess") is not True:
        report("set vpc_config.endpoint_private_access=True so nodes and operators reach the API privately")
    public = get(vpc, "endpointPublicAccess")
    # EKS turns the public endpoint on when the input is absent.
    if public is None or public is True:
        cidrs = strings(get(vpc, "publicAccessCidrs"))
        if not cidrs or admits_the_internet(cidrs):
            report(
                "the API endpoint is public to the whole internet: set "
                "vpc_config.endpoint_public_access=False, "
                "or list the allowed CIDRs in public_access_cidrs (never 0.0.0.0/0)"
            )


eks_private_endpoint = ResourcePolicy(
    name="eks-private-endpoint",
    description="The Kubernetes API is reachable privately, never from the whole internet.",
    check=check_eks_private_endpoint,
)


def check_eks_secrets_encryption(args: ResourceValidationArgs, report: Report) -> None:
    """Secrets are envelope-encrypted with a KMS key."""
    if args.resource_type != T.EKS_CLUSTER:
        return
    config = get(args.props, "encryptionConfig")
    if "secrets" not in strings(get(config, "resources")) or not get(config, "provider.keyArn"):
        report("set encryption_config={'resources': ['secrets'], 'provider': {'key_arn': <a KMS key ARN>}}")


eks_secrets_encryption = ResourcePolicy(
    name="eks-secrets-encryption",
    description="Kubernetes secrets are envelope-encrypted with a KMS key the environment controls.",
    check=check_eks_secrets_encryption,
)


def check_eks_control_plane_logs(args: ResourceValidationArgs, report: Report) -> None:
    """Every required control-plane log type is enabled."""
    if args.resource_type != T.EKS_CLUSTER:
        return
    enabled = set(strings(get(args.props, "enabledClusterLogTypes")))
    missing = [t for t in setting_strings(args, "required_cluster_log_types") if t not in enabled]
    if missing:
        report(f"add {', '.join(missing)} to enabled_cluster_log_types")


eks_control_plane_logs = ResourcePolicy(
    name="eks-control-plane-logs",
    description=(
        "EKS control-plane logs (API, audit, authenticator ...) are kept, so cluster changes are traceable."
    ),
    check=check_eks_control_plane_logs,
    config_schema=schema("required_cluster_log_types"),
)


def check_eks_supported_version(args: ResourceValidationArgs, report: Report) -> None:
    """The cluster runs a Kubernetes version mlenv has pinned add-ons for."""
    if args.resource_type != T.EKS_CLUSTER:
        return
    version = get(args.props, "version")
    supported = setting_strings(args, "supported_eks_versions")
    if version not in supported:
        shown = "unset (EKS would pick its default)" if version is None else repr(version)
        report(f"Kubernetes version is {shown}; set version to one of {', '.join(supported)}")


eks_supported_version = ResourcePolicy(
    name="eks-supported-version",
    description="Clusters run a Kubernetes version with pinned add-ons, never one EKS picks at create time.",
    check=check_eks_supported_version,
    config_schema=schema("supported_eks_versions"),
)


def check_launch_template_imdsv2(args: ResourceValidationArgs, report: Report) -> None:
    """IMDSv2 only, with a hop limit that keeps pods away from instance credentials."""
    if args.resource_type != T.LAUNCH_TEMPLATE:
        return
    options = get(args.props, "metadataOptions")
    if get(options, "httpEndpoint") == "disabled":
        return
    if get(options, "httpTokens") != "required":
        report("set metadata_options.http_tokens='required' (IMDSv2 only)")
    limit = setting(args, "max_imds_hop_limit")
    hops = number(get(options, "httpPutResponseHopLimit"))
    if hops is None or hops > float(limit):
        shown = "unset" if hops is None else f"{hops:g}"
        report(f"set metadata_options.http_put_response_hop_limit to at most {limit:g} (found {shown})")


launch_template_imdsv2 = ResourcePolicy(
    name="launch-template-imdsv2",
    description=(
        "Nodes serve instance metadata over IMDSv2 with hop limit 1, so pods cannot steal node credentials."
    ),
    check=check_launch_template_imdsv2,
    config_schema=schema("max_imds_hop_limit"),
)


def check_launch_template_encrypted_volumes(args: ResourceValidationArgs, report: Report) -> None:
    """Every EBS volume a launch template declares is encrypted, and it declares the root volume."""
    if args.resource_type != T.LAUNCH_TEMPLATE:
        return
    mappings_ = [m for m in mappings(get(args.props, "blockDeviceMappings")) if get(m, "ebs") is not None]
    if not mappings_:
        report(
            "declare the root volume in block_device_mappings with ebs.encrypted='true' (AMI "
            "defaults may be unencrypted)"
        )
    for mapping in mappings_:
        if not is_true(get(mapping, "ebs.encrypted")):
            report(f"set ebs.encrypted='true' on block device {get(mapping, 'deviceName')}")


launch_template_encrypted_volumes = ResourcePolicy(
    name="launch-template-encrypted-volumes",
    description="Node disks (datasets, checkpoints, image layers) are encrypted at rest.",
    check=check_launch_template_encrypted_volumes,
)


def check_no_remote_access(args: ResourceValidationArgs, report: Report) -> None:
    """No SSH keys, no node-group remote access, no Session Manager policy on nodes."""
    if args.resource_type == T.EKS_NODE_GROUP and get(args.props, "remoteAccess") is not None:
        report("remove remote_access: nodes are replaced, never logged into")
    elif args.resource_type in (T.LAUNCH_TEMPLATE, T.EC2_INSTANCE) and get(args.props, "keyName"):
        report("remove key_name: no SSH keys on nodes")
    elif args.resource_type in T.IAM_ATTACHMENTS:
        arn = get(args.props, "policyArn")
        interactive = setting_strings(args, "remote_access_policies")
        if isinstance(arn, str) and ":iam::aws:policy/" in arn and arn.rsplit("/", 1)[-1] in interactive:
            report(f"do not attach {arn}: it opens Session Manager shells on nodes")


no_remote_access_to_nodes = ResourcePolicy(
    name="no-remote-access-to-nodes",
    description="Nodes have no SSH or Session Manager access, so nothing changes them outside the code.",
    check=check_no_remote_access,
    config_schema=schema("remote_access_policies"),
)


def check_launch_template_version_pinned(args: ResourceValidationArgs, report: Report) -> None:
    """Node groups name an explicit launch-template version."""
    if args.resource_type != T.EKS_NODE_GROUP:
        return
    template = get(args.props, "launchTemplate")
    if template is None:
        args.not_applicable("the node group uses no launch template")
    version = get(template, "version")
    explicit = number(version)
    if explicit is None or not explicit.is_integer():
        report(
            f"launch_template.version is {version!r}: set it to the template's explicit version number "
            "(template.latest_version), never $Latest/$Default"
        )


node_group_launch_template_pinned = ResourcePolicy(
    name="node-group-launch-template-pinned",
    description=(
        "Node groups use an explicit launch-template version, so a template edit rolls out deliberately."
    ),
    check=check_launch_template_version_pinned,
)
