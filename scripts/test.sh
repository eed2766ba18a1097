#!/usr/bin/env bash
# The README's second command and what CI runs: the whole test suite.
#
# Installs what it needs (Debian packages when run as root, the venv, the Go-built test bed:
# kube-apiserver, controllers, kwok, etcd, calicoctl; Go 1.24+ must be on PATH), then runs:
# unit and integration tests (real ansible-playbook runs against the test cluster, real etcd,
# real BIRD labs), the molecule scenarios, ansible-test sanity, ansible-lint and yamllint,
# and a build-and-install check of the collection tarball. Any failure makes the exit non-zero.
#
#   scripts/test.sh            # everything
#   scripts/test.sh pytest     # only some stages: pytest molecule sanity lint build matrix
#
# Stage matrix: ansible-test sanity and a subset of the integration tests under the other
# ansible-core releases of meta/runtime.yml's range (the venv has 2.19), each in a venv of its own
# under .venv-matrix/ (made once, again only when its requirements change).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO_ROOT" || exit 1

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(pytest molecule sanity lint build matrix)
failed=()
declare -A took

say() { printf '\n==== %s ====\n' "$*"; }

install_system_packages() {
  local need=()
  command -v ip >/dev/null || need+=(iproute2)
  command -v birdc >/dev/null || [ -x /usr/sbin/birdc ] || need+=(bird)
  command -v openssl >/dev/null || need+=(openssl)
  command -v git >/dev/null || need+=(git)
  command -v shellcheck >/dev/null || need+=(shellcheck)
  command -v chromium >/dev/null || need+=(chromium)  # the IPAM report's HTML page, screenshot test
  command -v promtool >/dev/null || need+=(prometheus)  # promtool: the alert rules' tests
  if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "missing system packages: ${need[*]} (run as root, or install them)"; return 1
    fi
    say "apt-get install ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

run_stage() { # name, command...
  local name="$1"; shift
  say "$name"
  local start=$SECONDS
  if "$@"; then took[$name]=$((SECONDS - start)); else took[$name]="FAILED after $((SECONDS - start))"; failed+=("$name"); fi
}

stage_pytest() {
  python -m pytest tests/unit tests/integration tests/testbed -p no:cacheprovider \
    -o junit_family=xunit2 --junitxml="$REPO_ROOT/tests/output/pytest.xml" -ra
}

stage_molecule() {
  # Molecule 26 looks for collection scenarios under extensions/molecule; the contract keeps the
  # root molecule/ folder, which this glob names.
  # Every scenario these machines can run (kind needs Docker and kind).
  local scenario
  for scenario in default monitoring; do
    (cd "$REPO_ROOT" && MOLECULE_GLOB='molecule/*/molecule.yml' molecule test -s "$scenario") || return 1
  done
}

sanity_in_copy() { # python version: ansible-test sanity (the first on PATH) on a copy of the tree
  # ansible-test wants the collection at .../ansible_collections/k8snet/calico and fetches a pip
  # bootstrap script from a host that may be unreachable: give it both.
  local python="$1"
  local cache="$HOME/.ansible/test/cache"
  mkdir -p "$cache"
  # Under the name for the pip version this ansible-test bootstraps (24.2 for 2.18 and 2.19).
  local pip_version
  pip_version="$(grep -ohE "pip='[0-9.]+'" "$(dirname "$(command -v ansible-test)")"/../lib/python3*/site-packages/ansible_test/_internal/python_requirements.py 2>/dev/null |
    head -1 | tr -dc '0-9.')"
  pip_version="${pip_version:-24.2}"
  cp tests/sanity/pip_bootstrap.py "$cache/get_pip_${pip_version//./_}.py"
  local work; work="$(mktemp -d)"
  local dest="$work/ansible_collections/k8snet/calico"
  mkdir -p "$dest"
  git ls-files -co --exclude-standard -z | xargs -0 -I{} cp --parents {} "$dest/" 2>/dev/null
  (cd "$dest" && git init -q && git add -A && ansible-test sanity --venv --python "$python" --color no)
  local rc=$?
  rm -rf "$work"
  return $rc
}

stage_sanity() {
  sanity_in_copy 3.11
}

stage_lint() {
  ansible-lint --profile production --offline && yamllint -s . && antsibull-changelog lint
}

stage_build() {
  local work; work="$(mktemp -d)"
  ansible-galaxy collection build --output-path "$work" --force . >/dev/null &&
    ANSIBLE_COLLECTIONS_PATH="$work/installed" ansible-galaxy collection install --offline --no-deps --force \
      -p "$work/installed" "$work"/k8snet-calico-*.tar.gz >/dev/null &&
    [ ! -L "$work/installed/ansible_collections/k8snet/calico" ] &&
    ANSIBLE_COLLECTIONS_PATH="$work/installed" ansible-doc -t module k8snet.calico.calico_render >/dev/null &&
    ANSIBLE_COLLECTIONS_PATH="$work/installed" ansible-playbook --syntax-check k8snet.calico.render >/dev/null &&
    echo "built, installed and loaded: $(basename "$work"/k8snet-calico-*.tar.gz)"
  local rc=$?
  rm -rf "$work"
  return $rc
}

# The ansible-core releases stage matrix tests besides the venv's 2.19 (requirements-dev.txt), each
# with the Python it runs on (2.20 and later need 3.12+). The newest patch release of each.
MATRIX=("2.18.19 3.11" "2.20.10 3.12" "2.21.5 3.13")

