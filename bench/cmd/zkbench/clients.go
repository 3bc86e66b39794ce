package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gozk "github.com/go-zookeeper/zk"
	"github.com/zkgo/zk"
)

// client is what the load loops drive; one implementation per library. The
// methods used in measured loops take no context argument and allocate
// nothing themselves, so every allocation counted is the library's.
type client interface {
	name() string
	get(path string) ([]byte, error)
	create(path string, data []byte) error
	del(path string) error
	// getTimeout is get bounded by d; a call given up on that later
	// succeeds still reports its success time through late.
	getTimeout(path string, d time.Duration, late func(time.Time)) error
	// watch sets a one-shot exist watch on path (which must not exist)
	// and keeps its channel under index i; fired waits for it.
	watch(i int, path string) error
	fired(i int, d time.Duration) bool
	server() string
	close()
	counters() *ioCounters
}

// ioCounters counts the Read and Write calls on a client's connections: each
// is one system call on a TCP connection (a Write of a large buffer to a
// full socket may take more, which does not happen with these sizes).
type ioCounters struct {
	writes, reads atomic.Int64
}

// dialGate wraps every connection a client dials in a counting conn, and can
// pin the client to one address (refusing the others) and attach a sniffer
// to new connections.
type dialGate struct {
	ctr   *ioCounters
	pin   atomic.Pointer[string]
	sniff atomic.Pointer[sniffer]
	trace atomic.Pointer[func(string)] // -v: log dials during failover
	d     net.Dialer
}

var errPinned = errors.New("zkbench: dial refused: pinned to another member")

func (g *dialGate) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if p := g.pin.Load(); p != nil && *p != addr {
		return nil, errPinned
	}
	nc, err := g.d.DialContext(ctx, network, addr)
	if t := g.trace.Load(); t != nil {
		(*t)(fmt.Sprintf("dial %s: %v", addr, err))
	}
	if err != nil {
		return nil, err
	}
	s := g.sniff.Load()
	if s == nil {
		// Unwrapped: system calls are counted from /proc/self/io, and a
		// client sees the *net.TCPConn it would see in production.
		return nc, nil
	}
	return &countConn{Conn: nc, ctr: g.ctr, sn: s.stream()}, nil
}

func (g *dialGate) setPin(addr string) {
	if addr == "" {
		g.pin.Store(nil)
		return
	}
	g.pin.Store(&addr)
}

type countConn struct {
	net.Conn
	ctr *ioCounters
	sn  *sniffStream // nil unless sniffing
}

func (c *countConn) Write(b []byte) (int, error) {
	c.ctr.writes.Add(1)
	if c.sn != nil {
		c.sn.out(b) // before the bytes can reach the server: no reply can precede it
	}
	return c.Conn.Write(b)
}

func (c *countConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.ctr.reads.Add(1)
	if c.sn != nil && n > 0 {
		c.sn.in(b[:n])
	}
	return n, err
}

// sniffer follows the frames of the connections dialed while it is attached
// to learn when every SetWatches (101) or SetWatches2 (105) request has been
// answered, and how many watch paths they carried. Each connection is parsed
// on its own (sniffStream); the first frame each way (ConnectRequest and
// ConnectResponse) has no header and is skipped.
type sniffer struct {
	mu          sync.Mutex
	xids        map[*sniffStream]map[int32]int // per connection: SetWatches xid -> paths
	requests    int                            // SetWatches requests sent
	acked       int                            // paths in SetWatches answered with err 0
	failed      int                            // SetWatches answered with an error
	target      int
	done        chan struct{} // closed when acked >= target
	doneAt      time.Time
	firstSentAt time.Time
}

type sniffStream struct {
	s                   *sniffer
	mu                  sync.Mutex
	outBuf, inBuf       []byte
	outFrames, inFrames int
}

func newSniffer(target int) *sniffer {
	return &sniffer{xids: map[*sniffStream]map[int32]int{}, target: target, done: make(chan struct{})}
}

func (s *sniffer) stream() *sniffStream { return &sniffStream{s: s} }

