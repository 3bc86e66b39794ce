package zk_test

// Faults between the handle and a server: the handle talks to the in-memory
// server through internal/faultproxy (client -> proxy -> testserver), which
// blackholes, delays, splits, half-closes, resets and pauses the link. Every
// wait is on an event (a state change, a ping written, a reply); the
// durations below are failure deadlines and fault parameters, never
// measurements.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/faultproxy"
	"github.com/zkgo/zk/internal/testserver"
	"go.uber.org/goleak"
)

// wideServer starts the in-memory server with one listener and a wide
// session timeout range, so that each test picks the T it needs.
func wideServer(t testing.TB, opts ...testserver.Option) *testserver.Server {
	t.Helper()
	return startServer(t, 1, append([]testserver.Option{
		testserver.WithSessionTimeoutRange(100*time.Millisecond, 2*time.Minute),
	}, opts...)...)
}

// pingFrame is the exact frame a handle writes to ping (PROTOCOL.md §16).
var pingFrame = []byte{0, 0, 0, 8, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0x0b}

// wireSpy is a dialer (zk.WithDialer) that watches what a handle does on the
// wire: how often it dials, how many pings it writes (signalled on pingCh),
// and how many other writes it makes.
type wireSpy struct {
	dials  atomic.Int64
	pings  atomic.Int64
	writes atomic.Int64  // writes carrying more than a ping frame
	pingCh chan struct{} // one signal per ping, while there is room
}

func newWireSpy() *wireSpy { return &wireSpy{pingCh: make(chan struct{}, 4096)} }

func (s *wireSpy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	s.dials.Add(1)
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &spyConn{Conn: nc, spy: s}, nil
}

// drainPings forgets the pings signalled so far.
func (s *wireSpy) drainPings() {
	for {
		select {
		case <-s.pingCh:
		default:
			return
		}
	}
}

// awaitPing waits for the next ping the handle writes.
func (s *wireSpy) awaitPing(t testing.TB) {
	t.Helper()
	select {
	case <-s.pingCh:
	case <-time.After(waitTime):
		t.Fatalf("no ping written within %v", waitTime)
	}
}

type spyConn struct {
	net.Conn
	spy *wireSpy
}

// Write counts a write that starts with a ping frame as a ping (the handle
// puts a due ping first in a write), and any write that carries more than a
// ping as another write.
func (c *spyConn) Write(b []byte) (int, error) {
	if bytes.HasPrefix(b, pingFrame) {
		c.spy.pings.Add(1)
		select {
		case c.spy.pingCh <- struct{}{}:
		default:
		}
	}
	if !bytes.Equal(b, pingFrame) {
		c.spy.writes.Add(1)
	}
	return c.Conn.Write(b)
}

// isEvent matches a state change carrying ev.
func isEvent(ev zk.SessionEvent) func(zk.StateChange) bool {
	return func(c zk.StateChange) bool { return c.Event == ev }
}

// awaitChange waits until a change at index >= from matches pred, and
// returns all changes so far and the index of the first match.
func awaitChange(t testing.TB, rec *recorder, from int, what string, pred func(zk.StateChange) bool) ([]zk.StateChange, int) {
	t.Helper()
	idx := -1
	cs := rec.waitUntil(t, what, func(cs []zk.StateChange) bool {
		for i := from; i < len(cs); i++ {
			if pred(cs[i]) {
				idx = i
				return true
			}
		}
		return false
	})
	return cs, idx
}

// proxied starts a server, a proxy in front of it and a handle through the
// proxy with session timeout T, and creates an ephemeral node /eph.
func proxied(t *testing.T, T time.Duration, opts ...zk.Option) (*testserver.Server, *faultproxy.Proxy, *recorder, *zk.Conn) {
	t.Helper()
	srv := wideServer(t)
	p := faultproxy.Start(t, srv.Addr(0))
	rec := newRecorder()
	c := connect(t, p.Addr(), append([]zk.Option{rec.option(), zk.WithSessionTimeout(T)}, opts...)...)
	require.Equal(t, T, c.SessionTimeout())
	_, err := c.Create(testCtx(t), "/eph", nil, zk.CreateEphemeral, zk.OpenACL)
	require.NoError(t, err)
	return srv, p, rec, c
}

