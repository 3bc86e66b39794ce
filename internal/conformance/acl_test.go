package conformance

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
)

var aclCases = []conformanceCase{
	{"acl_digest", caseACLDigest},
	{"acl_auth_scheme", caseACLAuthScheme},
	{"acl_masked", caseACLMasked},
	{"acl_ip", caseACLIP},
	{"set_acl", caseSetACL},
	{"whoami", caseWhoAmI},
}

// caseACLDigest: a digest ACL refuses everyone else with NoAuth, and lets
// in a connection that authenticated as the user.
func caseACLDigest(t *testing.T, b backend) {
	owner := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, owner)
	s := root + "/s"
	acl := zk.DigestACL(zk.PermAll, "alice", "secret")
	_, err := owner.Create(ctx, s, []byte("data"), zk.CreatePersistent, acl)
	require.NoError(t, err)

	stranger := dial(t, b.ConnString())
	_, _, err = stranger.Get(ctx, s)
	requireCode(t, err, zk.ErrNoAuth, "get", s)
	_, _, _, err = stranger.GetW(ctx, s)
	requireCode(t, err, zk.ErrNoAuth, "get", s)
	_, err = stranger.Set(ctx, s, nil, zk.AnyVersion)
	requireCode(t, err, zk.ErrNoAuth, "set", s)
	_, _, err = stranger.Children(ctx, s)
	requireCode(t, err, zk.ErrNoAuth, "children", s)
	_, err = stranger.Create(ctx, s+"/kid", nil, zk.CreatePersistent, zk.OpenACL)
	requireCode(t, err, zk.ErrNoAuth, "create", s+"/kid")
	_, _, err = stranger.GetACL(ctx, s)
	requireCode(t, err, zk.ErrNoAuth, "getACL", s)
	_, err = stranger.SetACL(ctx, s, zk.OpenACL, zk.AnyVersion)
	requireCode(t, err, zk.ErrNoAuth, "setACL", s)
	v := b.Version()
	if v.has(since360) {
		_, err = stranger.GetAllChildrenNumber(ctx, s)
		requireCode(t, err, zk.ErrNoAuth, "getAllChildrenNumber", s)
	} else {
		requireUnimplemented(t, stranger, since360, func() error {
			_, err := stranger.GetAllChildrenNumber(ctx, s)
			return err
		})
	}
	_, err = stranger.Multi(ctx, &zk.CheckOp{Path: s, Version: zk.AnyVersion})
	requireCode(t, err, zk.ErrNoAuth, "multi", s)
	// Deleting needs DELETE on the parent, which is open.
	ok, st, err := stranger.Exists(ctx, s)
	var w <-chan zk.Event
	if v.existsChecksRead() {
		// ZOOKEEPER-2590 (3.8.4, 3.9.2): exists needs READ, and a refused
		// exists sets no watch.
		requireCode(t, err, zk.ErrNoAuth, "exists", s)
		require.False(t, ok)
		require.Nil(t, st)
		ok, _, w, err = stranger.ExistsW(ctx, s)
		requireCode(t, err, zk.ErrNoAuth, "exists", s)
		require.False(t, ok)
		require.Nil(t, w)
		requireCode(t, stranger.CheckWatches(ctx, s, zk.WatcherData), zk.ErrNoWatcher, "checkWatches", s)
	} else {
		// Earlier servers answer exists without a permission check, and
		// its watch needs none.
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, statShape{DataLength: 4}, shape(st))
		ok, _, w, err = stranger.ExistsW(ctx, s)
		require.NoError(t, err)
		require.True(t, ok)
	}
	// Sync needs no permission.
	require.NoError(t, stranger.Sync(ctx, s))

	// Wrong password: still refused.
	require.NoError(t, stranger.AddAuth(ctx, "digest", []byte("alice:wrong")))
	_, _, err = stranger.Get(ctx, s)
	requireCode(t, err, zk.ErrNoAuth, "get", s)
	// The right one: let in, for every operation.
	require.NoError(t, stranger.AddAuth(ctx, "digest", []byte("alice:secret")))
	data, _, err := stranger.Get(ctx, s)
	require.NoError(t, err)
	require.Equal(t, "data", string(data))
	if w == nil {
		// Now that it may READ, exists answers, and watches.
		ok, st, w, err = stranger.ExistsW(ctx, s)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, statShape{DataLength: 4}, shape(st))
	}
	_, err = stranger.Set(ctx, s, []byte("new"), zk.AnyVersion)
	require.NoError(t, err)
	wantEventNow(t, w, zk.EventNodeDataChanged, s)
	got, _, err := stranger.GetACL(ctx, s)
	require.NoError(t, err)
	require.Equal(t, acl, got)
	mustCreate(t, stranger, s+"/kid", nil)
	require.NoError(t, stranger.Delete(ctx, s+"/kid", zk.AnyVersion))

	// The owner, without the credentials, is a stranger too.
	_, _, err = owner.Get(ctx, s)
	requireCode(t, err, zk.ErrNoAuth, "get", s)
	// Anyone may delete it: DELETE is checked on the parent.
	require.NoError(t, owner.Delete(ctx, s, zk.AnyVersion))
}

