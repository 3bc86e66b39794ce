package testserver

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/zkgo/zk/internal/proto"
)

// withoutReadOnly drops the optional trailing readOnly byte of a
// ConnectRequest frame, as an old client sends it.
func withoutReadOnly(frame []byte) []byte {
	out := bytes.Clone(frame[:len(frame)-1])
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out
}

func TestHandshakeNewSession(t *testing.T) {
	s := start(t)
	c := dial(t, s.Addr(0))
	req := proto.ConnectRequest{TimeOut: 1000, Passwd: make([]byte, 16)}
	c.writeRaw(proto.AppendFrame(nil, &req))
	b := c.frame()
	eq(t, "response length (readOnly byte sent)", len(b), 37)
	var resp proto.ConnectResponse
	if err := proto.DecodeRecord(b, &resp); err != nil {
		t.Fatal(err)
	}
	eq(t, "timeout", resp.TimeOut, int32(1000))
	eq(t, "server id byte", byte(uint64(resp.SessionID)>>56), byte(1))
	eq(t, "password length", len(resp.Passwd), 16)
	if bytes.Equal(resp.Passwd, make([]byte, 16)) {
		t.Fatal("password is all zero")
	}
	eq(t, "sessions", s.Sessions(), []int64{resp.SessionID})
	if to, ok := s.SessionTimeout(resp.SessionID); !ok || to != time.Second {
		t.Fatalf("SessionTimeout = %v, %v", to, ok)
	}

	// An old client leaves the readOnly byte out and gets none back.
	old := dial(t, s.Addr(0))
	old.writeRaw(withoutReadOnly(proto.AppendFrame(nil, &req)))
	b = old.frame()
	eq(t, "response length (no readOnly byte)", len(b), 36)
	if err := proto.DecodeRecord(b, &resp); err != nil || resp.SessionID == 0 {
		t.Fatalf("old client: %+v, %v", resp, err)
	}
	eq(t, "session count", len(s.Sessions()), 2)
	// The session ids are distinct and the next one follows.
	ids := s.Sessions()
	eq(t, "id gap", ids[1]-ids[0], int64(1))
	// A fresh session is a transaction: each took a zxid.
	eq(t, "zxid after two sessions", s.Zxid(), int64(2))
}

func TestHandshakeTimeoutClamp(t *testing.T) {
	tests := []struct {
		tick      time.Duration
		ask, want int32
	}{
		{200 * time.Millisecond, 1, 400},
		{200 * time.Millisecond, 10_000_000, 4000},
		{200 * time.Millisecond, 1234, 1234},
		{2 * time.Second, 1, 4000},
		{2 * time.Second, 10_000_000, 40000},
	}
	for _, tt := range tests {
		s := Start(t, WithTickTime(tt.tick))
		c := connect(t, s.Addr(0), tt.ask)
		eq(t, "negotiated timeout", c.timeout, tt.want)
	}
	s := Start(t, WithSessionTimeoutRange(50*time.Millisecond, 70*time.Millisecond))
	eq(t, "custom range, low", connect(t, s.Addr(0), 1).timeout, int32(50))
	eq(t, "custom range, high", connect(t, s.Addr(0), long).timeout, int32(70))
}

func TestHandshakeResume(t *testing.T) {
	s := start(t)
	c1 := connect(t, s.Addr(0), long)
	c1.create("/eph", nil, proto.FlagEphemeral)

	c1.timeout = 123456 // ask for another timeout on the new connection
	c2, resp := resume(t, s.Addr(0), c1)
	eq(t, "resumed id", resp.SessionID, c1.sessionID)
	eq(t, "resumed password", resp.Passwd, c1.passwd)
	eq(t, "renegotiated timeout", resp.TimeOut, int32(123456))
	if to, _ := s.SessionTimeout(c1.sessionID); to != 123456*time.Millisecond {
		t.Fatalf("SessionTimeout = %v", to)
	}
	// The older connection of the session is closed.
	c1.expectEOF()
	eq(t, "ephemerals", s.Ephemerals(c1.sessionID), []string{"/eph"})
	if _, code := c2.getData("/eph", false); code != 0 {
		t.Fatalf("getData on resumed session: %d", code)
	}
	eq(t, "connections", s.Connections(), 1)
}

func zeroResponse(t *testing.T, b []byte) {
	t.Helper()
	want := make([]byte, 37)
	want[19] = 16 // the password's length prefix, after version, timeout and id
	eq(t, "refusal bytes", b, want)
}

func TestHandshakeWrongPassword(t *testing.T) {
	s := start(t)
	c1 := connect(t, s.Addr(0), long)
	bad := dial(t, s.Addr(0))
	pw := bytes.Clone(c1.passwd)
	pw[0] ^= 1
	bad.writeRaw(proto.AppendFrame(nil, &proto.ConnectRequest{TimeOut: 1000, SessionID: c1.sessionID, Passwd: pw}))
	zeroResponse(t, bad.frame())
	bad.expectEOF()
	// The session's live connection is closed too (§18), but the session
	// survives and the right password gets back in.
	c1.expectEOF()
	eq(t, "sessions", s.Sessions(), []int64{c1.sessionID})
	c2, resp := resume(t, s.Addr(0), c1)
	eq(t, "resumed", resp.SessionID, c1.sessionID)
	c2.ping()
}

func TestHandshakeUnknownSession(t *testing.T) {
	s := start(t)
	c := dial(t, s.Addr(0))
	c.writeRaw(proto.AppendFrame(nil, &proto.ConnectRequest{TimeOut: 1000, SessionID: 0x0100000000000042, Passwd: make([]byte, 16)}))
	zeroResponse(t, c.frame())
	c.expectEOF()
	eq(t, "sessions", len(s.Sessions()), 0)
}

func TestHandshakeZxidAhead(t *testing.T) {
	s := start(t)
	c := dial(t, s.Addr(0))
	c.writeRaw(proto.AppendFrame(nil, &proto.ConnectRequest{LastZxidSeen: s.Zxid() + 1, TimeOut: 1000, Passwd: make([]byte, 16)}))
	c.expectEOF() // no response at all
	eq(t, "sessions", len(s.Sessions()), 0)

	// Equal is fine.
	c = dial(t, s.Addr(0))
	resp := c.handshake(proto.ConnectRequest{LastZxidSeen: s.Zxid(), TimeOut: 1000, Passwd: make([]byte, 16)})
	if resp.SessionID == 0 {
		t.Fatal("refused a client whose zxid equals the server's")
	}
}

func TestPingReply(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	c.create("/p", nil, 0)
	h := c.ping()
	eq(t, "ping reply", h, proto.ReplyHeader{Xid: proto.XidPing, Zxid: s.Zxid(), Err: 0})
	// xid -2 comes back even when the ping was sent with another xid.
	c.sendXid(77, proto.OpPing, nil)
	h = c.await(proto.XidPing, nil)
	eq(t, "ping reply to xid 77", h.Xid, proto.XidPing)
}
