package zk_test

// A hostile server: a scripted listener that completes a valid handshake
// (or a bad one) and then sends what the script says. The handle must drop
// the link with a clear error (or ignore what it may legitimately ignore),
// keep its session on a healthy server, never allocate what a length prefix
// claims, never panic, and close.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/proto"
)

// hostileServer accepts connections on 127.0.0.1 and runs script on each,
// with n counting connections from 1.
type hostileServer struct {
	ln     net.Listener
	script func(n int, hc *hostileConn)
	quit   chan struct{}
	wg     sync.WaitGroup

	mu    sync.Mutex // guards conns
	conns []net.Conn
}

func startHostile(t testing.TB, script func(n int, hc *hostileConn)) *hostileServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hs := &hostileServer{ln: ln, script: script, quit: make(chan struct{})}
	hs.wg.Add(1)
	go hs.accept()
	t.Cleanup(hs.close)
	return hs
}

func (hs *hostileServer) addr() string { return hs.ln.Addr().String() }

func (hs *hostileServer) accept() {
	defer hs.wg.Done()
	for n := 1; ; n++ {
		nc, err := hs.ln.Accept()
		if err != nil {
			return
		}
		hs.mu.Lock()
		hs.conns = append(hs.conns, nc)
		hs.mu.Unlock()
		runHostileConn(n, nc, hs.script, hs.quit, &hs.wg)
	}
}

// runHostileConn runs script on nc in a goroutine counted by wg; the
// connection is closed when the script is done and, if it served, when the
// handle has gone or quit is closed.
func runHostileConn(n int, nc net.Conn, script func(int, *hostileConn), quit chan struct{}, wg *sync.WaitGroup) {
	hc := &hostileConn{
		nc:        nc,
		fr:        proto.NewFrameReader(nc, 16<<20),
		reqs:      make(chan hostileReq, 256),
		done:      make(chan struct{}),
		watchesIn: make(chan struct{}),
		quit:      quit,
		wg:        wg,
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer nc.Close()
		script(n, hc)
		if hc.serving {
			// Keep the link up while the handle wants it.
			select {
			case <-hc.done:
			case <-quit:
			}
		}
	}()
}

// pipeServer is a hostile server without sockets: its dialer (for
// zk.WithDialer) hands the handle one end of a net.Pipe whose other end runs
// the script; only the first dial succeeds.
type pipeServer struct {
	script func(int, *hostileConn)
	quit   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex // guards n and conns
	n      int
	conns  []net.Conn
}

func startPipeServer(t testing.TB, script func(int, *hostileConn)) *pipeServer {
	ps := &pipeServer{script: script, quit: make(chan struct{})}
	t.Cleanup(func() {
		close(ps.quit)
		ps.mu.Lock()
		for _, nc := range ps.conns {
			nc.Close()
		}
		ps.mu.Unlock()
		ps.wg.Wait()
	})
	return ps
}

var errNoMoreDials = errors.New("hostile pipe server: one connection only")

func (ps *pipeServer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.n++
	if ps.n > 1 {
		return nil, errNoMoreDials
	}
	client, server := net.Pipe()
	ps.conns = append(ps.conns, client, server)
	runHostileConn(ps.n, server, ps.script, ps.quit, &ps.wg)
	return client, nil
}

// close stops the listener, closes every connection and waits for every
// goroutine of the server.
func (hs *hostileServer) close() {
	select {
	case <-hs.quit:
	default:
		close(hs.quit)
	}
	hs.ln.Close()
	hs.mu.Lock()
	for _, nc := range hs.conns {
		nc.Close()
	}
	hs.mu.Unlock()
	hs.wg.Wait()
}

// hostileConn is one connection of a hostileServer.
type hostileConn struct {
	nc   net.Conn
	fr   *proto.FrameReader
	wmu  sync.Mutex // serializes writes
	reqs chan hostileReq
	done chan struct{} // closed when the responder exits
	quit <-chan struct{}
	// watchesIn is closed once the responder has answered a SetWatches.
	watchesIn   chan struct{}
	watchesOnce sync.Once
	wg          *sync.WaitGroup
	serving     bool
}

// hostileReq is a request the handle sent.
type hostileReq struct {
	xid, op int32
	body    []byte
}

// readConnect reads the handle's ConnectRequest.
func (hc *hostileConn) readConnect() (proto.ConnectRequest, error) {
	var req proto.ConnectRequest
	hc.nc.SetReadDeadline(time.Now().Add(waitTime))
	frame, err := hc.fr.Next()
	if err != nil {
		return req, err
	}
	hc.nc.SetReadDeadline(time.Time{})
	return req, proto.DecodeRecord(frame, &req)
}

