// Package faultproxy is a fault-injecting TCP proxy for tests.
//
// A [Proxy] listens on 127.0.0.1 and forwards every accepted connection to a
// target address. Tests put it between a client and a server and then inject
// faults: latency, a blackhole, a pause of one direction, resets, half-closes,
// 1-byte writes and refused connections. Faults that are switched on and off
// (SetLatency, Blackhole, Pause, SplitWrites, RefuseNew) apply to existing and
// new connections alike; actions (ResetAll, HalfClose) apply to the
// connections that exist when they are called.
//
// Each proxied connection has, per direction, a reader goroutine that reads
// from the source into a queue of timestamped chunks and a writer goroutine
// that delivers the queue to the destination, in order, applying the faults.
// A queue holds at most about 4 MiB; beyond that the reader stops reading,
// which pushes back on the sender the way a full TCP window does.
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Direction names one direction of a proxied connection.
type Direction int

const (
	// ClientToServer is the direction from the client that connected to the
	// proxy towards the target.
	ClientToServer Direction = iota
	// ServerToClient is the direction from the target back to the client.
	ServerToClient
)

// String returns the constant's name, or Direction(n) for unknown values.
func (d Direction) String() string {
	switch d {
	case ClientToServer:
		return "ClientToServer"
	case ServerToClient:
		return "ServerToClient"
	default:
		return fmt.Sprintf("Direction(%d)", int(d))
	}
}

func (d Direction) check() {
	if d != ClientToServer && d != ServerToClient {
		panic("faultproxy: invalid " + d.String())
	}
}

const (
	// maxQueued is the number of bytes a direction of a connection buffers
	// before its reader stops reading from the source.
	maxQueued = 4 << 20
	// readBufSize is the size of one read; a queue can exceed maxQueued by
	// less than this.
	readBufSize = 32 << 10
)

// errClosed is returned by WaitConns when the proxy is closed.
var errClosed = errors.New("faultproxy: proxy closed")

// Proxy is a fault-injecting TCP proxy. Its methods are safe for concurrent
// use. Create one with [New] or [Start] and release it with [Proxy.Close].
type Proxy struct {
	ln     net.Listener
	ctx    context.Context // cancelled by Close; bounds dials to the target
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the Proxy started

	closeOnce sync.Once
	closeErr  error // set inside closeOnce

	// Counters, updated atomically without mu.
	bytes  [2]atomic.Int64 // bytes written to the destination, per Direction
	writes [2]atomic.Int64 // Write calls on the destination, per Direction

	// mu guards the fields below and, in every conn and pipe, the fields
	// marked "guarded by p.mu".
	mu           sync.Mutex
	target       string
	latency      time.Duration
	blackhole    bool
	paused       [2]bool
	split        bool
	refuse       bool
	closed       bool
	conns        map[*conn]struct{}
	connsChanged chan struct{} // closed and replaced whenever conns changes
}

// New returns a Proxy listening on 127.0.0.1 on a free port that forwards
// every accepted connection to target, a "host:port" address. The target is
// dialled once per accepted connection; if that dial fails, the client's
// connection is closed.
func New(target string) (*Proxy, error) {
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("faultproxy: target %q: %w", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		ln:           ln,
		ctx:          ctx,
		cancel:       cancel,
		target:       target,
		conns:        make(map[*conn]struct{}),
		connsChanged: make(chan struct{}),
	}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Start is [New] for tests: it calls t.Fatal if New fails and registers
// Close with t.Cleanup.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// Addr returns the address clients connect to, as "127.0.0.1:port".
func (p *Proxy) Addr() string {
	return p.ln.Addr().String()
}

// Close stops the listener, closes every proxied connection on both sides
// and returns once every goroutine of the Proxy has exited. Bytes still held
// or delayed are discarded. Close is idempotent: later calls wait the same way
// and return the same result.
func (p *Proxy) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		conns := p.connListLocked()
		p.connsChangedLocked() // wake WaitConns so it sees closed
		p.mu.Unlock()

		p.cancel()
		if err := p.ln.Close(); err != nil {
			p.closeErr = fmt.Errorf("faultproxy: close listener: %w", err)
		}
		for _, c := range conns {
			c.teardown(false)
		}
	})
	p.wg.Wait()
	return p.closeErr
}

// SetTarget changes the address that connections accepted from now on are
// forwarded to. Existing connections keep their server.
func (p *Proxy) SetTarget(addr string) {
	p.mu.Lock()
	p.target = addr
	p.mu.Unlock()
}

// SetLatency delays every chunk of bytes, in both directions, until d after
// the proxy read it. Order is preserved. The new value applies at once to
// bytes already queued: lowering it releases them earlier. Zero or a negative
// d turns latency off.
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency = max(d, 0)
	p.wakeWritersLocked()
}

// Blackhole freezes every connection, like a stopped server process: while on,
// connections stay open and the proxy keeps reading (up to its per-connection
// limit, then the senders block), but nothing is delivered in either direction,
// not even an end of stream. When turned off, the held bytes are delivered in
// order, subject to latency. New connections are still accepted and forwarded
// while on.
func (p *Proxy) Blackhole(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blackhole = on
	p.wakeWritersLocked()
}

