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
#   scripts/test.sh pytest     # only some stages: pytest molecule sanity lint build
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO_ROOT" || exit 1

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(pytest molecule sanity lint build)
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

stage_sanity() {
  # ansible-test wants the collection at .../ansible_collections/k8snet/calico and fetches a pip
  # bootstrap script from a host that may be unreachable: give it both.
  local cache="$HOME/.ansible/test/cache"
  mkdir -p "$cache"
  cp tests/sanity/pip_bootstrap.py "$cache/get_pip_24_2.py"
  local work; work="$(mktemp -d)"
  local dest="$work/ansible_collections/k8snet/calico"
  mkdir -p "$dest"
  git ls-files -co --exclude-standard -z | xargs -0 -I{} cp --parents {} "$dest/" 2>/dev/null
  (cd "$dest" && git init -q && git add -A && ansible-test sanity --venv --python 3.11 --color no)
  local rc=$?
  rm -rf "$work"
  return $rc
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

run_stage setup install_system_packages
[ ${#failed[@]} -eq 0 ] && run_stage venv ensure_venv
if [[ " ${stages[*]} " == *" pytest "* || " ${stages[*]} " == *" molecule "* ]]; then
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