func (c *sniffStream) out(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outBuf = append(c.outBuf, b...)
	for {
		f, rest, ok := nextFrame(c.outBuf)
		if !ok {
			break
		}
		c.outFrames++
		if c.outFrames > 1 && len(f) >= 8 {
			xid := int32(binary.BigEndian.Uint32(f))
			op := int32(binary.BigEndian.Uint32(f[4:]))
			if op == 101 || op == 105 {
				lists := 3
				if op == 105 {
					lists = 5
				}
				c.s.sent(c, xid, countSetWatchesPaths(f[8:], lists))
			}
		}
		c.outBuf = rest
	}
	c.outBuf = append([]byte(nil), c.outBuf...) // do not pin the caller's big buffers
}

func (c *sniffStream) in(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inBuf = append(c.inBuf, b...)
	for {
		f, rest, ok := nextFrame(c.inBuf)
		if !ok {
			break
		}
		c.inFrames++
		if c.inFrames > 1 && len(f) >= 16 {
			xid := int32(binary.BigEndian.Uint32(f))
			code := int32(binary.BigEndian.Uint32(f[12:]))
			c.s.replied(c, xid, code)
		}
		c.inBuf = rest
	}
	c.inBuf = append([]byte(nil), c.inBuf...)
}

func (s *sniffer) sent(c *sniffStream, xid int32, paths int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.xids[c]
	if m == nil {
		m = map[int32]int{}
		s.xids[c] = m
	}
	m[xid] = paths
	s.requests++
	if s.firstSentAt.IsZero() {
		s.firstSentAt = time.Now()
	}
}

func (s *sniffer) replied(c *sniffStream, xid, code int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.xids[c][xid]
	if !ok {
		return
	}
	delete(s.xids[c], xid)
	if code != 0 {
		s.failed++
		return
	}
	s.acked += n
	if s.acked >= s.target && s.doneAt.IsZero() {
		s.doneAt = time.Now()
		close(s.done)
	}
}

func (s *sniffer) snapshot() (requests, acked, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.acked, s.failed
}

// nextFrame splits the first complete frame off b.
func nextFrame(b []byte) (frame, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, b, false
	}
	n := int(binary.BigEndian.Uint32(b))
	if n < 0 || len(b) < 4+n {
		return nil, b, false
	}
	return b[4 : 4+n], b[4+n:], true
}

// countSetWatchesPaths counts the strings in a SetWatches body: relativeZxid,
// then lists vectors of ustring.
func countSetWatchesPaths(b []byte, lists int) int {
	if len(b) < 8 {
		return 0
	}
	b = b[8:]
	total := 0
	for range lists {
		if len(b) < 4 {
			return total
		}
		n := int(int32(binary.BigEndian.Uint32(b)))
		b = b[4:]
		for range max(n, 0) {
			if len(b) < 4 {
				return total
			}
			l := int(int32(binary.BigEndian.Uint32(b)))
			b = b[4+max(l, 0):]
			total++
		}
	}
	return total
}

// ---- our client ----

type ours struct {
	c    *zk.Conn
	gate *dialGate
	ctr  ioCounters
	acl  []zk.ACL
	chs  []<-chan zk.Event
}

func newOurs(connString string, sessionTimeout time.Duration, pin string) (*ours, error) {
	o := &ours{acl: zk.OpenACL}
	o.gate = &dialGate{ctr: &o.ctr}
	o.gate.setPin(pin)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := zk.Connect(ctx, connString, zk.WithSessionTimeout(sessionTimeout), zk.WithDialer(o.gate.dial))
	if err != nil {
		return nil, err
	}
	o.gate.setPin("")
	o.c = c
	return o, nil
}

func (o *ours) name() string          { return "ours" }
func (o *ours) counters() *ioCounters { return &o.ctr }
func (o *ours) server() string        { return o.c.Server() }
func (o *ours) close()                { o.c.Close() }
func (o *ours) get(path string) ([]byte, error) {
	d, _, err := o.c.Get(context.Background(), path)
	return d, err
}
func (o *ours) del(path string) error { return o.c.Delete(context.Background(), path, zk.AnyVersion) }
func (o *ours) create(path string, data []byte) error {
	_, err := o.c.Create(context.Background(), path, data, zk.CreatePersistent, o.acl)
	return err
}

func (o *ours) getTimeout(path string, d time.Duration, late func(time.Time)) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, _, err := o.c.Get(ctx, path)
	if err == nil {
		late(time.Now())
	}
	return err
}

func (o *ours) watch(i int, path string) error {
	ok, _, ch, err := o.c.ExistsW(context.Background(), path)
	if err != nil {
		return err
	}
	if ok {
		return fmt.Errorf("%s exists", path)
	}
	o.chs[i] = ch
	return nil
}