func (hc *hostileConn) write(b []byte) error {
	hc.wmu.Lock()
	defer hc.wmu.Unlock()
	hc.nc.SetWriteDeadline(time.Now().Add(waitTime))
	_, err := hc.nc.Write(b)
	return err
}

// acceptSession answers the handshake by accepting the session the handle
// asks for, as a member of its ensemble would.
func (hc *hostileConn) acceptSession(req proto.ConnectRequest) error {
	resp := proto.ConnectResponse{TimeOut: req.TimeOut, SessionID: req.SessionID, Passwd: req.Passwd}
	if resp.SessionID == 0 {
		resp.SessionID = 0x0badc0de
	}
	if len(resp.Passwd) != proto.PasswordLen {
		resp.Passwd = make([]byte, proto.PasswordLen)
	}
	return hc.write(proto.AppendFrame(nil, &resp))
}

// serve starts the responder: it answers pings and SetWatches as a server
// would and hands every other request to next.
func (hc *hostileConn) serve() {
	hc.serving = true
	hc.wg.Add(1)
	go func() {
		defer hc.wg.Done()
		defer close(hc.done)
		for {
			frame, err := hc.fr.Next()
			if err != nil {
				return
			}
			var h proto.RequestHeader
			if proto.DecodeRecord(frame[:min(8, len(frame))], &h) != nil {
				return
			}
			switch h.OpCode {
			case proto.OpPing:
				hc.write(replyFrame(proto.XidPing, 0, 0))
				continue
			case proto.OpSetWatches, proto.OpSetWatches2:
				hc.write(replyFrame(h.Xid, 0, 0))
				hc.watchesOnce.Do(func() { close(hc.watchesIn) })
				continue
			}
			select {
			case hc.reqs <- hostileReq{xid: h.Xid, op: h.OpCode, body: append([]byte(nil), frame[8:]...)}:
			case <-hc.quit:
				return
			}
		}
	}()
}

// next returns the next request that is not a ping or SetWatches.
func (hc *hostileConn) next(d time.Duration) (hostileReq, bool) {
	select {
	case r := <-hc.reqs:
		return r, true
	case <-time.After(d):
	case <-hc.done:
	case <-hc.quit:
	}
	return hostileReq{}, false
}

// replyFrame is a ReplyHeader followed by recs, as one frame.
func replyFrame(xid int32, zxid int64, code int32, recs ...proto.Record) []byte {
	return proto.AppendFrame(nil, append([]proto.Record{&proto.ReplyHeader{Xid: xid, Zxid: zxid, Err: code}}, recs...)...)
}

// rawFrame prefixes payload with its length.
// zeroChunk is a piece of a large reply body, written again and again.
var zeroChunk = make([]byte, 64<<10)

