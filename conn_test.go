package zk_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/faultproxy"
	"github.com/zkgo/zk/internal/proto"
	"github.com/zkgo/zk/internal/testserver"
)

func TestFirstConnectAndClose(t *testing.T) {
	srv := startServer(t, 1)
	rec := newRecorder()
	c, err := zk.Connect(testCtx(t), srv.ConnString(), rec.option(), zk.WithSessionTimeout(2*time.Second))
	require.NoError(t, err)
	require.Equal(t, zk.StateConnected, c.State())
	require.NotZero(t, c.SessionID())
	require.Len(t, c.SessionPassword(), 16)
	require.Equal(t, 2*time.Second, c.SessionTimeout())
	require.Equal(t, srv.Addr(0), c.Server())

	p, err := c.Create(testCtx(t), "/eph", nil, zk.CreateEphemeral, zk.OpenACL)
	require.NoError(t, err)
	require.Equal(t, "/eph", p)
	id := c.SessionID()
	require.Equal(t, []string{"/eph"}, srv.Ephemerals(id))

	require.NoError(t, c.Err())
	select {
	case <-c.Done():
		t.Fatal("Done closed on a live handle")
	default:
	}
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "Close is idempotent")
	require.Equal(t, zk.StateClosed, c.State())
	<-c.Done()
	require.ErrorIs(t, c.Err(), zk.ErrClosed)
	// closeSession went out: the session and its ephemeral are gone now,
	// not a session timeout later.
	require.NotContains(t, srv.Sessions(), id)
	_, _, ok := srv.Get("/eph")
	require.False(t, ok)

	cs := rec.snapshot()
	require.Equal(t, []step{
		{zk.StateConnecting, zk.EventNone},
		{zk.StateConnected, zk.EventSyncConnected},
		{zk.StateClosed, zk.EventClosed},
	}, steps(cs), fmtChanges(cs))
	require.Equal(t, zk.StateNotConnected, cs[0].From)
	requireChain(t, cs)

	_, _, err = c.Get(testCtx(t), "/")
	require.ErrorIs(t, err, zk.ErrClosed)
}

func TestNewReturnsConnecting(t *testing.T) {
	srv := startServer(t, 1)
	c, err := zk.New(srv.ConnString())
	require.NoError(t, err)
	defer c.Close()
	st := c.State()
	require.Contains(t, []zk.State{zk.StateConnecting, zk.StateConnected}, st)
	// Calls made before the session is up are queued and sent after it.
	_, err = c.Create(testCtx(t), "/early", []byte("x"), zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	require.Equal(t, zk.StateConnected, c.State())
}

func TestBadConnStringNoIO(t *testing.T) {
	var dials atomic.Int32
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return nil, errors.New("no")
	}
	for _, s := range []string{"", "host:0", "a,,b", "[::1", "h/a/", "::1:2181"} {
		_, err := zk.New(s, zk.WithDialer(dial))
		require.ErrorIs(t, err, zk.ErrBadConnString, s)
		_, err = zk.Connect(testCtx(t), s, zk.WithDialer(dial))
		require.ErrorIs(t, err, zk.ErrBadConnString, s)
	}
	require.Zero(t, dials.Load())
	_, err := zk.New("127.0.0.1:1/a//b")
	require.ErrorContains(t, err, `chroot "/a//b"`)
}

func TestConnectContextEnds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	c, err := zk.Connect(ctx, addr, zk.WithSessionTimeout(time.Second))
	require.Nil(t, c)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "last attempt")
	require.ErrorContains(t, err, addr)
}