// requireSessionBack waits for the SyncConnected after index from and checks
// that the session, its ephemeral node and the link are all there.
func requireSessionBack(t *testing.T, srv *testserver.Server, rec *recorder, c *zk.Conn, from int, id int64) {
	t.Helper()
	cs, i := awaitChange(t, rec, from, "SyncConnected again", isEvent(zk.EventSyncConnected))
	requireChain(t, cs)
	require.Equal(t, id, cs[i].SessionID, "the same session came back: %s", fmtChanges(cs))
	require.Equal(t, id, c.SessionID())
	require.Contains(t, srv.Ephemerals(id), "/eph", "the session's ephemeral node survived")
	_, _, err := c.Get(testCtx(t), "/eph")
	require.NoError(t, err)
}

// TestFaultBlackholeDetectedByReadTimeout: a proxy that goes silent (like a
// hung server or a dropped route) is noticed only by the read timeout, 2T/3
// without a packet; the handle then reconnects with the same session.
func TestFaultBlackholeDetectedByReadTimeout(t *testing.T) {
	const T = 4 * time.Second
	srv, p, rec, c := proxied(t, T)
	id := c.SessionID()

	p.Blackhole(true)
	start := time.Now()
	cs, i := awaitChange(t, rec, 0, "Disconnected", isEvent(zk.EventDisconnected))
	detected := time.Since(start)
	p.Blackhole(false)

	require.Equal(t, []step{
		{zk.StateConnecting, zk.EventNone},
		{zk.StateConnected, zk.EventSyncConnected},
		{zk.StateConnecting, zk.EventDisconnected},
	}, steps(cs[:i+1]), fmtChanges(cs))
	d := cs[i]
	require.Equal(t, zk.StateConnected, d.From)
	require.Equal(t, p.Addr(), d.Server, "the Disconnected change names the silent server")
	require.Error(t, d.Err)
	require.ErrorContains(t, d.Err, "read timeout")
	require.True(t, strings.HasPrefix(d.Err.Error(), "zk: "), d.Err.Error())
	// The last packet came at most one ping interval (T/3) before the
	// blackhole, so silence is declared no sooner than 2T/3 - T/3 after it:
	// the loss was detected by the timeout, not by anything else.
	require.GreaterOrEqual(t, detected, T/4, "loss declared %v after the blackhole", detected)
	t.Logf("blackhole detected after %v (read timeout %v): %v", detected, 2*T/3, d.Err)

	requireSessionBack(t, srv, rec, c, i+1, id)
}

// TestFaultSlowServerIsNotDead: a server slowed to a tenth of the session
// timeout each way is slow, not dead: pings keep the link alive over many
// session timeouts and no Disconnected is reported.
func TestFaultSlowServerIsNotDead(t *testing.T) {
	const T = 1500 * time.Millisecond
	latency := T / 10
	srv := wideServer(t)
	p := faultproxy.Start(t, srv.Addr(0))
	p.SetLatency(latency)
	spy := newWireSpy()
	rec := newRecorder()
	c := connect(t, p.Addr(), rec.option(), zk.WithSessionTimeout(T), zk.WithDialer(spy.dial))
	id := c.SessionID()
	ctx := testCtx(t)

	start := time.Now()
	_, _, err := c.Get(ctx, "/")
	require.NoError(t, err)
	rtt := time.Since(start)
	require.GreaterOrEqual(t, rtt, 2*latency, "the latency is in effect")

	// A ping is written only after T/3 in which nothing was written, so ten
	// pings in a row span at least 9*T/3 = 3T: three session timeouts, each
	// of which would have ended a link the handle wrongly thought dead. A Get
	// after every third ping shows the link still answers.
	const pings = 10
	spy.drainPings()
	spy.awaitPing(t)
	first := time.Now()
	for i := 2; i <= pings; i++ {
		spy.awaitPing(t)
		if i%3 == 0 {
			_, _, err := c.Get(ctx, "/")
			require.NoError(t, err, "after ping %d", i)
		}
	}
	span := time.Since(first)

	cs := rec.snapshot()
	require.Equal(t, []step{
		{zk.StateConnecting, zk.EventNone},
		{zk.StateConnected, zk.EventSyncConnected},
	}, steps(cs), "a slow server was declared dead: %s", fmtChanges(cs))
	require.Equal(t, zk.StateConnected, c.State())
	require.Equal(t, id, c.SessionID())
	t.Logf("latency %v each way (RTT %v): %d pings over %v (%.1f session timeouts), no disconnection",
		latency, rtt, pings, span, float64(span)/float64(T))
}