func rawFrame(payload []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

// replyPayload is a ReplyHeader's 16 bytes followed by tail, unframed.
func replyPayload(xid int32, code int32, tail []byte) []byte {
	e := proto.Encoder{}
	(&proto.ReplyHeader{Xid: xid, Err: code}).Encode(&e)
	return append(e.B, tail...)
}

func notification(typ int32, path string) []byte {
	return replyFrame(proto.XidNotification, -1, 0, &proto.WatcherEvent{Type: typ, State: 3, Path: path})
}

func getDataReply(xid int32, data string) []byte {
	return replyFrame(xid, 0, 0, &proto.GetDataResponse{Data: []byte(data), Stat: proto.Stat{Version: 7, DataLength: int32(len(data))}})
}

func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// hostileCase is one misbehaviour.
type hostileCase struct {
	name string
	// handshake, if set, answers every ConnectRequest (the hostile server
	// never gets a session going).
	handshake func(req proto.ConnectRequest) []byte
	// call makes the test issue Get("/x") once the script is armed; the
	// script gets its request.
	call bool
	// script misbehaves after a good handshake, on the first connection.
	script func(hc *hostileConn, req hostileReq)
	// keep: the link must survive (what was sent may legitimately come).
	keep      bool
	wantProto bool   // the error wraps zk.ErrProtocol
	wantMsg   string // the error contains this
	// checkCall checks the Get's result (nil: it must fail with
	// ErrConnectionLoss, the link having dropped under it).
	checkCall func(t *testing.T, data []byte, err error)
}

func hostileCases() []hostileCase {
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	return []hostileCase{
		{
			name:      "garbage frame",
			script:    func(hc *hostileConn, _ hostileReq) { hc.write(rawFrame([]byte{0xde, 0xad, 0xbe, 0xef, 0x00})) },
			wantProto: true, wantMsg: "short reply header",
		},
		{
			name:      "garbage stream",
			script:    func(hc *hostileConn, _ hostileReq) { hc.write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")) },
			wantProto: true, wantMsg: "exceeds the limit",
		},
		{
			name:      "2 GB length prefix",
			script:    func(hc *hostileConn, _ hostileReq) { hc.write(append(be32(0x7fffffff), make([]byte, 64)...)) },
			wantProto: true, wantMsg: "exceeds the limit",
		},
		{
			name:      "negative length prefix",
			script:    func(hc *hostileConn, _ hostileReq) { hc.write(append(be32(0xfffffffe), make([]byte, 64)...)) },
			wantProto: true, wantMsg: "negative length",
		},
		{
			name: "reply with the wrong xid", call: true,
			script:    func(hc *hostileConn, r hostileReq) { hc.write(getDataReply(r.xid+1000, "wrong")) },
			wantProto: true, wantMsg: "expected",
		},
		{
			name:      "reply with no request outstanding",
			script:    func(hc *hostileConn, _ hostileReq) { hc.write(getDataReply(77, "unasked")) },
			wantProto: true, wantMsg: "no request outstanding",
		},
		{
			name:      "auth reply with no auth outstanding",
			script:    func(hc *hostileConn, _ hostileReq) { hc.write(replyFrame(proto.XidAuth, 0, 0)) },
			wantProto: true, wantMsg: "no auth request outstanding",
		},
		{
			name: "malformed reply body", call: true,
			script:    func(hc *hostileConn, r hostileReq) { hc.write(rawFrame(replyPayload(r.xid, 0, []byte{1, 2, 3}))) },
			wantProto: true, wantMsg: "malformed reply",
		},
		{
			name: "truncated frame then close",
			script: func(hc *hostileConn, _ hostileReq) {
				hc.write(append(be32(100), make([]byte, 20)...))
				hc.nc.Close()
			},
			wantMsg: "unexpected EOF",
		},
		{
			// What a server does with an opcode it does not know (PROTOCOL.md
			// §5.3): reply -6 Unimplemented, then close.
			name: "unknown-opcode reply (error code, then close)", call: true,
			script: func(hc *hostileConn, r hostileReq) {
				hc.write(replyFrame(r.xid, 0, proto.ErrUnimplemented))
				hc.nc.Close()
			},
			wantMsg: "closed the connection",
			checkCall: func(t *testing.T, _ []byte, err error) {
				require.ErrorIs(t, err, zk.ErrUnimplemented, "the reply came before the close")
			},
		},
		{
			// A well-formed reply with a code this client does not know is
			// the call's answer, not a broken link.
			name: "reply with an unknown error code", call: true, keep: true,
			script: func(hc *hostileConn, r hostileReq) { hc.write(replyFrame(r.xid, 0, -999)) },
			checkCall: func(t *testing.T, _ []byte, err error) {
				var ze *zk.Error
				require.ErrorAs(t, err, &ze)
				require.Equal(t, int32(-999), ze.Code)
				require.ErrorContains(t, err, "-999")
				require.True(t, strings.HasPrefix(err.Error(), "zk: get /x: "), err.Error())
			},
		},
		{
			// A real server does not cap its replies: one above the
			// handle's frame limit (4 MiB by default) fails only its call.
			name: "reply above the frame limit", call: true, keep: true,
			script: func(hc *hostileConn, r hostileReq) {
				const body = 5 << 20
				// The reply header of a frame of 16 + 5 MiB bytes, then the
				// body from one small buffer (the test measures allocation).
				hc.write(append(be32(16+body), replyPayload(r.xid, 0, nil)...))
				for range body / len(zeroChunk) {
					hc.write(zeroChunk)
				}
			},
			checkCall: func(t *testing.T, _ []byte, err error) {
				require.ErrorIs(t, err, zk.ErrReplyTooLarge)
				require.ErrorContains(t, err, "zk: get /x: reply of 5242896 bytes is above the frame limit of 4194304 bytes")
			},
		},
		{
			name:      "notification of an unknown event type",
			script:    func(hc *hostileConn, _ hostileReq) { hc.write(notification(42, "/w")) },
			wantProto: true, wantMsg: "unknown event type 42",
		},
		{
			name: "malformed notification",
			script: func(hc *hostileConn, _ hostileReq) {
				hc.write(rawFrame(replyPayload(proto.XidNotification, 0, []byte{0, 0})))
			},
			wantProto: true, wantMsg: "malformed notification",
		},
		{
			// A server may send an event for a watch the handle no longer
			// has (one it abandoned or removed): it must be ignored, and the
			// watch the handle does have (on /w) must not fire.
			name: "notification for an unwatched path", call: true, keep: true,
			script: func(hc *hostileConn, r hostileReq) {
				hc.write(append(notification(proto.EventNodeDataChanged, "/nobody/watches/this"), getDataReply(r.xid, "still here")...))
			},
			checkCall: func(t *testing.T, data []byte, err error) {
				require.NoError(t, err)
				require.Equal(t, "still here", string(data), "the frame after the notification was read")
			},
		},
		{
			name: "handshake with a bad password length",
			handshake: func(req proto.ConnectRequest) []byte {
				return proto.AppendFrame(nil, &proto.ConnectResponse{TimeOut: req.TimeOut, SessionID: req.SessionID, Passwd: make([]byte, 8)})
			},
			wantProto: true, wantMsg: "password of 8 bytes",
		},
		{
			name:      "handshake with garbage",
			handshake: func(proto.ConnectRequest) []byte { return rawFrame([]byte{1, 2, 3}) },
			wantProto: true, wantMsg: "handshake",
		},
		{
			name:      "handshake with a 2 GB length prefix",
			handshake: func(proto.ConnectRequest) []byte { return append(be32(0x7fffffff), make([]byte, 64)...) },
			wantProto: true, wantMsg: "exceeds the limit",
		},
		{
			name:      "handshake with a negative length prefix",
			handshake: func(proto.ConnectRequest) []byte { return append(be32(0x80000000), make([]byte, 64)...) },
			wantProto: true, wantMsg: "negative length",
		},
		{
			name:      "handshake truncated",
			handshake: func(proto.ConnectRequest) []byte { return append(be32(37), make([]byte, 10)...) },
			wantMsg:   "unexpected EOF",
		},
	}
}

// TestHostileServer runs every misbehaviour against a handle whose session
// lives on a healthy in-memory server. For each: the handle moves to the
// hostile server (UpdateServers with only it), the hostile server
// misbehaves, and the handle must report it clearly, not allocate what a
// length prefix claims, and carry on with the same session on the healthy
// server (UpdateServers listed both before the misbehaviour, or lists the
// healthy one after a failed handshake).
func TestHostileServer(t *testing.T) {
	healthy := wideServer(t)
	for i, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			outcome := runHostileCase(t, healthy.Addr(0), fmt.Sprintf("/eph%d", i), tc)
			t.Logf("OUTCOME %s: %s", tc.name, outcome)
		})
	}
}

