#!/usr/bin/env bash
# Fail fast if the pinned source AMI is not what the catalog entry claims: the NVIDIA kernel modules
# are built for exactly this kernel, and the kernel is locked so no later update can replace it.
set -euo pipefail

. /etc/os-release
if [ "${ID}" != "amzn" ] || [ "${VERSION_ID}" != "2023" ]; then
  echo "mlenv: source AMI runs ${PRETTY_NAME}, expected Amazon Linux 2023" >&2
  exit 1
fi
if [ "$(uname -m)" != "${MLENV_ARCHITECTURE}" ]; then
  echo "mlenv: source AMI is $(uname -m), the catalog entry says ${MLENV_ARCHITECTURE}" >&2
  exit 1
fi
if [ "$(uname -r)" != "${MLENV_KERNEL}" ]; then
  echo "mlenv: source AMI boots kernel $(uname -r), the catalog entry says ${MLENV_KERNEL}" >&2
  exit 1
fi

dnf install -y python3-dnf-plugin-versionlock
dnf install -y "kernel-devel-${MLENV_KERNEL}" "kernel-headers-${MLENV_KERNEL}"
dnf versionlock add "kernel-${MLENV_KERNEL}" "kernel-devel-${MLENV_KERNEL}" "kernel-headers-${MLENV_KERNEL}"
