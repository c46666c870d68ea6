"""The mlenv Pulumi program: stack config -> EnvironmentSpec (validated once) -> the environment.

`pulumi up -s dev` runs this file; `mlenv plan dev` runs this same file under the offline
engine. Components never read config: the validated spec is all they see. A platform stack is an
MlEnvironment; an experiment stack is an ExperimentEnvironment on its platform's cluster.
"""

from __future__ import annotations

import pulumi

from components.environment import MlEnvironment
from components.experiment_environment import ExperimentEnvironment
from stacks.spec.fields import CONFIG_KEY, CONFIG_NAMESPACE
from stacks.spec.load import parse_environment

stack = pulumi.get_stack()
raw = pulumi.Config(CONFIG_NAMESPACE).require_object(CONFIG_KEY)
spec = parse_environment(raw, source=f"stacks/Pulumi.{stack}.yaml")
environment: MlEnvironment | ExperimentEnvironment = (
    ExperimentEnvironment(spec, stack=stack)
    if spec.kind == "experiment"
    else MlEnvironment(spec, stack=stack)
)
for key, value in environment.stack_outputs().items():
    pulumi.export(key, value)