// fmtChangesErr is fmtChanges with each change's error.
func fmtChangesErr(cs []zk.StateChange) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "\n  %s (server %s, err %v)", c, c.Server, c.Err)
	}
	return b.String()
}

func runHostileCase(t *testing.T, healthyAddr, eph string, tc hostileCase) string {
	arm := make(chan struct{})
	hs := startHostile(t, func(n int, hc *hostileConn) {
		if tc.handshake != nil {
			req, err := hc.readConnect()
			if err == nil {
				hc.write(tc.handshake(req))
			}
			return
		}
		if n > 1 {
			return // later connections are closed at once: go elsewhere
		}
		req, err := hc.readConnect()
		if err != nil || hc.acceptSession(req) != nil {
			return
		}
		hc.serve()
		select {
		case <-arm:
		case <-hc.quit:
			return
		}
		// The handle re-registers its watch (on /w) first thing; the
		// misbehaviour comes after that answer, not in its place.
		select {
		case <-hc.watchesIn:
		case <-time.After(waitTime):
		}
		var r hostileReq
		if tc.call {
			var ok bool
			if r, ok = hc.next(waitTime); !ok {
				return
			}
		}
		tc.script(hc, r)
	})
	hostile := hs.addr()

	rec := newRecorder()
	c := connect(t, healthyAddr, rec.option(), zk.WithSessionTimeout(20*time.Second),
		zk.WithBackoff(fixedBackoff(20*time.Millisecond)), zk.WithoutRebalance())
	other := connect(t, healthyAddr)
	ctx := testCtx(t)
	id := c.SessionID()
	_, err := c.Create(ctx, eph, nil, zk.CreateEphemeral, zk.OpenACL)
	require.NoError(t, err)
	_, err = other.Create(ctx, "/w", nil, zk.CreatePersistent, zk.OpenACL)
	if !errors.Is(err, zk.ErrNodeExists) {
		require.NoError(t, err)
	}
	_, _, w, err := c.GetW(ctx, "/w")
	require.NoError(t, err)

	// Move the session to the hostile server.
	start := len(rec.snapshot())
	require.NoError(t, c.UpdateServers(hostile))
	var (
		lost    zk.StateChange
		alloc   uint64
		callErr error
		data    []byte
	)
	if tc.handshake != nil {
		before := totalAlloc()
		// The hostile server is the only one listed: after its bad
		// handshake the handle backs off, and that change says why.
		cs, i := awaitChange(t, rec, start, "NOT_CONNECTED after the bad handshake", func(c zk.StateChange) bool {
			return c.To == zk.StateNotConnected
		})
		alloc = totalAlloc() - before
		lost = cs[i]
		require.NoError(t, c.UpdateServers(healthyAddr))
	} else {
		cs, i := awaitChange(t, rec, start, "connected to the hostile server", func(c zk.StateChange) bool {
			return c.Event == zk.EventSyncConnected && c.Server == hostile
		})
		require.Equal(t, id, cs[i].SessionID)
		onHostile := i
		// List the healthy server too; the handle stays where it is.
		require.NoError(t, c.UpdateServers(hostile+","+healthyAddr))
		before := totalAlloc()
		close(arm)
		if tc.call {
			data, _, callErr = c.Get(ctx, "/x")
		}
		if tc.keep {
			// The frames after the hostile one were read (the call's reply
			// came after it), and the link is still up.
			cs := rec.snapshot()
			require.Len(t, cs, onHostile+1, "the link dropped: %s", fmtChanges(cs))
			require.Equal(t, zk.StateConnected, c.State())
			require.Equal(t, hostile, c.Server())
			select {
			case ev := <-w:
				t.Fatalf("the watch on /w fired on the hostile server: %+v", ev)
			default:
			}
			alloc = totalAlloc() - before
			// Leave the hostile server.
			require.NoError(t, c.UpdateServers(healthyAddr))
		} else {
			cs, i := awaitChange(t, rec, onHostile, "the hostile link to drop", func(c zk.StateChange) bool {
				return c.Event == zk.EventDisconnected && c.Server == hostile
			})
			alloc = totalAlloc() - before
			lost = cs[i]
		}
		if tc.call {
			if tc.checkCall != nil {
				tc.checkCall(t, data, callErr)
			} else {
				require.ErrorIs(t, callErr, zk.ErrConnectionLoss)
			}
		}
	}

	// The session carries on with the healthy server.
	cs, i := awaitChange(t, rec, start, "SyncConnected on the healthy server", func(c zk.StateChange) bool {
		return c.Event == zk.EventSyncConnected && c.Server == healthyAddr
	})
	requireChain(t, cs)
	require.Equal(t, id, cs[i].SessionID, fmtChanges(cs))
	_, st, err := c.Get(ctx, eph)
	require.NoError(t, err, "state changes:%s", fmtChangesErr(rec.snapshot()))
	require.Equal(t, id, st.EphemeralOwner)
	// The watch set before the episode is still registered, and fires once.
	_, err = other.Set(ctx, "/w", []byte("changed"), -1)
	require.NoError(t, err)
	require.Equal(t, zk.Event{Type: zk.EventNodeDataChanged, Path: "/w"}, awaitEvent(t, w))
	requireClosedAfterOne(t, w)
	require.Less(t, alloc, uint64(4<<20), "%d bytes allocated while the hostile server misbehaved", alloc)

	outcome := "kept the link"
	if tc.keep {
		if tc.call {
			outcome += "; the call returned " + describeResult(data, callErr)
		}
	} else {
		require.Error(t, lost.Err, "the change that reports the failure carries no error")
		msg := lost.Err.Error()
		require.True(t, strings.HasPrefix(msg, "zk: "), msg)
		require.Contains(t, msg, hostile, "the error names the server")
		if tc.wantMsg != "" {
			require.Contains(t, msg, tc.wantMsg)
		}
		if tc.wantProto {
			require.ErrorIs(t, lost.Err, zk.ErrProtocol, "error: %v", lost.Err)
		}
		outcome = "dropped (" + lost.From.String() + " -> " + lost.To.String() + "): " + msg +
			"; wraps ErrProtocol=" + strconv.FormatBool(errors.Is(lost.Err, zk.ErrProtocol))
		if tc.call {
			outcome += "; the call returned " + describeResult(data, callErr)
		}
	}
	require.NoError(t, c.Close())
	return outcome + "; session resumed on the healthy server; allocated " + kib(alloc)
}

