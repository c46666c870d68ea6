"""JUnit XML: one testsuite per policy, one testcase per resource the policy reported on.

A resource with no finding passes every policy; each policy suite also gets one passing testcase
``(all other resources)`` so suites are never empty. Violations are failures, advisories and
waived findings are passing testcases with system-out, not-evaluated findings are skipped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from stacks.check.findings import CheckReport, Finding, Status


def _case(suite: ET.Element, name: str, classname: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", {"name": name, "classname": classname, "time": "0"})


def render(report: CheckReport) -> str:
    root = ET.Element("testsuites", {"name": f"mlenv check {report.stack}"})
    grouped = report.by_policy()
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for meta in report.policies:
        findings = grouped.get(meta.name, [])
        by_resource: dict[str, list[Finding]] = {}
        for finding in findings:
            key = finding.resource.urn if finding.resource else f"stack {report.stack}"
            by_resource.setdefault(key, []).append(finding)
        suite = ET.SubElement(root, "testsuite", {"name": meta.name})
        ET.SubElement(
            ET.SubElement(suite, "properties"),
            "property",
            {"name": "enforcementLevel", "value": meta.enforcement},
        )
        tests = failures = skipped = 0
        for key, items in by_resource.items():
            case = _case(suite, key, meta.name)
            tests += 1
            violations = [f for f in items if f.status is Status.VIOLATION]
            unknown = [f for f in items if f.status is Status.NOT_EVALUATED]
            if violations:
                failures += 1
                failure = ET.SubElement(
                    case, "failure", {"message": violations[0].message[:500], "type": "mandatory"}
                )
                failure.text = "\n".join(f.message for f in violations)
            elif unknown:
                skipped += 1
                ET.SubElement(case, "skipped", {"message": "not evaluated: " + unknown[0].message[:500]})
            others = [f for f in items if f.status in (Status.ADVISORY, Status.WAIVED)]
            if others:
                out = ET.SubElement(case, "system-out")
                out.text = "\n".join(f"{f.status.value}: {f.message}" for f in others)
        _case(suite, "(all other resources)", meta.name)
        tests += 1
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        suite.set("skipped", str(skipped))
        totals["tests"] += tests
        totals["failures"] += failures
        totals["skipped"] += skipped
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
