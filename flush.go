package zk

import (
	"fmt"
	"sync"
	"time"

	"github.com/zkgo/zk/internal/proto"
)

var pingFrame = proto.AppendFrame(nil, &proto.RequestHeader{Xid: proto.XidPing, OpCode: proto.OpPing})

// flush writes everything queued on the current link, many requests per
// system call. There is no writer goroutine: the caller that finds no
// flush in progress becomes the flusher and writes until the queue is
// empty, so the requests that callers queue while it is in the system call
// go out together in its next write (group commit). A caller whose request
// another flusher will write returns at once.
func (c *Conn) flush() {
	for {
		if !c.flushing.CompareAndSwap(false, true) {
			return // the flusher will see our request after its write
		}
		c.mu.Lock()
		l := c.link
		wbuf := c.wbuf[:0]
		if l != nil {
			if c.pingDue {
				wbuf = append(wbuf, pingFrame...)
				c.pingDue = false
			}
			for i, r := range c.sendq {
				c.sendq[i] = nil
				if r.state.Load() == reqAbandoned {
					c.putRequest(r)
					continue
				}
				wbuf = append(wbuf, r.buf...)
				if r.opcode == proto.OpAuth {
					c.authq = append(c.authq, r)
				} else {
					c.pending = append(c.pending, r)
				}
			}
			c.sendq = c.sendq[:0]
		}
		timeout := c.to.read
		c.mu.Unlock()
		if len(wbuf) == 0 {
			c.flushing.Store(false)
			// A request queued after our look but before the release found
			// the flag held: look once more.
			c.mu.Lock()
			more := c.link != nil && (len(c.sendq) > 0 || c.pingDue)
			c.mu.Unlock()
			if !more {
				return
			}
			continue
		}
		now := time.Now()
		l.conn.SetWriteDeadline(now.Add(timeout))
		_, err := l.conn.Write(wbuf)
		c.lastSend.Store(now.UnixNano())
		if cap(wbuf) > 1<<20 {
			wbuf = nil // do not keep a huge buffer after a burst
		}
		c.mu.Lock()
		c.wbuf = wbuf
		c.mu.Unlock()
		c.flushing.Store(false)
		if err != nil {
			l.fail(fmt.Errorf("zk: write to %s: %w", l.addr, err))
			return
		}
	}
}

// pinger sends a ping whenever nothing was written on its link for the
// ping interval (T/3).
type pinger struct {
	c        *Conn
	l        *link
	interval time.Duration
	mu       sync.Mutex // guards t: the callback may run before AfterFunc returns
	t        *time.Timer
}

// startPings arms the link's ping timer.
func (c *Conn) startPings(l *link) *pinger {
	c.mu.Lock()
	p := &pinger{c: c, l: l, interval: c.to.ping}
	c.mu.Unlock()
	c.lastSend.Store(time.Now().UnixNano())
	p.mu.Lock()
	p.t = time.AfterFunc(p.interval, p.fire)
	p.mu.Unlock()
	return p
}

func (p *pinger) fire() {
	c, l := p.c, p.l
	if l.errNow() != nil {
		return
	}
	next := p.interval
	if idle := time.Since(time.Unix(0, c.lastSend.Load())); idle < p.interval {
		next = p.interval - idle
	} else {
		c.mu.Lock()
		ok := c.link == l
		if ok {
			c.pingDue = true
		}
		c.mu.Unlock()
		if !ok {
			return
		}
		c.flush()
	}
	p.mu.Lock()
	p.t.Reset(next)
	p.mu.Unlock()
}

// Stop disarms the timer; a callback already running returns without
// arming it again once its link has failed.
func (p *pinger) Stop() {
	p.mu.Lock()
	p.t.Stop()
	p.mu.Unlock()
}
