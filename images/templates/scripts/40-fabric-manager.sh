#!/usr/bin/env bash
# NVSwitch systems need Fabric Manager at exactly the driver's version, or CUDA cannot start.
set -euo pipefail

dnf install -y "nvidia-fabric-manager-${NVIDIA_DRIVER_VERSION}"
dnf versionlock add "nvidia-fabric-manager-${NVIDIA_DRIVER_VERSION}"
systemctl enable nvidia-fabricmanager
