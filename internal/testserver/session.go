package testserver

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/zkgo/zk/internal/proto"
)

// session is a client session. Owned by run.
type session struct {
	id         int64
	passwd     []byte
	timeout    int32 // negotiated on the latest connection, ms
	expireAt   int64 // the tracker bucket holding the session
	conn       *conn // the current connection, nil while disconnected
	ephemerals map[string]struct{}
	// ephOrder holds the ephemeral paths in the real server's order (its
	// per-session HashSet, created with the first ephemeral).
	ephOrder *jset
}

// tracker is the real server's session expiry queue (ExpiryQueue): a session
// touched at time t with timeout T lands in the bucket
// roundToNextInterval(t+T), a multiple of the tick; every tick the due bucket
// is expired as a whole. Times are milliseconds since the server started.
type tracker struct {
	tick    int64
	next    int64 // the next bucket to expire
	buckets map[int64]map[*session]struct{}
}

func (t *tracker) init(tick int64) {
	t.tick = tick
	t.next = t.roundUp(0)
	t.buckets = make(map[int64]map[*session]struct{})
}

// roundUp is ExpiryQueue.roundToNextInterval: always strictly after ms.
func (t *tracker) roundUp(ms int64) int64 { return (ms/t.tick + 1) * t.tick }

func (t *tracker) update(s *session, now int64) {
	exp := t.roundUp(now + int64(s.timeout))
	if exp == s.expireAt {
		return
	}
	t.remove(s)
	b := t.buckets[exp]
	if b == nil {
		b = make(map[*session]struct{})
		t.buckets[exp] = b
	}
	b[s] = struct{}{}
	s.expireAt = exp
}

func (t *tracker) remove(s *session) {
	if b := t.buckets[s.expireAt]; b != nil {
		delete(b, s)
		if len(b) == 0 {
			delete(t.buckets, s.expireAt)
		}
	}
	s.expireAt = 0
}

func (s *Server) elapsedMs() int64 { return time.Since(s.start).Milliseconds() }

func (s *Server) untilNextSweep() time.Duration {
	return max(time.Until(s.start.Add(time.Duration(s.tracker.next)*time.Millisecond)), 0)
}

// touch moves a session to the bucket its timeout gives from now: every
// request received on its connection does this, but for auth and SASL
// packets (see handle).
func (s *Server) touch(sess *session) { s.tracker.update(sess, s.elapsedMs()) }

// sweepSessions expires every due bucket, one tick at a time.
func (s *Server) sweepSessions() {
	now := s.elapsedMs()
	for s.tracker.next <= now {
		b := s.tracker.buckets[s.tracker.next]
		delete(s.tracker.buckets, s.tracker.next)
		s.tracker.next += s.tracker.tick
		due := make([]*session, 0, len(b))
		for sess := range b {
			due = append(due, sess)
		}
		slices.SortFunc(due, func(a, b *session) int { return cmp.Compare(a.id, b.id) })
		for _, sess := range due {
			sess.expireAt = 0
			s.log.Info("testserver: session expired", "session", sid(sess.id), "timeout_ms", sess.timeout)
			s.expire(sess)
		}
	}
}

// expire ends a session the way the real server ends an expired one: its
// connection is closed without a word, then its ephemerals are deleted in one
// closeSession transaction (other sessions' watches fire).
func (s *Server) expire(sess *session) {
	if c := sess.conn; c != nil {
		s.dropConn(c)
	}
	s.killSession(sess)
}

// killSession is the closeSession transaction: one zxid, every ephemeral of
// the session deleted, the session forgotten.
func (s *Server) killSession(sess *session) {
	tx := s.begin()
	// The paths go in the order of a copy of the session's HashSet
	// (PrepRequestProcessor: getEphemerals, then CloseSessionTxn), which
	// is the order of their NodeDeleted events.
	for _, p := range sess.ephemeralsInOrder() {
		if n := s.tree.get(p); n != nil {
			s.deleteNode(tx, n)
		}
	}
	s.commit(tx)
	s.tracker.remove(sess)
	delete(s.sessions, sess.id)
	for _, ch := range s.gone[sess.id] {
		close(ch)
	}
	delete(s.gone, sess.id)
}

