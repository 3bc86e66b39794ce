package zk_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/testserver"
)

// waitTime bounds every wait for an event in these tests; it is a failure
// deadline, not a measurement.
const waitTime = 20 * time.Second

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	t.Cleanup(cancel)
	return ctx
}

func testCtxTimeout(t testing.TB, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// recorder records every state change a handle reports.
type recorder struct {
	mu      sync.Mutex
	changes []zk.StateChange
	signal  chan struct{}
}

func newRecorder() *recorder { return &recorder{signal: make(chan struct{}, 1)} }

func (r *recorder) listen(c zk.StateChange) {
	r.mu.Lock()
	r.changes = append(r.changes, c)
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

func (r *recorder) option() zk.Option { return zk.WithStateListener(r.listen) }

func (r *recorder) snapshot() []zk.StateChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]zk.StateChange(nil), r.changes...)
}

// waitUntil waits until cond holds for the recorded changes.
func (r *recorder) waitUntil(t testing.TB, what string, cond func([]zk.StateChange) bool) []zk.StateChange {
	t.Helper()
	deadline := time.NewTimer(waitTime)
	defer deadline.Stop()
	for {
		cs := r.snapshot()
		if cond(cs) {
			return cs
		}
		select {
		case <-r.signal:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; state changes so far: %s", what, fmtChanges(cs))
		}
	}
}

// waitLen waits until at least n changes were recorded and returns them.
func (r *recorder) waitLen(t testing.TB, n int) []zk.StateChange {
	t.Helper()
	return r.waitUntil(t, fmt.Sprintf("%d state changes", n), func(cs []zk.StateChange) bool { return len(cs) >= n })
}

// waitState waits until the last recorded change moved to st.
func (r *recorder) waitState(t testing.TB, st zk.State) []zk.StateChange {
	t.Helper()
	return r.waitUntil(t, "state "+st.String(), func(cs []zk.StateChange) bool {
		return len(cs) > 0 && cs[len(cs)-1].To == st
	})
}

func fmtChanges(cs []zk.StateChange) string {
	var b strings.Builder
	for i, c := range cs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.String())
	}
	return "[" + b.String() + "]"
}

// step is one expected state change.
type step struct {
	to zk.State
	ev zk.SessionEvent
}

func steps(cs []zk.StateChange) []step {
	out := make([]step, len(cs))
	for i, c := range cs {
		out[i] = step{c.To, c.Event}
	}
	return out
}

// requireChain checks that every change starts where the previous one ended:
// nothing was dropped or reordered.
func requireChain(t testing.TB, cs []zk.StateChange) {
	t.Helper()
	for i := 1; i < len(cs); i++ {
		require.Equal(t, cs[i-1].To, cs[i].From, "change %d does not start where change %d ended: %s", i, i-1, fmtChanges(cs))
	}
}

// startServer starts the in-memory server with n listeners.
func startServer(t testing.TB, n int, opts ...testserver.Option) *testserver.Server {
	t.Helper()
	// Sessions may be as long as a test asks (the default range stops at 2 s,
	// whose 1.3 s read timeout a loaded machine with the race detector can
	// miss on a large request); tests of timeouts ask for short ones.
	base := []testserver.Option{testserver.WithListeners(n), testserver.WithSessionTimeoutRange(200*time.Millisecond, time.Minute)}
	return testserver.Start(t, append(base, opts...)...)
}

// connect opens a handle and registers its Close.
func connect(t testing.TB, connString string, opts ...zk.Option) *zk.Conn {
	t.Helper()
	c, err := zk.Connect(testCtx(t), connString, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// listenerOf returns the index of the listener a handle is connected to.
func listenerOf(t testing.TB, srv *testserver.Server, c *zk.Conn) int {
	t.Helper()
	addr := c.Server()
	for i, a := range srv.Addrs() {
		if a == addr {
			return i
		}
	}
	t.Fatalf("handle is on %q, not on any of %v", addr, srv.Addrs())
	return -1
}

// awaitEvent waits for one event on a watch channel.
func awaitEvent(t testing.TB, ch <-chan zk.Event) zk.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		require.True(t, ok, "watch channel closed without an event")
		return ev
	case <-time.After(waitTime):
		t.Fatal("timed out waiting for a watch event")
	}
	return zk.Event{}
}

// requireClosedAfterOne checks that a one-shot watch channel is closed after
// its single event.
func requireClosedAfterOne(t testing.TB, ch <-chan zk.Event) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		require.False(t, ok, "one-shot watch delivered a second event: %+v", ev)
	case <-time.After(waitTime):
		t.Fatal("one-shot watch channel not closed after its event")
	}
}

// wrappedDial dials TCP and hides the *net.TCPConn behind another type, as
// a dialer's wrapper does: the handle then treats the link as not plain
// TCP (the writer goroutine does every write, no raw I/O).
func wrappedDial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return struct{ net.Conn }{nc}, nil // not a *net.TCPConn
}

// megabyteSets starts n concurrent Sets of 1000 KiB on path, to pile up
// writes behind a stalled connection; each one's error arrives on the
// returned channel.
func megabyteSets(ctx context.Context, c *zk.Conn, path string, n int) <-chan error {
	data := make([]byte, 1000<<10)
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := c.Set(ctx, path, data, -1)
			errs <- err
		}()
	}
	return errs
}
