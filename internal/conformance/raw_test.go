package conformance

import (
	"bytes"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk/internal/proto"
)

// rawConn is a connection that speaks the wire protocol byte by byte, for
// cases about what the handle never sends (or always sends right): frames
// built with internal/proto, replies read as they come.
type rawConn struct {
	t   testing.TB
	nc  net.Conn
	fr  *proto.FrameReader
	xid int32

	sessionID int64
	passwd    []byte
	timeout   int32
}

// rawDial opens a TCP connection to addr; it is closed when the test ends.
func rawDial(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitTime)
	require.NoError(t, err, "dial %s", addr)
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, fr: proto.NewFrameReader(nc, 8<<20)}
}

// rawSession dials addr and opens a new session asking for timeout ms.
func rawSession(t testing.TB, addr string, timeout int32) *rawConn {
	t.Helper()
	c := rawDial(t, addr)
	resp := c.handshake(proto.ConnectRequest{TimeOut: timeout, Passwd: make([]byte, proto.PasswordLen)})
	require.NotZero(t, resp.SessionID, "new session refused: %+v", resp)
	require.Positive(t, resp.TimeOut, "new session refused: %+v", resp)
	return c
}

// write writes bytes as they are.
func (c *rawConn) write(b []byte) {
	c.t.Helper()
	require.NoError(c.t, c.nc.SetWriteDeadline(time.Now().Add(waitTime)))
	_, err := c.nc.Write(b)
	require.NoError(c.t, err, "write")
}

// tryFrame reads the next frame (a copy), bounded by waitTime.
func (c *rawConn) tryFrame() ([]byte, error) {
	if err := c.nc.SetReadDeadline(time.Now().Add(waitTime)); err != nil {
		return nil, err
	}
	b, err := c.fr.Next()
	if err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil
}

func (c *rawConn) frame() []byte {
	c.t.Helper()
	b, err := c.tryFrame()
	require.NoError(c.t, err, "read a frame")
	return b
}

// handshakeRaw sends a ConnectRequest frame as it is (see connectFrame) and
// returns the ConnectResponse body undecoded.
func (c *rawConn) handshakeRaw(frame []byte) []byte {
	c.t.Helper()
	c.write(frame)
	return c.frame()
}

// handshake sends a ConnectRequest with the readOnly byte and decodes the
// response; an accepted session is remembered.
func (c *rawConn) handshake(req proto.ConnectRequest) proto.ConnectResponse {
	c.t.Helper()
	body := c.handshakeRaw(proto.AppendFrame(nil, &req))
	var resp proto.ConnectResponse
	require.NoError(c.t, proto.DecodeRecord(body, &resp), "decode the ConnectResponse")
	if resp.TimeOut > 0 {
		c.sessionID, c.passwd, c.timeout = resp.SessionID, resp.Passwd, resp.TimeOut
	}
	return resp
}

// connectFrame is a ConnectRequest frame; withReadOnly false leaves out
// the trailing readOnly byte, as clients older than 3.3 do.
func connectFrame(req proto.ConnectRequest, withReadOnly bool) []byte {
	f := proto.AppendFrame(nil, &req)
	if withReadOnly {
		return f
	}
	f = f[:len(f)-1]
	f[3]-- // the length, under 256 bytes
	return f
}

// requestFrame is a request frame: the header, then rec unless it is nil.
func requestFrame(xid, op int32, rec proto.Record) []byte {
	recs := []proto.Record{&proto.RequestHeader{Xid: xid, OpCode: op}}
	if rec != nil {
		recs = append(recs, rec)
	}
	return proto.AppendFrame(nil, recs...)
}

// send writes a request with the next xid and returns the xid.
func (c *rawConn) send(op int32, rec proto.Record) int32 {
	c.t.Helper()
	c.xid++
	c.write(requestFrame(c.xid, op, rec))
	return c.xid
}

// rawEvent is a notification as it came: its header and its event.
type rawEvent struct {
	Zxid  int64
	Err   int32
	Event proto.WatcherEvent
}

// next reads the next frame as a reply header; for a notification it also
// decodes the event.
func (c *rawConn) next() (proto.ReplyHeader, *proto.WatcherEvent, *proto.Decoder) {
	c.t.Helper()
	d := proto.NewDecoder(c.frame())
	var h proto.ReplyHeader
	h.Decode(d)
	require.NoError(c.t, d.Err(), "decode a reply header")
	if h.Xid != proto.XidNotification {
		return h, nil, d
	}
	var ev proto.WatcherEvent
	ev.Decode(d)
	require.NoError(c.t, d.Err(), "decode a notification")
	return h, &ev, d
}

// await reads frames up to the reply with xid, and returns the
// notifications that came before it, the reply's header, and decodes its
// body into resp when err is 0.
func (c *rawConn) await(xid int32, resp proto.Record) ([]rawEvent, proto.ReplyHeader) {
	c.t.Helper()
	var evs []rawEvent
	for {
		h, ev, d := c.next()
		if ev != nil {
			evs = append(evs, rawEvent{h.Zxid, h.Err, *ev})
			continue
		}
		require.Equal(c.t, xid, h.Xid, "the reply's xid")
		if h.Err == 0 && resp != nil {
			resp.Decode(d)
			require.NoError(c.t, d.Err(), "decode the reply to xid %d", xid)
		}
		require.Zero(c.t, d.Remaining(), "trailing bytes in the reply to xid %d", xid)
		return evs, h
	}
}

// call sends a request and awaits its reply, with no notification before
// it; it returns the reply's header.
func (c *rawConn) call(op int32, rec, resp proto.Record) proto.ReplyHeader {
	c.t.Helper()
	evs, h := c.await(c.send(op, rec), resp)
	require.Empty(c.t, evs, "notifications before the reply to op %d", op)
	return h
}

// ping sends a ping with xid -2 and returns its reply's header.
func (c *rawConn) ping() proto.ReplyHeader {
	c.t.Helper()
	c.write(requestFrame(proto.XidPing, proto.OpPing, nil))
	evs, h := c.await(proto.XidPing, nil)
	require.Empty(c.t, evs, "notifications before the ping reply")
	return h
}

// create creates a persistent node and returns the reply's zxid.
func (c *rawConn) create(path string) int64 {
	c.t.Helper()
	h := c.call(proto.OpCreate, &proto.CreateRequest{Path: path, ACL: rawOpenACL}, &proto.CreateResponse{})
	require.Zero(c.t, h.Err, "create %s", path)
	return h.Zxid
}

// setData sets a node's data and returns the reply's zxid.
func (c *rawConn) setData(path string) int64 {
	c.t.Helper()
	h := c.call(proto.OpSetData, &proto.SetDataRequest{Path: path, Data: []byte("x"), Version: -1}, &proto.StatResponse{})
	require.Zero(c.t, h.Err, "setData %s", path)
	return h.Zxid
}

var rawOpenACL = []proto.ACL{{Perms: proto.PermAll, Id: proto.Id{Scheme: "world", ID: "anyone"}}}

// expectEOF checks that the server closes the connection with nothing more
// sent.
func (c *rawConn) expectEOF(what string) {
	c.t.Helper()
	b, err := c.tryFrame()
	require.Error(c.t, err, "%s: got a %d-byte frame, want the connection closed", what, len(b))
	require.False(c.t, errors.Is(err, os.ErrDeadlineExceeded), "%s: connection still open after %v", what, waitTime)
}
