package conformance

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/faultproxy"
)

var sessionCases = []conformanceCase{
	{"chroot", caseChroot},
	{"chroot_missing", caseChrootMissing},
	{"expire_from_outside", caseExpireFromOutside},
	{"auth_failed", caseAuthFailed},
	{"auth_failed_at_connect", caseAuthFailedAtConnect},
	{"close_ends_session", caseCloseEndsSession},
	{"wrong_password", caseWrongPassword},
	{"server_expiry", caseServerExpiry},
}

// caseChroot: with a chroot, every path the caller gives and gets back is
// relative to it: created paths, sequential names, multi results, events,
// ephemerals, errors.
func caseChroot(t *testing.T, b backend) {
	plain := dial(t, b.ConnString())
	root := mkroot(t, plain)
	c := dial(t, b.ConnString()+root)
	ctx := testCtx(t)

	p, err := c.Create(ctx, "/a", []byte("x"), zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	require.Equal(t, "/a", p)
	data, _, err := plain.Get(ctx, root+"/a")
	require.NoError(t, err)
	require.Equal(t, "x", string(data))
	p, err = c.Create(ctx, "/s-", nil, zk.CreatePersistentSequential, zk.OpenACL)
	require.NoError(t, err)
	require.Equal(t, "/s-0000000001", p)
	p, err = c.Create(ctx, "/", nil, zk.CreatePersistentSequential, zk.OpenACL) // a child of the chroot
	require.NoError(t, err)
	require.Equal(t, "/0000000002", p)
	p, st, err := c.CreateStat(ctx, "/e", nil, zk.CreateEphemeral, zk.OpenACL)
	require.NoError(t, err)
	require.Equal(t, "/e", p)
	require.Equal(t, c.SessionID(), st.EphemeralOwner)

	names, _, err := c.Children(ctx, "/")
	require.NoError(t, err)
	require.Equal(t, []string{"0000000002", "a", "e", "s-0000000001"}, sorted(names))
	rootStat := mustStat(t, plain, root)
	require.Equal(t, rootStat, mustStat(t, c, "/"))
	v := b.Version()
	if v.has(since360) {
		eph, err := c.GetEphemerals(ctx, "/")
		require.NoError(t, err)
		require.Equal(t, []string{"/e"}, eph)
		eph, err = c.GetEphemerals(ctx, "/e")
		require.NoError(t, err)
		require.Equal(t, []string{"/e"}, eph)
		n, err := c.GetAllChildrenNumber(ctx, "/")
		require.NoError(t, err)
		require.Equal(t, 4, n)
	} else {
		requireUnimplemented(t, c, since360, func() error { _, err := c.GetEphemerals(ctx, "/"); return err })
		requireUnimplemented(t, c, since360, func() error { _, err := c.GetAllChildrenNumber(ctx, "/"); return err })
	}
	require.NoError(t, c.Sync(ctx, "/a"))

	// Multi results.
	res, err := c.Multi(ctx,
		&zk.CreateOp{Path: "/m", Mode: zk.CreatePersistent, ACL: zk.OpenACL},
		&zk.CreateOp{Path: "/ms-", Mode: zk.CreatePersistentSequential, ACL: zk.OpenACL},
		&zk.CreateOp{Path: "/mc", Mode: zk.CreateContainer, ACL: zk.OpenACL},
		&zk.SetDataOp{Path: "/a", Data: []byte("y"), Version: 0},
		&zk.CheckOp{Path: "/", Version: zk.AnyVersion},
	)
	require.NoError(t, err)
	require.Equal(t, "/m", res[0].Path)
	require.Equal(t, "/ms-0000000005", res[1].Path)
	require.Equal(t, "/mc", res[2].Path)
	require.NotNil(t, res[2].Stat)
	_, err = c.Multi(ctx, &zk.CreateOp{Path: "/m2", ACL: zk.OpenACL}, &zk.CheckOp{Path: "/nope", Version: 0})
	requireCode(t, err, zk.ErrNoNode, "multi", "/nope")
	multiRead := func() ([]zk.ReadResult, error) {
		return c.MultiRead(ctx, zk.GetDataOp{Path: "/a"}, zk.GetChildrenOp{Path: "/"}, zk.GetDataOp{Path: "/nope"})
	}
	if v.has(since360) {
		rr, err := multiRead()
		require.NoError(t, err)
		require.Equal(t, "y", string(rr[0].Data))
		require.Len(t, rr[1].Children, 7)
		requireCode(t, rr[2].Err, zk.ErrNoNode, "multiRead", "/nope")
	} else {
		requireUnimplemented(t, c, since360, func() error { _, err := multiRead(); return err })
		data, _, err := c.Get(ctx, "/a")
		require.NoError(t, err)
		require.Equal(t, "y", string(data))
		names, _, err := c.Children(ctx, "/")
		require.NoError(t, err)
		require.Len(t, names, 7)
	}

	// Errors name the caller's path.
	_, _, err = c.Get(ctx, "/nope")
	requireCode(t, err, zk.ErrNoNode, "get", "/nope")

	// One-shot events, from this handle's writes and from another's.
	_, _, wa, err := c.GetW(ctx, "/a")
	require.NoError(t, err)
	_, _, wroot, err := c.ChildrenW(ctx, "/")
	require.NoError(t, err)
	_, _, wrootData, err := c.GetW(ctx, "/")
	require.NoError(t, err)
	_, _, wn, err := c.ExistsW(ctx, "/n")
	require.NoError(t, err)
	_, err = c.Set(ctx, "/a", nil, zk.AnyVersion)
	require.NoError(t, err)
	wantEventNow(t, wa, zk.EventNodeDataChanged, "/a")
	mustCreate(t, plain, root+"/n", nil)
	wantEvent(t, wn, zk.EventNodeCreated, "/n")
	wantEvent(t, wroot, zk.EventNodeChildrenChanged, "/")
	_, err = plain.Set(ctx, root, []byte("r"), zk.AnyVersion)
	require.NoError(t, err)
	wantEvent(t, wrootData, zk.EventNodeDataChanged, "/")

	// Persistent events (on paths without one-shot watches: see
	// caseWatchModesOnOnePath), where the server has them.
	if v.has(since360) {
		rw, err := c.AddWatch(ctx, "/", zk.AddWatchModePersistentRecursive)
		require.NoError(t, err)
		pw, err := c.AddWatch(ctx, "/a", zk.AddWatchModePersistent)
		require.NoError(t, err)
		_, err = c.Set(ctx, "/a", nil, zk.AnyVersion)
		require.NoError(t, err)
		mustCreate(t, plain, root+"/a/kid", nil)
		_, err = plain.Set(ctx, root, []byte("r"), zk.AnyVersion)
		require.NoError(t, err)
		require.Equal(t, ev(zk.EventNodeDataChanged, "/a"), nextPersistent(t, rw))
		require.Equal(t, ev(zk.EventNodeCreated, "/a/kid"), nextPersistent(t, rw))
		require.Equal(t, ev(zk.EventNodeDataChanged, "/"), nextPersistent(t, rw))
		require.Equal(t, ev(zk.EventNodeDataChanged, "/a"), nextPersistent(t, pw))
		require.Equal(t, ev(zk.EventNodeChildrenChanged, "/a"), nextPersistent(t, pw))
	} else {
		requireUnimplemented(t, c, since360, func() error {
			_, err := c.AddWatch(ctx, "/", zk.AddWatchModePersistentRecursive)
			return err
		})
	}

	// The configuration is read outside the chroot.
	_, cst, err := c.GetConfig(ctx)
	require.NoError(t, err)
	require.Equal(t, mustStat(t, plain, zk.ConfigPath), cst)
}

// caseChrootMissing: a chroot that does not exist is accepted at connect;
// creates under it fail with NoNode, reads see nothing, until it exists.
func caseChrootMissing(t *testing.T, b backend) {
	plain := dial(t, b.ConnString())
	root := mkroot(t, plain)
	c := dial(t, b.ConnString()+root+"/later")
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/a", nil, zk.CreatePersistent, zk.OpenACL)
	requireCode(t, err, zk.ErrNoNode, "create", "/a")
	ok, _, err := c.Exists(ctx, "/")
	require.NoError(t, err)
	require.False(t, ok)
	_, _, w, err := c.ExistsW(ctx, "/")
	require.NoError(t, err)
	mustCreate(t, plain, root+"/later", nil)
	wantEvent(t, w, zk.EventNodeCreated, "/")
	p, err := c.Create(ctx, "/a", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	require.Equal(t, "/a", p)
}

// caseExpireFromOutside: a session ended by another handle (resumed with
// its id and password, then closed): the handle, once back, is told
// Expired and closes; its ephemerals were gone at once.
func caseExpireFromOutside(t *testing.T, b backend) {
	proxy := faultproxy.Start(t, b.Addr())
	rec := newRecorder()
	c := dial(t, proxy.Addr(), rec.option())
	other := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, other)
	_, err := c.Create(ctx, root+"/e", nil, zk.CreateEphemeral, zk.OpenACL)
	require.NoError(t, err)
	_, _, wc, err := c.GetW(ctx, root+"/e")
	require.NoError(t, err)
	// A recursive watch, where the server has them (3.6.0+).
	var pw *zk.PersistentWatch
	persistent := b.Version().has(since360)
	if persistent {
		pw, err = c.AddWatch(ctx, root, zk.AddWatchModePersistentRecursive)
		require.NoError(t, err)
	} else {
		requireUnimplemented(t, c, since360, func() error {
			_, err := c.AddWatch(ctx, root, zk.AddWatchModePersistentRecursive)
			return err
		})
	}
	ok, _, we, err := other.ExistsW(ctx, root+"/e")
	require.NoError(t, err)
	require.True(t, ok)
	_, _, wp, err := other.ChildrenW(ctx, root)
	require.NoError(t, err)

	// Cut the handle off, so that it cannot take its session back.
	// (Changes before it: connecting and connected, and on a server
	// without addWatch the reconnection after its refusal.)
	cut := len(rec.waitState(t, zk.StateConnected))
	if persistent {
		require.Equal(t, 2, cut, "connected once, nothing else: %s", fmtChanges(rec.snapshot()))
	}
	proxy.RefuseNew(true)
	proxy.ResetAll()
	rec.waitEvent(t, cut, zk.EventDisconnected)
	id, pwd := c.SessionID(), c.SessionPassword()
	b.ExpireFromOutside(t, id, pwd)

	// Its ephemerals are gone at once, with their watches fired.
	wantEvent(t, we, zk.EventNodeDeleted, root+"/e")
	wantEvent(t, wp, zk.EventNodeChildrenChanged, root)
	ok, _, err = other.Exists(ctx, root+"/e")
	require.NoError(t, err)
	require.False(t, ok)

	// Back in touch, the handle learns that its session expired.
	proxy.RefuseNew(false)
	cs := rec.waitState(t, zk.StateClosed)
	last := cs[len(cs)-1]
	require.Equal(t, zk.EventExpired, last.Event)
	require.ErrorIs(t, last.Err, zk.ErrSessionExpired)
	require.Equal(t, id, last.SessionID)
	requireChain(t, cs)
	require.Equal(t, zk.StateNotConnected, cs[0].From)
	require.Equal(t, zk.EventSyncConnected, cs[1].Event)
	require.Equal(t, zk.EventDisconnected, cs[cut].Event)
	for _, ch := range cs[cut+1 : len(cs)-1] { // backing off while cut off
		require.Contains(t, []zk.State{zk.StateConnecting, zk.StateNotConnected}, ch.To, fmtChanges(cs))
		require.Equal(t, zk.EventNone, ch.Event, fmtChanges(cs))
	}

	// Everything fails with ErrSessionExpired; watches get their final
	// event.
	_, _, err = c.Get(ctx, root)
	require.ErrorIs(t, err, zk.ErrSessionExpired)
	evt := nextEvent(t, wc)
	require.Equal(t, root+"/e", evt.Path)
	require.Equal(t, zk.EventWatchFailed, evt.Type)
	require.ErrorIs(t, evt.Err, zk.ErrSessionExpired)
	if pw != nil {
		require.Equal(t, zk.Event{Type: zk.EventSession, State: zk.StateConnecting, Session: zk.EventDisconnected}, nextPersistent(t, pw))
		require.Equal(t, zk.Event{Type: zk.EventSession, State: zk.StateClosed, Session: zk.EventExpired}, nextPersistent(t, pw))
		_, err = pw.Next(ctx)
		require.ErrorIs(t, err, zk.ErrSessionExpired)
	}
}

// caseAuthFailed: credentials the server rejects (an unknown scheme) end
// the handle in AUTH_FAILED; the session itself survives on the server.
func caseAuthFailed(t *testing.T, b backend) {
	rec := newRecorder()
	c := dial(t, b.ConnString(), rec.option())
	ctx := testCtx(t)
	root := mkroot(t, c)
	_, _, w, err := c.GetW(ctx, root)
	require.NoError(t, err)
	err = c.AddAuth(ctx, "nosuchscheme", []byte("secret"))
	require.ErrorIs(t, err, zk.ErrAuthFailed)
	cs := rec.waitState(t, zk.StateAuthFailed)
	requireChain(t, cs)
	require.Len(t, cs, 3, fmtChanges(cs))
	require.Equal(t, zk.EventAuthFailed, cs[2].Event)
	require.Equal(t, zk.StateConnected, cs[2].From)
	_, _, err = c.Get(ctx, root)
	require.ErrorIs(t, err, zk.ErrAuthFailed)
	evt := nextEvent(t, w)
	require.Equal(t, zk.EventWatchFailed, evt.Type)
	require.ErrorIs(t, evt.Err, zk.ErrAuthFailed)

	// The session is still alive: it can be resumed, and ended.
	other, err := zk.Connect(ctx, b.ConnString(), zk.WithSession(c.SessionID(), c.SessionPassword()))
	require.NoError(t, err)
	_, _, err = other.Get(ctx, root)
	require.NoError(t, err)
	require.NoError(t, other.Close())
}

// caseAuthFailedAtConnect: rejected credentials given at connect.
func caseAuthFailedAtConnect(t *testing.T, b backend) {
	// New, not Connect, which would close the handle on the refusal (see
	// TestConnectRejectedCredentials).
	rec := newRecorder()
	c, err := zk.New(b.ConnString(), rec.option(), zk.WithSessionTimeout(sessionTimeout),
		zk.WithCredentials(zk.Credential{Scheme: "nosuchscheme", Auth: []byte("x")}))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	cs := rec.waitState(t, zk.StateAuthFailed)
	requireChain(t, cs)
	require.Equal(t, []zk.SessionEvent{zk.EventNone, zk.EventSyncConnected, zk.EventAuthFailed},
		[]zk.SessionEvent{cs[0].Event, cs[1].Event, cs[2].Event})
	require.Len(t, cs, 3)
	_, _, err = c.Get(testCtx(t), "/")
	require.ErrorIs(t, err, zk.ErrAuthFailed)
	endSession(t, b.ConnString(), c.SessionID(), c.SessionPassword())
}

// caseCloseEndsSession: Close ends the session at once: its ephemerals go,
// firing other sessions' watches, and it cannot be resumed.
func caseCloseEndsSession(t *testing.T, b backend) {
	other := dial(t, b.ConnString())
	root := mkroot(t, other)
	ctx := testCtx(t)
	rec := newRecorder()
	c, err := zk.Connect(ctx, b.ConnString(), rec.option())
	require.NoError(t, err)
	for _, p := range []string{"/e1", "/e2"} {
		_, err = c.Create(ctx, root+p, nil, zk.CreateEphemeral, zk.OpenACL)
		require.NoError(t, err)
	}
	_, _, w, err := other.GetW(ctx, root+"/e1")
	require.NoError(t, err)
	_, _, wp, err := other.ChildrenW(ctx, root)
	require.NoError(t, err)
	id, pwd := c.SessionID(), c.SessionPassword()
	require.NoError(t, c.Close())
	cs := rec.snapshot()
	require.Equal(t, zk.StateClosed, cs[len(cs)-1].To)
	require.Equal(t, zk.EventClosed, cs[len(cs)-1].Event)
	wantEvent(t, w, zk.EventNodeDeleted, root+"/e1")
	wantEvent(t, wp, zk.EventNodeChildrenChanged, root) // once, though two children went
	names, st, err := other.Children(ctx, root)
	require.NoError(t, err)
	require.Empty(t, names)
	require.Equal(t, statShape{Cversion: 4}, shape(st))
	_, err = zk.Connect(ctx, b.ConnString(), zk.WithSession(id, pwd))
	require.ErrorIs(t, err, zk.ErrSessionExpired)
	_, _, err = c.Get(ctx, root)
	require.ErrorIs(t, err, zk.ErrClosed)
}

// caseWrongPassword: resuming a live session with a wrong password is
// refused as if the session had expired, and costs the session's own
// connection (the server closes it first), but not the session: its handle
// reconnects to it.
func caseWrongPassword(t *testing.T, b backend) {
	rec := newRecorder()
	c := dial(t, b.ConnString(), rec.option())
	ctx := testCtx(t)
	root := mkroot(t, c)
	_, err := c.Create(ctx, root+"/e", nil, zk.CreateEphemeral, zk.OpenACL)
	require.NoError(t, err)
	bad := c.SessionPassword()
	bad[0] ^= 0xff
	_, err = zk.Connect(ctx, b.ConnString(), zk.WithSession(c.SessionID(), bad))
	require.ErrorIs(t, err, zk.ErrSessionExpired)
	lost := rec.waitEvent(t, 0, zk.EventDisconnected)
	rec.waitEvent(t, lost, zk.EventSyncConnected)
	cs := rec.snapshot()
	requireChain(t, cs)
	for _, ch := range cs[1:] { // the first change comes before the session
		require.Equal(t, c.SessionID(), ch.SessionID)
	}
	// Every release files a connection under its session id before it
	// checks the password, closing the session's other connection; when
	// the handle's reconnection in turn closes the refused one before its
	// answer is sent, Connect tries again and cuts the handle once more. So
	// a read may still meet a lost connection: it is retried (the session
	// and its ephemeral must survive; the handle's link may not).
	var ok bool
	var st *zk.Stat
	for {
		ok, st, err = c.Exists(ctx, root+"/e")
		if !errors.Is(err, zk.ErrConnectionLoss) {
			break
		}
	}
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, c.SessionID(), st.EphemeralOwner)
	// An unknown session id: the same answer.
	_, err = zk.Connect(ctx, b.ConnString(), zk.WithSession(c.SessionID()+1, c.SessionPassword()))
	require.ErrorIs(t, err, zk.ErrSessionExpired)
}

