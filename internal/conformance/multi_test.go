package conformance

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
)

var multiCases = []conformanceCase{
	{"multi_ok", caseMultiOK},
	{"multi_fail", caseMultiFail},
	{"multi_create2", caseMultiCreate2},
	{"multi_read", caseMultiRead},
}

// resultErrs returns the Err of each multi result.
func resultErrs(res []zk.OpResult) []error {
	out := make([]error, len(res))
	for i, r := range res {
		out[i] = r.Err
	}
	return out
}

// caseMultiOK: every op's result, one zxid for all, ops seeing the
// effects of the ops before them.
func caseMultiOK(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	mustCreate(t, c, root+"/a", []byte("a0"))
	mustCreate(t, c, root+"/del", nil)

	res, err := c.Multi(ctx,
		&zk.CreateOp{Path: root + "/n", Data: []byte("n"), Mode: zk.CreatePersistent, ACL: zk.OpenACL},
		&zk.CreateOp{Path: root + "/s-", Mode: zk.CreatePersistentSequential, ACL: zk.OpenACL},
		&zk.SetDataOp{Path: root + "/a", Data: []byte("a1"), Version: 0},
		&zk.CheckOp{Path: root + "/a", Version: 1}, // sees the set before it
		&zk.DeleteOp{Path: root + "/del", Version: 0},
		zk.CreateOp{Path: root + "/n/kid", Mode: zk.CreateEphemeral, ACL: zk.OpenACL}, // under the node made above
		zk.CheckOp{Path: root + "/n", Version: zk.AnyVersion},
	)
	require.NoError(t, err)
	require.Len(t, res, 7)
	require.Equal(t, zk.OpResult{Path: root + "/n"}, res[0])
	require.Equal(t, zk.OpResult{Path: root + "/s-0000000003"}, res[1])
	require.Empty(t, res[2].Path)
	require.NoError(t, res[2].Err)
	require.Equal(t, statShape{Version: 1, DataLength: 2}, shape(res[2].Stat))
	require.Equal(t, zk.OpResult{}, res[3])
	require.Equal(t, zk.OpResult{}, res[4])
	require.Equal(t, zk.OpResult{Path: root + "/n/kid"}, res[5])
	require.Equal(t, zk.OpResult{}, res[6])

	// One transaction, one zxid.
	z := res[2].Stat.Mzxid
	require.Equal(t, res[2].Stat, mustStat(t, c, root+"/a"))
	require.Equal(t, z, mustStat(t, c, root+"/n").Czxid)
	require.Equal(t, z, mustStat(t, c, root+"/n/kid").Czxid)
	require.Equal(t, z, mustStat(t, c, root+"/s-0000000003").Czxid)
	require.Equal(t, c.SessionID(), mustStat(t, c, root+"/n/kid").EphemeralOwner)
	ok, _, err := c.Exists(ctx, root+"/del")
	require.NoError(t, err)
	require.False(t, ok)
	st := mustStat(t, c, root)
	require.Equal(t, statShape{Cversion: 5, NumChildren: 3}, shape(st)) // 4 creates, 1 delete
	require.Equal(t, z, st.Pzxid)
}

