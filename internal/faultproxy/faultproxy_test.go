package faultproxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// ioWait bounds every blocking operation in the tests: reaching it is a
// failure, never a way of waiting for something.
const ioWait = 10 * time.Second

// quiet is how long a read must stay empty to count as "nothing arrived".
// It only ever makes a test pass more slowly, never flakily: held bytes
// cannot arrive however long we wait.
const quiet = 100 * time.Millisecond

// startEcho runs an echo server on 127.0.0.1 and returns its address. When
// a client ends its stream, the server closes the connection.
func startEcho(t testing.TB) string {
	t.Helper()
	ln := listen(t)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
				c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func listen(t testing.TB) *net.TCPListener {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln
}

// accept returns the next connection on ln, failing after ioWait.
func accept(t testing.TB, ln *net.TCPListener) *net.TCPConn {
	t.Helper()
	require.NoError(t, ln.SetDeadline(time.Now().Add(ioWait)))
	c, err := ln.AcceptTCP()
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioWait)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func waitConns(t testing.TB, p *Proxy, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ioWait)
	defer cancel()
	require.NoError(t, p.WaitConns(ctx, n))
}

func randBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// readN reads exactly n bytes from c, failing after ioWait.
func readN(t testing.TB, c net.Conn, n int) []byte {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(ioWait)))
	b := make([]byte, n)
	_, err := io.ReadFull(c, b)
	require.NoError(t, err)
	return b
}

// requireQuiet asserts that nothing arrives on c for the quiet period.
func requireQuiet(t testing.TB, c net.Conn) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(quiet)))
	n, err := c.Read(make([]byte, 1))
	require.Zero(t, n, "bytes passed a held direction")
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
}

// requireEnd asserts that the next read on c reports end of stream or a
// reset, not a timeout.
func requireEnd(t testing.TB, c net.Conn, allowReset bool) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(ioWait)))
	n, err := c.Read(make([]byte, 1))
	require.Zero(t, n)
	if allowReset && errors.Is(err, syscall.ECONNRESET) {
		return
	}
	require.ErrorIs(t, err, io.EOF)
}

func roundTrip(t testing.TB, c net.Conn, msg []byte) {
	t.Helper()
	require.NoError(t, c.SetWriteDeadline(time.Now().Add(ioWait)))
	_, err := c.Write(msg)
	require.NoError(t, err)
	require.Equal(t, msg, readN(t, c, len(msg)))
}

// pair returns a client connected through p and the server side of that
// connection, for a proxy whose target is ln.
func pair(t testing.TB, p *Proxy, ln *net.TCPListener) (client, server *net.TCPConn) {
	t.Helper()
	client = dial(t, p.Addr())
	server = accept(t, ln)
	return client, server
}

func TestPassThrough(t *testing.T) {
	p := Start(t, startEcho(t))
	c := dial(t, p.Addr())
	payload := randBytes(t, 1<<20)

	writeErr := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		if err == nil {
			err = c.CloseWrite()
		}
		writeErr <- err
	}()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(ioWait)))
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	require.NoError(t, <-writeErr)
	require.True(t, bytes.Equal(payload, got), "echoed payload differs")

	// Both ends have closed, so the connection goes away once both writers
	// have finished, and with them the counters.
	waitConns(t, p, 0)
	require.EqualValues(t, len(payload), p.BytesForwarded(ClientToServer))
	require.EqualValues(t, len(payload), p.BytesForwarded(ServerToClient))
}

func TestConnsAndWaitConns(t *testing.T) {
	p := Start(t, startEcho(t))
	require.Zero(t, p.Conns())

	var clients []net.Conn
	for range 5 {
		clients = append(clients, dial(t, p.Addr()))
	}
	waitConns(t, p, 5)
	require.Equal(t, 5, p.Conns())
	for _, c := range clients {
		roundTrip(t, c, []byte("x"))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, p.WaitConns(ctx, 6), context.DeadlineExceeded)

	for _, c := range clients[:3] {
		c.Close()
	}
	waitConns(t, p, 2)
	for _, c := range clients[3:] {
		c.Close()
	}
	waitConns(t, p, 0)

	require.Error(t, p.WaitConns(context.Background(), -1))
}

