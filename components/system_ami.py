"""The system node group's AMI, pinned: an EKS-optimized AL2023 release per Kubernetes version.

A managed node group with an ``ami_type`` and no ``release_version`` takes whatever AMI release EKS
considers latest when the group is created or updated: the system nodes' OS would change without a
commit. Release versions are ``<kubelet version>-<build date>`` as published by awslabs/amazon-eks-ami
(github.com/awslabs/amazon-eks-ami/releases; also `aws ssm get-parameter --name
/aws/service/eks/optimized-ami/<k8s>/amazon-linux-2023/x86_64/standard/recommended/release_version`).
Bump them here, by review, like the add-on pins in components/addons.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

SYSTEM_AMI_RELEASES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "1.32": "1.32.3-20250620",
        "1.33": "1.33.5-20251120",
    }
)
"""Kubernetes minor -> EKS AL2023 AMI release version of the system node group."""


def system_ami_release(kubernetes_version: str) -> str:
    """The pinned release for a cluster version; KeyError naming the pinned versions otherwise."""
    try:
        return SYSTEM_AMI_RELEASES[kubernetes_version]
    except KeyError:
        known = ", ".join(sorted(SYSTEM_AMI_RELEASES))
        raise KeyError(
            f"no pinned system AMI release for Kubernetes {kubernetes_version} (pinned: {known}); "
            "add a row to SYSTEM_AMI_RELEASES in components/system_ami.py"
        ) from None
