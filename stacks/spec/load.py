"""Load a stack file's environment: structure from the model, then every cross-field rule.

The model (``stacks.spec.model``) knows nothing of the rules; the rules import the model; this
module joins the two, so the spec's modules import each other in one direction only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from stacks.errors import SpecError, SpecProblem
from stacks.spec.fields import CONFIG_KEY, CONFIG_NAMESPACE, PATTERN_HINTS
from stacks.spec.model import EnvironmentSpec
from stacks.spec.problems import problems_from_validation_error
from stacks.spec.rules import check_environment


def parse_environment(raw: Any, *, source: str) -> EnvironmentSpec:
    """Validate a stack file's ``mlenv:environment`` value; raise one SpecError listing every problem."""
    if not isinstance(raw, Mapping):
        raise SpecError(
            source,
            [
                SpecProblem(
                    f"{CONFIG_NAMESPACE}:{CONFIG_KEY}", raw, "must be a mapping of environment settings"
                )
            ],
        )
    try:
        spec = EnvironmentSpec.model_validate(dict(raw))
    except ValidationError as exc:
        raise SpecError(source, problems_from_validation_error(exc, EnvironmentSpec, PATTERN_HINTS)) from None
    problems = check_environment(spec)
    if problems:
        raise SpecError(source, problems)
    return spec
