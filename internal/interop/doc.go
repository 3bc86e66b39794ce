// Package interop holds tests in which this library and kazoo, the Python
// ZooKeeper client (Debian's python3-kazoo), share one server, a real
// Apache ZooKeeper and then the in-memory one: each reads what the other
// wrote, sees the other's sessions end through watches, checks the other's
// digest and SASL ACLs (kazoo's DIGEST-MD5 is puresasl's, so the in-memory
// server's SASL meets an independent client), and their locks exclude each
// other (their read locks share, in queue order). The tests skip when
// ZooKeeper or kazoo is not installed (the in-memory case only without
// kazoo), unless ZK_REQUIRE_REAL=1. It has no code of its own.
package interop
