"""`mlenv images ...`: commands over the image catalog and EC2's GPU instance-type data.

``images_app`` is mounted into the root `mlenv` command. Exit codes (also in every command's --help):

- 0: ok.
- 1: AWS, Packer or environment problem: credentials, network, EC2 API error; packer missing, too old
  to build, failed (its last lines are quoted) or timed out; a manifest that does not describe the build.
- 2: bad input: invalid catalog, data file or build spec, unknown image or container id, an image id
  already in the catalog, unreadable or unwritable path, bad option value.

Errors are reported by ``stacks.cli.errors``: one message, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from images.build import build_image, check_spec, validate_template
from images.build_spec import BuildParams, ImageTarget, load_build_spec, params_for_entry, target_for_entry
from images.catalog import DEFAULT_CATALOG_PATH, load_catalog
from images.instance_types import DEFAULT_INSTANCE_TYPES_PATH, refresh_command
from images.listing import catalog_listing, catalog_records
from images.packer import BUILD_TIMEOUT_S, Packer
from images.render import render_template
from stacks.cli.errors import command_group, consoles, reports_errors

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 AWS, Packer or environment problem (credentials, network, EC2 API error, "
    "packer missing, too old, failed or timed out); "
    "2 bad input (invalid catalog, data file or build spec, unknown image, id already in the catalog, "
    "unreadable or unwritable path)."
)

images_app = command_group(
    "images",
    "Pinned CUDA node images: the approved-image catalog and EC2's GPU instance-type data. "
    + EXIT_CODES_HELP,
)


@images_app.callback()
def images_root() -> None:
    """Pinned CUDA node images: the approved-image catalog and EC2's GPU instance-type data."""


@images_app.command("refresh-instance-types", epilog=EXIT_CODES_HELP)
@reports_errors
def refresh_instance_types_cmd(
    region: Annotated[
        str, typer.Option(help="AWS region to ask; GPU instance types differ little between regions.")
    ] = "us-east-1",
    endpoint_url: Annotated[
        str | None,
        typer.Option(help="EC2 endpoint to call instead of AWS, e.g. a local moto server in tests."),
    ] = None,
    output: Annotated[
        Path, typer.Option(help="File to write.", dir_okay=False, writable=True)
    ] = DEFAULT_INSTANCE_TYPES_PATH,
) -> None:
    """Regenerate the GPU instance-type data file from EC2 DescribeInstanceTypes (needs AWS credentials
    allowed ec2:DescribeInstanceTypes). Plan time reads the file, never EC2. Review and commit the diff."""
    result = refresh_command(region=region, endpoint_url=endpoint_url, output=output)
    consoles.out.print(
        f"wrote {result.count} NVIDIA GPU instance types to {result.path} "
        f"(GPU models: {', '.join(result.gpu_models)})",
        highlight=False,
        soft_wrap=True,
    )


CatalogOption = Annotated[
    Path, typer.Option("--catalog", help="Image catalog file.", dir_okay=False, exists=False)
]
SourceAmiOption = Annotated[
    str | None,
    typer.Option(help="Source AMI to start from; default: the one the entry's provenance records."),
]
FabricManagerOption = Annotated[
    bool | None,
    typer.Option(
        "--fabric-manager/--no-fabric-manager",
        help="Install NVIDIA Fabric Manager (NVSwitch instances); default: as the entry was built (off "
        "if not recorded).",
        show_default=False,
    ),
]
EfaOption = Annotated[
    bool | None,
    typer.Option(
        "--efa/--no-efa",
        help="Install the EFA software (EFA pools); default: as the entry was built (off if not recorded).",
        show_default=False,
    ),
]


ImageIdArgument = Annotated[str, typer.Argument(metavar="ID", help="Image id from the catalog.")]


def _template_inputs(
    image_id: str, catalog_path: Path, source_ami: str | None, fabric_manager: bool | None, efa: bool | None
) -> tuple[ImageTarget, BuildParams]:
    """What `render` and `validate` build a catalog image's template from: its target and parameters."""
    catalog = load_catalog(catalog_path)
    entry = catalog.image(image_id)
    params = params_for_entry(entry, source_ami=source_ami, fabric_manager=fabric_manager, efa=efa)
    return target_for_entry(entry, catalog), params


