#!/usr/bin/env bash
# Builds the test bed's programs from their Go modules (pinned in go/*/go.mod and go.sum) into a
# cache folder that later runs reuse. Prints the folder on its last line.
#
#   tests/testbed/build.sh            # build what is missing, print the bin folder
#   KUBERNETES_VERSION=v1.35.4 tests/testbed/build.sh   # try another Kubernetes release
#
# Programs: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (k8s.io/kubernetes),
# etcd and etcdctl (go.etcd.io/etcd), kwok (sigs.k8s.io/kwok), calicoctl
# (github.com/projectcalico/calico at the v3.31.0 release commit).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${K8SNET_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/k8snet-calico-testbed}"
# The calico module's release commits are not in the public checksum database: go.sum pins them.
export GONOSUMDB="${GONOSUMDB:-github.com/projectcalico}"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

log() { printf '[testbed build] %s\n' "$*" >&2; }

command -v go >/dev/null || { log "Go 1.24+ is required (go not found on PATH)"; exit 1; }

module_version() { # module dir, module path -> required version
  (cd "$1" && go list -m -f '{{.Version}}' "$2")
}

# Kubernetes: another release means a module file of its own, with every staging module replaced by
# the released v0.X.Y that matches v1.X.Y.
k8s_dir="$here/go/kubernetes"
pinned_k8s="$(module_version "$k8s_dir" k8s.io/kubernetes)"
k8s_version="${KUBERNETES_VERSION:-$pinned_k8s}"
if [ "$k8s_version" != "$pinned_k8s" ]; then
  alt="$cache/modules/kubernetes-$k8s_version"
  if [ ! -f "$alt/go.sum" ]; then
    log "preparing a module file for Kubernetes $k8s_version"
    mkdir -p "$alt"
    staging_version="v0.${k8s_version#v1.}"
    upstream_mod="$(go mod download -json "k8s.io/kubernetes@$k8s_version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    {
      printf 'module k8snet.calico/testbed/kubernetes\n\ngo 1.24.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$k8s_version"
      sed -n '/^replace (/,/^)/p' "$upstream_mod" | grep '=>' | awk -v v="$staging_version" '{print "\t"$1" => "$1" "v}'
      printf ')\n'
    } > "$alt/go.mod"
    (cd "$alt" && go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$k8s_version" \
        "k8s.io/kubernetes/cmd/kube-controller-manager@$k8s_version" \
        "k8s.io/kubernetes/cmd/kube-scheduler@$k8s_version" "k8s.io/kubernetes/cmd/kubectl@$k8s_version" && go mod tidy)
  fi
  k8s_dir="$alt"
fi

etcd_version="$(module_version "$here/go/etcd" go.etcd.io/etcd/server/v3)"
kwok_version="$(module_version "$here/go/kwok" sigs.k8s.io/kwok)"
calico_pseudo="$(module_version "$here/go/calicoctl" github.com/projectcalico/calico)"
calico_release="$(sed -n 's|^require github.com/projectcalico/calico [^ ]* //.* \(v[0-9][0-9.]*\)$|\1|p' "$here/go/calicoctl/go.mod")"

bin="$cache/bin/k8s-$k8s_version-etcd-$etcd_version-kwok-$kwok_version-calico-$calico_release"
mkdir -p "$bin"

build() { # module dir, output name, package, ldflags
  local dir="$1" out="$2" pkg="$3" ldflags="${4:-}"
  if [ -x "$bin/$out" ]; then return 0; fi
  log "building $out from $pkg"
  local start=$SECONDS
  (cd "$dir" && go build -o "$bin/.$out.tmp" -ldflags "-s -w $ldflags" "$pkg")
  mv "$bin/.$out.tmp" "$bin/$out"
  log "built $out in $((SECONDS - start))s"
}

minor="${k8s_version#v1.}"; minor="${minor%%.*}"
k8s_ldflags="-X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
for prog in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  build "$k8s_dir" "$prog" "k8s.io/kubernetes/cmd/$prog" "$k8s_ldflags"
done
build "$here/go/etcd" etcd go.etcd.io/etcd/server/v3
build "$here/go/etcd" etcdctl go.etcd.io/etcd/etcdctl/v3
build "$here/go/kwok" kwok sigs.k8s.io/kwok/cmd/kwok
build "$here/go/calicoctl" calicoctl github.com/projectcalico/calico/calicoctl/calicoctl \
  "-X github.com/projectcalico/calico/pkg/buildinfo.Version=$calico_release -X github.com/projectcalico/calico/pkg/buildinfo.GitRevision=${calico_pseudo##*-}"

{
  echo "kubernetes $k8s_version"
  echo "etcd $etcd_version"
  echo "kwok $kwok_version"
  echo "calicoctl $calico_release ($calico_pseudo)"
} > "$bin/VERSIONS"
echo "$bin"
