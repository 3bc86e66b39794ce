package testserver

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkgo/zk/internal/proto"
)

// Server is an in-memory ZooKeeper server. Its methods are safe to call from
// any goroutine.
type Server struct {
	cfg    config
	log    *slog.Logger
	start  time.Time // origin of the session tracker's clock
	secret [32]byte  // keys the session passwords

	in        chan func() // work for run, in arrival order
	quit      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup // run, accept loops, connection readers and writers

	listeners []*listener // fixed after New; each one's ln is guarded by mu

	// mu guards the network bookkeeping: closed, conns, connsChanged and
	// every listener's ln.
	mu           sync.Mutex
	closed       bool
	conns        map[*conn]struct{}
	connsChanged chan struct{} // closed and replaced whenever conns changes
	nextConnID   uint64

	// Owned by run: touched only on its goroutine (including inside admin).
	zxid     int64
	tree     *tree
	sessions map[int64]*session
	tracker  tracker
	watches  watchRegistry
	nextSid  int64
	failNext map[int32][]int32
	gone     map[int64][]chan struct{} // WaitSessionGone waiters by session
}

type listener struct {
	idx       int
	addr      string       // the bound address, reused by StartListener
	ln        net.Listener // guarded by Server.mu; nil while stopped
	blackhole atomic.Bool
}

// New starts a server listening on its addresses. Close it when done.
func New(opts ...Option) (*Server, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:          cfg,
		log:          cfg.logger,
		start:        time.Now(),
		in:           make(chan func()),
		quit:         make(chan struct{}),
		conns:        make(map[*conn]struct{}),
		connsChanged: make(chan struct{}),
		tree:         newTree(),
		sessions:     make(map[int64]*session),
		watches:      newWatchRegistry(),
		failNext:     make(map[int32][]int32),
		gone:         make(map[int64][]chan struct{}),
	}
	if _, err := rand.Read(s.secret[:]); err != nil {
		return nil, fmt.Errorf("testserver: session secret: %w", err)
	}
	s.tracker.init(cfg.tick.Milliseconds())
	// Session ids as in SessionTrackerImpl: the server id (1) in the top byte,
	// a timestamp below it, then a counter.
	s.nextSid = int64(uint64(time.Now().UnixMilli())<<24>>8 | 1<<56)

	var lns []net.Listener
	for i, addr := range cfg.addrs {
		ln, err := s.listen(addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
		s.listeners = append(s.listeners, &listener{idx: i, addr: ln.Addr().String(), ln: ln})
	}
	s.wg.Add(1 + len(s.listeners))
	go s.run()
	for i, l := range s.listeners {
		go s.acceptLoop(l, lns[i])
	}
	s.log.Info("testserver: started", "addrs", s.ConnString())
	return s, nil
}

// Start starts a server for a test: it fails the test if the server cannot
// start and closes it when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (s *Server) listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("testserver: listen on %s: %w", addr, err)
	}
	if s.cfg.tls != nil {
		ln = tls.NewListener(ln, s.cfg.tls)
	}
	return ln, nil
}

// Addrs returns the listening addresses, "host:port", one per listener, in
// listener order. A stopped listener keeps its address.
func (s *Server) Addrs() []string {
	out := make([]string, len(s.listeners))
	for i, l := range s.listeners {
		out[i] = l.addr
	}
	return out
}

// Addr returns the address of listener i.
func (s *Server) Addr(i int) string { return s.listeners[i].addr }

// ConnString returns the addresses joined by commas, as a client's connection
// string.
func (s *Server) ConnString() string { return strings.Join(s.Addrs(), ",") }

// Close stops the listeners, closes every connection and returns when every
// goroutine of the server has exited. It is idempotent and always returns
// nil.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		for _, l := range s.listeners {
			if l.ln != nil {
				l.ln.Close()
				l.ln = nil
			}
		}
		conns := s.connSnapshotLocked(nil)
		s.mu.Unlock()
		for _, c := range conns {
			c.close()
		}
		close(s.quit)
	})
	s.wg.Wait()
	return nil
}

// post hands fn to run. It reports false if the server is closing.
func (s *Server) post(fn func()) bool {
	select {
	case s.in <- fn:
		return true
	case <-s.quit:
		return false
	}
}

// admin runs fn on run's goroutine and waits for it. It reports false, without
// running fn, if the server is closed. fn must not call admin.
func (s *Server) admin(fn func()) bool {
	done := make(chan struct{})
	if !s.post(func() { fn(); close(done) }) {
		return false
	}
	<-done // run received fn, so it runs it to the end
	return true
}

