// Package saslmd5 holds the parts of SASL DIGEST-MD5 (RFC 2831) that the
// client and the in-memory server share: the digest, the message syntax,
// and the names ZooKeeper fixes.
package saslmd5

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ZooKeeper's server makes its SASL server for protocol "zookeeper" and
// server name "zk-sasl-md5", whatever the host: so every client's
// digest-uri is DigestURI, and the server's realm is Realm.
const (
	DigestURI = "zookeeper/zk-sasl-md5"
	Realm     = "zk-sasl-md5"
)

// Response computes the response value of RFC 2831 (qop auth, md5-sess, no
// authorization id) and the rspauth the server answers with.
func Response(user, realm, password []byte, nonce, cnonce, nc, uri string) (response, rspauth string) {
	secret := md5.Sum(join(user, realm, password))
	a1 := md5.Sum(append(secret[:], ":"+nonce+":"+cnonce...))
	kd := func(a2 string) string {
		h2 := md5.Sum([]byte(a2))
		v := md5.Sum([]byte(hex.EncodeToString(a1[:]) + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + hex.EncodeToString(h2[:])))
		return hex.EncodeToString(v[:])
	}
	return kd("AUTHENTICATE:" + uri), kd(":" + uri)
}

func join(user, realm, password []byte) []byte {
	out := append(append([]byte{}, user...), ':')
	out = append(append(out, realm...), ':')
	return append(out, password...)
}

// Bytes encodes s for hashing: ISO 8859-1 when every character fits (RFC
// 2831 asks for that even under charset=utf-8), else UTF-8, which only a
// peer that announced charset=utf-8 understands.
func Bytes(s string, utf8OK bool) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, errors.New("not valid UTF-8")
	}
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			if !utf8OK {
				return nil, errors.New("has characters outside ISO 8859-1 and charset=utf-8 was not offered")
			}
			return []byte(s), nil
		}
		out = append(out, byte(r))
	}
	return out, nil
}

// HasToken reports whether the comma-separated list holds tok.
func HasToken(list, tok string) bool {
	for _, t := range strings.Split(list, ",") {
		if strings.TrimSpace(t) == tok {
			return true
		}
	}
	return false
}

// Quote writes s as a quoted string, escaping '"' and '\'.
func Quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Parse reads a DIGEST-MD5 message: name=value pairs separated by commas,
// each value a token or a quoted string. Names are case-insensitive. A
// repeated name keeps its first value (a challenge may offer several
// realms).
func Parse(s string) (map[string]string, error) {
	out := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t\r\n,")
		if s == "" {
			return out, nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("malformed directive %q", s)
		}
		name := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated quoted value of %s", name)
			}
			val, s = b.String(), s[i+1:]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val, s = strings.TrimSpace(s[:end]), s[end:]
		}
		if _, dup := out[name]; !dup {
			out[name] = val
		}
	}
}
