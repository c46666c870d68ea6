"""MlEnvironment: one ML environment, composed from the component resources the spec asks for."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from components.artifact_store import ArtifactStore, ArtifactStoreArgs
from components.tags import Tagging
from stacks.spec import EnvironmentSpec


def tagging_for(spec: EnvironmentSpec, stack: str) -> Tagging:
    """The tags every resource of this environment carries."""
    experiment = spec.experiment
    return Tagging(
        stack=stack,
        owner=spec.owner,
        extra=dict(spec.tags),
        expires_at=experiment.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ") if experiment else None,
        experiment=spec.name if experiment else None,
    )


class MlEnvironment(pulumi.ComponentResource):
    """The environment a stack file describes: artifact store (and, as they land, compute,
    feature store and serving), all through one explicit AWS provider in the spec's region."""

    artifacts: ArtifactStore

    def __init__(
        self, spec: EnvironmentSpec, *, stack: str, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlenv:environment:MlEnvironment", spec.name, None, opts)
        self.spec = spec
        tagging = tagging_for(spec, stack)
        # An explicit provider: the region comes from the validated spec, not ambient config,
        # and every child inherits it through `providers`.
        self.aws_provider = aws.Provider(
            f"{spec.name}-aws", region=spec.region, opts=pulumi.ResourceOptions(parent=self)
        )
        children = pulumi.ResourceOptions(parent=self, providers={"aws": self.aws_provider})

        self.artifacts = ArtifactStore(
            f"{spec.name}-artifacts",
            ArtifactStoreArgs(
                environment=spec.name,
                tagging=tagging,
                buckets=tuple(spec.artifacts.buckets),
                ecr_repositories=tuple(spec.artifacts.ecr_repositories),
                long_lived=spec.long_lived,
                access_log_retention_days=spec.artifacts.access_log_retention_days,
                kms_deletion_window_days=spec.artifacts.kms_deletion_window_days,
            ),
            opts=children,
        )
        self.register_outputs({})

    def stack_outputs(self) -> dict[str, Any]:
        """What the stack exports: names other stacks and tools need (buckets, repositories ...)."""
        return {
            "environment": self.spec.name,
            "kind": self.spec.kind,
            "region": self.spec.region,
            "buckets": {name: b.bucket for name, b in self.artifacts.buckets.items()},
            "bucket_arns": {name: b.arn for name, b in self.artifacts.buckets.items()},
            "artifacts_kms_key_arn": self.artifacts.kms_key.arn,
            "ecr_repositories": {name: r.repository_url for name, r in self.artifacts.repositories.items()},
        }