def _packer_output(line: str) -> None:
    # Packer's own messages, streamed as they come; dimmed so mlenv's messages stand out.
    consoles.err.print(f"[dim]packer |[/dim] {line}", markup=True, highlight=False, soft_wrap=True)


@images_app.command("list", epilog=EXIT_CODES_HELP)
@reports_errors
def list_cmd(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the images as JSON.", show_default=False)
    ] = False,
    wide: Annotated[
        bool,
        typer.Option(
            "--wide", help="Show container digests whole (default: 12 hex digits).", show_default=False
        ),
    ] = False,
    catalog_path: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """List the catalog: id, OS, driver, CUDA, AMIs per region, container digests, build provenance."""
    catalog = load_catalog(catalog_path)
    if as_json:
        print(json.dumps(catalog_records(catalog), indent=2))
    else:
        consoles.out.print(catalog_listing(catalog, wide=wide or not consoles.out.is_terminal))


@images_app.command("render", epilog=EXIT_CODES_HELP)
@reports_errors
def render_cmd(
    image_id: ImageIdArgument,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Directory to write the template to.", file_okay=False)
    ],
    source_ami: SourceAmiOption = None,
    fabric_manager: FabricManagerOption = None,
    efa: EfaOption = None,
    catalog_path: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Write the Packer HCL2 template (and its provisioner scripts) of a catalog image. Offline."""
    target, params = _template_inputs(image_id, catalog_path, source_ami, fabric_manager, efa)
    written = render_template(target, params).write(out_dir)
    consoles.out.print(f"wrote {len(written)} files to {out_dir}:", highlight=False, soft_wrap=True)
    for path in written:
        consoles.out.print(f"  {path}", highlight=False, soft_wrap=True)


@images_app.command("validate", epilog=EXIT_CODES_HELP)
@reports_errors
def validate_cmd(
    image_id: ImageIdArgument,
    source_ami: SourceAmiOption = None,
    fabric_manager: FabricManagerOption = None,
    efa: EfaOption = None,
    catalog_path: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Render a catalog image's template and run `packer validate` on it. Offline (no AWS calls)."""
    target, params = _template_inputs(image_id, catalog_path, source_ami, fabric_manager, efa)
    result = validate_template(target, params, Packer(on_output=_packer_output))
    if result.legacy:
        consoles.err.print(
            f"note: packer {result.packer_version} predates 1.7; the builder's IMDSv2 settings and "
            "plugins.pkr.hcl were not validated.",
            highlight=False,
            soft_wrap=True,
        )
    consoles.out.print(f"{image_id}: template valid (packer {result.packer_version})", highlight=False)


@images_app.command("build", epilog=EXIT_CODES_HELP)
@reports_errors
def build_cmd(
    spec_path: Annotated[
        Path,
        typer.Argument(metavar="SPEC", help="Build spec YAML (see images/builds/README.md).", dir_okay=False),
    ],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Template directory; a new temporary one by default.")
    ] = None,
    timeout_hours: Annotated[float, typer.Option(help="Stop Packer after this long.", min=0.01)] = (
        BUILD_TIMEOUT_S / 3600
    ),
    check_only: Annotated[
        bool, typer.Option("--check", help="Only check the spec against the catalog; run nothing.")
    ] = False,
    catalog_path: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Build a new golden image with Packer (uses your AWS credentials and creates EC2 resources), then
    add it to the catalog as a NEW entry and print the diff to commit."""
    spec = load_build_spec(spec_path)
    if check_only:
        check_spec(spec, catalog_path)
        consoles.out.print(
            f"{spec_path}: {spec.image.id} can be built and added to {catalog_path}",
            highlight=False,
            soft_wrap=True,
        )
        return
    result = build_image(
        spec,
        Packer(on_output=_packer_output),
        catalog_path=catalog_path,
        out_dir=out_dir,
        timeout_s=timeout_hours * 3600,
    )
    amis = ", ".join(f"{region} {ami}" for region, ami in result.amis.items())
    consoles.out.print(f"built {spec.image.id}: {amis}", highlight=False, soft_wrap=True)
    consoles.out.print(f"added to {catalog_path}; review and commit this change:\n", highlight=False)
    print(result.change.diff, end="")
