"""What `mlenv images list` shows: the catalog's images with containers and build provenance."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

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


DIGEST_SHOWN = len("sha256:") + 12
"""Digests in the default listing: the algorithm and 12 hex digits, as `docker images` shows ids; for
reading only. The full digest is what pins an image: `--wide` and `--json` show it."""


def short_digest(digest: str) -> str:
    """``sha256:5b8f4692ecdf…``: whole up to the cut, never split across lines."""
    return digest if len(digest) <= DIGEST_SHOWN else digest[:DIGEST_SHOWN] + "…"


LABEL_WIDTH = 12


def _pairs(rows: list[tuple[str, str]]) -> list[str]:
    width = max((len(key) for key, _ in rows), default=0)
    return [f"{key:<{width}}  {value}" for key, value in rows]


def image_block(image: ImageEntry, catalog: Catalog, *, wide: bool = False) -> Group:
    """One image, as `kubectl describe` prints an object: its id on its own line, then labelled facts.

    Plain lines with no padding cells: a terminal wraps them between words (an AMI id or a digest is
    one word, never split) and a pipe gets them as they are.
    """
    containers = [
        (c.id, c.digest if wide else short_digest(c.digest)) for c in catalog.containers_of(image.id)
    ]
    sections: list[tuple[str, list[str]]] = [
        ("OS", [f"{image.os_family} ({image.architecture})"]),
        ("kernel", [image.kernel]),
        ("driver", [f"{image.driver_version}, CUDA <= {image.cuda_max}"]),
        ("AMIs", _pairs(list(image.amis.items()))),
        ("containers", _pairs(containers) or ["-"]),
        ("provenance", provenance_text(image.provenance).splitlines()),
    ]
    lines: list[RenderableType] = [Text(image.id, style="bold")]
    for label, values in sections:
        for i, value in enumerate(values):
            line = Text("  ")
            line.append(f"{label if i == 0 else '':<{LABEL_WIDTH}}", style="dim")
            line.append(value)
            lines.append(line)
    return Group(*lines)


def catalog_listing(catalog: Catalog, *, wide: bool = False) -> Group:
    """Every image in file order, one block each, then where the catalog is."""
    parts: list[RenderableType] = []
    for image in catalog.images:
        parts += [image_block(image, catalog, wide=wide), Text("")]
    count = len(catalog.images)
    parts.append(Text(f"{count} image{'s' if count != 1 else ''} in {catalog.source}", style="dim"))
    return Group(*parts)


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
