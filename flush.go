package zk

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkgo/zk/internal/proto"
)

var pingFrame = proto.AppendFrame(nil, &proto.RequestHeader{Xid: proto.XidPing, OpCode: proto.OpPing})

// callerWritePatience is how long a caller acting as the flusher waits in a
// socket write before it hands the rest to its link's writer goroutine: a
// server that stops reading must not hold callers past their contexts.
const callerWritePatience = 20 * time.Millisecond

// flush writes everything queued on the current link, many requests per
// system call. The caller that finds no flush in progress becomes the
// flusher and writes until the queue is empty, so the requests that callers
// queue while it is in the system call go out together in its next write
// (group commit), with no hand-off to another goroutine. A caller whose
// request another flusher will write returns at once. When the socket does
// not take the bytes at once (raw I/O, rawio_linux.go) or within
// callerWritePatience (net.Conn), the rest goes to the link's writer
// goroutine, which keeps the flusher's role until the queue is empty, and
// the caller returns to wait for its reply (or its ctx). On a connection
// that is not plain TCP (TLS, where a timed-out write leaves
// the connection unusable, or whatever a dialer returns), the writer
// goroutine does every write.
func (c *Conn) flush() {
	for {
		if !c.flushing.CompareAndSwap(false, true) {
			return // the flusher will see our request after its write
		}
		l, wbuf, more := c.takeBatch()
		if len(wbuf) == 0 {
			if !more {
				return
			}
			continue
		}
		if !l.callerWrites {
			// Only a plain TCP connection survives a timed-out write (TLS,
			// from WithTLS or from a dialer, does not), so on any other the
			// writer goroutine does the writing.
			select {
			case l.backlog <- wbuf:
				return
			case <-l.failed:
				c.putBatch(wbuf)
				c.flushing.Store(false)
				if c.queuedOnNewLink(l) {
					continue
				}
				return
			}
		}
		var n int
		var err error
		if l.raw != nil {
			// One attempt that never waits: what the socket does not take
			// now goes to the writer goroutine.
			n, err = l.raw.tryWrite(wbuf)
			c.lastSend.Store(time.Now().UnixNano())
			if err == nil && n < len(wbuf) {
				err = os.ErrDeadlineExceeded
			}
		} else {
			now := time.Now()
			l.conn.SetWriteDeadline(now.Add(callerWritePatience))
			n, err = l.conn.Write(wbuf)
			c.lastSend.Store(now.UnixNano())
		}
		handOff := err != nil && errors.Is(err, os.ErrDeadlineExceeded)
		if hook := callerWriteHook.Load(); hook != nil {
			(*hook)(c, handOff)
		}
		if handOff {
			select {
			case l.backlog <- wbuf[n:]: // the writer goroutine holds the flag now
				return
			case <-l.failed:
				err = l.err
			}
		}
		c.putBatch(wbuf)
		c.flushing.Store(false)
		if err != nil {
			l.fail(fmt.Errorf("zk: write to %s: %w", l.addr, err))
			if c.queuedOnNewLink(l) {
				continue
			}
			return
		}
	}
}

// queuedOnNewLink reports, after a flusher gave up its role on the failed
// link l, whether the handle is already on another link with requests
// queued: that link's first flush (its credentials, SetWatches and the
// calls queued meanwhile) may have found the role taken and left the write
// to the holder, so the caller must flush again rather than leave them
// until the next ping. What is queued while l is still current is failed
// with it.
func (c *Conn) queuedOnNewLink(l *link) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.link != nil && c.link != l && (len(c.sendq) > 0 || c.pingDue)
}

