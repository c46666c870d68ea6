"""Render the Packer HCL2 template of an image from images/templates/ (Jinja2).

``render_template(target, params)`` returns the files of one template directory: ``image.pkr.hcl``
(source, provisioners, manifest post-processor), ``plugins.pkr.hcl`` (the ``packer {}`` block, kept
apart so the rest validates with Packer < 1.7) and the provisioner scripts under ``scripts/``.
Rendering is pure: no network, no Packer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jinja2

from images.build_spec import BuildParams, ImageTarget
from images.errors import ImagesError

TEMPLATE_DIR = Path(__file__).with_name("templates")
SCRIPTS_DIR = TEMPLATE_DIR / "scripts"
MAIN_FILE = "image.pkr.hcl"
PLUGINS_FILE = "plugins.pkr.hcl"
MANIFEST_FILE = "packer-manifest.json"
PROVENANCE_PATH = "/etc/mlenv/image-provenance.json"
# `required_plugins` and the builder's metadata_options / imds_support need these.
MIN_PACKER_VERSION = ">= 1.7.0"
AMAZON_PLUGIN_VERSION = ">= 1.2.0, < 2.0.0"


@dataclass(frozen=True)
class RenderedTemplate:
    """The files of one rendered template directory, by relative path."""

    image_id: str
    files: Mapping[str, str]

    @property
    def digest(self) -> str:
        """``sha256:...`` over every file's path and content: what the provenance calls the template."""
        sha = hashlib.sha256()
        for name in sorted(self.files):
            sha.update(name.encode() + b"\0" + self.files[name].encode() + b"\0")
        return f"sha256:{sha.hexdigest()}"

    def without(self, *names: str) -> RenderedTemplate:
        """The same template minus some files (``packer validate`` runs without ``plugins.pkr.hcl``)."""
        return RenderedTemplate(self.image_id, {k: v for k, v in self.files.items() if k not in names})

    def write(self, out_dir: Path | str) -> list[Path]:
        """Write the files under ``out_dir`` (created if needed); scripts are made executable."""
        root = Path(out_dir)
        written = []
        try:
            for name, text in sorted(self.files.items()):
                path = root / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                if name.endswith(".sh"):
                    path.chmod(0o755)
                written.append(path)
        except OSError as exc:
            raise ImagesError(f"cannot write the template to {root}: {exc.strerror or exc}") from None
        return written


def hcl_string(value: object) -> str:
    """An HCL2 quoted string literal. JSON escaping is valid HCL; ``${`` and ``%{`` are escaped so text
    from the catalog (a description) can never become an interpolation."""
    return json.dumps(str(value)).replace("${", "$${").replace("%{", "%%{")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # HCL, not HTML: values are quoted by the `hcl` filter instead
    )
    env.filters["hcl"] = hcl_string
    return env


def render_template(
    target: ImageTarget, params: BuildParams, *, legacy_packer: bool = False
) -> RenderedTemplate:
    """Render the template directory of ``target`` built with ``params``.

    ``legacy_packer`` renders for *validation* with Packer < 1.7: without ``plugins.pkr.hcl`` and
    without the builder's IMDSv2 settings, which that Packer rejects. Never build from it.
    """
    env = _environment()
    context = {
        "target": target,
        "params": params,
        "legacy_packer": legacy_packer,
        "manifest_file": MANIFEST_FILE,
        "provenance_path": PROVENANCE_PATH,
        "min_packer_version": MIN_PACKER_VERSION,
        "amazon_plugin_version": AMAZON_PLUGIN_VERSION,
    }
    files = {MAIN_FILE: env.get_template(f"{MAIN_FILE}.j2").render(context)}
    if not legacy_packer:
        files[PLUGINS_FILE] = env.get_template(f"{PLUGINS_FILE}.j2").render(context)
    for script in sorted(SCRIPTS_DIR.glob("*.sh")):
        # Optional components' scripts ship only when the template calls them.
        if (script.name == "40-fabric-manager.sh" and not params.fabric_manager) or (
            script.name == "50-efa.sh" and not params.efa
        ):
            continue
        files[f"scripts/{script.name}"] = script.read_text(encoding="utf-8")
    return RenderedTemplate(target.id, files)
