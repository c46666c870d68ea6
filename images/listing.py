"""What `mlenv images list` shows: the catalog's images with containers and build provenance."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from images.catalog import Catalog, ImageEntry, Provenance


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
    table.add_column("id", no_wrap=True)
    for column in ("OS", "driver", "CUDA", "regions", "containers", "provenance"):
        table.add_column(column, overflow="fold")
    for image in catalog.images:
        containers = "\n".join(f"{c.id} {c.digest[:19]}" for c in catalog.containers_of(image.id))
        table.add_row(
            image.id,
            f"{image.os_family} ({image.architecture})\nkernel {image.kernel}",
            image.driver_version,
            f"<= {image.cuda_max}",
            "\n".join(f"{region} {ami}" for region, ami in image.amis.items()),
            containers or "-",
            provenance_text(image.provenance),
        )
    return table


def provenance_text(prov: Provenance | None) -> str:
    """A few lines saying how an image was built, or that it was registered by hand."""
    if prov is None:
        return "registered by hand"
    lines = [
        f"built {prov.built_at.isoformat(timespec='minutes')}" if prov.built_at else "registered by hand"
    ]
    if prov.source_ami:
        lines.append(f"from {prov.source_ami}")
    if prov.packer_version:
        lines.append(f"packer {prov.packer_version}")
    options = [
        name for name, on in (("fabric manager", prov.fabric_manager), ("EFA", prov.efa)) if on is True
    ]
    if prov.kernel_modules:
        options.append(f"{prov.kernel_modules} kernel modules")
    if options:
        lines.append(", ".join(options))
    if prov.container_digests:
        lines.append(f"{len(prov.container_digests)} containers pre-pulled")
    return "\n".join(lines)
