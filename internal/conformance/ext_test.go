package conformance

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
)

var extCases = []conformanceCase{
	{"persistent_watch", casePersistentWatch},
	{"recursive_watch", caseRecursiveWatch},
	{"persistent_watch_remove", casePersistentWatchRemove},
	{"create2_stat", caseCreate2Stat},
	{"ttl", caseTTL},
	{"container", caseContainer},
	{"get_ephemerals", caseGetEphemerals},
	{"all_children_number", caseAllChildrenNumber},
	{"get_config", caseGetConfig},
	{"many_children", caseManyChildren},
}

// casePersistentWatch: a persistent watch on one node sees its creation,
// data changes, child changes and deletion, in order, and stays.
func casePersistentWatch(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	other := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	p := root + "/p"
	if !b.Version().has(since360) {
		requireNoPersistentWatches(t, c, p, zk.AddWatchModePersistent)
		return
	}
	w, err := c.AddWatch(ctx, p, zk.AddWatchModePersistent)
	require.NoError(t, err)
	require.Equal(t, p, w.Path())
	require.False(t, w.Recursive())
	require.NoError(t, c.CheckWatches(ctx, p, zk.WatcherAny))

	mustCreate(t, c, p, nil)
	wantStream(t, w, ev(zk.EventNodeCreated, p))
	_, err = c.Set(ctx, p, []byte("1"), zk.AnyVersion)
	require.NoError(t, err)
	wantStream(t, w, ev(zk.EventNodeDataChanged, p))
	mustCreate(t, c, p+"/kid", nil)
	wantStream(t, w, ev(zk.EventNodeChildrenChanged, p))
	_, err = c.Set(ctx, p+"/kid", []byte("1"), zk.AnyVersion)
	require.NoError(t, err)
	mustCreate(t, c, p+"/kid/grandkid", nil)
	mustCreate(t, c, root+"/sibling", nil)
	wantStream(t, w) // nothing below the children, nothing beside
	require.NoError(t, c.Delete(ctx, p+"/kid/grandkid", zk.AnyVersion))
	require.NoError(t, c.Delete(ctx, p+"/kid", zk.AnyVersion))
	wantStream(t, w, ev(zk.EventNodeChildrenChanged, p))
	require.NoError(t, c.Delete(ctx, p, zk.AnyVersion))
	wantStream(t, w, ev(zk.EventNodeDeleted, p))
	mustCreate(t, c, p, nil)
	wantStream(t, w, ev(zk.EventNodeCreated, p))

	// A multi's changes, in the order of its ops.
	_, err = c.Multi(ctx,
		&zk.CreateOp{Path: p + "/a", ACL: zk.OpenACL},
		&zk.SetDataOp{Path: p, Data: []byte("m"), Version: zk.AnyVersion},
		&zk.CreateOp{Path: p + "/b", ACL: zk.OpenACL},
		&zk.DeleteOp{Path: p + "/a", Version: zk.AnyVersion},
	)
	require.NoError(t, err)
	wantStream(t, w,
		ev(zk.EventNodeChildrenChanged, p),
		ev(zk.EventNodeDataChanged, p),
		ev(zk.EventNodeChildrenChanged, p),
		ev(zk.EventNodeChildrenChanged, p))

	// Another session's changes arrive too.
	_, err = other.Set(ctx, p, []byte("2"), zk.AnyVersion)
	require.NoError(t, err)
	require.Equal(t, ev(zk.EventNodeDataChanged, p), nextPersistent(t, w))
	require.NoError(t, c.CheckWatches(ctx, p, zk.WatcherAny))
}

