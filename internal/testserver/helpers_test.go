package testserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/zkgo/zk/internal/proto"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// ioWait bounds every blocking read in the tests: reaching it is a failure,
// never a way of waiting for something.
const ioWait = 10 * time.Second

// long is the session timeout asked for by tests that are not about expiry:
// they never ping, and a loaded machine must not expire them.
const long = 600_000

// start is Start with a wide session timeout range, so that long is granted
// whatever the tick; later options override it.
func start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	return Start(t, append([]Option{WithSessionTimeoutRange(40*time.Millisecond, time.Hour)}, opts...)...)
}

// client is a raw protocol client: it writes frames built with
// internal/proto and reads what the server sends.
type client struct {
	t      testing.TB
	nc     net.Conn
	fr     *proto.FrameReader
	xid    int32
	events []proto.WatcherEvent // notifications read while waiting for replies

	sessionID int64
	passwd    []byte
	timeout   int32
	lastZxid  int64
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, ioWait)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return newClient(t, nc)
}

func dialTLS(t testing.TB, addr string, cfg *tls.Config) *client {
	t.Helper()
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: ioWait}, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return newClient(t, nc)
}

func newClient(t testing.TB, nc net.Conn) *client {
	c := &client{t: t, nc: nc, fr: proto.NewFrameReader(nc, 8<<20)}
	t.Cleanup(func() { nc.Close() })
	return c
}

// writeRaw writes bytes as they are.
func (c *client) writeRaw(b []byte) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(ioWait))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// frame reads the next frame, failing the test on error.
func (c *client) frame() []byte {
	c.t.Helper()
	b, err := c.tryFrame()
	if err != nil {
		c.t.Fatalf("read frame: %v", err)
	}
	return b
}

func (c *client) tryFrame() ([]byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(ioWait))
	b, err := c.fr.Next()
	if err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil
}

// handshake sends a ConnectRequest and decodes the response.
func (c *client) handshake(req proto.ConnectRequest) proto.ConnectResponse {
	c.t.Helper()
	c.writeRaw(proto.AppendFrame(nil, &req))
	var resp proto.ConnectResponse
	if err := proto.DecodeRecord(c.frame(), &resp); err != nil {
		c.t.Fatalf("decode connect response: %v", err)
	}
	if resp.TimeOut > 0 {
		c.sessionID, c.passwd, c.timeout = resp.SessionID, resp.Passwd, resp.TimeOut
	}
	return resp
}

// connect dials the server and opens a new session asking for timeout ms.
func connect(t testing.TB, addr string, timeout int32) *client {
	t.Helper()
	c := dial(t, addr)
	resp := c.handshake(proto.ConnectRequest{TimeOut: timeout, Passwd: make([]byte, 16)})
	if resp.SessionID == 0 || resp.TimeOut <= 0 {
		t.Fatalf("handshake refused: %+v", resp)
	}
	return c
}

// resume dials addr and resumes the session of old.
func resume(t testing.TB, addr string, old *client) (*client, proto.ConnectResponse) {
	t.Helper()
	c := dial(t, addr)
	resp := c.handshake(proto.ConnectRequest{
		LastZxidSeen: old.lastZxid, TimeOut: old.timeout, SessionID: old.sessionID, Passwd: old.passwd,
	})
	c.lastZxid = old.lastZxid
	return c, resp
}

// send writes a request with the next xid and returns that xid.
func (c *client) send(op int32, rec proto.Record) int32 {
	c.t.Helper()
	c.xid++
	c.sendXid(c.xid, op, rec)
	return c.xid
}

func (c *client) sendXid(xid, op int32, rec proto.Record) {
	c.t.Helper()
	c.writeRaw(requestFrame(xid, op, rec))
}

// requestFrame builds a request frame: the header, then rec unless it is nil.
func requestFrame(xid, op int32, rec proto.Record) []byte {
	recs := []proto.Record{&proto.RequestHeader{Xid: xid, OpCode: op}}
	if rec != nil {
		recs = append(recs, rec)
	}
	return proto.AppendFrame(nil, recs...)
}

// await reads frames until the reply with the given xid, queueing
// notifications, and decodes the body into resp when err is 0.
func (c *client) await(xid int32, resp proto.Record) proto.ReplyHeader {
	c.t.Helper()
	for {
		b := c.frame()
		d := proto.NewDecoder(b)
		var h proto.ReplyHeader
		h.Decode(d)
		if h.Xid == proto.XidNotification {
			var ev proto.WatcherEvent
			ev.Decode(d)
			if d.Err() != nil {
				c.t.Fatalf("decode event: %v", d.Err())
			}
			if h.Zxid != -1 || h.Err != 0 {
				c.t.Errorf("notification header %+v, want zxid -1 err 0", h)
			}
			c.events = append(c.events, ev)
			continue
		}
		if h.Xid != xid {
			c.t.Fatalf("reply xid %d, want %d", h.Xid, xid)
		}
		if h.Zxid > 0 && xid > 0 {
			c.lastZxid = max(c.lastZxid, h.Zxid)
		}
		if h.Err == 0 && resp != nil {
			resp.Decode(d)
			if d.Err() != nil {
				c.t.Fatalf("decode reply to xid %d: %v", xid, d.Err())
			}
			if d.Remaining() != 0 {
				c.t.Fatalf("reply to xid %d: %d trailing bytes", xid, d.Remaining())
			}
		} else if h.Err != 0 && d.Remaining() != 0 {
			c.t.Fatalf("error reply to xid %d carries %d body bytes", xid, d.Remaining())
		}
		return h
	}
}