// run owns the tree, the sessions and the watches.
func (s *Server) run() {
	defer s.wg.Done()
	sweep := time.NewTimer(s.untilNextSweep())
	defer sweep.Stop()
	reap := time.NewTicker(s.cfg.reapInterval)
	defer reap.Stop()
	for {
		select {
		case fn := <-s.in:
			fn()
		case <-sweep.C:
			s.drainInput()
			s.sweepSessions()
			sweep.Reset(s.untilNextSweep())
		case <-reap.C:
			s.reap()
		case <-s.quit:
			return
		}
	}
}

// drainInput runs the work readers have already handed over (up to a
// bound, so a flood cannot hold the sweep off), so that a packet that reached
// the server before a session's deadline counts even if run was slow to get
// to it.
func (s *Server) drainInput() {
	for range 1024 {
		select {
		case fn := <-s.in:
			fn()
		default:
			return
		}
	}
}

func (s *Server) acceptLoop(l *listener, ln net.Listener) {
	defer s.wg.Done()
	for {
		nc, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// Out of file descriptors and the like: wait a little, as
			// net/http does, and try again.
			s.log.Error("testserver: accept", "listener", l.idx, "err", err)
			time.Sleep(5 * time.Millisecond)
			continue
		}
		s.addConn(l, ln, nc)
	}
}

func (s *Server) addConn(l *listener, ln net.Listener, nc net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || l.ln != ln {
		nc.Close()
		return
	}
	s.nextConnID++
	c := &conn{
		s:    s,
		nc:   nc,
		l:    l,
		id:   s.nextConnID,
		dead: make(chan struct{}),
		wake: make(chan struct{}, 1),
	}
	if host, _, err := net.SplitHostPort(nc.RemoteAddr().String()); err == nil {
		c.remoteIP = host
	}
	c.auth = []proto.Id{{Scheme: "ip", ID: c.remoteIP}}
	s.conns[c] = struct{}{}
	s.connsChangedLocked()
	s.log.Debug("testserver: connection accepted", "conn", c.id, "listener", l.idx, "remote", nc.RemoteAddr().String())
	s.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
}

func (s *Server) connsChangedLocked() {
	close(s.connsChanged)
	s.connsChanged = make(chan struct{})
}

// connSnapshotLocked returns the open connections, those of listener l only
// if l is not nil.
func (s *Server) connSnapshotLocked(l *listener) []*conn {
	var out []*conn
	for c := range s.conns {
		if l == nil || c.l == l {
			out = append(out, c)
		}
	}
	return out
}

// conn is one client connection.
type conn struct {
	s        *Server
	nc       net.Conn
	l        *listener
	id       uint64
	remoteIP string

	dead      chan struct{} // closed by close
	closeOnce sync.Once
	wake      chan struct{} // capacity 1: the queue has frames

	// qmu guards the outbound queue.
	qmu     sync.Mutex
	queue   [][]byte
	closing bool // the last frame was queued; close after writing it

	// Owned by run.
	sess      *session
	auth      []proto.Id
	saslNonce string // the DIGEST-MD5 challenge awaiting its response
	detached  bool   // no longer serves a session: requests are ignored
}

// close closes the socket; the reader and writer then exit. Safe from any
// goroutine, idempotent.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		// Unregister first: whoever sees the socket closed also sees the
		// connection gone from Connections.
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.connsChangedLocked()
		c.s.mu.Unlock()
		close(c.dead)
		c.nc.Close()
	})
}

// enqueue queues a frame for the writer; with final set the connection is
// closed once the frame is written and nothing more is accepted.
func (c *conn) enqueue(b []byte, final bool) {
	c.qmu.Lock()
	if c.closing {
		c.qmu.Unlock()
		return
	}
	c.queue = append(c.queue, b)
	c.closing = final
	c.qmu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *conn) writeLoop() {
	defer c.s.wg.Done()
	for {
		select {
		case <-c.wake:
		case <-c.dead:
			return
		}
		c.qmu.Lock()
		frames, last := c.queue, c.closing
		c.queue = nil
		c.qmu.Unlock()
		// A blackholed listener answers nothing: its frames are dropped.
		if len(frames) > 0 && !c.l.blackhole.Load() {
			bufs := net.Buffers(frames)
			if _, err := bufs.WriteTo(c.nc); err != nil {
				c.s.log.Debug("testserver: write failed", "conn", c.id, "err", err)
				c.close()
				return
			}
		}
		if last {
			c.close()
			return
		}
	}
}

// waitDead blocks until the connection or the server is closed.
func (c *conn) waitDead() {
	select {
	case <-c.dead:
	case <-c.s.quit:
	}
}

