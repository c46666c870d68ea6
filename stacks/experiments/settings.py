"""What an experiment is called, how it is configured, and the limits it runs under.

Small pure functions shared by the lifecycle (``experiments.py``) and GC (``experiment_gc.py``):
name validation, the ``exp-<name>`` stack name, the stack's ``mlenv:environment`` config object, the
default instance type, and the check that a stack really is an expired experiment.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from stacks.experiments.durations import from_iso, hours, to_iso
from stacks.experiments.errors import ExperimentInputError, InvalidNameError
from stacks.experiments.ledger import ledger_table_name
from stacks.experiments.pricing import PriceTable
from stacks.experiments.records import ExperimentRecord
from stacks.project import ProjectError, find_project

Clock = Callable[[], datetime]
"""Where "now" comes from; injected so tests control time. Must return an aware UTC datetime."""

# A lowercase DNS label of 3-30 characters. 30, not the 32 a bare label allows, because the name is
# also the environment name in stacks/spec/model.py (DnsLabel, at most 30) and goes into resource names.
NAME_PATTERN = r"^[a-z][a-z0-9-]{1,28}[a-z0-9]$"
OWNER_PATTERN = r"^[\w.+@-]{1,64}$"
STACK_PREFIX = "exp-"
MAX_GPUS_PER_EXPERIMENT = 64
TEMPLATE_STACK = "experiment"
"""The experiment template stack (``Pulumi.experiment.yaml`` in the project's stackConfigDir); every
`mlenv exp up` stack starts from its environment object."""
ABSOLUTE_MAX_TTL = timedelta(days=14)
"""stacks/spec/model.py caps ExperimentSpec.ttl_hours at 14 days; no configuration may go beyond it."""


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class ExperimentSettings:
    """Locations and GC behaviour every `mlenv exp` command runs with (CLI options, env vars, defaults).

    The quotas (GPUs per owner and overall, maximum TTL, allowed types and images) are not here: they
    are the platform stack's, read from its ledger (stacks/experiments/quotas.py), so no option can
    raise them.
    """

    ledger_table: str = "mlenv-experiments"
    """DynamoDB ledger table, created by the platform stack. Default mlenv-experiments."""
    region: str = "us-east-1"
    """AWS region of the ledger and the experiments. Default us-east-1."""
    platform_stack: str = "prod"
    """Platform stack whose cluster experiments share (read through a StackReference). Default prod."""
    failure_cap: int = 3
    """GC stops retrying an experiment after this many failed destroys and reports it. Default 3."""
    lease: timedelta = timedelta(hours=1)
    """A creating/updating/destroying status older than this belongs to a run that died; another run
    may take it over. Default 1h, longer than the adapter's 50-minute timeout."""
    default_instance_family: str = "g6e"
    """Family the instance type is picked from when --instance-type is not given. Default g6e (L40S)."""
    default_image: str | None = None
    """Catalog image id used when --image is not given. Default none: --image is then required."""

    def __post_init__(self) -> None:
        if self.failure_cap < 1:
            raise ExperimentInputError(f"the failure cap must be at least 1, got {self.failure_cap}")


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid experiment name, else raise InvalidNameError."""
    if re.fullmatch(NAME_PATTERN, name) is None:
        raise InvalidNameError(name, NAME_PATTERN)
    return name


def validate_owner(owner: str) -> str:
    """Owners become the ``mlenv:owner`` tag and a quota key: letters, digits and ``_ . + @ -``."""
    if re.fullmatch(OWNER_PATTERN, owner) is None:
        raise ExperimentInputError(
            f"{owner!r} is not a valid owner: use 1-64 letters, digits and _ . + @ - (e.g. a user name)"
        )
    return owner


def validate_gpus(gpus: int) -> int:
    """GPU counts are whole and between 1 and 64 (the spec's limit for one experiment)."""
    if not 1 <= gpus <= MAX_GPUS_PER_EXPERIMENT:
        raise ExperimentInputError(f"--gpus must be between 1 and {MAX_GPUS_PER_EXPERIMENT}, got {gpus}")
    return gpus


def stack_name_for(name: str) -> str:
    """The Pulumi stack of experiment ``name``."""
    return STACK_PREFIX + name


def pool_name_for(name: str) -> str:
    """Default node pool name recorded until the stack reports its own (output ``gpu_pool``)."""
    return f"{STACK_PREFIX}{name}-gpu"


def default_instance_type(gpus: int, prices: PriceTable, family: str) -> str:
    """The cheapest instance type of ``family`` with at least ``gpus`` GPUs; else the one with the most GPUs.

    Requests larger than any single instance span several instances of the biggest type.
    """
    candidates = [p for p in prices.prices.values() if p.instance_type.split(".")[0] == family]
    if not candidates:
        raise ExperimentInputError(
            f"no instance types of family {family!r} in the price table; pass --instance-type"
        )
    fitting = [p for p in candidates if p.gpus >= gpus]
    if fitting:
        return min(fitting, key=lambda p: (p.usd_per_hour, p.instance_type)).instance_type
    return max(candidates, key=lambda p: (p.gpus, -p.usd_per_hour)).instance_type


def _stack_environment(path: Path) -> dict[str, Any]:
    """The ``mlenv:environment`` object of a stack file; empty when the file or the key is missing."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    config = document.get("config") if isinstance(document, dict) else None
    environment = config.get("mlenv:environment") if isinstance(config, dict) else None
    return dict(environment) if isinstance(environment, dict) else {}


def template_environment(path: Path | None = None) -> dict[str, Any]:
    """The experiment template's environment object (default: the current project's template stack)."""
    return _cached_stack_environment(path or find_project().stack_file(TEMPLATE_STACK))


@functools.cache
def _cached_stack_environment(path: Path) -> dict[str, Any]:
    return _stack_environment(path)


def platform_defaults(platform_stack: str, stacks_dir: Path | None = None) -> tuple[str, str | None]:
    """(ledger table, region) of a platform stack whose file is in the current project (or ``stacks_dir``).

    The ledger table is the one the platform creates (``mlenv-<environment>-experiments``); the
    region is the platform's, which is where its experiments run. Without a stack file the
    environment is taken to be named like the stack, and the region is unknown (None).
    """
    stack = platform_stack.rsplit("/", 1)[-1]
    if stacks_dir is None:
        with contextlib.suppress(ProjectError):  # outside any project: no stack file, the defaults below
            stacks_dir = find_project().stack_config_dir
    environment = _stack_environment(stacks_dir / f"Pulumi.{stack}.yaml") if stacks_dir else {}
    name = environment.get("name")
    region = environment.get("region")
    return (
        ledger_table_name(name if isinstance(name, str) else stack),
        region if isinstance(region, str) else None,
    )


def experiment_config(record: ExperimentRecord, settings: ExperimentSettings) -> dict[str, Any]:
    """The ``mlenv:environment`` object of an experiment stack (EnvironmentSpec shape, kind experiment).

    Starts from the template stack (its tags, for instance) and sets everything the request decides.
    """
    lifetime = record.expires_at - record.created_at
    return {
        **{k: v for k, v in template_environment().items() if k != "experiment"},
        "name": record.name,
        "kind": "experiment",
        "owner": record.owner,
        "region": settings.region,
        "experiment": {
            "gpus": record.gpus,
            "instance_type": record.instance_type,
            "image": record.image,
            "ttl_hours": round(hours(lifetime), 4),
            "expires_at": to_iso(record.expires_at),
            "platform_stack": settings.platform_stack,
        },
    }


def identity_problem(environment: Mapping[str, Any] | None, name: str) -> str | None:
    """Why a stack's config does not describe experiment ``name``; None when it does."""
    if environment is None:
        return "the stack has no mlenv:environment config, so it is not an mlenv experiment"
    kind = environment.get("kind")
    if kind != "experiment":
        return f"the stack's config says kind {kind!r}, not 'experiment'"
    if environment.get("name") != name:
        return f"the stack's config names environment {environment.get('name')!r}, not {name!r}"
    return None


def refusal_reason(
    environment: Mapping[str, Any] | None, record: ExperimentRecord, now: datetime
) -> str | None:
    """Why a stack must not be destroyed as the expired experiment ``record``; None when it may be.

    The stack's own config must agree with the ledger: an experiment, of this name, whose expiry
    has passed. Anything else (a platform stack, a stack someone else reused, an expiry the ledger
    does not know) is left alone for a human to look at.
    """
    problem = identity_problem(environment, record.name)
    if problem is not None or environment is None:
        return problem
    section = environment.get("experiment")
    raw = section.get("expires_at") if isinstance(section, Mapping) else None
    try:
        expires_at = from_iso(str(raw)) if raw is not None else None
    except ValueError:
        expires_at = None
    if expires_at is None:
        return "the stack's config has no readable experiment.expires_at"
    if expires_at > now:
        return f"the stack's config says it expires at {to_iso(expires_at)}, which has not passed"
    return None