func TestLatency(t *testing.T) {
	const d = 50 * time.Millisecond
	p := Start(t, startEcho(t))
	c := dial(t, p.Addr())
	roundTrip(t, c, []byte("warm-up"))

	p.SetLatency(d)
	for i := range 3 {
		start := time.Now()
		roundTrip(t, c, []byte{byte(i)})
		// Each direction holds the byte for d, so a round trip takes at
		// least 2d. No upper bound: a slow machine only makes it longer.
		require.GreaterOrEqual(t, time.Since(start), 2*d)
	}

	// Order is preserved across many small writes under latency.
	var want []byte
	for i := range 50 {
		msg := []byte{byte(i), byte(i + 1)}
		want = append(want, msg...)
		_, err := c.Write(msg)
		require.NoError(t, err)
	}
	require.Equal(t, want, readN(t, c, len(want)))
}

func TestLatencyChangeAppliesToQueuedBytes(t *testing.T) {
	p := Start(t, startEcho(t))
	c := dial(t, p.Addr())
	roundTrip(t, c, []byte("warm-up"))

	p.SetLatency(time.Hour)
	_, err := c.Write([]byte("late"))
	require.NoError(t, err)
	requireQuiet(t, c)
	p.SetLatency(0)
	require.Equal(t, []byte("late"), readN(t, c, 4))
}

func TestBlackholeHoldsThenDeliversInOrder(t *testing.T) {
	ln := listen(t)
	p := Start(t, ln.Addr().String())
	client, server := pair(t, p, ln)
	waitConns(t, p, 1)

	p.Blackhole(true)
	var toServer, toClient []byte
	for range 3 {
		a, b := randBytes(t, 10_000), randBytes(t, 10_000)
		toServer, toClient = append(toServer, a...), append(toClient, b...)
		_, err := client.Write(a)
		require.NoError(t, err)
		_, err = server.Write(b)
		require.NoError(t, err)
	}
	// Neither an end of stream passes.
	require.NoError(t, client.CloseWrite())

	requireQuiet(t, server)
	requireQuiet(t, client)
	require.Equal(t, 1, p.Conns(), "connection must stay open")

	p.Blackhole(false)
	require.Equal(t, toServer, readN(t, server, len(toServer)))
	require.Equal(t, toClient, readN(t, client, len(toClient)))
	requireEnd(t, server, false)
}

func TestBlackholeBoundsMemory(t *testing.T) {
	p := Start(t, startEcho(t))
	c := dial(t, p.Addr())
	waitConns(t, p, 1)
	p.Blackhole(true)

	// Far more than the proxy's limit plus both sockets' buffers: the write
	// must block, which the deadline turns into an error.
	payload := make([]byte, 64<<20)
	for i := range payload {
		payload[i] = byte(i % 251)
	}
	require.NoError(t, c.SetWriteDeadline(time.Now().Add(time.Second)))
	n, err := c.Write(payload)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.Less(t, n, len(payload))
	// Whatever the timing, the proxy never holds more than its limit.
	require.LessOrEqual(t, p.queuedBytes(ClientToServer), maxQueued+readBufSize)
	require.Zero(t, p.BytesForwarded(ClientToServer))

	// Everything the client managed to write arrives, in order, once released.
	p.Blackhole(false)
	require.True(t, bytes.Equal(payload[:n], readN(t, c, n)), "echoed bytes differ")
}

func TestPauseOneDirection(t *testing.T) {
	for _, dir := range []Direction{ClientToServer, ServerToClient} {
		t.Run(dir.String(), func(t *testing.T) {
			ln := listen(t)
			p := Start(t, ln.Addr().String())
			client, server := pair(t, p, ln)
			waitConns(t, p, 1)

			p.Pause(dir, true)
			_, err := client.Write([]byte("ping"))
			require.NoError(t, err)
			_, err = server.Write([]byte("pong"))
			require.NoError(t, err)

			held, open := server, client
			heldMsg, openMsg := "ping", "pong"
			if dir == ServerToClient {
				held, open = client, server
				heldMsg, openMsg = "pong", "ping"
			}
			require.Equal(t, []byte(openMsg), readN(t, open, 4))
			requireQuiet(t, held)

			p.Pause(dir, false)
			require.Equal(t, []byte(heldMsg), readN(t, held, 4))
		})
	}
}

