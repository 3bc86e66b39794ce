package testserver

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"io"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkgo/zk/internal/proto"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSection16Bytes sends the byte examples of PROTOCOL.md §16 as they are
// and checks what the server makes of them.
func TestSection16Bytes(t *testing.T) {
	s := Start(t)
	c := dial(t, s.Addr(0))

	// ConnectRequest: new session, timeout 30000, readOnly false.
	c.writeRaw(unhex(t, "0000002d 00000000 0000000000000000 00007530 0000000000000000 00000010"+strings.Repeat("00", 16)+"00"))
	b := c.frame()
	eq(t, "connect response length", len(b), 37)
	var cr proto.ConnectResponse
	proto.DecodeRecord(b, &cr)
	eq(t, "timeout clamped to 20 ticks", cr.TimeOut, int32(2000))

	// Ping: the reply is xid -2, the last zxid, err 0, nothing else.
	c.writeRaw(unhex(t, "00000008 fffffffe 0000000b"))
	b = c.frame()
	want := binary.BigEndian.AppendUint64(unhex(t, "fffffffe"), uint64(s.Zxid()))
	eq(t, "ping reply", b, append(want, 0, 0, 0, 0))

	// getData("/a", watch) with xid 1: no node, header only.
	c.writeRaw(unhex(t, "0000000f 00000001 00000004 00000002 2f61 01"))
	b = c.frame()
	want = binary.BigEndian.AppendUint64(unhex(t, "00000001"), uint64(s.Zxid()))
	eq(t, "getData reply", b, append(want, unhex(t, "ffffff9b")...))

	// auth digest "user:pass": xid -4, zxid 0, err 0.
	c.writeRaw(unhex(t, "00000023 fffffffc 00000064 00000000 00000006 646967657374 00000009 757365723a70617373"))
	eq(t, "auth reply", c.frame(), unhex(t, "fffffffc 0000000000000000 00000000"))

	// multi xid 2 = [check("/a", -1), delete("/a", -1)], after creating /a.
	c.xid = 5
	c.create("/a", nil, 0)
	c.writeRaw(unhex(t, "00000037 00000002 0000000e"+
		"0000000d 00 ffffffff 00000002 2f61 ffffffff"+
		"00000002 00 ffffffff 00000002 2f61 ffffffff"+
		"ffffffff 01 ffffffff"))
	b = c.frame()
	want = binary.BigEndian.AppendUint64(unhex(t, "00000002"), uint64(s.Zxid()))
	want = append(want, unhex(t, "00000000 0000000d 00 00000000 00000002 00 00000000 ffffffff 01 ffffffff")...)
	eq(t, "multi reply", b, want)
	if _, _, ok := s.Get("/a"); ok {
		t.Fatal("/a not deleted by the multi")
	}
}

func TestDigestAuth(t *testing.T) {
	eq(t, "digest of user:pass", digestID("user:pass"), "user:smGaoVKd/cQkjm7b88GyorAUz20=")
	s := start(t)
	c := connect(t, s.Addr(0), long)
	other := connect(t, s.Addr(0), long)
	eq(t, "auth reply", c.auth("digest", "user:pass"), proto.ReplyHeader{Xid: proto.XidAuth, Zxid: 0, Err: 0})
	c.auth("digest", "user:pass") // twice: recorded once
	var who proto.WhoAmIResponse
	c.mustCall(0, proto.OpWhoAmI, nil, &who)
	eq(t, "whoAmI", who.Info, []proto.ClientInfo{{AuthScheme: "ip", User: "127.0.0.1"}, {AuthScheme: "digest", User: "user"}})

	userID := proto.Id{Scheme: "digest", ID: "user:smGaoVKd/cQkjm7b88GyorAUz20="}
	c.mustCall(0, proto.OpCreate, &proto.CreateRequest{Path: "/sec", ACL: []proto.ACL{{Perms: proto.PermAll, Id: userID}}}, nil)
	_, code := other.getData("/sec", false)
	eq(t, "getData without auth", code, proto.ErrNoAuth)
	_, code = other.exists("/sec", true)
	eq(t, "exists without READ (3.8.0 checks nothing)", code, int32(0))
	eq(t, "getACL without READ or ADMIN", other.call(proto.OpGetACL, &proto.PathRequest{Path: "/sec"}, nil), proto.ErrNoAuth)
	_, code = c.getData("/sec", false)
	eq(t, "getData with auth", code, int32(0))

	// "auth" ACL entries become the caller's digest ids.
	var acl proto.GetACLResponse
	c.mustCall(0, proto.OpCreate, &proto.CreateRequest{Path: "/mine", ACL: []proto.ACL{{Perms: proto.PermAll, Id: proto.Id{Scheme: "auth"}}}}, nil)
	c.mustCall(0, proto.OpGetACL, &proto.PathRequest{Path: "/mine"}, &acl)
	eq(t, "auth expanded", acl.ACL, []proto.ACL{{Perms: proto.PermAll, Id: userID}})

	// Without ADMIN, digest ids come back masked.
	c.mustCall(0, proto.OpCreate, &proto.CreateRequest{Path: "/shared", ACL: []proto.ACL{readACL[0], {Perms: proto.PermAll, Id: userID}}}, nil)
	other.mustCall(0, proto.OpGetACL, &proto.PathRequest{Path: "/shared"}, &acl)
	eq(t, "masked", acl.ACL[1].Id.ID, "user:x")
	c.mustCall(0, proto.OpGetACL, &proto.PathRequest{Path: "/shared"}, &acl)
	eq(t, "unmasked", acl.ACL[1].Id, userID)

	// The ip id every connection has.
	c.mustCall(0, proto.OpCreate, &proto.CreateRequest{Path: "/local", ACL: []proto.ACL{{Perms: proto.PermAll, Id: proto.Id{Scheme: "ip", ID: "127.0.0.0/8"}}}}, nil)
	c.mustCall(0, proto.OpCreate, &proto.CreateRequest{Path: "/remote", ACL: []proto.ACL{{Perms: proto.PermAll, Id: proto.Id{Scheme: "ip", ID: "10.1.2.3"}}}}, nil)
	_, code = other.getData("/local", false)
	eq(t, "ip match", code, int32(0))
	_, code = other.getData("/remote", false)
	eq(t, "ip mismatch", code, proto.ErrNoAuth)

	// An unknown scheme: -115, then the connection closes; the session
	// survives.
	eq(t, "bad scheme", other.auth("kerberos", "x"), proto.ReplyHeader{Xid: proto.XidAuth, Zxid: 0, Err: proto.ErrAuthFailed})
	other.expectEOF()
	o2, resp := resume(t, s.Addr(0), other)
	eq(t, "resumed after auth failure", resp.SessionID, other.sessionID)
	o2.auth("digest", "user:pass")
	_, code = o2.getData("/sec", false)
	eq(t, "getData after auth", code, int32(0))
}

