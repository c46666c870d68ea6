"""What `mlenv images list` shows: the catalog's images with containers and build provenance."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from images.catalog import Catalog, ImageEntry


def image_record(image: ImageEntry, catalog: Catalog) -> dict[str, Any]:
    """One image as plain JSON data: catalog fields, containers by digest and provenance (or null)."""
    return {
        "id": image.id,
        "os_family": image.os_family,
        "architecture": image.architecture,
        "driver_version": image.driver_version,
        "cuda_max": image.cuda_max,
        "kernel": image.kernel,
        "kubernetes_version": image.kubernetes_version,
        "amis": dict(image.amis),
        "containers": [
            {"id": c.id, "repository": c.repository, "tag": c.tag, "digest": c.digest}
            for c in catalog.containers_of(image.id)
        ],
        "provenance": image.provenance.model_dump(mode="json") if image.provenance else None,
    }


def catalog_records(catalog: Catalog) -> list[dict[str, Any]]:
    """Every image, in file order."""
    return [image_record(image, catalog) for image in catalog.images]


def catalog_table(catalog: Catalog) -> Table:
    """The catalog as a rich table; digests are shortened to 12 hex digits for reading, not pinning."""
    table = Table(title=f"images in {catalog.source}", show_lines=True)
    for column in ("id", "OS", "driver", "CUDA", "regions", "containers", "provenance"):
        table.add_column(column, overflow="fold")
    for image in catalog.images:
        containers = "\n".join(f"{c.id} {c.digest[:19]}" for c in catalog.containers_of(image.id))
        prov = image.provenance
        provenance = (
            f"built {prov.built_at:%Y-%m-%d} from {prov.source_ami}\npacker {prov.packer_version}"
            if prov and prov.built_at
            else "registered by hand"
        )
        table.add_row(
            image.id,
            f"{image.os_family} ({image.architecture})\nkernel {image.kernel}",
            image.driver_version,
            f"<= {image.cuda_max}",
            "\n".join(f"{region} {ami}" for region, ami in image.amis.items()),
            containers or "-",
            provenance,
        )
    return table
