package conformance

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
)

var opsCases = []conformanceCase{
	{"create", caseCreate},
	{"create_errors", caseCreateErrors},
	{"sequential", caseSequential},
	{"null_vs_empty", caseNullVsEmpty},
	{"set_delete", caseSetDelete},
	{"children", caseChildren},
	{"exists", caseExists},
	{"reserved", caseReserved},
	{"sync", caseSync},
	{"large_data", caseLargeData},
	{"error_precedence", caseErrorPrecedence},
	{"zxids", caseZxids},
	{"session_timeout", caseSessionTimeout},
}

// caseCreate: a create's path, the new node's Stat and the parent's.
func caseCreate(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	before := mustStat(t, c, root)
	require.Equal(t, statShape{}, shape(before))
	require.Equal(t, before.Czxid, before.Mzxid)
	require.Equal(t, before.Czxid, before.Pzxid)

	t0 := time.Now()
	p, err := c.Create(ctx, root+"/a", []byte("hello"), zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	require.Equal(t, root+"/a", p)
	data, st, err := c.Get(ctx, root+"/a")
	require.NoError(t, err)
	require.Equal(t, "hello", string(data))
	require.Equal(t, statShape{DataLength: 5}, shape(st))
	require.Equal(t, st.Czxid, st.Mzxid, "mzxid == czxid after create")
	require.Equal(t, st.Czxid, st.Pzxid, "pzxid == czxid after create")
	require.Equal(t, st.Ctime, st.Mtime)
	require.InDelta(t, t0.UnixMilli(), st.Ctime, 5000)
	require.Greater(t, st.Czxid, before.Czxid)

	parent := mustStat(t, c, root)
	require.Equal(t, statShape{Cversion: 1, NumChildren: 1}, shape(parent))
	require.Equal(t, st.Czxid, parent.Pzxid, "the parent's pzxid is the child's czxid")
	require.Equal(t, before.Mzxid, parent.Mzxid, "a child create leaves the parent's mzxid")
	require.Equal(t, before.Mtime, parent.Mtime)

	// Ephemeral: the owner is the session.
	p, st, err = c.CreateStat(ctx, root+"/e", []byte{}, zk.CreateEphemeral, zk.OpenACL)
	require.NoError(t, err)
	require.Equal(t, root+"/e", p)
	require.Equal(t, statShape{EphemeralOwner: c.SessionID()}, shape(st))
	require.Equal(t, st, mustStat(t, c, root+"/e"))

	// Data and ACL are stored as given.
	acl := []zk.ACL{{Perms: zk.PermRead | zk.PermWrite, Scheme: "world", ID: "anyone"}}
	_, err = c.Create(ctx, root+"/b", []byte{0, 1, 2}, zk.CreatePersistent, acl)
	require.NoError(t, err)
	got, st, err := c.GetACL(ctx, root+"/b")
	require.NoError(t, err)
	require.Equal(t, acl, got)
	require.Equal(t, statShape{DataLength: 3}, shape(st))
	// Duplicate ACL entries are removed.
	_, err = c.Create(ctx, root+"/dup", nil, zk.CreatePersistent, append(zk.OpenACL, zk.OpenACL...))
	require.NoError(t, err)
	got, _, err = c.GetACL(ctx, root+"/dup")
	require.NoError(t, err)
	require.Equal(t, zk.OpenACL, got)
}

// caseCreateErrors: the error codes of create, in the server's order of
// checks.
func caseCreateErrors(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	mustCreate(t, c, root+"/a", nil)
	_, err := c.Create(ctx, root+"/e", nil, zk.CreateEphemeral, zk.OpenACL)
	require.NoError(t, err)

	_, err = c.Create(ctx, root+"/a", nil, zk.CreatePersistent, zk.OpenACL)
	requireCode(t, err, zk.ErrNodeExists, "create", root+"/a")
	_, err = c.Create(ctx, root+"/missing/a", nil, zk.CreatePersistent, zk.OpenACL)
	requireCode(t, err, zk.ErrNoNode, "create", root+"/missing/a")
	_, err = c.Create(ctx, root+"/e/kid", nil, zk.CreatePersistent, zk.OpenACL)
	requireCode(t, err, zk.ErrNoChildrenForEphemerals, "create", root+"/e/kid")
	_, err = c.Create(ctx, root+"/e/s-", nil, zk.CreateEphemeralSequential, zk.OpenACL)
	requireCode(t, err, zk.ErrNoChildrenForEphemerals, "create", root+"/e/s-")
	// NodeExists is checked before NoChildrenForEphemerals.
	_, err = c.Create(ctx, root+"/e", nil, zk.CreatePersistent, zk.OpenACL)
	requireCode(t, err, zk.ErrNodeExists, "create", root+"/e")

	// ACLs the client sends but the server refuses: InvalidACL, checked
	// before the parent is even looked up.
	invalid := [][]zk.ACL{
		zk.CreatorAllACL, // "auth" with no authenticated id
		{{Perms: zk.PermAll, Scheme: "digest", ID: "nocolon"}},
		{{Perms: zk.PermAll, Scheme: "digest", ID: "a:b:c"}},
		{{Perms: zk.PermAll, Scheme: "nosuchscheme", ID: "x"}},
		{{Perms: zk.PermAll, Scheme: "world", ID: "someone"}},
		{{Perms: zk.PermAll, Scheme: "ip", ID: "not-an-address"}},
		{{Perms: zk.PermAll, Scheme: "ip", ID: "127.0.0.1/33"}},
		{{Perms: zk.PermAll, Scheme: "ip", ID: "::1/129"}},   // no release takes it
		{{Perms: zk.PermAll, Scheme: "ip", ID: "1::2::3"}},   // nor this
		{{Perms: zk.PermAll, Scheme: "digest", ID: "user:"}}, // nor an empty digest
		{zk.OpenACL[0], {Perms: zk.PermAll, Scheme: "digest", ID: "nocolon"}},
	}
	// Valid ids of each provider, accepted.
	valid := [][]zk.ACL{
		{{Perms: zk.PermAll, Scheme: "digest", ID: "user:hash"}},
		{{Perms: zk.PermAll, Scheme: "ip", ID: "127.0.0.1"}},
		{{Perms: zk.PermAll, Scheme: "ip", ID: "10.0.0.0/8"}},
		{{Perms: zk.PermAll, Scheme: "ip", ID: "10.0.0.01/0"}},
		{{Perms: zk.PermAll, Scheme: "digest", ID: ":hash"}},
	}
	ipv6 := [][]zk.ACL{
		{{Perms: zk.PermAll, Scheme: "ip", ID: "::1"}},
		{{Perms: zk.PermAll, Scheme: "ip", ID: "2001:db8::/32"}},
	}
	if b.Version().ipv6ACLs() {
		// ZOOKEEPER-4240 (3.9.4): IPv6 addresses are ip ids.
		valid = append(valid, ipv6...)
	} else {
		// Before 3.9.4 the ip provider parses dotted IPv4 only.
		invalid = append(invalid, ipv6...)
	}
	for _, acl := range invalid {
		_, err = c.Create(ctx, root+"/x", nil, zk.CreatePersistent, acl)
		requireCode(t, err, zk.ErrInvalidACL, "create", root+"/x", "ACL %v", acl)
		_, err = c.Create(ctx, root+"/missing/x", nil, zk.CreatePersistent, acl)
		requireCode(t, err, zk.ErrInvalidACL, "create", root+"/missing/x", "ACL %v", acl)
		_, err = c.Create(ctx, root+"/a", nil, zk.CreatePersistent, acl)
		requireCode(t, err, zk.ErrInvalidACL, "create", root+"/a", "ACL %v", acl)
	}
	ok, _, err := c.Exists(ctx, root+"/x")
	require.NoError(t, err)
	require.False(t, ok)
	for i, acl := range valid {
		p := root + "/ok" + string(rune('0'+i))
		// world:anyone ADMIN lets this handle read the ACL back, unmasked.
		acl = append(acl, zk.ACL{Perms: zk.PermAdmin, Scheme: "world", ID: "anyone"})
		_, err = c.Create(ctx, p, nil, zk.CreatePersistent, acl)
		require.NoError(t, err, "ACL %v", acl)
		got, _, err := c.GetACL(ctx, p)
		require.NoError(t, err)
		require.Equal(t, acl, got)
	}
}

// caseSequential: the suffix counts the parent's child creates (every
// create, sequential or not); the reported cversion counts creates and
// deletes (PROTOCOL.md §11.3).
func caseSequential(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	create := func(path string, mode zk.CreateMode) string {
		t.Helper()
		p, err := c.Create(ctx, path, nil, mode, zk.OpenACL)
		require.NoError(t, err, "create %s", path)
		return p
	}
	p0 := create(root+"/s-", zk.CreatePersistentSequential)
	p1 := create(root+"/s-", zk.CreatePersistentSequential)
	require.Equal(t, root+"/s-0000000000", p0)
	require.Equal(t, root+"/s-0000000001", p1)
	create(root+"/plain", zk.CreatePersistent) // takes number 2
	p3 := create(root+"/s-", zk.CreateEphemeralSequential)
	require.Equal(t, root+"/s-0000000003", p3)
	require.Equal(t, c.SessionID(), mustStat(t, c, p3).EphemeralOwner)

	require.NoError(t, c.Delete(ctx, p0, zk.AnyVersion))
	require.NoError(t, c.Delete(ctx, p1, zk.AnyVersion))
	st := mustStat(t, c, root)
	require.Equal(t, statShape{Cversion: 6, NumChildren: 2}, shape(st), "4 creates and 2 deletes")
	require.Equal(t, root+"/s-0000000004", create(root+"/s-", zk.CreatePersistentSequential), "(cversion+numChildren)/2")
	// A sequential path may end in '/': the suffix is the whole name.
	require.Equal(t, root+"/0000000005", create(root+"/", zk.CreatePersistentSequential))
	// The suffix may collide with a node made by hand: NodeExists, and the
	// failed create takes no number.
	create(root+"/x0000000007", zk.CreatePersistent) // number 6
	_, err := c.Create(ctx, root+"/x", nil, zk.CreatePersistentSequential, zk.OpenACL)
	requireCode(t, err, zk.ErrNodeExists, "create", root+"/x")
	require.Equal(t, root+"/y0000000007", create(root+"/y", zk.CreatePersistentSequential))
	// Under a missing parent, the error names the caller's path.
	_, err = c.Create(ctx, root+"/missing/s-", nil, zk.CreatePersistentSequential, zk.OpenACL)
	requireCode(t, err, zk.ErrNoNode, "create", root+"/missing/s-")
	// The counter is per parent.
	mustCreate(t, c, root+"/q", nil)
	require.Equal(t, root+"/q/0000000000", create(root+"/q/", zk.CreateEphemeralSequential))
	st = mustStat(t, c, root)
	require.Equal(t, statShape{Cversion: 11, NumChildren: 7}, shape(st), "9 creates and 2 deletes")
}

// caseNullVsEmpty: null data and empty data are different on the wire and
// come back as written.
func caseNullVsEmpty(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	_, err := c.Create(ctx, root+"/null", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	_, err = c.Create(ctx, root+"/empty", []byte{}, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	get := func(p string) []byte {
		t.Helper()
		data, st, err := c.Get(ctx, p)
		require.NoError(t, err)
		require.Zero(t, st.DataLength)
		return data
	}
	require.Nil(t, get(root+"/null"))
	require.NotNil(t, get(root+"/empty"))
	require.Empty(t, get(root+"/empty"))
	// The root node was created with null data too.
	require.Nil(t, get(root))

	_, err = c.Set(ctx, root+"/null", []byte{}, zk.AnyVersion)
	require.NoError(t, err)
	_, err = c.Set(ctx, root+"/empty", nil, zk.AnyVersion)
	require.NoError(t, err)
	require.NotNil(t, get(root+"/null"))
	require.Nil(t, get(root+"/empty"))

	multiRead := func() ([]zk.ReadResult, error) {
		return c.MultiRead(ctx, zk.GetDataOp{Path: root + "/null"}, zk.GetDataOp{Path: root + "/empty"})
	}
	if !b.Version().has(since360) {
		requireUnimplemented(t, c, since360, func() error { _, err := multiRead(); return err })
		return
	}
	res, err := multiRead()
	require.NoError(t, err)
	require.NotNil(t, res[0].Data)
	require.Nil(t, res[1].Data)
}

// caseSetDelete: versions, and the errors of set and delete.
func caseSetDelete(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	a := root + "/a"
	mustCreate(t, c, a, []byte("v0"))
	st0 := mustStat(t, c, a)

	st1, err := c.Set(ctx, a, []byte("v1!"), 0)
	require.NoError(t, err)
	require.Equal(t, statShape{Version: 1, DataLength: 3}, shape(st1))
	require.Equal(t, st0.Czxid, st1.Czxid)
	require.Equal(t, st0.Pzxid, st1.Pzxid)
	require.Equal(t, st0.Ctime, st1.Ctime)
	require.Greater(t, st1.Mzxid, st0.Mzxid)
	require.GreaterOrEqual(t, st1.Mtime, st0.Mtime)
	require.Equal(t, st1, mustStat(t, c, a))

	_, err = c.Set(ctx, a, []byte("x"), 0)
	requireCode(t, err, zk.ErrBadVersion, "set", a)
	st2, err := c.Set(ctx, a, []byte("v2"), zk.AnyVersion)
	require.NoError(t, err)
	require.Equal(t, int32(2), st2.Version)
	_, err = c.Set(ctx, root+"/missing", nil, zk.AnyVersion)
	requireCode(t, err, zk.ErrNoNode, "set", root+"/missing")
	// Setting the same data again is still a change.
	st3, err := c.Set(ctx, a, []byte("v2"), 2)
	require.NoError(t, err)
	require.Equal(t, int32(3), st3.Version)
	require.Greater(t, st3.Mzxid, st2.Mzxid)

	mustCreate(t, c, a+"/kid", nil)
	kid := mustStat(t, c, a+"/kid")
	err = c.Delete(ctx, a, 5)
	requireCode(t, err, zk.ErrBadVersion, "delete", a) // the version is checked first
	err = c.Delete(ctx, a, zk.AnyVersion)
	requireCode(t, err, zk.ErrNotEmpty, "delete", a)
	err = c.Delete(ctx, a+"/kid", 1)
	requireCode(t, err, zk.ErrBadVersion, "delete", a+"/kid")
	require.NoError(t, c.Delete(ctx, a+"/kid", 0))
	pst := mustStat(t, c, a)
	require.Equal(t, statShape{Version: 3, Cversion: 2, DataLength: 2}, shape(pst))
	require.Greater(t, pst.Pzxid, kid.Czxid, "a child delete moves the parent's pzxid")
	require.Equal(t, st3.Mzxid, pst.Mzxid, "and leaves its mzxid")
	require.NoError(t, c.Delete(ctx, a, 3))
	err = c.Delete(ctx, a, zk.AnyVersion)
	requireCode(t, err, zk.ErrNoNode, "delete", a)
	err = c.Delete(ctx, root+"/missing/x", zk.AnyVersion)
	requireCode(t, err, zk.ErrNoNode, "delete", root+"/missing/x")
	ok, st, err := c.Exists(ctx, a)
	require.NoError(t, err)
	require.False(t, ok)
	require.Nil(t, st)
}

// caseChildren: names, the parent's Stat, and NoNode.
func caseChildren(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	names, st, err := c.Children(ctx, root)
	require.NoError(t, err)
	require.Equal(t, []string{}, names)
	require.Equal(t, statShape{}, shape(st))
	for _, n := range []string{"b", "a", "c"} {
		mustCreate(t, c, root+"/"+n, []byte(n))
	}
	names, st, err = c.Children(ctx, root)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c"}, sorted(names))
	require.Equal(t, mustStat(t, c, root), st)
	require.Equal(t, statShape{Cversion: 3, NumChildren: 3}, shape(st))
	_, _, err = c.Children(ctx, root+"/missing")
	requireCode(t, err, zk.ErrNoNode, "children", root+"/missing")

	names, _, err = c.Children(ctx, "/")
	require.NoError(t, err)
	require.Contains(t, names, "zookeeper")
	require.Contains(t, names, root[1:])
	names, _, err = c.Children(ctx, "/zookeeper")
	require.NoError(t, err)
	require.Equal(t, []string{"config", "quota"}, sorted(names))
}

// caseExists: present, missing, missing parent.
func caseExists(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	for _, p := range []string{root + "/missing", root + "/missing/kid"} {
		ok, st, err := c.Exists(ctx, p)
		require.NoError(t, err)
		require.False(t, ok)
		require.Nil(t, st)
	}
	ok, st, err := c.Exists(ctx, root)
	require.NoError(t, err)
	require.True(t, ok)
	_, st2, err := c.Get(ctx, root)
	require.NoError(t, err)
	require.Equal(t, st2, st)
}

// caseReserved: the nodes every server has, and what may be done to them.
func caseReserved(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	for _, p := range []string{"/zookeeper", "/zookeeper/quota", "/zookeeper/config"} {
		err := c.Delete(ctx, p, zk.AnyVersion)
		requireCode(t, err, zk.ErrBadArguments, "delete", p)
	}
	err := c.Delete(ctx, "/", zk.AnyVersion)
	requireCode(t, err, zk.ErrBadArguments, "delete", "/")
	_, err = c.Set(ctx, "/zookeeper/config", []byte("x"), zk.AnyVersion)
	requireCode(t, err, zk.ErrNoAuth, "set", "/zookeeper/config")
	_, err = c.Create(ctx, "/zookeeper/config/x", nil, zk.CreatePersistent, zk.OpenACL)
	requireCode(t, err, zk.ErrNoAuth, "create", "/zookeeper/config/x")
	_, err = c.Create(ctx, "/", nil, zk.CreatePersistent, zk.OpenACL)
	requireCode(t, err, zk.ErrNodeExists, "create", "/")

	acl, st, err := c.GetACL(ctx, "/zookeeper/config")
	require.NoError(t, err)
	require.Equal(t, zk.ReadACL, acl)
	// Its ACL was set with version -1 when the tree was made.
	require.Equal(t, statShape{Aversion: -1}, shape(st))
	acl, _, err = c.GetACL(ctx, "/zookeeper")
	require.NoError(t, err)
	require.Equal(t, zk.OpenACL, acl)
	acl, _, err = c.GetACL(ctx, "/")
	require.NoError(t, err)
	require.Equal(t, zk.OpenACL, acl)
	for _, p := range []string{"/zookeeper", "/zookeeper/quota"} {
		data, st, err := c.Get(ctx, p)
		require.NoError(t, err)
		require.Empty(t, data, p)
		require.Zero(t, st.Czxid, p)
		require.Zero(t, st.Mzxid, p)
		require.Zero(t, st.Version, p)
	}
	_, st, err = c.Get(ctx, "/zookeeper")
	require.NoError(t, err)
	require.Equal(t, statShape{Cversion: -2, NumChildren: 2}, shape(st)) // 2*0 creates - 2 children
}

// caseSync: sync answers for any path.
func caseSync(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	require.NoError(t, c.Sync(ctx, root))
	require.NoError(t, c.Sync(ctx, "/"))
	require.NoError(t, c.Sync(ctx, root+"/missing"))
}

// caseLargeData: data near the 1 MiB frame limit goes both ways.
func caseLargeData(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1_048_000/16)
	_, err := c.Create(ctx, root+"/big", big, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	data, st, err := c.Get(ctx, root+"/big")
	require.NoError(t, err)
	require.Equal(t, int32(len(big)), st.DataLength)
	require.True(t, bytes.Equal(big, data))
	// Over the limit: refused by the client, nothing sent.
	_, err = c.Set(ctx, root+"/big", make([]byte, 1<<20), zk.AnyVersion)
	require.ErrorIs(t, err, zk.ErrTooLarge)
}

// caseZxids: every write takes a zxid, even one that fails; a multi takes
// one for all its ops; reads take none.
func caseZxids(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	mustCreate(t, c, root+"/a", nil)
	z0 := mustStat(t, c, root+"/a").Czxid

	// Reads.
	_, _, err := c.Get(ctx, root+"/a")
	require.NoError(t, err)
	_, _, err = c.Children(ctx, root)
	require.NoError(t, err)
	_, _, err = c.GetACL(ctx, root)
	require.NoError(t, err)
	require.NoError(t, c.Sync(ctx, root))
	_, _, err = c.Get(ctx, root+"/missing")
	require.ErrorIs(t, err, zk.ErrNoNode)
	// The reads a server does not have take no zxid either (the server
	// answers Unimplemented, and closes the connection: reconnecting to
	// the session takes none).
	v := b.Version()
	read := func(since zkVersion, op func() error) {
		t.Helper()
		if v.has(since) {
			require.NoError(t, op())
		} else {
			requireUnimplemented(t, c, since, op)
		}
	}
	read(since360, func() error { _, err := c.GetEphemerals(ctx, "/"); return err })
	read(since360, func() error { _, err := c.GetAllChildrenNumber(ctx, root); return err })
	read(since370, func() error { _, err := c.WhoAmI(ctx); return err })
	_, _, _, err = c.GetW(ctx, root+"/a")
	require.NoError(t, err)
	require.NoError(t, c.CheckWatches(ctx, root+"/a", zk.WatcherData))
	require.NoError(t, c.RemoveWatches(ctx, root+"/a", zk.WatcherData))
	read(since360, func() error {
		w, err := c.AddWatch(ctx, root+"/a", zk.AddWatchModePersistent)
		if err != nil {
			return err
		}
		return w.Remove(ctx)
	})
	mustCreate(t, c, root+"/b", nil)
	z1 := mustStat(t, c, root+"/b").Czxid
	require.Equal(t, z0+1, z1, "reads take no zxid")

	// Failed writes.
	_, err = c.Create(ctx, root+"/a", nil, zk.CreatePersistent, zk.OpenACL)
	require.ErrorIs(t, err, zk.ErrNodeExists)
	_, err = c.Create(ctx, root+"/x", nil, zk.CreatePersistent, zk.CreatorAllACL)
	require.ErrorIs(t, err, zk.ErrInvalidACL)
	require.ErrorIs(t, c.Delete(ctx, root+"/missing", zk.AnyVersion), zk.ErrNoNode)
	_, err = c.Set(ctx, root+"/a", nil, 7)
	require.ErrorIs(t, err, zk.ErrBadVersion)
	_, err = c.SetACL(ctx, root+"/a", zk.OpenACL, 7)
	require.ErrorIs(t, err, zk.ErrBadVersion)
	_, err = c.Multi(ctx, &zk.CreateOp{Path: root + "/m", ACL: zk.OpenACL}, &zk.CheckOp{Path: root + "/a", Version: 9})
	require.ErrorIs(t, err, zk.ErrBadVersion)
	// A multi: one zxid.
	res, err := c.Multi(ctx, &zk.CreateOp{Path: root + "/c", ACL: zk.OpenACL}, &zk.SetDataOp{Path: root + "/a", Version: zk.AnyVersion})
	require.NoError(t, err)
	zc := mustStat(t, c, root+"/c").Czxid
	require.Equal(t, z1+7, zc, "6 failed writes took one zxid each")
	require.Equal(t, zc, res[1].Stat.Mzxid)
	// setACL takes one.
	_, err = c.SetACL(ctx, root+"/a", zk.OpenACL, zk.AnyVersion)
	require.NoError(t, err)
	mustCreate(t, c, root+"/d", nil)
	require.Equal(t, zc+2, mustStat(t, c, root+"/d").Czxid)
}

// caseSessionTimeout: the requested timeout is clamped into
// [minSessionTimeout, maxSessionTimeout].
func caseSessionTimeout(t *testing.T, b backend) {
	for _, tc := range []struct{ ask, want time.Duration }{
		{time.Hour, maxSessionTimeout},
		{time.Millisecond, minSessionTimeout},
		{5 * time.Second, 5 * time.Second},
		{1234 * time.Millisecond, 1234 * time.Millisecond},
	} {
		c, err := zk.Connect(testCtx(t), b.ConnString(), zk.WithSessionTimeout(tc.ask))
		require.NoError(t, err)
		require.Equal(t, tc.want, c.SessionTimeout(), "asked %v", tc.ask)
		id, pw := c.SessionID(), c.SessionPassword()
		require.NoError(t, c.Close())
		// The session is gone at once: resuming it is refused.
		_, err = zk.Connect(testCtx(t), b.ConnString(), zk.WithSession(id, pw))
		require.ErrorIs(t, err, zk.ErrSessionExpired)
	}
}

// endSession makes sure a session is over now, not when it times out
// (which would be a transaction at some random later time): it resumes it
// and closes it, unless it is already gone.
func endSession(t *testing.T, connString string, id int64, passwd []byte) {
	t.Helper()
	c, err := zk.Connect(testCtx(t), connString, zk.WithSession(id, passwd), zk.WithSessionTimeout(sessionTimeout))
	if errors.Is(err, zk.ErrSessionExpired) {
		return
	}
	require.NoError(t, err)
	require.NoError(t, c.Close())
}

// caseErrorPrecedence: when several things are wrong, the error is the
// one the server checks first: ACL validity, then the parent, then
// permission, then the node and its version.
func caseErrorPrecedence(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	ro := root + "/ro"
	_, err := c.Create(ctx, ro, nil, zk.CreatePersistent, zk.ReadACL)
	require.NoError(t, err)
	bad := []zk.ACL{{Perms: zk.PermAll, Scheme: "digest", ID: "nocolon"}}

	_, err = c.Create(ctx, ro+"/x", nil, zk.CreatePersistent, zk.OpenACL)
	requireCode(t, err, zk.ErrNoAuth, "create", ro+"/x")
	_, err = c.Create(ctx, ro+"/x", nil, zk.CreatePersistent, bad)
	requireCode(t, err, zk.ErrInvalidACL, "create", ro+"/x") // ACL before permission
	err = c.Delete(ctx, ro+"/missing", zk.AnyVersion)
	if b.Version().deleteChecksPermissionFirst() {
		// ZOOKEEPER-2892 (3.6.0): the parent's DELETE permission, then
		// the node.
		requireCode(t, err, zk.ErrNoAuth, "delete", ro+"/missing") // permission before the node
	} else {
		// 3.5 looks the node up first.
		requireCode(t, err, zk.ErrNoNode, "delete", ro+"/missing")
		mustCreate(t, c, root+"/w", nil)
		_, err = c.Create(ctx, root+"/w/kid", nil, zk.CreatePersistent, zk.ReadACL)
		require.NoError(t, err)
		_, err = c.SetACL(ctx, root+"/w", zk.ReadACL, zk.AnyVersion)
		require.NoError(t, err)
		err = c.Delete(ctx, root+"/w/kid", zk.AnyVersion)
		requireCode(t, err, zk.ErrNoAuth, "delete", root+"/w/kid") // a present node: permission
	}
	_, err = c.Set(ctx, ro, nil, 5)
	requireCode(t, err, zk.ErrNoAuth, "set", ro) // permission before the version
	_, err = c.SetACL(ctx, root+"/missing", bad, zk.AnyVersion)
	requireCode(t, err, zk.ErrInvalidACL, "setACL", root+"/missing") // ACL before the node
	_, err = c.SetACL(ctx, ro, zk.OpenACL, 5)
	requireCode(t, err, zk.ErrNoAuth, "setACL", ro)
	_, err = c.Multi(ctx, &zk.CheckOp{Path: ro, Version: 0}, &zk.SetDataOp{Path: ro, Version: 0})
	requireCode(t, err, zk.ErrNoAuth, "multi", ro)

	// A node nobody may do anything with (permissions 0).
	none := []zk.ACL{{Perms: 0, Scheme: "world", ID: "anyone"}}
	_, err = c.Create(ctx, root+"/none", nil, zk.CreatePersistent, none)
	require.NoError(t, err)
	_, _, err = c.Get(ctx, root+"/none")
	requireCode(t, err, zk.ErrNoAuth, "get", root+"/none")
	_, _, err = c.GetACL(ctx, root+"/none")
	requireCode(t, err, zk.ErrNoAuth, "getACL", root+"/none")
	ok, st, err := c.Exists(ctx, root+"/none")
	if b.Version().existsChecksRead() {
		// ZOOKEEPER-2590 (3.8.4, 3.9.2): exists needs READ on a present
		// node.
		requireCode(t, err, zk.ErrNoAuth, "exists", root+"/none")
		require.False(t, ok)
		require.Nil(t, st)
	} else {
		// Earlier servers answer exists without a permission check.
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, statShape{}, shape(st))
	}
	// Of a missing node, any server answers (there is no ACL to check).
	ok, _, err = c.Exists(ctx, root+"/none/missing")
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, c.Delete(ctx, root+"/none", zk.AnyVersion)) // DELETE is the parent's
}