// caseRecursiveWatch: a recursive watch sees created, deleted and data
// changed for the node and everything below, never NodeChildrenChanged.
func caseRecursiveWatch(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	other := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	r := root + "/r"
	if !b.Version().has(since360) {
		requireNoPersistentWatches(t, c, r, zk.AddWatchModePersistentRecursive)
		return
	}
	w, err := c.AddWatch(ctx, r, zk.AddWatchModePersistentRecursive)
	require.NoError(t, err)
	require.True(t, w.Recursive())
	for _, p := range []string{r, r + "/a", r + "/a/b", root + "/rx", root + "/r-sibling"} {
		mustCreate(t, c, p, nil)
	}
	_, err = c.Set(ctx, r+"/a/b", []byte("x"), zk.AnyVersion)
	require.NoError(t, err)
	_, err = c.Set(ctx, r, []byte("x"), zk.AnyVersion)
	require.NoError(t, err)
	_, err = c.Create(ctx, r+"/a/s-", nil, zk.CreateEphemeralSequential, zk.OpenACL)
	require.NoError(t, err)
	require.NoError(t, c.Delete(ctx, r+"/a/b", zk.AnyVersion))
	_, err = c.Set(ctx, root, []byte("x"), zk.AnyVersion)
	require.NoError(t, err)
	wantStream(t, w,
		ev(zk.EventNodeCreated, r),
		ev(zk.EventNodeCreated, r+"/a"),
		ev(zk.EventNodeCreated, r+"/a/b"),
		ev(zk.EventNodeDataChanged, r+"/a/b"),
		ev(zk.EventNodeDataChanged, r),
		ev(zk.EventNodeCreated, r+"/a/s-0000000001"),
		ev(zk.EventNodeDeleted, r+"/a/b"),
	)
	// Another session's changes, deep down.
	mustCreate(t, other, r+"/a/c", nil)
	mustCreate(t, other, r+"/a/c/d", nil)
	require.Equal(t, ev(zk.EventNodeCreated, r+"/a/c"), nextPersistent(t, w))
	require.Equal(t, ev(zk.EventNodeCreated, r+"/a/c/d"), nextPersistent(t, w))
	// An ephemeral going with its session.
	_, err = other.Create(ctx, r+"/e", nil, zk.CreateEphemeral, zk.OpenACL)
	require.NoError(t, err)
	require.Equal(t, ev(zk.EventNodeCreated, r+"/e"), nextPersistent(t, w))
	require.NoError(t, other.Close())
	require.Equal(t, ev(zk.EventNodeDeleted, r+"/e"), nextPersistent(t, w))
	// A recursive watch on the root sees everything.
	wr, err := c.AddWatch(ctx, "/", zk.AddWatchModePersistentRecursive)
	require.NoError(t, err)
	_, err = c.Set(ctx, r+"/a/c/d", []byte("x"), zk.AnyVersion)
	require.NoError(t, err)
	wantStream(t, wr, ev(zk.EventNodeDataChanged, r+"/a/c/d"))
	wantStream(t, w, ev(zk.EventNodeDataChanged, r+"/a/c/d"))
	require.NoError(t, wr.Remove(ctx))
}

// requireNoPersistentWatches: a server older than 3.6.0 has no addWatch
// (ZOOKEEPER-1416): the call fails, and leaves no watch on the server.
func requireNoPersistentWatches(t *testing.T, c *zk.Conn, path string, mode zk.AddWatchMode) {
	t.Helper()
	requireUnimplemented(t, c, since360, func() error {
		_, err := c.AddWatch(testCtx(t), path, mode)
		return err
	})
	requireCode(t, c.CheckWatches(testCtx(t), path, zk.WatcherAny), zk.ErrNoWatcher, "checkWatches", path)
}

// countingConn counts the bytes the handle reads, as it reads them: when a
// call returns, every byte of its reply (and of the events before it) is
// counted.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// countingDialer dials plainly and counts what the handle reads.
func countingDialer(n *atomic.Int64) zk.Option {
	return zk.WithDialer(func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: nc, n: n}, nil
	})
}