// caseServerExpiry: a handle that goes silent loses its session on the
// server a session timeout after its last packet (rounded up to the next
// tick): its ephemeral goes then, not before; the handle, still cut off,
// expires the session itself at the same time.
func caseServerExpiry(t *testing.T, b backend) {
	const timeout = 1200 * time.Millisecond
	proxy := faultproxy.Start(t, b.Addr())
	rec := newRecorder()
	c := dial(t, proxy.Addr(), rec.option(), zk.WithSessionTimeout(timeout))
	require.Equal(t, timeout, c.SessionTimeout())
	other := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, other)
	_, err := c.Create(ctx, root+"/e", nil, zk.CreateEphemeral, zk.OpenACL)
	require.NoError(t, err)
	_, _, w, err := other.ExistsW(ctx, root+"/e")
	require.NoError(t, err)

	t0 := time.Now()
	proxy.Blackhole(true) // the handle's packets no longer reach the server
	wantEvent(t, w, zk.EventNodeDeleted, root+"/e")
	gone := time.Since(t0)
	// The last packet came at most a ping interval (T/3) before the cut.
	require.GreaterOrEqual(t, gone, timeout*2/3-50*time.Millisecond)
	require.Less(t, gone, timeout+tickTime+2*time.Second)
	cs := rec.waitState(t, zk.StateClosed)
	require.Equal(t, zk.EventExpired, cs[len(cs)-1].Event)
	t.Logf("ephemeral gone %v after the cut; handle expired %v after it", gone.Round(time.Millisecond), rec.timeOf(len(cs)-1).Sub(t0).Round(time.Millisecond))
	proxy.Blackhole(false)
}
