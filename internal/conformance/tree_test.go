package conformance

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
)

var treeCases = []conformanceCase{
	{"children_order", caseChildrenOrder},
	{"ephemerals_order", caseEphemeralsOrder},
	{"quota_stats", caseQuotaStats},
}

// caseChildrenOrder: getChildren lists names in the order of the server's
// HashSet of them, which is not sorted and depends on the names and on the
// history of creates and deletes (Java's String hash codes and HashMap). An application that forgets to sort children must
// see that order against the in-memory server too. A failed multi leaves
// the order as it was.
func caseChildrenOrder(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	kids := func(p string) []string {
		t.Helper()
		names, _, err := c.Children(ctx, p)
		require.NoError(t, err)
		return names
	}
	// The table of a new child set has 8 buckets: "zz" (hash 3904) lands
	// in bucket 0, "lock" and "node-10" share a bucket.
	mustCreate(t, c, root+"/plain", nil)
	for _, n := range []string{"b", "a", "c", "node-1", "node-10", "node-2", "zz", "lock"} {
		mustCreate(t, c, root+"/plain/"+n, nil)
	}
	require.Equal(t, []string{"zz", "a", "b", "c", "node-1", "node-2", "lock", "node-10"}, kids(root+"/plain"))

	// Sequential children, as a lock or election recipe makes them: far
	// from the order of their numbers.
	mustCreate(t, c, root+"/seq", nil)
	for range 20 {
		_, err := c.Create(ctx, root+"/seq/lock-", nil, zk.CreatePersistentSequential, zk.OpenACL)
		require.NoError(t, err)
	}
	var want []string
	for _, n := range []int{9, 8, 19, 7, 18, 6, 17, 1, 12, 0, 11, 10, 5, 16, 4, 15, 3, 14, 2, 13} {
		want = append(want, fmt.Sprintf("lock-%010d", n))
	}
	require.Equal(t, want, kids(root+"/seq"))

	// Names with one hash code ("Aa" and "BB" hash alike) share a bucket:
	// a ninth in one bucket doubles a table of fewer than 64 buckets even
	// with the size far below the threshold, and each doubling moves the
	// other names among the buckets. (A tenth would turn a bucket of a
	// 64-bucket table into a red-black tree, which the in-memory server
	// does not model: no ordinary names get there.)
	mustCreate(t, c, root+"/coll", nil)
	mustCreate(t, c, root+"/coll/a", nil)
	mustCreate(t, c, root+"/coll/node-1", nil)
	var coll []string
	for i := range 10 {
		s := ""
		for bit := range 4 {
			if i&(1<<bit) != 0 {
				s += "BB"
			} else {
				s += "Aa"
			}
		}
		coll = append(coll, s)
		mustCreate(t, c, root+"/coll/"+s, nil)
	}
	mustCreate(t, c, root+"/coll/lock", nil)
	// With 64 buckets: the colliding names in bucket 9, "lock" in 25, "a"
	// in 33, "node-1" in 38. (Without the early doublings, 13 names would
	// sit in 16 buckets: "a" in 1 would come first, and "lock" would
	// share bucket 9 with the colliding names.)
	require.Equal(t, append(coll, "lock", "a", "node-1"), kids(root+"/coll"))

	// A failed multi changes nothing, order included: its two creates
	// would have doubled the table (which then lists "h" after "e") and
	// its delete put "a" back behind "i", in the same bucket.
	mustCreate(t, c, root+"/r", nil)
	for _, n := range []string{"h", "a", "i", "b", "c"} {
		mustCreate(t, c, root+"/r/"+n, nil)
	}
	before := []string{"h", "a", "i", "b", "c"}
	require.Equal(t, before, kids(root+"/r"))
	_, err := c.Multi(ctx,
		&zk.CreateOp{Path: root + "/r/j", Mode: zk.CreatePersistent, ACL: zk.OpenACL},
		&zk.CreateOp{Path: root + "/r/k", Mode: zk.CreatePersistent, ACL: zk.OpenACL},
		&zk.DeleteOp{Path: root + "/r/a", Version: zk.AnyVersion},
		&zk.CheckOp{Path: root + "/r", Version: 9},
	)
	require.ErrorIs(t, err, zk.ErrBadVersion)
	require.Equal(t, before, kids(root+"/r"))
	mustCreate(t, c, root+"/r/d", nil)
	require.Equal(t, []string{"h", "a", "i", "b", "c", "d"}, kids(root+"/r"))
	// The same multi, successful: the table doubles.
	_, err = c.Multi(ctx,
		&zk.CreateOp{Path: root + "/r/j", Mode: zk.CreatePersistent, ACL: zk.OpenACL},
		&zk.DeleteOp{Path: root + "/r/a", Version: zk.AnyVersion},
		&zk.CreateOp{Path: root + "/r/a", Mode: zk.CreatePersistent, ACL: zk.OpenACL},
	)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c", "d", "h", "i", "j"}, kids(root+"/r"))

	// The reserved nodes are in a set like any other.
	require.Equal(t, []string{"config", "quota"}, kids("/zookeeper"))
}

