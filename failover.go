package zk

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"time"
)

// dialServer dials addr, wrapping the connection in TLS when configured.
func (c *Conn) dialServer(ctx context.Context, addr string) (net.Conn, error) {
	nc, err := c.cfg.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if !c.cfg.useTLS {
		return nc, nil
	}
	cfg := c.cfg.tls.Clone()
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		host, _, _ := net.SplitHostPort(addr)
		cfg.ServerName = host
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}

// probeReadWrite runs while the session is on a read-only server: it asks
// the other servers, with the isro four-letter word, whether they serve
// read-write, waiting 100 ms before the first round and twice as long after
// each round that found none, at most 10 s. It sends the first read-write
// server found on found and returns; it returns when stop closes.
func (c *Conn) probeReadWrite(current string, found chan<- string, stop <-chan struct{}) {
	wait := 100 * time.Millisecond
	for {
		t := time.NewTimer(wait)
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
		c.mu.Lock()
		hosts := slices.Clone(c.hosts)
		timeout := c.to.connect
		c.mu.Unlock()
		for _, h := range hosts {
			if h == current {
				continue
			}
			if c.isReadWrite(h, timeout, stop) {
				c.log.Info("zk: found a read-write server", "server", h)
				found <- h
				return
			}
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// isReadWrite asks one server "isro" and reports whether it answered "rw".
func (c *Conn) isReadWrite(addr string, timeout time.Duration, stop <-chan struct{}) bool {
	ctx, cancel := context.WithTimeout(c.closeCtx, timeout)
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	nc, err := c.dialServer(ctx, addr)
	if err != nil {
		return false
	}
	defer nc.Close()
	dl, _ := ctx.Deadline()
	nc.SetDeadline(dl)
	// stop (the link was lost, the handle is closing) ends the exchange
	// too, not only the dial: a server that took the connection but does
	// not answer would otherwise hold the handle until the deadline.
	defer context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })()
	if _, err := nc.Write([]byte("isro")); err != nil {
		return false
	}
	var buf [2]byte
	n := 0
	for n < 2 {
		m, err := nc.Read(buf[n:])
		n += m
		if err != nil {
			break
		}
	}
	return n == 2 && string(buf[:]) == "rw"
}

// UpdateServers replaces the server list of a live handle, for example
// after the ensemble was reconfigured. The connection string's chroot, if
// any, must be the handle's own. If the current server is no longer listed,
// the handle moves the session to a server of the new list at once. If it
// is, and servers were added, the session moves to one of the added servers
// with probability added/listed (so that the sessions of many clients
// spread evenly over the grown ensemble) and otherwise stays. A move is a
// reconnection with the same session: calls in flight fail with
// ErrConnectionLoss, watches and ephemeral nodes are kept. Later reconnects
// use the new list.
func (c *Conn) UpdateServers(connString string) error {
	_, err := c.updateServers(connString)
	return err
}

// updateServers is UpdateServers; it also returns the added server the
// session moves to ("" if it stays).
func (c *Conn) updateServers(connString string) (moveTo string, err error) {
	hosts, chroot, err := parseConnString(connString)
	if err != nil {
		return "", err
	}
	if chroot != "" && chroot != c.chroot {
		return "", fmt.Errorf("%w: chroot %q differs from the handle's %q", ErrBadConnString, chroot, c.chroot)
	}
	c.mu.Lock()
	if c.state.terminal() {
		err := c.closeErr
		c.mu.Unlock()
		return "", err
	}
	if !c.cfg.noRebalance {
		moveTo = rebalanceTarget(c.hosts, hosts, c.server, c.rebalance)
	}
	if moveTo != "" {
		c.log.Info("zk: moving the session to a server added to the list", "from", c.server, "to", moveTo)
	}
	c.moveTo = moveTo
	c.newHosts = hosts
	c.hosts = hosts
	if c.attemptCancel != nil && (!slices.Contains(hosts, c.attemptAddr) || moveTo != "" && moveTo != c.attemptAddr) {
		// The attempt in progress (a dial to a server that does not
		// answer can take the whole connect timeout) would only end on
		// a server the session must leave: abandon it, as the Java
		// client closes its connecting socket.
		c.attemptCancel()
	}
	c.mu.Unlock()
	select {
	case c.hostsChanged <- struct{}{}:
	default:
	}
	return moveTo, nil
}

// serverListed reports whether addr is in the current server list.
func (c *Conn) serverListed(addr string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.hosts, addr)
}

// applyHostUpdate installs a list given to UpdateServers; it runs on the
// loop goroutine, which owns hosts.
func (c *Conn) applyHostUpdate(hosts *hostList) {
	c.mu.Lock()
	nh := c.newHosts
	c.newHosts = nil
	// The server of the current link, or of the link just lost: either way
	// the next attempt goes to the server after it.
	current := c.server
	moveTo := c.moveTo
	c.moveTo = ""
	c.mu.Unlock()
	if nh == nil {
		return
	}
	hosts.update(nh, current, c.cfg.rand)
	if moveTo != "" {
		hosts.prefer(moveTo)
	}
	c.mu.Lock()
	c.nhosts = hosts.len()
	c.to = newTimeouts(c.to.session, c.nhosts)
	c.mu.Unlock()
}