func TestFrameLimit(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	c.create("/f", nil, 0)
	// setData frame: header 8 + path 4+2 + data 4+L + version 4 = 22+L.
	frame := func(payload int) []byte {
		data := make([]byte, payload-22)
		c.xid++
		return proto.AppendFrame(nil, &proto.RequestHeader{Xid: c.xid, OpCode: proto.OpSetData},
			&proto.SetDataRequest{Path: "/f", Data: data, Version: -1})
	}
	c.writeRaw(frame(DefaultMaxFrameSize))
	eq(t, "largest frame accepted", c.await(c.xid, &proto.StatResponse{}).Err, int32(0))
	_, st, _ := s.Get("/f")
	eq(t, "data length", st.DataLength, int32(DefaultMaxFrameSize-22))
	// Its getData reply is itself larger than the limit: replies are not capped.
	gd, _ := c.getData("/f", false)
	eq(t, "getData length", len(gd.Data), DefaultMaxFrameSize-22)

	// The server hangs up after the length prefix, so writing the rest may
	// fail: only the hang-up matters.
	c.nc.SetWriteDeadline(time.Now().Add(ioWait))
	c.nc.Write(frame(DefaultMaxFrameSize + 1))
	c.expectEOF()
	eq(t, "session survives", len(s.Sessions()), 1)

	// A negative length too.
	c2 := connect(t, s.Addr(0), long)
	c2.writeRaw([]byte{0xff, 0xff, 0xff, 0xf0})
	c2.expectEOF()

	small := start(t, WithMaxFrameSize(100))
	c3 := dial(t, small.Addr(0))
	c3.writeRaw(proto.AppendFrame(nil, &proto.ConnectRequest{TimeOut: 2000, Passwd: make([]byte, 100)}))
	c3.expectEOF()
}

func TestFourLetterWords(t *testing.T) {
	s := start(t)
	word := func(w string) string {
		t.Helper()
		nc, err := net.Dial("tcp", s.Addr(0))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(ioWait))
		nc.Write([]byte(w))
		out, err := io.ReadAll(nc)
		if err != nil {
			t.Fatalf("%s: %v", w, err)
		}
		return string(out)
	}
	if out := word("srvr"); !strings.Contains(out, "Mode: standalone\n") || !strings.Contains(out, "Node count: 5\n") {
		t.Fatalf("srvr: %q", out)
	}
	eq(t, "ruok", word("ruok"), "ruok is not executed because it is not in the whitelist.\n")
	// The telnet close sequence is a known command, "telnet close", and is
	// not whitelisted either.
	eq(t, "telnet close", word("\xff\xf4\xff\xfd"), "telnet close is not executed because it is not in the whitelist.\n")
	// An unknown word is a frame length out of range: closed, nothing said.
	eq(t, "unknown word", word("abcd"), "")
}

func TestTLS(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)

	s := start(t, WithTLS(&tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}))
	c := dialTLS(t, s.Addr(0), &tls.Config{RootCAs: pool})
	resp := c.handshake(proto.ConnectRequest{TimeOut: 2000, Passwd: make([]byte, 16)})
	if resp.SessionID == 0 {
		t.Fatal("handshake over TLS refused")
	}
	c.create("/tls", nil, 0)
	c.ping()
	s.StopListener(0)
	c.expectEOF()
	if err := s.StartListener(0); err != nil {
		t.Fatal(err)
	}
	c2 := dialTLS(t, s.Addr(0), &tls.Config{RootCAs: pool})
	c2.handshake(proto.ConnectRequest{TimeOut: 2000, SessionID: c.sessionID, Passwd: c.passwd})
	c2.ping()
}

// lockedBuffer is an io.Writer safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestLogging(t *testing.T) {
	var buf lockedBuffer
	s, err := New(WithLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	c := connect(t, s.Addr(0), long)
	c.ping()
	s.ExpireSession(c.sessionID)
	s.Close()
	out := buf.String()
	for _, want := range []string{
		`level=INFO msg="testserver: session created"`,
		`level=DEBUG msg="testserver: request"`,
		`level=INFO msg="testserver: session expired by test"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}
