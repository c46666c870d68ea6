"""Add a built image to images/catalog.yaml as a NEW entry, never touching the existing ones.

``entry_from_build`` turns a build spec and Packer's manifest (AMI ids per region, provenance in
``custom_data``) into a catalog entry; ``add_image_entry`` appends it to the ``images`` list and returns
the diff to commit. The file is changed by inserting text only: ruamel.yaml (round-trip) locates the
end of the ``images`` list and emits the new entry in the file's style, and every existing byte (order,
comments, quoting, flow lists) stays as it was. The result is validated with ``parse_catalog`` before
it is written, so a build can never leave an invalid catalog behind.
"""

from __future__ import annotations

import difflib
import io
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from images.build_spec import BuildSpec
from images.catalog import Catalog, parse_catalog
from images.errors import CatalogError, PackerError
from images.packer_manifest import ManifestBuild

# Fields quoted in the file so YAML never reads a version as a number ("13.0" -> 13.0).
_QUOTED = ("driver_version", "cuda_max", "kubernetes_version")


@dataclass(frozen=True)
class CatalogChange:
    """A catalog file before and after adding one image entry."""

    path: Path
    image_id: str
    before: str
    after: str

    @property
    def diff(self) -> str:
        """Unified diff of the change, to review and commit."""
        # git's a/ b/ prefixes when the catalog is under the working directory, as in a repository.
        rel = os.path.relpath(self.path.resolve())
        old, new = (f"a/{rel}", f"b/{rel}") if not rel.startswith("..") else (str(self.path),) * 2
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=old,
                tofile=new,
            )
        )


def entry_from_build(
    spec: BuildSpec, build: ManifestBuild, catalog: Catalog, *, template_digest: str, packer_version: str
) -> dict[str, Any]:
    """The catalog entry for a finished build: the spec's image fields, the manifest's AMIs and the
    provenance the template put into ``custom_data``. ``PackerError`` if the manifest is not this build's."""
    data = build.custom_data
    image = spec.image
    expected = {
        "image_id": image.id,
        "source_ami": spec.build.source_ami,
        "driver_version": image.driver_version,
        "cuda_max": image.cuda_max,
        "kernel": image.kernel,
        "kubernetes_version": image.kubernetes_version,
        "fabric_manager": str(spec.build.fabric_manager).lower(),
        "efa": str(spec.build.efa).lower(),
        "kernel_modules": spec.build.kernel_modules,
    }
    mismatched = [
        f"{key}={data.get(key)!r} (spec: {want!r})" for key, want in expected.items() if data.get(key) != want
    ]
    if mismatched:
        raise PackerError(f"the Packer manifest does not describe this build: {', '.join(mismatched)}")
    amis = build.amis
    missing = [region for region in spec.build.regions if region not in amis]
    if missing:
        raise PackerError(
            f"the build produced no AMI in {', '.join(missing)} (artifact: {build.artifact_id})"
        )
    entry: dict[str, Any] = {"id": image.id}
    if image.description:
        entry["description"] = image.description
    entry |= {
        "os_family": image.os_family,
        "architecture": image.architecture,
        "driver_version": image.driver_version,
        "cuda_max": image.cuda_max,
        "kernel": image.kernel,
        "kubernetes_version": image.kubernetes_version,
        "amis": {region: amis[region] for region in spec.build.regions},
        "containers": list(image.containers),
        "provenance": {
            "source_ami": spec.build.source_ami,
            "built_at": data.get("built_at") or _iso(build.build_time),
            "packer_version": data.get("packer_version") or packer_version,
            "template": template_digest,
            "build_id": build.packer_run_uuid,
            "container_digests": _pulled_digests(data, image.containers, catalog),
            "fabric_manager": spec.build.fabric_manager,
            "efa": spec.build.efa,
            "kernel_modules": spec.build.kernel_modules,
        },
    }
    return entry


