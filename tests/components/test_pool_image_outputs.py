"""Provenance from golden image to stack: per GPU pool, the stack outputs name the image, AMI, driver and
CUDA the pool was registered with, and the image's build provenance from the catalog."""

from __future__ import annotations

import shutil
from pathlib import Path

from components.gpu_node_pool import image_provenance
from components.scheduling import LABEL_CUDA, LABEL_DRIVER, LABEL_IMAGE
from images.build_spec import load_build_spec
from images.catalog import DEFAULT_CATALOG_PATH, load_catalog
from images.catalog_update import add_image_entry, entry_from_build
from images.packer_manifest import load_manifest
from stacks.offline.plan import Plan
from tests.components.compute_helpers import LAUNCH_TEMPLATE, NODE_GROUP, gpu_pools, pool_resource

FIXTURES = Path(__file__).parents[1] / "unit" / "fixtures"


def test_pool_outputs_match_what_each_pool_registered(plan: Plan) -> None:
    exported = plan.outputs["gpu_pools"]
    pools = gpu_pools(plan)
    node_pools = {
        p.inputs["metadata"]["name"]: p for p in plan.of_type("kubernetes:karpenter.sh/v1:NodePool")
    }
    assert sorted(exported) == sorted([*pools, *node_pools])
    for name, node_pool in node_pools.items():
        labels = node_pool.plain_inputs()["spec"]["template"]["metadata"]["labels"]
        out = exported[name]
        assert (out["capacity"], out["node_pool"]) == ("elastic", name)
        assert (
            out["node_class"] == node_pool.plain_inputs()["spec"]["template"]["spec"]["nodeClassRef"]["name"]
        )
        assert (out["image_id"], out["driver"], out["cuda"]) == (
            labels[LABEL_IMAGE],
            labels[LABEL_DRIVER],
            labels[LABEL_CUDA],
        )
    for name, component in pools.items():
        template = pool_resource(plan, component.urn, LAUNCH_TEMPLATE).plain_inputs()
        labels = pool_resource(plan, component.urn, NODE_GROUP).plain_inputs()["labels"]
        out = exported[name]
        assert out["ami_id"] == template["imageId"]
        assert (out["image_id"], out["driver"], out["cuda"]) == (
            labels[LABEL_IMAGE],
            labels[LABEL_DRIVER],
            labels[LABEL_CUDA],
        )


def test_pool_outputs_carry_the_images_build_provenance_from_the_catalog(plan: Plan) -> None:
    catalog = load_catalog()
    for out in plan.outputs["gpu_pools"].values():
        provenance = catalog.image(out["image_id"]).provenance
        assert provenance is not None and provenance.source_ami is not None
        assert out["image_provenance"]["source_ami"] == provenance.source_ami


def test_a_built_image_exposes_everything_the_build_recorded(tmp_path: Path) -> None:
    # The catalog entry exactly as `mlenv images build` writes it from a Packer manifest.
    catalog_path = tmp_path / "catalog.yaml"
    shutil.copyfile(DEFAULT_CATALOG_PATH, catalog_path)
    spec = load_build_spec(FIXTURES / "build-spec.yaml")
    entry = entry_from_build(
        spec,
        load_manifest(FIXTURES / "packer-manifest.json").last_build(),
        load_catalog(),
        template_digest="sha256:" + "0" * 64,
        packer_version="1.11.2",
    )
    add_image_entry(catalog_path, entry)
    catalog = load_catalog(catalog_path)
    built = catalog.image(spec.image.id)

    recorded = image_provenance(built)

    assert recorded is not None
    assert recorded["source_ami"] == spec.build.source_ami
    assert recorded["built_at"] == "2025-12-01T10:00:00Z"
    assert recorded["packer_version"] == "1.11.2"
    assert recorded["container_digests"] == {c.id: c.digest for c in catalog.containers_of(built.id)}
    assert (recorded["fabric_manager"], recorded["efa"], recorded["kernel_modules"]) == (
        spec.build.fabric_manager,
        spec.build.efa,
        spec.build.kernel_modules,
    )