func TestReconnectToAnotherListener(t *testing.T) {
	srv := startServer(t, 3)
	rec := newRecorder()
	c := connect(t, srv.ConnString(), rec.option(), zk.WithSessionTimeout(2*time.Second))
	id := c.SessionID()
	_, err := c.Create(testCtx(t), "/alive", nil, zk.CreateEphemeral, zk.OpenACL)
	require.NoError(t, err)
	first := c.Server()

	srv.StopListener(listenerOf(t, srv, c))
	cs := rec.waitLen(t, 4)
	require.Equal(t, []step{
		{zk.StateConnecting, zk.EventNone},
		{zk.StateConnected, zk.EventSyncConnected},
		{zk.StateConnecting, zk.EventDisconnected},
		{zk.StateConnected, zk.EventSyncConnected},
	}, steps(cs), fmtChanges(cs))
	requireChain(t, cs)
	require.Equal(t, first, cs[2].Server, "the Disconnected change names the lost server")
	require.NotEqual(t, first, c.Server())
	require.Equal(t, id, c.SessionID(), "same session on the new server")

	// The ephemeral survived, as another client sees it.
	other := connect(t, srv.Addrs()[(listenerOf(t, srv, c)+1)%3]+","+c.Server())
	_, st, err := other.Get(testCtx(t), "/alive")
	require.NoError(t, err)
	require.Equal(t, id, st.EphemeralOwner)
}

func TestAllListenersDownThenBack(t *testing.T) {
	srv := startServer(t, 2)
	rec := newRecorder()
	c := connect(t, srv.ConnString(), rec.option(), zk.WithSessionTimeout(4*time.Second),
		zk.WithBackoff(fixedBackoff(20*time.Millisecond)))
	id := c.SessionID()
	mine := listenerOf(t, srv, c)
	srv.StopListener(1 - mine) // the other one first, so the session cannot move there
	srv.StopListener(mine)
	// Wait for two rounds of backoff, then bring one listener back.
	rec.waitUntil(t, "two backoff rounds", func(cs []zk.StateChange) bool {
		n := 0
		for _, ch := range cs {
			if ch.To == zk.StateNotConnected {
				n++
			}
		}
		return n >= 2
	})
	require.NoError(t, srv.StartListener(1))
	cs := rec.waitState(t, zk.StateConnected)
	requireChain(t, cs)
	// CONNECTING, CONNECTED, then the loss, then alternating backoff and
	// attempts, then CONNECTED again.
	st := steps(cs)
	require.Equal(t, step{zk.StateConnecting, zk.EventDisconnected}, st[2], fmtChanges(cs))
	require.Equal(t, step{zk.StateNotConnected, zk.EventNone}, st[3], fmtChanges(cs))
	for i := 3; i < len(st)-1; i++ {
		want := zk.StateNotConnected
		if i%2 == 0 {
			want = zk.StateConnecting
		}
		require.Equal(t, want, st[i].to, "change %d: %s", i, fmtChanges(cs))
	}
	require.Equal(t, step{zk.StateConnected, zk.EventSyncConnected}, st[len(st)-1])
	require.Equal(t, id, c.SessionID())
	require.Equal(t, srv.Addr(1), c.Server())
	// A NOT_CONNECTED change carries the last connection error.
	require.Error(t, cs[3].Err)
}

func TestExpiryByServer(t *testing.T) {
	srv := startServer(t, 1)
	rec := newRecorder()
	c := connect(t, srv.ConnString(), rec.option(), zk.WithSessionTimeout(2*time.Second))
	other := connect(t, srv.ConnString())
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/e", nil, zk.CreateEphemeral, zk.OpenACL)
	require.NoError(t, err)
	_, _, watch, err := c.GetW(ctx, "/e")
	require.NoError(t, err)
	_, _, otherWatch, err := other.ExistsW(ctx, "/e")
	require.NoError(t, err)

	require.True(t, srv.ExpireSession(c.SessionID()))
	cs := rec.waitState(t, zk.StateClosed)
	require.Equal(t, []step{
		{zk.StateConnecting, zk.EventNone},
		{zk.StateConnected, zk.EventSyncConnected},
		{zk.StateConnecting, zk.EventDisconnected},
		{zk.StateClosed, zk.EventExpired},
	}, steps(cs), fmtChanges(cs))
	require.ErrorIs(t, cs[3].Err, zk.ErrSessionExpired)

	ev := awaitEvent(t, watch)
	require.Equal(t, zk.EventWatchFailed, ev.Type)
	require.ErrorIs(t, ev.Err, zk.ErrSessionExpired)
	require.Equal(t, "/e", ev.Path)
	requireClosedAfterOne(t, watch)

	_, _, err = c.Get(ctx, "/")
	require.ErrorIs(t, err, zk.ErrSessionExpired)
	<-c.Done()
	require.ErrorIs(t, c.Err(), zk.ErrSessionExpired)
	// The ephemeral is gone, as the other client sees it.
	oev := awaitEvent(t, otherWatch)
	require.Equal(t, zk.EventNodeDeleted, oev.Type)
	ok, _, err := other.Exists(ctx, "/e")
	require.NoError(t, err)
	require.False(t, ok)
}

