// Package interop holds tests in which this library and kazoo, the Python
// ZooKeeper client (Debian's python3-kazoo), share one real Apache
// ZooKeeper server: each reads what the other wrote, sees the other's
// sessions end through watches, checks the other's digest ACLs, and their
// locks exclude each other. The tests skip when ZooKeeper or kazoo is not
// installed, unless ZK_REQUIRE_REAL=1. It has no code of its own.
package interop
