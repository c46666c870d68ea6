#!/usr/bin/env bash
# Pull the catalog's containers into containerd's Kubernetes namespace by digest, then pin them so
# the kubelet's image garbage collection never evicts them.
set -euo pipefail

systemctl start containerd
for ref in ${MLENV_CONTAINER_REFS}; do
  ctr -n k8s.io images pull "${ref}"
  ctr -n k8s.io images label "${ref}" io.cri-containerd.pinned=pinned
done
ctr -n k8s.io images ls
