package zk

import (
	"strings"
	"testing"

	"github.com/zkgo/zk/internal/saslmd5"
)

// TestDigestMD5Exchange runs the client against a challenge and checks its
// answer, then the server's proof: right, wrong, and missing.
func TestDigestMD5Exchange(t *testing.T) {
	challenge := []byte(`realm="zk-sasl-md5",nonce="n0nce",charset=utf-8,algorithm=md5-sess`)
	answer := func() (*digestMD5, map[string]string) {
		d := &digestMD5{user: "bob", password: "pw"}
		resp, err := d.next(challenge)
		if err != nil {
			t.Fatal(err)
		}
		dir, err := saslmd5.Parse(string(resp))
		if err != nil {
			t.Fatal(err)
		}
		return d, dir
	}
	d, dir := answer()
	for k, v := range map[string]string{"username": "bob", "realm": "zk-sasl-md5", "nonce": "n0nce", "nc": "00000001",
		"qop": "auth", "digest-uri": "zookeeper/zk-sasl-md5", "charset": "utf-8"} {
		if dir[k] != v {
			t.Errorf("response %s = %q, want %q", k, dir[k], v)
		}
	}
	wantResp, wantAuth := saslmd5.Response([]byte("bob"), []byte("zk-sasl-md5"), []byte("pw"), "n0nce", dir["cnonce"], "00000001", "zookeeper/zk-sasl-md5")
	if dir["response"] != wantResp {
		t.Errorf("response %s, want %s", dir["response"], wantResp)
	}
	if last, err := d.next([]byte("rspauth=" + wantAuth)); err != nil || last != nil {
		t.Errorf("the right rspauth: %q, %v", last, err)
	}
	d, _ = answer()
	if _, err := d.next([]byte("rspauth=" + strings.Repeat("0", 32))); err == nil {
		t.Error("a wrong rspauth was accepted")
	}
	d, _ = answer()
	if _, err := d.next([]byte(`nonce="again",algorithm=md5-sess`)); err == nil {
		t.Error("a second challenge in place of rspauth was accepted")
	}
	for _, bad := range []string{`realm="r",algorithm=md5-sess`, `nonce="n"`, `nonce="n",algorithm=md5-sess,qop="auth-conf"`} {
		if _, err := (&digestMD5{user: "bob", password: "pw"}).next([]byte(bad)); err == nil {
			t.Errorf("challenge %q accepted", bad)
		}
	}
	if _, err := (&digestMD5{user: "b\u0101b", password: "pw"}).next([]byte(`nonce="n",algorithm=md5-sess`)); err == nil {
		t.Error("a user name outside ISO 8859-1 was sent to a server that did not offer utf-8")
	}
}

// FuzzDigestChallenge: whatever a server sends as its challenge and then
// as its proof, the client answers or fails with an error; it never panics,
// and it only finishes on the rspauth it computed.
func FuzzDigestChallenge(f *testing.F) {
	f.Add([]byte(`realm="zk-sasl-md5",nonce="n",qop="auth",charset=utf-8,algorithm=md5-sess`), []byte("rspauth=0"))
	f.Add([]byte(`nonce="a\"b",algorithm=md5-sess,qop="auth-int,auth"`), []byte(`rspauth="x"`))
	f.Add([]byte(`nonce=",algorithm=md5-sess`), []byte{})
	f.Fuzz(func(t *testing.T, challenge, proof []byte) {
		d := &digestMD5{user: "bob", password: "pw"}
		resp, err := d.next(challenge)
		if err != nil {
			return
		}
		if _, err := saslmd5.Parse(string(resp)); err != nil {
			t.Fatalf("our own response %q does not parse: %v", resp, err)
		}
		last, err := d.next(proof)
		if err == nil && (last != nil || !strings.Contains(string(proof), d.rspauth)) {
			t.Fatalf("finished on %q (want rspauth %s), answered %q", proof, d.rspauth, last)
		}
	})
}