func TestPendingCallsFailOnExpiry(t *testing.T) {
	srv := startServer(t, 1)
	c := connect(t, srv.ConnString(), zk.WithSessionTimeout(2*time.Second))
	srv.Blackhole(0, true)
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Get(context.Background(), "/")
		errc <- err
	}()
	// Read timeout, then no server answers the handshake: local expiry.
	select {
	case err := <-errc:
		require.True(t, errors.Is(err, zk.ErrConnectionLoss) || errors.Is(err, zk.ErrSessionExpired), "got %v", err)
	case <-time.After(waitTime):
		t.Fatal("pending call did not fail")
	}
}

func TestLocalExpiryWhenBlackholed(t *testing.T) {
	srv := startServer(t, 2)
	rec := newRecorder()
	c := connect(t, srv.ConnString(), rec.option(), zk.WithSessionTimeout(time.Second),
		zk.WithBackoff(fixedBackoff(10*time.Millisecond)))
	_, _, w, err := c.ExistsW(testCtx(t), "/x")
	require.NoError(t, err)
	srv.Blackhole(0, true)
	srv.Blackhole(1, true)
	cs := rec.waitState(t, zk.StateClosed)
	requireChain(t, cs)
	st := steps(cs)
	require.Equal(t, step{zk.StateConnecting, zk.EventDisconnected}, st[2], fmtChanges(cs))
	require.Equal(t, step{zk.StateClosed, zk.EventExpired}, st[len(st)-1], fmtChanges(cs))
	for _, s := range st[3 : len(st)-1] {
		require.Contains(t, []zk.State{zk.StateConnecting, zk.StateNotConnected}, s.to, fmtChanges(cs))
	}
	require.ErrorIs(t, cs[len(cs)-1].Err, zk.ErrSessionExpired)
	ev := awaitEvent(t, w)
	require.ErrorIs(t, ev.Err, zk.ErrSessionExpired)
	_, _, err = c.Get(testCtx(t), "/")
	require.ErrorIs(t, err, zk.ErrSessionExpired)
}

func TestRejectedCredentials(t *testing.T) {
	srv := startServer(t, 1)
	rec := newRecorder()
	c, err := zk.New(srv.ConnString(), rec.option(), zk.WithCredentials(zk.Credential{Scheme: "nosuchscheme", Auth: []byte("secret")}))
	require.NoError(t, err)
	defer c.Close()
	cs := rec.waitState(t, zk.StateAuthFailed)
	require.Equal(t, []step{
		{zk.StateConnecting, zk.EventNone},
		{zk.StateConnected, zk.EventSyncConnected},
		{zk.StateAuthFailed, zk.EventAuthFailed},
	}, steps(cs), fmtChanges(cs))
	_, _, err = c.Get(testCtx(t), "/")
	require.ErrorIs(t, err, zk.ErrAuthFailed)
	require.NoError(t, c.Close())
	require.Equal(t, zk.StateAuthFailed, c.State(), "AUTH_FAILED is terminal")
	require.NotContains(t, c.String(), "secret")
}

