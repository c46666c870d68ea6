"""Which kind of stack a resource is in: experiment or platform.

An experiment stack is one named ``exp-<name>`` (``stacks.experiments.settings.STACK_PREFIX``: how
`mlenv exp up` names them), or whose resources carry the experiment marker that only an
experiment spec produces: the ``mlenv:experiment`` tag (AWS) or ``mlenv.io/experiment`` label
(Kubernetes), set by ``components.tags.Tagging`` from a spec of kind experiment (a stack file cannot
set ``mlenv:`` tags itself). Everything else is a platform stack, the stricter default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyResource

from components.tags import LABEL_PREFIX, TAG_EXPERIMENT
from policies.properties import get, stack_of, tags_of
from stacks.experiments.settings import STACK_PREFIX

EXPERIMENT_LABEL = f"{LABEL_PREFIX}experiment"


def marked_experiment(props: Mapping[str, Any]) -> bool:
    """Whether a resource carries the experiment tag or label."""
    return bool(tags_of(props).get(TAG_EXPERIMENT) or get(props, ("metadata", "labels", EXPERIMENT_LABEL)))


def is_experiment(urn: str, props: Mapping[str, Any] | None = None) -> bool:
    """Whether the resource belongs to an experiment stack."""
    return stack_of(urn).startswith(STACK_PREFIX) or (props is not None and marked_experiment(props))


def stack_is_experiment(resources: Iterable[PolicyResource]) -> bool:
    """Whether the stack of these resources is an experiment stack."""
    return any(is_experiment(r.urn, r.props) for r in resources)
