#!/usr/bin/env bash
# hack/fuzz.sh FUZZTIME package:Func...: fuzz each target for FUZZTIME.
#
# A target fails on a finding: go test writes the failing input under
# <package>/testdata/fuzz/<Func>/. Go 1.26's coordinator can also fail a
# timed run with a bare "context deadline exceeded" at the end of the window
# when the CPU is busy (fixed in Go 1.27). That writes no
# input and is not a finding: it is reported and the target's seeds are
# replayed (go test -run) to make sure nothing reproducible was missed.
set -uo pipefail
fuzztime=$1; shift
go=${GO:-go}
failed=0
for t in "$@"; do
  pkg=${t%%:*}; fn=${t##*:}
  echo "fuzz ./$pkg $fn ($fuzztime)"
  corpus="$pkg/testdata/fuzz/$fn"
  before=$(find "$corpus" -type f 2>/dev/null | sort)
  out=$($go test -run '^$' -fuzz "^$fn\$" -fuzztime "$fuzztime" -fuzzminimizetime 5s "./$pkg/" 2>&1)
  rc=$?
  echo "$out"
  [ $rc -eq 0 ] && continue
  after=$(find "$corpus" -type f 2>/dev/null | sort)
  if [ "$before" = "$after" ] && grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written' <<<"$out"; then
    echo ">> $fn: the fuzz window ended with Go's coordinator deadline race (golang/go#75804), no input written; replaying the seeds"
    $go test -count=1 -run "^$fn\$" "./$pkg/" || failed=1
    continue
  fi
  failed=1
done
exit $failed