// credCheckServer is a scripted server that grants a session, accepts
// every credential, answers other requests with success, and hands the
// exists of Connect's credential check to onExists.
func credCheckServer(t *testing.T, onExists func(*hostileConn, hostileReq)) *hostileServer {
	return startHostile(t, func(_ int, hc *hostileConn) {
		req, err := hc.readConnect()
		if err != nil || hc.acceptSession(req) != nil {
			return
		}
		hc.serve()
		for {
			r, ok := hc.next(waitTime)
			if !ok {
				return
			}
			switch r.op {
			case proto.OpAuth:
				hc.write(replyFrame(proto.XidAuth, 0, 0))
			case proto.OpExists:
				onExists(hc, r)
			default:
				hc.write(replyFrame(r.xid, 1, 0))
			}
		}
	})
}

// TestConnectCredentialsAcceptedButChrootUnreadable: Connect with
// credentials checks them with an exists of the chroot. A server that
// accepted them but denies READ on the chroot (3.8.4+ and 3.9.2+ check READ
// for exists) answers that exists with ErrNoAuth: the credentials were
// answered, so Connect returns the handle, and asks once, not again and
// again until its context ends.
func TestConnectCredentialsAcceptedButChrootUnreadable(t *testing.T) {
	var exists atomic.Int32
	again := make(chan struct{})
	var againOnce sync.Once
	hs := credCheckServer(t, func(hc *hostileConn, r hostileReq) {
		if exists.Add(1) > 1 {
			againOnce.Do(func() { close(again) })
		}
		hc.write(replyFrame(r.xid, 1, proto.ErrNoAuth))
	})
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	go func() {
		select {
		case <-again: // Connect is asking again: stop it at once
			cancel()
		case <-ctx.Done():
		}
	}()
	c, err := zk.Connect(ctx, hs.addr()+"/app", zk.WithCredentials(zk.DigestCredential("user", "pw")))
	require.NoError(t, err, "Connect sent %d exists", exists.Load())
	defer c.Close()
	require.Equal(t, int32(1), exists.Load())
	require.Equal(t, zk.StateConnected, c.State())
}

func TestAddAuthRejected(t *testing.T) {
	srv := startServer(t, 1)
	rec := newRecorder()
	c := connect(t, srv.ConnString(), rec.option())
	err := c.AddAuth(testCtx(t), "nosuchscheme", []byte("x"))
	require.ErrorIs(t, err, zk.ErrAuthFailed)
	rec.waitState(t, zk.StateAuthFailed)
}

func TestAddAuthReplayedOnReconnect(t *testing.T) {
	srv := startServer(t, 2)
	rec := newRecorder()
	c := connect(t, srv.ConnString(), rec.option())
	ctx := testCtx(t)
	require.NoError(t, c.AddAuth(ctx, "digest", []byte("user:pw")))
	_, err := c.Create(ctx, "/secret", []byte("s"), zk.CreatePersistent, zk.DigestACL(zk.PermAll, "user", "pw"))
	require.NoError(t, err)
	srv.DropConnections()
	rec.waitLen(t, 4) // disconnected, connected again
	// After the reconnect the credential was sent again, so the node is
	// still readable.
	data, _, err := c.Get(ctx, "/secret")
	require.NoError(t, err)
	require.Equal(t, "s", string(data))
	// A handle without the credential is refused.
	other := connect(t, srv.ConnString())
	_, _, err = other.Get(ctx, "/secret")
	require.ErrorIs(t, err, zk.ErrNoAuth)
}

