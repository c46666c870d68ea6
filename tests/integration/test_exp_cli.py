"""`mlenv exp` through the real `mlenv` app (typer's CliRunner): bad input gives one clear message and its
exit code, no traceback."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from stacks.cli.app import app
from stacks.cli.exp import ExpRuntime
from stacks.experiments.ledger import Ledger
from stacks.experiments.quotas import PlatformQuotas, publish_quotas
from tests.integration.experiment_fixtures import FakeClock, dynamodb, ledger, user
from tests.integration.in_memory_backend import InMemoryStackBackend

pytestmark = pytest.mark.integration

__all__ = ["dynamodb", "ledger"]  # fixtures used by name

IMAGE = "al2023-nvidia-580-k8s1.33-20251020"
"""A catalog image with a us-east-1 AMI whose driver and CUDA run on L40S (the default g6e family)."""


MOTO_CALLER = "arn:aws:sts::123456789012:user/moto"
"""Who moto's STS says the default test credentials are."""
CLI_QUOTAS = PlatformQuotas(
    owner_gpu_quota=4, global_gpu_quota=12, max_ttl=timedelta(hours=72), operators=(MOTO_CALLER,)
)
"""The platform quotas these tests' ledger holds (as the platform stack would have written them)."""


class Cli:
    """Runs `mlenv exp` against the moto server with the in-memory stack backend."""

    def __init__(self, ledger: Ledger, endpoint: str) -> None:
        publish_quotas(ledger.client, ledger.table, CLI_QUOTAS)
        self.backend = InMemoryStackBackend()
        self.clock = FakeClock()
        self.runtime = ExpRuntime(
            backend_factory=lambda: self.backend, endpoint_url=endpoint, clock=self.clock
        )
        self.options = [
            *("--platform-stack", "dev"),  # stacks/Pulumi.dev.yaml: us-east-1, where the moto ledger is
            *("--ledger-table", ledger.table),
        ]

    def __call__(self, *args: str, runtime: ExpRuntime | None = None) -> Result:
        result = CliRunner().invoke(app, ["exp", *self.options, *args], obj=runtime or self.runtime)
        assert "Traceback" not in result.output + result.stderr
        assert result.exception is None or isinstance(result.exception, SystemExit)
        return result


@pytest.fixture
def cli(ledger: Ledger, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("COLUMNS", "200")  # rich tables as wide as a real terminal
    return Cli(ledger, moto_endpoint)


def test_lifecycle_up_ls_extend_gc_down(cli: Cli) -> None:
    up = cli("up", "churn-v7", "--gpus", "4", "--ttl", "8h", "--image", IMAGE, "--owner", user("ana"))
    assert up.exit_code == 0, up.stderr
    assert f"churn-v7 of {user('ana')} is running: 4 GPUs on g6e.12xlarge" in up.stdout

    cli.clock.advance(timedelta(hours=2))
    listed = cli("ls", "--json")
    assert listed.exit_code == 0
    (row,) = json.loads(listed.stdout)
    assert row["status"] == "running" and row["expires_in_hours"] == 6
    assert row["cost_usd"] == round(2 * 10.49264, 2)  # 2 h x one g6e.12xlarge
    table = cli("ls")
    assert "churn-v7" in table.stdout and "$20.99" in table.stdout

    assert cli("extend", "churn-v7", "4h").exit_code == 0
    cli.clock.advance(timedelta(hours=11))
    dry = cli("gc", "--dry-run", "--json")
    assert dry.exit_code == 0 and json.loads(dry.stdout)["actions"][0]["outcome"] == "would-destroy"
    cli.clock.advance(timedelta(hours=1))
    gc = cli("gc", "--json")
    assert gc.exit_code == 0, gc.stderr
    assert [a["outcome"] for a in json.loads(gc.stdout)["actions"]] == ["destroyed"]
    assert json.loads(cli("ls", "--json").stdout) == []
    down = cli("down", "churn-v7")
    assert down.exit_code == 2 and "no experiment named 'churn-v7'" in down.stderr


@pytest.mark.parametrize("ttl", ["8 hours", "h8", "1.5h", "0h", "30m1h", "", "8x", "-2h"])
def test_malformed_durations_exit_2(cli: Cli, ttl: str) -> None:
    result = cli("up", "exp-a", "--gpus", "1", "--ttl", ttl, "--image", IMAGE)
    assert result.exit_code == 2
    assert "is not a duration" in result.stderr and "e.g. 8h, 90m, 2d or 1h30m" in result.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["up", "big", "--gpus", "1", "--ttl", "4d", "--image", IMAGE],
            2,
            "over the maximum lifetime of 72h",
        ),
        (["up", "big", "--gpus", "5", "--image", IMAGE], 2, "would exceed the per-owner GPU quota"),
        (["up", "Bad_Name", "--gpus", "1", "--image", IMAGE], 2, "is not a valid experiment name"),
        (["up", "noimage", "--gpus", "1"], 2, "pass --image ID"),
        (["extend", "nope", "4h"], 2, "no experiment named 'nope'"),
        (["extend", "nope", "4 h"], 2, "is not a duration"),
        (["down", "nope"], 2, "no experiment named 'nope'"),
        (["up", "other", "--gpus", "1", "--image", IMAGE, "--owner", "ana"], 2, "is not an IAM or STS"),
    ],
)
def test_bad_input_exit_codes_and_messages(cli: Cli, args: list[str], code: int, message: str) -> None:
    result = cli(*args)
    assert result.exit_code == code
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one clear message


