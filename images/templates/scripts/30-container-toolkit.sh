#!/usr/bin/env bash
# NVIDIA container toolkit, pinned and locked. Containerd's nvidia runtime is configured at boot by
# the EKS node agent (nodeadm) on NVIDIA AMIs, so only the packages are installed here.
set -euo pipefail

dnf config-manager --add-repo \
  "https://nvidia.github.io/libnvidia-container/stable/rpm/nvidia-container-toolkit.repo"
v="${NVIDIA_CONTAINER_TOOLKIT_VERSION}"
dnf versionlock delete 'nvidia-container-toolkit*' 'libnvidia-container*' 2>/dev/null || true
dnf install -y --allowerasing \
  "nvidia-container-toolkit-${v}" "nvidia-container-toolkit-base-${v}" \
  "libnvidia-container-tools-${v}" "libnvidia-container1-${v}"
dnf versionlock add "nvidia-container-toolkit-${v}" "nvidia-container-toolkit-base-${v}" \
  "libnvidia-container-tools-${v}" "libnvidia-container1-${v}"
nvidia-ctk --version
