// Package integration holds the recipes' tests against a real Apache
// ZooKeeper ensemble (started by internal/realzk; skipped when ZooKeeper is
// not installed, unless ZK_REQUIRE_REAL=1). It has no code of its own.
package integration
