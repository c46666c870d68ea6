"""EKS core add-on versions, pinned per Kubernetes version: a table, read by one lookup.

Kept here rather than in images/catalog.yaml because the catalog's schema is the image owner's:
it pins node images, containers and charts, not EKS-managed add-ons. If the catalog grows an
``eks_addons`` section, this table moves there and ``addon_versions`` reads it instead.
Versions come from ``aws eks describe-addon-versions --kubernetes-version <v>`` (the default
version for each add-on at the time of pinning); bump them here, in one place, by review.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from components.errors import ComponentError

CORE_ADDONS: Final = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns")
"""Installed on every cluster. The cluster is created without EKS's self-managed defaults, so
these managed add-ons are the only copies (and upgrade with the cluster, by version pin)."""

NEEDS_NODES: Final = frozenset({"coredns"})
"""Add-ons whose pods are Deployments: they only become ACTIVE once nodes exist, so they are
created after the system node group. The DaemonSet add-ons (CNI, kube-proxy, pod identity) come
first because nodes need them to become Ready."""

ADDON_VERSIONS: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        "1.32": MappingProxyType(
            {
                "vpc-cni": "v1.19.5-eksbuild.3",
                "kube-proxy": "v1.32.3-eksbuild.7",
                "eks-pod-identity-agent": "v1.3.7-eksbuild.2",
                "coredns": "v1.11.4-eksbuild.14",
            }
        ),
        "1.33": MappingProxyType(
            {
                "vpc-cni": "v1.19.5-eksbuild.3",
                "kube-proxy": "v1.33.0-eksbuild.2",
                "eks-pod-identity-agent": "v1.3.7-eksbuild.2",
                "coredns": "v1.12.1-eksbuild.2",
            }
        ),
    }
)


def addon_versions(kubernetes_version: str) -> Mapping[str, str]:
    """The pinned version of each core add-on for a cluster version; ComponentError names what exists."""
    try:
        return ADDON_VERSIONS[kubernetes_version]
    except KeyError:
        known = ", ".join(sorted(ADDON_VERSIONS))
        raise ComponentError(
            f"no pinned EKS add-on versions for Kubernetes {kubernetes_version} (pinned: {known}); "
            "add a row to ADDON_VERSIONS in components/addons.py"
        ) from None
