"""Pod Security admission labels for the namespaces mlenv creates.

https://kubernetes.io/docs/concepts/security/pod-security-admission/ : ``enforce`` rejects pods that
break the level; ``warn`` and ``audit`` only report, so a namespace that must enforce less than
``restricted`` (images the catalog marks as running as root) still reports every deviation from it.
"""

from __future__ import annotations

from typing import Final, Literal

PodSecurityLevel = Literal["privileged", "baseline", "restricted"]

LABEL_PREFIX: Final = "pod-security.kubernetes.io"


def pod_security_labels(enforce: PodSecurityLevel, *, audit: bool = True) -> dict[str, str]:
    """Enforce ``enforce``; warn (and, by default, audit) against ``restricted``."""
    labels: dict[str, str] = {f"{LABEL_PREFIX}/enforce": enforce, f"{LABEL_PREFIX}/warn": "restricted"}
    if audit:
        labels[f"{LABEL_PREFIX}/audit"] = "restricted"
    return labels