// TestFaultSplitWritesDecode: every byte arrives in a write of its own, in
// both directions (the handshake included); frames are still reassembled,
// replies and watch events decoded.
func TestFaultSplitWritesDecode(t *testing.T) {
	srv := wideServer(t)
	p := faultproxy.Start(t, srv.Addr(0))
	p.SplitWrites(true)
	rec := newRecorder()
	c := connect(t, p.Addr(), rec.option(), zk.WithSessionTimeout(20*time.Second))
	direct := connect(t, srv.Addr(0))
	ctx := testCtx(t)

	data := bytes.Repeat([]byte("0123456789abcdef"), 1024) // 16 KiB
	_, err := c.Create(ctx, "/split", data, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	got, st, w, err := c.GetW(ctx, "/split")
	require.NoError(t, err)
	require.Equal(t, data, got)
	_, _, cw, err := c.ChildrenW(ctx, "/split")
	require.NoError(t, err)
	pw, err := c.AddWatch(ctx, "/split", zk.AddWatchModePersistent)
	require.NoError(t, err)

	_, err = direct.Set(ctx, "/split", []byte("changed"), st.Version)
	require.NoError(t, err)
	require.Equal(t, zk.Event{Type: zk.EventNodeDataChanged, Path: "/split"}, awaitEvent(t, w))
	requireClosedAfterOne(t, w)
	pev, err := pw.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, zk.Event{Type: zk.EventNodeDataChanged, Path: "/split"}, pev)

	_, err = direct.Create(ctx, "/split/kid", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	require.Equal(t, zk.Event{Type: zk.EventNodeChildrenChanged, Path: "/split"}, awaitEvent(t, cw))
	pev, err = pw.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, zk.Event{Type: zk.EventNodeChildrenChanged, Path: "/split"}, pev)

	res, err := c.Multi(ctx,
		zk.CreateOp{Path: "/split/m-", Mode: zk.CreatePersistentSequential, ACL: zk.OpenACL},
		zk.SetDataOp{Path: "/split", Data: data[:100], Version: st.Version + 1},
	)
	require.NoError(t, err)
	require.Equal(t, "/split/m-0000000001", res[0].Path)
	require.Equal(t, st.Version+2, res[1].Stat.Version)

	require.Greater(t, p.BytesForwarded(faultproxy.ServerToClient), int64(len(data)))
	cs := rec.snapshot()
	require.Equal(t, []step{
		{zk.StateConnecting, zk.EventNone},
		{zk.StateConnected, zk.EventSyncConnected},
	}, steps(cs), fmtChanges(cs))
}

// TestFaultHalfCloseAndResetReconnect: an end of stream in either direction
// or a reset drops the link at once (no timeout), with an error that says
// so, and the session comes back through the proxy.
func TestFaultHalfCloseAndResetReconnect(t *testing.T) {
	cases := []struct {
		name   string
		inject func(p *faultproxy.Proxy)
		want   []string // the Disconnected error contains one of these
	}{
		{"half-close server to client", func(p *faultproxy.Proxy) { p.HalfClose(faultproxy.ServerToClient) }, []string{"closed the connection"}},
		// The server sees the end of stream and closes; the handle sees that.
		{"half-close client to server", func(p *faultproxy.Proxy) { p.HalfClose(faultproxy.ClientToServer) }, []string{"closed the connection"}},
		{"reset", func(p *faultproxy.Proxy) { p.ResetAll() }, []string{"reset", "broken pipe"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const T = 20 * time.Second // far longer than the test: no timeout can be what fires
			srv, p, rec, c := proxied(t, T)
			id := c.SessionID()
			start := time.Now()
			tc.inject(p)
			cs, i := awaitChange(t, rec, 0, "Disconnected", isEvent(zk.EventDisconnected))
			require.Equal(t, zk.StateConnected, cs[i].From)
			require.Error(t, cs[i].Err)
			msg := cs[i].Err.Error()
			require.True(t, strings.HasPrefix(msg, "zk: "), msg)
			found := false
			for _, w := range tc.want {
				found = found || strings.Contains(msg, w)
			}
			require.True(t, found, "Disconnected error %q mentions none of %q", msg, tc.want)
			t.Logf("%s: dropped after %v: %v", tc.name, time.Since(start), cs[i].Err)
			requireSessionBack(t, srv, rec, c, i+1, id)
		})
	}
}