// caseACLAuthScheme: the "auth" scheme stands for the caller's
// authenticated ids (digest, not ip); with none, InvalidACL.
func caseACLAuthScheme(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	_, err := c.Create(ctx, root+"/a", nil, zk.CreatePersistent, zk.CreatorAllACL)
	requireCode(t, err, zk.ErrInvalidACL, "create", root+"/a")
	mustCreate(t, c, root+"/open", nil)
	_, err = c.SetACL(ctx, root+"/open", zk.CreatorAllACL, zk.AnyVersion)
	requireCode(t, err, zk.ErrInvalidACL, "setACL", root+"/open")

	require.NoError(t, c.AddAuth(ctx, "digest", []byte("bob:pw")))
	require.NoError(t, c.AddAuth(ctx, "digest", []byte("carol:pw2")))
	_, err = c.Create(ctx, root+"/a", nil, zk.CreatePersistent, zk.AuthACL(zk.PermRead|zk.PermAdmin))
	require.NoError(t, err)
	got, _, err := c.GetACL(ctx, root+"/a")
	require.NoError(t, err)
	want := append(zk.DigestACL(zk.PermRead|zk.PermAdmin, "bob", "pw"), zk.DigestACL(zk.PermRead|zk.PermAdmin, "carol", "pw2")...)
	require.ElementsMatch(t, want, got)
	// Mixed with other entries.
	_, err = c.Create(ctx, root+"/b", nil, zk.CreatePersistent, append(zk.ReadACL, zk.AuthACL(zk.PermAll)...))
	require.NoError(t, err)
	got, _, err = c.GetACL(ctx, root+"/b")
	require.NoError(t, err)
	require.ElementsMatch(t, append(zk.ReadACL, append(zk.DigestACL(zk.PermAll, "bob", "pw"), zk.DigestACL(zk.PermAll, "carol", "pw2")...)...), got)
	_, err = c.Set(ctx, root+"/a", nil, zk.AnyVersion)
	requireCode(t, err, zk.ErrNoAuth, "set", root+"/a") // READ|ADMIN only
}

