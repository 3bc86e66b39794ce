package zktest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/proto"
	"github.com/zkgo/zk/internal/testserver"
	"github.com/zkgo/zk/zktest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// rawClient is the least client that can drive the server: it writes frames
// built with internal/proto and reads replies in order.
type rawClient struct {
	t       *testing.T
	nc      net.Conn
	fr      *proto.FrameReader
	xid     int32
	session int64
	passwd  []byte
}

func connect(t *testing.T, addr string, sessionID int64, passwd []byte) (*rawClient, proto.ConnectResponse) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &rawClient{t: t, nc: nc, fr: proto.NewFrameReader(nc, 0)}
	if passwd == nil {
		passwd = make([]byte, 16)
	}
	// A long timeout: these tests never ping, and a loaded machine must not
	// expire them.
	c.write(proto.AppendFrame(nil, &proto.ConnectRequest{TimeOut: 600_000, SessionID: sessionID, Passwd: passwd}))
	var resp proto.ConnectResponse
	if err := proto.DecodeRecord(c.read(), &resp); err != nil {
		t.Fatal(err)
	}
	c.session, c.passwd = resp.SessionID, resp.Passwd
	return c, resp
}

func (c *rawClient) write(b []byte) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) read() []byte {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := c.fr.Next()
	if err != nil {
		c.t.Fatal(err)
	}
	return bytes.Clone(b)
}

// call sends one request and returns the reply's error code; notifications
// in between are skipped.
func (c *rawClient) call(op int32, req, resp proto.Record) int32 {
	c.t.Helper()
	c.xid++
	recs := []proto.Record{&proto.RequestHeader{Xid: c.xid, OpCode: op}}
	if req != nil {
		recs = append(recs, req)
	}
	c.write(proto.AppendFrame(nil, recs...))
	for {
		d := proto.NewDecoder(c.read())
		var h proto.ReplyHeader
		h.Decode(d)
		if h.Xid == proto.XidNotification {
			continue
		}
		if h.Xid != c.xid {
			c.t.Fatalf("reply xid %d, want %d", h.Xid, c.xid)
		}
		if h.Err == 0 && resp != nil {
			resp.Decode(d)
		}
		return h.Err
	}
}

func (c *rawClient) expectClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.fr.Next(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		c.t.Fatalf("connection not closed: %v", err)
	}
}

var open = []proto.ACL{{Perms: proto.PermAll, Id: proto.Id{Scheme: "world", ID: "anyone"}}}

func TestServer(t *testing.T) {
	srv := zktest.New(t, zktest.WithListeners(2), zktest.WithSessionTimeoutRange(time.Second, time.Hour))
	eq(t, "addresses", len(srv.Addrs()), 2)
	eq(t, "conn string", srv.ConnString(), srv.Addr(0)+","+srv.Addr(1))

	c, resp := connect(t, srv.Addr(0), 0, nil)
	eq(t, "sessions", srv.Sessions(), []int64{resp.SessionID})
	if to, ok := srv.SessionTimeout(resp.SessionID); !ok || to != 10*time.Minute {
		t.Fatalf("SessionTimeout = %v, %v", to, ok)
	}
	eq(t, "create", c.call(zktest.OpCreate, &proto.CreateRequest{Path: "/e", Data: []byte("v"), ACL: open, Flags: proto.FlagEphemeral}, nil), int32(0))
	data, st, ok := srv.Get("/e")
	eq(t, "Get", [3]any{string(data), st.EphemeralOwner, ok}, [3]any{"v", resp.SessionID, true})
	eq(t, "czxid", st.Czxid, srv.Zxid())
	eq(t, "ephemerals", srv.Ephemerals(resp.SessionID), []string{"/e"})
	kids, _ := srv.Children("/")
	eq(t, "children", kids, []string{"e", "zookeeper"})

	srv.FailNext(zktest.OpGetData, zktest.CodeNoNode)
	eq(t, "injected", c.call(zktest.OpGetData, &proto.PathWatchRequest{Path: "/e"}, nil), zktest.CodeNoNode)
	eq(t, "then real", c.call(zktest.OpGetData, &proto.PathWatchRequest{Path: "/e"}, &proto.GetDataResponse{}), int32(0))

	srv.DropConnections()
	c.expectClosed()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.WaitConnections(ctx, 0); err != nil {
		t.Fatal(err)
	}
	srv.StopListener(1)
	if err := srv.StartListener(1); err != nil {
		t.Fatal(err)
	}
	c2, resp2 := connect(t, srv.Addr(1), c.session, c.passwd)
	eq(t, "resumed on another listener", resp2.SessionID, c.session)

	srv.Blackhole(0, true)
	srv.Blackhole(0, false)
	if !srv.ExpireSession(c.session) {
		t.Fatal("ExpireSession: no such session")
	}
	c2.expectClosed()
	if err := srv.WaitSessionGone(ctx, c.session); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := srv.Get("/e"); ok {
		t.Fatal("ephemeral survived its session")
	}
	eq(t, "connections", srv.Connections(), 0)
}

