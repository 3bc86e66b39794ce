package zk

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"unicode/utf8"

	"github.com/zkgo/zk/internal/proto"
)

// SASL DIGEST-MD5 (RFC 2831) as ZooKeeper's server speaks it: the server's
// SASL server is made for protocol "zookeeper" and server name
// "zk-sasl-md5", whatever the host, so that is the digest-uri every client
// sends.
const saslDigestURI = "zookeeper/zk-sasl-md5"

// errSASLRejected marks a SASL failure that another server would repeat:
// the server refused the exchange, or its answers did not hold up. The
// handle then ends in AUTH_FAILED. A lost connection during the exchange is
// not one: the handle tries the next server.
var errSASLRejected = errors.New("zk: SASL authentication failed")

// saslHandshake runs the SASL exchange on a connection whose session
// handshake just completed, before anything else is sent on it (as the Java
// client holds back other requests until SASL completes). The caller's
// deadline on nc bounds it.
func (c *Conn) saslHandshake(nc net.Conn, fr *proto.FrameReader, addr string) error {
	d := &digestMD5{user: c.cfg.sasl.user, password: c.cfg.sasl.password}
	token := []byte{} // DIGEST-MD5 has no initial response: the server speaks first
	for {
		c.mu.Lock()
		xid := c.nextXidLocked()
		c.mu.Unlock()
		req := proto.AppendFrame(nil, &proto.RequestHeader{Xid: xid, OpCode: proto.OpSASL}, &proto.SASLToken{Token: token})
		if _, err := nc.Write(req); err != nil {
			return fmt.Errorf("zk: SASL with %s: %w", addr, err)
		}
		frame, err := fr.Next()
		if err != nil {
			return fmt.Errorf("zk: SASL with %s: %w", addr, err)
		}
		var h proto.ReplyHeader
		var resp proto.SASLToken
		dec := proto.NewDecoder(frame)
		h.Decode(dec)
		if dec.Err() == nil && h.Err == 0 {
			resp.Decode(dec)
		}
		switch {
		case dec.Err() != nil:
			return protocolError("zk: SASL with "+addr, dec.Err())
		case h.Xid != xid:
			return protocolError("zk: SASL with "+addr, fmt.Errorf("reply xid %d to SASL request %d", h.Xid, xid))
		case h.Err != 0:
			return fmt.Errorf("%w: server %s refused it (%v)", errSASLRejected, addr, errorForCode(h.Err))
		}
		if resp.Token == nil {
			return fmt.Errorf("%w: server %s sent no SASL challenge (is SASL configured on it?)", errSASLRejected, addr)
		}
		token, err = d.next(resp.Token)
		if err != nil {
			return fmt.Errorf("%w: DIGEST-MD5 with %s: %v", errSASLRejected, addr, err)
		}
		if token == nil {
			return nil // the server's last word checked out
		}
	}
}

// digestMD5 is the client side of a DIGEST-MD5 exchange: it answers the
// server's challenge, then checks the server's rspauth (mutual
// authentication).
type digestMD5 struct {
	user, password string
	rspauth        string // the rspauth the server must send, once answered
}

// next answers one server message: the response to the challenge, or nil
// once the server's rspauth has been checked.
func (d *digestMD5) next(msg []byte) ([]byte, error) {
	dir, err := parseDigestDirectives(string(msg))
	if err != nil {
		return nil, err
	}
	if d.rspauth != "" {
		got, ok := dir["rspauth"]
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(d.rspauth)) != 1 {
			return nil, errors.New("the server's rspauth does not prove it knows the password")
		}
		return nil, nil
	}
	nonce := dir["nonce"]
	if nonce == "" {
		return nil, fmt.Errorf("challenge without a nonce: %q", msg)
	}
	if a := dir["algorithm"]; a != "md5-sess" {
		return nil, fmt.Errorf("challenge with algorithm %q, want md5-sess", a)
	}
	if q, ok := dir["qop"]; ok && !hasToken(q, "auth") {
		return nil, fmt.Errorf("challenge offers qop %q, without auth", q)
	}
	utf8OK := dir["charset"] == "utf-8"
	realm := dir["realm"]
	var cn [16]byte
	rand.Read(cn[:]) // never fails (crypto/rand panics rather than return an error)
	cnonce := base64.RawStdEncoding.EncodeToString(cn[:])
	const nc = "00000001"

	user, err := digestBytes(d.user, utf8OK)
	if err != nil {
		return nil, fmt.Errorf("user name: %v", err)
	}
	r, err := digestBytes(realm, utf8OK)
	if err != nil {
		return nil, fmt.Errorf("realm: %v", err)
	}
	pw, err := digestBytes(d.password, utf8OK)
	if err != nil {
		return nil, fmt.Errorf("password: %v", err)
	}
	response, rspauth := digestResponse(user, r, pw, nonce, cnonce, nc, saslDigestURI)
	d.rspauth = rspauth

	var b strings.Builder
	if utf8OK {
		b.WriteString("charset=utf-8,")
	}
	fmt.Fprintf(&b, "username=%s,", quoteDirective(d.user))
	if _, ok := dir["realm"]; ok {
		fmt.Fprintf(&b, "realm=%s,", quoteDirective(realm))
	}
	fmt.Fprintf(&b, "nonce=%s,nc=%s,cnonce=%s,digest-uri=%s,maxbuf=65536,response=%s,qop=auth",
		quoteDirective(nonce), nc, quoteDirective(cnonce), quoteDirective(saslDigestURI), response)
	return []byte(b.String()), nil
}

// digestResponse computes RFC 2831's response value (qop auth, md5-sess, no
// authorization id) and the rspauth the server must answer with.
func digestResponse(user, realm, password []byte, nonce, cnonce, nc, uri string) (response, rspauth string) {
	secret := md5.Sum(joinBytes(user, realm, password))
	a1 := md5.Sum(append(secret[:], ":"+nonce+":"+cnonce...))
	kd := func(a2 string) string {
		h2 := md5.Sum([]byte(a2))
		v := md5.Sum([]byte(hex.EncodeToString(a1[:]) + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + hex.EncodeToString(h2[:])))
		return hex.EncodeToString(v[:])
	}
	return kd("AUTHENTICATE:" + uri), kd(":" + uri)
}

// digestBytes encodes s for hashing: ISO 8859-1 when every character fits
// (RFC 2831 asks for that even under charset=utf-8), else UTF-8, which only
// a server that announced charset=utf-8 understands.
func digestBytes(s string, utf8OK bool) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, errors.New("not valid UTF-8")
	}
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			if !utf8OK {
				return nil, errors.New("has characters outside ISO 8859-1 and the server did not offer charset=utf-8")
			}
			return []byte(s), nil
		}
		out = append(out, byte(r))
	}
	return out, nil
}

func joinBytes(user, realm, password []byte) []byte {
	out := append(append([]byte{}, user...), ':')
	out = append(append(out, realm...), ':')
	return append(out, password...)
}

// hasToken reports whether the comma-separated list holds tok.
func hasToken(list, tok string) bool {
	for _, t := range strings.Split(list, ",") {
		if strings.TrimSpace(t) == tok {
			return true
		}
	}
	return false
}

// quoteDirective writes s as a quoted string, escaping '"' and '\'.
func quoteDirective(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// parseDigestDirectives reads a DIGEST-MD5 message: name=value pairs
// separated by commas, each value a token or a quoted string. A repeated
// name keeps its first value (a challenge may offer several realms).
func parseDigestDirectives(s string) (map[string]string, error) {
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
