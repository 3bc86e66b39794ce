#!/usr/bin/env bash
# Runs every fuzz target in turn for the same time each (default 5m):
#   bash fuzz.sh 15m
# Each target's log goes to fuzz-logs/<target>.log; the last line of each
# shows its execs and the inputs it found interesting. An input that fails
# is written under the package's testdata/fuzz/<target>/ by `go test` and
# makes this script exit non-zero; commit it as a regression case once fixed.
set -uo pipefail
cd "$(dirname "$0")"
export PATH="$PATH:/usr/local/go/bin"
per="${1:-5m}"
parallel="${FUZZ_PARALLEL:-2}"
mkdir -p fuzz-logs
status=0
while read -r pkg target; do
  log="fuzz-logs/$target.log"
  echo "fuzz.sh: $pkg $target for $per (-parallel=$parallel) -> $log"
  if ! go test -run '^$' -fuzz "^$target\$" -fuzztime "$per" -parallel "$parallel" "$pkg" >"$log" 2>&1; then
    echo "fuzz.sh: $target FAILED; see $log"
    status=1
  fi
  grep -E 'fuzz: elapsed' "$log" | tail -1
done <<'TARGETS'
./internal/proto FuzzFrameReader
./internal/proto FuzzFrameReaderSkip
./internal/proto FuzzDecodeResponse
./internal/proto FuzzMultiRequest
. FuzzParseConnString
. FuzzValidatePath
. FuzzChroot
. FuzzHostileReplies
. FuzzDigestChallenge
./internal/testserver FuzzServerRequests
TARGETS
exit $status
