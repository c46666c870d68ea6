"""Which Pulumi project mlenv works on: found like the Pulumi CLI finds it, never mlenv's install location.

The Pulumi CLI looks for ``Pulumi.yaml`` (or ``Pulumi.yml``) in the working directory, then in each
parent, and reads stack files ``Pulumi.<stack>.yaml`` from the project's ``stackConfigDir`` (relative
to the project file; the project's own directory by default). ``--cwd/-C`` makes it start elsewhere.
Sources: Pulumi docs, "Project file" (``stackConfigDir``: "the directory containing the project's
stack configuration files") and the CLI's ``workspace.DetectProjectPathFrom``, which walks up from the
working directory.

So an ``mlenv`` installed into any virtualenv plans the stack files of the repository it is run in,
including files created after it was installed; stack files are never package data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from stacks.errors import EXIT_BAD_INPUT, MlenvError

PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")
"""The names the Pulumi CLI accepts for a project file, in the order it tries them."""


class ProjectError(MlenvError):
    """No Pulumi project here, or its project file cannot be read."""

    exit_code = EXIT_BAD_INPUT


@dataclass(frozen=True)
class Project:
    """A Pulumi project on disk: where it is, its name, and where its stack files live."""

    root: Path
    """The directory holding the project file."""
    name: str
    stack_config_dir: Path
    """Absolute directory of ``Pulumi.<stack>.yaml`` files (``stackConfigDir``, else ``root``)."""

    def stack_file(self, stack: str) -> Path:
        """Where stack ``stack``'s file is (or would be)."""
        return self.stack_config_dir / f"Pulumi.{stack}.yaml"

    def relative(self, path: Path) -> str:
        """``path`` relative to the project root when inside it (how SARIF and findings name files)."""
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


def project_file_in(directory: Path) -> Path | None:
    """The project file directly in ``directory``, if any."""
    for name in PROJECT_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def find_project(start: Path | None = None) -> Project:
    """The project whose ``Pulumi.yaml`` is in ``start`` (default: the working directory) or a parent."""
    origin = (start or Path.cwd()).resolve()
    for directory in (origin, *origin.parents):
        found = project_file_in(directory)
        if found is not None:
            return load_project(found)
    raise ProjectError(
        f"no Pulumi project in {origin} or any parent directory (looked for {' or '.join(PROJECT_FILES)}); "
        "run mlenv inside the project's repository, or point at it with `mlenv --cwd DIR ...`"
    )


def load_project(project_file: Path) -> Project:
    """Read a project file: its ``name`` and ``stackConfigDir``."""
    try:
        document = yaml.safe_load(project_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProjectError(f"{project_file}: cannot read the project file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ProjectError(f"{project_file}: not valid YAML: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("name"), str):
        raise ProjectError(f"{project_file}: a Pulumi project file needs a `name:` (e.g. `name: mlenv`)")
    root = project_file.parent.resolve()
    config_dir = document.get("stackConfigDir")
    if config_dir is not None and not isinstance(config_dir, str):
        raise ProjectError(
            f"{project_file}: stackConfigDir must be a directory path relative to the project file, "
            f"got {config_dir!r}"
        )
    return Project(
        root=root,
        name=document["name"],
        stack_config_dir=(root / config_dir).resolve() if config_dir else root,
    )