// TestFaultPauseOneDirection: one direction held, the other flowing. With
// requests held, nothing comes back; with replies held, the server works but
// the handle hears nothing. Either way the read timeout ends the link, every
// call in flight fails with ErrConnectionLoss (its outcome unknown), and the
// session comes back once the direction flows again.
func TestFaultPauseOneDirection(t *testing.T) {
	for _, dir := range []faultproxy.Direction{faultproxy.ClientToServer, faultproxy.ServerToClient} {
		t.Run(dir.String(), func(t *testing.T) {
			const T = 4 * time.Second
			srv, p, rec, c := proxied(t, T)
			id := c.SessionID()
			ctx := testCtx(t)
			_, err := c.Create(ctx, "/reg", []byte("v0"), zk.CreatePersistent, zk.OpenACL)
			require.NoError(t, err)

			p.Pause(dir, true)
			const calls = 4
			results := make(chan error, calls)
			for range calls - 1 {
				go func() {
					_, _, err := c.Get(ctx, "/reg")
					results <- err
				}()
			}
			go func() {
				_, err := c.Set(ctx, "/reg", []byte("v1"), 0)
				results <- err
			}()

			cs, i := awaitChange(t, rec, 0, "Disconnected", isEvent(zk.EventDisconnected))
			require.Equal(t, zk.StateConnected, cs[i].From)
			require.ErrorContains(t, cs[i].Err, "read timeout")
			// The calls piled up unanswered: each fails with the loss.
			for range calls {
				select {
				case err := <-results:
					require.ErrorIs(t, err, zk.ErrConnectionLoss)
				case <-time.After(waitTime):
					t.Fatal("a call in flight did not end with the link")
				}
			}
			p.Pause(dir, false)
			requireSessionBack(t, srv, rec, c, i+1, id)

			data, _, err := c.Get(ctx, "/reg")
			require.NoError(t, err)
			if dir == faultproxy.ServerToClient {
				// The server got the Set and applied it; only its reply was
				// lost. ErrConnectionLoss means "unknown", not "failed".
				require.Equal(t, "v1", string(data))
			}
			t.Logf("%s paused: %v; the Set that failed with ErrConnectionLoss left %q", dir, cs[i].Err, data)
		})
	}
}

// TestFaultCloseWhileBlackholedDoesNotHang: Close returns within a bound
// whatever state the silent link is in, fails the calls in flight, and
// leaves no goroutine behind.
func TestFaultCloseWhileBlackholedDoesNotHang(t *testing.T) {
	cases := []struct {
		name string
		T    time.Duration
		// setup brings the handle into the state to close from; it returns
		// the bound on Close.
		setup func(t *testing.T, T time.Duration, p *faultproxy.Proxy, rec *recorder, c *zk.Conn) time.Duration
		// connected: the handle is made with Connect through an open proxy.
		connected bool
	}{
		{
			name: "handshake in progress", T: time.Minute,
			setup: func(t *testing.T, T time.Duration, p *faultproxy.Proxy, rec *recorder, c *zk.Conn) time.Duration {
				// The handle has dialed and waits for the handshake answer,
				// for up to T: Close must cut that short.
				require.NoError(t, p.WaitConns(testCtx(t), 1))
				require.Equal(t, zk.StateConnecting, c.State())
				return 5 * time.Second
			},
		},
		{
			name: "connected with a call in flight", T: 3 * time.Second, connected: true,
			setup: func(t *testing.T, T time.Duration, p *faultproxy.Proxy, rec *recorder, c *zk.Conn) time.Duration {
				p.Blackhole(true)
				// Close asks the server to end the session and waits for the
				// answer at most the read timeout, 2T/3.
				return 2*T/3 + 5*time.Second
			},
		},
		{
			name: "reconnecting after the loss", T: 3 * time.Second, connected: true,
			setup: func(t *testing.T, T time.Duration, p *faultproxy.Proxy, rec *recorder, c *zk.Conn) time.Duration {
				p.Blackhole(true)
				cs, i := awaitChange(t, rec, 0, "Disconnected", isEvent(zk.EventDisconnected))
				require.ErrorContains(t, cs[i].Err, "read timeout")
				return 5 * time.Second
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Registered first, so it runs last: after the server, the proxy
			// and the handle are closed.
			ignore := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, ignore) })

			srv := wideServer(t)
			p := faultproxy.Start(t, srv.Addr(0))
			rec := newRecorder()
			var c *zk.Conn
			if tc.connected {
				c = connect(t, p.Addr(), rec.option(), zk.WithSessionTimeout(tc.T))
			} else {
				p.Blackhole(true)
				var err error
				c, err = zk.New(p.Addr(), rec.option(), zk.WithSessionTimeout(tc.T))
				require.NoError(t, err)
				t.Cleanup(func() { c.Close() })
			}
			bound := tc.setup(t, tc.T, p, rec, c)

			call := make(chan error, 1)
			go func() {
				_, _, err := c.Get(context.Background(), "/")
				call <- err
			}()
			start := time.Now()
			closed := make(chan struct{})
			go func() {
				c.Close()
				close(closed)
			}()
			select {
			case <-closed:
			case <-time.After(bound):
				t.Fatalf("Close did not return within %v", bound)
			}
			took := time.Since(start)
			select {
			case err := <-call:
				require.True(t, errors.Is(err, zk.ErrClosed) || errors.Is(err, zk.ErrConnectionLoss),
					"call in flight at Close ended with %v", err)
			case <-time.After(waitTime):
				t.Fatal("a call in flight did not end with Close")
			}
			require.Equal(t, zk.StateClosed, c.State())
			_, _, err := c.Get(testCtx(t), "/")
			require.ErrorIs(t, err, zk.ErrClosed)
			cs := rec.snapshot()
			requireChain(t, cs)
			require.Equal(t, zk.EventClosed, cs[len(cs)-1].Event, fmtChanges(cs))
			t.Logf("%s: Close returned after %v (bound %v)", tc.name, took, bound)
		})
	}
}