// casePersistentWatchRemove: after Remove the stream ends and the server
// sends nothing more for the watch: no event frame reaches the handle.
func casePersistentWatchRemove(t *testing.T, b backend) {
	var read atomic.Int64
	// A long session: no ping in the few milliseconds this takes.
	c := dial(t, b.ConnString(), countingDialer(&read), zk.WithSessionTimeout(maxSessionTimeout))
	ctx := testCtx(t)
	root := mkroot(t, c)
	p := root + "/p"
	mustCreate(t, c, p, nil)

	// The size of a set's reply (header and Stat), and of the event
	// frames it causes.
	const setReply = 4 + 16 + 68
	eventFrame := func(path string) int64 { return 4 + 16 + 4 + 4 + 4 + int64(len(path)) }
	set := func() int64 {
		t.Helper()
		n := read.Load()
		_, err := c.Set(ctx, p, []byte("x"), zk.AnyVersion)
		require.NoError(t, err)
		return read.Load() - n
	}
	if !b.Version().has(since360) {
		requireNoPersistentWatches(t, c, p, zk.AddWatchModePersistent)
		// No watch: no event frame.
		require.Equal(t, int64(setReply), set())
		return
	}
	w, err := c.AddWatch(ctx, p, zk.AddWatchModePersistent)
	require.NoError(t, err)
	rw, err := c.AddWatch(ctx, root, zk.AddWatchModePersistentRecursive)
	require.NoError(t, err)
	// Two watches, one connection: one event frame.
	require.Equal(t, setReply+eventFrame(p), set())
	wantStream(t, w, ev(zk.EventNodeDataChanged, p))
	wantStream(t, rw, ev(zk.EventNodeDataChanged, p))

	require.NoError(t, w.Remove(ctx))
	require.Equal(t, ev(zk.EventPersistentWatchRemoved, p), nextPersistent(t, w))
	_, err = w.Next(ctx)
	require.ErrorIs(t, err, zk.ErrWatchRemoved)
	require.ErrorIs(t, w.Remove(ctx), zk.ErrNoWatcher)
	requireCode(t, c.CheckWatches(ctx, p, zk.WatcherAny), zk.ErrNoWatcher, "checkWatches", p)
	require.NoError(t, c.CheckWatches(ctx, root, zk.WatcherAny))
	// Still one frame, for the recursive watch.
	require.Equal(t, setReply+eventFrame(p), set())
	wantStream(t, rw, ev(zk.EventNodeDataChanged, p))

	require.NoError(t, rw.Remove(ctx))
	requireCode(t, c.CheckWatches(ctx, root, zk.WatcherAny), zk.ErrNoWatcher, "checkWatches", root)
	// No watch left: no event frame at all.
	require.Equal(t, int64(setReply), set())
	mustCreate(t, c, p+"/kid", nil)
	require.Equal(t, int64(setReply), set())
}

// caseCreate2Stat: create2, createContainer and createTTL answer with the
// new node's Stat, the one a read then returns. Containers and TTL nodes
// show ephemeralOwner 0 (servers do not expose the special owner values).
func caseCreate2Stat(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	for _, tc := range []struct {
		path  string
		mode  zk.CreateMode
		ttl   time.Duration
		owner int64
	}{
		{root + "/p", zk.CreatePersistent, 0, 0},
		{root + "/e", zk.CreateEphemeral, 0, c.SessionID()},
		{root + "/ps-", zk.CreatePersistentSequential, 0, 0},
		{root + "/es-", zk.CreateEphemeralSequential, 0, c.SessionID()},
		{root + "/c", zk.CreateContainer, 0, 0},
		{root + "/t", zk.CreatePersistentTTL, time.Hour, 0},
		{root + "/ts-", zk.CreatePersistentSequentialTTL, time.Hour, 0},
	} {
		var (
			p   string
			st  *zk.Stat
			err error
		)
		if tc.ttl > 0 {
			p, st, err = c.CreateTTL(ctx, tc.path, []byte("abc"), tc.mode, zk.OpenACL, tc.ttl)
		} else {
			p, st, err = c.CreateStat(ctx, tc.path, []byte("abc"), tc.mode, zk.OpenACL)
		}
		require.NoError(t, err, tc.mode.String())
		require.NotNil(t, st, tc.mode.String())
		require.Equal(t, statShape{DataLength: 3, EphemeralOwner: tc.owner}, shape(st), tc.mode.String())
		require.Equal(t, st.Czxid, st.Mzxid)
		require.Equal(t, st.Czxid, st.Pzxid)
		require.Equal(t, mustStat(t, c, p), st, tc.mode.String())
	}
	// The parent's stat follows.
	require.Equal(t, statShape{Cversion: 7, NumChildren: 7}, shape(mustStat(t, c, root)))
	// Create with a container mode makes a container whichever call it is.
	p, err := c.Create(ctx, root+"/c2", nil, zk.CreateContainer, zk.OpenACL)
	require.NoError(t, err)
	require.Equal(t, root+"/c2", p)
}

