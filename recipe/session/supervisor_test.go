package session_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/testserver"
	"github.com/zkgo/zk/recipe/session"
)

// waitTime bounds every wait for an event: reaching it is a failure, not a
// measurement.
const waitTime = 20 * time.Second

const T = 300 * time.Millisecond

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	t.Cleanup(cancel)
	return ctx
}

func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(waitTime)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// events records what a Supervisor reports.
type events struct {
	mu     sync.Mutex
	list   []session.Event
	signal chan struct{}
}

func newEvents() *events { return &events{signal: make(chan struct{}, 1)} }

func (e *events) on(ev session.Event) {
	e.mu.Lock()
	e.list = append(e.list, ev)
	e.mu.Unlock()
	select {
	case e.signal <- struct{}{}:
	default:
	}
}

func (e *events) snapshot() []session.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]session.Event(nil), e.list...)
}

// waitLen waits until n events were delivered and returns them.
func (e *events) waitLen(t testing.TB, n int) []session.Event {
	t.Helper()
	timer := time.NewTimer(waitTime)
	defer timer.Stop()
	for {
		if evs := e.snapshot(); len(evs) >= n {
			return evs
		}
		select {
		case <-e.signal:
		case <-timer.C:
			t.Fatalf("timed out waiting for %d events; have %v", n, e.snapshot())
		}
	}
}

func types(evs []session.Event) []session.EventType {
	var out []session.EventType
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}

func open(t testing.TB, srv *testserver.Server, cfg session.Config) (*session.Supervisor, *events) {
	t.Helper()
	ev := newEvents()
	cfg.OnEvent = ev.on
	cfg.Options = append(cfg.Options, zk.WithSessionTimeout(T))
	sup, err := session.Open(testCtx(t), srv.ConnString(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { sup.Close() })
	return sup, ev
}

func TestNewSessionAfterExpiry(t *testing.T) {
	srv := testserver.Start(t)
	sup, ev := open(t, srv, session.Config{})
	first := sup.Conn()
	require.Equal(t, 1, sup.Generation())
	require.True(t, srv.ExpireSession(first.SessionID()))

	evs := ev.waitLen(t, 3)
	require.Equal(t, []session.EventType{session.EventNewSession, session.EventLost, session.EventNewSession}, types(evs))
	require.Equal(t, first, evs[0].Conn)
	require.Equal(t, first.SessionID(), evs[1].SessionID)
	require.ErrorIs(t, evs[1].Err, zk.ErrSessionExpired)
	require.Equal(t, 2, evs[2].Generation)
	require.Equal(t, sup.Conn(), evs[2].Conn)
	require.NotEqual(t, first.SessionID(), evs[2].SessionID)
	require.Equal(t, zk.StateClosed, first.State(), "the old handle is dead, not revived")
	require.Equal(t, zk.StateConnected, sup.Conn().State())
	require.Equal(t, 2, sup.Generation())
}

func TestRunRerunsOnEachSession(t *testing.T) {
	srv := testserver.Start(t)
	sup, _ := open(t, srv, session.Config{})
	conns := make(chan *zk.Conn, 4)
	causes := make(chan error, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- sup.Run(ctx, func(ctx context.Context, conn *zk.Conn) error {
			conns <- conn
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return ctx.Err()
		})
	}()
	c1 := recv(t, conns, "the first run")
	srv.ExpireSession(c1.SessionID())
	require.ErrorIs(t, recv(t, causes, "the first run to end"), zk.ErrSessionExpired)
	c2 := recv(t, conns, "the run on the new session")
	require.NotEqual(t, c1, c2)
	srv.ExpireSession(c2.SessionID())
	c3 := recv(t, conns, "the run on the third session")
	require.NotEqual(t, c2, c3)
	cancel()
	require.ErrorIs(t, recv(t, done, "Run to return"), context.Canceled)
}

func TestRunReturnsWhatFnReturns(t *testing.T) {
	srv := testserver.Start(t)
	sup, _ := open(t, srv, session.Config{})
	boom := errors.New("boom")
	require.ErrorIs(t, sup.Run(testCtx(t), func(context.Context, *zk.Conn) error { return boom }), boom)
	require.NoError(t, sup.Run(testCtx(t), func(context.Context, *zk.Conn) error { return nil }))
}

func TestCloseEndsEverything(t *testing.T) {
	srv := testserver.Start(t)
	sup, ev := open(t, srv, session.Config{})
	id := sup.Conn().SessionID()
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- sup.Run(context.Background(), func(ctx context.Context, conn *zk.Conn) error {
			close(started)
			<-ctx.Done()
			return nil
		})
	}()
	recv(t, started, "Run's function")
	require.NoError(t, sup.Close())
	require.ErrorIs(t, recv(t, done, "Run to return"), session.ErrClosed)
	evs := ev.snapshot() // Close returned: every event was delivered
	require.Equal(t, []session.EventType{session.EventNewSession, session.EventLost, session.EventClosed}, types(evs))
	require.ErrorIs(t, evs[1].Err, zk.ErrClosed)
	require.NoError(t, evs[2].Err)
	require.Equal(t, zk.StateClosed, sup.Conn().State())
	require.NoError(t, srv.WaitSessionGone(testCtx(t), id), "the session was closed, not left to expire")
	require.NoError(t, sup.Close(), "Close is idempotent")
	require.ErrorIs(t, sup.Run(testCtx(t), func(context.Context, *zk.Conn) error { return nil }), session.ErrClosed)
}

