package zk

import (
	"fmt"
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

// startPings arms the link's ping timer: whenever nothing was written for
// the ping interval (T/3), a ping goes out.
func (c *Conn) startPings(l *link) *time.Timer {
	c.mu.Lock()
	interval := c.to.ping
	c.mu.Unlock()
	c.lastSend.Store(time.Now().UnixNano())
	var t *time.Timer
	t = time.AfterFunc(interval, func() {
		if l.errNow() != nil {
			return
		}
		idle := time.Since(time.Unix(0, c.lastSend.Load()))
		if idle < interval {
			t.Reset(interval - idle)
			return
		}
		c.mu.Lock()
		ok := c.link == l
		if ok {
			c.pingDue = true
		}
		c.mu.Unlock()
		if ok {
			c.flush()
			t.Reset(interval)
		}
	})
	return t
}
