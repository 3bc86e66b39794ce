package testserver

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/zkgo/zk/internal/proto"
)

func TestBlackhole(t *testing.T) {
	dropped := make(chan int, 16)
	s := start(t, WithListeners(2), withDropHook(func(l int) { dropped <- l }))
	c := connect(t, s.Addr(0), long)
	c.create("/a", nil, 0)

	s.Blackhole(0, true)
	x1 := c.send(proto.OpGetData, &proto.PathWatchRequest{Path: "/a"})
	eq(t, "dropped on listener", <-dropped, 0)
	// A new connection on the silent listener gets no handshake answer.
	n := dial(t, s.Addr(0))
	n.writeRaw(proto.AppendFrame(nil, &proto.ConnectRequest{TimeOut: 2000, Passwd: make([]byte, 16)}))
	eq(t, "handshake dropped on listener", <-dropped, 0)
	// The other listener still answers.
	d := connect(t, s.Addr(1), long)
	d.ping()

	s.Blackhole(0, false)
	// x1 was never processed: the next reply on c is the one to x2 (await
	// fails on any other xid).
	x2 := c.send(proto.OpGetData, &proto.PathWatchRequest{Path: "/a"})
	if x2 == x1 {
		t.Fatal("xids collide")
	}
	eq(t, "reply after the blackhole", c.await(x2, &proto.GetDataResponse{}).Err, int32(0))
	// The swallowed handshake created nothing; the next one is answered.
	resp := n.handshake(proto.ConnectRequest{TimeOut: 2000, Passwd: make([]byte, 16)})
	if resp.SessionID == 0 {
		t.Fatal("handshake refused after the blackhole")
	}
	eq(t, "sessions", len(s.Sessions()), 3)
}

func TestBlackholedSessionExpires(t *testing.T) {
	dropped := make(chan int, 64)
	s := start(t, WithTickTime(20*time.Millisecond), WithSessionTimeoutRange(40*time.Millisecond, time.Minute),
		withDropHook(func(l int) {
			select {
			case dropped <- l:
			default:
			}
		}))
	a := connect(t, s.Addr(0), 40)
	s.Blackhole(0, true)
	// Pings go unanswered and keep nothing alive.
	a.sendXid(proto.XidPing, proto.OpPing, nil)
	<-dropped
	if err := s.WaitSessionGone(testCtx(t), a.sessionID); err != nil {
		t.Fatal(err)
	}
	a.expectEOF()
}

func TestFailNext(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	c.create("/a", []byte("x"), 0)
	s.FailNext(proto.OpGetData, proto.ErrNoAuth)
	s.FailNext(proto.OpGetData, proto.ErrOperationTimeout)
	_, code := c.getData("/a", true)
	eq(t, "first injected", code, proto.ErrNoAuth)
	_, code = c.getData("/a", false)
	eq(t, "second injected", code, proto.ErrOperationTimeout)
	_, code = c.getData("/a", false)
	eq(t, "then normal", code, int32(0))
	// The failed getData set no watch.
	c.setData("/a", nil, -1)
	c.expectNoEvents()

	z := s.Zxid()
	s.FailNext(proto.OpCreate, proto.ErrNodeExists)
	eq(t, "injected create error", c.call(proto.OpCreate, createReq("/b", nil, 0), nil), proto.ErrNodeExists)
	eq(t, "nothing ran", s.Zxid(), z)
	if _, _, ok := s.Get("/b"); ok {
		t.Fatal("create ran")
	}
	s.FailNext(proto.OpPing, proto.ErrSessionExpired)
	eq(t, "failed ping", c.ping(), proto.ReplyHeader{Xid: proto.XidPing, Zxid: z, Err: proto.ErrSessionExpired})
}

func TestDropConnections(t *testing.T) {
	s := start(t, WithListeners(2))
	a := connect(t, s.Addr(0), long)
	b := connect(t, s.Addr(1), long)
	eq(t, "connections", s.Connections(), 2)
	s.DropConnections()
	a.expectEOF()
	b.expectEOF()
	eq(t, "connections after drop", s.Connections(), 0)
	eq(t, "sessions survive", len(s.Sessions()), 2)
	a2, resp := resume(t, s.Addr(1), a) // any listener: one tree
	eq(t, "resumed", resp.SessionID, a.sessionID)
	a2.ping()
}

func TestStopStartListener(t *testing.T) {
	s := start(t, WithListeners(2))
	a := connect(t, s.Addr(0), long)
	b := connect(t, s.Addr(1), long)
	addr := s.Addr(0)
	s.StopListener(0)
	a.expectEOF()
	b.ping()
	if nc, err := net.DialTimeout("tcp", addr, ioWait); err == nil {
		nc.Close()
		t.Fatal("dial of a stopped listener succeeded")
	}
	s.StopListener(0) // again: nothing
	if err := s.StartListener(0); err != nil {
		t.Fatal(err)
	}
	if err := s.StartListener(0); err != nil {
		t.Fatal("second start:", err)
	}
	eq(t, "same address", s.Addr(0), addr)
	a2, resp := resume(t, addr, a)
	eq(t, "resumed after restart", resp.SessionID, a.sessionID)
	a2.ping()
	eq(t, "conn string", s.ConnString(), s.Addr(0)+","+s.Addr(1))
}

func TestCloseIdempotent(t *testing.T) {
	s, err := New(WithListeners(3))
	if err != nil {
		t.Fatal(err)
	}
	c := connect(t, s.Addr(2), 2000)
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	s.Close()
	<-done
	c.expectEOF()
	if s.Sessions() != nil || s.ExpireSession(c.sessionID) {
		t.Fatal("controls after Close saw state")
	}
	if err := s.WaitSessionGone(context.Background(), c.sessionID); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitSessionGone after Close: %v", err)
	}
	if err := s.StartListener(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("StartListener after Close: %v", err)
	}
	s.DropConnections()
	s.StopListener(1)
}

func TestWaitsHonourContext(t *testing.T) {
	s := start(t)
	a := connect(t, s.Addr(0), long)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.WaitSessionGone(ctx, a.sessionID); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitSessionGone: %v", err)
	}
	if err := s.WaitConnections(ctx, 5); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitConnections: %v", err)
	}
	if err := s.WaitSessionGone(ctx, 12345); err != nil {
		t.Fatalf("unknown session: %v", err)
	}
}

func TestBadOptions(t *testing.T) {
	for _, opts := range [][]Option{
		{WithListeners(0)},
		{WithTickTime(0)},
		{WithSessionTimeoutRange(time.Second, time.Millisecond)},
		{WithMaxFrameSize(0)},
		{WithReapInterval(-1)},
		{WithAddrs("256.0.0.1:0")},
	} {
		if s, err := New(opts...); err == nil {
			s.Close()
			t.Errorf("New(%v) succeeded", opts)
		}
	}
}
