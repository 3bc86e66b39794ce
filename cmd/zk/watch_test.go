package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
)

// startWatch runs the command line in a goroutine and waits until it has
// set its watch. The returned function interrupts it and returns its error;
// conn is the watch's connection.
func startWatch(t *testing.T, f *fixture, args ...string) (out *lines, conn *zk.Conn, stop func() error) {
	t.Helper()
	s, _, _ := f.session(t)
	out, errOut := newLines(), newLines()
	s.out, s.errOut = out, errOut
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.exec(ctx, "watch", args) }()
	select {
	case line := <-errOut.ch:
		require.Regexp(t, `^watching /\S* ?.*; interrupt to stop$`, line)
	case err := <-done:
		cancel()
		t.Fatalf("watch ended before setting its watch: %v", err)
	}
	var once bool
	stop = func() error {
		t.Helper()
		require.False(t, once)
		once = true
		cancel()
		return waitDone(t, done)
	}
	t.Cleanup(func() {
		if !once {
			cancel()
			<-done
		}
	})
	return out, s.conn, stop
}

func waitDone(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-t.Context().Done():
		t.Fatal("test ended")
	}
	return nil
}

func TestWatch(t *testing.T) {
	f := newFixture(t)
	f.mkdirs(t, "/w")
	out, wconn, stop := startWatch(t, f, "/w")
	ctx := t.Context()

	_, err := f.conn.Set(ctx, "/w", []byte("x"), zk.AnyVersion)
	require.NoError(t, err)
	require.Equal(t, "NodeDataChanged /w", out.next(t))
	f.mkdirs(t, "/w/child")
	require.Equal(t, "NodeChildrenChanged /w", out.next(t))
	f.mkdirs(t, "/w/child/grandchild") // not watched without -r
	require.NoError(t, f.conn.Delete(ctx, "/w/child/grandchild", zk.AnyVersion))
	require.NoError(t, f.conn.Delete(ctx, "/w/child", zk.AnyVersion))
	require.Equal(t, "NodeChildrenChanged /w", out.next(t))

	// Session events come in the stream, in order with the node events.
	f.srv.DropConnections()
	require.Equal(t, "Session Disconnected CONNECTING", out.next(t))
	require.Equal(t, "Session SyncConnected CONNECTED", out.next(t))
	// SyncConnected comes before the server has the watch again (SetWatches
	// is the new link's first request): a reply on the watch's connection
	// orders the change after it.
	require.NoError(t, wconn.Sync(ctx, "/"))
	// f.conn's link was dropped too, and it may not have noticed yet: a
	// delete written on that link would be lost with it. A new handle's
	// link was made after the drop.
	require.NoError(t, dial(t, f.srv.ConnString()).Delete(ctx, "/w", zk.AnyVersion))
	require.Equal(t, "NodeDeleted /w", out.next(t))

	require.NoError(t, stop(), "an interrupt is how a watch ends")
	select {
	case line := <-out.ch:
		t.Fatalf("unexpected line %q", line)
	default:
	}
}

func TestWatchRecursiveJSON(t *testing.T) {
	f := newFixture(t)
	f.mkdirs(t, "/r")
	out, _, stop := startWatch(t, f, "-json", "-r", "/r")
	ctx := t.Context()

	f.mkdirs(t, "/r/a", "/r/a/b")
	_, err := f.conn.Set(ctx, "/r/a/b", []byte("x"), zk.AnyVersion)
	require.NoError(t, err)
	require.NoError(t, f.conn.Delete(ctx, "/r/a/b", zk.AnyVersion))

	expect := func(want ...eventJSON) {
		t.Helper()
		for _, w := range want {
			var got eventJSON
			line := out.next(t)
			require.NoError(t, json.Unmarshal([]byte(line), &got), line)
			require.Equal(t, w, got)
		}
	}
	expect(
		eventJSON{Type: "NodeCreated", Path: "/r/a"},
		eventJSON{Type: "NodeCreated", Path: "/r/a/b"},
		eventJSON{Type: "NodeDataChanged", Path: "/r/a/b"},
		eventJSON{Type: "NodeDeleted", Path: "/r/a/b"},
	)
	// Drop the connections only once the events arrived: events in flight
	// when a connection drops are lost (the stream says so with
	// Disconnected).
	f.srv.DropConnections()
	expect(
		eventJSON{Type: "Session", Event: "Disconnected", State: "CONNECTING"},
		eventJSON{Type: "Session", Event: "SyncConnected", State: "CONNECTED"},
	)
	require.NoError(t, stop())
}

func TestWatchSessionExpired(t *testing.T) {
	f := newFixture(t)
	f.mkdirs(t, "/x")
	s, _, _ := f.session(t)
	out, errOut := newLines(), newLines()
	s.out, s.errOut = out, errOut
	done := make(chan error, 1)
	go func() { done <- s.exec(t.Context(), "watch", []string{"/x"}) }()
	errOut.next(t) // watching
	require.True(t, f.srv.ExpireSession(s.conn.SessionID()))
	require.Equal(t, "Session Disconnected CONNECTING", out.next(t))
	require.Equal(t, "Session Expired CLOSED", out.next(t))
	err := waitDone(t, done)
	require.ErrorIs(t, err, zk.ErrSessionExpired)
	require.EqualError(t, err, "zk: watch /x: session expired")
}

func TestWatchErrors(t *testing.T) {
	f := newFixture(t)
	s, _, _ := f.session(t)
	_, err := do(t, s, "watch")
	require.EqualError(t, err, "zk: watch: missing PATH")
	_, err = do(t, s, "watch rel")
	require.ErrorContains(t, err, `zk: watch: relative path "rel"`)
	// A persistent watch may be set on a node that does not exist yet.
	out, _, stop := startWatch(t, f, "/later")
	f.mkdirs(t, "/later")
	require.Equal(t, "NodeCreated /later", out.next(t))
	require.NoError(t, stop())
}
