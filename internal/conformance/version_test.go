package conformance

import (
	"bufio"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/realzk"
)

// The suite runs against whatever server it is given: the in-memory one,
// and the real ZooKeeper that ZK_CLASSPATH, ZK_HOME or Debian's package
// provides (see internal/realzk). The client claims to work with servers
// 3.5 to 3.9, and these differ: where a behaviour changed between
// releases, a case asks the server's version and asserts what that release
// does; where an operation is newer than the server, it asserts the
// client's ErrUnimplemented and goes on with what the server has. Every
// difference the suite knows is one of the functions below, named after
// the new behaviour, with its issue and its first release.

// zkVersion is a ZooKeeper release: major.minor.patch.
type zkVersion struct{ major, minor, patch int }

func (v zkVersion) String() string { return fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch) }

// compare returns -1, 0 or 1 as v is older than, the same as or newer
// than w.
func (v zkVersion) compare(w zkVersion) int {
	for _, d := range [3]int{v.major - w.major, v.minor - w.minor, v.patch - w.patch} {
		switch {
		case d < 0:
			return -1
		case d > 0:
			return 1
		}
	}
	return 0
}

// atLeast reports whether v is major.minor.patch or newer.
func (v zkVersion) atLeast(major, minor, patch int) bool {
	return v.compare(zkVersion{major, minor, patch}) >= 0
}

// hasFix reports whether v has a change that was made on several release
// lines at once, first released in each of fixes (one per line, oldest line
// first): a release of a listed line has it from that line's fix on; a line
// newer than every listed one has it (it branched after the change); any
// other line does not (it branched before, and got no backport).
func (v zkVersion) hasFix(fixes ...zkVersion) bool {
	mine := zkVersion{v.major, v.minor, 0}
	for _, f := range fixes {
		line := mine.compare(zkVersion{f.major, f.minor, 0})
		switch {
		case line < 0:
			return false
		case line == 0:
			return v.patch >= f.patch
		}
	}
	return len(fixes) > 0
}

// memVersion is the release whose behaviour the in-memory server
// (internal/testserver) has wherever releases differ: a standalone 3.8.0.
// Its exists checks no READ permission and its events are not filtered by
// ACL (3.8.0 is before ZOOKEEPER-2590, 3.8.4); its ip ACLs are IPv4 only
// (before ZOOKEEPER-4240, 3.9.4); its checkWatches finds any connection's
// watch on the path, a recursive watch sits in both watch managers, and a
// connection has one watch mode per path (3.6–3.8, before ZOOKEEPER-4466,
// 3.9.0); it checks delete's permission before the node (3.6.0+,
// ZOOKEEPER-2892); and it has every operation up to whoAmI (3.7.0). It also
// says "Zookeeper version: 3.8.0-zkgo-testserver" to srvr.
var memVersion = zkVersion{3, 8, 0}

