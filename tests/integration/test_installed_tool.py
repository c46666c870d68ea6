"""mlenv installed for real (a wheel, not an editable install) into a separate virtualenv.

What a new user does: copy the repository (its tracked files, as a clone has them), build and install
mlenv from it into another virtualenv, then run that `mlenv` from the clone and from a sub-folder.
It must plan and check the clone's stack files (not copies inside site-packages), find a stack file
created after installing, reject an invalid one with exit 2, and start the policy pack with its own
interpreter (the pack's PulumiPolicy.yaml names the repository's ../.venv, which is not there).

Slow (a wheel build and two offline plans): one module, one virtualenv, built once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _run(command: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _clone(target: Path) -> Path:
    """The repository's tracked and unignored files (what a clone of this commit would hold)."""
    listed = _run(["git", "ls-files", "-co", "--exclude-standard", "-z"], REPO).stdout.split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@dataclass(frozen=True)
class Installed:
    clone: Path
    mlenv: Path
    """The installed console script."""
    build_log: str
    wheel: Path


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """A clone, and mlenv built from it into a wheel and installed into a new virtualenv."""
    base = tmp_path_factory.mktemp("installed")
    clone = _clone(base / "clone")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # mlenv itself is built into a wheel and installed without dependencies; the dependencies come
    # from the test environment, named in a .pth file. A directory named in a .pth file is not a site
    # directory, so its own .pth files (the editable install's finder among them) are not run:
    # `stacks`, `policies` ... import from the wheel only.
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], base
        ).stdout.strip()
    )
    (site / "mlenv-test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    build = _run([str(python), "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(base / "dist"), "."], clone)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    wheel = next((base / "dist").glob("mlenv-*.whl"))
    install = _run([str(python), "-m", "pip", "install", "--no-deps", str(wheel)], base)
    assert install.returncode == 0, install.stderr[-3000:]
    return Installed(clone, venv / "bin" / "mlenv", build.stdout + build.stderr, wheel)


def test_the_wheel_holds_code_and_templates_and_builds_without_warnings(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    assert not [n for n in names if re.search(r"(^|/)Pulumi\.[^/]*\.ya?ml$", n)], (
        "stack files are project data"
    )
    assert "components/templates/feature_store.yaml.j2" in names
    assert "images/templates/image.pkr.hcl.j2" in names
    assert "stacks/cli/app.py" in names
    # setuptools' warnings are classes named ...Warning and framed by "!!" lines.
    log = installed.build_log
    assert not re.search(r"Warning\b|^\s*!!", log, flags=re.M), re.findall(r".*Warning.*", log)[:5]


def test_installed_mlenv_checks_the_clones_stack_from_its_root(installed: Installed) -> None:
    clone, mlenv = installed.clone, installed.mlenv
    version = _run([str(mlenv), "--version"], clone)
    assert version.returncode == 0 and version.stdout.startswith("mlenv "), version.stderr
    result = _run([str(mlenv), "check", "dev"], clone)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "policy check passed: stack dev" in result.stdout
    assert "Traceback" not in result.stderr


def test_installed_mlenv_finds_new_stacks_from_a_sub_folder_and_rejects_invalid_ones(
    installed: Installed,
) -> None:
    mlenv, stacks = installed.mlenv, installed.clone / "stacks"
    dev = (stacks / "Pulumi.dev.yaml").read_text(encoding="utf-8")
    (stacks / "Pulumi.late.yaml").write_text(dev, encoding="utf-8")
    (stacks / "Pulumi.broken.yaml").write_text(
        dev.replace("kind: platform", "kind: sometimes"), encoding="utf-8"
    )

    late = _run([str(mlenv), "plan", "late", "--json"], stacks)
    assert late.returncode == 0, late.stderr
    assert json.loads(late.stdout)["stack"] == "late"

    broken = _run([str(mlenv), "plan", "broken"], stacks)
    assert broken.returncode == 2, broken.stdout + broken.stderr
    assert "Pulumi.broken.yaml" in broken.stderr and "Traceback" not in broken.stderr
