// Package zktest runs an in-memory ZooKeeper server for tests, so that code
// using ZooKeeper can be tested without Java.
//
// The server speaks the real wire protocol on loopback TCP (or TLS): point any
// ZooKeeper client at ConnString. It keeps znodes with stats, versions and
// zxids; sequential, ephemeral, container and TTL nodes; ACLs with digest
// authentication; one-shot and persistent watches; multi. Sessions expire as
// on a real server, by its bucket strategy, but on a much shorter clock: the
// default tick is 100 ms, so negotiated session timeouts fall in [200 ms, 2 s]
// unless WithTickTime or WithSessionTimeoutRange says otherwise. Several
// listening addresses over one tree stand in for an ensemble.
//
// Where real servers differ between releases, it answers as a standalone
// Apache ZooKeeper 3.8 server does.
//
// A test starts a server with New, which closes it when the test ends:
//
//	func TestLeader(t *testing.T) {
//		srv := zktest.New(t, zktest.WithListeners(3))
//		conn := connectTo(t, srv.ConnString()) // your client here
//		...
//		srv.ExpireSession(sessionID) // and check that your code recovers
//	}
//
// The controls (ExpireSession, DropConnections, StopListener, Blackhole,
// FailNext, ...) inject the failures a coordinating application must survive.
// They are safe to call from any goroutine.
package zktest

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/zkgo/zk/internal/testserver"
)

// DefaultTickTime is the server's tick unless WithTickTime sets another.
const DefaultTickTime = 100 * time.Millisecond

// DefaultMaxFrameSize is the largest frame the server accepts from a client
// unless WithMaxFrameSize sets another: a real server's jute.maxbuffer.
const DefaultMaxFrameSize = 1_048_575

// ErrClosed is returned by the controls that can fail once the server is
// closed.
var ErrClosed = errors.New("zk: test server closed")

// Server is a running in-memory ZooKeeper server.
type Server struct {
	s *testserver.Server
}

// New starts a server for the test t: it fails the test if the server cannot
// start, and closes the server when the test and its subtests end.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := NewServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// NewServer starts a server outside of a test (for example behind a command
// that serves it). The caller must Close it.
func NewServer(opts ...Option) (*Server, error) {
	var cfg options
	for _, o := range opts {
		o.apply(&cfg)
	}
	s, err := testserver.New(cfg.ts...)
	if err != nil {
		return nil, wrap(err)
	}
	return &Server{s: s}, nil
}

// ConnString returns the server's addresses joined by commas, ready to be
// used as a client's connection string ("127.0.0.1:port,127.0.0.1:port").
func (s *Server) ConnString() string { return s.s.ConnString() }

// Addrs returns the listening addresses, "host:port", in listener order.
func (s *Server) Addrs() []string { return s.s.Addrs() }

// Addr returns the address of listener i. It panics if i is out of range.
func (s *Server) Addr(i int) string { return s.s.Addr(i) }

// Close stops the server: listeners and connections are closed, and Close
// returns once every goroutine of the server has exited. Sessions end with
// it. Close is idempotent and returns nil.
func (s *Server) Close() error { return s.s.Close() }

// ExpireSession expires a session now, with the effects of a timeout: its
// connection is closed without a reply, its ephemeral nodes are deleted
// (other sessions' watches fire), and a reconnect with its id is told the
// session expired. It reports whether the session existed.
func (s *Server) ExpireSession(id int64) bool { return s.s.ExpireSession(id) }

// DropConnections closes every client connection, as a network blip would.
// Sessions survive until they time out: a client that reconnects in time
// keeps its session.
func (s *Server) DropConnections() { s.s.DropConnections() }

// StopListener closes listener i and its connections, so that dialing its
// address fails, as if that ensemble member were down. Sessions survive. It
// panics if i is out of range.
func (s *Server) StopListener(i int) { s.s.StopListener(i) }

// StartListener listens again on listener i's address after StopListener.
// It does nothing if the listener is running. It panics if i is out of range.
func (s *Server) StartListener(i int) error { return wrap(s.s.StartListener(i)) }

// Blackhole makes listener i silent (on) or normal again (off), as if the
// network to that member dropped every packet from the server. While it is
// silent its connections stay open and what clients send is read and
// discarded: no handshake, reply, ping or watch event goes back, and nothing
// keeps the sessions alive, so they expire. New connections are accepted and
// treated the same. It panics if i is out of range.
func (s *Server) Blackhole(i int, on bool) { s.s.Blackhole(i, on) }

// FailNext makes the next request with opcode op (one of the Op constants)
// fail with the error code code (one of the Code constants, or any other
// int32) instead of running: the reply carries the code and no body, and the
// server's state does not change. Calls queue up: calling it twice fails the
// next two such requests.
func (s *Server) FailNext(op int32, code int32) { s.s.FailNext(op, code) }

// Sessions returns the ids of the live sessions, sorted.
func (s *Server) Sessions() []int64 { return s.s.Sessions() }

// SessionTimeout returns a live session's negotiated timeout, and whether the
// session exists.
func (s *Server) SessionTimeout(id int64) (time.Duration, bool) { return s.s.SessionTimeout(id) }

// Ephemerals returns the paths of a session's ephemeral nodes, sorted.
func (s *Server) Ephemerals(id int64) []string { return s.s.Ephemerals(id) }

// Connections returns the number of open client connections.
func (s *Server) Connections() int { return s.s.Connections() }

// WaitConnections blocks until exactly n client connections are open, or ctx
// is done.
func (s *Server) WaitConnections(ctx context.Context, n int) error {
	return wrap(s.s.WaitConnections(ctx, n))
}

