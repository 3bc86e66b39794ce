package testserver

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/zkgo/zk/internal/proto"
)

// Settings of FuzzServerRequests. The server's tick is short and its timeout
// range bounded, so that the sessions the inputs open and abandon expire soon
// after.
const (
	fuzzTick       = 20 * time.Millisecond
	fuzzMaxTimeout = 4 * time.Second
	// helloTimeout is the session timeout (ms) the harness asks for: the
	// longest granted. The inputs that replace the handshake choose their
	// own, down to two ticks, for sessions that expire mid-stream.
	helloTimeout = int32(fuzzMaxTimeout / time.Millisecond)
	// closeWait bounds the wait for the server to close a connection after
	// the client's EOF. It is well under the harness's session timeout
	// (fuzzMaxTimeout): were the session to expire first, its expiry would
	// close a connection whose reader hung, and hide the hang.
	closeWait = 2 * time.Second
	// sessionGrace is how long after fuzzMaxTimeout (and a tick of bucket
	// rounding) an abandoned session may still exist before it counts as
	// leaked: room for a loaded machine to be late with the sweep.
	sessionGrace = 3 * time.Second
	// goroutineSlack bounds the goroutines above the count before the first
	// input: a leak of one per input trips it within a hundred inputs.
	goroutineSlack = 100
)

// The low bit of an input's first byte says how its other bytes are sent.
const (
	fuzzAfterHandshake byte = 0 // after the harness's own new-session handshake
	fuzzInsteadOfHello byte = 1 // from the first byte on, in place of the ConnectRequest
)

