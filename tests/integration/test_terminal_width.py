"""The real `mlenv` in a real 80-column pseudo-terminal: nothing wider, no id or token split.

The CLI reads the terminal's width from the tty as a user's shell gives it (pexpect opens a pty of
200 rows x 80 columns), so this is the output a user sees, colours and all; the escape sequences are
removed before measuring. A token split across lines would show as a line holding only part of it,
so each catalog id, AMI id, digest prefix, resource name and type is looked for whole on one line.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pexpect
import pytest

from images.catalog import DEFAULT_CATALOG_PATH, load_catalog
from images.listing import short_digest
from stacks.cli.plan_render import display_type
from stacks.offline.plan import Plan

REPO = Path(__file__).resolve().parents[2]
COLUMNS = 80
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
pytestmark = pytest.mark.integration


def at_80_columns(*args: str, timeout: float = 600) -> tuple[int, list[str]]:
    """Run `mlenv ARGS` in an 80-column pty from the repository; (exit code, plain lines)."""
    mlenv = shutil.which("mlenv", path=str(Path(sys.executable).parent))
    assert mlenv is not None
    child = pexpect.spawn(
        mlenv, list(args), cwd=str(REPO), dimensions=(200, COLUMNS), encoding="utf-8", timeout=timeout
    )
    output = child.read()
    child.close()
    assert child.exitstatus is not None, "mlenv did not exit"
    return child.exitstatus, ANSI.sub("", output).replace("\r", "").splitlines()


def assert_fits(lines: list[str]) -> None:
    wide = [line for line in lines if len(line) > COLUMNS]
    assert not wide, f"{len(wide)} lines wider than {COLUMNS}: {wide[:3]}"


def assert_whole(tokens: set[str], lines: list[str]) -> None:
    missing = sorted(t for t in tokens if not any(t in line for line in lines))
    assert not missing, f"split across lines or missing: {missing[:5]}"


def test_images_list_fits_80_columns_with_ids_amis_and_digests_whole() -> None:
    code, lines = at_80_columns("images", "list")
    assert code == 0
    assert_fits(lines)
    catalog = load_catalog(DEFAULT_CATALOG_PATH)
    tokens = {image.id for image in catalog.images}
    tokens |= {ami for image in catalog.images for ami in image.amis.values()}
    tokens |= {short_digest(c.digest) for i in catalog.images for c in catalog.containers_of(i.id)}
    assert_whole(tokens, lines)


def test_plan_fits_80_columns_with_names_and_types_whole(tmp_path: Path) -> None:
    plan_file = tmp_path / "dev.json"
    code, lines = at_80_columns("--quiet", "plan", "dev", "--out", str(plan_file))
    assert code == 0, "\n".join(lines[-20:])
    assert_fits(lines)
    plan = Plan.load(plan_file)
    resources = [r for r in plan.resources if r.type != "pulumi:pulumi:Stack"]
    assert_whole({r.name for r in resources} | {display_type(r.type) for r in resources}, lines)
    generated = len(json.loads(plan.to_json())["outputs"]["feature_store_yaml"].splitlines())
    assert any(f"feature_store_yaml: {generated} lines; --out-dir DIR" in line for line in lines)
    assert f"stack dev: {len(resources)} resources (the stack excluded)" in lines


def test_check_findings_fit_80_columns_and_lead_with_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "policy-config.json"
    config.write_text(
        json.dumps({"images-from-approved-registries": {"approved_registries": ["example.com"]}})
    )
    code, lines = at_80_columns("-q", "check", "prod", "--config", str(config))
    assert code == 1, "\n".join(lines[-20:])
    assert_fits(lines)
    heads = [line for line in lines if "images-from-approved-registries" in line]
    assert heads and all(
        re.match(r"stacks/Pulumi\.prod\.yaml:\d+  images-from-approved-registries", h) for h in heads
    )
    assert lines[-1].startswith("policy check FAILED") or "FAILED" in " ".join(lines[-3:])