// caseACLMasked: getACL needs READ or ADMIN; without ADMIN, digest ids
// come back as user:x.
func caseACLMasked(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	acl := append(zk.ReadACL, zk.DigestACL(zk.PermAll, "dave", "pw")...)
	_, err := c.Create(ctx, root+"/m", nil, zk.CreatePersistent, acl)
	require.NoError(t, err)
	// This handle may READ (world) but not ADMIN: digest ids are masked.
	got, st, err := c.GetACL(ctx, root+"/m")
	require.NoError(t, err)
	require.Equal(t, statShape{}, shape(st))
	require.Equal(t, []zk.ACL{zk.ReadACL[0], {Perms: zk.PermAll, Scheme: "digest", ID: "dave:x"}}, got)
	// Authenticated as dave, it has ADMIN: unmasked.
	require.NoError(t, c.AddAuth(ctx, "digest", []byte("dave:pw")))
	got, _, err = c.GetACL(ctx, root+"/m")
	require.NoError(t, err)
	require.Equal(t, acl, got)

	adminOnly := []zk.ACL{{Perms: zk.PermAdmin, Scheme: "world", ID: "anyone"}}
	_, err = c.Create(ctx, root+"/admin", nil, zk.CreatePersistent, adminOnly)
	require.NoError(t, err)
	got, _, err = c.GetACL(ctx, root+"/admin")
	require.NoError(t, err)
	require.Equal(t, adminOnly, got)
	_, _, err = c.Get(ctx, root+"/admin")
	requireCode(t, err, zk.ErrNoAuth, "get", root+"/admin")

	writeOnly := []zk.ACL{{Perms: zk.PermWrite, Scheme: "world", ID: "anyone"}}
	_, err = c.Create(ctx, root+"/w", nil, zk.CreatePersistent, writeOnly)
	require.NoError(t, err)
	_, _, err = c.GetACL(ctx, root+"/w")
	requireCode(t, err, zk.ErrNoAuth, "getACL", root+"/w")
	_, err = c.Set(ctx, root+"/w", []byte("x"), zk.AnyVersion)
	require.NoError(t, err)
}

// caseACLIP: every connection is ip:<address>; ip ACLs match it, with or
// without a prefix length.
func caseACLIP(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	for _, tc := range []struct {
		id      string
		allowed bool
	}{
		{"127.0.0.1", true},
		{"127.0.0.0/8", true},
		{"127.1.2.3/8", true},
		{"0.0.0.0/0", true},
		{"10.0.0.1", false},
		{"127.0.0.2", false},
		{"127.0.0.2/31", false},
		{"127.0.0.2/30", true},
	} {
		p := root + "/n"
		_, err := c.Create(ctx, p, []byte("d"), zk.CreatePersistent, []zk.ACL{{Perms: zk.PermRead, Scheme: "ip", ID: tc.id}})
		require.NoError(t, err, tc.id)
		_, _, err = c.Get(ctx, p)
		if tc.allowed {
			require.NoError(t, err, tc.id)
		} else {
			requireCode(t, err, zk.ErrNoAuth, "get", p)
		}
		require.NoError(t, c.Delete(ctx, p, zk.AnyVersion))
	}
	// Authenticating with the ip scheme adds nothing an ACL would not see
	// anyway, and it does not count for "auth".
	require.NoError(t, c.AddAuth(ctx, "ip", nil))
	_, err := c.Create(ctx, root+"/x", nil, zk.CreatePersistent, zk.CreatorAllACL)
	requireCode(t, err, zk.ErrInvalidACL, "create", root+"/x")
}

