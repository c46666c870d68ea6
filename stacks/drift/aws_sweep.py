"""The AWS sweep: what exists in the account that the stack's state does not explain.

Three questions, answered from the live account (boto3; any endpoint through the standard
``AWS_ENDPOINT_URL``, which botocore >= 1.31 honours for every client):

(a) resources tagged ``mlenv:stack=<stack>`` that the state does not hold (Resource Groups Tagging
    API ``GetResources``, which sees every taggable resource of the region);
(b) resources inside the stack's VPCs with no ``mlenv:`` tag that no controller the platform runs
    made (:mod:`stacks.drift.vpc_inventory`);
(c) owned resources whose tags were removed or changed: the state's ``tagsAll`` against the live tags
    (``GetResources`` with ``ResourceARNList``; it returns "tagged or previously tagged" resources,
    so a resource whose tags were all removed still comes back, with none: AWS GetResources API
    reference). A resource that does not come back at all is gone, which is the state layer's finding.

Pagination through boto3 paginators; throttling through botocore's ``adaptive`` retry mode (retries
throttling errors with back-off and client-side rate limiting: botocore "Retries" guide). A missing
permission (``AccessDenied*``, ``UnauthorizedOperation``) is a ``not-checked`` finding naming the
action to grant, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from components.tags import TAG_STACK
from stacks.drift.errors import DriftError
from stacks.drift.findings import DriftFinding, Fix, Kind, Layer, LayerResult
from stacks.drift.state import StackState, StateResource
from stacks.drift.vpc_inventory import LiveResource, made_by_controller, vpc_resources

MLENV_TAG_PREFIX = "mlenv:"
AWS_RESERVED_PREFIX = "aws:"
PAGE_SIZE = 100
ARN_BATCH = 100
"""GetResources accepts at most 100 ARNs in ResourceARNList (API reference)."""
RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 10})
DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthorizationError",
}
VPC_TYPE = "aws:ec2/vpc:Vpc"
CLUSTER_TYPE = "aws:eks/cluster:Cluster"


class AwsSweep:
    """One sweep of one stack; ``run()`` returns its findings and what it looked at."""

    def __init__(self, session: Any, state: StackState, stack: str, *, page_size: int = PAGE_SIZE) -> None:
        self.session = session
        self.state = state
        self.stack = stack
        self.page_size = page_size
        self.findings: list[DriftFinding] = []
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, config=RETRIES)
        return self._clients[service]

    def run(self) -> tuple[list[DriftFinding], LayerResult]:
        known = self.state.ids()
        tagged = self._stack_tagged()
        for arn in sorted(tagged):
            if not _held(arn, known):
                self._add(
                    Kind.NOT_IN_STATE,
                    arn,
                    _arn_type(arn),
                    [f"tagged {TAG_STACK}={self.stack} but not in the state of stack {self.stack}"],
                    Fix.IMPORT,
                    "import it (`pulumi import ...` into the code), or delete it if nobody needs it; "
                    "a leftover of a failed update shows in `pulumi stack export`'s pending_operations",
                )
        owned_checked = self._owned_tags(tagged)
        clusters = {str(r.output("name") or r.id) for r in self.state.of_type(CLUSTER_TYPE)}
        vpcs = [r.id for r in self.state.of_type(VPC_TYPE) if r.id]
        swept = 0
        for vpc_id in vpcs:
            for live in vpc_resources(self.client("ec2"), self.client("elbv2"), vpc_id, self._guard):
                swept += 1
                self._judge(live, vpc_id, known, clusters)
        detail = (
            f"{len(tagged)} resources tagged {TAG_STACK}={self.stack}, tags of {owned_checked} owned "
            f"resources compared, {swept} resources in {len(vpcs)} VPC(s) swept"
        )
        return self.findings, LayerResult(Layer.AWS, True, detail)

    # -- (a) and (c) ----------------------------------------------------------------------------

    def _stack_tagged(self) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}

        def call() -> Iterator[None]:
            paginator = self.client("resourcegroupstaggingapi").get_paginator("get_resources")
            pages = paginator.paginate(
                TagFilters=[{"Key": TAG_STACK, "Values": [self.stack]}], ResourcesPerPage=self.page_size
            )
            for page in pages:
                for mapping in page.get("ResourceTagMappingList", []):
                    found[mapping["ResourceARN"]] = _tag_map(mapping.get("Tags"))
            yield from ()

        list(self._guard("tag:GetResources", call))
        return found

    def _owned_tags(self, tagged: Mapping[str, dict[str, str]]) -> int:
        """Compare the tags of every owned, tagged resource with its live tags; how many were compared."""
        expected: dict[str, StateResource] = {}
        for resource in self.state.managed():
            arn = resource.outputs.get("arn")
            if isinstance(arn, str) and arn.startswith("arn:") and resource.tags():
                expected[arn] = resource
        live: dict[str, dict[str, str]] = {a: t for a, t in tagged.items() if a in expected}
        missing = sorted(a for a in expected if a not in live)

        def call() -> Iterator[None]:
            client = self.client("resourcegroupstaggingapi")
            for start in range(0, len(missing), ARN_BATCH):
                batch = missing[start : start + ARN_BATCH]
                for page in client.get_paginator("get_resources").paginate(ResourceARNList=batch):
                    for mapping in page.get("ResourceTagMappingList", []):
                        live[mapping["ResourceARN"]] = _tag_map(mapping.get("Tags"))
            yield from ()

        if missing:
            list(self._guard("tag:GetResources", call))
        for arn, actual in sorted(live.items()):
            resource = expected[arn]
            wanted = resource.tags() or {}
            differs = _tag_diff(wanted, actual)
            if differs:
                self._add(
                    Kind.CHANGED,
                    arn,
                    resource.type,
                    differs,
                    Fix.REAPPLY,
                    f"`pulumi up --stack {self.stack} --policy-pack policies` restores the tags",
                    since=resource.modified,
                    urn=resource.urn,
                )
        return len(live)

    # -- (b) ---------------------------------------------------------------------------------------

    def _judge(self, live: LiveResource, vpc_id: str, known: set[str], clusters: set[str]) -> None:
        if live.id in known or (live.arn and live.arn in known):
            return
        if any(key.startswith(MLENV_TAG_PREFIX) for key in live.tags):
            return  # another mlenv stack's (an experiment's); (a) reports this stack's own
        if made_by_controller(live.tags, clusters) is not None:
            return
        what = f"in VPC {vpc_id} with no mlenv tags and no controller tag"
        if live.description:
            what += f" ({live.description})"
        self._add(
            Kind.UNMANAGED,
            live.arn or live.id,
            live.kind,
            [what],
            Fix.DELETE,
            "delete it, or add it to the code and `pulumi import` it; if a controller made it, "
            "add its tag to CONTROLLER_TAGS (stacks/drift/vpc_inventory.py)",
            since=live.created,
        )

    # -- plumbing ----------------------------------------------------------------------------------

    def _add(
        self,
        kind: Kind,
        resource: str,
        type_: str,
        differs: list[str],
        fix: Fix,
        how: str,
        *,
        since: str | None = None,
        urn: str | None = None,
    ) -> None:
        self.findings.append(
            DriftFinding(Layer.AWS, kind, resource, type_, tuple(differs), fix, how, since, urn)
        )

    def _guard(self, action: str, call: Callable[[], Iterator[Any]]) -> Iterator[Any]:
        """Run one listing; a missing permission becomes a finding, other AWS errors a DriftError."""
        try:
            yield from call()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in DENIED:
                self._add(
                    Kind.NOT_CHECKED,
                    action,
                    "aws:permission",
                    [f"{action} was denied ({code}): drift there is unknown"],
                    Fix.GRANT,
                    f"grant {action} to the role `mlenv drift` runs as (read-only)",
                )
                return
            raise DriftError(f"AWS sweep: {action} failed: {exc}") from None
        except BotoCoreError as exc:
            raise DriftError(
                f"AWS sweep: {action} failed: {exc}; check AWS_ENDPOINT_URL, the region and credentials"
            ) from None


def _tag_map(items: Any) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in items or []}


def _tag_diff(wanted: Mapping[str, str], actual: Mapping[str, str]) -> list[str]:
    lines = []
    for key in sorted(set(wanted) | set(actual)):
        if key.startswith(AWS_RESERVED_PREFIX):
            continue
        if key not in actual:
            lines.append(f"tags.{key}: {wanted[key]!r} -> (removed)")
        elif key not in wanted:
            lines.append(f"tags.{key}: (not in code) -> {actual[key]!r}")
        elif wanted[key] != actual[key]:
            lines.append(f"tags.{key}: {wanted[key]!r} -> {actual[key]!r}")
    return lines


def _arn_type(arn: str) -> str:
    """``arn:aws:ec2:r:a:security-group/sg-1`` -> ``ec2:security-group``; ``arn:aws:s3:::b`` -> ``s3``."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return "aws"
    resource = parts[5]
    kind = resource.split("/", 1)[0] if "/" in resource else resource.split(":", 1)[0]
    return parts[2] if kind == resource else f"{parts[2]}:{kind}"


def _held(arn: str, known: set[str]) -> bool:
    """Whether the state holds the resource an ARN names (by ARN, or by the id the ARN ends with)."""
    if arn in known:
        return True
    resource = arn.split(":", 5)[-1]
    return resource in known or resource.rsplit("/", 1)[-1] in known
