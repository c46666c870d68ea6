"""Validate and build image templates with Packer: the steps behind `mlenv images validate|build`.

``validate_template`` renders an image for the installed Packer and runs ``packer validate``;
``build_image`` checks a build spec against the catalog, renders, runs ``packer init`` and
``packer build`` (with the caller's AWS credentials) and adds the new catalog entry from the manifest.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from images.build_spec import BuildParams, BuildSpec, ImageTarget, target_for_entry
from images.catalog import DEFAULT_CATALOG_PATH, load_catalog
from images.catalog_update import CatalogChange, add_image_entry, entry_from_build, placeholder_entry
from images.errors import PackerError
from images.packer import BUILD_TIMEOUT_S, Packer, PackerRun
from images.packer_manifest import load_manifest
from images.render import MANIFEST_FILE, PLUGINS_FILE, RenderedTemplate, render_template

# Packer that knows `required_plugins`, the amazon plugin and the builder's IMDSv2 settings.
MIN_BUILD_PACKER = (1, 7, 0)


def version_tuple(version: str) -> tuple[int, ...]:
    """``"1.6.6"`` -> ``(1, 6, 6)``; a pre-release or ``v`` prefix is ignored."""
    core = version.strip().lstrip("v").split("-", 1)[0]
    return tuple(int(part) for part in core.split(".") if part.isdigit())


@dataclass(frozen=True)
class ValidateResult:
    """A rendered template that ``packer validate`` accepted."""

    template: RenderedTemplate
    packer_version: str
    legacy: bool
    """True when the installed Packer is older than 1.7 and the IMDSv2 settings were not checked."""
    run: PackerRun


def validate_template(
    target: ImageTarget, params: BuildParams, packer: Packer, *, out_dir: Path | None = None
) -> ValidateResult:
    """Render for the installed Packer and run ``packer validate``; ``PackerError`` if it rejects it.

    ``plugins.pkr.hcl`` is always left out: with it Packer wants ``packer init``, which downloads.
    """
    version = packer.version()
    legacy = version_tuple(version) < MIN_BUILD_PACKER
    rendered = render_template(target, params, legacy_packer=legacy).without(PLUGINS_FILE)
    with tempfile.TemporaryDirectory(prefix=f"mlenv-validate-{target.id}-") as tmp:
        where = out_dir or Path(tmp)
        rendered.write(where)
        run = packer.validate(where)
    return ValidateResult(template=rendered, packer_version=version, legacy=legacy, run=run)


@dataclass(frozen=True)
class BuildResult:
    """A finished build and the catalog change it made."""

    template_dir: Path
    packer_version: str
    amis: dict[str, str]
    change: CatalogChange


def check_spec(spec: BuildSpec, catalog_path: Path) -> None:
    """Everything that can be checked before Packer runs: the id is new, the containers exist and the
    entry the build would add is valid (with made-up AMI ids)."""
    add_image_entry(catalog_path, placeholder_entry(spec), write=False)


def build_image(
    spec: BuildSpec,
    packer: Packer,
    *,
    catalog_path: Path = DEFAULT_CATALOG_PATH,
    out_dir: Path | None = None,
    timeout_s: float = BUILD_TIMEOUT_S,
) -> BuildResult:
    """Build ``spec`` with Packer and add its catalog entry. Runs AWS resources on the caller's account."""
    check_spec(spec, catalog_path)
    catalog = load_catalog(catalog_path)
    version = packer.version()
    if version_tuple(version) < MIN_BUILD_PACKER:
        raise PackerError(
            f"packer {version} cannot build mlenv images (needs >= "
            f"{'.'.join(map(str, MIN_BUILD_PACKER))} for required_plugins and IMDSv2 settings); "
            "install a current release from https://developer.hashicorp.com/packer/install"
        )
    rendered = render_template(target_for_entry(spec.image, catalog), spec.build)
    template_dir = out_dir or Path(tempfile.mkdtemp(prefix=f"mlenv-build-{spec.image.id}-"))
    rendered.write(template_dir)
    # Packer appends to an existing manifest; a stale one must not be mistaken for this run.
    (template_dir / MANIFEST_FILE).unlink(missing_ok=True)
    packer.init(template_dir)
    packer.build(template_dir, timeout_s=timeout_s)
    build = load_manifest(template_dir / MANIFEST_FILE).last_build()
    entry = entry_from_build(spec, build, catalog, template_digest=rendered.digest, packer_version=version)
    change = add_image_entry(catalog_path, entry)
    return BuildResult(
        template_dir=template_dir, packer_version=version, amis=dict(entry["amis"]), change=change
    )
