"""The deployment-v3 reader of `mlenv drift` against the format ``pulumi stack export`` writes.

The documented fields (pulumi/pulumi ``sdk/go/common/apitype/deployments.json`` and
``resources.json``: ``version`` 3, ``deployment.manifest`` with ``time``/``magic``/``version``,
``resources`` of ResourceV3) are read; bad files exit 2 with the file, the field and the fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stacks.cli.app import app
from stacks.drift.errors import StateFileError
from stacks.drift.state import parse_state

STACK_URN = "urn:pulumi:dev::mlenv::pulumi:pulumi:Stack::mlenv-dev"
VPC_URN = "urn:pulumi:dev::mlenv::mlenv:network:Network$aws:ec2/vpc:Vpc::dev"
PROVIDER_URN = "urn:pulumi:dev::mlenv::pulumi:providers:aws::default_7_0_0"


def export() -> dict[str, Any]:
    """A v3 export as the CLI writes it (secrets provider, plugins, created/modified included)."""
    return {
        "version": 3,
        "deployment": {
            "manifest": {
                "time": "2026-11-21T10:00:00.123456Z",
                "magic": "0ab1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1",
                "version": "v3.200.0",
                "plugins": [{"name": "aws", "path": "/p", "type": "resource", "version": "7.3.0"}],
            },
            "secrets_providers": {"type": "passphrase", "state": {"salt": "v1:abc"}},
            "resources": [
                {"urn": STACK_URN, "custom": False, "type": "pulumi:pulumi:Stack", "outputs": {}},
                {
                    "urn": PROVIDER_URN,
                    "custom": True,
                    "id": "3b2a",
                    "type": "pulumi:providers:aws",
                    "inputs": {"region": "eu-west-1"},
                    "outputs": {"region": "eu-west-1"},
                },
                {
                    "urn": VPC_URN,
                    "custom": True,
                    "id": "vpc-0a1b2c3d",
                    "type": "aws:ec2/vpc:Vpc",
                    "inputs": {"cidrBlock": "10.20.0.0/16", "tags": {"mlenv:stack": "dev"}},
                    "outputs": {
                        "arn": "arn:aws:ec2:eu-west-1:111122223333:vpc/vpc-0a1b2c3d",
                        "tags": {"mlenv:stack": "dev"},
                        "tagsAll": {"mlenv:stack": "dev", "team": "ml"},
                    },
                    "parent": STACK_URN,
                    "provider": f"{PROVIDER_URN}::3b2a",
                    "created": "2026-11-20T09:00:00Z",
                    "modified": "2026-11-21T10:00:01Z",
                },
                {
                    "urn": "urn:pulumi:dev::mlenv::aws:ec2/vpc:Vpc::default",
                    "custom": True,
                    "id": "vpc-default",
                    "type": "aws:ec2/vpc:Vpc",
                    "external": True,
                },
            ],
            "pending_operations": [],
        },
    }


def test_reads_the_documented_fields() -> None:
    state = parse_state(export(), source="dev.json")
    assert (state.project, state.stack) == ("mlenv", "dev")
    managed = list(state.managed())
    assert [r.urn for r in managed] == [VPC_URN]  # providers and read (external) resources excluded
    (vpc,) = managed
    assert vpc.tags() == {"mlenv:stack": "dev", "team": "ml"}  # tagsAll: with provider default tags
    assert vpc.modified == "2026-11-21T10:00:01Z" and vpc.parent == STACK_URN
    assert state.ids() == {"vpc-0a1b2c3d", "arn:aws:ec2:eu-west-1:111122223333:vpc/vpc-0a1b2c3d"}


def _broken(change: str) -> Any:
    data = export()
    deployment = data["deployment"]
    if change == "version":
        data["version"] = 2
    elif change == "manifest":
        del deployment["manifest"]["magic"]
    elif change == "urn":
        deployment["resources"][2]["urn"] = "vpc-0a1b2c3d"
    elif change == "resources":
        deployment["resources"] = {"urn": VPC_URN}
    elif change == "outputs":
        deployment["resources"][2]["outputs"] = ["arn"]
    elif change == "list":
        return [data]
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("version", "version: 2 is not a deployment"),
        ("manifest", "deployment.manifest"),
        ("urn", "deployment.resources[2].urn: 'vpc-0a1b2c3d' is not a Pulumi URN"),
        ("resources", "deployment.resources: expected a list"),
        ("outputs", "deployment.resources[2].outputs: expected an object"),
        ("list", "expected a JSON object, got list"),
    ],
)
def test_bad_exports_name_the_field(change: str, message: str) -> None:
    with pytest.raises(StateFileError, match=r"dev\.json") as raised:
        parse_state(_broken(change), source="dev.json")
    assert message in str(raised.value)
    assert raised.value.exit_code == 2


@pytest.mark.parametrize("content", ["{not json", json.dumps({"version": 4, "deployment": {}}), None])
def test_bad_state_files_exit_2_without_a_traceback(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "state.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(app, ["drift", "dev", "--state", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and str(path) in result.output
    assert "pulumi stack export" in result.output


def test_the_state_of_another_stack_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(export()), encoding="utf-8")
    result = CliRunner().invoke(app, ["drift", "prod", "--state", str(path)])
    assert result.exit_code == 2
    assert "state of stack 'dev', not 'prod'" in result.output
