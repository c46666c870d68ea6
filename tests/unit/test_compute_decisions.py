"""The pure decision functions of the network, cluster and GPU pool components."""

from __future__ import annotations

import ipaddress

import pytest

from components.addons import ADDON_VERSIONS, CORE_ADDONS, addon_versions
from components.cluster import access_grants, bootstrap_creator_admin, system_ami_type
from components.errors import ComponentError
from components.gpu_node_pool import eks_taint_effect, node_group_name
from components.network import availability_zones, nat_gateway_count, subnet_layout
from components.scheduling import GPU_TAINT_EFFECT
from tests.oracles.botocore_models import assert_allowed


@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "10.40.0.0/16", "172.16.0.0/18", "192.168.0.0/20"])
@pytest.mark.parametrize("az_count", [2, 3])
def test_subnet_layout_fits_the_vpc_without_overlap(cidr: str, az_count: int) -> None:
    vpc = ipaddress.IPv4Network(cidr)
    layout = subnet_layout(cidr, az_count)
    nets = [ipaddress.IPv4Network(c) for c in (*layout.private, *layout.public)]
    assert len(layout.private) == len(layout.public) == az_count
    assert all(n.subnet_of(vpc) for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])
    # Nodes (and, with the VPC CNI, pods) live in the private subnets: they get most of the space.
    assert all(n.num_addresses == vpc.num_addresses // 4 for n in nets[:az_count])
    assert subnet_layout(cidr, az_count) == layout


def test_subnet_layout_example_and_bounds() -> None:
    layout = subnet_layout("10.0.0.0/16", 3)
    assert layout.private == ("10.0.0.0/18", "10.0.64.0/18", "10.0.128.0/18")
    assert layout.public == ("10.0.192.0/22", "10.0.196.0/22", "10.0.200.0/22")
    with pytest.raises(ComponentError, match="az_count"):
        subnet_layout("10.0.0.0/16", 4)


def test_azs_and_nat_count() -> None:
    assert availability_zones("us-west-2", 3) == ("us-west-2a", "us-west-2b", "us-west-2c")
    assert nat_gateway_count("single", 3) == 1
    assert nat_gateway_count("per_az", 3) == 3


def test_access_grants_admin_wins_and_creator_admin_only_without_admins() -> None:
    admin, human = "arn:aws:iam::1:role/deploy", "arn:aws:iam::1:role/humans"
    assert access_grants([admin], [human, admin]) == {
        admin: "AmazonEKSClusterAdminPolicy",
        human: "AmazonEKSViewPolicy",
    }
    assert bootstrap_creator_admin([]) is True
    assert bootstrap_creator_admin([admin]) is False


@pytest.mark.parametrize(
    ("types", "expected"),
    [(["m7i.large"], "AL2023_x86_64_STANDARD"), (["m7g.large", "c7gn.xlarge"], "AL2023_ARM_64_STANDARD")],
)
def test_system_ami_type_follows_the_cpu_architecture(types: list[str], expected: str) -> None:
    assert system_ami_type(types) == expected
    assert_allowed(expected, "eks", "AMITypes")


def test_system_ami_type_rejects_mixed_architectures() -> None:
    with pytest.raises(ComponentError, match="mixes ARM and x86"):
        system_ami_type(["m7g.large", "m7i.large"])


def test_every_pinned_kubernetes_version_pins_every_core_addon() -> None:
    for version in ADDON_VERSIONS:
        assert set(addon_versions(version)) == set(CORE_ADDONS)
    with pytest.raises(ComponentError, match=r"no pinned EKS add-on versions for Kubernetes 1\.20"):
        addon_versions("1.20")


def test_node_group_name_is_stable_bounded_and_changes_with_the_image() -> None:
    a = node_group_name("prod", "training", "img-1", "ami-1")
    assert a == node_group_name("prod", "training", "img-1", "ami-1")
    assert a != node_group_name("prod", "training", "img-2", "ami-1")
    assert a != node_group_name("prod", "training", "img-1", "ami-2")
    long = node_group_name("e" * 30, "p" * 30, "img", "ami")
    assert len(long) <= 63 and long.startswith("eeee")


def test_taint_effect_in_eks_terms() -> None:
    assert_allowed(eks_taint_effect(GPU_TAINT_EFFECT), "eks", "TaintEffect")
