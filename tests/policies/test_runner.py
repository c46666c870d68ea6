"""The runner against the fixture pack, started as a real process and driven over real gRPC."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from stacks.check.config import PolicyConfigEntry
from stacks.check.errors import PackProtocolError, PackStartError, PolicyConfigError
from stacks.check.findings import WAIVER_POLICY, Status
from stacks.check.pack_process import EngineServer, PackProcess, pack_command
from stacks.check.runner import check_plan, pack_session
from stacks.offline.plan import SECRET_SIG, SIG_KEY, UNKNOWN, Plan
from tests.policies.runner_fixtures import (
    FIXTURE_PACK,
    STACK,
    findings_of,
    names,
    plan_of,
    replace_inputs,
    small_plan,
    small_program,
)

__all__ = ["small_plan"]  # the fixture, re-exported for pytest

BUCKET = "aws:s3/bucket:Bucket"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"


def test_violating_and_clean_resources(small_plan: Plan) -> None:
    report = check_plan(small_plan, pack_dir=FIXTURE_PACK)

    tags = findings_of(report, "fixture-required-tags", Status.VIOLATION)
    assert names(tags) == {"bad"}
    assert tags[0].resource is not None and tags[0].resource.type == BUCKET
    assert tags[0].message == "add the tags owner to bad"
    assert tags[0].description == "AWS resources carry the required tags."
    assert names(findings_of(report, "fixture-protect-buckets", Status.VIOLATION)) == {"bad"}
    # The stack policy joined each bucket with its versioning resource through property dependencies.
    assert names(findings_of(report, "fixture-buckets-versioned", Status.VIOLATION)) == {"bad"}
    assert names(findings_of(report, "fixture-bucket-acls", Status.ADVISORY)) == {"pab"}
    assert [
        (f.message, f.resource and f.resource.name)
        for f in report.findings
        if f.status is Status.NOT_APPLICABLE
    ] == [("keys are checked elsewhere", "key")]
    assert report.exit_code == 1
    assert report.pack == "fixture-pack"
    assert report.pack_version == "0.3.0"  # from PulumiPolicy.yaml, as the CLI prefers it
    # The Stack excluded (as `mlenv plan` counts), the default aws provider the engine adds included.
    assert report.resources_analyzed == len(small_plan.resources) - 1 + 1


def test_clean_plan_passes() -> None:
    def program() -> None:
        import pulumi
        import pulumi_aws as aws

        bucket = aws.s3.Bucket("only", tags={"owner": "me"}, opts=pulumi.ResourceOptions(protect=True))
        aws.s3.BucketVersioning("only", bucket=bucket.bucket, versioning_configuration={"status": "Enabled"})

    report = check_plan(plan_of(program), pack_dir=FIXTURE_PACK)
    assert report.reported() == []
    assert report.exit_code == 0


def test_unknown_value_is_not_evaluated_never_a_pass(small_plan: Plan) -> None:
    plan = replace_inputs(small_plan, "bad", BUCKET, tags=UNKNOWN)
    report = check_plan(plan, pack_dir=FIXTURE_PACK)

    unknown = findings_of(report, "fixture-required-tags", Status.NOT_EVALUATED)
    assert names(unknown) == {"bad"}
    assert ".tags" in unknown[0].message and "preview" in unknown[0].message
    assert unknown[0].enforcement == "mandatory"  # the policy's level, not the advisory of the diagnostic
    assert findings_of(report, "fixture-required-tags", Status.VIOLATION) == []


def test_unknown_value_in_a_stack_policy(small_plan: Plan) -> None:
    plan = replace_inputs(small_plan, "good", VERSIONING, versioningConfiguration=UNKNOWN)
    report = check_plan(plan, pack_dir=FIXTURE_PACK)

    unknown = findings_of(report, "fixture-buckets-versioned")
    assert [f.status for f in unknown] == [Status.NOT_EVALUATED]
    assert unknown[0].stage == "stack" and unknown[0].resource is None


def test_secret_inputs_reach_policies_as_values(small_plan: Plan) -> None:
    secret_tags = {SIG_KEY: SECRET_SIG, "value": {"owner": "ml-platform"}}
    plan = replace_inputs(small_plan, "bad", BUCKET, tags=secret_tags)
    report = check_plan(plan, pack_dir=FIXTURE_PACK)
    assert findings_of(report, "fixture-required-tags") == []


def test_explicit_provider_and_default_provider_reach_policies() -> None:
    report = check_plan(plan_of(small_program(), region="eu-west-1"), pack_dir=FIXTURE_PACK)
    regions = findings_of(report, "fixture-provider-region", Status.ADVISORY)
    # Every custom aws resource of the plan uses the engine's default provider, built from aws:region.
    assert {f.message for f in regions} == {"region eu-west-1 of provider default is not allowed"}
    assert names(regions) == {"good", "bad", "pab", "key"}


def test_policy_config_overrides_defaults(small_plan: Plan) -> None:
    config = {
        "fixture-required-tags": PolicyConfigEntry(properties={"requiredTags": ["team"]}),
        "fixture-provider-region": PolicyConfigEntry(enforcement="mandatory"),
    }
    report = check_plan(small_plan, pack_dir=FIXTURE_PACK, policy_config=config)
    assert names(findings_of(report, "fixture-required-tags", Status.VIOLATION)) == {"good"}
    assert report.policy("fixture-provider-region") is not None
    assert report.policy("fixture-provider-region").enforcement == "mandatory"  # type: ignore[union-attr]
    assert report.policy("fixture-required-tags").config == {"requiredTags": ["team"]}  # type: ignore[union-attr]


def test_all_advisory_turns_violations_into_advisories(small_plan: Plan) -> None:
    report = check_plan(
        small_plan, pack_dir=FIXTURE_PACK, policy_config={"all": PolicyConfigEntry("advisory")}
    )
    assert report.violations == []
    assert names(findings_of(report, "fixture-required-tags", Status.ADVISORY)) == {"bad"}
    assert report.exit_code == 0


def test_waiver_policy_findings_are_waived(small_plan: Plan) -> None:
    config = {WAIVER_POLICY: PolicyConfigEntry(properties={"waived": ["bad"]})}
    report = check_plan(small_plan, pack_dir=FIXTURE_PACK, policy_config=config)
    waived = findings_of(report, WAIVER_POLICY)
    assert [f.status for f in waived] == [Status.WAIVED]
    assert waived[0].message.startswith("waived: fixture-protect-buckets on bad")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"fixture-required-tags": PolicyConfigEntry(properties={"requiredTags": "owner"})},
            "is not of type 'array'",
        ),
        ({"fixture-requird-tags": PolicyConfigEntry("mandatory")}, "does not have"),
    ],
)
def test_config_the_schema_rejects(
    small_plan: Plan, config: dict[str, PolicyConfigEntry], expected: str
) -> None:
    with pytest.raises(PolicyConfigError, match=expected):
        check_plan(small_plan, pack_dir=FIXTURE_PACK, policy_config=config)


def test_sharded_run_gives_identical_findings(small_plan: Plan) -> None:
    one = check_plan(small_plan, pack_dir=FIXTURE_PACK, jobs=1)
    three = check_plan(small_plan, pack_dir=FIXTURE_PACK, jobs=3)
    assert three.findings == one.findings
    assert three.to_dict() == one.to_dict()


# -- the process: launched as the CLI does, stopped on every path ------------------------------

ECHO_PACK = """
import json, os, sys
from pulumi_policy import PolicyPack, ResourceValidationPolicy
env = {k: v for k, v in os.environ.items() if k.startswith("PULUMI_")}
with open(os.environ["MLENV_TEST_RECORD"], "w") as f:
    json.dump({"argv": sys.argv, "cwd": os.getcwd(), "env": env}, f)