// WaitSessionGone blocks until the session no longer exists (it expired or
// was closed), or ctx is done. It returns nil at once for an unknown id.
func (s *Server) WaitSessionGone(ctx context.Context, id int64) error {
	return wrap(s.s.WaitSessionGone(ctx, id))
}

// Stat is a znode's metadata as a client sees it.
type Stat struct {
	Czxid          int64 // zxid of the transaction that created the node
	Mzxid          int64 // zxid of the last data change
	Ctime          int64 // creation time, ms since the epoch
	Mtime          int64 // last data change, ms since the epoch
	Version        int32 // data version
	Cversion       int32 // child-list version
	Aversion       int32 // ACL version
	EphemeralOwner int64 // session id of an ephemeral node, else 0
	DataLength     int32 // length of the data
	NumChildren    int32 // number of children
	Pzxid          int64 // zxid of the last child-list change
}

// Get reads a node directly, for assertions: a copy of its data (nil if it
// holds null data), its stat, and whether it exists.
func (s *Server) Get(path string) (data []byte, stat Stat, ok bool) {
	data, st, ok := s.s.Get(path)
	return data, Stat(st), ok
}

// Children returns the names of a node's children, sorted, and whether the
// node exists.
func (s *Server) Children(path string) ([]string, bool) { return s.s.Children(path) }

// Zxid returns the zxid of the server's last transaction.
func (s *Server) Zxid() int64 { return s.s.Zxid() }

// Option configures a server.
type Option interface {
	apply(*options)
}

type options struct {
	ts []testserver.Option
}

type option struct{ o testserver.Option }

func (o option) apply(c *options) { c.ts = append(c.ts, o.o) }

// WithListeners makes the server listen on n loopback addresses, each on a
// free port, all serving one tree: they stand in for the members of an
// ensemble. The default is 1.
func WithListeners(n int) Option { return option{testserver.WithListeners(n)} }

// WithAddrs sets the listening addresses ("host:port"; port 0 picks a free
// port), one listener each, all serving one tree. The default is one
// listener on "127.0.0.1:0".
func WithAddrs(addrs ...string) Option { return option{testserver.WithAddrs(addrs...)} }

// WithTickTime sets the server's tick: sessions are checked for expiry once
// per tick, and the negotiated session timeout is clamped into
// [2 ticks, 20 ticks] as on a real server, unless WithSessionTimeoutRange is
// given. The default is DefaultTickTime (100 ms; a real server's is 2 s).
func WithTickTime(d time.Duration) Option { return option{testserver.WithTickTime(d)} }

// WithSessionTimeoutRange sets the range into which a client's requested
// session timeout is clamped. The default follows the tick: [2 ticks,
// 20 ticks].
func WithSessionTimeoutRange(min, max time.Duration) Option {
	return option{testserver.WithSessionTimeoutRange(min, max)}
}

// WithExtendedTypes turns TTL nodes on or off. Off, creating a TTL node fails
// with CodeUnimplemented, as on a real server with its default configuration.
// The default is on.
func WithExtendedTypes(on bool) Option { return option{testserver.WithExtendedTypes(on)} }

// WithLogger sets the logger the server writes to: Debug for every packet,
// Info for sessions created and expired. Messages start with "zk: testserver: ".
// The default discards everything.
func WithLogger(l *slog.Logger) Option {
	if l != nil {
		l = slog.New(prefixHandler{l.Handler()})
	}
	return option{testserver.WithLogger(l)}
}

// WithMaxFrameSize sets the largest frame the server accepts from a client;
// a client that sends a longer one is disconnected without a reply. The
// default is DefaultMaxFrameSize.
func WithMaxFrameSize(n int) Option { return option{testserver.WithMaxFrameSize(n)} }

// WithTLS makes every listener speak TLS with cfg, which must hold the
// server's certificate. The default is plain TCP.
func WithTLS(cfg *tls.Config) Option { return option{testserver.WithTLS(cfg)} }

// WithReapInterval sets how often empty container nodes and expired TTL nodes
// are deleted. The default is one tick (a real server's is 60 s).
func WithReapInterval(d time.Duration) Option { return option{testserver.WithReapInterval(d)} }

// WithSASLUsers turns on SASL DIGEST-MD5 with these users (name to
// password), as a real server whose SASL login section lists them: a handle
// made with zk.WithSASLDigest and a listed user and password gets the
// identity sasl:<user>; any other is refused, and its handle ends in
// AUTH_FAILED. Without it a SASL request gets what a server without SASL
// answers.
func WithSASLUsers(users map[string]string) Option {
	return option{testserver.WithSASLUsers(users)}
}

// prefixHandler marks the server's log messages as coming from this module.
type prefixHandler struct{ h slog.Handler }

func (p prefixHandler) Enabled(ctx context.Context, l slog.Level) bool { return p.h.Enabled(ctx, l) }

func (p prefixHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Message = "zk: " + r.Message
	return p.h.Handle(ctx, r)
}

func (p prefixHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return prefixHandler{p.h.WithAttrs(attrs)}
}

func (p prefixHandler) WithGroup(name string) slog.Handler { return prefixHandler{p.h.WithGroup(name)} }

// wrap gives the internal server's errors this module's "zk: " prefix and
// maps its closed error to ErrClosed; the original stays reachable with
// errors.Is and errors.As.
func wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, testserver.ErrClosed):
		return ErrClosed
	}
	return &prefixedError{err}
}

type prefixedError struct{ err error }

func (e *prefixedError) Error() string { return "zk: " + e.err.Error() }
func (e *prefixedError) Unwrap() error { return e.err }