func TestConstantsMatchTheWire(t *testing.T) {
	ops := map[int32]int32{
		zktest.OpCreate: proto.OpCreate, zktest.OpDelete: proto.OpDelete, zktest.OpExists: proto.OpExists,
		zktest.OpGetData: proto.OpGetData, zktest.OpSetData: proto.OpSetData, zktest.OpGetACL: proto.OpGetACL,
		zktest.OpSetACL: proto.OpSetACL, zktest.OpGetChildren: proto.OpGetChildren, zktest.OpSync: proto.OpSync,
		zktest.OpPing: proto.OpPing, zktest.OpGetChildren2: proto.OpGetChildren2, zktest.OpCheck: proto.OpCheck,
		zktest.OpMulti: proto.OpMulti, zktest.OpCreate2: proto.OpCreate2, zktest.OpReconfig: proto.OpReconfig,
		zktest.OpCheckWatches: proto.OpCheckWatches, zktest.OpRemoveWatches: proto.OpRemoveWatches,
		zktest.OpCreateContainer: proto.OpCreateContainer, zktest.OpDeleteContainer: proto.OpDeleteContainer,
		zktest.OpCreateTTL: proto.OpCreateTTL, zktest.OpMultiRead: proto.OpMultiRead, zktest.OpAuth: proto.OpAuth,
		zktest.OpSetWatches: proto.OpSetWatches, zktest.OpSASL: proto.OpSASL, zktest.OpGetEphemerals: proto.OpGetEphemerals,
		zktest.OpGetAllChildrenNumber: proto.OpGetAllChildrenNumber, zktest.OpSetWatches2: proto.OpSetWatches2,
		zktest.OpAddWatch: proto.OpAddWatch, zktest.OpWhoAmI: proto.OpWhoAmI, zktest.OpCloseSession: proto.OpCloseSession,
	}
	codes := map[int32]int32{
		zktest.CodeRuntimeInconsistency: proto.ErrRuntimeInconsistency, zktest.CodeDataInconsistency: proto.ErrDataInconsistency,
		zktest.CodeConnectionLoss: proto.ErrConnectionLoss, zktest.CodeMarshallingError: proto.ErrMarshallingError,
		zktest.CodeUnimplemented: proto.ErrUnimplemented, zktest.CodeOperationTimeout: proto.ErrOperationTimeout,
		zktest.CodeBadArguments: proto.ErrBadArguments, zktest.CodeNewConfigNoQuorum: proto.ErrNewConfigNoQuorum,
		zktest.CodeReconfigInProgress: proto.ErrReconfigInProgress, zktest.CodeNoNode: proto.ErrNoNode,
		zktest.CodeNoAuth: proto.ErrNoAuth, zktest.CodeBadVersion: proto.ErrBadVersion,
		zktest.CodeNoChildrenForEphemerals: proto.ErrNoChildrenForEphemerals, zktest.CodeNodeExists: proto.ErrNodeExists,
		zktest.CodeNotEmpty: proto.ErrNotEmpty, zktest.CodeSessionExpired: proto.ErrSessionExpired,
		zktest.CodeInvalidACL: proto.ErrInvalidACL, zktest.CodeAuthFailed: proto.ErrAuthFailed,
		zktest.CodeSessionMoved: proto.ErrSessionMoved, zktest.CodeNotReadOnly: proto.ErrNotReadOnly,
		zktest.CodeEphemeralOnLocalSession: proto.ErrEphemeralOnLocalSession, zktest.CodeNoWatcher: proto.ErrNoWatcher,
		zktest.CodeReconfigDisabled: proto.ErrReconfigDisabled, zktest.CodeSessionClosedRequireSASL: proto.ErrSessionClosedRequireSASL,
		zktest.CodeQuotaExceeded: proto.ErrQuotaExceeded, zktest.CodeThrottledOp: proto.ErrThrottledOp,
	}
	for _, m := range []map[int32]int32{ops, codes} {
		for got, want := range m {
			if got != want {
				t.Errorf("constant %d, wire value %d", got, want)
			}
		}
	}
	eq(t, "tick", zktest.DefaultTickTime, testserver.DefaultTickTime)
	eq(t, "frame size", zktest.DefaultMaxFrameSize, testserver.DefaultMaxFrameSize)
	eq(t, "op count (a duplicate would collapse the map)", len(ops), 30)
	eq(t, "code count", len(codes), 26)
}

