// Package recipetest holds what the recipe tests share: a per-client
// network that can be cut, silenced or made to lose a create's reply; a
// recorder of holding intervals that finds overlaps; and a chaos runner that
// injects faults into a server (in-memory or real) and into clients while
// several actors contend.
package recipetest

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// ErrPartitioned is what a dial fails with while a Net is cut.
var ErrPartitioned = errors.New("recipetest: partitioned")

// Net is one client's network: its Dial (for zk.WithDialer) tracks the
// connections it made, so that a test can cut them (the client sees the
// connection close at once and dials fail), silence them (nothing passes
// either way and dials hang: the client notices only by its read timeout,
// like a real partition), or lose the reply to the next create.
type Net struct {
	d net.Dialer

	// mu guards the fields below.
	mu        sync.Mutex
	cut       bool
	silent    bool
	healed    chan struct{} // closed by Heal: wakes dials held by a silence
	conns     map[*pconn]struct{}
	armCreate bool          // the next create's reply is to be lost
	dropped   chan struct{} // closed when an armed reply was dropped
}

// NewNet returns a healthy network.
func NewNet() *Net {
	return &Net{healed: make(chan struct{}), conns: make(map[*pconn]struct{})}
}

// Dial is a zk.DialFunc.
func (n *Net) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	n.mu.Lock()
	cut, silent, healed := n.cut, n.silent, n.healed
	n.mu.Unlock()
	switch {
	case cut:
		return nil, ErrPartitioned
	case silent: // a SYN into the void
		select {
		case <-healed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c, err := n.d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	pc := &pconn{Conn: c, n: n, closed: make(chan struct{})}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cut || n.silent { // partitioned while dialing
		c.Close()
		return nil, ErrPartitioned
	}
	n.conns[pc] = struct{}{}
	return pc, nil
}

// Cut closes every connection and fails dials until Heal.
func (n *Net) Cut() {
	n.mu.Lock()
	n.cut = true
	conns := n.snapshotLocked()
	n.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// Silence makes every connection swallow what is written and deliver
// nothing (reads end only at their deadline), and makes dials hang until
// Heal. Connections silenced stay so: after Heal the client dials anew.
func (n *Net) Silence() {
	n.mu.Lock()
	n.silent = true
	conns := n.snapshotLocked()
	n.mu.Unlock()
	for _, c := range conns {
		c.mu.Lock()
		c.silent = true
		c.mu.Unlock()
	}
}

// Heal lets new connections through again.
func (n *Net) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cut || n.silent {
		n.cut, n.silent = false, false
		close(n.healed)
		n.healed = make(chan struct{})
	}
}

// ArmCreateReplyDrop makes the reply to the next sequential create lost:
// the server applies the create, and the connection closes just before its
// reply would be delivered, so the client sees ErrConnectionLoss. The
// returned channel is closed when that happened.
func (n *Net) ArmCreateReplyDrop() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.armCreate = true
	n.dropped = make(chan struct{})
	return n.dropped
}

func (n *Net) snapshotLocked() []*pconn {
	out := make([]*pconn, 0, len(n.conns))
	for c := range n.conns {
		out = append(out, c)
	}
	return out
}

// takeArm reports whether a create was armed, and disarms it.
func (n *Net) takeArm() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	armed := n.armCreate
	n.armCreate = false
	return armed
}

func (n *Net) signalDropped() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.dropped != nil {
		close(n.dropped)
		n.dropped = nil
	}
}

// pconn is a connection made by a Net. Reads are cut at frame boundaries
// (length-prefixed, as ZooKeeper frames them) so that one reply can be
// dropped.
type pconn struct {
	net.Conn
	n         *Net
	closeOnce sync.Once
	closed    chan struct{}

	// mu guards the fields below.
	mu           sync.Mutex
	silent       bool
	readDeadline time.Time
	in           []byte // read from the server, not yet framed
	out          []byte // whole frames, ready for the client
	rerr         error  // the server side's read error, after out
	handshaken   bool   // the first frame (ConnectResponse, no xid) went by
	dropXid      int32  // the reply to drop, 0 for none
	dead         bool   // the reply was dropped: EOF from now on
}