noop = ResourceValidationPolicy(name="noop", description="d", validate=lambda a, r: None)
PolicyPack(name="echo", policies=[noop])
"""


def write_pack(directory: Path, main: str, policy_yaml: str = "runtime: python\n") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "PulumiPolicy.yaml").write_text(policy_yaml, encoding="utf-8")
    (directory / "__main__.py").write_text(textwrap.dedent(main), encoding="utf-8")
    return directory


def test_pack_is_launched_like_the_cli(
    tmp_path: Path, small_plan: Plan, monkeypatch: pytest.MonkeyPatch
) -> None:
    pack_dir = write_pack(tmp_path / "echo", ECHO_PACK)
    record = tmp_path / "record.json"
    monkeypatch.setenv("MLENV_TEST_RECORD", str(record))
    with pack_session(
        project="mlenv", stack=STACK, stack_config=small_plan.config, pack_dir=pack_dir
    ) as session:
        process = session.processes[0]
        assert process.handshake_supported is False  # pulumi-policy predates Handshake: UNIMPLEMENTED
        engine = process.engine_address
    seen = json.loads(record.read_text())
    assert seen["cwd"] == str(pack_dir.resolve())
    assert seen["argv"][1:] == [engine, "."]  # pulumi.policy's argv: engine address, program dir
    assert process.command == [sys.executable, "-u", "-m", "pulumi.policy", engine, "."]
    assert seen["env"]["PULUMI_PROJECT"] == "mlenv"
    assert seen["env"]["PULUMI_STACK"] == STACK
    assert seen["env"]["PULUMI_DRY_RUN"] == "true"
    assert json.loads(seen["env"]["PULUMI_CONFIG"]) == small_plan.config
    assert process.process is not None and process.process.returncode is not None


def test_virtualenv_option_picks_that_interpreter(tmp_path: Path) -> None:
    pack_dir = write_pack(
        tmp_path / "venv-pack", ECHO_PACK, "runtime:\n  name: python\n  options:\n    virtualenv: venv\n"
    )
    (pack_dir / "venv" / "bin").mkdir(parents=True)
    (pack_dir / "venv" / "bin" / "python").write_text("", encoding="utf-8")
    assert pack_command(pack_dir, "127.0.0.1:1")[0] == str(pack_dir / "venv" / "bin" / "python")
    (pack_dir / "venv" / "bin" / "python").unlink()
    with pytest.raises(PackStartError, match="has no bin/python"):
        pack_command(pack_dir, "127.0.0.1:1")


def test_processes_stopped_after_a_run_and_after_an_error(small_plan: Plan) -> None:
    with pack_session(
        project="mlenv", stack=STACK, stack_config={}, pack_dir=FIXTURE_PACK, jobs=2
    ) as session:
        processes = list(session.processes)
        assert all(p.running for p in processes)
    assert all(p.process is not None and p.process.returncode is not None for p in processes)

    with (
        pytest.raises(RuntimeError, match="mid-run"),
        pack_session(project="mlenv", stack=STACK, stack_config={}, pack_dir=FIXTURE_PACK) as session,
    ):
        processes = list(session.processes)
        raise RuntimeError("mid-run")
    assert all(p.process is not None and p.process.returncode is not None for p in processes)


def _start(pack_dir: Path, start_timeout: float = 60.0) -> PackProcess:
    with EngineServer() as engine:
        pack = PackProcess(
            pack_dir,
            project="mlenv",
            stack=STACK,
            config={},
            engine_address=engine.address,
            start_timeout=start_timeout,
        )
        try:
            with pack:
                pytest.fail("the pack should not have started")
        finally:
            assert pack.process is not None and pack.process.returncode is not None
    return pack


def test_pack_that_dies_at_start(tmp_path: Path) -> None:
    pack_dir = write_pack(
        tmp_path / "dies", 'raise SystemExit("boom: the pack cannot import its policies")\n'
    )
    with pytest.raises(
        PackStartError, match=r"(?s)exited with status 1 before printing its gRPC port.*boom: the pack"
    ):
        _start(pack_dir)


def test_pack_that_hangs_at_start(tmp_path: Path) -> None:
    pack_dir = write_pack(
        tmp_path / "hangs",
        "import sys, time\nprint('loading', file=sys.stderr, flush=True)\ntime.sleep(600)\n",
    )
    # 8 s, not 1: on a loaded machine importing pulumi.policy alone can take over a second, and the
    # test is about the message (what the pack wrote to stderr), not about how fast it starts.
    with pytest.raises(PackStartError, match=r"(?s)did not print its gRPC port within 8 s.*loading"):
        _start(pack_dir, start_timeout=8.0)


def test_pack_that_prints_no_port(tmp_path: Path) -> None:
    pack_dir = write_pack(
        tmp_path / "chatty", "import time\nprint('hello from the pack', flush=True)\ntime.sleep(600)\n"
    )
    with pytest.raises(PackStartError, match="wrote 'hello from the pack' to stdout where its gRPC port"):
        _start(pack_dir)


@pytest.mark.parametrize(
    ("policy_yaml", "expected"),
    [(None, "cannot read PulumiPolicy.yaml"), ("runtime: nodejs\n", "Python packs only")],
)
def test_not_a_python_pack(tmp_path: Path, policy_yaml: str | None, expected: str) -> None:
    pack_dir = tmp_path / "other"
    pack_dir.mkdir()
    if policy_yaml is not None:
        (pack_dir / "PulumiPolicy.yaml").write_text(policy_yaml, encoding="utf-8")
    with pytest.raises(PackStartError, match=expected):
        pack_command(pack_dir, "127.0.0.1:1")


HANGING_POLICY = """
import os, time
from pulumi_policy import PolicyPack, ResourceValidationPolicy
def validate(args, report):
    if args.name == "bad":
        if os.environ.get("MLENV_TEST_DIE"):
            os._exit(3)
        time.sleep(600)
PolicyPack(name="slow", policies=[ResourceValidationPolicy(name="slow", description="d", validate=validate)])
"""


@pytest.mark.parametrize(
    ("die", "expected"),
    [(False, "did not answer Analyze for .*::bad within 1 s"), (True, "died during Analyze for .*::bad")],
)
def test_pack_that_hangs_or_dies_during_analyze(
    tmp_path: Path, small_plan: Plan, monkeypatch: pytest.MonkeyPatch, die: bool, expected: str
) -> None:
    if die:
        monkeypatch.setenv("MLENV_TEST_DIE", "1")
    pack_dir = write_pack(tmp_path / "slow", HANGING_POLICY)
    with (
        pytest.raises(PackProtocolError, match=expected),
        pack_session(
            project="mlenv", stack=STACK, stack_config={}, pack_dir=pack_dir, call_timeout=1.0
        ) as session,
    ):
        processes = list(session.processes)
        session.check(small_plan)
    assert all(p.process is not None and p.process.returncode is not None for p in processes)
