# Sourced by the scripts in this folder: one place for the paths every command shares.
# shellcheck shell=bash
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${K8SNET_VENV:-$REPO_ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3}"
# Ansible finds this checkout as the collection k8snet.calico through a link that lives in the venv.
COLLECTIONS_DIR="$VENV/collections"

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON_BIN" -m venv "$VENV"
  fi
  if [ ! -f "$VENV/.requirements-installed" ] || [ "$REPO_ROOT/requirements-dev.txt" -nt "$VENV/.requirements-installed" ] \
     || [ "$REPO_ROOT/requirements.txt" -nt "$VENV/.requirements-installed" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -r "$REPO_ROOT/requirements-dev.txt"
    touch "$VENV/.requirements-installed"
  fi
  mkdir -p "$COLLECTIONS_DIR/ansible_collections/k8snet"
  ln -sfn "$REPO_ROOT" "$COLLECTIONS_DIR/ansible_collections/k8snet/calico"
  export PATH="$VENV/bin:$PATH"
  export ANSIBLE_COLLECTIONS_PATH="$COLLECTIONS_DIR"
}
