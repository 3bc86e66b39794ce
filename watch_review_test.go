package zk_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/faultproxy"
)

// requireNoEvent checks, after a round trip on c (the events the server
// sent before its reply have then arrived), that ch has no event.
func requireNoEventYet(t *testing.T, c *zk.Conn, ch <-chan zk.Event) {
	t.Helper()
	_, _, err := c.Get(testCtx(t), "/")
	require.NoError(t, err)
	select {
	case ev, ok := <-ch:
		t.Fatalf("unexpected event %+v (open %v)", ev, ok)
	default:
	}
}

// requireEventNow checks, after a round trip on c, that ch has ev and is
// then closed.
func requireEventNow(t *testing.T, c *zk.Conn, ch <-chan zk.Event, want zk.Event) {
	t.Helper()
	_, _, err := c.Get(testCtx(t), "/")
	require.NoError(t, err)
	select {
	case ev, ok := <-ch:
		require.True(t, ok, "channel closed without an event")
		require.Equal(t, want, ev)
	default:
		t.Fatalf("no event; want %+v", want)
	}
	requireClosedAfterOne(t, ch)
}

// A child watch on a path that also has a recursive watch survives a
// reconnect. A 3.6–3.8 server keeps one mode per connection and path in
// its child watch manager, and setWatches2 registers the recursive watch
// there after the child watches: the handle's child watch, sent in the
// same frame, became recursive, which never fires NodeChildrenChanged.
func TestChildWatchWithRecursiveSurvivesReconnect(t *testing.T) {
	srv := startServer(t, 1)
	rec := newRecorder()
	c := connect(t, srv.ConnString(), rec.option())
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/r", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	rw, err := c.AddWatch(ctx, "/r", zk.AddWatchModePersistentRecursive)
	require.NoError(t, err)
	_, _, wc, err := c.ChildrenW(ctx, "/r")
	require.NoError(t, err)

	srv.DropConnections()
	rec.waitLen(t, 4) // lost and back
	require.Equal(t, zk.Event{Type: zk.EventSession, State: zk.StateConnecting, Session: zk.EventDisconnected}, nextEvent(t, rw))
	require.Equal(t, zk.Event{Type: zk.EventSession, State: zk.StateConnected, Session: zk.EventSyncConnected}, nextEvent(t, rw))

	_, err = c.Create(ctx, "/r/kid", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	require.Equal(t, zk.Event{Type: zk.EventNodeCreated, Path: "/r/kid"}, nextEvent(t, rw))
	requireEventNow(t, c, wc, zk.Event{Type: zk.EventNodeChildrenChanged, Path: "/r"})
}

// A child watch set before a recursive watch on the same path still
// fires. A 3.6–3.8 server's addWatch puts a recursive watch in its child
// manager too, replacing the mode of the connection's child watch there
// with one that never fires NodeChildrenChanged.
func TestChildWatchThenRecursiveWatch(t *testing.T) {
	srv := startServer(t, 1)
	c := connect(t, srv.ConnString())
	other := connect(t, srv.ConnString())
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/r", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	_, _, wc, err := c.ChildrenW(ctx, "/r")
	require.NoError(t, err)
	rw, err := c.AddWatch(ctx, "/r", zk.AddWatchModePersistentRecursive)
	require.NoError(t, err)
	_, err = other.Create(ctx, "/r/kid", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	requireEventNow(t, c, wc, zk.Event{Type: zk.EventNodeChildrenChanged, Path: "/r"})
	require.Equal(t, zk.Event{Type: zk.EventNodeCreated, Path: "/r/kid"}, nextEvent(t, rw))
}

// RemoveWatches whose ctx ends after its request was sent: the server
// removes the watch all the same, so the channel must end too (with its
// DataWatchRemoved event), not stay open forever with no watch behind it.
func TestRemoveWatchesAbandonedAfterSend(t *testing.T) {
	srv := wideServer(t)
	px := faultproxy.Start(t, srv.Addr(0))
	c := connect(t, px.Addr(), zk.WithSessionTimeout(time.Minute))
	other := connect(t, srv.Addr(0))
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/n", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	_, _, w, err := c.GetW(ctx, "/n")
	require.NoError(t, err)

	px.Pause(faultproxy.ServerToClient, true) // the server acts; its replies wait
	sent := px.BytesForwarded(faultproxy.ClientToServer)
	rctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- c.RemoveWatches(rctx, "/n", zk.WatcherData) }()
	for px.BytesForwarded(faultproxy.ClientToServer) == sent {
		time.Sleep(time.Millisecond)
	}
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	px.Pause(faultproxy.ServerToClient, false)

	// The server has no watch on /n any more: a change fires nothing.
	_, err = other.Set(ctx, "/n", []byte("x"), zk.AnyVersion)
	require.NoError(t, err)
	requireEventNow(t, c, w, zk.Event{Type: zk.EventDataWatchRemoved, Path: "/n"})
	require.Zero(t, c.WatchCount())
}

// Remove while disconnected: the watch is gone here at once, so the next
// connection does not register it and the server answers the queued
// removeWatches with NoWatcher. The removal succeeded all the same.
func TestPersistentRemoveWhileDisconnected(t *testing.T) {
	srv := startServer(t, 1)
	rec := newRecorder()
	c := connect(t, srv.ConnString(), rec.option(), zk.WithSessionTimeout(time.Minute))
	ctx := testCtx(t)
	w, err := c.AddWatch(ctx, "/p", zk.AddWatchModePersistent)
	require.NoError(t, err)
	srv.StopListener(0)
	rec.waitUntil(t, "disconnected", func(cs []zk.StateChange) bool {
		for _, c := range cs {
			if c.Event == zk.EventDisconnected {
				return true
			}
		}
		return false
	})
	errc := make(chan error, 1)
	go func() { errc <- w.Remove(ctx) }()
	// Remove has taken the watch off the handle before it waits for a link.
	for {
		ev, err := w.Next(ctx)
		require.NoError(t, err)
		if ev.Type == zk.EventPersistentWatchRemoved {
			break
		}
	}
	require.NoError(t, srv.StartListener(0))
	require.NoError(t, <-errc)
	_, err = w.Next(ctx)
	require.ErrorIs(t, err, zk.ErrWatchRemoved)
	require.ErrorIs(t, c.CheckWatches(ctx, "/p", zk.WatcherAny), zk.ErrNoWatcher)
}