// TestFaultBlockedWriteDoesNotHoldCallers: when the server stops reading
// (its direction paused at the proxy, so the proxy's buffer and the kernel's
// fill up), a write to the socket blocks. A call must still end when its
// context does ("cancelling a call's context returns ctx.Err() at once"):
// no caller may be held in a socket write, its own or other callers'.
func TestFaultBlockedWriteDoesNotHoldCallers(t *testing.T) {
	for _, mode := range ioModes() {
		t.Run(mode.name, func(t *testing.T) { testBlockedWriteDoesNotHoldCallers(t, mode.opts...) })
	}
}

// ioMode is one way a link does its socket I/O: on Linux, plain TCP links
// use raw system calls (rawio_linux.go); with WithoutRawIO, and on other
// platforms, they use net.Conn's Read and Write.
type ioMode struct {
	name string
	opts []zk.Option
}

func ioModes() []ioMode {
	return []ioMode{{"default I/O", nil}, {"net.Conn I/O", []zk.Option{zk.WithoutRawIO()}}}
}

func testBlockedWriteDoesNotHoldCallers(t *testing.T, opts ...zk.Option) {
	const T = 30 * time.Second // the write deadline (2T/3) is far away
	_, p, _, c := proxied(t, T, opts...)
	p.Pause(faultproxy.ClientToServer, true)
	t.Cleanup(func() { p.Pause(faultproxy.ClientToServer, false) })

	const (
		callers  = 16
		calls    = 4
		patience = 300 * time.Millisecond
		// A caller held in the blocked write would return at the write
		// deadline, 2T/3 = 20 s. A caller that is not still has to build
		// and copy a 1 MB request, which under -race on a loaded two-core
		// machine took up to 2.4 s in a stress run.
		slack = 6 * time.Second
	)
	data := make([]byte, 1000<<10) // one request just under the 1 MiB limit
	type result struct {
		caller, call int
		took         time.Duration
		err          error
	}
	results := make(chan result, callers*calls)
	for i := range callers {
		go func() {
			for j := range calls {
				ctx, cancel := context.WithTimeout(context.Background(), patience)
				start := time.Now()
				_, err := c.Set(ctx, "/eph", data, -1)
				results <- result{i, j, time.Since(start), err}
				cancel()
			}
		}()
	}
	// 64 MB of requests: far more than the proxy (4 MiB) and the kernel's
	// buffers hold, so writes block for good.
	var worst time.Duration
	for range callers * calls {
		var r result
		select {
		case r = <-results:
		case <-time.After(waitTime + T):
			t.Fatal("a call never returned")
		}
		worst = max(worst, r.took)
		require.ErrorIs(t, r.err, context.DeadlineExceeded, "caller %d call %d", r.caller, r.call)
		require.Less(t, r.took, patience+slack,
			"caller %d call %d returned %v after its %v context ended: it was held in a blocked socket write", r.caller, r.call, r.took, patience)
	}
	t.Logf("%d calls against a server that stopped reading: the slowest returned after %v (context %v)", callers*calls, worst, patience)
}

