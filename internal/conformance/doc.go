// Package conformance holds tests only: one suite of ZooKeeper behaviours,
// as the client observes them, written once and run against both the
// in-memory server (internal/testserver) and a real Apache ZooKeeper server
// (internal/realzk), plus failover and read-only tests on a real
// three-member ensemble.
//
// The real server is whatever realzk finds: the class path in
// ZK_CLASSPATH, the installation in ZK_HOME, or Debian's package (3.8.0,
// what CI runs). The client supports servers 3.5 to 3.9, which differ in
// places: the suite reads the real server's release from srvr and asserts
// what that release does (version_test.go lists every difference it knows,
// with its ZooKeeper issue and first release), and, for an operation newer
// than the server, that the call fails with ErrUnimplemented naming the
// release it needs and the handle goes on. The in-memory server models one
// release where they differ, 3.8.0 (memVersion).
//
// TestConformance runs every case as mem/<case> and real/<case>; each
// backend is one server shared by all cases, each case working under its
// own root, /t-<case>. Where the in-memory server and a real 3.8.0 differ,
// the real one is right and the in-memory server is fixed. The TestFailover
// tests log the state sequences they observe.
//
// Without a real server the real tests skip, unless ZK_REQUIRE_REAL=1.
// Tests of client bugs not fixed yet run only with ZK_CLIENT_BUGS=1.
package conformance
