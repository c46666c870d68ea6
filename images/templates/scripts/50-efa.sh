#!/usr/bin/env bash
# EFA software from AWS's installer at a pinned version, checked against AWS's signing key first.
set -euo pipefail

work="$(mktemp -d)"
cd "${work}"
base="https://efa-installer.amazonaws.com"
tarball="aws-efa-installer-${EFA_INSTALLER_VERSION}.tar.gz"
curl -fsSLO "${base}/${tarball}"
curl -fsSLO "${base}/${tarball}.sig"
curl -fsSL "${base}/aws-efa-installer.key" | gpg --import
gpg --verify "${tarball}.sig" "${tarball}"
tar -xzf "${tarball}"
cd aws-efa-installer
./efa_installer.sh -y
cd /
rm -rf "${work}"