// caseEphemeralsOrder: getEphemerals, and the deletes of a closing
// session (whose NodeDeleted events a watcher sees in that order), follow
// a copy of the session's HashSet of ephemeral paths; the copy is sized for
// what the set holds (8 buckets for 5 paths, on every JDK from 8 to 25),
// not 16 as the set itself, so its order is its own. Nothing is sorted.
func caseEphemeralsOrder(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	other := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	if !b.Version().has(since360) {
		return // getEphemerals is 3.6.0; caseGetEphemerals checks the refusal
	}
	w, err := c.AddWatch(ctx, root, zk.AddWatchModePersistentRecursive)
	require.NoError(t, err)
	for _, p := range []string{"/e1", "/lock", "/b", "/e10", "/member-7"} {
		_, err := other.Create(ctx, root+p, nil, zk.CreateEphemeral, zk.OpenACL)
		require.NoError(t, err)
		require.Equal(t, ev(zk.EventNodeCreated, root+p), nextPersistent(t, w))
	}
	inOrder := []string{root + "/e1", root + "/b", root + "/e10", root + "/member-7", root + "/lock"}
	got, err := other.GetEphemerals(ctx, "/")
	require.NoError(t, err)
	require.Equal(t, inOrder, got)
	got, err = other.GetEphemerals(ctx, root+"/e")
	require.NoError(t, err)
	require.Equal(t, []string{root + "/e1", root + "/e10"}, got)
	require.NoError(t, other.Close())
	for _, p := range inOrder {
		require.Equal(t, ev(zk.EventNodeDeleted, p), nextPersistent(t, w))
	}
}

// caseQuotaStats: quotas are nodes under /zookeeper/quota, written by the
// client (as zkCli's setquota does). Once <path>/zookeeper_limits exists,
// the server keeps <path>/zookeeper_stats counting the nodes and bytes of
// the subtree at path: it recounts when the stats node is created, then
// follows every create, delete and setData below, rewriting the stats
// node's data in place (no new version, no mzxid, no event). Without
// zookeeper.enforceQuota, a quota only counts; nothing is refused.
func caseQuotaStats(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	qroot := "/zookeeper/quota" + root
	limits, stats := qroot+"/q/zookeeper_limits", qroot+"/q/zookeeper_stats"
	defer func() {
		for _, p := range []string{stats, limits, qroot + "/q", qroot} {
			_ = c.Delete(ctx, p, zk.AnyVersion)
		}
	}()
	mustCreate(t, c, root+"/q", []byte("abc"))
	mustCreate(t, c, root+"/q/a", []byte("12345"))
	mustCreate(t, c, root+"/qq", []byte("not below /q"))
	mustCreate(t, c, qroot, nil)
	mustCreate(t, c, qroot+"/q", nil)
	mustCreate(t, c, limits, []byte("count=3,bytes=-1"))
	statsData := func() (string, *zk.Stat) {
		t.Helper()
		data, st, err := c.Get(ctx, stats)
		require.NoError(t, err)
		return string(data), st
	}
	_, st, err := c.CreateStat(ctx, stats, []byte("unset"), zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	require.Equal(t, statShape{DataLength: 5}, shape(st), "the create's own Stat is from before the recount")
	data, st2 := statsData()
	require.Equal(t, "count=2,bytes=8", data)
	require.Equal(t, statShape{DataLength: int32(len(data))}, shape(st2))
	require.Equal(t, st.Mzxid, st2.Mzxid)

	_, _, watch, err := c.GetW(ctx, stats)
	require.NoError(t, err)
	mustCreate(t, c, root+"/q/b", []byte("xy"))
	mustCreate(t, c, root+"/q/b/c", nil)
	mustCreate(t, c, root+"/qq/x", []byte("elsewhere"))
	data, _ = statsData()
	require.Equal(t, "count=4,bytes=10", data, "over the limit of 3, counted, not refused")
	_, err = c.Set(ctx, root+"/q/a", []byte("1"), zk.AnyVersion)
	require.NoError(t, err)
	require.NoError(t, c.Delete(ctx, root+"/q/b/c", zk.AnyVersion))
	data, st2 = statsData()
	require.Equal(t, "count=3,bytes=6", data)
	require.Equal(t, statShape{DataLength: int32(len(data))}, shape(st2), "no new version")
	require.Equal(t, st.Mzxid, st2.Mzxid, "no new mzxid")
	wantPending(t, watch)
	// A failed multi counts nothing.
	_, err = c.Multi(ctx,
		&zk.CreateOp{Path: root + "/q/m", Data: []byte("mmm"), Mode: zk.CreatePersistent, ACL: zk.OpenACL},
		&zk.CheckOp{Path: root + "/q", Version: 9},
	)
	require.ErrorIs(t, err, zk.ErrBadVersion)
	data, _ = statsData()
	require.Equal(t, "count=3,bytes=6", data)

	// Without the limits node, the stats node is left as it is.
	require.NoError(t, c.Delete(ctx, limits, zk.AnyVersion))
	mustCreate(t, c, root+"/q/d", []byte("more"))
	data, _ = statsData()
	require.Equal(t, "count=3,bytes=6", data)
	wantPending(t, watch)
}