func (c *conn) readLoop() {
	defer c.s.wg.Done()
	s := c.s
	// Tell run the connection is gone, then make sure the socket is closed.
	// The order matters only for a clean log; run ignores a second detach.
	defer func() {
		c.close()
		s.post(func() { s.detach(c) })
	}()

	var first [4]byte
	if _, err := io.ReadFull(c.nc, first[:]); err != nil {
		return
	}
	if s.fourLetterWord(c, binary.BigEndian.Uint32(first[:])) {
		return
	}
	fr := proto.NewFrameReader(io.MultiReader(bytes.NewReader(first[:]), c.nc), s.cfg.maxFrame)

	// The handshake: the first frame that is not swallowed by a blackhole.
	// Nothing more is read until it is answered, as in the real server.
	for {
		frame, err := fr.Next()
		if err != nil {
			c.logReadError(err)
			return
		}
		if c.dropped() {
			continue
		}
		var req proto.ConnectRequest
		if err := proto.DecodeRecord(frame, &req); err != nil {
			s.log.Debug("testserver: bad connect request", "conn", c.id, "err", err)
			return
		}
		ok := make(chan bool, 1)
		if !s.post(func() { ok <- s.handshake(c, &req) }) {
			return
		}
		if !<-ok { // run received the function, so it answers
			c.waitDead() // let the writer flush the refusal first
			return
		}
		break
	}

	for {
		frame, err := fr.Next()
		if err != nil {
			c.logReadError(err)
			return
		}
		if c.dropped() {
			continue // read, never answered, and the session is not touched
		}
		r, err := decodeRequest(frame)
		if err != nil {
			s.log.Debug("testserver: bad request header", "conn", c.id, "err", err)
			return
		}
		if !s.post(func() { s.handle(c, r) }) {
			return
		}
	}
}

// dropped reports whether the connection's listener is blackholed, in which
// case the frame just read is to be dropped.
func (c *conn) dropped() bool {
	if !c.l.blackhole.Load() {
		return false
	}
	if h := c.s.cfg.dropHook; h != nil {
		h(c.l.idx)
	}
	return true
}

func (c *conn) logReadError(err error) {
	var tooLarge *proto.FrameTooLargeError
	switch {
	case errors.As(err, &tooLarge):
		c.s.log.Info("testserver: closing connection: frame length out of range", "conn", c.id, "len", tooLarge.Len, "max", tooLarge.Max)
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	default:
		c.s.log.Debug("testserver: read failed", "conn", c.id, "err", err)
	}
}

// Four-letter words. Only srvr is on the real server's default whitelist; the
// other known words get the "not in the whitelist" answer.
var fourLetterWords = map[string]bool{
	"conf": true, "cons": true, "crst": true, "dirs": true, "dump": true,
	"envi": true, "gtmk": true, "hash": true, "isro": true, "mntr": true,
	"ruok": true, "srst": true, "srvr": true, "stat": true, "stmk": true,
	"wchc": true, "wchp": true, "wchs": true,
}

// telnetClose is the control sequence telnet sends when it closes. The real
// server knows it as the command "telnet close", which is not on the
// default whitelist either: it gets the same refusal as the other words.
const telnetClose = 0xfff4fffd

// fourLetterWord answers a four-letter word sent instead of a first frame
// length, and reports whether it did (the connection is then done).
func (s *Server) fourLetterWord(c *conn, v uint32) bool {
	var w [4]byte
	binary.BigEndian.PutUint32(w[:], v)
	word := string(w[:])
	if v == telnetClose {
		word = "telnet close"
	} else if !fourLetterWords[word] {
		return false
	}
	if c.l.blackhole.Load() {
		io.Copy(io.Discard, c.nc) // read everything, answer nothing
		return true
	}
	var out string
	if word == "srvr" {
		var zxid int64
		var nodes int
		s.admin(func() { zxid, nodes = s.zxid, len(s.tree.nodes) })
		s.mu.Lock()
		nconns := len(s.conns)
		s.mu.Unlock()
		// The real server counts the root twice (it is aliased as "").
		out = fmt.Sprintf("Zookeeper version: 3.8.0-zkgo-testserver\nLatency min/avg/max: 0/0.0/0\n"+
			"Received: 0\nSent: 0\nConnections: %d\nOutstanding: 0\nZxid: 0x%x\nMode: standalone\nNode count: %d\n",
			nconns, zxid, nodes+1)
	} else {
		out = word + " is not executed because it is not in the whitelist.\n"
	}
	c.nc.Write([]byte(out))
	return true
}