// TestFaultOneWayPartitionWhileNotificationsFlow: requests and pings no
// longer reach the server, but watch notifications keep coming the other
// way. The handle must not take those for a live link: no reply comes, so
// the read timeout ends the link.
func TestFaultOneWayPartitionWhileNotificationsFlow(t *testing.T) {
	const T = 3 * time.Second
	srv, p, rec, c := proxied(t, T)
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/n", []byte("0"), zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	pw, err := c.AddWatch(ctx, "/n", zk.AddWatchModePersistent)
	require.NoError(t, err)
	direct := connect(t, srv.Addr(0))

	p.Pause(faultproxy.ClientToServer, true)
	t.Cleanup(func() { p.Pause(faultproxy.ClientToServer, false) })
	// Change /n, and see the event arrive, until the link is declared lost
	// (bounded by the test's wait).
	events := 0
	deadline := time.Now().Add(waitTime)
	for len(rec.snapshot()) < 3 && time.Now().Before(deadline) {
		_, err := direct.Set(ctx, "/n", []byte("x"), -1)
		require.NoError(t, err)
		ev, err := pw.Next(ctx)
		require.NoError(t, err)
		if ev.Type == zk.EventNodeDataChanged {
			events++
		}
	}
	cs, i := awaitChange(t, rec, 0, "Disconnected", isEvent(zk.EventDisconnected))
	require.ErrorContains(t, cs[i].Err, "read timeout")
	require.Greater(t, events, 3, "notifications flowed during the partition")
	t.Logf("one-way partition detected after %d notifications: %v", events, cs[i].Err)
}

// TestFaultWriteBackpressureKeepsLink: the server stops reading for a
// moment (a second, far below the read timeout) while the handle has many
// megabytes to send, so its writes block for a while, then everything
// flows again. That is a slow moment, not a dead link: every call
// succeeds and no Disconnected is reported, over plain TCP and over TLS
// alike, whether the handle does the TLS (WithTLS) or its dialer does.
// (After a Write on a tls.Conn times out, "the TLS state is corrupt and all
// future writes will return the same error": a short write deadline used as
// a hand-off signal kills a healthy TLS link.)
func TestFaultWriteBackpressureKeepsLink(t *testing.T) {
	cert, pool := selfSigned(t)
	// A dialer that does TLS itself (to pin a certificate, say): the handle
	// gets a *tls.Conn without WithTLS.
	tlsDialer := func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := tls.Dialer{Config: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}
		return d.DialContext(ctx, network, addr)
	}
	for _, mode := range []string{"plain", "plain, net.Conn I/O", "TLS", "TLS from a custom dialer"} {
		t.Run(mode, func(t *testing.T) {
			const T = 20 * time.Second
			var srvOpts []testserver.Option
			var cliOpts []zk.Option
			if !strings.HasPrefix(mode, "plain") {
				srvOpts = append(srvOpts, testserver.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}}))
			}
			switch mode {
			case "plain, net.Conn I/O":
				cliOpts = append(cliOpts, zk.WithoutRawIO())
			case "TLS":
				cliOpts = append(cliOpts, zk.WithTLS(&tls.Config{RootCAs: pool}))
			case "TLS from a custom dialer":
				cliOpts = append(cliOpts, zk.WithDialer(tlsDialer))
			}
			srv := wideServer(t, srvOpts...)
			p := faultproxy.Start(t, srv.Addr(0))
			rec := newRecorder()
			c := connect(t, p.Addr(), append(cliOpts, rec.option(), zk.WithSessionTimeout(T))...)
			ctx := testCtx(t)
			_, err := c.Create(ctx, "/big", nil, zk.CreatePersistent, zk.OpenACL)
			require.NoError(t, err)

			p.Pause(faultproxy.ClientToServer, true)
			const calls = 24 // 24 MB: more than the proxy and the kernel hold
			errs := megabyteSets(ctx, c, "/big", calls)
			// Let the writes pile up against the paused direction, then let
			// them through.
			time.Sleep(time.Second) // the fault's duration, not a wait for an event
			p.Pause(faultproxy.ClientToServer, false)
			var failed []error
			for range calls {
				select {
				case err := <-errs:
					if err != nil {
						failed = append(failed, err)
					}
				case <-time.After(waitTime):
					t.Fatal("a call never returned")
				}
			}
			cs := rec.snapshot()
			for _, ch := range cs {
				if ch.Event == zk.EventDisconnected {
					t.Errorf("a one-second write stall dropped the link: %v", ch.Err)
				}
			}
			require.Empty(t, failed, "calls failed after a one-second stall")
			require.Equal(t, []step{
				{zk.StateConnecting, zk.EventNone},
				{zk.StateConnected, zk.EventSyncConnected},
			}, steps(cs), fmtChanges(cs))
		})
	}
}