def test_name_taken_is_a_conflict_exit_3(cli: Cli) -> None:
    assert cli("up", "taken", "--gpus", "1", "--image", IMAGE, "--owner", user("ana")).exit_code == 0
    again = cli("up", "taken", "--gpus", "2", "--image", IMAGE, "--owner", user("bo"))
    assert again.exit_code == 3 and "experiment 'taken' already exists (status running)" in again.stderr


def test_extend_past_the_maximum_exit_2(cli: Cli) -> None:
    assert cli("up", "near", "--gpus", "1", "--ttl", "70h", "--image", IMAGE).exit_code == 0
    result = cli("extend", "near", "3h")
    assert result.exit_code == 2 and "total lifetime after extension of 73h" in result.stderr


def test_missing_ledger_table_exit_1(cli: Cli) -> None:
    result = cli("--ledger-table", "no-such-table", "ls")
    assert result.exit_code == 1
    assert "ledger table 'no-such-table' does not exist" in result.stderr


def test_missing_pulumi_cli_names_what_to_install(
    cli: Cli, ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi binary anywhere
    real_adapter = ExpRuntime(endpoint_url=cli.runtime.endpoint_url, clock=cli.clock)
    result = cli("up", "nocli", "--gpus", "1", "--image", IMAGE, runtime=real_adapter)
    assert result.exit_code == 1
    assert "https://www.pulumi.com/docs/install/" in result.stderr
    assert ledger.list_experiments() == []  # nothing reserved before the CLI check


def test_gc_exits_1_and_reports_when_a_destroy_keeps_failing(cli: Cli) -> None:
    assert cli("up", "stuck", "--gpus", "1", "--ttl", "1h", "--image", IMAGE).exit_code == 0
    cli.backend.fail_destroy.add("exp-stuck")
    cli.clock.advance(timedelta(hours=2))
    result = cli("gc")
    assert result.exit_code == 1
    assert "stuck (failed)" in result.stderr and "simulated destroy failure" in result.stdout


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--instance-type", "m7i.large"], "'m7i.large' is an EC2 instance type without NVIDIA GPUs"),
        (["--instance-type", "g9z.huge"], "'g9z.huge' is not an EC2 instance type"),
        (["--instance-type", "g6f.large"], "experiments reserve whole GPUs"),
        (["--instance-type", "g5g.xlarge"], "is built for x86_64, but g5g.xlarge runs arm64"),
        (["--image", "al2023-nvidia-999-k8s1.33-20990101"], "unknown image id"),
        # The R535 driver (CUDA 12.2) predates Blackwell, which needs CUDA 12.8 (images/compat.py).
        (
            ["--image", "al2023-nvidia-535-k8s1.30-20240815", "--instance-type", "p6-b200.48xlarge"],
            "cannot run on B200",
        ),
    ],
)
def test_instance_type_and_image_are_checked_before_anything_is_reserved(
    cli: Cli, ledger: Ledger, options: list[str], message: str
) -> None:
    image = [] if "--image" in options else ["--image", IMAGE]
    result = cli("up", "bad-request", "--gpus", "1", *image, *options)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr and "the experiment cannot run as asked" in result.stderr
    assert ledger.list_experiments() == [] and cli.backend.calls == []


def test_ledger_and_region_default_to_the_platform_stack(cli: Cli, ledger: Ledger) -> None:
    """Without --ledger-table, `mlenv exp` uses the table the platform stack creates (and its region)."""
    options = ["--platform-stack", "dev"]
    result = CliRunner().invoke(app, ["exp", *options, "ls"], obj=cli.runtime)
    assert result.exit_code == 1
    assert "ledger table 'mlenv-dev-experiments' does not exist" in result.stderr  # asked us-east-1
