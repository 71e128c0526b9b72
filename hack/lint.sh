#!/usr/bin/env bash
# make lint: gofmt, go vet, staticcheck and shellcheck; fails on any finding.
#
# It installs what it needs, so that `make test` passes on a clean clone:
# staticcheck is built from the Go module proxy into bin/ at a pinned version
# (once; a stamp file names the version built, as hack/tools.sh does), and
# Debian's shellcheck package is installed with apt-get when it is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin="$root/bin"
go=${GO:-go}
STATICCHECK_VERSION=${STATICCHECK_VERSION:-v0.8.2}
export GOTOOLCHAIN=local

# Findings, as "file check", reported but not failing while a change that
# fixes them is under way. An entry that no longer matches a finding fails
# the lint, so the list only shrinks; prefer a //lint:ignore with a reason at
# the line.
known_staticcheck=()

failed=0
fail() { echo "lint: $*" >&2; failed=1; }

echo ">> gofmt"
unformatted=$(git ls-files -z --cached --others --exclude-standard '*.go' | xargs -0 gofmt -l)
[ -z "$unformatted" ] || fail "gofmt needed: $unformatted"

echo ">> go vet"
$go vet ./... || fail "go vet reported the findings above"

echo ">> staticcheck $STATICCHECK_VERSION"
if [ ! -x "$bin/staticcheck" ] || [ "$(cat "$bin/.staticcheck.version" 2>/dev/null)" != "$STATICCHECK_VERSION" ]; then
  echo ">> building staticcheck $STATICCHECK_VERSION into bin/ (first time: a few minutes)"
  mkdir -p "$bin"
  GOBIN="$bin" GOFLAGS='' CGO_ENABLED=0 $go install -trimpath "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
  echo "$STATICCHECK_VERSION" >"$bin/.staticcheck.version"
fi
sc_out=$("$bin/staticcheck" ./... 2>&1) && sc_rc=0 || sc_rc=$?
unexpected=()
declare -A matched=()
while IFS= read -r line; do
  [ -n "$line" ] || continue
  is_known=
  for k in "${known_staticcheck[@]}"; do
    file=${k% *} check=${k##* }
    if [[ $line == "$file:"* && $line == *"($check)" ]]; then
      is_known=1 matched[$k]=1
    fi
  done
  if [ -n "$is_known" ]; then
    echo "known, not failing: $line"
  else
    unexpected+=("$line")
  fi
done <<<"$sc_out"
if [ "${#unexpected[@]}" -gt 0 ]; then
  printf '%s\n' "${unexpected[@]}" >&2
  fail "staticcheck reported the findings above"
elif [ "$sc_rc" -ne 0 ] && [ "${#matched[@]}" -eq 0 ]; then
  fail "staticcheck failed (exit $sc_rc)"
fi
for k in "${known_staticcheck[@]}"; do
  [ -n "${matched[$k]:-}" ] || fail "staticcheck no longer reports \"$k\": remove it from known_staticcheck in hack/lint.sh"
done

echo ">> shellcheck"
if ! command -v shellcheck >/dev/null; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo ">> installing shellcheck (Debian package)"
    if ! { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null; }; then
      echo "lint: apt-get could not install shellcheck" >&2
      exit 1
    fi
  else
    echo "lint: shellcheck is missing and cannot be installed here (needs root and apt-get): install the shellcheck package" >&2
    exit 1
  fi
fi
shellcheck --version | sed -n 2p
shellcheck -x hack/*.sh hack/kind/*.sh .ci/run || fail "shellcheck reported the findings above"

exit "$failed"
