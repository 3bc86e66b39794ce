package zk_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
)

func nextEvent(t testing.TB, w *zk.PersistentWatch) zk.Event {
	t.Helper()
	ev, err := w.Next(testCtx(t))
	require.NoError(t, err)
	return ev
}

func TestPersistentWatch(t *testing.T) {
	srv := startServer(t, 1)
	rec := newRecorder()
	c := connect(t, srv.ConnString(), rec.option())
	other := connect(t, srv.ConnString())
	ctx := testCtx(t)
	w, err := c.AddWatch(ctx, "/p", zk.AddWatchModePersistent)
	require.NoError(t, err)
	_, err = other.Create(ctx, "/p", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	_, err = other.Set(ctx, "/p", []byte("1"), -1)
	require.NoError(t, err)
	_, err = other.Set(ctx, "/p", []byte("2"), -1)
	require.NoError(t, err)
	_, err = other.Create(ctx, "/p/kid", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	require.Equal(t, zk.Event{Type: zk.EventNodeCreated, Path: "/p"}, nextEvent(t, w))
	require.Equal(t, zk.Event{Type: zk.EventNodeDataChanged, Path: "/p"}, nextEvent(t, w))
	require.Equal(t, zk.Event{Type: zk.EventNodeDataChanged, Path: "/p"}, nextEvent(t, w))
	require.Equal(t, zk.Event{Type: zk.EventNodeChildrenChanged, Path: "/p"}, nextEvent(t, w))

	// Session events are interleaved, and the watch is registered again.
	srv.DropConnections()
	require.Equal(t, zk.Event{Type: zk.EventSession, State: zk.StateConnecting, Session: zk.EventDisconnected}, nextEvent(t, w))
	require.Equal(t, zk.Event{Type: zk.EventSession, State: zk.StateConnected, Session: zk.EventSyncConnected}, nextEvent(t, w))
	// SyncConnected reached the stream after the server had the watch
	// again, so a write after it fires the watch.
	other = connect(t, srv.ConnString()) // the first one was dropped too
	_, err = other.Set(ctx, "/p", []byte("3"), -1)
	require.NoError(t, err)
	require.Equal(t, zk.Event{Type: zk.EventNodeDataChanged, Path: "/p"}, nextEvent(t, w))

	require.NoError(t, w.Remove(ctx))
	require.Equal(t, zk.Event{Type: zk.EventPersistentWatchRemoved, Path: "/p"}, nextEvent(t, w))
	_, err = w.Next(ctx)
	require.ErrorIs(t, err, zk.ErrWatchRemoved)
	require.ErrorIs(t, w.Remove(ctx), zk.ErrNoWatcher)
	// The server dropped it: a change is not delivered any more.
	require.ErrorIs(t, c.CheckWatches(ctx, "/p", zk.WatcherAny), zk.ErrNoWatcher)
}

// The in-memory server, like ZooKeeper before 3.9, knows watcher types 1 to
// 3 only: checking a persistent watch fails with an error naming the
// release that has it, and the handle goes on working.
func TestCheckPersistentWatchNeeds39(t *testing.T) {
	srv := startServer(t, 1)
	c := connect(t, srv.ConnString())
	ctx := testCtx(t)
	w, err := c.AddWatch(ctx, "/p", zk.AddWatchModePersistent)
	require.NoError(t, err)
	for _, typ := range []zk.WatcherType{zk.WatcherPersistent, zk.WatcherPersistentRecursive} {
		err = c.CheckWatches(ctx, "/p", typ)
		require.ErrorIs(t, err, zk.ErrMarshallingError)
		require.EqualError(t, err, "zk: checkWatches /p: the server cannot check persistent watches (it needs ZooKeeper 3.9.0 or newer)")
	}
	require.NoError(t, c.CheckWatches(ctx, "/p", zk.WatcherAny))
	require.NoError(t, w.Remove(ctx))
}

func TestPersistentRecursiveWatch(t *testing.T) {
	srv := startServer(t, 1)
	c := connect(t, srv.ConnString())
	ctx := testCtx(t)
	w, err := c.AddWatch(ctx, "/r", zk.AddWatchModePersistentRecursive)
	require.NoError(t, err)
	for _, p := range []string{"/r", "/r/a", "/r/a/b", "/rx"} {
		_, err = c.Create(ctx, p, nil, zk.CreatePersistent, zk.OpenACL)
		require.NoError(t, err)
	}
	_, err = c.Set(ctx, "/r/a/b", []byte("x"), -1)
	require.NoError(t, err)
	require.NoError(t, c.Delete(ctx, "/r/a/b", -1))
	want := []zk.Event{
		{Type: zk.EventNodeCreated, Path: "/r"},
		{Type: zk.EventNodeCreated, Path: "/r/a"},
		{Type: zk.EventNodeCreated, Path: "/r/a/b"},
		{Type: zk.EventNodeDataChanged, Path: "/r/a/b"},
		{Type: zk.EventNodeDeleted, Path: "/r/a/b"},
	}
	for _, ev := range want {
		require.Equal(t, ev, nextEvent(t, w)) // never NodeChildrenChanged, nothing for /rx
	}
	require.Zero(t, w.Buffered())
}

func TestPersistentWatchOverflowIsBoundedAndTold(t *testing.T) {
	srv := startServer(t, 1)
	c := connect(t, srv.ConnString(), zk.WithWatchBuffer(10))
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/o", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	w, err := c.AddWatch(ctx, "/o", zk.AddWatchModePersistent)
	require.NoError(t, err)
	for i := 0; i < 25; i++ {
		_, err = c.Set(ctx, "/o", []byte{byte(i)}, -1)
		require.NoError(t, err)
	}
	for i := 0; i < 10; i++ {
		require.Equal(t, zk.EventNodeDataChanged, nextEvent(t, w).Type)
	}
	_, err = w.Next(ctx)
	require.ErrorIs(t, err, zk.ErrWatchOverflow)
}

func TestPersistentWatchEndsOnClose(t *testing.T) {
	srv := startServer(t, 1)
	c, err := zk.Connect(testCtx(t), srv.ConnString())
	require.NoError(t, err)
	w, err := c.AddWatch(testCtx(t), "/", zk.AddWatchModePersistentRecursive)
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.Equal(t, zk.Event{Type: zk.EventSession, State: zk.StateClosed, Session: zk.EventClosed}, nextEvent(t, w))
	_, err = w.Next(testCtx(t))
	require.ErrorIs(t, err, zk.ErrClosed)
}

func TestRemoveWatches(t *testing.T) {
	srv := startServer(t, 1)
	c := connect(t, srv.ConnString())
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/rw", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	_, _, dw, err := c.GetW(ctx, "/rw")
	require.NoError(t, err)
	_, _, cw, err := c.ChildrenW(ctx, "/rw")
	require.NoError(t, err)
	require.NoError(t, c.CheckWatches(ctx, "/rw", zk.WatcherData))
	require.NoError(t, c.RemoveWatches(ctx, "/rw", zk.WatcherData))
	require.Equal(t, zk.Event{Type: zk.EventDataWatchRemoved, Path: "/rw"}, awaitEvent(t, dw))
	requireClosedAfterOne(t, dw)
	require.ErrorIs(t, c.CheckWatches(ctx, "/rw", zk.WatcherData), zk.ErrNoWatcher)
	require.NoError(t, c.CheckWatches(ctx, "/rw", zk.WatcherChildren))
	require.NoError(t, c.RemoveWatches(ctx, "/rw", zk.WatcherAny))
	require.Equal(t, zk.Event{Type: zk.EventChildWatchRemoved, Path: "/rw"}, awaitEvent(t, cw))
	requireClosedAfterOne(t, cw)
	require.ErrorIs(t, c.RemoveWatches(ctx, "/rw", zk.WatcherAny), zk.ErrNoWatcher)
	require.Zero(t, c.WatchCount())
}

// Watches that never fire and are removed leave nothing behind.
func TestManyWatchesRemovedMemoryReturns(t *testing.T) {
	srv := startServer(t, 1)
	c := connect(t, srv.ConnString())
	ctx := testCtx(t)
	const n = 5000
	var ops []zk.Op
	for i := 0; i < n; i++ {
		ops = append(ops, zk.CreateOp{Path: fmt.Sprintf("/mem-%05d", i), ACL: zk.OpenACL})
	}
	_, err := c.Multi(ctx, ops...)
	require.NoError(t, err)
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	round := func() {
		for i := 0; i < n; i++ {
			_, _, _, err := c.GetW(ctx, fmt.Sprintf("/mem-%05d", i))
			require.NoError(t, err)
		}
		require.Equal(t, n, c.WatchCount())
		for i := 0; i < n; i++ {
			require.NoError(t, c.RemoveWatches(ctx, fmt.Sprintf("/mem-%05d", i), zk.WatcherAny))
		}
		require.Zero(t, c.WatchCount())
	}
	round() // warm pools and maps
	before := heap()
	for i := 0; i < 3; i++ {
		round()
	}
	after := heap()
	t.Logf("heap before %d bytes, after %d registrations and removals %d bytes", before, 3*n, after)
	// Each registration holds ~200 bytes (watcher, channel, map entry): a
	// leak of them would show as over 3 MB.
	require.Less(t, int64(after)-int64(before), int64(512<<10))
}

func TestNewerOperations(t *testing.T) {
	srv := startServer(t, 1)
	root := connect(t, srv.ConnString())
	ctx := testCtx(t)
	_, err := root.Create(ctx, "/app", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	c := connect(t, srv.ConnString()+"/app")
	for _, p := range []string{"/e1", "/e2"} {
		_, err = c.Create(ctx, p, nil, zk.CreateEphemeral, zk.OpenACL)
		require.NoError(t, err)
	}
	_, err = c.Create(ctx, "/t", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	_, err = c.Create(ctx, "/t/a", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	_, err = c.Create(ctx, "/t/a/b", []byte("bb"), zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)

	eph, err := c.GetEphemerals(ctx, "/")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"/e1", "/e2"}, eph)
	eph, err = c.GetEphemerals(ctx, "/e2")
	require.NoError(t, err)
	require.Equal(t, []string{"/e2"}, eph)

	n, err := c.GetAllChildrenNumber(ctx, "/t")
	require.NoError(t, err)
	require.Equal(t, 2, n)

	who, err := c.WhoAmI(ctx)
	require.NoError(t, err)
	require.Contains(t, who, zk.ClientInfo{AuthScheme: "ip", User: "127.0.0.1"})
	require.NoError(t, c.AddAuth(ctx, "digest", []byte("bob:pw")))
	who, err = c.WhoAmI(ctx)
	require.NoError(t, err)
	require.Contains(t, who, zk.ClientInfo{AuthScheme: "digest", User: "bob"})

	res, err := c.MultiRead(ctx, zk.GetDataOp{Path: "/t/a/b"}, zk.GetChildrenOp{Path: "/t"}, zk.GetDataOp{Path: "/missing"})
	require.NoError(t, err)
	require.Equal(t, "bb", string(res[0].Data))
	require.Equal(t, int32(2), res[0].Stat.DataLength)
	require.Equal(t, []string{"a"}, res[1].Children)
	require.ErrorIs(t, res[2].Err, zk.ErrNoNode)

	_, st, err := c.GetConfig(ctx)
	require.NoError(t, err)
	require.NotNil(t, st)
}

func TestOverflowDoesNotStopOtherWatches(t *testing.T) {
	srv := startServer(t, 1)
	c := connect(t, srv.ConnString(), zk.WithWatchBuffer(2))
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	_, err := c.Create(ctx, "/a", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	slow, err := c.AddWatch(ctx, "/a", zk.AddWatchModePersistent)
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		_, err = c.Set(ctx, "/a", nil, -1)
		require.NoError(t, err)
	}
	_, _, w, err := c.GetW(ctx, "/a")
	require.NoError(t, err)
	_, err = c.Set(ctx, "/a", nil, -1)
	require.NoError(t, err)
	require.Equal(t, zk.EventNodeDataChanged, awaitEvent(t, w).Type)
	require.Equal(t, 2, slow.Buffered())
}

// TestPersistentWatchOverflowOnSessionEventIsRemoved: a stream whose buffer
// is full when a session event comes ends with ErrWatchOverflow, and its
// watch is removed, as when a node event overflows it: it is not set again
// on the server at the next connection, for a stream nobody can read.
func TestPersistentWatchOverflowOnSessionEventIsRemoved(t *testing.T) {
	srv := startServer(t, 1)
	rec := newRecorder()
	c := connect(t, srv.ConnString(), rec.option(), zk.WithWatchBuffer(1))
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/o", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	w, err := c.AddWatch(ctx, "/o", zk.AddWatchModePersistent)
	require.NoError(t, err)
	_, _, once, err := c.GetW(ctx, "/o") // fired by the same event, after the stream got it
	require.NoError(t, err)
	_, err = c.Set(ctx, "/o", []byte("x"), -1)
	require.NoError(t, err)
	awaitEvent(t, once) // the stream's buffer is full now

	n := len(rec.waitLen(t, 2))
	srv.DropConnections() // Disconnected: one event more than the buffer holds
	rec.waitUntil(t, "the session back", func(cs []zk.StateChange) bool {
		return len(cs) > n && cs[len(cs)-1].Event == zk.EventSyncConnected
	})
	require.Equal(t, zk.EventNodeDataChanged, nextEvent(t, w).Type)
	_, err = w.Next(ctx)
	require.ErrorIs(t, err, zk.ErrWatchOverflow)

	require.ErrorIs(t, c.CheckWatches(ctx, "/o", zk.WatcherAny), zk.ErrNoWatcher, "the overflowed watch was set again on the new connection")
	require.ErrorIs(t, w.Remove(ctx), zk.ErrNoWatcher, "the overflowed watch is still registered")
}

// TestPersistentWatchNextContextEnds: a Next whose context ends returns an
// error that names the call and wraps the context's; the stream goes on.
func TestPersistentWatchNextContextEnds(t *testing.T) {
	srv := startServer(t, 1)
	c := connect(t, srv.ConnString())
	w, err := c.AddWatch(testCtx(t), "/q", zk.AddWatchModePersistent)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = w.Next(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.EqualError(t, err, "zk: watch next /q: context canceled")
	_, err = c.Create(testCtx(t), "/q", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	require.Equal(t, zk.Event{Type: zk.EventNodeCreated, Path: "/q"}, nextEvent(t, w))
}