func TestErrors(t *testing.T) {
	_, err := zktest.NewServer(zktest.WithTickTime(0))
	if err == nil || !strings.HasPrefix(err.Error(), "zk: ") {
		t.Fatalf("bad option: %v", err)
	}
	srv, err := zktest.NewServer(zktest.WithAddrs("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	// Another server cannot take the same address.
	if _, err := zktest.NewServer(zktest.WithAddrs(srv.Addr(0))); err == nil || !strings.HasPrefix(err.Error(), "zk: ") {
		t.Fatalf("address in use: %v", err)
	} else if op := (*net.OpError)(nil); !errors.As(err, &op) {
		t.Fatalf("listen error does not unwrap to *net.OpError: %v", err)
	}
	srv.Close()
	srv.Close()
	if err := srv.StartListener(0); !errors.Is(err, zktest.ErrClosed) {
		t.Fatalf("StartListener after Close: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.WaitSessionGone(ctx, 1); !errors.Is(err, zktest.ErrClosed) {
		t.Fatalf("WaitSessionGone after Close: %v", err)
	}

	srv = zktest.New(t)
	err = srv.WaitConnections(ctx, 3)
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "zk: ") {
		t.Fatalf("WaitConnections with a done context: %v", err)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func TestLogger(t *testing.T) {
	var buf lockedBuffer
	srv, err := zktest.NewServer(zktest.WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	if err != nil {
		t.Fatal(err)
	}
	connect(t, srv.Addr(0), 0, nil)
	srv.Close()
	buf.mu.Lock()
	defer buf.mu.Unlock()
	if out := buf.b.String(); !strings.Contains(out, `msg="zk: testserver: session created"`) {
		t.Fatalf("log:\n%s", out)
	}
}

func TestOptions(t *testing.T) {
	srv := zktest.New(t,
		zktest.WithTickTime(10*time.Millisecond),
		zktest.WithSessionTimeoutRange(30*time.Millisecond, 5*time.Minute),
		zktest.WithExtendedTypes(false),
		zktest.WithMaxFrameSize(1<<20),
		zktest.WithReapInterval(time.Second),
		zktest.WithTLS(nil),
	)
	c, resp := connect(t, srv.Addr(0), 0, nil)
	eq(t, "clamped timeout", resp.TimeOut, int32(300_000))
	eq(t, "TTL refused", c.call(zktest.OpCreateTTL, &proto.CreateRequest{Path: "/t", ACL: open, Flags: proto.FlagPersistentWithTTL, TTL: 5, IsTTL: true}, nil), zktest.CodeUnimplemented)
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func Example() {
	srv, err := zktest.NewServer(zktest.WithListeners(3))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	// Hand srv.ConnString() to the code under test.
	fmt.Println(len(strings.Split(srv.ConnString(), ",")), "listeners")
	fmt.Println(srv.Sessions())
	// Output:
	// 3 listeners
	// []
}

// TestSASLUsers: a handle with a listed user and password gets the
// identity sasl:<user>; a wrong password ends in AUTH_FAILED.
func TestSASLUsers(t *testing.T) {
	srv := zktest.New(t, zktest.WithSASLUsers(map[string]string{"bob": "pw"}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := zk.Connect(ctx, srv.ConnString(), zk.WithSASLDigest("bob", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ids, err := c.WhoAmI(ctx)
	if err != nil || !slices.Contains(ids, zk.ClientInfo{AuthScheme: "sasl", User: "bob"}) {
		t.Fatalf("WhoAmI %v, %v", ids, err)
	}
	if _, err := zk.Connect(ctx, srv.ConnString(), zk.WithSASLDigest("bob", "not-pw")); !errors.Is(err, zk.ErrAuthFailed) {
		t.Fatalf("wrong password: %v, want ErrAuthFailed", err)
	}
}
