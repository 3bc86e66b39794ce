package zk

import (
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DefaultPort is the port used for a host given without one.
const DefaultPort = 2181

// parseConnString splits "host:port,host:port/chroot" into host:port
// addresses and a chroot ("" for none). It does no I/O: hostnames are
// resolved at every connection attempt, by the dialer.
func parseConnString(s string) (hosts []string, chroot string, err error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadConnString}, args...)...)
	}
	hostPart := s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		hostPart, chroot = s[:i], s[i:]
		if chroot == "/" {
			chroot = ""
		} else if err := validatePath(chroot, false); err != nil {
			return nil, "", bad("chroot %q: %s", chroot, strings.TrimPrefix(err.Error(), ErrInvalidPath.Error()+": "))
		}
	}
	if strings.TrimSpace(hostPart) == "" {
		return nil, "", bad("%q has no host", s)
	}
	for _, h := range strings.Split(hostPart, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, "", bad("%q has an empty host entry", s)
		}
		addr, err := parseHost(h)
		if err != nil {
			return nil, "", bad("host %q: %s", h, err)
		}
		hosts = append(hosts, addr)
	}
	return hosts, chroot, nil
}

// parseHost validates one "host[:port]" entry and returns "host:port".
func parseHost(h string) (string, error) {
	host, port := h, ""
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", fmt.Errorf("missing ']' after IPv6 address")
		}
		host = h[1:end]
		rest := h[end+1:]
		switch {
		case rest == "":
		case rest[0] == ':':
			port = rest[1:]
			if port == "" {
				return "", fmt.Errorf("empty port")
			}
		default:
			return "", fmt.Errorf("unexpected %q after IPv6 address", rest)
		}
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil && !strings.Contains(host, ":") {
			return "", fmt.Errorf("%q is not an IPv6 address", host)
		}
	} else {
		if strings.Count(h, ":") > 1 {
			return "", fmt.Errorf("IPv6 address must be written in brackets, as [%s]:port", h)
		}
		if i := strings.IndexByte(h, ':'); i >= 0 {
			host, port = h[:i], h[i+1:]
			if port == "" {
				return "", fmt.Errorf("empty port")
			}
		}
		if host == "" {
			return "", fmt.Errorf("empty host name")
		}
		for i, c := range host {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
				if _, size := utf8.DecodeRuneInString(host[i:]); c == utf8.RuneError && size == 1 {
					return "", fmt.Errorf("host name is not valid UTF-8 at byte %d", i)
				}
				return "", fmt.Errorf("host name has a disallowed character %q", c)
			}
		}
	}
	p := DefaultPort
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '+' {
			return "", fmt.Errorf("port %q is not a number from 1 to 65535", port)
		}
		p = n
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// hostList rotates through a shuffled list of servers. It is pure: no I/O, no
// goroutines, no locks (the handle's loop goroutine owns it).
type hostList struct {
	hosts   []string
	idx     int // next host to try
	attempt int // attempts since the last successful connection
}

func newHostList(hosts []string, rnd *rand.Rand) *hostList {
	h := &hostList{hosts: append([]string(nil), hosts...)}
	rnd.Shuffle(len(h.hosts), func(i, j int) { h.hosts[i], h.hosts[j] = h.hosts[j], h.hosts[i] })
	return h
}

// next returns the next server to try. backoff is true when a whole pass over
// the list has failed since the last success: the caller waits before it
// dials.
func (h *hostList) next() (addr string, backoff bool) {
	backoff = h.attempt > 0 && h.attempt%len(h.hosts) == 0
	addr = h.hosts[h.idx]
	h.idx = (h.idx + 1) % len(h.hosts)
	h.attempt++
	return addr, backoff
}

// connected records a successful connection: the next failure starts a new
// pass and is retried at once on the next server.
func (h *hostList) connected() { h.attempt = 0 }

// len is the number of servers.
func (h *hostList) len() int { return len(h.hosts) }

// update replaces the server list, keeping current (the server the handle is
// connected to, or "") first if it is still present, and reports whether it
// was. The rest is shuffled.
func (h *hostList) update(hosts []string, current string, rnd *rand.Rand) bool {
	if len(hosts) == 0 {
		return false // keep the old list: next() needs at least one server
	}
	nh := append([]string(nil), hosts...)
	rnd.Shuffle(len(nh), func(i, j int) { nh[i], nh[j] = nh[j], nh[i] })
	kept := false
	for i, a := range nh {
		if a == current {
			nh[0], nh[i] = nh[i], nh[0]
			kept = true
			break
		}
	}
	h.hosts = nh
	h.idx = 0
	if kept {
		h.idx = 1 % len(nh)
	}
	h.attempt = 0
	return kept
}

// rebalanceTarget decides whether a session on current moves after the
// server list went from old to updated, so that the sessions of an
// ensemble that grew spread over the servers added: a session moves with
// probability added/len(updated), to an added server chosen uniformly. A
// session spread evenly over the old servers then is, in expectation,
// spread evenly over the new list. It returns "" to stay (also when
// current is not listed any more: that move happens anyway).
func rebalanceTarget(old, updated []string, current string, rnd *rand.Rand) string {
	if !slices.Contains(updated, current) {
		return ""
	}
	var added []string
	for _, a := range updated {
		if !slices.Contains(old, a) && !slices.Contains(added, a) {
			added = append(added, a)
		}
	}
	if len(added) == 0 || rnd.IntN(len(updated)) >= len(added) {
		return ""
	}
	return added[rnd.IntN(len(added))]
}

// prefer makes addr the next server tried, if it is listed.
func (h *hostList) prefer(addr string) {
	for i, a := range h.hosts {
		if a == addr {
			h.idx = i
			return
		}
	}
}
