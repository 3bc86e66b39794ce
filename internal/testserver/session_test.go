package testserver

import (
	"testing"
	"time"

	"github.com/zkgo/zk/internal/proto"
)

func TestTrackerBuckets(t *testing.T) {
	var tr tracker
	tr.init(100)
	eq(t, "first bucket", tr.next, int64(100))
	for _, tt := range []struct{ in, want int64 }{{0, 100}, {99, 100}, {100, 200}, {150, 200}, {1999, 2000}} {
		eq(t, "roundUp", tr.roundUp(tt.in), tt.want)
	}
	a := &session{id: 1, timeout: 400}
	tr.update(a, 50) // 450 -> bucket 500
	eq(t, "bucket", a.expireAt, int64(500))
	tr.update(a, 99) // 499 -> still 500
	eq(t, "same bucket", len(tr.buckets[500]), 1)
	tr.update(a, 130) // 530 -> 600
	eq(t, "moved", [2]int{len(tr.buckets[500]), len(tr.buckets[600])}, [2]int{0, 1})
	tr.remove(a)
	eq(t, "removed", len(tr.buckets), 0)
}

func TestSessionExpiresByTick(t *testing.T) {
	s := start(t, WithTickTime(20*time.Millisecond), WithSessionTimeoutRange(40*time.Millisecond, time.Minute))
	a := connect(t, s.Addr(0), 40)
	a.create("/eph", nil, proto.FlagEphemeral)
	a.create("/keep", nil, 0)
	b := connect(t, s.Addr(0), 60000)
	b.exists("/eph", true)
	b.children("/", true)
	// a stays silent: within a tick of its timeout it expires.
	b.expectEvent(proto.EventNodeDeleted, "/eph")
	b.expectEvent(proto.EventNodeChildrenChanged, "/")
	a.expectEOF()
	if err := s.WaitSessionGone(testCtx(t), a.sessionID); err != nil {
		t.Fatal(err)
	}
	eq(t, "sessions", s.Sessions(), []int64{b.sessionID})
	if _, _, ok := s.Get("/keep"); !ok {
		t.Fatal("persistent node deleted with the session")
	}
	// Reconnecting to it gets the all-zero answer.
	c := dial(t, s.Addr(0))
	resp := c.handshake(proto.ConnectRequest{TimeOut: 40, SessionID: a.sessionID, Passwd: a.passwd})
	eq(t, "expired answer", [2]int64{int64(resp.TimeOut), resp.SessionID}, [2]int64{0, 0})
	c.expectEOF()
}

func TestPacketsTouchTheSession(t *testing.T) {
	s := start(t, WithTickTime(10*time.Millisecond))
	a := connect(t, s.Addr(0), long)
	bucket := func() (b int64) {
		s.admin(func() { b = s.sessions[a.sessionID].expireAt })
		return b
	}
	// Pings move the session to a later bucket as time goes by: the loop
	// ends within about a tick, or never if pings did not touch.
	first := bucket()
	deadline := time.Now().Add(ioWait)
	for bucket() == first {
		if time.Now().After(deadline) {
			t.Fatal("pings do not touch the session")
		}
		a.ping()
	}
	if bucket() < first {
		t.Fatal("touch moved the session to an earlier bucket")
	}
}

func TestExpireSession(t *testing.T) {
	s := start(t)
	a := connect(t, s.Addr(0), long)
	b := connect(t, s.Addr(0), long)
	a.create("/e", nil, proto.FlagEphemeral)
	b.getData("/e", true)
	z := s.Zxid()
	if !s.ExpireSession(a.sessionID) {
		t.Fatal("ExpireSession: session not found")
	}
	b.expectEvent(proto.EventNodeDeleted, "/e")
	a.expectEOF()
	eq(t, "one closeSession transaction", s.Zxid(), z+1)
	if err := s.WaitSessionGone(testCtx(t), a.sessionID); err != nil {
		t.Fatal(err)
	}
	if s.ExpireSession(a.sessionID) {
		t.Fatal("expired twice")
	}
	eq(t, "ephemerals", len(s.Ephemerals(a.sessionID)), 0)
	if _, ok := s.SessionTimeout(a.sessionID); ok {
		t.Fatal("SessionTimeout of an expired session")
	}
}

func TestExpiryWhileDisconnected(t *testing.T) {
	s := start(t, WithTickTime(20*time.Millisecond), WithSessionTimeoutRange(40*time.Millisecond, time.Minute))
	a := connect(t, s.Addr(0), 40)
	a.create("/e", nil, proto.FlagEphemeral)
	s.DropConnections()
	a.expectEOF()
	// The session lives on while disconnected, then expires.
	if err := s.WaitSessionGone(testCtx(t), a.sessionID); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := s.Get("/e"); ok {
		t.Fatal("ephemeral survived its session")
	}
}

func TestCloseSession(t *testing.T) {
	s := start(t)
	a := connect(t, s.Addr(0), long)
	b := connect(t, s.Addr(0), long)
	a.create("/e1", nil, proto.FlagEphemeral)
	a.create("/e2", nil, proto.FlagEphemeral)
	b.exists("/e1", true)
	b.exists("/e2", true)
	a.getData("/e1", true) // its own watch fires before the reply
	xid := a.send(proto.OpCloseSession, nil)
	h := a.await(xid, nil)
	eq(t, "closeSession reply", h, proto.ReplyHeader{Xid: xid, Zxid: s.Zxid(), Err: 0})
	eq(t, "own event", a.events, []proto.WatcherEvent{{Type: proto.EventNodeDeleted, State: proto.KeeperSyncConnected, Path: "/e1"}})
	a.expectEOF()
	// The deletes go in the real server's order, a copy of the session's
	// HashSet of paths: "/e2" first.
	b.expectEvent(proto.EventNodeDeleted, "/e2")
	b.expectEvent(proto.EventNodeDeleted, "/e1")
	eq(t, "sessions", s.Sessions(), []int64{b.sessionID})
	_, st1, _ := s.Get("/")
	eq(t, "one transaction for both deletes", st1.Pzxid, s.Zxid())

	c, resp := resume(t, s.Addr(0), a)
	eq(t, "closed session answer", resp.SessionID, int64(0))
	c.expectEOF()
}

func TestDisconnectKeepsSession(t *testing.T) {
	s := start(t)
	a := connect(t, s.Addr(0), long)
	a.create("/e", nil, proto.FlagEphemeral)
	a.nc.Close()
	if err := s.WaitConnections(testCtx(t), 0); err != nil {
		t.Fatal(err)
	}
	eq(t, "sessions", s.Sessions(), []int64{a.sessionID})
	a2, _ := resume(t, s.Addr(0), a)
	var r proto.ChildrenResponse
	a2.mustCall(0, proto.OpGetEphemerals, &proto.PathRequest{}, &r)
	eq(t, "ephemerals after resume", r.Children, []string{"/e"})
}
