package zk_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
)

func TestOneShotWatches(t *testing.T) {
	srv := startServer(t, 1)
	c := connect(t, srv.ConnString())
	other := connect(t, srv.ConnString())
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/w", []byte("a"), zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)

	_, _, dataW, err := c.GetW(ctx, "/w")
	require.NoError(t, err)
	_, _, childW, err := c.ChildrenW(ctx, "/w")
	require.NoError(t, err)
	ok, _, existW, err := c.ExistsW(ctx, "/w/kid")
	require.NoError(t, err)
	require.False(t, ok)

	_, err = other.Set(ctx, "/w", []byte("b"), -1)
	require.NoError(t, err)
	require.Equal(t, zk.Event{Type: zk.EventNodeDataChanged, Path: "/w"}, awaitEvent(t, dataW))
	requireClosedAfterOne(t, dataW)

	_, err = other.Create(ctx, "/w/kid", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	require.Equal(t, zk.Event{Type: zk.EventNodeCreated, Path: "/w/kid"}, awaitEvent(t, existW))
	requireClosedAfterOne(t, existW)
	require.Equal(t, zk.Event{Type: zk.EventNodeChildrenChanged, Path: "/w"}, awaitEvent(t, childW))
	requireClosedAfterOne(t, childW)

	// A watch on a missing node is not set by Get or Children.
	_, _, _, err = c.GetW(ctx, "/nope")
	require.ErrorIs(t, err, zk.ErrNoNode)
	_, _, _, err = c.ChildrenW(ctx, "/nope")
	require.ErrorIs(t, err, zk.ErrNoNode)
	require.Zero(t, c.WatchCount())

	// Deletion fires data, exists and child watches.
	_, _, dataW, err = c.GetW(ctx, "/w/kid")
	require.NoError(t, err)
	_, _, existW2, err := c.ExistsW(ctx, "/w/kid")
	require.NoError(t, err)
	_, _, childW, err = c.ChildrenW(ctx, "/w/kid")
	require.NoError(t, err)
	require.NoError(t, other.Delete(ctx, "/w/kid", -1))
	for _, ch := range []<-chan zk.Event{dataW, existW2, childW} {
		require.Equal(t, zk.Event{Type: zk.EventNodeDeleted, Path: "/w/kid"}, awaitEvent(t, ch))
		requireClosedAfterOne(t, ch)
	}
	require.Zero(t, c.WatchCount())
}

func TestWatchSurvivesReconnect(t *testing.T) {
	srv := startServer(t, 1)
	rec := newRecorder()
	c := connect(t, srv.ConnString(), rec.option())
	other := connect(t, srv.ConnString())
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/r", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	_, _, w, err := c.GetW(ctx, "/r")
	require.NoError(t, err)
	srv.DropConnections()
	rec.waitLen(t, 4) // lost and back
	select {
	case ev := <-w:
		t.Fatalf("a lost connection fired the watch: %+v", ev)
	default:
	}
	// The watch was registered again on the new connection. (The other
	// handle lost its connection too: use a fresh one.)
	other = connect(t, srv.ConnString())
	_, err = other.Set(ctx, "/r", []byte("x"), -1)
	require.NoError(t, err)
	require.Equal(t, zk.Event{Type: zk.EventNodeDataChanged, Path: "/r"}, awaitEvent(t, w))
	requireClosedAfterOne(t, w)
}

// A node changed while the handle was away fires its watch exactly once,
// from the catch-up the server sends on SetWatches.
func TestWatchCatchUpAfterReconnect(t *testing.T) {
	srv := startServer(t, 3)
	rec := newRecorder()
	c := connect(t, srv.ConnString(), rec.option(), zk.WithSessionTimeout(3*time.Second))
	ctx := testCtx(t)
	for _, p := range []string{"/d", "/gone", "/parent"} {
		_, err := c.Create(ctx, p, nil, zk.CreatePersistent, zk.OpenACL)
		require.NoError(t, err)
	}
	_, _, dataW, err := c.GetW(ctx, "/d")
	require.NoError(t, err)
	_, _, goneW, err := c.GetW(ctx, "/gone")
	require.NoError(t, err)
	_, _, childW, err := c.ChildrenW(ctx, "/parent")
	require.NoError(t, err)
	_, _, bornW, err := c.ExistsW(ctx, "/born")
	require.NoError(t, err)

	// Freeze the handle's server; change everything through another one.
	mine := listenerOf(t, srv, c)
	otherAddr := srv.Addr((mine + 1) % 3)
	other := connect(t, otherAddr)
	srv.Blackhole(mine, true)
	_, err = other.Set(ctx, "/d", []byte("new"), -1)
	require.NoError(t, err)
	require.NoError(t, other.Delete(ctx, "/gone", -1))
	_, err = other.Create(ctx, "/parent/kid", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	_, err = other.Create(ctx, "/born", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)

	// The handle notices by its read timeout and moves.
	cs := rec.waitLen(t, 4)
	require.Equal(t, zk.EventDisconnected, cs[2].Event, fmtChanges(cs))
	rec.waitState(t, zk.StateConnected)

	require.Equal(t, zk.Event{Type: zk.EventNodeDataChanged, Path: "/d"}, awaitEvent(t, dataW))
	require.Equal(t, zk.Event{Type: zk.EventNodeDeleted, Path: "/gone"}, awaitEvent(t, goneW))
	require.Equal(t, zk.Event{Type: zk.EventNodeChildrenChanged, Path: "/parent"}, awaitEvent(t, childW))
	require.Equal(t, zk.Event{Type: zk.EventNodeCreated, Path: "/born"}, awaitEvent(t, bornW))
	for _, ch := range []<-chan zk.Event{dataW, goneW, childW, bornW} {
		requireClosedAfterOne(t, ch)
	}
	srv.Blackhole(mine, false)
}

func TestSetWatchesBatches(t *testing.T) {
	srv := startServer(t, 1)
	rec := newRecorder()
	c := connect(t, srv.ConnString(), rec.option(), zk.WithSetWatchesBatch(1024))
	other := connect(t, srv.ConnString())
	ctx := testCtx(t)
	const n = 400
	var ops []zk.Op
	for i := 0; i < n; i++ {
		ops = append(ops, zk.CreateOp{Path: fmt.Sprintf("/batch-node-%04d", i), ACL: zk.OpenACL})
	}
	_, err := c.Multi(ctx, ops...)
	require.NoError(t, err)
	chans := make([]<-chan zk.Event, n)
	for i := range chans {
		_, _, chans[i], err = c.GetW(ctx, fmt.Sprintf("/batch-node-%04d", i))
		require.NoError(t, err)
	}
	require.Equal(t, n, c.WatchCount())
	srv.DropConnections()
	rec.waitLen(t, 4)
	other = connect(t, srv.ConnString()) // the first one was dropped too
	// Change every node; each watch fires once, so each was re-registered
	// (about 8 KB of paths in 1 KB batches).
	var sets []zk.Op
	for i := 0; i < n; i++ {
		sets = append(sets, zk.SetDataOp{Path: fmt.Sprintf("/batch-node-%04d", i), Data: []byte("x"), Version: -1})
	}
	_, err = other.Multi(ctx, sets...)
	require.NoError(t, err)
	for i, ch := range chans {
		ev := awaitEvent(t, ch)
		require.Equal(t, fmt.Sprintf("/batch-node-%04d", i), ev.Path)
		requireClosedAfterOne(t, ch)
	}
}

func TestCloseEndsWatches(t *testing.T) {
	srv := startServer(t, 1)
	c, err := zk.Connect(testCtx(t), srv.ConnString())
	require.NoError(t, err)
	_, _, w, err := c.ExistsW(testCtx(t), "/x")
	require.NoError(t, err)
	require.NoError(t, c.Close())
	ev := awaitEvent(t, w)
	require.Equal(t, zk.EventWatchFailed, ev.Type)
	require.ErrorIs(t, ev.Err, zk.ErrClosed)
	require.Equal(t, "/x", ev.Path)
	requireClosedAfterOne(t, w)
}
