"""Waivers: an in-force waiver turns a violation into a waived report; bad waivers are violations."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from policies.__main__ import POLICIES
from policies.waiver_file import WAIVERS_ENV, load_waivers, parse_waivers
from stacks.offline.plan import Plan, PlannedResource
from tests.policies.fixtures import apply, drop, setv
from tests.policies.harness import run

BY_NAME = {p.name: p for p in POLICIES}
TODAY = dt.datetime.now(dt.UTC).date()
MODELS_URN_PATTERN = "urn:pulumi:prod::mlenv::*$aws:s3/bucket:Bucket::prod-models"
ECR = ("aws:ecr/repository:Repository", "prod-serving")


def waiver(**overrides: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "policy": "s3-versioning-enabled",
        "resource": MODELS_URN_PATTERN,
        "reason": "migration bucket, versioning restored after the copy (PLAT-1)",
        "owner": "ml-platform",
        "expires": (TODAY + dt.timedelta(days=30)).isoformat(),
    }
    entry.update(overrides)
    return entry


@pytest.fixture
def waivers_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "waivers.yaml"
    path.write_text("[]\n", encoding="utf-8")
    monkeypatch.setenv(WAIVERS_ENV, str(path))
    return path


def write(path: Path, entries: object) -> None:
    path.write_text(yaml.safe_dump(entries), encoding="utf-8")


def unversioned(plans: dict[str, Plan]) -> tuple[list[PlannedResource], set[str]]:
    return apply(
        plans["prod"].resources,
        drop(
            "aws:s3/bucketVersioning:BucketVersioning",
            "prod-models",
            id="x",
            on=("aws:s3/bucket:Bucket", "prod-models"),
        ),
    )


def test_shipped_waivers_file_is_valid() -> None:
    shipped = Path(__file__).resolve().parents[2] / "policies" / "waivers.yaml"
    loaded = parse_waivers(shipped.read_text(encoding="utf-8"), shipped)
    assert loaded.problems == ()


def test_in_force_waiver_moves_a_stack_violation_to_waived(
    plans: dict[str, Plan], waivers_file: Path
) -> None:
    resources, urns = unversioned(plans)
    assert run(BY_NAME["s3-versioning-enabled"], resources).urns == urns  # without a waiver: a violation
    write(waivers_file, [waiver()])
    assert run(BY_NAME["s3-versioning-enabled"], resources).violations == []
    waived = run(BY_NAME["waived-violations"], resources)
    assert waived.urns == urns
    ((message, _),) = waived.violations
    assert message.startswith("waived: bucket prod-models has no BucketVersioning resource")
    assert message.endswith(
        f"(waiver: reason: migration bucket, versioning restored after the copy (PLAT-1); "
        f"owner: ml-platform; expires: {(TODAY + dt.timedelta(days=30)).isoformat()})"
    )
    assert run(BY_NAME["waivers-are-valid"], resources).violations == []


def test_in_force_waiver_moves_a_resource_violation_to_waived(
    plans: dict[str, Plan], waivers_file: Path
) -> None:
    resources, urns = apply(plans["prod"].resources, setv(*ECR, "imageTagMutability", "MUTABLE", id="x"))
    (urn,) = urns
    write(waivers_file, [waiver(policy="ecr-immutable-tags", resource=urn)])
    assert run(BY_NAME["ecr-immutable-tags"], resources).violations == []
    waived = run(BY_NAME["waived-violations"], resources)
    assert waived.urns == {urn}
    assert waived.violations[0][0].startswith("waived: set image_tag_mutability='IMMUTABLE'")


def test_waiver_covers_only_its_policy_and_resources(plans: dict[str, Plan], waivers_file: Path) -> None:
    resources, urns = unversioned(plans)
    write(
        waivers_file,
        [waiver(policy="s3-access-logging"), waiver(resource="urn:pulumi:prod::mlenv::*::prod-datasets")],
    )
    assert run(BY_NAME["s3-versioning-enabled"], resources).urns == urns
    assert run(BY_NAME["waived-violations"], resources).violations == []


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (waiver(expires=(TODAY - dt.timedelta(days=1)).isoformat()), "expired on"),
        (waiver(expires=(TODAY + dt.timedelta(days=91)).isoformat()), "more than 90 days ahead"),
        (waiver(policy="no-such-policy"), "unknown policy 'no-such-policy'"),
        ({k: v for k, v in waiver().items() if k != "owner"}, "missing owner"),
        (waiver(reason=""), "missing reason"),
        (waiver(expires="next month"), "is not a date"),
        (waiver(ticket="PLAT-1"), "unknown field 'ticket'"),
        ("s3-versioning-enabled", "must be a mapping"),
    ],
    ids=[
        "expired",
        "over-90-days",
        "unknown-policy",
        "missing-field",
        "empty-field",
        "bad-date",
        "unknown-field",
        "not-a-mapping",
    ],
)
def test_bad_waiver_is_a_mandatory_violation_and_waives_nothing(
    entry: object, problem: str, plans: dict[str, Plan], waivers_file: Path
) -> None:
    resources, urns = unversioned(plans)
    write(waivers_file, [entry])
    validity = run(BY_NAME["waivers-are-valid"], resources)
    assert len(validity.violations) == 1 and problem in validity.violations[0][0], validity.violations
    assert run(BY_NAME["s3-versioning-enabled"], resources).urns == urns
    assert run(BY_NAME["waived-violations"], resources).violations == []


def test_ninety_days_ahead_is_still_in_force(plans: dict[str, Plan], waivers_file: Path) -> None:
    resources, _ = unversioned(plans)
    write(waivers_file, [waiver(expires=(TODAY + dt.timedelta(days=90)).isoformat())])
    assert run(BY_NAME["waivers-are-valid"], resources).violations == []
    assert run(BY_NAME["s3-versioning-enabled"], resources).violations == []


@pytest.mark.parametrize("text", ["policy: [unclosed", "just text", "{policy: x}"])
def test_unparsable_file_is_one_violation_and_the_pack_keeps_working(
    text: str, plans: dict[str, Plan], waivers_file: Path
) -> None:
    waivers_file.write_text(text, encoding="utf-8")
    assert load_waivers().waivers == ()
    resources, urns = unversioned(plans)
    assert len(run(BY_NAME["waivers-are-valid"], resources).violations) == 1
    assert run(BY_NAME["s3-versioning-enabled"], resources).urns == urns


def test_missing_override_file_is_reported(plans: dict[str, Plan], waivers_file: Path) -> None:
    waivers_file.unlink()
    validity = run(BY_NAME["waivers-are-valid"], plans["dev"].resources)
    assert [m for m, _ in validity.violations] == [f"{waivers_file}: waivers file not found"]


@pytest.mark.parametrize("expires", ["2025-02-30", "2026-13-01"])
def test_impossible_unquoted_date_is_reported_not_a_crash(
    expires: str, plans: dict[str, Plan], waivers_file: Path
) -> None:
    resources, urns = unversioned(plans)
    entry = yaml.safe_dump([{**waiver(), "expires": "DATE"}]).replace("DATE", expires)
    waivers_file.write_text(entry, encoding="utf-8")
    validity = run(BY_NAME["waivers-are-valid"], resources)
    assert len(validity.violations) == 1 and "is not a date" in validity.violations[0][0], validity.violations
    assert run(BY_NAME["s3-versioning-enabled"], resources).urns == urns


def test_unquoted_valid_date_still_counts(plans: dict[str, Plan], waivers_file: Path) -> None:
    resources, _ = unversioned(plans)
    expires = (TODAY + dt.timedelta(days=30)).isoformat()
    waivers_file.write_text(yaml.safe_dump([{**waiver(), "expires": "DATE"}]).replace("DATE", expires))
    assert run(BY_NAME["waivers-are-valid"], resources).violations == []
    assert run(BY_NAME["s3-versioning-enabled"], resources).urns == set()