func describeResult(data []byte, err error) string {
	if err != nil {
		return "error " + err.Error()
	}
	return "data " + string(data)
}

func kib(n uint64) string { return fmt.Sprintf("%.1f KiB", float64(n)/1024) }

// hostileSeeds are byte strings a server could send after the handshake,
// for FuzzHostileReplies. The handle's first request has xid 1.
func hostileSeeds() [][]byte {
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	return [][]byte{
		getDataReply(1, "ok"),
		cat(notification(proto.EventNodeDataChanged, "/x"), getDataReply(1, "after event")),
		cat(getDataReply(1, "ok"), notification(proto.EventNodeDataChanged, "/x")),
		cat(getDataReply(1, "ok"), notification(proto.EventNodeDeleted, "/x"), notification(proto.EventNodeDataChanged, "/x")),
		replyFrame(proto.XidPing, 5, 0),
		replyFrame(1, 9, proto.ErrNoNode),
		replyFrame(1, 0, proto.ErrUnimplemented),
		replyFrame(1, 0, -999),
		replyFrame(proto.XidAuth, 0, proto.ErrAuthFailed),
		getDataReply(2, "wrong xid"),
		rawFrame(replyPayload(1, 0, []byte{0xff, 0xff, 0xff, 0xfe})),
		rawFrame(replyPayload(1, 0, cat(be32(0x7fffffff), make([]byte, 16)))),
		notification(42, "/x"),
		notification(proto.EventNodeCreated, ""),
		notification(proto.EventNodeCreated, "relative"),
		be32(0x7fffffff),
		be32(0xffffffff),
		append(be32(100), make([]byte, 20)...),
		[]byte("HTTP/1.1 400 Bad Request\r\n\r\n"),
		{},
	}
}

