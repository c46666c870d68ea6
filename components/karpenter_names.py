"""Names the Karpenter controller (components/karpenter.py) and the policy pack agree on.

A module of constants only, so the pack imports them without the controller's component code
(and pulumi_aws / pulumi_kubernetes behind it).
"""

from __future__ import annotations

from typing import Final

CHART: Final = "karpenter"
"""The catalog's helm_charts key."""
NAMESPACE: Final = "karpenter"
SERVICE_ACCOUNT: Final = "karpenter"