func TestSlowListenerDoesNotDelayRequests(t *testing.T) {
	srv := startServer(t, 1)
	release := make(chan struct{})
	var once sync.Once
	blocked := make(chan struct{})
	c := connect(t, srv.ConnString(), zk.WithStateListener(func(zk.StateChange) {
		once.Do(func() { close(blocked) })
		<-release // blocks the listener goroutine until the test is done
	}))
	<-blocked
	ctx := testCtx(t)
	for i := 0; i < 200; i++ {
		_, err := c.Create(ctx, "/n-", nil, zk.CreatePersistentSequential, zk.OpenACL)
		require.NoError(t, err)
	}
	kids, _, err := c.Children(ctx, "/")
	require.NoError(t, err)
	require.Len(t, kids, 201) // 200 plus "zookeeper"
	close(release)
}

func TestThousandsOfChangesInOrder(t *testing.T) {
	srv := startServer(t, 1)
	release := make(chan struct{})
	rec := newRecorder()
	var first sync.Once
	dialed := make(chan struct{}, 1)
	d := &net.Dialer{}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := d.DialContext(ctx, network, addr)
		select {
		case dialed <- struct{}{}:
		default:
		}
		return nc, err
	}
	c := connect(t, srv.ConnString(), zk.WithDialer(dial), zk.WithStateListener(func(ch zk.StateChange) {
		first.Do(func() { <-release }) // hold the first call: everything else queues
		rec.listen(ch)
	}))
	<-dialed // the first connection's
	const drops = 1000
	for i := 0; i < drops; i++ {
		srv.DropConnections()
		// Wait for the redial, then for the session to be back.
		select {
		case <-dialed:
		case <-time.After(waitTime):
			t.Fatalf("no redial after drop %d", i)
		}
		for st := c.State(); st != zk.StateConnected; st = c.State() {
			require.True(t, c.WaitForStateChange(testCtx(t), st))
		}
	}
	close(release)
	cs := rec.waitLen(t, 2+2*drops)
	requireChain(t, cs)
	require.Equal(t, zk.StateConnecting, cs[0].To)
	for i := 1; i < len(cs); i++ {
		want := zk.StateConnected
		if i%2 == 0 {
			want = zk.StateConnecting
		}
		require.Equal(t, want, cs[i].To, "change %d", i)
	}
}

func TestContextCancelKeepsSession(t *testing.T) {
	srv := startServer(t, 1)
	// A proxy that holds bytes (as a slow network does) rather than
	// dropping them: the abandoned request's reply still arrives later.
	px := faultproxy.Start(t, srv.Addr(0))
	c := connect(t, px.Addr(), zk.WithSessionTimeout(4*time.Second))
	id := c.SessionID()
	px.Blackhole(true)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Get(ctx, "/")
		errc <- err
	}()
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	px.Blackhole(false)
	// The late reply to the abandoned call is read and dropped; the next
	// call gets its own reply on the same connection and session.
	data, _, err := c.Get(testCtx(t), "/zookeeper/config")
	require.NoError(t, err)
	_ = data
	require.Equal(t, id, c.SessionID())
	require.Equal(t, zk.StateConnected, c.State())
}

func TestResumeSession(t *testing.T) {
	srv := startServer(t, 1)
	a := connect(t, srv.ConnString())
	_, err := a.Create(testCtx(t), "/mine", nil, zk.CreateEphemeral, zk.OpenACL)
	require.NoError(t, err)
	b := connect(t, srv.ConnString(), zk.WithSession(a.SessionID(), a.SessionPassword()))
	require.Equal(t, a.SessionID(), b.SessionID())

	bad := append([]byte(nil), a.SessionPassword()...)
	bad[0] ^= 0xff
	rec := newRecorder()
	_, err = zk.Connect(testCtx(t), srv.ConnString(), rec.option(), zk.WithSession(a.SessionID(), bad))
	require.ErrorIs(t, err, zk.ErrSessionExpired)
	cs := rec.waitState(t, zk.StateClosed)
	require.Equal(t, zk.EventExpired, cs[len(cs)-1].Event)
}

// fixedBackoff waits d between passes.
type fixedBackoff time.Duration

func (f fixedBackoff) NextBackOff() time.Duration { return time.Duration(f) }
func (f fixedBackoff) Reset()                     {}

