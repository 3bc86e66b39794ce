package zk_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/proto"
	"github.com/zkgo/zk/internal/testserver"
)

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "zk test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	srv := startServer(t, 1, testserver.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}}))
	c := connect(t, srv.ConnString(), zk.WithTLS(&tls.Config{RootCAs: pool}))
	_, err := c.Create(testCtx(t), "/tls", []byte("x"), zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	data, _, err := c.Get(testCtx(t), "/tls")
	require.NoError(t, err)
	require.Equal(t, "x", string(data))

	// The server is verified: a client that does not trust it never gets a
	// session. Connect keeps trying (a server's certificate can be
	// replaced); once a pass over the servers has failed, the caller gives
	// up, and the error says why the attempts failed.
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	_, err = zk.Connect(ctx, srv.ConnString(), zk.WithTLS(&tls.Config{}),
		zk.WithStateListener(func(sc zk.StateChange) {
			if sc.To == zk.StateNotConnected && sc.Err != nil {
				cancel()
			}
		}))
	require.ErrorIs(t, err, context.Canceled, "the caller gave up, not the deadline")
	require.ErrorContains(t, err, "certificate")
}

func TestUpdateServers(t *testing.T) {
	srv := startServer(t, 3)
	rec := newRecorder()
	c := connect(t, srv.Addr(0)+","+srv.Addr(1), rec.option())
	mine := listenerOf(t, srv, c)
	id := c.SessionID()

	// The current server stays listed and nothing was added: nothing moves.
	require.NoError(t, c.UpdateServers(srv.Addr(mine)))
	_, _, err := c.Get(testCtx(t), "/")
	require.NoError(t, err)
	require.Len(t, rec.waitLen(t, 2), 2) // the connect's changes may reach the listener after Connect returns

	// The current server is dropped: the session moves to the new list.
	require.NoError(t, c.UpdateServers(srv.Addr(2)))
	cs := rec.waitLen(t, 4)
	require.Equal(t, zk.EventDisconnected, cs[2].Event)
	require.ErrorContains(t, cs[2].Err, "removed from the server list")
	rec.waitState(t, zk.StateConnected)
	require.Equal(t, srv.Addr(2), c.Server())
	require.Equal(t, id, c.SessionID())

	require.ErrorIs(t, c.UpdateServers("a,,b"), zk.ErrBadConnString)
	require.ErrorIs(t, c.UpdateServers(srv.Addr(2)+"/other"), zk.ErrBadConnString)
}

// When servers are added, sessions spread over them: each handle moves to an
// added server with probability added/listed (here 2/3), keeping its
// session; the others stay without a state change. The handles' random
// choices are seeded, so the split is the same on every run.
func TestUpdateServersSpreadsSessionsOverAddedServers(t *testing.T) {
	srv := startServer(t, 3)
	const n = 24
	all := srv.Addr(0) + "," + srv.Addr(1) + "," + srv.Addr(2)
	moved := map[string]int{}
	for i := range n {
		rec := newRecorder()
		c := connect(t, srv.Addr(0), rec.option(), zk.WithRandSeed(uint64(i)))
		id := c.SessionID()
		to, err := c.UpdateServersMove(all)
		require.NoError(t, err)
		if to == "" {
			// It stays: no state change, same server, calls go on.
			_, _, err := c.Get(testCtx(t), "/")
			require.NoError(t, err)
			// The connect's two changes reach the listener on its own
			// goroutine, possibly after Connect returned: wait for them.
			cs := rec.waitLen(t, 2)
			require.Len(t, cs, 2, "a session that stays is not disturbed: %s", fmtChanges(cs))
			require.Equal(t, zk.StateConnected, c.State())
			require.Equal(t, srv.Addr(0), c.Server())
			continue
		}
		require.Contains(t, []string{srv.Addr(1), srv.Addr(2)}, to)
		cs := rec.waitLen(t, 4)
		require.Equal(t, zk.EventDisconnected, cs[2].Event)
		require.ErrorContains(t, cs[2].Err, "added to the server list")
		require.Equal(t, zk.StateConnected, cs[3].To)
		require.Equal(t, to, cs[3].Server, "it moves to the server chosen")
		require.Equal(t, id, c.SessionID(), "the same session")
		moved[to]++
	}
	total := moved[srv.Addr(1)] + moved[srv.Addr(2)]
	t.Logf("%d of %d handles moved: %v", total, n, moved)
	require.Greater(t, total, 0, "some sessions move")
	require.Less(t, total, n, "some sessions stay")
	require.Len(t, moved, 2, "moves go to both added servers")
}

