package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"go.uber.org/goleak"
)

// TestMain checks, after every test of the package, that no goroutine of a
// handle, a server, a proxy or a child process was left behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTime bounds every wait for something that must happen (an event, a
// state, a server). Reaching it is a failure, never a way of waiting.
const waitTime = 30 * time.Second

// sessionTimeout is what the suite's handles ask for: long enough that a
// loaded machine never loses a session by accident. Both servers grant it
// (their range is [200ms, 30s]).
const sessionTimeout = 20 * time.Second

// testCtx is a context that ends after waitTime or with the test.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	t.Cleanup(cancel)
	return ctx
}

// dial opens a handle on connString and closes it when the test ends.
func dial(t testing.TB, connString string, opts ...zk.Option) *zk.Conn {
	t.Helper()
	opts = append([]zk.Option{zk.WithSessionTimeout(sessionTimeout)}, opts...)
	c, err := zk.Connect(testCtx(t), connString, opts...)
	require.NoError(t, err, "connect to %s", connString)
	t.Cleanup(func() { c.Close() })
	return c
}

// caseName is the last element of the test's name: the case's name.
func caseName(t testing.TB) string {
	n := t.Name()
	return n[strings.LastIndexByte(n, '/')+1:]
}

// mkroot creates the case's own root node, /t-<case>, under which the case
// works, so that cases sharing a server never see each other's nodes.
func mkroot(t testing.TB, c *zk.Conn) string {
	t.Helper()
	root := "/t-" + caseName(t)
	_, err := c.Create(testCtx(t), root, nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	return root
}

// mustCreate creates a persistent node with data.
func mustCreate(t testing.TB, c *zk.Conn, path string, data []byte) {
	t.Helper()
	_, err := c.Create(testCtx(t), path, data, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err, "create %s", path)
}

// mustStat returns a node's Stat.
func mustStat(t testing.TB, c *zk.Conn, path string) *zk.Stat {
	t.Helper()
	ok, st, err := c.Exists(testCtx(t), path)
	require.NoError(t, err, "exists %s", path)
	require.True(t, ok, "%s does not exist", path)
	return st
}

// requireCode checks that err is an *OpError for op and path wrapping want.
func requireCode(t testing.TB, err error, want error, op, path string, msgAndArgs ...any) {
	t.Helper()
	require.ErrorIs(t, err, want, msgAndArgs...)
	var oe *zk.OpError
	require.True(t, errors.As(err, &oe), "%v is not an *OpError", err)
	require.Equal(t, op, oe.Op, msgAndArgs...)
	require.Equal(t, path, oe.Path, msgAndArgs...)
}

// statShape is the part of a Stat that is the same on every server: every
// field but the zxids and times.
type statShape struct {
	Version, Cversion, Aversion int32
	EphemeralOwner              int64
	DataLength, NumChildren     int32
}

func shape(st *zk.Stat) statShape {
	return statShape{st.Version, st.Cversion, st.Aversion, st.EphemeralOwner, st.DataLength, st.NumChildren}
}

// nextEvent waits for the one event of a one-shot watch.
func nextEvent(t testing.TB, ch <-chan zk.Event) zk.Event {
	t.Helper()
	timer := time.NewTimer(waitTime)
	defer timer.Stop()
	select {
	case ev, ok := <-ch:
		require.True(t, ok, "watch channel closed without an event")
		return ev
	case <-timer.C:
		t.Fatal("timed out waiting for a watch event")
	}
	return zk.Event{}
}

// wantEvent waits for the one event of a one-shot watch, checks it, and
// waits for the channel to be closed (the handle sends, then closes).
func wantEvent(t testing.TB, ch <-chan zk.Event, typ zk.EventType, path string) {
	t.Helper()
	require.Equal(t, zk.Event{Type: typ, Path: path}, nextEvent(t, ch))
	timer := time.NewTimer(waitTime)
	defer timer.Stop()
	select {
	case ev, ok := <-ch:
		require.False(t, ok, "one-shot watch delivered a second event: %+v", ev)
	case <-timer.C:
		t.Fatal("one-shot watch channel not closed after its event")
	}
}

// wantEventNow checks that a one-shot watch already holds its event: the
// server sends a write's events to the writer's own connection before the
// write's reply, and the handle delivers them before it completes the call.
func wantEventNow(t testing.TB, ch <-chan zk.Event, typ zk.EventType, path string) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		require.True(t, ok, "watch channel closed without an event")
		require.Equal(t, zk.Event{Type: typ, Path: path}, ev)
	default:
		t.Fatalf("no %v event for %s before the reply of the write that fired it", typ, path)
	}
	wantClosed(t, ch)
}

