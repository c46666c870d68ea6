#!/usr/bin/env bash
# Install exactly NVIDIA_DRIVER_VERSION from NVIDIA's Amazon Linux 2023 repository and lock it: the
# catalog promises this driver, so no `dnf update` on a node may replace the user space or the modules.
set -euo pipefail

arch="$(uname -m)"
dnf config-manager --add-repo \
  "https://developer.download.nvidia.com/compute/cuda/repos/amzn2023/${arch}/cuda-amzn2023.repo"

# Whatever driver the base AMI ships is replaced by the pinned one.
dnf versionlock delete 'nvidia-*' 'kmod-nvidia-*' 'libnvidia-*' 2>/dev/null || true
dnf remove -y 'nvidia-driver*' 'kmod-nvidia*' || true

case "${NVIDIA_KERNEL_MODULES}" in
  open) kmod="kmod-nvidia-open-dkms" ;;
  proprietary) kmod="kmod-nvidia-latest-dkms" ;;
  *) echo "mlenv: unknown NVIDIA_KERNEL_MODULES=${NVIDIA_KERNEL_MODULES}" >&2; exit 1 ;;
esac
dnf install -y \
  "${kmod}-${NVIDIA_DRIVER_VERSION}" \
  "nvidia-driver-${NVIDIA_DRIVER_VERSION}" \
  "nvidia-driver-cuda-${NVIDIA_DRIVER_VERSION}" \
  "nvidia-persistenced-${NVIDIA_DRIVER_VERSION}"
dnf versionlock add "${kmod}-${NVIDIA_DRIVER_VERSION}" "nvidia-*-${NVIDIA_DRIVER_VERSION}*" \
  "libnvidia-*-${NVIDIA_DRIVER_VERSION}*"

installed="$(modinfo -F version nvidia)"
if [ "${installed}" != "${NVIDIA_DRIVER_VERSION}" ]; then
  echo "mlenv: nvidia kernel module is ${installed}, expected ${NVIDIA_DRIVER_VERSION}" >&2
  exit 1
fi
systemctl enable nvidia-persistenced