// writeLoop is the link's writer goroutine: it finishes the writes that
// callers handed over, with the full write timeout, and then flushes the
// queue itself until it is empty, still holding the flusher's role. It
// never calls flush: flush hands blocked or non-TCP writes to this very
// goroutine, which would then wait on itself.
func (c *Conn) writeLoop(l *link) {
	for {
		var rest []byte
		select {
		case rest = <-l.backlog:
		case <-l.failed:
			return
		}
		c.mu.Lock()
		timeout := c.to.read
		c.mu.Unlock()
		for len(rest) > 0 {
			now := time.Now()
			l.conn.SetWriteDeadline(now.Add(timeout))
			_, err := l.conn.Write(rest)
			c.lastSend.Store(now.UnixNano())
			c.putBatch(rest)
			if err != nil {
				c.flushing.Store(false)
				l.fail(fmt.Errorf("zk: write to %s: %w", l.addr, err))
				return
			}
			rest = c.nextBatch(l)
		}
	}
}

// callerWriteHook, set only by tests, runs after each write a caller makes
// as the flusher, saying whether it handed the rest to the writer
// goroutine.
var callerWriteHook atomic.Pointer[func(c *Conn, handedOff bool)]

// writerIdleHook, set only by tests, runs when the writer goroutine found
// nothing more to write, just before it gives up the flusher's role.
var writerIdleHook atomic.Pointer[func(*Conn)]

// nextBatch is the writer goroutine's next write: the queued requests,
// taken while it holds the flusher's role. With nothing queued it gives the
// role back and returns nil; a request queued just before the release
// found the role taken and left its write to the holder, so the writer
// looks once more after the release and takes the role back if needed.
func (c *Conn) nextBatch(l *link) []byte {
	for {
		wl, rest, _ := c.takeBatchHeld()
		if wl == l && len(rest) > 0 {
			return rest
		}
		c.putBatch(rest)
		if l.raw != nil {
			// Callers' raw writes check the write deadline: take this
			// goroutine's away before they write again.
			l.conn.SetWriteDeadline(time.Time{})
		}
		if hook := writerIdleHook.Load(); hook != nil {
			(*hook)(c)
		}
		c.flushing.Store(false)
		c.mu.Lock()
		more := c.link == l && (len(c.sendq) > 0 || c.pingDue)
		c.mu.Unlock()
		if !more || !c.flushing.CompareAndSwap(false, true) {
			return nil // nothing left, or another flusher took the role
		}
	}
}

// takeBatch moves the queued requests into the write buffer (the caller
// holds the flusher's role). With nothing to write it gives the role back
// and reports whether a request arrived meanwhile (then try again).
func (c *Conn) takeBatch() (l *link, wbuf []byte, more bool) {
	l, wbuf, _ = c.takeBatchHeld()
	if len(wbuf) > 0 {
		return l, wbuf, false
	}
	c.putBatch(wbuf) // keep the buffer for the next flusher
	c.flushing.Store(false)
	// A request queued after our look but before the release found the
	// role taken: look once more.
	c.mu.Lock()
	more = c.link != nil && (len(c.sendq) > 0 || c.pingDue)
	c.mu.Unlock()
	return nil, nil, more
}

// takeBatchHeld is takeBatch without giving the role back.
func (c *Conn) takeBatchHeld() (l *link, wbuf []byte, _ bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l = c.link
	wbuf = c.wbuf[:0]
	c.wbuf = nil
	if l == nil {
		return nil, nil, false
	}
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
			if len(c.pending) == cap(c.pending) && c.phead > 0 {
				// Slide the unanswered requests to the front instead of
				// growing the array.
				n := copy(c.pending, c.pending[c.phead:])
				clear(c.pending[n:])
				c.pending, c.phead = c.pending[:n], 0
			}
			c.pending = append(c.pending, r)
		}
	}
	c.sendq, c.sendqAbandoned = c.sendq[:0], 0
	return l, wbuf, false
}

// putBatch keeps a write buffer for the next flusher, unless a burst made
// it huge.
func (c *Conn) putBatch(b []byte) {
	if cap(b) > 1<<20 {
		return
	}
	c.mu.Lock()
	if cap(b) > cap(c.wbuf) {
		c.wbuf = b[:0]
	}
	c.mu.Unlock()
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
