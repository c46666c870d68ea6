"""The AWS sweep of `mlenv drift` on the moto server, against a state made from dev's offline plan.

Drift is made by hand with boto3 (an extra tagged bucket, an untagged security group and instance in
the VPC, a tag removed from an owned subnet) next to a load balancer the AWS Load Balancer Controller
would have made (tagged ``elbv2.k8s.aws/cluster``); exactly the hand-made drift must be reported.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from typer.testing import CliRunner

from stacks.cli.app import app
from stacks.drift.aws_sweep import AwsSweep
from stacks.drift.findings import DriftFinding, Fix, Kind
from stacks.drift.state import StackState, parse_state
from tests.integration.conftest import MOTO_REGION
from tests.integration.drift_world import DeployedWorld, deploy_network_and_buckets, dev_plan
from tests.policies.test_formats import SARIF_SCHEMA

pytestmark = pytest.mark.integration

SCRATCH_BUCKET = "dev-scratch-made-by-hand"
SUBNET_TYPE = "aws:ec2/subnet:Subnet"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": MOTO_REGION,
}
"""Clearly fake credentials (as the aws_env fixture sets), module-wide here: the deploy is module-scoped."""


def _cluster_name(world: DeployedWorld) -> str:
    cluster = world.first("aws:eks/cluster:Cluster")
    return str(cluster.plain_inputs().get("name") or cluster.id)


@dataclass(frozen=True)
class HandMade:
    """The ids of what was changed by hand."""

    security_group: str
    instance: str
    subnet_arn: str
    load_balancer_arn: str


def make_drift_by_hand(world: DeployedWorld, session: boto3.Session, endpoint: str) -> HandMade:
    ec2 = session.client("ec2", endpoint_url=endpoint)
    s3 = session.client("s3", endpoint_url=endpoint)
    elbv2 = session.client("elbv2", endpoint_url=endpoint)
    vpc_id = world.real_id("aws:ec2/vpc:Vpc")
    private_a = world.real_id(SUBNET_TYPE, "private-us-east-1a")
    # (a) a bucket someone created with the stack's tags
    s3.create_bucket(Bucket=SCRATCH_BUCKET)
    s3.put_bucket_tagging(Bucket=SCRATCH_BUCKET, Tagging={"TagSet": [{"Key": "mlenv:stack", "Value": "dev"}]})
    # (b) an untagged security group and instance in the VPC
    sg = ec2.create_security_group(GroupName="opened-by-hand", Description="ssh from home", VpcId=vpc_id)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    # Its root volume goes with it (DeleteOnTermination, as EBS-backed AMIs default to): judged with it.
    root = {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 100, "DeleteOnTermination": True}}
    instance = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        InstanceType="g6.xlarge",
        SubnetId=private_a,
        BlockDeviceMappings=[root],
    )["Instances"][0]["InstanceId"]
    # (c) a tag removed from an owned subnet
    ec2.delete_tags(Resources=[private_a], Tags=[{"Key": "mlenv:owner"}])
    # not drift: a load balancer of the AWS Load Balancer Controller of this stack's cluster
    lb = elbv2.create_load_balancer(
        Name="k8s-serving-chat-0a1b2c3d",
        Subnets=[
            world.real_id(SUBNET_TYPE, "public-us-east-1a"),
            world.real_id(SUBNET_TYPE, "public-us-east-1b"),
        ],
        Tags=[
            {"Key": "elbv2.k8s.aws/cluster", "Value": _cluster_name(world)},
            {"Key": "service.k8s.aws/stack", "Value": "serving/chat"},
        ],
    )["LoadBalancers"][0]["LoadBalancerArn"]
    return HandMade(
        sg["GroupId"], instance, world.arns[world.first(SUBNET_TYPE, "private-us-east-1a").urn], lb
    )


@dataclass(frozen=True)
class Deployed:
    """dev deployed on moto, what the sweep found before the hand-made drift, and that drift."""

    world: DeployedWorld
    clean: list[DriftFinding]
    hand_made: HandMade
    endpoint: str


@pytest.fixture(scope="module")
def deployed(moto_endpoint: str) -> Iterator[Deployed]:
    """Deploy once per module (a deploy costs more than every sweep of the module together); moto is
    reset when the module is done."""
    with pytest.MonkeyPatch.context() as env:
        for key, value in FAKE_CREDENTIALS.items():
            env.setenv(key, value)
        session = boto3.Session(region_name=MOTO_REGION)
        world = deploy_network_and_buckets(session, moto_endpoint, dev_plan())
        env.setenv("AWS_ENDPOINT_URL", moto_endpoint)
        clean, _ = AwsSweep(boto3.Session(region_name=MOTO_REGION), _state(world), "dev").run()
        env.delenv("AWS_ENDPOINT_URL")
        hand_made = make_drift_by_hand(world, session, moto_endpoint)
        try:
            yield Deployed(world, clean, hand_made, moto_endpoint)
        finally:
            request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
            with urllib.request.urlopen(request, timeout=10):
                pass


@pytest.fixture
def env(deployed: Deployed, monkeypatch: pytest.MonkeyPatch) -> Deployed:
    """Credentials and ``AWS_ENDPOINT_URL`` pointing at the moto server, for one test."""
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", deployed.endpoint)
    return deployed


def _state(world: DeployedWorld) -> StackState:
    return parse_state(world.export(), source="export")


def _summary(findings: list[DriftFinding]) -> set[tuple[str, str, str]]:
    return {(f.kind.value, f.layer.value, f.resource) for f in findings}


def test_sweep_reports_exactly_the_hand_made_drift(env: Deployed) -> None:
    world, hand_made = env.world, env.hand_made
    findings, layer = AwsSweep(
        boto3.Session(region_name=MOTO_REGION), _state(world), "dev", page_size=2
    ).run()
    assert layer.ran
    assert _summary(findings) == {
        ("not-in-state", "aws", f"arn:aws:s3:::{SCRATCH_BUCKET}"),
        ("unmanaged", "aws", hand_made.security_group),
        ("unmanaged", "aws", hand_made.instance),
        ("changed", "aws", hand_made.subnet_arn),
    }
    by_resource = {f.resource: f for f in findings}
    changed = by_resource[hand_made.subnet_arn]
    assert changed.differs == ("tags.mlenv:owner: 'ml-platform' -> (removed)",)
    assert changed.fix is Fix.REAPPLY and changed.urn == world.first(SUBNET_TYPE, "private-us-east-1a").urn
    assert by_resource[hand_made.instance].type == "ec2:instance"
    assert by_resource[hand_made.instance].since is not None  # the launch time
    assert by_resource[hand_made.security_group].fix is Fix.DELETE
    assert by_resource[f"arn:aws:s3:::{SCRATCH_BUCKET}"].fix is Fix.IMPORT


def test_the_deployment_had_no_drift_before_the_hand_made_changes(env: Deployed) -> None:
    assert env.clean == []


class DeniedEc2Session:
    """Test double of a boto3 session whose EC2 describes are denied, as IAM would deny them; every
    other client is the real one on the moto server."""

    def __init__(self, endpoint: str) -> None:
        self.real = boto3.Session(region_name=MOTO_REGION)
        self.endpoint = endpoint

    def client(self, service: str, config: Any = None) -> Any:
        client = self.real.client(service, endpoint_url=self.endpoint, config=config)  # type: ignore[call-overload]
        if service == "ec2":

            def deny(request: Any, **_: Any) -> None:
                from botocore.exceptions import ClientError

                raise ClientError(
                    {"Error": {"Code": "UnauthorizedOperation", "Message": "not authorized"}}, "Describe"
                )

            client.meta.events.register("before-send.ec2.*", deny)
        return client


def test_a_missing_permission_is_a_finding_not_a_crash(env: Deployed) -> None:
    findings, layer = AwsSweep(DeniedEc2Session(env.endpoint), _state(env.world), "dev").run()
    assert layer.ran
    denied = {f.resource for f in findings if f.kind is Kind.NOT_CHECKED}
    assert "ec2:DescribeInstances" in denied and "ec2:DescribeSecurityGroups" in denied
    assert all(f.fix is Fix.GRANT for f in findings if f.kind is Kind.NOT_CHECKED)
    assert "elasticloadbalancing:DescribeLoadBalancers" not in denied
    # What the Tagging API sees is still reported.
    assert {f.kind for f in findings} == {Kind.NOT_CHECKED, Kind.NOT_IN_STATE, Kind.CHANGED}


def _run_cli(env: Deployed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi, no kubectl: those layers say they were skipped
    monkeypatch.delenv("KUBECONFIG", raising=False)
    state_file = env.world.write_state(tmp_path / "dev.json")
    return CliRunner().invoke(app, ["drift", "dev", "--state", str(state_file), *args])


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "markdown"])
def test_cli_reports_the_drift_in_every_format(
    env: Deployed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    hand_made = env.hand_made
    result = _run_cli(env, tmp_path, monkeypatch, "--format", fmt)
    assert result.exit_code == 1, result.output
    out = result.stdout
    for resource in (hand_made.security_group, hand_made.instance, hand_made.subnet_arn, SCRATCH_BUCKET):
        assert resource in out
    assert hand_made.load_balancer_arn not in out and "k8s-serving-chat" not in out
    if fmt == "json":
        report = json.loads(out)
        assert len(report["findings"]) == 4
        assert {layer["layer"]: layer["ran"] for layer in report["layers"]} == {
            "state": False,
            "aws": True,
            "kubernetes": False,
        }
    elif fmt == "sarif":
        log = json.loads(out)
        schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
        assert list(jsonschema.Draft4Validator(schema).iter_errors(log)) == []
        assert len(log["runs"][0]["results"]) == 4
    elif fmt == "text":
        assert "drift found: stack dev, 4 finding(s)" in out and "state skipped" in out
    else:
        assert out.startswith("### mlenv drift: `dev`") and out.count("| aws | `") == 4


def test_report_dir_writes_every_format_from_one_run(
    env: Deployed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = tmp_path / "reports"
    result = _run_cli(env, tmp_path, monkeypatch, "--report-dir", str(reports))
    assert result.exit_code == 1
    assert sorted(p.name for p in reports.iterdir()) == [
        "drift-dev.json",
        "drift-dev.md",
        "drift-dev.sarif",
        "drift-dev.txt",
    ]
    assert len(json.loads((reports / "drift-dev.json").read_text(encoding="utf-8"))["findings"]) == 4
    assert env.hand_made.instance in (reports / "drift-dev.txt").read_text(encoding="utf-8")
