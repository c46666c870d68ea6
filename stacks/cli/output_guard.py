"""Report files never replace what mlenv reads: a stack file, the project file, or the run's inputs.

``mlenv check --plan plan.json --output plan.json`` or ``mlenv plan dev --out stacks/Pulumi.dev.yaml``
would destroy the input (or the stack definition) with a report; refusing is a bad-input error.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from pathlib import Path

from stacks.errors import EXIT_BAD_INPUT, MlenvError

PROTECTED_NAMES = ("Pulumi.yaml", "Pulumi.yml", "Pulumi.*.yaml", "Pulumi.*.yml", "waivers.yaml")
"""Pulumi's project and stack settings files (pulumi docs: project and stack settings files) and
the pack's waivers file."""


class OutputPathError(MlenvError):
    """An output option points at a file mlenv must not overwrite."""

    exit_code = EXIT_BAD_INPUT


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def refuse_to_overwrite_inputs(output: Path, *, option: str, inputs: Iterable[Path] = ()) -> None:
    """Raise OutputPathError when ``output`` is an input of this run, a directory, or a stack file."""
    if output.is_dir():
        raise OutputPathError(f"{option} {output}: is a directory; give a file name")
    for source in inputs:
        if _same(output, source) or output.resolve() == source.resolve():
            raise OutputPathError(
                f"{option} {output}: is this run's input {source}; write the report elsewhere"
            )
    if any(fnmatch.fnmatchcase(output.name, pattern) for pattern in PROTECTED_NAMES):
        raise OutputPathError(
            f"{option} {output}: would overwrite a Pulumi project/stack file or the waivers file; "
            "write the report elsewhere"
        )