// TestReadOnlyProbeDoesNotDelayLinkLoss: on a read-only server the handle
// probes the others with isro. A server that takes the probe's connection
// but does not answer (a paused process: the kernel still accepts) must not
// hold the handle when its link is lost: the probe stops at once, it does
// not wait out its own timeout (the connect timeout, T/n).
func TestReadOnlyProbeDoesNotDelayLinkLoss(t *testing.T) {
	probed := make(chan struct{})
	var probedOnce sync.Once
	mute := startHostile(t, func(_ int, hc *hostileConn) {
		var b [4]byte
		hc.nc.SetReadDeadline(time.Now().Add(waitTime))
		if _, err := io.ReadFull(hc.nc, b[:]); err != nil || string(b[:]) != "isro" {
			return // a session handshake: refused (closed)
		}
		probedOnce.Do(func() { close(probed) })
		hc.nc.Read(b[:]) // no answer; returns when the prober closes
	})
	drop := make(chan struct{})
	ro := startHostile(t, func(n int, hc *hostileConn) {
		req, err := hc.readConnect()
		if err != nil || n > 1 {
			return
		}
		resp := proto.ConnectResponse{TimeOut: req.TimeOut, SessionID: 0x0badc0de, Passwd: make([]byte, proto.PasswordLen), ReadOnly: true}
		if hc.write(proto.AppendFrame(nil, &resp)) != nil {
			return
		}
		hc.serve()
		select {
		case <-drop:
		case <-hc.done:
		}
		hc.nc.Close()
	})
	rec := newRecorder()
	// T/n = 20 s: the probe's read would wait that long; the test waits 5 s.
	c, err := zk.New(ro.addr()+","+mute.addr(), rec.option(), zk.WithReadOnly(true), zk.WithSessionTimeout(40*time.Second))
	require.NoError(t, err)
	defer c.Close()
	rec.waitState(t, zk.StateConnectedReadOnly)
	select {
	case <-probed:
	case <-time.After(waitTime):
		t.Fatal("the handle never probed the other server")
	}
	n := len(rec.snapshot())
	close(drop)
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for c.State() == zk.StateConnectedReadOnly {
		select {
		case <-rec.signal:
		case <-deadline.C:
			t.Fatalf("the lost link was not reported while the probe waited for its answer; state changes: %s", fmtChanges(rec.snapshot()[n:]))
		}
	}
}

// TestUpdateServersAbandonsAttemptOnRemovedServer: the handle's only server
// stops answering (a blackholed address: the dial hangs until its timeout,
// T/n, here the whole session timeout); the application gives the handle a
// new server list without it. The attempt in progress on the removed server
// is abandoned at once and the session moves to the new list, as the Java
// client's updateServerList closes its connecting socket. Before, the
// handle went on dialing the removed server until the connect timeout (or
// local expiry, which came first and killed the session).
func TestUpdateServersAbandonsAttemptOnRemovedServer(t *testing.T) {
	srv := startServer(t, 2)
	old := srv.Addr(0)
	var blackholed sync.Map // address -> struct{}
	dialing := make(chan string, 16)
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if _, ok := blackholed.Load(addr); ok {
			select {
			case dialing <- addr:
			default:
			}
			<-ctx.Done() // no SYN-ACK ever comes
			return nil, ctx.Err()
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	rec := newRecorder()
	c := connect(t, old, rec.option(), zk.WithDialer(dial), zk.WithSessionTimeout(time.Minute))
	id := c.SessionID()

	blackholed.Store(old, struct{}{})
	srv.DropConnections()
	select {
	case a := <-dialing:
		require.Equal(t, old, a)
	case <-time.After(waitTime):
		t.Fatal("the handle did not redial its server")
	}
	require.NoError(t, c.UpdateServers(srv.Addr(1)))
	rec.waitUntil(t, "connected to the new server", func(cs []zk.StateChange) bool {
		n := len(cs)
		return n > 0 && cs[n-1].To == zk.StateConnected && cs[n-1].Server == srv.Addr(1)
	})
	require.Equal(t, id, c.SessionID(), "the same session")
	_, _, err := c.Get(testCtx(t), "/")
	require.NoError(t, err)
}

// TestUpdateServersEndsBackoff: after a full pass over the servers failed,
// the handle waits (WithBackoff) before the next pass. A new server list
// given meanwhile is tried at once, not after the wait: it is what the
// application knows of where the ensemble is now.
func TestUpdateServersEndsBackoff(t *testing.T) {
	srv := startServer(t, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	ln.Close() // refuses connections from now on
	rec := newRecorder()
	c, err := zk.New(dead, rec.option(), zk.WithBackoff(backoff.NewConstantBackOff(time.Hour)))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	rec.waitState(t, zk.StateNotConnected) // the pass failed: backing off
	require.NoError(t, c.UpdateServers(srv.Addr(0)))
	rec.waitState(t, zk.StateConnected)
	require.Equal(t, srv.Addr(0), c.Server())
}