find_python() { # 3.12 -> a python3.12 that runs: on PATH, else pyenv's
  local version="$1" candidate
  for candidate in "$(command -v "python$version")" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/"python$version"; do
    [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c 'import venv' 2>/dev/null && { echo "$candidate"; return 0; }
  done
  echo "no python$version (on PATH or under pyenv) for the matrix" >&2
  return 1
}

matrix_venv() { # core version, python version -> the venv's folder, made or updated when needed
  local core="$1" python="$2" dir="$REPO_ROOT/.venv-matrix/$1"
  local wanted; wanted="$(printf 'python %s\nansible-core==%s\n' "$python" "$core"; cat "$REPO_ROOT/requirements.txt")"
  if [ ! -x "$dir/bin/ansible-playbook" ] || [ "$(cat "$dir/.requirements" 2>/dev/null)" != "$wanted" ]; then
    local interpreter; interpreter="$(find_python "$python")" || return 1
    rm -rf "$dir"
    if ! { "$interpreter" -m venv "$dir" &&
           "$dir/bin/python" -m pip install --quiet --upgrade pip >&2 &&
           "$dir/bin/python" -m pip install --quiet "ansible-core==$core" -r "$REPO_ROOT/requirements.txt" >&2; }; then
      echo "could not make $dir" >&2; return 1
    fi
    printf '%s' "$wanted" >"$dir/.requirements"
  fi
  # The collections that release reads: this checkout, and the collections the modules, roles and
  # tests use, from the venv's community package (the same versions the other stages test; their
  # requires_ansible is >=2.16). The community package itself needs a given ansible-core.
  local site; site="$("$VENV/bin/python" -c 'import ansible_collections, os; print(os.path.dirname(ansible_collections.__path__[0]))')"
  local collections="$dir/collections/ansible_collections" name
  mkdir -p "$collections/k8snet"
  ln -sfn "$REPO_ROOT" "$collections/k8snet/calico"
  for name in kubernetes/core ansible/posix; do
    mkdir -p "$collections/${name%/*}"
    ln -sfn "$site/ansible_collections/$name" "$collections/$name"
  done
  echo "$dir"
}

stage_matrix() {
  local entry core python dir rc=0 start
  local upstream="${CALICO_UPSTREAM_DIR:-$REPO_ROOT/../shared/upstream}"
  local newest; newest="$(find "$upstream/calico" -mindepth 1 -maxdepth 1 -name 'v*' -printf '%f\n' 2>/dev/null | sort -V | tail -1)"
  for entry in "${MATRIX[@]}"; do
    read -r core python <<<"$entry"
    say "matrix: ansible-core $core, Python $python"
    start=$SECONDS
    dir="$(matrix_venv "$core" "$python")" || { rc=1; continue; }
    "$dir/bin/python" -c 'import ansible.release, sys; print("ansible-core", ansible.release.__version__, "on Python", sys.version.split()[0])'
    echo "venv ready in $((SECONDS - start))s"
    # Sanity: that release's ansible-test, for its Python.
    PATH="$dir/bin:$PATH" sanity_in_copy "$python" || { echo "matrix $core: sanity FAILED"; rc=1; }
    echo "sanity done at $((SECONDS - start))s"
    # Integration: real playbook runs through that release's ansible-playbook (tests/playbook.py;
    # pytest is the venv's), one pytest run (one test cluster): render.yml's main case for the newest
    # upstream release, and the calicoctl and calico_info modules on the Kubernetes datastore
    # (docs/ansible-core-matrix.md lists what is left out).
    K8SNET_ANSIBLE_BIN_DIR="$dir/bin" K8SNET_ANSIBLE_COLLECTIONS_PATH="$dir/collections" \
      python -m pytest -p no:cacheprovider -q -ra -o junit_family=xunit2 \
        --junitxml="$REPO_ROOT/tests/output/matrix-$core.xml" \
        tests/integration/test_render.py tests/integration/test_calicoctl_module.py \
        -k "${newest:-no-upstream-release} and not typha and not etcd_datastore or test_calicoctl_module and kubernetes and not bad_input and not stores_what or kubernetes-cidr" \
      || { echo "matrix $core: integration tests FAILED"; rc=1; }
    echo "matrix $core took $((SECONDS - start))s"
  done
  return $rc
}

run_stage setup install_system_packages
[ ${#failed[@]} -eq 0 ] && run_stage venv ensure_venv
if [[ " ${stages[*]} " == *" pytest "* || " ${stages[*]} " == *" molecule "* || " ${stages[*]} " == *" matrix "* ]]; then
  say "test bed programs (tests/testbed/build.sh)"
  start=$SECONDS
  if bin="$(bash tests/testbed/build.sh | tail -1)"; then
    export K8SNET_TESTBED_BIN="$bin"; cat "$bin/VERSIONS"; took[testbed-build]=$((SECONDS - start))
  else
    failed+=(testbed-build)
  fi
fi
mkdir -p tests/output
for stage in "${stages[@]}"; do
  [ ${#failed[@]} -gt 0 ] && [[ " ${failed[*]} " == *" setup "* || " ${failed[*]} " == *" venv "* ]] && break
  run_stage "$stage" "stage_$stage"
done

say "summary"
for name in "${!took[@]}"; do printf '  %-16s %ss\n' "$name" "${took[$name]}"; done
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED stages: ${failed[*]}"
  exit 1
fi
echo "all stages passed"
