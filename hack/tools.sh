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

kube() {
  if stamp_ok kube-apiserver "$KUBE_VERSION" && stamp_ok kubectl "$KUBE_VERSION"; then return; fi
  local d="$work/kubernetes-$KUBE_VERSION"
  mkdir -p "$d"
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
  echo ">> building kube-apiserver and kubectl $KUBE_VERSION (first time: several minutes)"
  (cd "$d" && go get "k8s.io/kubernetes@$KUBE_VERSION" &&
    go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${KUBE_VERSION#v1.}" \
      -o "$bin/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver &&
    go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION" -o "$bin/kubectl" k8s.io/kubernetes/cmd/kubectl)
  stamp kube-apiserver "$KUBE_VERSION"
  stamp kubectl "$KUBE_VERSION"
}

# kube-controller-manager runs the namespace and garbage collector controllers
# in the e2e control plane, so namespace deletion really completes there.
kcm() {
  stamp_ok kube-controller-manager "$KUBE_VERSION" && return
  kube
  local d="$work/kubernetes-$KUBE_VERSION"
  echo ">> building kube-controller-manager $KUBE_VERSION"
  (cd "$d" && go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${KUBE_VERSION#v1.}" \
      -o "$bin/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager)
  stamp kube-controller-manager "$KUBE_VERSION"
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

if [ $# -eq 0 ]; then set -- etcd helm kube kcm; fi
for t in "$@"; do "$t"; done
