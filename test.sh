#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs Apache ZooKeeper
# and kazoo (the Python client the interop tests run beside this one) from
# Debian's packages when they are missing, then runs every package's tests
# with the race detector.
#
# Without them the real-server and interop tests skip; ZK_REQUIRE_REAL=1
# turns that skip into a failure (CI sets it).
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PATH:/usr/local/go/bin"

if [ ! -f /usr/share/java/zookeeper.jar ] && [ -z "${ZK_HOME:-}${ZK_CLASSPATH:-}" ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "test.sh: installing Apache ZooKeeper (apt-get install zookeeper)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zookeeper >/dev/null
  else
    echo "test.sh: ZooKeeper is not installed and cannot be installed here; real-server tests will skip"
  fi
fi

if ! /usr/bin/python3 -c 'import kazoo' >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "test.sh: installing kazoo (apt-get install python3-kazoo)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-kazoo >/dev/null
  else
    echo "test.sh: kazoo is not installed and cannot be installed here; interop tests will skip"
  fi
fi

go test -race -count=1 -timeout 25m "$@" ./...