// countingBackOff counts the waits asked of it and reports each one.
type countingBackOff struct {
	backoff.BackOff
	asked chan struct{}
	n     atomic.Int32
}

func (b *countingBackOff) NextBackOff() time.Duration {
	b.n.Add(1)
	select {
	case b.asked <- struct{}{}:
	default:
	}
	return b.BackOff.NextBackOff()
}

// While no server can be reached, the Supervisor keeps trying, with
// backoff, and opens a new session once one can.
func TestReopensWithBackoffWhenServerReturns(t *testing.T) {
	srv := testserver.Start(t)
	b := &countingBackOff{BackOff: backoff.NewConstantBackOff(10 * time.Millisecond), asked: make(chan struct{}, 1)}
	sup, ev := open(t, srv, session.Config{
		NewBackOff:     func() backoff.BackOff { return b },
		ConnectTimeout: 100 * time.Millisecond,
	})
	srv.StopListener(0)
	srv.ExpireSession(sup.Conn().SessionID())
	// The handle cannot reach a server: it expires the session itself
	// after the session timeout.
	evs := ev.waitLen(t, 2)
	require.Equal(t, session.EventLost, evs[1].Type)
	require.ErrorIs(t, evs[1].Err, zk.ErrSessionExpired)
	recv(t, b.asked, "a failed attempt")
	recv(t, b.asked, "another failed attempt")
	require.NoError(t, srv.StartListener(0))
	evs = ev.waitLen(t, 3)
	require.Equal(t, session.EventNewSession, evs[2].Type)
	require.GreaterOrEqual(t, b.n.Load(), int32(2))
}

func TestGivesUpWhenBackOffStops(t *testing.T) {
	srv := testserver.Start(t)
	sup, ev := open(t, srv, session.Config{
		NewBackOff:     func() backoff.BackOff { return &backoff.StopBackOff{} },
		ConnectTimeout: 100 * time.Millisecond,
	})
	srv.StopListener(0)
	srv.ExpireSession(sup.Conn().SessionID())
	evs := ev.waitLen(t, 3)
	require.Equal(t, []session.EventType{session.EventNewSession, session.EventLost, session.EventClosed}, types(evs))
	require.Error(t, evs[2].Err)
	err := sup.Run(testCtx(t), func(context.Context, *zk.Conn) error { return nil })
	require.ErrorContains(t, err, "giving up")
	require.True(t, strings.HasPrefix(err.Error(), "session: "), err.Error())
}

// A slow OnEvent delays events, never drops or reorders them.
func TestSlowOnEventLosesNothing(t *testing.T) {
	srv := testserver.Start(t)
	release := make(chan struct{})
	ev := newEvents()
	sup, err := session.Open(testCtx(t), srv.ConnString(), session.Config{
		Options: []zk.Option{zk.WithSessionTimeout(T)},
		OnEvent: func(e session.Event) {
			if e.Generation == 1 && e.Type == session.EventNewSession {
				<-release
			}
			ev.on(e)
		},
	})
	require.NoError(t, err)
	defer sup.Close()
	for gen := 1; gen <= 3; gen++ {
		require.Equal(t, gen, sup.Generation())
		srv.ExpireSession(sup.Conn().SessionID())
		waitGeneration(t, sup, gen+1)
	}
	close(release)
	evs := ev.waitLen(t, 7)
	require.Equal(t, []session.EventType{
		session.EventNewSession, session.EventLost,
		session.EventNewSession, session.EventLost,
		session.EventNewSession, session.EventLost,
		session.EventNewSession,
	}, types(evs))
	for i, e := range evs {
		require.Equal(t, i/2+1, e.Generation, "event %d", i)
	}
}

// waitGeneration waits until the Supervisor runs generation gen, using Run
// (which starts its function on each new session) as the signal.
func waitGeneration(t testing.TB, sup *session.Supervisor, gen int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	err := sup.Run(ctx, func(ctx context.Context, conn *zk.Conn) error {
		if sup.Generation() >= gen {
			return nil
		}
		<-ctx.Done() // this session ends; Run goes on with the next
		return ctx.Err()
	})
	require.NoError(t, err)
}

func TestOpenErrors(t *testing.T) {
	_, err := session.Open(testCtx(t), "bad:port:string", session.Config{})
	require.Error(t, err)
	require.True(t, strings.HasPrefix(err.Error(), "session: "), err.Error())

	srv := testserver.Start(t)
	srv.StopListener(0)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = session.Open(ctx, srv.ConnString(), session.Config{})
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