// FuzzHostileReplies: after a valid handshake the server answers the
// handle's first request (GetW /x, xid 1) with fuzzer-chosen bytes and then
// closes. The server is at the other end of a net.Pipe (no sockets, so
// nothing piles up in TIME_WAIT while fuzzing). The handle must not panic, must end the call and the link (with
// an error), deliver the watch's one event if a watch was set, and Close
// must return.
func FuzzHostileReplies(f *testing.F) {
	for _, s := range hostileSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ps := startPipeServer(t, func(n int, hc *hostileConn) {
			req, err := hc.readConnect()
			if err != nil || hc.acceptSession(req) != nil {
				return
			}
			hc.serve()
			if _, ok := hc.next(waitTime); !ok {
				return
			}
			hc.write(data)
			hc.nc.Close()
		})
		rec := newRecorder()
		c, err := zk.New("hostile:2181", rec.option(), zk.WithDialer(ps.dial),
			zk.WithSessionTimeout(20*time.Second), zk.WithBackoff(fixedBackoff(20*time.Millisecond)))
		require.NoError(t, err)
		defer c.Close()

		type result struct {
			w   <-chan zk.Event
			err error
		}
		res := make(chan result, 1)
		ctx, cancel := context.WithTimeout(context.Background(), waitTime)
		defer cancel()
		go func() {
			_, _, w, err := c.GetW(ctx, "/x")
			res <- result{w, err}
		}()
		var r result
		select {
		case r = <-res:
		case <-time.After(waitTime):
			t.Fatal("the call never ended")
		}
		require.NotErrorIs(t, r.err, context.DeadlineExceeded, "the call ended only by its context")
		cs, i := awaitChange(t, rec, 0, "the hostile link to end", isEvent(zk.EventDisconnected))
		require.Error(t, cs[i].Err)
		require.True(t, strings.HasPrefix(cs[i].Err.Error(), "zk: "), cs[i].Err.Error())

		closed := make(chan struct{})
		go func() {
			c.Close()
			close(closed)
		}()
		select {
		case <-closed:
		case <-time.After(waitTime):
			t.Fatal("Close did not return")
		}
		if r.w != nil {
			// A watch was set: it ends with exactly one event.
			select {
			case _, ok := <-r.w:
				require.True(t, ok, "watch channel closed without an event")
			case <-time.After(waitTime):
				t.Fatal("the watch never got its event")
			}
			requireClosedAfterOne(t, r.w)
		}
	})
}
