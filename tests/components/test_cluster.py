"""EksCluster, asserted on what the real program registered for the dev and prod stacks."""

from __future__ import annotations

import json

from stacks.offline.plan import Plan
from tests.components.compute_helpers import only, spec_of
from tests.oracles.botocore_models import assert_all_allowed, assert_allowed

CLUSTER = "aws:eks/cluster:Cluster"


def test_cluster_version_logs_and_private_endpoint(plan: Plan) -> None:
    spec = spec_of(plan)
    assert spec.cluster is not None
    cluster = only(plan.of_type(CLUSTER)).plain_inputs()
    assert cluster["version"] == spec.cluster.version
    logs = cluster["enabledClusterLogTypes"]
    assert_all_allowed(logs, "eks", "LogType")
    assert {"api", "audit", "authenticator"} <= set(logs)
    vpc = cluster["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is bool(spec.cluster.public_access_cidrs)
    private = {s.id for s in plan.of_type("aws:ec2/subnet:Subnet") if "private" in s.name}
    assert set(vpc["subnetIds"]) == private


def test_secrets_are_encrypted_with_a_rotating_key(plan: Plan) -> None:
    cluster = only(plan.of_type(CLUSTER)).plain_inputs()
    config = cluster["encryptionConfig"]
    assert config["resources"] == ["secrets"]
    keys = {k.urn: k for k in plan.of_type("aws:kms/key:Key")}
    (key_urn,) = plan.get(only(plan.of_type(CLUSTER)).urn).property_dependencies["encryptionConfig"]
    assert keys[key_urn].inputs["enableKeyRotation"] is True


def test_api_authentication_with_access_entries_from_the_spec(plan: Plan) -> None:
    spec = spec_of(plan)
    assert spec.cluster is not None
    access = only(plan.of_type(CLUSTER)).plain_inputs()["accessConfig"]
    assert_allowed(access["authenticationMode"], "eks", "AuthenticationMode")
    assert access["authenticationMode"] == "API"
    assert access["bootstrapClusterCreatorAdminPermissions"] is (not spec.cluster.admin_role_arns)
    granted = {
        a.inputs["principalArn"]: a.inputs["policyArn"].rsplit("/", 1)[-1]
        for a in plan.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    }
    expected = dict.fromkeys(spec.cluster.admin_role_arns, "AmazonEKSClusterAdminPolicy")
    expected.update(dict.fromkeys(spec.cluster.readonly_role_arns, "AmazonEKSViewPolicy"))
    assert granted == expected
    entries = plan.of_type("aws:eks/accessEntry:AccessEntry")
    # Besides the people: the Karpenter node role's EC2_LINUX entry (its nodes are no node group).
    standard = [e for e in entries if e.inputs["type"] == "STANDARD"]
    assert {e.inputs["principalArn"] for e in standard} == set(expected)
    assert [e.inputs["type"] for e in entries if e not in standard] == ["EC2_LINUX"]


def test_oidc_provider_trusts_the_cluster_issuer_for_sts(plan: Plan) -> None:
    cluster = only(plan.of_type(CLUSTER))
    provider = only(plan.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")).plain_inputs()
    assert provider["url"].startswith("https://oidc.eks.")
    assert (
        cluster.urn
        in plan.get(
            only(plan.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")).urn
        ).property_dependencies["url"]
    )
    assert provider["clientIdLists"] == ["sts.amazonaws.com"]


def test_core_addons_are_pinned_and_coredns_waits_for_nodes(plan: Plan) -> None:
    addons = {a.inputs["addonName"]: a for a in plan.of_type("aws:eks/addon:Addon")}
    assert set(addons) == {"vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent"}
    for addon in addons.values():
        assert addon.inputs["addonVersion"].startswith("v") and "eksbuild" in addon.inputs["addonVersion"]
        assert_allowed(addon.inputs["resolveConflictsOnCreate"], "eks", "ResolveConflicts")
    system = only([n for n in plan.of_type("aws:eks/nodeGroup:NodeGroup") if n.name.endswith("-system")])
    assert system.urn in addons["coredns"].dependencies
    assert addons["vpc-cni"].urn in system.dependencies


def test_system_node_group_from_the_spec(plan: Plan) -> None:
    spec = spec_of(plan)
    assert spec.cluster is not None
    system = only([n for n in plan.of_type("aws:eks/nodeGroup:NodeGroup") if n.name.endswith("-system")])
    inputs = system.plain_inputs()
    assert inputs["instanceTypes"] == spec.cluster.system_pool.instance_types
    assert_all_allowed(inputs["instanceTypes"], "ec2", "InstanceType")
    assert_allowed(inputs["amiType"], "eks", "AMITypes")
    assert_allowed(inputs["capacityType"], "eks", "CapacityTypes")
    scaling = inputs["scalingConfig"]
    assert (scaling["minSize"], scaling["maxSize"]) == (
        spec.cluster.system_pool.min_size,
        spec.cluster.system_pool.max_size,
    )
    # No autoscaler owns the system group: desiredSize is the program's, and the AMI release is pinned.
    assert scaling["desiredSize"] == spec.cluster.system_pool.min_size
    assert not system.ignore_changes
    assert inputs["releaseVersion"].startswith(f"{spec.cluster.version}.")
    assert "remoteAccess" not in inputs


def test_kubernetes_provider_is_bound_to_this_cluster_with_exec_tokens(plan: Plan) -> None:
    cluster = only(plan.of_type(CLUSTER))
    provider = only(plan.of_type("pulumi:providers:kubernetes")).plain_inputs()
    config = json.loads(provider["kubeconfig"])
    (entry,) = config["clusters"]
    assert entry["name"] == cluster.inputs["name"]
    assert entry["cluster"]["server"].startswith("https://")
    (user,) = config["users"]
    assert user["user"]["exec"]["command"] == "aws"
    assert user["user"]["exec"]["args"][:2] == ["eks", "get-token"]
    assert "token" not in user["user"]


def test_standard_support_only_and_nodes_roll_one_at_a_time(plan: Plan) -> None:
    """Extended support is billed per cluster-hour on top of standard support (EKS pricing): a
    cluster past standard support should be upgraded, not silently kept on an old version."""
    cluster = only(plan.of_type(CLUSTER)).plain_inputs()
    assert_allowed(cluster["upgradePolicy"]["supportType"], "eks", "SupportType")
    assert cluster["upgradePolicy"] == {"supportType": "STANDARD"}
    for group in plan.of_type("aws:eks/nodeGroup:NodeGroup"):
        assert group.plain_inputs()["updateConfig"] == {"maxUnavailable": 1}, group.name
