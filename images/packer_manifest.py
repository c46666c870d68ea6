"""Packer's manifest post-processor output (``packer-manifest.json``), parsed into typed results.

Format (Packer docs, post-processor "manifest"): ``{"builds": [{"name", "builder_type", "build_time",
"files", "artifact_id", "packer_run_uuid", "custom_data"}], "last_run_uuid"}``; ``build_time`` is left
out with ``strip_time``, ``files`` is null for builders without files (amazon-ebs). Packer appends a
build to an existing file on every run, so the builds of the latest run are those whose
``packer_run_uuid`` equals ``last_run_uuid``. For amazon-ebs, ``artifact_id`` is ``region:ami-id``
pairs joined by commas.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from images.errors import PackerError

_ARTIFACT_PAIR = re.compile(r"^(?P<region>[a-z]{2}(-[a-z]+)+-[0-9]):(?P<ami>ami-[0-9a-f]{8,17})$")


@dataclass(frozen=True)
class ManifestBuild:
    """One entry of ``builds``."""

    name: str
    builder_type: str
    build_time: int | None
    """Unix time the build finished; ``None`` when the post-processor ran with ``strip_time``."""
    artifact_id: str
    packer_run_uuid: str
    custom_data: Mapping[str, str] = field(default_factory=dict)
    files: tuple[Mapping[str, Any], ...] = ()

    @property
    def amis(self) -> dict[str, str]:
        """Region -> AMI id from an amazon-ebs ``artifact_id`` (``us-east-1:ami-...,us-west-2:ami-...``)."""
        amis: dict[str, str] = {}
        for pair in filter(None, (part.strip() for part in self.artifact_id.split(","))):
            match = _ARTIFACT_PAIR.match(pair)
            if match is None:
                raise PackerError(
                    f"manifest build {self.name!r}: artifact_id part {pair!r} is not 'region:ami-id' "
                    f"(artifact_id {self.artifact_id!r}, builder {self.builder_type})"
                )
            if match["region"] in amis:
                raise PackerError(f"manifest build {self.name!r}: region {match['region']} appears twice")
            amis[match["region"]] = match["ami"]
        if not amis:
            raise PackerError(f"manifest build {self.name!r} has no AMI in its artifact_id")
        return amis


@dataclass(frozen=True)
class PackerManifest:
    """The whole manifest file."""

    builds: tuple[ManifestBuild, ...]
    last_run_uuid: str

    def last_run(self) -> tuple[ManifestBuild, ...]:
        """The builds of the latest run (older runs' builds stay in an appended-to file)."""
        return tuple(b for b in self.builds if b.packer_run_uuid == self.last_run_uuid)

    def last_build(self) -> ManifestBuild:
        """The single build of the latest run; ``PackerError`` if it has none or several."""
        builds = self.last_run()
        if len(builds) != 1:
            names = ", ".join(b.name for b in builds) or "none"
            raise PackerError(
                f"expected one build in the manifest's last run {self.last_run_uuid}, found {len(builds)}"
                f" ({names})"
            )
        return builds[0]


def _require(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise PackerError(
            f"{where}: `{key}` missing or not a {getattr(kind, '__name__', kind)} (got {value!r})"
        )
    return value


def parse_manifest(text: str, source: str = "<manifest>") -> PackerManifest:
    """Parse manifest JSON text; ``PackerError`` naming the field when it is not Packer's format."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PackerError(f"{source}: not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise PackerError(f"{source}: expected an object with `builds` and `last_run_uuid`")
    builds = []
    for index, item in enumerate(_require(raw, "builds", list, source)):
        where = f"{source}: builds[{index}]"
        if not isinstance(item, dict):
            raise PackerError(f"{where}: expected an object")
        custom = item.get("custom_data") or {}
        if not isinstance(custom, dict) or not all(isinstance(v, str) for v in custom.values()):
            raise PackerError(f"{where}: custom_data must map names to strings (got {custom!r})")
        files = item.get("files") or []
        builds.append(
            ManifestBuild(
                name=_require(item, "name", str, where),
                builder_type=_require(item, "builder_type", str, where),
                build_time=None
                if item.get("build_time") is None
                else _require(item, "build_time", int, where),
                artifact_id=_require(item, "artifact_id", str, where),
                packer_run_uuid=_require(item, "packer_run_uuid", str, where),
                custom_data=dict(custom),
                files=tuple(files) if isinstance(files, list) else (),
            )
        )
    return PackerManifest(builds=tuple(builds), last_run_uuid=_require(raw, "last_run_uuid", str, source))


def load_manifest(path: Path | str) -> PackerManifest:
    """Read and parse a ``packer-manifest.json``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PackerError(f"cannot read the Packer manifest {path}: {exc.strerror or exc}") from None
    return parse_manifest(text, source=str(path))
