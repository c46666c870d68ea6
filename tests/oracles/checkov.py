"""Checkov, an independent scanner, as an oracle for the Kubernetes objects the program registers.

Checkov pins dozens of libraries its own way, so it is not a test extra of mlenv (it would fight
pulumi and pydantic for versions): it gets its own virtualenv, built once per version and cached under
``.venv/checkov-<version>`` (``MLENV_CHECKOV_HOME`` moves it), behind a file lock so parallel test
workers build it once. Checkov runs as a subprocess on manifests written from a plan; its JSON report
is read back (https://www.checkov.io/2.Basics/Reviewing%20Scan%20Results.html).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import venv
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

from stacks.offline.plan import Plan

CHECKOV_VERSION = "3.3.30"
"""The pinned scanner: a new version brings new checks, so bumping it is a reviewed change."""
REPO = Path(__file__).resolve().parents[2]
ALLOW_LIST = Path(__file__).with_name("checkov_allowlist.yaml")
INSTALL_TIMEOUT_SECONDS = 1800
SCAN_TIMEOUT_SECONDS = 600


class CheckovUnavailable(Exception):
    """Checkov's virtualenv could not be built (no package index reachable); carries pip's output."""


def checkov_home() -> Path:
    """Where the pinned Checkov's virtualenv lives."""
    base = Path(os.environ.get("MLENV_CHECKOV_HOME") or REPO / ".venv")
    return base / f"checkov-{CHECKOV_VERSION}"


def checkov_executable() -> Path:
    """The ``checkov`` script of the pinned version, building its virtualenv on first use."""
    home = checkov_home()
    script = home / "bin" / "checkov"
    stamp = home / ".installed"
    if stamp.exists():
        return script
    home.parent.mkdir(parents=True, exist_ok=True)
    with (home.parent / f".checkov-{CHECKOV_VERSION}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            venv.EnvBuilder(with_pip=True, clear=True).create(home)
            result = subprocess.run(
                [
                    str(home / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    f"checkov=={CHECKOV_VERSION}",
                ],
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT_SECONDS,
                check=False,
            )
            if result.returncode != 0:
                tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
                raise CheckovUnavailable(f"pip install checkov=={CHECKOV_VERSION} failed:\n{tail}")
            stamp.write_text(f"checkov=={CHECKOV_VERSION} with {sys.version.split()[0]}\n")
    return script


def kubernetes_objects(plan: Plan) -> list[dict[str, Any]]:
    """The Kubernetes objects (with ``kind``) the plan registers, as plain manifests."""
    return [
        r.plain_inputs()
        for r in plan.resources
        if r.type.startswith("kubernetes:") and r.custom and "kind" in r.inputs
    ]


def write_manifests(plans: Iterable[Plan], directory: Path) -> int:
    """One multi-document YAML file per stack; the number of objects written."""
    count = 0
    for plan in plans:
        objects = kubernetes_objects(plan)
        (directory / f"{plan.stack}.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=True))
        count += len(objects)
    return count


@dataclass(frozen=True)
class Failure:
    """One failed Checkov check on one object."""

    check_id: str
    check_name: str
    resource: str
    """Checkov's name for the object: ``<Kind>.<namespace>.<name>``."""
    file: str

    def __str__(self) -> str:
        return f"{self.check_id} {self.resource} ({self.file}): {self.check_name}"


def scan(directory: Path) -> tuple[int, list[Failure]]:
    """(checks passed, failures) of Checkov's Kubernetes framework over the manifests in ``directory``."""
    result = subprocess.run(
        [
            str(checkov_executable()),
            "--directory",
            str(directory),
            "--framework",
            "kubernetes",
            "--output",
            "json",
            "--compact",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        timeout=SCAN_TIMEOUT_SECONDS,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    # Exit code 1 means "some checks failed"; anything else without a JSON report is a broken run.
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(
            f"checkov exited {result.returncode} without a JSON report:\n{result.stderr[-3000:]}"
        ) from None
    reports = report if isinstance(report, list) else [report]
    passed, failures = 0, []
    for part in reports:
        results = part.get("results", {})
        passed += len(results.get("passed_checks", []))
        failures += [
            Failure(f["check_id"], f["check_name"], f["resource"], Path(f["file_path"]).name)
            for f in results.get("failed_checks", [])
        ]
    return passed, failures


@dataclass(frozen=True)
class Allowance:
    """An allow-list entry: a check, the objects it may fail on (fnmatch patterns), and why."""

    check: str
    resources: tuple[str, ...]
    reason: str

    def covers(self, failure: Failure) -> bool:
        return failure.check_id == self.check and any(
            fnmatchcase(failure.resource, p) for p in self.resources
        )


def load_allow_list(path: Path = ALLOW_LIST) -> list[Allowance]:
    """The allow-list; every entry must state a check, resource patterns and a reason."""
    entries = yaml.safe_load(path.read_text()) or []
    allowances = []
    for number, entry in enumerate(entries, start=1):
        missing = [key for key in ("check", "resources", "reason") if not entry.get(key)]
        if missing:
            raise AssertionError(f"{path.name} entry {number}: missing {', '.join(missing)}")
        allowances.append(
            Allowance(
                str(entry["check"]), tuple(str(r) for r in entry["resources"]), str(entry["reason"]).strip()
            )
        )
    return allowances