// Pause holds one direction of every connection with the semantics of
// [Proxy.Blackhole]; the other direction keeps flowing. Pause and Blackhole
// are independent: bytes flow in a direction only when neither holds it.
func (p *Proxy) Pause(dir Direction, on bool) {
	dir.check()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused[dir] = on
	p.wakeWritersLocked()
}

// ResetAll aborts every current connection on both sides: it sets SO_LINGER
// to 0 and closes, so the client and the server each see a connection reset.
// Held bytes are discarded. New connections are unaffected.
func (p *Proxy) ResetAll() {
	p.mu.Lock()
	conns := p.connListLocked()
	p.mu.Unlock()
	for _, c := range conns {
		c.teardown(true)
	}
}

// HalfClose shuts down dir of every current connection: the receiving end
// sees end of stream (the proxy calls CloseWrite on it), while the other
// direction stays open. Bytes held for dir are discarded, and bytes the sender
// writes afterwards are read and discarded. New connections are unaffected.
func (p *Proxy) HalfClose(dir Direction) {
	dir.check()
	p.mu.Lock()
	var dsts []net.Conn
	for c := range p.conns {
		pp := c.pipes[dir]
		if pp.shut || pp.writerDone {
			continue
		}
		pp.shutLocked()
		dsts = append(dsts, pp.dst)
	}
	p.mu.Unlock()
	for _, dst := range dsts {
		closeWrite(dst)
	}
}

// SplitWrites makes the proxy deliver every byte in a write of its own, in
// both directions, so that receivers see data arrive one byte at a time.
func (p *Proxy) SplitWrites(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.split = on
	p.wakeWritersLocked()
}

// RefuseNew makes the proxy accept and immediately close new connections
// (without dialling the target); the client sees end of stream. Existing
// connections are unaffected.
func (p *Proxy) RefuseNew(on bool) {
	p.mu.Lock()
	p.refuse = on
	p.mu.Unlock()
}

// Conns returns the number of live proxied connections: accepted, connected
// to the target, and not yet closed on both sides.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// BytesForwarded returns the number of bytes delivered in dir, summed over
// all connections since the proxy started.
func (p *Proxy) BytesForwarded(dir Direction) int64 {
	dir.check()
	return p.bytes[dir].Load()
}

// WaitConns waits until exactly n connections are live (see [Proxy.Conns]).
// It returns an error wrapping ctx.Err() if ctx ends first, and an error if
// the proxy is closed while n > 0.
func (p *Proxy) WaitConns(ctx context.Context, n int) error {
	if n < 0 {
		return fmt.Errorf("faultproxy: WaitConns: negative count %d", n)
	}
	for {
		p.mu.Lock()
		have, closed, changed := len(p.conns), p.closed, p.connsChanged
		p.mu.Unlock()
		if have == n {
			return nil
		}
		if closed && n > 0 {
			return fmt.Errorf("faultproxy: WaitConns(%d): %w", n, errClosed)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("faultproxy: WaitConns(%d): %d live: %w", n, have, ctx.Err())
		}
	}
}

// queuedBytes returns the bytes currently queued in dir over all
// connections. For tests.
func (p *Proxy) queuedBytes(dir Direction) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	total := 0
	for c := range p.conns {
		total += c.pipes[dir].queued
	}
	return total
}

// writeCount returns the number of Write calls made on destinations in dir.
// For tests.
func (p *Proxy) writeCount(dir Direction) int64 {
	return p.writes[dir].Load()
}

func (p *Proxy) connListLocked() []*conn {
	conns := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	return conns
}

func (p *Proxy) connsChangedLocked() {
	close(p.connsChanged)
	p.connsChanged = make(chan struct{})
}

// wakeWritersLocked makes every writer re-examine the fault settings.
func (p *Proxy) wakeWritersLocked() {
	for c := range p.conns {
		for _, pp := range c.pipes {
			notify(pp.wake)
		}
	}
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	var backoff time.Duration
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		cc, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient failure such as EMFILE: back off as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			timer.Reset(backoff)
			select {
			case <-timer.C:
			case <-p.ctx.Done():
				return
			}
			continue
		}
		backoff = 0

		p.mu.Lock()
		if p.closed || p.refuse {
			p.mu.Unlock()
			cc.Close()
			continue
		}
		target := p.target
		// The accept loop holds a count, so Add cannot race with Wait
		// reaching zero.
		p.wg.Add(1)
		p.mu.Unlock()
		go p.dial(cc, target)
	}
}

// dial connects to target on behalf of the accepted client connection cc and
// starts forwarding.
func (p *Proxy) dial(cc net.Conn, target string) {
	defer p.wg.Done()
	var d net.Dialer
	sc, err := d.DialContext(p.ctx, "tcp", target)
	if err != nil {
		cc.Close()
		return
	}
	c := newConn(p, cc, sc)

	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		cc.Close()
		sc.Close()
		return
	}
	p.conns[c] = struct{}{}
	p.connsChangedLocked()
	p.wg.Add(4)
	p.mu.Unlock()

	for _, pp := range c.pipes {
		go pp.readLoop()
		go pp.writeLoop()
	}
}

// notify does a non-blocking send on a channel with capacity 1.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}