// caseMultiFail: a failed multi applies nothing; the failing op has its
// code, those before it OK, those after it RuntimeInconsistency.
func caseMultiFail(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	mustCreate(t, c, root+"/a", []byte("a0"))
	before := mustStat(t, c, root)
	rtI := zk.ErrRuntimeInconsistency

	for _, tc := range []struct {
		name     string
		ops      []zk.Op
		want     []error
		failPath string
	}{
		{
			name: "check fails after a set",
			ops: []zk.Op{
				&zk.CreateOp{Path: root + "/n", Mode: zk.CreatePersistent, ACL: zk.OpenACL},
				&zk.SetDataOp{Path: root + "/a", Data: []byte("x"), Version: zk.AnyVersion},
				&zk.CheckOp{Path: root + "/a", Version: 5},
				&zk.DeleteOp{Path: root + "/missing", Version: zk.AnyVersion},
				&zk.CreateOp{Path: root + "/n", Mode: zk.CreatePersistent, ACL: zk.OpenACL},
			},
			want:     []error{nil, nil, zk.ErrBadVersion, rtI, rtI},
			failPath: root + "/a",
		},
		{
			name: "first op fails",
			ops: []zk.Op{
				&zk.DeleteOp{Path: root + "/a", Version: 7},
				&zk.CreateOp{Path: root + "/n", Mode: zk.CreatePersistent, ACL: zk.OpenACL},
			},
			want:     []error{zk.ErrBadVersion, rtI},
			failPath: root + "/a",
		},
		{
			name: "second create of the same node",
			ops: []zk.Op{
				&zk.CreateOp{Path: root + "/x", Mode: zk.CreatePersistent, ACL: zk.OpenACL},
				&zk.CreateOp{Path: root + "/x", Mode: zk.CreatePersistent, ACL: zk.OpenACL},
			},
			want:     []error{nil, zk.ErrNodeExists},
			failPath: root + "/x",
		},
		{
			name: "child of an ephemeral made in the same multi",
			ops: []zk.Op{
				&zk.CreateOp{Path: root + "/e", Mode: zk.CreateEphemeral, ACL: zk.OpenACL},
				&zk.CreateOp{Path: root + "/e/kid", Mode: zk.CreatePersistent, ACL: zk.OpenACL},
			},
			want:     []error{nil, zk.ErrNoChildrenForEphemerals},
			failPath: root + "/e/kid",
		},
		{
			name: "delete of a node given a child in the same multi",
			ops: []zk.Op{
				&zk.CreateOp{Path: root + "/p", Mode: zk.CreatePersistent, ACL: zk.OpenACL},
				&zk.CreateOp{Path: root + "/p/k", Mode: zk.CreatePersistent, ACL: zk.OpenACL},
				&zk.DeleteOp{Path: root + "/p", Version: zk.AnyVersion},
			},
			want:     []error{nil, nil, zk.ErrNotEmpty},
			failPath: root + "/p",
		},
		{
			name: "set of a missing node",
			ops: []zk.Op{
				&zk.SetDataOp{Path: root + "/missing", Version: zk.AnyVersion},
				&zk.CheckOp{Path: root + "/a", Version: 0},
			},
			want:     []error{zk.ErrNoNode, rtI},
			failPath: root + "/missing",
		},
		{
			name: "invalid ACL",
			ops: []zk.Op{
				&zk.CheckOp{Path: root + "/a", Version: 0},
				&zk.CreateOp{Path: root + "/y", Mode: zk.CreatePersistent, ACL: zk.CreatorAllACL},
			},
			want:     []error{nil, zk.ErrInvalidACL},
			failPath: root + "/y",
		},
	} {
		res, err := c.Multi(ctx, tc.ops...)
		requireCode(t, err, tc.want[indexOfFailure(tc.want)], "multi", tc.failPath)
		require.Equal(t, tc.want, resultErrs(res), tc.name)
		for i, r := range res {
			require.Empty(t, r.Path, "%s: result %d", tc.name, i)
			require.Nil(t, r.Stat, "%s: result %d", tc.name, i)
		}
	}
	// Nothing was applied.
	data, st, err := c.Get(ctx, root+"/a")
	require.NoError(t, err)
	require.Equal(t, "a0", string(data))
	require.Zero(t, st.Version)
	names, st, err := c.Children(ctx, root)
	require.NoError(t, err)
	require.Equal(t, []string{"a"}, names)
	require.Equal(t, before, st)
}

func indexOfFailure(errs []error) int {
	for i, e := range errs {
		if e != nil {
			return i
		}
	}
	return -1
}

// caseMultiCreate2: inside a multi, a plain create answers with its path
// only; container and TTL creates answer with path and Stat (as create2).
func caseMultiCreate2(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	res, err := c.Multi(ctx,
		&zk.CreateOp{Path: root + "/plain", Data: []byte("p"), Mode: zk.CreatePersistent, ACL: zk.OpenACL},
		&zk.CreateOp{Path: root + "/eph", Mode: zk.CreateEphemeral, ACL: zk.OpenACL},
		&zk.CreateOp{Path: root + "/cont", Data: []byte("cc"), Mode: zk.CreateContainer, ACL: zk.OpenACL},
		&zk.CreateOp{Path: root + "/ttl", Data: []byte("ttl"), Mode: zk.CreatePersistentTTL, ACL: zk.OpenACL, TTL: time.Hour},
		&zk.CreateOp{Path: root + "/sttl-", Mode: zk.CreatePersistentSequentialTTL, ACL: zk.OpenACL, TTL: time.Hour},
		&zk.CreateOp{Path: root + "/eseq-", Mode: zk.CreateEphemeralSequential, ACL: zk.OpenACL},
	)
	require.NoError(t, err)
	require.Equal(t, zk.OpResult{Path: root + "/plain"}, res[0])
	require.Equal(t, zk.OpResult{Path: root + "/eph"}, res[1])
	require.Equal(t, root+"/cont", res[2].Path)
	require.Equal(t, root+"/ttl", res[3].Path)
	require.Equal(t, root+"/sttl-0000000004", res[4].Path)
	require.Equal(t, zk.OpResult{Path: root + "/eseq-0000000005"}, res[5])
	for i, want := range []statShape{{DataLength: 2}, {DataLength: 3}, {}} {
		r := res[2+i]
		require.NoError(t, r.Err)
		require.NotNil(t, r.Stat, r.Path)
		require.Equal(t, want, shape(r.Stat), r.Path)
		require.Equal(t, r.Stat.Czxid, r.Stat.Mzxid)
		require.Equal(t, mustStat(t, c, r.Path), r.Stat, r.Path)
	}
}