// wantClosed checks that a one-shot watch channel is closed (after its
// single event).
func wantClosed(t testing.TB, ch <-chan zk.Event) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		require.False(t, ok, "one-shot watch delivered a second event: %+v", ev)
	default:
		t.Fatal("one-shot watch channel not closed after its event")
	}
}

// wantPending checks that a one-shot watch has not fired.
func wantPending(t testing.TB, ch <-chan zk.Event) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		t.Fatalf("watch fired unexpectedly: %+v (open %v)", ev, ok)
	default:
	}
}

// nextPersistent returns the next event of a persistent watch stream.
func nextPersistent(t testing.TB, w *zk.PersistentWatch) zk.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	ev, err := w.Next(ctx)
	require.NoError(t, err, "persistent watch on %s", w.Path())
	return ev
}

// wantStream checks that a persistent watch holds exactly these node
// events, already buffered (they were fired by this handle's own writes,
// whose replies follow their events).
func wantStream(t testing.TB, w *zk.PersistentWatch, want ...zk.Event) {
	t.Helper()
	var got []zk.Event
	for w.Buffered() > 0 {
		got = append(got, nextPersistent(t, w))
	}
	if want == nil {
		want = []zk.Event{}
	}
	if got == nil {
		got = []zk.Event{}
	}
	require.Equal(t, want, got, "events of the persistent watch on %s", w.Path())
}

// ev builds an expected node event.
func ev(typ zk.EventType, path string) zk.Event { return zk.Event{Type: typ, Path: path} }

// sorted returns a sorted copy.
func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// recorder records every state change a handle reports.
type recorder struct {
	mu      sync.Mutex
	changes []zk.StateChange
	at      []time.Time
	signal  chan struct{}
}

func newRecorder() *recorder { return &recorder{signal: make(chan struct{}, 1)} }

func (r *recorder) listen(c zk.StateChange) {
	r.mu.Lock()
	r.changes = append(r.changes, c)
	r.at = append(r.at, time.Now())
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
	return slices.Clone(r.changes)
}

// timeOf returns when change i was recorded.
func (r *recorder) timeOf(i int) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.at[i]
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

// waitEvent waits until a change carrying event ev was recorded after the
// first from changes, and returns its index.
func (r *recorder) waitEvent(t testing.TB, from int, ev zk.SessionEvent) int {
	t.Helper()
	idx := -1
	r.waitUntil(t, "session event "+ev.String(), func(cs []zk.StateChange) bool {
		for i := from; i < len(cs); i++ {
			if cs[i].Event == ev {
				idx = i
				return true
			}
		}
		return false
	})
	return idx
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

// fmtSequence renders a state sequence one change per line, with the time
// since the first change, the server and the reason, for the logs.
func (r *recorder) fmtSequence() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for i, c := range r.changes {
		fmt.Fprintf(&b, "\n  %2d %8.3fs %s", i, r.at[i].Sub(r.at[0]).Seconds(), c.String())
		if c.Server != "" {
			fmt.Fprintf(&b, " server=%s", c.Server)
		}
		if c.Err != nil {
			fmt.Fprintf(&b, " err=%q", c.Err.Error())
		}
	}
	return b.String()
}

// requireChain checks that every change starts where the previous one
// ended: nothing was dropped or reordered.
func requireChain(t testing.TB, cs []zk.StateChange) {
	t.Helper()
	for i := 1; i < len(cs); i++ {
		require.Equal(t, cs[i-1].To, cs[i].From, "change %d does not start where change %d ended: %s", i, i-1, fmtChanges(cs))
	}
}
