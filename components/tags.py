"""The mlenv tags and labels that let drifted or unmanaged resources be found.

Every taggable AWS resource carries ``mlenv:stack``, ``mlenv:component``, ``mlenv:owner`` and
``mlenv:managed-by``; experiments add ``mlenv:expires-at`` and ``mlenv:experiment``. Kubernetes
objects carry the same facts as labels under the ``mlenv.io/`` prefix (label values cannot hold
the colons of an ISO timestamp, so expiry is an annotation there).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

TAG_STACK = "mlenv:stack"
TAG_COMPONENT = "mlenv:component"
TAG_OWNER = "mlenv:owner"
TAG_MANAGED_BY = "mlenv:managed-by"
TAG_EXPIRES_AT = "mlenv:expires-at"
TAG_EXPERIMENT = "mlenv:experiment"
MANAGED_BY = "pulumi"

REQUIRED_TAGS = (TAG_STACK, TAG_COMPONENT, TAG_OWNER, TAG_MANAGED_BY)

LABEL_PREFIX = "mlenv.io/"


@dataclass(frozen=True)
class Tagging:
    """What every resource of one environment is tagged with; components add their own name."""

    stack: str
    owner: str
    extra: Mapping[str, str] = field(default_factory=dict)
    expires_at: str | None = None
    """ISO-8601 UTC instant; set for experiments only."""
    experiment: str | None = None

    def tags(self, component: str) -> dict[str, str]:
        """AWS tags for a resource of ``component`` (e.g. "artifacts")."""
        tags = dict(self.extra)
        tags.update(
            {
                TAG_STACK: self.stack,
                TAG_COMPONENT: component,
                TAG_OWNER: self.owner,
                TAG_MANAGED_BY: MANAGED_BY,
            }
        )
        if self.expires_at is not None:
            tags[TAG_EXPIRES_AT] = self.expires_at
        if self.experiment is not None:
            tags[TAG_EXPERIMENT] = self.experiment
        return tags

    def labels(self, component: str) -> dict[str, str]:
        """Kubernetes labels for an object of ``component``."""
        labels = {
            f"{LABEL_PREFIX}stack": self.stack,
            f"{LABEL_PREFIX}component": component,
            f"{LABEL_PREFIX}owner": _label_value(self.owner),
            "app.kubernetes.io/managed-by": MANAGED_BY,
        }
        if self.experiment is not None:
            labels[f"{LABEL_PREFIX}experiment"] = self.experiment
        return labels

    def annotations(self) -> dict[str, str]:
        """Kubernetes annotations; carries the expiry of experiments."""
        return {f"{LABEL_PREFIX}expires-at": self.expires_at} if self.expires_at else {}


def _label_value(value: str) -> str:
    """Kubernetes label values allow [A-Za-z0-9._-], at most 63 characters (ASCII only: ``str.isalnum``
    alone would keep the ü of jürgen, which the API server refuses)."""
    cleaned = "".join(c if (c.isascii() and c.isalnum()) or c in "._-" else "_" for c in value)[:63]
    return cleaned.strip("._-") or "unknown"