func TestPauseAndBlackholeAreIndependent(t *testing.T) {
	p := Start(t, startEcho(t))
	c := dial(t, p.Addr())
	waitConns(t, p, 1)

	p.Pause(ServerToClient, true)
	p.Blackhole(true)
	_, err := c.Write([]byte("a"))
	require.NoError(t, err)
	p.Blackhole(false) // still paused
	requireQuiet(t, c)
	p.Pause(ServerToClient, false)
	require.Equal(t, []byte("a"), readN(t, c, 1))
}

func TestResetAll(t *testing.T) {
	ln := listen(t)
	p := Start(t, ln.Addr().String())
	client, server := pair(t, p, ln)
	waitConns(t, p, 1)
	_, err := client.Write([]byte("x"))
	require.NoError(t, err)
	require.Equal(t, []byte("x"), readN(t, server, 1))

	p.ResetAll()
	require.NoError(t, client.SetReadDeadline(time.Now().Add(ioWait)))
	_, err = client.Read(make([]byte, 1))
	require.ErrorIs(t, err, syscall.ECONNRESET)
	require.NoError(t, server.SetReadDeadline(time.Now().Add(ioWait)))
	_, err = server.Read(make([]byte, 1))
	require.ErrorIs(t, err, syscall.ECONNRESET)
	waitConns(t, p, 0)

	// The proxy itself keeps working.
	client2, server2 := pair(t, p, ln)
	_, err = client2.Write([]byte("y"))
	require.NoError(t, err)
	require.Equal(t, []byte("y"), readN(t, server2, 1))
}

func TestPeerResetIsPropagated(t *testing.T) {
	ln := listen(t)
	p := Start(t, ln.Addr().String())
	client, server := pair(t, p, ln)
	waitConns(t, p, 1)
	_, err := client.Write([]byte("before reset"))
	require.NoError(t, err)

	require.NoError(t, client.SetLinger(0))
	require.NoError(t, client.Close())
	// Bytes read before the reset are delivered first, then the reset.
	require.Equal(t, []byte("before reset"), readN(t, server, 12))
	require.NoError(t, server.SetReadDeadline(time.Now().Add(ioWait)))
	_, err = server.Read(make([]byte, 1))
	require.ErrorIs(t, err, syscall.ECONNRESET)
	waitConns(t, p, 0)
}

func TestHalfClose(t *testing.T) {
	for _, dir := range []Direction{ServerToClient, ClientToServer} {
		t.Run(dir.String(), func(t *testing.T) {
			ln := listen(t)
			p := Start(t, ln.Addr().String())
			client, server := pair(t, p, ln)
			waitConns(t, p, 1)

			p.HalfClose(dir)
			closed, open := client, server // closed sees EOF; open still reaches it
			if dir == ClientToServer {
				closed, open = server, client
			}
			requireEnd(t, closed, false)
			for _, msg := range []string{"still", "open"} {
				_, err := closed.Write([]byte(msg))
				require.NoError(t, err)
				require.Equal(t, []byte(msg), readN(t, open, len(msg)))
			}
			require.Equal(t, 1, p.Conns())

			// Once the other direction ends too, the connection goes away.
			require.NoError(t, closed.CloseWrite())
			requireEnd(t, open, false)
			waitConns(t, p, 0)
		})
	}
}

func TestSplitWrites(t *testing.T) {
	p := Start(t, startEcho(t))

	transfer := func(n int) (c2s, s2c int64) {
		c2s0, s2c0 := p.writeCount(ClientToServer), p.writeCount(ServerToClient)
		c := dial(t, p.Addr())
		payload := randBytes(t, n)
		_, err := c.Write(payload)
		require.NoError(t, err)
		require.NoError(t, c.CloseWrite())
		require.NoError(t, c.SetReadDeadline(time.Now().Add(ioWait)))
		got, err := io.ReadAll(c)
		require.NoError(t, err)
		require.Equal(t, payload, got)
		waitConns(t, p, 0) // the writers have finished counting
		return p.writeCount(ClientToServer) - c2s0, p.writeCount(ServerToClient) - s2c0
	}

	const n = 4096
	p.SplitWrites(true)
	c2s, s2c := transfer(n)
	require.EqualValues(t, n, c2s)
	require.EqualValues(t, n, s2c)

	p.SplitWrites(false)
	c2s, s2c = transfer(n)
	require.Less(t, c2s, int64(n))
	require.Less(t, s2c, int64(n))
}

