#!/usr/bin/env bash
# The README's first command: sets up the venv and renders every manifest and Calico resource
# that inventory/local describes into rendered/. Needs Python 3.11+ only; no cluster.
#
# Where the upstream Calico release files come from: CALICO_MANIFEST_BASE_URL if set (a mirror,
# https:// or file://), else a local copy of the release files if one is found in
# CALICO_UPSTREAM_DIR, else the upstream download.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
ensure_venv
cd "$REPO_ROOT"

extra=()
version="$(sed -n 's/^calico_version: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' inventory/local/group_vars/all.yml)"
local_copy="${CALICO_UPSTREAM_DIR:-$REPO_ROOT/../shared/upstream}/calico/$version"
if [ -n "${CALICO_MANIFEST_BASE_URL:-}" ]; then
  extra+=(-e "calico_manifest_base_url=$CALICO_MANIFEST_BASE_URL")
elif [ -f "$local_copy/calico.yaml" ]; then
  extra+=(-e "calico_manifest_base_url=file://$(cd "$local_copy" && pwd)")
fi
ansible-playbook -i inventory/local k8snet.calico.render -e "calico_render_dir=$REPO_ROOT/rendered" "${extra[@]}" "$@"
echo "Rendered into $REPO_ROOT/rendered/:"
ls -l "$REPO_ROOT/rendered/"
