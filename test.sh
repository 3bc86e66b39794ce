#!/usr/bin/env bash
# The whole test suite: unit tests against the in-memory server and the
# real-ZooKeeper tests (skipped unless ZooKeeper is installed; set
# ZK_REQUIRE_REAL=1 to make that skip a failure), all with -race.
set -euo pipefail
cd "$(dirname "$0")"
go test -race -count=1 -timeout 20m ./...