func TestSplitWritesDeliversHeldChunk(t *testing.T) {
	ln := listen(t)
	p := Start(t, ln.Addr().String())
	p.SplitWrites(true)
	p.Blackhole(true) // queue the whole message first, so it is one chunk
	client, server := pair(t, p, ln)
	waitConns(t, p, 1)
	_, err := client.Write([]byte("abcdef"))
	require.NoError(t, err)
	requireQuiet(t, server)
	p.Blackhole(false)
	require.Equal(t, []byte("abcdef"), readN(t, server, 6))
}

func TestRefuseNew(t *testing.T) {
	p := Start(t, startEcho(t))
	old := dial(t, p.Addr())
	waitConns(t, p, 1)

	p.RefuseNew(true)
	c := dial(t, p.Addr())
	requireEnd(t, c, true)
	roundTrip(t, old, []byte("old connection unaffected"))
	require.Equal(t, 1, p.Conns())

	p.RefuseNew(false)
	roundTrip(t, dial(t, p.Addr()), []byte("accepted again"))
}

func TestSetTarget(t *testing.T) {
	lnA, lnB := listen(t), listen(t)
	p := Start(t, lnA.Addr().String())
	clientA, serverA := pair(t, p, lnA)

	p.SetTarget(lnB.Addr().String())
	clientB, serverB := pair(t, p, lnB)
	waitConns(t, p, 2)

	_, err := clientA.Write([]byte("a"))
	require.NoError(t, err)
	_, err = clientB.Write([]byte("b"))
	require.NoError(t, err)
	require.Equal(t, []byte("a"), readN(t, serverA, 1))
	require.Equal(t, []byte("b"), readN(t, serverB, 1))
}

func TestDialFailureClosesClient(t *testing.T) {
	ln := listen(t)
	target := ln.Addr().String()
	ln.Close() // nothing listens there now
	p := Start(t, target)
	requireEnd(t, dial(t, p.Addr()), true)
	require.Zero(t, p.Conns())
}

func TestNewRejectsBadTarget(t *testing.T) {
	_, err := New("no-port")
	require.ErrorContains(t, err, "faultproxy: ")
}

func TestCloseWhileBlocked(t *testing.T) {
	echo := startEcho(t)
	ignore := goleak.IgnoreCurrent()
	p, err := New(echo)
	require.NoError(t, err)

	p.SetLatency(time.Hour)
	p.Pause(ClientToServer, true)
	p.Blackhole(true)
	writer, reader := dial(t, p.Addr()), dial(t, p.Addr())
	waitConns(t, p, 2)
	// A third connection with a queued chunk whose delivery is an hour away.
	p.Blackhole(false)
	p.Pause(ClientToServer, false)
	delayed := dial(t, p.Addr())
	waitConns(t, p, 3)
	_, err = delayed.Write([]byte("never"))
	require.NoError(t, err)
	p.Blackhole(true)

	// The writer fills the proxy's queue and blocks; the reader blocks.
	clientErrs := make(chan error, 2)
	go func() {
		_, err := writer.Write(make([]byte, 64<<20))
		clientErrs <- err
	}()
	go func() {
		_, err := reader.Read(make([]byte, 1))
		clientErrs <- err
	}()
	requireQuiet(t, delayed)

	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(ioWait):
		t.Fatal("Close did not return")
	}
	require.Zero(t, p.Conns())
	for range 2 {
		select {
		case err := <-clientErrs:
			require.Error(t, err)
		case <-time.After(ioWait):
			t.Fatal("client still blocked after Close")
		}
	}
	requireEnd(t, delayed, true)

	// Close returned after its goroutines exited; what may still be winding
	// down are the echo server's handlers, which goleak waits for.
	goleak.VerifyNone(t, ignore)

	// Idempotent, and WaitConns knows the proxy is gone.
	require.NoError(t, p.Close())
	require.ErrorIs(t, p.WaitConns(context.Background(), 1), errClosed)
	require.NoError(t, p.WaitConns(context.Background(), 0))
}

func TestDirectionString(t *testing.T) {
	require.Equal(t, "ClientToServer", ClientToServer.String())
	require.Equal(t, "ServerToClient", ServerToClient.String())
	require.Equal(t, "Direction(7)", Direction(7).String())
	require.Panics(t, func() { (&Proxy{}).Pause(Direction(7), true) })
}