// fuzzSeeds returns the seed inputs of FuzzServerRequests: valid requests of
// most opcodes, then frames and records that are malformed in the ways a
// broken client's are.
func fuzzSeeds() [][]byte {
	be32 := func(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
	input := func(mode byte, parts ...[]byte) []byte {
		return append([]byte{mode}, bytes.Join(parts, nil)...)
	}
	after := func(parts ...[]byte) []byte { return input(fuzzAfterHandshake, parts...) }
	instead := func(parts ...[]byte) []byte { return input(fuzzInsteadOfHello, parts...) }
	req := requestFrame
	pw := func(xid int32, op int32, path string, watch bool) []byte {
		return req(xid, op, &proto.PathWatchRequest{Path: path, Watch: watch})
	}
	hello := proto.AppendFrame(nil, &proto.ConnectRequest{TimeOut: helloTimeout, Passwd: make([]byte, proto.PasswordLen)})
	ping := req(proto.XidPing, proto.OpPing, nil)
	mop := func(op int32, rec proto.Record) proto.MultiOp { return proto.MultiOp{Type: op, Req: rec} }

	// A getData whose path length claims more bytes than the frame holds.
	truncPath := append(req(1, proto.OpGetData, nil), be32(100)...)
	truncPath = append(truncPath, "/a"...)
	binary.BigEndian.PutUint32(truncPath, uint32(len(truncPath)-4))
	// A multi with one op and no done header after it.
	unterminated := proto.AppendFrame(nil, &proto.RequestHeader{Xid: 1, OpCode: proto.OpMulti},
		&proto.MultiHeader{Type: proto.OpCreate, Err: -1}, createReq("/fz-m", nil, 0))
	// A request frame too short for its header.
	shortHeader := append(be32(4), be32(1)...)

	return [][]byte{
		{},
		after(ping),
		after(req(1, proto.OpCreate, createReq("/fz", []byte("data"), 0)),
			pw(2, proto.OpGetData, "/fz", true),
			req(3, proto.OpSetData, &proto.SetDataRequest{Path: "/fz", Data: []byte("more"), Version: -1}),
			pw(4, proto.OpGetChildren2, "/", true),
			req(5, proto.OpDelete, &proto.PathVersionRequest{Path: "/fz", Version: -1})),
		after(req(1, proto.OpCreate2, createReq("/fz-e-", nil, proto.FlagEphemeralSequential)),
			pw(2, proto.OpExists, "/fz-none", true),
			req(3, proto.OpGetEphemerals, &proto.PathRequest{Path: "/"})),
		after(req(1, proto.OpMulti, &proto.MultiRequest{Ops: []proto.MultiOp{
			mop(proto.OpCreate, createReq("/fz-m", nil, 0)),
			mop(proto.OpSetData, &proto.SetDataRequest{Path: "/fz-m", Data: []byte("x"), Version: 0}),
			mop(proto.OpCheck, &proto.PathVersionRequest{Path: "/fz-m", Version: 1}),
			mop(proto.OpDelete, &proto.PathVersionRequest{Path: "/fz-m", Version: -1}),
		}})),
		after(req(1, proto.OpMulti, &proto.MultiRequest{Ops: []proto.MultiOp{
			mop(proto.OpCreate, createReq("/fz-mc", nil, proto.FlagContainer)),
			mop(proto.OpCreateTTL, &proto.CreateRequest{Path: "/fz-mt", ACL: openACL, Flags: proto.FlagPersistentSequentialWithTTL, TTL: 100, IsTTL: true}),
			mop(proto.OpCreate, createReq("/fz-mc", nil, 0)), // exists: the whole multi rolls back
		}})),
		after(req(1, proto.OpMultiRead, &proto.MultiRequest{Ops: []proto.MultiOp{
			mop(proto.OpGetData, &proto.PathWatchRequest{Path: "/zookeeper"}),
			mop(proto.OpGetChildren, &proto.PathWatchRequest{Path: "/", Watch: true}),
		}})),
		after(req(proto.XidSetWatches, proto.OpSetWatches, &proto.SetWatches{
			RelativeZxid: 1, DataWatches: []string{"/fz"}, ExistWatches: []string{"/fz-x"}, ChildWatches: []string{"/"},
		})),
		after(req(proto.XidSetWatches, proto.OpSetWatches, &proto.SetWatches{
			ExistWatches: []string{"/"}, ChildWatches: []string{"/zookeeper"},
		})),
		after(req(proto.XidSetWatches, proto.OpSetWatches2, &proto.SetWatches{
			DataWatches: []string{"/"}, PersistentWatches: []string{"/fz"}, PersistentRecursive: []string{"/"}, V2: true,
		})),
		after(req(1, proto.OpAddWatch, &proto.PathTypeRequest{Path: "/", Type: proto.AddWatchPersistentRecursive}),
			req(2, proto.OpCheckWatches, &proto.PathTypeRequest{Path: "/", Type: proto.WatcherAny}),
			req(3, proto.OpRemoveWatches, &proto.PathTypeRequest{Path: "/", Type: proto.WatcherData})),
		after(req(proto.XidAuth, proto.OpAuth, &proto.AuthPacket{Scheme: "digest", Auth: []byte("user:pass")}),
			req(1, proto.OpWhoAmI, nil),
			req(2, proto.OpSetACL, &proto.SetACLRequest{Path: "/zookeeper", ACL: openACL, Version: -1}),
			req(3, proto.OpGetACL, &proto.PathRequest{Path: "/zookeeper/config"})),
		after(req(1, proto.OpCreate, &proto.CreateRequest{Path: "/fz-acl", ACL: []proto.ACL{
			{Perms: proto.PermRead, Id: proto.Id{Scheme: "ip", ID: "127.0.0.1"}},
			{Perms: proto.PermAll, Id: proto.Id{Scheme: "ip", ID: "10.0.0.0/8"}},
			{Perms: proto.PermAll, Id: proto.Id{Scheme: "digest", ID: "user:smGaoVKd/cQkjm7b88GyorAUz20="}},
		}}),
			req(2, proto.OpSetData, &proto.SetDataRequest{Path: "/fz-acl", Version: -1}),
			req(3, proto.OpGetACL, &proto.PathRequest{Path: "/fz-acl"}),
			req(4, proto.OpCreate, createReq("/fz-acl/kid", nil, 0)),
			req(proto.XidAuth, proto.OpAuth, &proto.AuthPacket{Scheme: "ip"}),
			req(5, proto.OpSetACL, &proto.SetACLRequest{Path: "/fz-acl", ACL: []proto.ACL{
				{Perms: proto.PermAll, Id: proto.Id{Scheme: "auth"}},
			}, Version: -1}),
			req(6, proto.OpDelete, &proto.PathVersionRequest{Path: "/fz-acl", Version: -1})),
		after(req(proto.XidAuth, proto.OpAuth, &proto.AuthPacket{Scheme: "digest", Auth: []byte("user:pass")}),
			req(1, proto.OpCreate, &proto.CreateRequest{Path: "/fz-mine", ACL: []proto.ACL{
				{Perms: proto.PermAll, Id: proto.Id{Scheme: "auth"}},
			}}),
			req(2, proto.OpSetACL, &proto.SetACLRequest{Path: "/fz-mine", ACL: []proto.ACL{
				{Perms: proto.PermAll, Id: proto.Id{Scheme: "digest", ID: "nocolon"}},
				{Perms: proto.PermAll, Id: proto.Id{Scheme: "ip", ID: "1.2.3.4/33"}},
			}, Version: -1}),
			req(3, proto.OpDelete, &proto.PathVersionRequest{Path: "/fz-mine", Version: -1})),
		after(req(proto.XidAuth, proto.OpAuth, &proto.AuthPacket{Scheme: "kerberos", Auth: []byte("x")}), ping),
		after(req(1, proto.OpCreate, createReq("/fz-eph", nil, proto.FlagEphemeral)),
			pw(2, proto.OpExists, "/fz-eph", true),
			req(3, proto.OpCloseSession, nil)),
		after(req(1, proto.OpCloseSession, nil), ping),
		after(req(1, proto.OpCreateTTL, &proto.CreateRequest{Path: "/fz-ttl", ACL: openACL, Flags: proto.FlagPersistentWithTTL, TTL: 1, IsTTL: true}),
			req(2, proto.OpCreateContainer, createReq("/fz-c", nil, proto.FlagContainer)),
			req(3, proto.OpDeleteContainer, &bufferRecord{B: []byte("/fz-c")}),
			req(4, proto.OpGetAllChildrenNumber, &proto.PathRequest{Path: "/"}),
			req(5, proto.OpSync, &proto.PathRequest{Path: "/"})),
		after(req(1, proto.OpReconfig, &proto.ReconfigRequest{CurConfigID: -1}),
			req(2, proto.OpSASL, &bufferRecord{B: []byte("token")}),
			req(3, proto.OpCheck, &proto.PathVersionRequest{Path: "/", Version: -1})),
		after(req(1, 999, nil)),
		// SASL DIGEST-MD5 (the server has a user): a challenge, then a
		// response that quotes, escapes and repeats its directives.
		after(req(1, proto.OpSASL, &bufferRecord{B: []byte{}}),
			req(2, proto.OpSASL, &bufferRecord{B: []byte(`username="bob",realm="zk-sasl-md5",nonce="n\"x",nonce=y,cnonce="c",nc=00000001,qop=auth,digest-uri="zookeeper/zk-sasl-md5",response=00`)})),

		// Malformed frames and records.
		after(be32(-1)),
		after(be32(0), ping),
		after(be32(1<<30), make([]byte, 8)),
		after(be32(DefaultMaxFrameSize), ping),
		after(shortHeader, ping),
		after(truncPath, ping),
		after(ping[:7]),
		after(req(1, proto.OpCreate, createReq("fz", nil, 0)), pw(2, proto.OpGetData, "fz", false),
			req(3, proto.OpDelete, &proto.PathVersionRequest{Path: "fz", Version: -1})),
		after(unterminated, ping),
		after(req(1, proto.OpMulti, &proto.MultiRequest{Ops: []proto.MultiOp{
			mop(proto.OpGetData, &proto.PathWatchRequest{Path: "/"}),
		}})),

		// In place of the handshake.
		instead(hello, ping),
		instead(withoutReadOnly(hello), ping),
		instead(proto.AppendFrame(nil, &proto.ConnectRequest{TimeOut: 1, Passwd: make([]byte, 16)}), ping),
		instead(proto.AppendFrame(nil, &proto.ConnectRequest{LastZxidSeen: 1 << 40, TimeOut: 1, Passwd: make([]byte, 16)})),
		instead(proto.AppendFrame(nil, &proto.ConnectRequest{TimeOut: 1, SessionID: 0x0100000000000042, Passwd: make([]byte, 16)})),
		instead(hello[:20]),
		instead(be32(-1)),
		instead(be32(0), ping),
		instead([]byte("srvr")),
		instead([]byte("ruok")),
		instead(be32(-0xb0003)), // telnet's interrupt-and-close
	}
}

// FuzzServerRequests sends one server, shared by every input, what a broken
// or hostile client might: after a valid handshake (or in place of one, by
// the input's first byte) the input's bytes go out as they are, then the
// client half-closes. Whatever the bytes, the server must close the
// connection once it has the client's EOF, without panicking, and then
// still serve a new client; the connections, sessions and goroutines it
// holds must not pile up across inputs.
//
// Inputs run one at a time within a process (the fuzzer's workers are
// separate processes, each with its own server). The tree carries over from
// one input to the next, as on a server shared by many clients, so a failure
// may need the inputs before it.
func FuzzServerRequests(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	s := Start(f, WithTickTime(fuzzTick), WithSessionTimeoutRange(2*fuzzTick, fuzzMaxTimeout),
		WithSASLUsers(map[string]string{"bob": "pw"}))
	goroutines := runtime.NumGoroutine()
	var abandoned []abandonedSession // oldest first

	f.Fuzz(func(t *testing.T, in []byte) {
		mode, data := fuzzAfterHandshake, in
		if len(in) > 0 {
			mode, data = in[0]&1, in[1:]
		}
		var c *client
		if mode == fuzzAfterHandshake {
			c = connect(t, s.Addr(0), helloTimeout)
		} else {
			c = dial(t, s.Addr(0))
		}
		// A server that hung up early makes the write fail: only a write
		// that cannot finish means trouble (the server stopped reading
		// without closing).
		c.nc.SetWriteDeadline(time.Now().Add(ioWait))
		if _, err := c.nc.Write(data); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("server neither read %d bytes nor closed in %v", len(data), ioWait)
		}
		c.nc.(*net.TCPConn).CloseWrite()
		head := c.drain()
		c.nc.Close()

		sid := c.sessionID
		if mode == fuzzInsteadOfHello {
			sid = grantedSession(head)
		}
		if sid != 0 {
			abandoned = append(abandoned, abandonedSession{id: sid, at: time.Now(), input: bytes.Clone(in)})
		}

		// A new client still gets a session, a ping answered and the
		// session closed: the handshake, the request loop and a
		// transaction all still work.
		h := connect(t, s.Addr(0), helloTimeout)
		h.ping()
		h.mustCall(0, proto.OpCloseSession, nil, nil)
		h.expectEOF()
		if _, ok := s.SessionTimeout(h.sessionID); ok {
			t.Fatal("closed session still listed")
		}

		// Both connections ended on the server's side before the client
		// saw them end, so none may be left.
		if err := s.WaitConnections(testCtx(t), 0); err != nil {
			t.Fatal(err)
		}
		if n := runtime.NumGoroutine(); n > goroutines+goroutineSlack {
			t.Fatalf("%d goroutines, %d before the first input", n, goroutines)
		}
		limit := fuzzMaxTimeout + fuzzTick + sessionGrace
		for len(abandoned) > 0 && time.Since(abandoned[0].at) > limit {
			a := abandoned[0]
			if _, ok := s.SessionTimeout(a.id); ok {
				t.Fatalf("session 0x%x still alive %v after its connection closed; it was opened for the input %q",
					a.id, time.Since(a.at).Round(time.Millisecond), a.input)
			}
			abandoned = abandoned[1:]
		}
	})
}

// abandonedSession is a session an input opened and left to expire.
type abandonedSession struct {
	id    int64
	at    time.Time // when its connection closed
	input []byte
}

// drain reads until the server closes the connection, and returns the
// first bytes it sent. Not seeing the close within closeWait fails the test.
func (c *client) drain() []byte {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(closeWait))
	var head []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := c.nc.Read(buf)
		head = append(head, buf[:min(n, 64-len(head))]...)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.t.Fatalf("connection still open %v after the client's EOF", closeWait)
		}
		if err != nil { // EOF, or a reset when the server left bytes unread
			return head
		}
	}
}

// grantedSession returns the session id the server's first frame grants, or
// 0 if that frame is not a ConnectResponse with a session.
func grantedSession(head []byte) int64 {
	if len(head) < 4 {
		return 0
	}
	n := int64(int32(binary.BigEndian.Uint32(head)))
	if n < 0 || n > int64(len(head)-4) {
		return 0
	}
	var resp proto.ConnectResponse
	if proto.DecodeRecord(head[4:4+n], &resp) != nil || resp.TimeOut <= 0 {
		return 0
	}
	return resp.SessionID
}
