package testserver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zkgo/zk/internal/proto"
)

// ErrClosed is returned by controls called after Close.
var ErrClosed = errors.New("testserver: server closed")

// ExpireSession expires a session now, with the effects of a timeout: its
// connection is closed without a reply, its ephemerals are deleted (other
// sessions' watches fire), and a later reconnect with its id gets the
// all-zero "expired" answer. It reports whether the session existed.
func (s *Server) ExpireSession(id int64) bool {
	found := false
	s.admin(func() {
		if sess := s.sessions[id]; sess != nil {
			found = true
			s.log.Info("testserver: session expired by test", "session", sid(id))
			s.expire(sess)
		}
	})
	return found
}

// DropConnections closes every client connection on every listener. The
// sessions survive until they time out, as after a network blip.
func (s *Server) DropConnections() {
	s.admin(func() {
		s.mu.Lock()
		conns := s.connSnapshotLocked(nil)
		s.mu.Unlock()
		for _, c := range conns {
			s.dropConn(c)
		}
	})
}

// StopListener closes listener i and its connections; dialing its address
// then fails. Sessions survive. It panics if i is out of range.
func (s *Server) StopListener(i int) {
	l := s.listeners[i]
	s.mu.Lock()
	if l.ln != nil {
		l.ln.Close()
		l.ln = nil
	}
	s.mu.Unlock()
	s.admin(func() {
		s.mu.Lock()
		conns := s.connSnapshotLocked(l)
		s.mu.Unlock()
		for _, c := range conns {
			s.dropConn(c)
		}
	})
}

// StartListener listens again on listener i's address (same host and port)
// after StopListener. It does nothing if the listener is running. It panics
// if i is out of range.
func (s *Server) StartListener(i int) error {
	l := s.listeners[i]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if l.ln != nil {
		return nil
	}
	ln, err := s.listen(l.addr)
	if err != nil {
		return err
	}
	l.ln = ln
	s.wg.Add(1)
	go s.acceptLoop(l, ln)
	return nil
}

// Blackhole makes listener i silent (on) or normal again (off). While it is
// silent, its connections stay open and the server reads them, but it
// answers nothing: no handshake, no reply, no ping, no watch event. Frames
// read meanwhile are dropped unprocessed and do not keep the session alive,
// so a session whose client can only reach a silent listener expires. New
// connections are accepted and treated the same. It panics if i is out of
// range.
func (s *Server) Blackhole(i int, on bool) {
	s.listeners[i].blackhole.Store(on)
}

// FailNext makes the next request with opcode op fail with the error code
// code instead of running: the reply carries code and the server's last
// zxid, no body, and nothing changes (no watch is set). Calls queue up: two
// calls fail the next two such requests. A ping's reply keeps xid -2.
func (s *Server) FailNext(op int32, code int32) {
	s.admin(func() { s.failNext[op] = append(s.failNext[op], code) })
}

// Sessions returns the ids of the live sessions, sorted.
func (s *Server) Sessions() []int64 {
	var out []int64
	s.admin(func() {
		for id := range s.sessions {
			out = append(out, id)
		}
	})
	slices.Sort(out)
	return out
}

// SessionTimeout returns a live session's negotiated timeout.
func (s *Server) SessionTimeout(id int64) (time.Duration, bool) {
	var ms int32
	found := false
	s.admin(func() {
		if sess := s.sessions[id]; sess != nil {
			ms, found = sess.timeout, true
		}
	})
	return time.Duration(ms) * time.Millisecond, found
}

// Ephemerals returns the paths of a session's ephemeral nodes, sorted.
func (s *Server) Ephemerals(id int64) []string {
	var out []string
	s.admin(func() {
		if sess := s.sessions[id]; sess != nil {
			for p := range sess.ephemerals {
				out = append(out, p)
			}
		}
	})
	slices.Sort(out)
	return out
}

// Connections returns the number of open client connections, with or
// without a session.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// WaitConnections blocks until exactly n client connections are open, or ctx
// is done.
func (s *Server) WaitConnections(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		count, changed := len(s.conns), s.connsChanged
		s.mu.Unlock()
		if count == n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("testserver: waiting for %d connections (have %d): %w", n, count, ctx.Err())
		}
	}
}

// Get reads a node directly, for assertions: a copy of its data (nil if it
// was created with null data), its stat as a client would see it, and
// whether it exists.
func (s *Server) Get(path string) (data []byte, stat proto.Stat, ok bool) {
	s.admin(func() {
		if n := s.tree.get(path); n != nil {
			ok, stat = true, n.stat()
			if n.data != nil {
				data = append([]byte{}, n.data...)
			}
		}
	})
	return data, stat, ok
}

// Children returns the names of a node's children, sorted, and whether the
// node exists. (getChildren answers clients in the real server's order.)
func (s *Server) Children(path string) (names []string, ok bool) {
	s.admin(func() {
		if n := s.tree.get(path); n != nil {
			names, ok = n.childNames(), true
		}
	})
	slices.Sort(names)
	return names, ok
}

// Zxid returns the zxid of the last transaction.
func (s *Server) Zxid() int64 {
	var z int64
	s.admin(func() { z = s.zxid })
	return z
}

// WaitSessionGone blocks until the session with the given id no longer
// exists (expired or closed), or ctx is done. An unknown id returns at once.
func (s *Server) WaitSessionGone(ctx context.Context, id int64) error {
	var ch chan struct{}
	if !s.admin(func() {
		if s.sessions[id] != nil {
			ch = make(chan struct{})
			s.gone[id] = append(s.gone[id], ch)
		}
	}) {
		return ErrClosed
	}
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-s.quit:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("testserver: waiting for session %s to end: %w", sid(id), ctx.Err())
	}
}
