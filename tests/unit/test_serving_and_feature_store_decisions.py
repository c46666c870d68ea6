"""Pure decisions of the feature store and serving components."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from components.errors import ComponentError
from components.feature_store import glue_database_name, table_name, table_name_template
from components.irsa import ServiceAccountRef, issuer_host
from components.serving_specs import (
    NON_ROOT_UID,
    pod_security,
    probes,
    replica_resources,
    run_as_user,
    runtime_of,
)
from images.catalog import ContainerImage, load_catalog
from stacks.cli.app import write_generated_files
from stacks.offline.plan import UNKNOWN, Plan


def test_feast_template_names_the_tables_mlenv_creates() -> None:
    template = table_name_template("prod")
    assert template.format(project="fraud", table_name="txn") == table_name("prod", "fraud", "txn")
    assert glue_database_name("dev-east", "fraud") == "mlenv_dev_east_fraud"


@pytest.mark.parametrize(
    ("container", "runtime"), [("tritonserver-25.08", "triton"), ("vllm-openai-v0.10.1.1", "vllm")]
)
def test_runtime_comes_from_the_catalog_container(container: str, runtime: str) -> None:
    assert runtime_of(load_catalog().container(container)) == runtime


def test_training_containers_are_not_servable() -> None:
    with pytest.raises(ComponentError, match="neither Triton nor vLLM"):
        runtime_of(load_catalog().container("pytorch-25.01"))


def test_gpu_requests_equal_limits_and_scale_with_gpus() -> None:
    one, four = replica_resources(1), replica_resources(4)
    assert one.requests["nvidia.com/gpu"] == one.limits["nvidia.com/gpu"] == "1"  # type: ignore[index]
    assert four.requests["memory"] == four.limits["memory"] == "48Gi"  # type: ignore[index]


def test_liveness_waits_for_a_long_startup() -> None:
    triton = probes("triton")
    assert triton.startup.failure_threshold * triton.startup.period_seconds >= 600  # type: ignore[operator]


def test_irsa_subject_and_issuer() -> None:
    assert (
        ServiceAccountRef("serving", "model-server").subject == "system:serviceaccount:serving:model-server"
    )
    assert (
        issuer_host("https://oidc.eks.us-east-1.amazonaws.com/id/X/")
        == "oidc.eks.us-east-1.amazonaws.com/id/X"
    )


def test_out_dir_writes_known_feature_store_yaml_only(tmp_path: Path) -> None:
    known = Plan(project="mlenv", stack="s", outputs={"feature_store_yaml": "project: p\n"})
    assert write_generated_files(known, tmp_path) == [tmp_path / "feature_store.yaml"]
    assert (tmp_path / "feature_store.yaml").read_text(encoding="utf-8") == "project: p\n"
    unknown = Plan(project="mlenv", stack="s", outputs={"feature_store_yaml": UNKNOWN})
    assert write_generated_files(unknown, tmp_path / "other") == []


def test_run_as_user_reads_the_catalog_user_of_a_non_root_image() -> None:
    triton = load_catalog().container("tritonserver-25.08")
    assert triton.user is None and run_as_user(triton) == NON_ROOT_UID
    own_user = triton.model_copy(update={"run_as_non_root": True, "user": 2000})
    assert run_as_user(own_user) == 2000
    assert pod_security(own_user).run_as_user == 2000


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"run_as_non_root": True}, "needs the default user's numeric UID"),
        ({"user": 1000}, "only for images whose default user is not root"),
        ({"run_as_non_root": True, "user": 0}, "greater than or equal to 1"),
    ],
)
def test_catalog_user_is_recorded_exactly_for_non_root_images(
    changes: dict[str, object], message: str
) -> None:
    entry = load_catalog().container("tritonserver-25.08").model_dump() | changes
    with pytest.raises(ValidationError, match=message):
        ContainerImage.model_validate(entry)