// versionRE finds major.minor.patch at the start of srvr's version, which
// goes on differently by release and build: "3.6.4--d65253dc..., built
// on ..." (3.6's empty qualifier leaves a double dash), "3.9.5-293c895a...",
// "3.8.0-zkgo-testserver".
var versionRE = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)`)

// parseVersion returns the release a srvr (or stat) reply names on its
// "Zookeeper version:" line.
func parseVersion(srvr string) (zkVersion, error) {
	sc := bufio.NewScanner(strings.NewReader(srvr))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Zookeeper version:")
		if !ok {
			continue
		}
		m := versionRE.FindStringSubmatch(strings.TrimSpace(rest))
		if m == nil {
			return zkVersion{}, fmt.Errorf("no major.minor.patch in %q", sc.Text())
		}
		var v [3]int
		for i := range v {
			n, err := strconv.Atoi(m[i+1])
			if err != nil {
				return zkVersion{}, fmt.Errorf("version %q: %w", m[0], err)
			}
			v[i] = n
		}
		return zkVersion{v[0], v[1], v[2]}, nil
	}
	return zkVersion{}, fmt.Errorf("no \"Zookeeper version:\" line in %q", srvr)
}

// serverVersion asks a real server's member i for its release (srvr).
func serverVersion(t testing.TB, ens *realzk.Ensemble, i int) zkVersion {
	t.Helper()
	reply, err := ens.FourLetter(i, "srvr")
	require.NoError(t, err, "srvr to member %d", i)
	v, err := parseVersion(reply)
	require.NoError(t, err, "srvr to member %d", i)
	return v
}

// Operations newer than some servers: the first release that has each.
// Older servers answer -6 Unimplemented and close the connection.
var (
	// multiRead (ZOOKEEPER-3402), getEphemerals (ZOOKEEPER-3209),
	// getAllChildrenNumber (ZOOKEEPER-3167) and addWatch with
	// setWatches2 (ZOOKEEPER-1416, persistent and recursive watches).
	since360 = zkVersion{3, 6, 0}
	// whoAmI (ZOOKEEPER-3969).
	since370 = zkVersion{3, 7, 0}
)

// has reports whether v has the operations first released in since.
func (v zkVersion) has(since zkVersion) bool { return v.compare(since) >= 0 }

// deleteChecksPermissionFirst: delete checks DELETE on the parent before it
// looks the node up, so a missing child of a node without DELETE gets
// NoAuth, not NoNode (ZOOKEEPER-2892, 3.6.0; 3.5 looked the node up first).
func (v zkVersion) deleteChecksPermissionFirst() bool { return v.atLeast(3, 6, 0) }

// existsChecksRead: exists of a present node needs READ, so without it
// exists fails with NoAuth and sets no watch (ZOOKEEPER-2590, 3.8.4 and
// 3.9.2; earlier servers answer exists without a permission check).
func (v zkVersion) existsChecksRead() bool {
	return v.hasFix(zkVersion{3, 8, 4}, zkVersion{3, 9, 2})
}

// ipv6ACLs: ip ACL ids may be IPv6 addresses (ZOOKEEPER-4240, 3.9.4;
// earlier servers parse dotted IPv4 only, and refuse "::1" as an invalid
// ACL).
func (v zkVersion) ipv6ACLs() bool { return v.atLeast(3, 9, 4) }

// watchModesApart: a connection's watches of several modes on one path
// are kept apart (ZOOKEEPER-4466, 3.9.0): a recursive watch is in the data
// watch manager only, and checkWatches with type Children or Data matches
// one-shot watches only (ZOOKEEPER-4471, 3.9.0), so a path with only a
// persistent or recursive watch answers NoWatcher to both, and Any finds
// it. 3.6–3.8 keep one mode per connection and path in each manager, put
// even a recursive watch in both, and match any mode.
func (v zkVersion) watchModesApart() bool { return v.atLeast(3, 9, 0) }

// persistentWatcherTypes: checkWatches and removeWatches take the watcher
// types Persistent (4) and PersistentRecursive (5) (ZOOKEEPER-4472, 3.9.0);
// older servers fail them with a marshalling error.
func (v zkVersion) persistentWatcherTypes() bool { return v.atLeast(3, 9, 0) }

// checkWatchesAnySession: checkWatches finds a watch on the path whatever
// connection set it (3.6.0 to 3.8: WatchManager.containsWatcher ignores the
// watcher at the node itself). 3.5 looked at the connection's own watches,
// and so does 3.9.0 again (ZOOKEEPER-4466).
func (v zkVersion) checkWatchesAnySession() bool {
	return v.atLeast(3, 6, 0) && !v.atLeast(3, 9, 0)
}

// requireUnimplemented checks what a server does with an operation newer
// than itself (first released in since): op fails with ErrUnimplemented,
// with the client's message naming the release it needs; the server then
// closes the connection, and the handle takes its session to a new one,
// where it is as usable as before (a Get succeeds).
func requireUnimplemented(t testing.TB, c *zk.Conn, since zkVersion, op func() error) {
	t.Helper()
	rec := newRecorder()
	remove := c.AddStateListener(rec.listen)
	defer remove()
	id := c.SessionID()
	err := op()
	require.ErrorIs(t, err, zk.ErrUnimplemented)
	require.ErrorContains(t, err, fmt.Sprintf("operation not implemented by the server (it needs ZooKeeper %s or newer", since))
	lost := rec.waitEvent(t, 0, zk.EventDisconnected)
	back := rec.waitEvent(t, lost, zk.EventSyncConnected)
	cs := rec.snapshot()
	requireChain(t, cs[lost:back+1])
	require.Equal(t, id, cs[back].SessionID, "the handle keeps its session: %s", fmtChanges(cs))
	_, _, err = c.Get(testCtx(t), "/")
	require.NoError(t, err, "the handle after an unimplemented operation")
	require.Equal(t, id, c.SessionID())
}

// requireUnimplementedApart is requireUnimplemented on a handle of its own
// on connString, for tests whose handle must keep its state sequence.
func requireUnimplementedApart(t testing.TB, connString string, since zkVersion, op func(c *zk.Conn) error) {
	t.Helper()
	c := dial(t, connString)
	requireUnimplemented(t, c, since, func() error { return op(c) })
	require.NoError(t, c.Close())
}

// TestParseVersion: the version strings real servers and the in-memory one
// give in srvr.
func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		line string
		want zkVersion
	}{
		{"Zookeeper version: 3.5.10-a32c7183d42325b03e44a06aade6a0f16955bf13, built on 11/23/2026 05:42 GMT", zkVersion{3, 5, 10}},
		{"Zookeeper version: 3.6.4--d65253dcf68e9097c6e95a126463fd5fdeb4521c, built on 11/23/2026 05:42 GMT", zkVersion{3, 6, 4}},
		{"Zookeeper version: 3.9.5-293c895a8d966a3ecb92872be4a1daf87d725da2, built on 2026-11-23 05:40 UTC", zkVersion{3, 9, 5}},
		{"Zookeeper version: 3.8.0-zkgo-testserver", memVersion},
		{"Zookeeper version: 3.10.0-SNAPSHOT", zkVersion{3, 10, 0}},
	} {
		v, err := parseVersion(tc.line + "\nLatency min/avg/max: 0/0.0/0\nMode: standalone\n")
		require.NoError(t, err, tc.line)
		require.Equal(t, tc.want, v, tc.line)
	}
	for _, bad := range []string{"", "Mode: standalone\n", "Zookeeper version: unknown\n"} {
		_, err := parseVersion(bad)
		require.Error(t, err, "%q", bad)
	}

	// The behaviours by release.
	v := func(major, minor, patch int) zkVersion { return zkVersion{major, minor, patch} }
	for _, tc := range []struct {
		v    zkVersion
		want bool
	}{
		{v(3, 5, 10), false}, {v(3, 7, 2), false}, {v(3, 8, 0), false}, {v(3, 8, 3), false},
		{v(3, 8, 4), true}, {v(3, 8, 6), true}, {v(3, 9, 0), false}, {v(3, 9, 1), false},
		{v(3, 9, 2), true}, {v(3, 9, 5), true}, {v(3, 10, 0), true}, {v(4, 0, 0), true},
	} {
		require.Equal(t, tc.want, tc.v.existsChecksRead(), "existsChecksRead %v", tc.v)
	}
	require.False(t, v(3, 8, 9).hasFix(v(3, 9, 2)))
	require.True(t, v(3, 9, 0).hasFix(v(3, 7, 1), v(3, 8, 9)))  // branched after the change
	require.False(t, v(3, 7, 5).hasFix(v(3, 6, 2), v(3, 8, 4))) // no backport
	require.True(t, v(3, 8, 0).checkWatchesAnySession())
	require.False(t, v(3, 5, 10).checkWatchesAnySession())
	require.False(t, v(3, 9, 0).checkWatchesAnySession())
	require.True(t, v(3, 9, 5).ipv6ACLs())
	require.False(t, v(3, 9, 3).ipv6ACLs())
	require.False(t, v(3, 5, 10).has(since360))
	require.True(t, v(3, 6, 0).has(since360))
	require.False(t, v(3, 6, 4).has(since370))
}