// caseSetACL: setACL checks the ACL version (aversion), needs ADMIN, and
// changes nothing else of the Stat.
func caseSetACL(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	a := root + "/a"
	mustCreate(t, c, a, []byte("x"))
	before := mustStat(t, c, a)
	st, err := c.SetACL(ctx, a, zk.ReadACL, 0)
	require.NoError(t, err)
	require.Equal(t, statShape{Aversion: 1, DataLength: 1}, shape(st))
	require.Equal(t, before.Mzxid, st.Mzxid, "setACL is not a data change")
	require.Equal(t, before.Pzxid, st.Pzxid)
	require.Equal(t, before.Mtime, st.Mtime)
	require.Equal(t, st, mustStat(t, c, a))
	// READ only: no ADMIN, so no setACL, whatever the version (ADMIN is
	// checked first).
	_, err = c.SetACL(ctx, a, zk.OpenACL, 1)
	requireCode(t, err, zk.ErrNoAuth, "setACL", a)
	_, err = c.SetACL(ctx, a, zk.OpenACL, 0)
	requireCode(t, err, zk.ErrNoAuth, "setACL", a)
	mustCreate(t, c, root+"/v", nil)
	_, err = c.SetACL(ctx, root+"/v", zk.OpenACL, 1)
	requireCode(t, err, zk.ErrBadVersion, "setACL", root+"/v")
	_, err = c.SetACL(ctx, root+"/missing", zk.OpenACL, zk.AnyVersion)
	requireCode(t, err, zk.ErrNoNode, "setACL", root+"/missing")

	mustCreate(t, c, root+"/b", nil)
	_, _, w, err := c.GetW(ctx, root+"/b")
	require.NoError(t, err)
	for i := int32(0); i < 3; i++ {
		st, err = c.SetACL(ctx, root+"/b", zk.OpenACL, zk.AnyVersion)
		require.NoError(t, err)
		require.Equal(t, i+1, st.Aversion)
	}
	st, err = c.SetACL(ctx, root+"/b", zk.OpenACL, 3)
	require.NoError(t, err)
	require.Equal(t, int32(4), st.Aversion)
	wantPending(t, w) // setACL fires no watch
	acl, _, err := c.GetACL(ctx, root+"/b")
	require.NoError(t, err)
	require.Equal(t, zk.OpenACL, acl)
}

// caseWhoAmI: the connection's ids: ip, then each accepted credential
// once. whoAmI is 3.7.0 (ZOOKEEPER-3969); on every server the "auth" ACL
// scheme shows the same authenticated ids.
func caseWhoAmI(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	has := b.Version().has(since370)
	if has {
		ids, err := c.WhoAmI(ctx)
		require.NoError(t, err)
		require.Equal(t, []zk.ClientInfo{{AuthScheme: "ip", User: "127.0.0.1"}}, ids)
	} else {
		requireUnimplemented(t, c, since370, func() error { _, err := c.WhoAmI(ctx); return err })
	}
	require.NoError(t, c.AddAuth(ctx, "digest", []byte("erin:pw")))
	require.NoError(t, c.AddAuth(ctx, "digest", []byte("erin:pw")))
	require.NoError(t, c.AddAuth(ctx, "digest", []byte("frank:pw")))
	if has {
		// The real server keeps the ids in a hash set: their order is
		// unspecified.
		ids, err := c.WhoAmI(ctx)
		require.NoError(t, err)
		require.ElementsMatch(t, []zk.ClientInfo{
			{AuthScheme: "ip", User: "127.0.0.1"},
			{AuthScheme: "digest", User: "erin"},
			{AuthScheme: "digest", User: "frank"},
		}, ids)
	}
	// "auth" stands for the same digest ids, each once.
	authIDs := func(c *zk.Conn, p string) []zk.ACL {
		t.Helper()
		_, err := c.Create(ctx, p, nil, zk.CreatePersistent, zk.AuthACL(zk.PermAll))
		require.NoError(t, err)
		acl, _, err := c.GetACL(ctx, p)
		require.NoError(t, err)
		return acl
	}
	require.ElementsMatch(t, append(zk.DigestACL(zk.PermAll, "erin", "pw"), zk.DigestACL(zk.PermAll, "frank", "pw")...), authIDs(c, root+"/c"))

	// With credentials given at connect.
	c2 := dial(t, b.ConnString(), zk.WithCredentials(zk.DigestCredential("gina", "pw")))
	if has {
		ids, err := c2.WhoAmI(ctx)
		require.NoError(t, err)
		require.ElementsMatch(t, []zk.ClientInfo{
			{AuthScheme: "ip", User: "127.0.0.1"},
			{AuthScheme: "digest", User: "gina"},
		}, ids)
	}
	require.Equal(t, zk.DigestACL(zk.PermAll, "gina", "pw"), authIDs(c2, root+"/c2"))
}