// TestWriterHandsNothingToItself: on a connection that is not a bare TCP
// connection (TLS, or a dialer's wrapper), the link's writer goroutine does
// every write. A request queued just as the writer found the queue empty,
// and before it gave up the flusher's role, once made the writer hand that
// request to itself and wait forever: every call stalled until the read
// timeout dropped the link. The hook queues a call at exactly that moment.
func TestWriterHandsNothingToItself(t *testing.T) {
	srv := startServer(t, 1)
	rec := newRecorder()
	const T = 30 * time.Second // a stall would last 20 s; the call's context is shorter
	c := connect(t, srv.ConnString(), zk.WithDialer(wrappedDial), zk.WithSessionTimeout(T), rec.option())
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/w", []byte("x"), zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)

	var once sync.Once
	queued := make(chan error, 1)
	restore := zk.SetWriterIdleHook(func(hc *zk.Conn) {
		if hc != c {
			return
		}
		once.Do(func() {
			go func() {
				cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_, _, err := c.Get(cctx, "/w")
				queued <- err
			}()
			// Hold the writer here until the call is queued behind it.
			deadline := time.Now().Add(waitTime)
			for c.Queued() == 0 && time.Now().Before(deadline) {
				runtime.Gosched()
			}
		})
	})
	defer restore()
	_, _, err = c.Get(ctx, "/w") // its write ends with the writer finding the queue empty
	require.NoError(t, err)
	select {
	case err := <-queued:
		require.NoError(t, err, "the call queued as the writer went idle was written")
	case <-time.After(waitTime):
		t.Fatal("the call queued as the writer went idle never returned")
	}
	cs := rec.waitLen(t, 2) // the connect's changes may reach the listener after Connect returns
	require.Len(t, cs, 2, "no reconnection: %s", fmtChanges(cs))
}

// stallConn holds its reader before each Read while stalled is set, as a
// process taken off the CPU (a long pause, a container's CPU quota) holds
// its reader goroutine: the server's replies pile up in the socket while
// the read deadline passes.
type stallConn struct {
	net.Conn
	stalled  atomic.Bool
	inStall  chan struct{} // the reader reached a Read while stalled
	release  chan struct{}
	deadline atomic.Int64 // the last read deadline set, in Unix ns
}

func (s *stallConn) Read(b []byte) (int, error) {
	if s.stalled.Load() {
		s.inStall <- struct{}{}
		<-s.release
	}
	return s.Conn.Read(b)
}

func (s *stallConn) SetReadDeadline(t time.Time) error {
	s.deadline.Store(t.UnixNano())
	return s.Conn.SetReadDeadline(t)
}