func (o *ours) fired(i int, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case ev := <-o.chs[i]:
		return ev.Type == zk.EventNodeCreated
	case <-t.C:
		return false
	}
}

// ---- go-zookeeper ----

type gozkClient struct {
	c    *gozk.Conn
	gate *dialGate
	ctr  ioCounters
	acl  []gozk.ACL
	chs  []<-chan gozk.Event
	stop chan struct{}
}

type silentLogger struct{}

func (silentLogger) Printf(string, ...any) {}

func newGozk(servers []string, sessionTimeout time.Duration, pin string) (*gozkClient, error) {
	g := &gozkClient{acl: gozk.WorldACL(gozk.PermAll), stop: make(chan struct{})}
	g.gate = &dialGate{ctr: &g.ctr}
	g.gate.setPin(pin)
	dial := func(network, addr string, timeout time.Duration) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return g.gate.dial(ctx, network, addr)
	}
	c, events, err := gozk.Connect(servers, sessionTimeout,
		gozk.WithDialer(dial), gozk.WithLogger(silentLogger{}), gozk.WithLogInfo(false))
	if err != nil {
		return nil, err
	}
	connected := make(chan struct{})
	go func() { // drain events for the connection's life
		once := false
		for ev := range events {
			if ev.State == gozk.StateHasSession && !once {
				once = true
				close(connected)
			}
		}
	}()
	select {
	case <-connected:
	case <-time.After(30 * time.Second):
		c.Close()
		return nil, errors.New("go-zookeeper: no session within 30s")
	}
	g.gate.setPin("")
	g.c = c
	return g, nil
}

func (g *gozkClient) name() string          { return "go-zookeeper" }
func (g *gozkClient) counters() *ioCounters { return &g.ctr }
func (g *gozkClient) server() string        { return g.c.Server() }
func (g *gozkClient) close()                { g.c.Close() }
func (g *gozkClient) get(path string) ([]byte, error) {
	d, _, err := g.c.Get(path)
	return d, err
}
func (g *gozkClient) del(path string) error { return g.c.Delete(path, -1) }
func (g *gozkClient) create(path string, data []byte) error {
	_, err := g.c.Create(path, data, 0, g.acl)
	return err
}

// getTimeout: go-zookeeper calls take no context or deadline, so the call
// runs on a goroutine and is given up on after d; if it succeeds later, its
// time still counts (the loop only stops waiting for it).
func (g *gozkClient) getTimeout(path string, d time.Duration, late func(time.Time)) error {
	res := make(chan error, 1)
	go func() {
		_, _, err := g.c.Get(path)
		if err == nil {
			late(time.Now())
		}
		res <- err
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-res:
		return err
	case <-t.C:
		return context.DeadlineExceeded
	}
}

func (g *gozkClient) watch(i int, path string) error {
	ok, _, ch, err := g.c.ExistsW(path)
	if err != nil {
		return err
	}
	if ok {
		return fmt.Errorf("%s exists", path)
	}
	g.chs[i] = ch
	return nil
}

func (g *gozkClient) fired(i int, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case ev := <-g.chs[i]:
		return ev.Type == gozk.EventNodeCreated
	case <-t.C:
		return false
	}
}

// clientKind makes clients of one library.
type clientKind struct {
	name string
	new  func(connString string, sessionTimeout time.Duration, pin string) (client, error)
	// allocWatches sizes the watch-channel table (before a heap baseline).
	allocWatches func(c client, n int)
}

var kinds = []clientKind{
	{
		name: "ours",
		new: func(cs string, st time.Duration, pin string) (client, error) {
			return newOurs(cs, st, pin)
		},
		allocWatches: func(c client, n int) { c.(*ours).chs = make([]<-chan zk.Event, n) },
	},
	{
		name: "go-zookeeper",
		new: func(cs string, st time.Duration, pin string) (client, error) {
			return newGozk(strings.Split(cs, ","), st, pin)
		},
		allocWatches: func(c client, n int) { c.(*gozkClient).chs = make([]<-chan gozk.Event, n) },
	},
}

func gateOf(c client) *dialGate {
	switch c := c.(type) {
	case *ours:
		return c.gate
	case *gozkClient:
		return c.gate
	}
	return nil
}
