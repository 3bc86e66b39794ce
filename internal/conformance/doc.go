// Package conformance holds tests only: one suite of ZooKeeper behaviours,
// as the client observes them, written once and run against both the
// in-memory server (internal/testserver) and a real Apache ZooKeeper 3.8
// server (internal/realzk), plus failover and read-only tests on a real
// three-member ensemble.
//
// TestConformance runs every case as mem/<case> and real/<case>; each
// backend is one server shared by all cases, each case working under its
// own root, /t-<case>. Where the two servers differ, the real one is right
// and the in-memory server is fixed. The TestFailover tests log the state
// sequences they observe.
//
// Without a real server the real tests skip, unless ZK_REQUIRE_REAL=1.
// Tests of client bugs not fixed yet run only with ZK_CLIENT_BUGS=1.
package conformance