// TestReaderOffTheCPUIsNotALostServer: when the handle's reader did not
// run until after its read deadline, while the server's replies waited in
// the socket, the handle reads them before it calls the server silent. Go
// fails a read whose deadline has passed without looking at the socket, so
// this takes one more, short read.
func TestReaderOffTheCPUIsNotALostServer(t *testing.T) {
	srv := startServer(t, 1)
	sc := make(chan *stallConn, 1)
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		s := &stallConn{Conn: nc, inStall: make(chan struct{}), release: make(chan struct{})}
		select {
		case sc <- s:
		default:
		}
		return s, nil
	}
	rec := newRecorder()
	c := connect(t, srv.ConnString(), zk.WithDialer(dial), zk.WithSessionTimeout(3*time.Second), rec.option())
	conn := <-sc
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/s", []byte("x"), zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)

	conn.stalled.Store(true)
	// The reader's next Read stalls: at once if it is between reads, or
	// after the reply to this call ends the Read it is in.
	got := make(chan error, 2)
	go func() {
		_, _, err := c.Get(ctx, "/s")
		got <- err
	}()
	<-conn.inStall
	conn.stalled.Store(false)
	go func() {
		_, _, err := c.Get(ctx, "/s") // its reply waits in the socket
		got <- err
	}()
	// Let the read deadline pass while the reader is held.
	time.Sleep(time.Until(time.Unix(0, conn.deadline.Load())) + 100*time.Millisecond) // the clock passing the deadline is the condition under test; no event marks it
	close(conn.release)
	require.NoError(t, <-got)
	require.NoError(t, <-got)
	_, _, err = c.Get(ctx, "/s")
	require.NoError(t, err)
	cs := rec.waitLen(t, 2) // the connect's changes may reach the listener after Connect returns
	require.Len(t, cs, 2, "the link was kept: %s", fmtChangesErr(cs))
}

// stallLog is a slog handler that, once armed, holds the goroutine that
// logs the next watch event (the link's reader) until released.
type stallLog struct {
	armed   atomic.Bool
	stalled chan struct{}
	release chan struct{}
}

func (h *stallLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *stallLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *stallLog) WithGroup(string) slog.Handler            { return h }
func (h *stallLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "zk: watch event" && h.armed.CompareAndSwap(true, false) {
		close(h.stalled)
		<-h.release
	}
	return nil
}

// TestFlusherFailingOnOldLinkLeavesNoQueueBehind: a caller that holds the
// flusher's role writes to a link that has just failed, and before it gives
// the role up the handle is already on a new link, whose first requests
// (here the SetWatches that re-registers a watch) found the role taken and
// left their write to it. The caller must write them; they must not wait
// for the next ping (T/3 later).
func TestFlusherFailingOnOldLinkLeavesNoQueueBehind(t *testing.T) {
	srv := startServer(t, 2)
	rec := newRecorder()
	h := &stallLog{stalled: make(chan struct{}), release: make(chan struct{})}
	const T = 30 * time.Second // a ping after 10 s; the watch's wait is shorter
	c := connect(t, srv.ConnString(), rec.option(), zk.WithSessionTimeout(T), zk.WithLogger(slog.New(h)))
	ctx := testCtx(t)
	other := connect(t, srv.ConnString())
	_, _, chB, err := c.ExistsW(ctx, "/b") // re-registered by the next link's SetWatches
	require.NoError(t, err)
	_, _, chA, err := c.ExistsW(ctx, "/a")
	require.NoError(t, err)

	// The reader stalls logging the event of /a: the link it serves can
	// fail, but the handle cannot leave it yet.
	h.armed.Store(true)
	_, err = other.Create(ctx, "/a", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	awaitEvent(t, chA)
	select {
	case <-h.stalled:
	case <-time.After(waitTime):
		t.Fatal("the reader never logged the watch event")
	}
	i := listenerOf(t, srv, c)
	require.NoError(t, c.UpdateServers(srv.Addrs()[1-i])) // fails the link
	require.NoError(t, srv.WaitConnections(ctx, 1))       // ... and closed it: only other's is left

	n := len(rec.snapshot())
	var inHook atomic.Bool
	inHook.Store(true)
	restore := zk.SetCallerWriteHook(func(hc *zk.Conn, _ bool) {
		if hc != c || !inHook.CompareAndSwap(true, false) {
			return
		}
		// This caller's write to the closed link failed. Before it gives
		// the flusher's role up, the handle moves to the other server.
		close(h.release)
		rec.waitUntil(t, "the session on the other server", func(cs []zk.StateChange) bool {
			return len(cs) > n && cs[len(cs)-1].Event == zk.EventSyncConnected
		})
		for range 100 {
			runtime.Gosched() // the new link's own flush finds the role taken
		}
	})
	defer restore()
	_, _, err = c.Get(ctx, "/a")
	require.ErrorIs(t, err, zk.ErrConnectionLoss)
	require.False(t, inHook.Load(), "the caller's write never went to the failed link")

	_, err = other.Create(ctx, "/b", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	select {
	case ev := <-chB:
		require.Equal(t, zk.EventNodeCreated, ev.Type)
	case <-time.After(5 * time.Second):
		t.Fatalf("the watch on /b was not re-registered on the new link (%d requests still queued)", c.Queued())
	}
}
