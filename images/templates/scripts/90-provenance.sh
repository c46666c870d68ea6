#!/usr/bin/env bash
# Write what was actually built to the image, read back from the system rather than copied from the
# inputs, so a node can say which driver, kernel and containers it carries.
set -euo pipefail

mkdir -p "$(dirname "${MLENV_PROVENANCE_PATH}")"
MLENV_ACTUAL_KERNEL="$(uname -r)" \
MLENV_ACTUAL_DRIVER="$(modinfo -F version nvidia)" \
MLENV_ACTUAL_TOOLKIT="$(rpm -q --qf '%{VERSION}' nvidia-container-toolkit)" \
python3 - <<'PY'
import json
import os

env = os.environ
containers = dict(item.split("=", 1) for item in env["MLENV_CONTAINERS"].split())
record = {
    "image_id": env["MLENV_IMAGE_ID"],
    "source_ami": env["MLENV_SOURCE_AMI"],
    "driver_version": env["MLENV_ACTUAL_DRIVER"],
    "cuda_max": env["MLENV_CUDA_MAX"],
    "kernel": env["MLENV_ACTUAL_KERNEL"],
    "kubernetes_version": env["MLENV_KUBERNETES_VERSION"],
    "container_toolkit_version": env["MLENV_ACTUAL_TOOLKIT"],
    "fabric_manager": env["MLENV_FABRIC_MANAGER"] == "true",
    "efa": env["MLENV_EFA"] == "true",
    "containers": containers,
    "built_at": env["MLENV_BUILT_AT"],
    "packer_version": env["MLENV_PACKER_VERSION"],
}
if record["driver_version"] != env["MLENV_DRIVER_VERSION"]:
    raise SystemExit(f"driver {record['driver_version']} != pinned {env['MLENV_DRIVER_VERSION']}")
path = env["MLENV_PROVENANCE_PATH"]
with open(path, "w", encoding="utf-8") as handle:
    json.dump(record, handle, indent=2, sort_keys=True)
    handle.write("\n")
os.chmod(path, 0o644)
PY
cat "${MLENV_PROVENANCE_PATH}"
dnf clean all
