package zk

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/zkgo/zk/internal/proto"
	"github.com/zkgo/zk/internal/saslmd5"
)

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
	dir, err := saslmd5.Parse(string(msg))
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
	if q, ok := dir["qop"]; ok && !saslmd5.HasToken(q, "auth") {
		return nil, fmt.Errorf("challenge offers qop %q, without auth", q)
	}
	utf8OK := dir["charset"] == "utf-8"
	realm := dir["realm"]
	var cn [16]byte
	rand.Read(cn[:]) // never fails (crypto/rand panics rather than return an error)
	cnonce := base64.RawStdEncoding.EncodeToString(cn[:])
	const nc = "00000001"

	user, err := saslmd5.Bytes(d.user, utf8OK)
	if err != nil {
		return nil, fmt.Errorf("user name: %v", err)
	}
	r, err := saslmd5.Bytes(realm, utf8OK)
	if err != nil {
		return nil, fmt.Errorf("realm: %v", err)
	}
	pw, err := saslmd5.Bytes(d.password, utf8OK)
	if err != nil {
		return nil, fmt.Errorf("password: %v", err)
	}
	response, rspauth := saslmd5.Response(user, r, pw, nonce, cnonce, nc, saslmd5.DigestURI)
	d.rspauth = rspauth

	var b strings.Builder
	if utf8OK {
		b.WriteString("charset=utf-8,")
	}
	fmt.Fprintf(&b, "username=%s,", saslmd5.Quote(d.user))
	if _, ok := dir["realm"]; ok {
		fmt.Fprintf(&b, "realm=%s,", saslmd5.Quote(realm))
	}
	fmt.Fprintf(&b, "nonce=%s,nc=%s,cnonce=%s,digest-uri=%s,maxbuf=65536,response=%s,qop=auth",
		saslmd5.Quote(nonce), nc, saslmd5.Quote(cnonce), saslmd5.Quote(saslmd5.DigestURI), response)
	return []byte(b.String()), nil
}
