package testserver

import (
	"crypto/sha1"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/zkgo/zk/internal/proto"
)

// The authentication providers the server knows: digest and ip (every
// connection has ip:<remote address>). world:anyone is not a provider; it is
// special-cased, as in the real server.

// digestID is DigestAuthenticationProvider.generateDigest: for "user:password"
// it is "user:" + base64(sha1("user:password")).
func digestID(userPassword string) string {
	user, _, _ := strings.Cut(userPassword, ":")
	sum := sha1.Sum([]byte(userPassword))
	return user + ":" + base64.StdEncoding.EncodeToString(sum[:])
}

// javaSplitLen is len(s.split(sep)) in Java, which drops trailing empty
// strings.
func javaSplitLen(s, sep string) int {
	parts := strings.Split(s, sep)
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	if len(parts) == 0 && s == "" {
		return 1 // "".split(x) is [""]
	}
	return len(parts)
}

// ipBytes parses an address as IPAuthenticationProvider.addr2Bytes does in
// 3.8: dotted IPv4 only (four parts, each a Java int from 0 to 255, so "+1"
// and "010" pass), nil otherwise. IPv6 is not supported there ("TODO Write
// the v6addr2Bytes"), so an IPv6 ACL id is invalid and an IPv6 client
// matches no ip ACL.
func ipBytes(s string) []byte {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return nil
	}
	b := make([]byte, 4)
	for i, p := range parts {
		v, ok := javaParseInt(p)
		if !ok || v < 0 || v > 255 {
			return nil
		}
		b[i] = byte(v)
	}
	return b
}

// javaParseInt is Integer.parseInt for ASCII input: an optional sign, then
// one or more decimal digits, within int32.
func javaParseInt(s string) (int, bool) {
	if s == "" || s == "+" || s == "-" {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 32)
	return int(v), err == nil
}

// ipACL parses an ip ACL id, "address" or "address/bits".
func ipACL(expr string) (addr []byte, bits int, ok bool) {
	a, b, hasBits := strings.Cut(expr, "/")
	addr = ipBytes(a)
	if addr == nil {
		return nil, 0, false
	}
	bits = len(addr) * 8
	if hasBits {
		n, ok := javaParseInt(b)
		if !ok || n < 0 || n > len(addr)*8 {
			return nil, 0, false
		}
		bits = n
	}
	return addr, bits, true
}

func ipMatches(remote, expr string) bool {
	acl, bits, ok := ipACL(expr)
	if !ok {
		return false
	}
	addr := ipBytes(remote)
	if len(addr) != len(acl) {
		return false
	}
	for i := range addr {
		m := byte(0xff)
		switch {
		case bits >= 8:
			bits -= 8
		default:
			m = ^byte(0xff >> bits)
			bits = 0
		}
		if addr[i]&m != acl[i]&m {
			return false
		}
	}
	return true
}

// validACLID reports whether a provider accepts the id of an ACL entry.
func validACLID(id proto.Id) bool {
	switch id.Scheme {
	case "digest":
		return javaSplitLen(id.ID, ":") == 2
	case "ip":
		_, _, ok := ipACL(id.ID)
		return ok
	}
	return false
}

func isAnyone(id proto.Id) bool { return id.Scheme == "world" && id.ID == "anyone" }

// fixupACL is the real server's fixupACL: duplicates removed, an empty list
// refused, "auth" entries replaced by the caller's authenticated ids (digest
// and sasl; ip does not count), every other id checked by its provider.
// Failure is -114 InvalidACL.
func fixupACL(c *conn, acl []proto.ACL) ([]proto.ACL, int32) {
	var uniq []proto.ACL
	for _, a := range acl {
		dup := false
		for _, u := range uniq {
			if u == a {
				dup = true
				break
			}
		}
		if !dup {
			uniq = append(uniq, a)
		}
	}
	if len(uniq) == 0 {
		return nil, proto.ErrInvalidACL
	}
	var out []proto.ACL
	for _, a := range uniq {
		switch {
		case isAnyone(a.Id):
			out = append(out, a)
		case a.Id.Scheme == "auth":
			found := false
			for _, id := range c.auth {
				if id.Scheme == "digest" || id.Scheme == "sasl" {
					found = true
					out = append(out, proto.ACL{Perms: a.Perms, Id: id})
				}
			}
			if !found {
				return nil, proto.ErrInvalidACL
			}
		case validACLID(a.Id):
			out = append(out, a)
		case a.Id.Scheme == "sasl" && c.s.cfg.saslUsers != nil && a.Id.ID != "":
			// The SASL provider is registered only where SASL is set up.
			out = append(out, a)
		default:
			return nil, proto.ErrInvalidACL
		}
	}
	return out, 0
}

// allowed is ZooKeeperServer.checkACL: an empty ACL lets everyone in;
// otherwise some entry must share a bit with perm and match one of the
// connection's ids.
func allowed(c *conn, acl []proto.ACL, perm int32) bool {
	if len(acl) == 0 {
		return true
	}
	for _, a := range acl {
		if a.Perms&perm == 0 {
			continue
		}
		if isAnyone(a.Id) {
			return true
		}
		for _, id := range c.auth {
			if id.Scheme != a.Id.Scheme {
				continue
			}
			switch id.Scheme {
			case "digest", "sasl":
				if id.ID == a.Id.ID {
					return true
				}
			case "ip":
				if ipMatches(id.ID, a.Id.ID) {
					return true
				}
			}
		}
	}
	return false
}

// maskDigests hides digest hashes from a caller without ADMIN, as getACL
// does: "user:hash" becomes "user:x".
func maskDigests(acl []proto.ACL) []proto.ACL {
	out := make([]proto.ACL, len(acl))
	for i, a := range acl {
		if user, _, ok := strings.Cut(a.Id.ID, ":"); ok && a.Id.Scheme == "digest" {
			a.Id.ID = user + ":x"
		}
		out[i] = a
	}
	return out
}

// addAuth records an authenticated id on the connection, once.
func addAuth(c *conn, id proto.Id) {
	for _, have := range c.auth {
		if have == id {
			return
		}
	}
	c.auth = append(c.auth, id)
}