// detach unbinds a connection from its session and drops its watches; the
// connection no longer serves requests. Idempotent.
func (s *Server) detach(c *conn) {
	if c.detached {
		return
	}
	c.detached = true
	s.watches.removeConn(c)
	if c.sess != nil && c.sess.conn == c {
		c.sess.conn = nil
	}
	s.log.Debug("testserver: connection detached", "conn", c.id)
}

// dropConn detaches and closes a connection at once.
func (s *Server) dropConn(c *conn) {
	s.detach(c)
	c.close()
}

// password derives a session's password from its id and the server secret.
func (s *Server) password(id int64) []byte {
	m := hmac.New(sha256.New, s.secret[:])
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(id))
	m.Write(b[:])
	return m.Sum(nil)[:proto.PasswordLen]
}

func (s *Server) clampTimeout(ms int32) int32 {
	lo, hi := int32(s.cfg.minTimeout.Milliseconds()), int32(s.cfg.maxTimeout.Milliseconds())
	return min(max(ms, lo), hi)
}

// handshake answers a ConnectRequest (PROTOCOL.md §4.4 and §18) and reports
// whether the connection may go on.
func (s *Server) handshake(c *conn, req *proto.ConnectRequest) bool {
	if c.detached {
		return false
	}
	if req.LastZxidSeen > s.zxid {
		s.log.Info("testserver: refusing client whose zxid is ahead", "conn", c.id,
			"client_zxid", fmt.Sprintf("0x%x", req.LastZxidSeen), "server_zxid", fmt.Sprintf("0x%x", s.zxid))
		s.dropConn(c)
		return false
	}
	timeout := s.clampTimeout(req.TimeOut)
	resp := &proto.ConnectResponse{OmitReadOnly: !req.HasReadOnly}

	if req.SessionID == 0 {
		id := s.nextSid
		s.nextSid++
		sess := &session{
			id:         id,
			passwd:     s.password(id),
			timeout:    timeout,
			ephemerals: make(map[string]struct{}),
		}
		s.sessions[id] = sess
		s.nextZxid() // createSession is a transaction
		s.attach(c, sess)
		s.log.Info("testserver: session created", "session", sid(id), "timeout_ms", timeout, "conn", c.id)
		resp.TimeOut, resp.SessionID, resp.Passwd = timeout, id, sess.passwd
		c.enqueue(proto.AppendFrame(nil, resp), false)
		return true
	}

	// The real server closes the session's other connections before it looks
	// at the password: a wrong password still costs the live connection.
	sess := s.sessions[req.SessionID]
	if sess != nil && sess.conn != nil {
		s.dropConn(sess.conn)
	}
	if sess == nil || !hmac.Equal(req.Passwd, sess.passwd) {
		s.log.Info("testserver: refusing session", "session", sid(req.SessionID), "known", sess != nil, "conn", c.id)
		resp.Passwd = make([]byte, proto.PasswordLen)
		c.enqueue(proto.AppendFrame(nil, resp), true)
		s.detach(c)
		return false
	}
	sess.timeout = timeout
	s.attach(c, sess)
	s.log.Debug("testserver: session resumed", "session", sid(sess.id), "timeout_ms", timeout, "conn", c.id)
	resp.TimeOut, resp.SessionID, resp.Passwd = timeout, sess.id, sess.passwd
	c.enqueue(proto.AppendFrame(nil, resp), false)
	return true
}

func (s *Server) attach(c *conn, sess *session) {
	c.sess = sess
	sess.conn = c
	s.touch(sess)
}

func (s *Server) nextZxid() int64 {
	s.zxid++
	return s.zxid
}

// sid formats a session id as the real server logs it.
func sid(id int64) string { return fmt.Sprintf("0x%x", uint64(id)) }

// ephemeralsInOrder is DataTree.getEphemerals(sessionId): a clone of the
// session's HashSet, listed in the clone's order.
func (sess *session) ephemeralsInOrder() []string {
	if sess.ephOrder == nil {
		return []string{}
	}
	return sess.ephOrder.cloneJDK17().keys()
}
