package testserver

import (
	"strings"
	"testing"

	"github.com/zkgo/zk/internal/proto"
	"github.com/zkgo/zk/internal/saslmd5"
)

// TestSASLDigestServer: with SASL users, a first token gets a DIGEST-MD5
// challenge, a response that proves nothing gets -115 and the connection is
// closed (the session lives on), and a good response gets rspauth.
func TestSASLDigestServer(t *testing.T) {
	s := start(t, WithSASLUsers(map[string]string{"bob": "pw"}))
	c := connect(t, s.Addr(0), long)
	challenge := func(c *client) map[string]string {
		t.Helper()
		var tok bufferRecord
		xid := c.send(proto.OpSASL, &bufferRecord{B: []byte{}})
		if h := c.await(xid, &tok); h.Err != 0 {
			t.Fatalf("first SASL token: %+v", h)
		}
		dir, err := saslmd5.Parse(string(tok.B))
		if err != nil || dir["nonce"] == "" || dir["realm"] != saslmd5.Realm || dir["algorithm"] != "md5-sess" {
			t.Fatalf("challenge %q: %v", tok.B, err)
		}
		return dir
	}
	challenge(c)
	xid := c.send(proto.OpSASL, &bufferRecord{B: []byte(`username="bob",nonce="not-it"`)})
	if h := c.await(xid, nil); h.Err != proto.ErrAuthFailed {
		t.Fatalf("a response to no challenge: %+v, want -115", h)
	}
	c.expectEOF()

	c2 := connect(t, s.Addr(0), long)
	dir := challenge(c2)
	resp, rspauth := saslmd5.Response([]byte("bob"), []byte(saslmd5.Realm), []byte("pw"), dir["nonce"], "cn", "00000001", saslmd5.DigestURI)
	msg := `username="bob",realm="zk-sasl-md5",nonce=` + saslmd5.Quote(dir["nonce"]) +
		`,cnonce="cn",nc=00000001,qop=auth,digest-uri="zookeeper/zk-sasl-md5",response=` + resp
	var tok bufferRecord
	xid = c2.send(proto.OpSASL, &bufferRecord{B: []byte(msg)})
	if h := c2.await(xid, &tok); h.Err != 0 || !strings.Contains(string(tok.B), "rspauth="+rspauth) {
		t.Fatalf("a good response: %+v, token %q", h, tok.B)
	}
	var who proto.WhoAmIResponse
	c2.mustCall(0, proto.OpWhoAmI, nil, &who)
	found := false
	for _, ci := range who.Info {
		found = found || (ci.AuthScheme == "sasl" && ci.User == "bob")
	}
	if !found {
		t.Fatalf("whoAmI %+v, want sasl bob", who.Info)
	}
}
