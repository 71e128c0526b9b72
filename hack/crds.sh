#!/usr/bin/env bash
# Copies the CRDs the e2e control plane installs into bin/crds: Istio's from
# the istio.io/api module and cert-manager's from its module, at the versions
# go.mod pins. No download but the Go module proxy.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bin/crds"
cd "$root"
istio=$(go list -m -f '{{.Dir}}' istio.io/api)
certmanager=$(go list -m -f '{{.Dir}}' github.com/cert-manager/cert-manager)
if [ -z "$istio" ] || [ -z "$certmanager" ]; then
  go mod download istio.io/api github.com/cert-manager/cert-manager
  istio=$(go list -m -f '{{.Dir}}' istio.io/api)
  certmanager=$(go list -m -f '{{.Dir}}' github.com/cert-manager/cert-manager)
fi
rm -rf "$out" && mkdir -p "$out"
cp "$istio/kubernetes/customresourcedefinitions.gen.yaml" "$out/istio.yaml"
for f in "$certmanager"/deploy/crds/cert-manager.io_*.yaml; do
  cp "$f" "$out/$(basename "$f")"
done
chmod -R u+w "$out"
echo ">> CRDs in $out: $(find "$out" -maxdepth 1 -type f -printf '%f\n' | sort | tr '\n' ' ')"