var _ = testserver.WithListeners

// A server that closes the socket during the handshake (as a server whose
// zxid is behind the session's does) is skipped for the next one.
func TestHandshakeClosedServerSkipped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			nc.Close() // no ConnectResponse
		}
	}()
	defer func() { ln.Close(); wg.Wait() }()
	srv := startServer(t, 1)
	rec := newRecorder()
	// The closing server first: a custom order through UpdateServers is not
	// needed, since either order must end on the healthy server.
	c := connect(t, ln.Addr().String()+","+srv.Addr(0), rec.option())
	require.Equal(t, srv.Addr(0), c.Server())
	_, _, err = c.Get(testCtx(t), "/")
	require.NoError(t, err)
}

// Hostnames reach the dialer as names at every attempt, so a server that
// moved (a new address behind the same name) is found again.
func TestHostnamesResolvedPerAttempt(t *testing.T) {
	srv := startServer(t, 1)
	_, port, _ := net.SplitHostPort(srv.Addr(0))
	var mu sync.Mutex
	var addrs []string
	d := &net.Dialer{}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		addrs = append(addrs, addr)
		mu.Unlock()
		return d.DialContext(ctx, network, addr)
	}
	rec := newRecorder()
	c := connect(t, "localhost:"+port, zk.WithDialer(dial), rec.option())
	srv.DropConnections()
	rec.waitLen(t, 4)
	_, _, err := c.Get(testCtx(t), "/")
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"localhost:" + port, "localhost:" + port}, addrs)
}

// TestCallsGivenUpDuringAnOutageDoNotPileUp: calls made while no server
// answers wait in the queue; those whose contexts end must not stay there,
// each with its encoded request, until a server comes back.
func TestCallsGivenUpDuringAnOutageDoNotPileUp(t *testing.T) {
	srv := startServer(t, 1)
	rec := newRecorder()
	c := connect(t, srv.ConnString(), rec.option(), zk.WithSessionTimeout(30*time.Second),
		zk.WithBackoff(fixedBackoff(20*time.Millisecond)))
	srv.StopListener(0)
	rec.waitState(t, zk.StateNotConnected)

	const calls = 2000
	data := make([]byte, 4<<10)
	for range calls {
		ctx, cancel := context.WithTimeout(context.Background(), time.Microsecond)
		_, err := c.Set(ctx, "/n", data, -1)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	require.Less(t, c.Queued(), 100, "calls given up stay queued during the outage")

	// A call still waiting is kept, and goes out once a server is back.
	got := make(chan error, 1)
	go func() {
		_, err := c.Create(testCtx(t), "/after", nil, zk.CreatePersistent, zk.OpenACL)
		got <- err
	}()
	for range calls {
		ctx, cancel := context.WithTimeout(context.Background(), time.Microsecond)
		_, _, err := c.Get(ctx, "/n")
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	require.NoError(t, srv.StartListener(0))
	select {
	case err := <-got:
		require.NoError(t, err)
	case <-time.After(waitTime):
		t.Fatal("the waiting call never went out")
	}
	_, _, err := c.Get(testCtx(t), "/after")
	require.NoError(t, err)
}

// TestConnectGivesUpDuringCredentialCheck: a context that ends while the
// server has not yet answered the credentials ends Connect with its error;
// no handle is returned whose credentials nobody checked.
func TestConnectGivesUpDuringCredentialCheck(t *testing.T) {
	asked := make(chan struct{})
	var askedOnce sync.Once
	hs := credCheckServer(t, func(*hostileConn, hostileReq) {
		askedOnce.Do(func() { close(asked) }) // and no answer
	})
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	go func() {
		select {
		case <-asked:
			cancel()
		case <-ctx.Done():
		}
	}()
	c, err := zk.Connect(ctx, hs.addr(), zk.WithCredentials(zk.DigestCredential("user", "pw")))
	require.ErrorIs(t, err, context.Canceled)
	require.Nil(t, c)
}
