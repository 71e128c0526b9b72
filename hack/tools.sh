#!/usr/bin/env bash
# Builds the binaries the e2e suite and the demo need from the Go module proxy, once, into bin/.
# A machine here has Go and the proxy and nothing else: no release downloads, no container images.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin"
work="$bin/.build"
mkdir -p "$bin" "$work"

KUBE_VERSION=${KUBE_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.7.3}
HELM_VERSION=${HELM_VERSION:-v3.22.0}
staging_version="v0.${KUBE_VERSION#v1.}"

export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

stamp_ok() { [ -x "$bin/$1" ] && [ "$(cat "$bin/.$1.version" 2>/dev/null)" = "$2" ]; }
stamp() { echo "$2" >"$bin/.$1.version"; }

# kube_module prints the wrapper module that builds k8s.io/kubernetes commands
# at KUBE_VERSION, creating it the first time.
kube_module() {
  local d="$work/kubernetes-$KUBE_VERSION"
  mkdir -p "$d"
  if [ -f "$d/go.sum" ] && grep -q "^k8s.io/kubernetes $KUBE_VERSION " "$d/go.sum"; then echo "$d"; return; fi
  # k8s.io/kubernetes replaces its staging repos with local paths; a consumer must
  # replace each of them with the published module of the matching version.
  local mod
  mod=$(cd "$d" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  {
    echo "module gatewarden.local/kubetools"
    echo "go 1.26"
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo "replace ("
    sed -n '/^replace (/,/^)/p' "$mod" | grep '=>' | awk -v v="$staging_version" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } >"$d/go.mod"
  echo 'package tools' >"$d/tools.go"
  # tidy only fills go.sum ahead of go get; its complaints are go get's to report.
  (cd "$d" && { go mod tidy -e >/dev/null 2>&1 || true; })
  (cd "$d" && go get "k8s.io/kubernetes@$KUBE_VERSION" >&2)
  echo "$d"
}

# The version stamped into Kubernetes binaries, as their release builds do.
kube_ldflags() {
  echo "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${KUBE_VERSION#v1.}"
}

kube() {
  if stamp_ok kube-apiserver "$KUBE_VERSION" && stamp_ok kubectl "$KUBE_VERSION"; then return; fi
  local d
  d=$(kube_module)
  echo ">> building kube-apiserver and kubectl $KUBE_VERSION (first time: several minutes)"
  (cd "$d" &&
    go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${KUBE_VERSION#v1.}" \
      -o "$bin/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver &&
    go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION" -o "$bin/kubectl" k8s.io/kubernetes/cmd/kubectl)
  stamp kube-apiserver "$KUBE_VERSION"
  stamp kubectl "$KUBE_VERSION"
}

etcd() {
  stamp_ok etcd "$ETCD_VERSION" && return
  local d="$work/etcd-$ETCD_VERSION"
  mkdir -p "$d"
  printf 'module gatewarden.local/etcdtools\ngo 1.26\n' >"$d/go.mod"
  echo ">> building etcd $ETCD_VERSION"
  (cd "$d" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" && go build -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3)
  stamp etcd "$ETCD_VERSION"
}

helm() {
  stamp_ok helm "$HELM_VERSION" && return
  echo ">> building helm $HELM_VERSION"
  GOBIN="$bin" go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  stamp helm "$HELM_VERSION"
}

# kube-controller-manager runs the namespace and garbage collector controllers
# in the e2e control plane, so namespace deletion really completes there.
kcm() {
  stamp_ok kube-controller-manager "$KUBE_VERSION" && return
  local d
  d=$(kube_module)
  echo ">> building kube-controller-manager $KUBE_VERSION"
  (cd "$d" && go build -trimpath -ldflags "$(kube_ldflags)" -o "$bin/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager)
  stamp kube-controller-manager "$KUBE_VERSION"
}

# kubenode: the node and control-plane binaries a kind node image needs
# besides kube-apiserver and kubectl, into bin/kind/bin (hack/kind/build.sh).
# Not built by default: only `make kind-e2e` needs them.
kubenode() {
  local out="$bin/kind/bin" c d missing=()
  mkdir -p "$out"
  for c in kubelet kubeadm kube-proxy kube-controller-manager kube-scheduler; do
    [ -x "$out/$c" ] && [ "$(cat "$out/.$c.version" 2>/dev/null)" = "$KUBE_VERSION" ] || missing+=("$c")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  d=$(kube_module)
  for c in "${missing[@]}"; do
    echo ">> building $c $KUBE_VERSION"
    (cd "$d" && go build -trimpath -ldflags "$(kube_ldflags)" -o "$out/$c" "k8s.io/kubernetes/cmd/$c")
    echo "$KUBE_VERSION" >"$out/.$c.version"
  done
}

if [ $# -eq 0 ]; then set -- etcd helm kube kcm; fi
for t in "$@"; do "$t"; done
