"""Orphan sweep: AWS resources still carrying an experiment's tags after its stack is gone.

Uses the Resource Groups Tagging API (``get_resources``, paginated), which sees every taggable
resource of the region in one query. The sweep only reports; deleting what Pulumi no longer tracks
is a human decision.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from components.tags import TAG_EXPERIMENT
from stacks.experiments.errors import ExperimentError

PAGE_SIZE = 100


@dataclass(frozen=True)
class TaggedResource:
    """One resource carrying ``mlenv:experiment``: its ARN, which experiment, and all its tags."""

    arn: str
    experiment: str
    tags: dict[str, str]


class OrphanSweepError(ExperimentError):
    """The Tagging API could not be queried."""


class TagSweeper:
    """Finds resources tagged ``mlenv:experiment`` through a boto3 ``resourcegroupstaggingapi`` client."""

    def __init__(self, client: Any, *, page_size: int = PAGE_SIZE) -> None:
        self.client = client
        self.page_size = page_size

    def tagged(self, experiment: str | None = None) -> list[TaggedResource]:
        """Resources tagged for ``experiment``, or for any experiment when it is None; sorted by ARN."""
        tag_filter: dict[str, Any] = {"Key": TAG_EXPERIMENT}
        if experiment is not None:
            tag_filter["Values"] = [experiment]
        found: list[TaggedResource] = []
        try:
            paginator = self.client.get_paginator("get_resources")
            for page in paginator.paginate(TagFilters=[tag_filter], ResourcesPerPage=self.page_size):
                for mapping in page.get("ResourceTagMappingList", []):
                    tags = {t["Key"]: t["Value"] for t in mapping.get("Tags", [])}
                    found.append(TaggedResource(mapping["ResourceARN"], tags.get(TAG_EXPERIMENT, ""), tags))
        except (ClientError, BotoCoreError) as exc:
            raise OrphanSweepError(
                f"could not list tagged resources (Resource Groups Tagging API): {exc}"
            ) from None
        return sorted(found, key=lambda r: r.arn)

    def orphans(self, live_experiments: Collection[str]) -> list[TaggedResource]:
        """Resources tagged for an experiment that the ledger no longer holds."""
        return [r for r in self.tagged() if r.experiment not in live_experiments]
