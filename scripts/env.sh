# Sourced by the scripts in this folder: one place for the paths every command shares.
# shellcheck shell=bash
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${K8SNET_VENV:-$REPO_ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3}"
# Ansible finds this checkout as the collection k8snet.calico through a link that lives in the venv.
COLLECTIONS_DIR="$VENV/collections"

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    if ! "$PYTHON_BIN" -m venv "$VENV" 2>/dev/null; then
      # Debian ships the venv module separately.
      rm -rf "$VENV"
      if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      fi
      "$PYTHON_BIN" -m venv "$VENV" || { echo "python3 -m venv failed: install python3-venv" >&2; return 1; }
    fi
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
