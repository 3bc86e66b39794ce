package saslmd5

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestResponseRFC2831 checks the digest against the example of RFC
// 2831, section 4.
func TestResponseRFC2831(t *testing.T) {
	resp, rspauth := Response([]byte("chris"), []byte("elwood.innosoft.com"), []byte("secret"),
		"OA6MG9tEQGm2hh", "OA6MHXh6VqTrRk", "00000001", "imap/elwood.innosoft.com")
	if resp != "d388dad90d4bbd760a152321f2143af7" {
		t.Errorf("response %s", resp)
	}
	if rspauth != "ea40f60335c427b5527b84dbabcdfffd" {
		t.Errorf("rspauth %s", rspauth)
	}
}

func TestParse(t *testing.T) {
	got, err := Parse(`realm="zk-sasl-md5",realm="other", nonce="a\"b\\c",qop="auth,auth-int",charset=utf-8,algorithm=md5-sess`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"realm": "zk-sasl-md5", "nonce": `a"b\c`, "qop": "auth,auth-int", "charset": "utf-8", "algorithm": "md5-sess"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, bad := range []string{`nonce="abc`, `=x`, `nonce`} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestBytes: ISO 8859-1 where it fits, UTF-8 only where offered.
func TestBytes(t *testing.T) {
	if b, err := Bytes("caröl", false); err != nil || string(b) != "car\xf6l" {
		t.Errorf("Latin-1 text: %q, %v", b, err)
	}
	if b, err := Bytes("b\u0101b", true); err != nil || string(b) != "b\u0101b" {
		t.Errorf("text beyond Latin-1 with utf-8: %q, %v", b, err)
	}
	if _, err := Bytes("b\u0101b", false); err == nil {
		t.Error("text beyond Latin-1 without utf-8 was encoded")
	}
	if _, err := Bytes("\xff", true); err == nil {
		t.Error("invalid UTF-8 was encoded")
	}
}
