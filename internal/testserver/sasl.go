package testserver

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/zkgo/zk/internal/proto"
	"github.com/zkgo/zk/internal/saslmd5"
)

// opSASL answers a SASL request. Without users (WithSASLUsers) it answers
// as a real server with no SASL configured: OK, zxid 0, a null token. With
// users it is the server side of DIGEST-MD5 as ZooKeeper runs it: a first
// token gets a challenge; the client's response, if it proves the user's
// password, gives the connection the identity sasl:<user> and gets the
// server's proof (rspauth). Anything else is answered -115 and the
// connection is closed; the session survives.
func (s *Server) opSASL(c *conn, xid int32, token []byte) {
	if s.cfg.saslUsers == nil {
		s.send(c, xid, 0, 0, &bufferRecord{}, false)
		return
	}
	if c.saslNonce == "" {
		var b [24]byte
		rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
		c.saslNonce = base64.RawStdEncoding.EncodeToString(b[:])
		challenge := fmt.Sprintf(`realm=%s,nonce=%s,qop="auth",charset=utf-8,algorithm=md5-sess`,
			saslmd5.Quote(saslmd5.Realm), saslmd5.Quote(c.saslNonce))
		s.send(c, xid, 0, 0, &bufferRecord{B: []byte(challenge)}, false)
		return
	}
	nonce := c.saslNonce
	c.saslNonce = ""
	user, rspauth, err := s.checkDigestResponse(string(token), nonce)
	if err != nil {
		s.log.Info("testserver: SASL authentication failed", "conn", c.id, "err", err.Error())
		s.send(c, xid, 0, proto.ErrAuthFailed, nil, true)
		s.detach(c)
		return
	}
	addAuth(c, proto.Id{Scheme: "sasl", ID: user})
	s.log.Debug("testserver: authenticated", "conn", c.id, "scheme", "sasl", "id", user)
	s.send(c, xid, 0, 0, &bufferRecord{B: []byte("rspauth=" + rspauth)}, false)
}

// checkDigestResponse checks a DIGEST-MD5 response to the challenge with
// nonce, and returns the user and the server's proof.
func (s *Server) checkDigestResponse(msg, nonce string) (user, rspauth string, err error) {
	dir, err := saslmd5.Parse(msg)
	if err != nil {
		return "", "", err
	}
	user = dir["username"]
	password, ok := s.cfg.saslUsers[user]
	switch {
	case !ok:
		return "", "", fmt.Errorf("unknown user %q", user)
	case dir["nonce"] != nonce:
		return "", "", errors.New("response to another challenge")
	case dir["realm"] != saslmd5.Realm:
		return "", "", fmt.Errorf("realm %q", dir["realm"])
	case dir["digest-uri"] != saslmd5.DigestURI:
		return "", "", fmt.Errorf("digest-uri %q", dir["digest-uri"])
	case dir["qop"] != "" && dir["qop"] != "auth":
		return "", "", fmt.Errorf("qop %q", dir["qop"])
	case dir["nc"] != "00000001" || dir["cnonce"] == "":
		return "", "", errors.New("missing or repeated cnonce")
	}
	utf8OK := dir["charset"] == "utf-8"
	u, err1 := saslmd5.Bytes(user, utf8OK)
	r, err2 := saslmd5.Bytes(saslmd5.Realm, utf8OK)
	p, err3 := saslmd5.Bytes(password, utf8OK)
	if err := errors.Join(err1, err2, err3); err != nil {
		return "", "", err
	}
	want, rspauth := saslmd5.Response(u, r, p, nonce, dir["cnonce"], dir["nc"], saslmd5.DigestURI)
	if subtle.ConstantTimeCompare([]byte(dir["response"]), []byte(want)) != 1 {
		return "", "", fmt.Errorf("wrong password for %q", user)
	}
	return user, rspauth, nil
}