// caseTTL: a TTL node without children goes once unchanged for its TTL; a
// child keeps it.
func caseTTL(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	const ttl = 300 * time.Millisecond
	p, st, err := c.CreateTTL(ctx, root+"/t", []byte("x"), zk.CreatePersistentTTL, zk.OpenACL, ttl)
	require.NoError(t, err)
	require.Equal(t, root+"/t", p)
	require.Zero(t, st.EphemeralOwner)
	_, _, err = c.CreateTTL(ctx, root+"/kept", nil, zk.CreatePersistentTTL, zk.OpenACL, ttl)
	require.NoError(t, err)
	mustCreate(t, c, root+"/kept/kid", nil)
	p, _, err = c.CreateTTL(ctx, root+"/s-", nil, zk.CreatePersistentSequentialTTL, zk.OpenACL, time.Hour)
	require.NoError(t, err)
	require.Equal(t, root+"/s-0000000002", p)
	// A TTL node may have children (unlike an ephemeral).
	_, _, err = c.CreateTTL(ctx, root+"/s-0000000002/kid", nil, zk.CreatePersistentTTL, zk.OpenACL, time.Hour)
	require.NoError(t, err)

	ok, _, w, err := c.ExistsW(ctx, root+"/t")
	require.NoError(t, err)
	require.True(t, ok)
	_, _, wk, err := c.ExistsW(ctx, root+"/kept")
	require.NoError(t, err)
	wantEvent(t, w, zk.EventNodeDeleted, root+"/t")
	wantPending(t, wk) // it has a child
	require.NoError(t, c.Delete(ctx, root+"/kept/kid", zk.AnyVersion))
	wantEvent(t, wk, zk.EventNodeDeleted, root+"/kept")
	ok, _, err = c.Exists(ctx, root+"/s-0000000002")
	require.NoError(t, err)
	require.True(t, ok)
}

// caseContainer: a container is deleted once its last child is gone; one
// that never had a child stays.
func caseContainer(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	for _, n := range []string{"/c", "/never"} {
		p, err := c.Create(ctx, root+n, nil, zk.CreateContainer, zk.OpenACL)
		require.NoError(t, err)
		require.Equal(t, root+n, p)
	}
	require.Zero(t, mustStat(t, c, root+"/c").EphemeralOwner)
	mustCreate(t, c, root+"/c/a", nil)
	_, err := c.Create(ctx, root+"/c/b", nil, zk.CreateEphemeral, zk.OpenACL)
	require.NoError(t, err)
	_, _, w, err := c.ExistsW(ctx, root+"/c")
	require.NoError(t, err)
	_, _, wp, err := c.ChildrenW(ctx, root)
	require.NoError(t, err)
	require.NoError(t, c.Delete(ctx, root+"/c/a", zk.AnyVersion))
	wantPending(t, w) // one child left
	require.NoError(t, c.Delete(ctx, root+"/c/b", zk.AnyVersion))
	wantEvent(t, w, zk.EventNodeDeleted, root+"/c")
	wantEvent(t, wp, zk.EventNodeChildrenChanged, root)
	ok, _, err := c.Exists(ctx, root+"/never")
	require.NoError(t, err)
	require.True(t, ok)
	// Containers may nest: the inner one goes, then the outer.
	for _, n := range []string{"/outer", "/outer/inner"} {
		_, err = c.Create(ctx, root+n, nil, zk.CreateContainer, zk.OpenACL)
		require.NoError(t, err)
	}
	mustCreate(t, c, root+"/outer/inner/leaf", nil)
	_, _, w, err = c.ExistsW(ctx, root+"/outer")
	require.NoError(t, err)
	require.NoError(t, c.Delete(ctx, root+"/outer/inner/leaf", zk.AnyVersion))
	wantEvent(t, w, zk.EventNodeDeleted, root+"/outer")
}

// caseGetEphemerals: the session's own ephemerals whose path starts with
// the prefix, as a plain string prefix.
func caseGetEphemerals(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	other := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	if !b.Version().has(since360) {
		// getEphemerals is 3.6.0 (ZOOKEEPER-3209).
		requireUnimplemented(t, c, since360, func() error { _, err := c.GetEphemerals(ctx, "/"); return err })
		return
	}
	for _, p := range []string{"/a-1", "/ab", "/b"} {
		_, err := c.Create(ctx, root+p, nil, zk.CreateEphemeral, zk.OpenACL)
		require.NoError(t, err)
	}
	mustCreate(t, c, root+"/persistent", nil)
	_, err := c.Create(ctx, root+"/q-", nil, zk.CreateEphemeralSequential, zk.OpenACL)
	require.NoError(t, err)
	_, err = other.Create(ctx, root+"/theirs", nil, zk.CreateEphemeral, zk.OpenACL)
	require.NoError(t, err)

	all := []string{root + "/a-1", root + "/ab", root + "/b", root + "/q-0000000004"}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"/", all},
		{"", all},
		{"/ ", all}, // the server trims the prefix, as Java's trim
		{root, all},
		{root + "/a", []string{root + "/a-1", root + "/ab"}},
		{root + "/a-", []string{root + "/a-1"}},
		{root + "/ab", []string{root + "/ab"}},
		{root + "/persistent", []string{}},
		{root + "/theirs", []string{}},
		{root + "/zzz", []string{}},
	} {
		got, err := c.GetEphemerals(ctx, tc.prefix)
		require.NoError(t, err, tc.prefix)
		require.Equal(t, tc.want, sorted(got), "prefix %q", tc.prefix)
	}
	got, err := other.GetEphemerals(ctx, "/")
	require.NoError(t, err)
	require.Equal(t, []string{root + "/theirs"}, got)
}