// call sends a request and awaits its reply; it returns the error code.
func (c *client) call(op int32, rec, resp proto.Record) int32 {
	c.t.Helper()
	return c.await(c.send(op, rec), resp).Err
}

// mustCall is call that fails the test unless the code is want.
func (c *client) mustCall(want int32, op int32, rec, resp proto.Record) {
	c.t.Helper()
	if got := c.call(op, rec, resp); got != want {
		c.t.Fatalf("op %d %+v: err %d, want %d", op, rec, got, want)
	}
}

func (c *client) ping() proto.ReplyHeader {
	c.t.Helper()
	c.sendXid(proto.XidPing, proto.OpPing, nil)
	return c.await(proto.XidPing, nil)
}

// sync round-trips a sync: every event the server queued for this
// connection before it is read by then.
func (c *client) sync() {
	c.t.Helper()
	c.mustCall(0, proto.OpSync, &proto.PathRequest{Path: "/"}, &proto.PathRequest{})
}

// event returns the next notification, reading frames if none is queued.
func (c *client) event() proto.WatcherEvent {
	c.t.Helper()
	for len(c.events) == 0 {
		b := c.frame()
		d := proto.NewDecoder(b)
		var h proto.ReplyHeader
		h.Decode(d)
		if h.Xid != proto.XidNotification {
			c.t.Fatalf("got reply %+v while waiting for an event", h)
		}
		var ev proto.WatcherEvent
		ev.Decode(d)
		c.events = append(c.events, ev)
	}
	ev := c.events[0]
	c.events = c.events[1:]
	return ev
}

func (c *client) expectEvent(typ int32, path string) {
	c.t.Helper()
	ev := c.event()
	want := proto.WatcherEvent{Type: typ, State: proto.KeeperSyncConnected, Path: path}
	if ev != want {
		c.t.Fatalf("event %+v, want %+v", ev, want)
	}
}

// expectNoEvents checks, after a sync round trip, that no notification came.
func (c *client) expectNoEvents() {
	c.t.Helper()
	c.sync()
	if len(c.events) != 0 {
		c.t.Fatalf("unexpected events: %+v", c.events)
	}
}

// expectEOF checks that the server closes the connection without sending
// anything more.
func (c *client) expectEOF() {
	c.t.Helper()
	b, err := c.tryFrame()
	if err == nil {
		c.t.Fatalf("got a %d-byte frame, want the connection closed", len(b))
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.t.Fatalf("connection still open after %v", ioWait)
	}
}

// Request builders.

func createReq(path string, data []byte, flags int32) *proto.CreateRequest {
	return &proto.CreateRequest{Path: path, Data: data, ACL: openACL, Flags: flags}
}

func (c *client) create(path string, data []byte, flags int32) string {
	c.t.Helper()
	var resp proto.CreateResponse
	c.mustCall(0, proto.OpCreate, createReq(path, data, flags), &resp)
	return resp.Path
}

func (c *client) create2(path string, data []byte, flags int32) proto.CreateResponse {
	c.t.Helper()
	resp := proto.CreateResponse{HasStat: true}
	c.mustCall(0, proto.OpCreate2, createReq(path, data, flags), &resp)
	return resp
}

func (c *client) getData(path string, watch bool) (proto.GetDataResponse, int32) {
	c.t.Helper()
	var resp proto.GetDataResponse
	code := c.call(proto.OpGetData, &proto.PathWatchRequest{Path: path, Watch: watch}, &resp)
	return resp, code
}

func (c *client) exists(path string, watch bool) (proto.Stat, int32) {
	c.t.Helper()
	var resp proto.StatResponse
	code := c.call(proto.OpExists, &proto.PathWatchRequest{Path: path, Watch: watch}, &resp)
	return resp.Stat, code
}

func (c *client) setData(path string, data []byte, version int32) (proto.Stat, int32) {
	c.t.Helper()
	var resp proto.StatResponse
	code := c.call(proto.OpSetData, &proto.SetDataRequest{Path: path, Data: data, Version: version}, &resp)
	return resp.Stat, code
}

func (c *client) delete(path string, version int32) int32 {
	c.t.Helper()
	return c.call(proto.OpDelete, &proto.PathVersionRequest{Path: path, Version: version}, nil)
}

func (c *client) children(path string, watch bool) ([]string, proto.Stat, int32) {
	c.t.Helper()
	resp := proto.ChildrenResponse{HasStat: true}
	code := c.call(proto.OpGetChildren2, &proto.PathWatchRequest{Path: path, Watch: watch}, &resp)
	return resp.Children, resp.Stat, code
}

func (c *client) auth(scheme, cred string) proto.ReplyHeader {
	c.t.Helper()
	c.sendXid(proto.XidAuth, proto.OpAuth, &proto.AuthPacket{Scheme: scheme, Auth: []byte(cred)})
	return c.await(proto.XidAuth, nil)
}

// Assertions.

func eq[T any](t testing.TB, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s = %+v, want %+v", what, got, want)
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), ioWait)
	t.Cleanup(cancel)
	return ctx
}