def _iso(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat().replace("+00:00", "Z")


def _pulled_digests(
    data: Mapping[str, str], container_ids: tuple[str, ...], catalog: Catalog
) -> dict[str, str]:
    """Container id -> digest the build pulled, checked against the catalog's containers table."""
    try:
        refs = json.loads(data.get("container_refs", "{}"))
    except json.JSONDecodeError:
        raise PackerError(
            f"manifest custom_data.container_refs is not JSON: {data.get('container_refs')!r}"
        ) from None
    digests: dict[str, str] = {}
    for cid in container_ids:
        ref = refs.get(cid) if isinstance(refs, dict) else None
        want = catalog.container(cid)
        if not isinstance(ref, str) or ref != f"{want.repository}@{want.digest}":
            raise PackerError(
                f"the build pulled {ref!r} for container {cid!r}, the catalog pins {want.digest}"
            )
        digests[cid] = want.digest
    return digests


def placeholder_entry(spec: BuildSpec) -> dict[str, Any]:
    """The entry a build of ``spec`` would add, with made-up AMI ids: checking it against the catalog
    before a build catches a taken id or an unknown container before an hour of Packer."""
    entry: dict[str, Any] = spec.image.model_dump(exclude_none=True)
    entry["containers"] = list(spec.image.containers)
    entry["amis"] = {region: f"ami-{index:017x}" for index, region in enumerate(spec.build.regions)}
    return entry


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _entry_text(entry: Mapping[str, Any]) -> list[str]:
    """The entry as ``  - id: ...`` lines, in the catalog's style (versions quoted, flow container list)."""
    node = CommentedMap()
    for key, value in entry.items():
        if key in _QUOTED:
            value = DoubleQuotedScalarString(value)
        elif key == "containers":
            value = CommentedSeq(value)
            value.fa.set_flow_style()
        elif key == "provenance":
            # Unknown fields are left out rather than written as null.
            value = CommentedMap(
                {
                    k: DoubleQuotedScalarString(v) if k == "built_at" else v
                    for k, v in value.items()
                    if v is not None
                }
            )
        node[key] = value
    buf = io.StringIO()
    _yaml().dump({"images": [node]}, buf)
    lines = buf.getvalue().splitlines(keepends=True)
    return lines[1:]  # drop "images:"


def _insertion_line(text: str, source: str) -> int:
    """Index of the line after the last line of the ``images`` list."""
    try:
        doc = _yaml().load(text)
    except Exception as exc:  # ruamel raises many unrelated types for bad YAML
        raise CatalogError(f"{source}: not valid YAML: {exc}") from None
    images = doc.get("images") if isinstance(doc, CommentedMap) else None
    if not isinstance(images, CommentedSeq) or not images or images.fa.flow_style():
        raise CatalogError(f"{source}: `images` must be a non-empty block list to append an entry to")
    lines = text.splitlines(keepends=True)
    keys = list(doc.keys())
    after = keys[keys.index("images") + 1 :]
    end = doc.lc.key(after[0])[0] if after else len(lines)
    # Blank lines and top-level comments before the next key belong to the next section.
    while end > 0 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1
    return end


def add_image_entry(path: Path | str, entry: Mapping[str, Any], *, write: bool = True) -> CatalogChange:
    """Append ``entry`` to the catalog's ``images``; ``CatalogError`` if its id exists or the result is
    invalid. With ``write=False`` only checks and returns the change."""
    path = Path(path)
    try:
        before = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"cannot read the image catalog {path}: {exc.strerror or exc}") from None
    current = parse_catalog(before, source=str(path))
    image_id = str(entry["id"])
    if image_id in current.image_ids:
        raise CatalogError(
            f"image id {image_id!r} is already in {path}; catalog entries are never changed: give the new "
            "build a new id (the date suffix of the id is the build date)"
        )
    lines = before.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    at = _insertion_line(before, str(path))
    after = "".join([*lines[:at], "\n", *_entry_text(entry), *lines[at:]])
    try:
        parse_catalog(after, source=f"{path} with the new entry {image_id}")
    except CatalogError as exc:
        raise CatalogError(f"the new entry {image_id!r} would make the catalog invalid: {exc}") from None
    change = CatalogChange(path=path, image_id=image_id, before=before, after=after)
    if write:
        _atomic_write(path, after)
    return change


def _atomic_write(path: Path, text: str) -> None:
    # A reader (or a crash) never sees half a catalog.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).chmod(path.stat().st_mode & 0o777)
        Path(tmp).replace(path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise CatalogError(f"cannot write the image catalog {path}: {exc.strerror or exc}") from None