// caseAllChildrenNumber: every descendant, not the node itself.
func caseAllChildrenNumber(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	for _, p := range []string{"/a", "/a/b", "/a/b/c", "/d", "/a/e"} {
		mustCreate(t, c, root+p, nil)
	}
	if !b.Version().has(since360) {
		// getAllChildrenNumber is 3.6.0 (ZOOKEEPER-3167).
		requireUnimplemented(t, c, since360, func() error { _, err := c.GetAllChildrenNumber(ctx, root); return err })
		return
	}
	for p, want := range map[string]int{root: 5, root + "/a": 3, root + "/a/b": 1, root + "/a/b/c": 0, root + "/d": 0} {
		n, err := c.GetAllChildrenNumber(ctx, p)
		require.NoError(t, err, p)
		require.Equal(t, want, n, p)
	}
	_, err := c.GetAllChildrenNumber(ctx, root+"/missing")
	requireCode(t, err, zk.ErrNoNode, "getAllChildrenNumber", root+"/missing")
	n, err := c.GetAllChildrenNumber(ctx, "/zookeeper")
	require.NoError(t, err)
	require.Equal(t, 2, n)
}

// caseGetConfig: a standalone server without reconfig has an empty
// configuration node, readable by everyone, and watchable.
func caseGetConfig(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	data, st, err := c.GetConfig(ctx)
	require.NoError(t, err)
	require.Empty(t, data)
	require.Equal(t, statShape{Aversion: -1}, shape(st))
	_, st2, w, err := c.GetConfigW(ctx)
	require.NoError(t, err)
	require.Equal(t, st, st2)
	require.NoError(t, c.CheckWatches(ctx, zk.ConfigPath, zk.WatcherData))
	require.NoError(t, c.RemoveWatches(ctx, zk.ConfigPath, zk.WatcherData))
	wantEventNow(t, w, zk.EventDataWatchRemoved, zk.ConfigPath)
	// Reconfig is off by default.
	_, _, err = c.Reconfig(ctx, "", "", "server.1=127.0.0.1:2888:3888;2181", -1)
	requireCode(t, err, zk.ErrReconfigDisabled, "reconfig", "")
}

// caseManyChildren: a multi of thousands of creates is one transaction; a
// listing of thousands of children comes back whole.
func caseManyChildren(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	const n = 3000
	ops := make([]zk.Op, n)
	want := make([]string, n)
	for i := range ops {
		name := fmt.Sprintf("child-with-a-longish-name-%05d", i)
		ops[i] = &zk.CreateOp{Path: root + "/" + name, ACL: zk.OpenACL}
		want[i] = name
	}
	res, err := c.Multi(ctx, ops...)
	require.NoError(t, err)
	require.Len(t, res, n)
	require.Equal(t, root+"/"+want[n-1], res[n-1].Path)
	names, st, err := c.Children(ctx, root)
	require.NoError(t, err)
	require.Equal(t, want, sorted(names))
	require.Equal(t, statShape{Cversion: n, NumChildren: n}, shape(st))
	first, last := mustStat(t, c, root+"/"+want[0]), mustStat(t, c, root+"/"+want[n-1])
	require.Equal(t, first.Czxid, last.Czxid)
	require.Equal(t, first.Czxid, st.Pzxid)
	if !b.Version().has(since360) {
		requireUnimplemented(t, c, since360, func() error { _, err := c.GetAllChildrenNumber(ctx, root); return err })
		return
	}
	count, err := c.GetAllChildrenNumber(ctx, root)
	require.NoError(t, err)
	require.Equal(t, n, count)
}
