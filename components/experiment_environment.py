"""ExperimentEnvironment: what a stack of kind experiment is, composed on its platform stack.

The platform stack named in the spec is read through a ``pulumi.StackReference`` (offline, the
engine answers it with that stack's offline-plan outputs); its cluster gets a Kubernetes provider
of the experiment's own, and the :class:`~components.experiment.Experiment` is built on both.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.cluster import kubeconfig
from components.environment import tagging_for
from components.experiment import Experiment, ExperimentArgs, PlatformOutputs
from stacks.spec.model import EnvironmentSpec


class ExperimentEnvironment(pulumi.ComponentResource):
    """A stack of kind experiment: providers, the platform reference, and the Experiment."""

    platform: pulumi.StackReference
    experiment: Experiment

    def __init__(
        self, spec: EnvironmentSpec, *, stack: str, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlenv:environment:ExperimentEnvironment", spec.name, None, opts)
        assert spec.experiment is not None, "validated: kind experiment has an experiment section"
        self.spec = spec
        section = spec.experiment
        child = pulumi.ResourceOptions(parent=self)
        self.platform = pulumi.StackReference(
            f"{spec.name}-platform", stack_name=section.platform_stack, opts=child
        )
        outputs = PlatformOutputs.from_reference(self.platform)
        self.aws_provider = aws.Provider(f"{spec.name}-aws", region=spec.region, opts=child)
        self.k8s_provider = k8s.Provider(
            f"{spec.name}-k8s",
            kubeconfig=pulumi.Output.all(
                outputs.cluster_name, outputs.cluster_endpoint, outputs.cluster_certificate_authority
            ).apply(lambda v: kubeconfig(v[0], v[1], v[2], spec.region)),
            opts=child,
        )
        self.experiment = Experiment(
            spec.name,
            ExperimentArgs(
                experiment=spec.name,
                tagging=tagging_for(spec, stack),
                region=spec.region,
                gpus=section.gpus,
                instance_type=section.instance_type,
                image=section.image,
                platform=outputs,
            ),
            opts=pulumi.ResourceOptions(
                parent=self, providers={"aws": self.aws_provider, "kubernetes": self.k8s_provider}
            ),
        )
        self.register_outputs({})

    def stack_outputs(self) -> dict[str, Any]:
        """What the experiment stack exports."""
        assert self.spec.experiment is not None
        return {
            "environment": self.spec.name,
            "kind": self.spec.kind,
            "region": self.spec.region,
            "platform_stack": self.spec.experiment.platform_stack,
            **self.experiment.outputs(),
        }