// Create opcodes and the sequential flag, as on the wire.
const (
	opCreate       = 1
	opCreate2      = 15
	flagSequential = 2
)

// Write sends p, or swallows it when silenced; it arms the reply drop on
// a sequential create.
func (c *pconn) Write(p []byte) (int, error) {
	c.mu.Lock()
	silent, dead := c.silent, c.dead
	c.mu.Unlock()
	switch {
	case dead:
		return 0, net.ErrClosed
	case silent:
		return len(p), nil
	}
	// The client writes whole frames: look for a create to arm.
	for b := p; len(b) >= 12; {
		size := int(binary.BigEndian.Uint32(b))
		if size < 8 || len(b) < 4+size {
			break
		}
		xid, op := int32(binary.BigEndian.Uint32(b[4:])), int32(binary.BigEndian.Uint32(b[8:]))
		flags := binary.BigEndian.Uint32(b[4+size-4:]) // a create's last field
		if (op == opCreate || op == opCreate2) && xid > 0 && flags&flagSequential != 0 && c.n.takeArm() {
			c.mu.Lock()
			c.dropXid = xid
			c.mu.Unlock()
		}
		b = b[4+size:]
	}
	return c.Conn.Write(p)
}

// Read delivers whole frames; silenced, it waits for the read deadline.
func (c *pconn) Read(p []byte) (int, error) {
	for {
		c.mu.Lock()
		if len(c.out) > 0 {
			k := copy(p, c.out)
			c.out = c.out[k:]
			c.mu.Unlock()
			return k, nil
		}
		silent, dead, rerr, dl := c.silent, c.dead, c.rerr, c.readDeadline
		c.mu.Unlock()
		switch {
		case dead:
			return 0, io.EOF
		case rerr != nil && !silent:
			return 0, rerr
		case silent:
			return 0, c.waitDeadline(dl)
		}
		buf := make([]byte, 32<<10)
		k, err := c.Conn.Read(buf)
		c.mu.Lock()
		if !c.silent {
			c.in = append(c.in, buf[:k]...)
			c.frameLocked()
			if err != nil && c.rerr == nil {
				c.rerr = err
			}
		}
		c.mu.Unlock()
	}
}

// frameLocked moves whole frames from in to out, stopping at the reply to
// drop.
func (c *pconn) frameLocked() {
	for len(c.in) >= 4 {
		size := int(binary.BigEndian.Uint32(c.in))
		if len(c.in) < 4+size {
			return
		}
		if c.handshaken && c.dropXid != 0 && size >= 4 && int32(binary.BigEndian.Uint32(c.in[4:])) == c.dropXid {
			c.dead = true
			c.dropXid = 0
			c.in = nil
			c.Conn.Close()
			c.n.signalDropped()
			return
		}
		c.handshaken = true
		c.out = append(c.out, c.in[:4+size]...)
		c.in = c.in[4+size:]
	}
}

// waitDeadline blocks a silenced read until its deadline (or Close).
func (c *pconn) waitDeadline(dl time.Time) error {
	var timeout <-chan time.Time
	if !dl.IsZero() {
		t := time.NewTimer(time.Until(dl))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		return os.ErrDeadlineExceeded
	case <-c.closed:
		return net.ErrClosed
	}
}

// SetDeadline records the read deadline for silenced reads.
func (c *pconn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

// SetReadDeadline records the deadline for silenced reads.
func (c *pconn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

// Close closes the connection and forgets it.
func (c *pconn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.n.mu.Lock()
		delete(c.n.conns, c)
		c.n.mu.Unlock()
	})
	return c.Conn.Close()
}