// caseMultiRead: each read succeeds or fails on its own.
func caseMultiRead(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	mustCreate(t, c, root+"/a", []byte("A"))
	mustCreate(t, c, root+"/a/k", nil)
	_, err := c.Create(ctx, root+"/secret", []byte("s"), zk.CreatePersistent, zk.DigestACL(zk.PermAll, "u", "p"))
	require.NoError(t, err)

	multiRead := func() ([]zk.ReadResult, error) {
		return c.MultiRead(ctx,
			zk.GetDataOp{Path: root + "/a"},
			zk.GetChildrenOp{Path: root + "/missing"},
			zk.GetChildrenOp{Path: root + "/a"},
			&zk.GetDataOp{Path: root + "/missing"},
			zk.GetDataOp{Path: root + "/a/k"},
			zk.GetDataOp{Path: root + "/secret"},
			zk.GetChildrenOp{Path: root + "/a/k"},
			zk.GetChildrenOp{Path: root + "/secret"},
		)
	}
	if !b.Version().has(since360) {
		// multiRead is 3.6.0 (ZOOKEEPER-3402). The same reads one by one
		// answer as its results do.
		requireUnimplemented(t, c, since360, func() error { _, err := multiRead(); return err })
		data, st, err := c.Get(ctx, root+"/a")
		require.NoError(t, err)
		require.Equal(t, "A", string(data))
		require.Equal(t, mustStat(t, c, root+"/a"), st)
		_, _, err = c.Children(ctx, root+"/missing")
		requireCode(t, err, zk.ErrNoNode, "children", root+"/missing")
		names, _, err := c.Children(ctx, root+"/a")
		require.NoError(t, err)
		require.Equal(t, []string{"k"}, names)
		_, _, err = c.Get(ctx, root+"/missing")
		requireCode(t, err, zk.ErrNoNode, "get", root+"/missing")
		data, _, err = c.Get(ctx, root+"/a/k")
		require.NoError(t, err)
		require.Nil(t, data)
		_, _, err = c.Get(ctx, root+"/secret")
		requireCode(t, err, zk.ErrNoAuth, "get", root+"/secret")
		names, _, err = c.Children(ctx, root+"/a/k")
		require.NoError(t, err)
		require.Equal(t, []string{}, names)
		_, _, err = c.Children(ctx, root+"/secret")
		requireCode(t, err, zk.ErrNoAuth, "children", root+"/secret")
		return
	}
	res, err := multiRead()
	require.NoError(t, err)
	require.Len(t, res, 8)
	require.Equal(t, zk.ReadResult{Data: []byte("A"), Stat: mustStat(t, c, root+"/a")}, res[0])
	requireCode(t, res[1].Err, zk.ErrNoNode, "multiRead", root+"/missing")
	require.Equal(t, zk.ReadResult{Children: []string{"k"}}, res[2])
	requireCode(t, res[3].Err, zk.ErrNoNode, "multiRead", root+"/missing")
	require.Equal(t, zk.ReadResult{Stat: mustStat(t, c, root+"/a/k")}, res[4])
	requireCode(t, res[5].Err, zk.ErrNoAuth, "multiRead", root+"/secret")
	require.Equal(t, zk.ReadResult{Children: []string{}}, res[6])
	requireCode(t, res[7].Err, zk.ErrNoAuth, "multiRead", root+"/secret")
}
