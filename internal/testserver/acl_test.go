package testserver

import "testing"

func TestACLHelpers(t *testing.T) {
	for s, want := range map[string]int{"": 1, "a": 1, "a:b": 2, "a:b:": 2, ":b": 2, "a:": 1, "::": 0, "a:b:c": 3} {
		eq(t, "javaSplitLen("+s+")", javaSplitLen(s, ":"), want)
	}
	for _, tt := range []struct {
		remote, expr string
		want         bool
	}{
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.1", "127.0.0.2", false},
		{"127.0.0.1", "127.0.0.0/8", true},
		{"127.0.0.1", "127.0.0.0/31", true},
		{"127.0.0.1", "127.0.0.2/31", false},
		{"127.0.0.1", "0.0.0.0/0", true},
		{"10.1.2.3", "10.1.2.0/23", true},
		// 3.8 parses IPv4 only.
		{"::1", "::1", false},
		{"::1", "::/127", false},
		{"::1", "127.0.0.1", false},
		{"127.0.0.1", "127.0.0.01", true},
		{"127.0.0.1", "+127.0.0.1/+8", true},
		{"127.0.0.1", "127.0.0.1/", false},
		{"127.0.0.1", "127.0.0.", false},
		{"127.0.0.1", "127.0.0.1.", false},
		{"127.0.0.1", "127.0.0.256", false},
		{"127.0.0.1", "nonsense", false},
		{"127.0.0.1", "127.0.0.1/x", false},
	} {
		eq(t, tt.remote+" in "+tt.expr, ipMatches(tt.remote, tt.expr), tt.want)
	}
	for p, want := range map[string]bool{
		"/": true, "/a": true, "/a/b": true, "/.a": true, "/a..b": true, "/é": true,
		"": false, "a": false, "/a/": false, "//": false, "/a//b": false, "/.": false, "/a/..": false,
		"/a\x00": false, "/a\x1f": false, "/a\x7f": false, "/a\u009f": false, "/a\u00a0": true,
		"/a\ud7ff": true, "/a\uf8ff": false, "/a\uf900": true, "/a\uffef": true, "/a\ufff0": false, "/a\U00010000": false,
	} {
		eq(t, "validPath("+p+")", validPath(p), want)
	}
}
