package faultproxy

import (
	"errors"
	"io"
	"net"
	"time"
)

// conn is one proxied connection: a client connection accepted by the proxy
// and the connection the proxy dialled to the target for it.
type conn struct {
	p      *Proxy
	client net.Conn
	server net.Conn
	pipes  [2]*pipe      // indexed by Direction
	done   chan struct{} // closed by teardown

	// Guarded by p.mu.
	closed      bool
	writersLeft int // writers that have not finished cleanly
}

// pipe is one direction of a conn.
type pipe struct {
	c        *conn
	dir      Direction
	src, dst net.Conn
	wake     chan struct{} // capacity 1: the writer should re-examine its state
	space    chan struct{} // capacity 1: the reader should re-examine the queue size

	// Guarded by p.mu.
	queue      []chunk
	queued     int  // data bytes in queue
	shut       bool // HalfClose: discard everything, the writer is done
	writerDone bool
}

// chunk is what one read from the source returned.
type chunk struct {
	data []byte
	at   time.Time // when the read returned; delivery is due at+latency
	end  bool      // the source ended; no chunks follow
	err  error     // with end: the read error, nil for a clean io.EOF
}

func newConn(p *Proxy, client, server net.Conn) *conn {
	c := &conn{
		p:           p,
		client:      client,
		server:      server,
		done:        make(chan struct{}),
		writersLeft: 2,
	}
	c.pipes[ClientToServer] = c.newPipe(ClientToServer, client, server)
	c.pipes[ServerToClient] = c.newPipe(ServerToClient, server, client)
	return c
}

func (c *conn) newPipe(dir Direction, src, dst net.Conn) *pipe {
	return &pipe{
		c:     c,
		dir:   dir,
		src:   src,
		dst:   dst,
		wake:  make(chan struct{}, 1),
		space: make(chan struct{}, 1),
	}
}

// teardown closes both sides of c once; abort makes both peers see a reset
// rather than an orderly close. It removes c from the proxy, which ends all
// four goroutines of c: waits end on done, I/O fails on the closed sockets.
func (c *conn) teardown(abort bool) {
	p := c.p
	p.mu.Lock()
	if c.closed {
		p.mu.Unlock()
		return
	}
	c.closed = true
	close(c.done)
	delete(p.conns, c)
	p.connsChangedLocked()
	p.mu.Unlock()

	if abort {
		setLingerZero(c.client)
		setLingerZero(c.server)
	}
	c.client.Close()
	c.server.Close()
}

func setLingerZero(c net.Conn) {
	if l, ok := c.(interface{ SetLinger(int) error }); ok {
		_ = l.SetLinger(0)
	}
}

// readLoop reads from src into the queue until src fails or ends, pausing
// while the queue is full.
func (pp *pipe) readLoop() {
	p := pp.c.p
	defer p.wg.Done()
	buf := make([]byte, readBufSize)
	for {
		p.mu.Lock()
		for pp.queued >= maxQueued && !pp.shut {
			p.mu.Unlock()
			select {
			case <-pp.space:
			case <-pp.c.done:
				return
			}
			p.mu.Lock()
		}
		p.mu.Unlock()

		n, err := pp.src.Read(buf)
		now := time.Now()

		p.mu.Lock()
		if n > 0 && !pp.shut {
			pp.queue = append(pp.queue, chunk{data: append([]byte(nil), buf[:n]...), at: now})
			pp.queued += n
		}
		if err != nil && !pp.shut {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			pp.queue = append(pp.queue, chunk{at: now, end: true, err: err})
		}
		p.mu.Unlock()
		notify(pp.wake)
		if err != nil {
			return
		}
	}
}

// step is what a writer does next.
type step int

const (
	stepWait  step = iota // wait for a wake-up, a timer or teardown
	stepWrite             // write the returned bytes to dst
	stepEOF               // the source ended cleanly: CloseWrite dst
	stepAbort             // the source failed: reset the connection
	stepShut              // HalfClose: the writer is done
	stepExit              // the connection was torn down
)

// nextLocked decides the writer's next step at time now. For stepWrite it
// removes the returned bytes from the queue; for stepWait with a positive
// duration the writer must wake up after it.
func (pp *pipe) nextLocked(now time.Time) (st step, data []byte, wait time.Duration) {
	p := pp.c.p
	switch {
	case pp.c.closed:
		return stepExit, nil, 0
	case pp.shut:
		return stepShut, nil, 0
	case len(pp.queue) == 0 || p.blackhole || p.paused[pp.dir]:
		return stepWait, nil, 0
	}
	front := &pp.queue[0]
	if d := front.at.Add(p.latency).Sub(now); d > 0 {
		return stepWait, nil, d
	}
	if front.end {
		if front.err != nil {
			return stepAbort, nil, 0
		}
		return stepEOF, nil, 0
	}
	n := len(front.data)
	if p.split {
		n = 1
	}
	data = front.data[:n:n]
	front.data = front.data[n:]
	if len(front.data) == 0 {
		pp.queue[0] = chunk{} // drop the reference for the garbage collector
		pp.queue = pp.queue[1:]
		if len(pp.queue) == 0 {
			pp.queue = nil
		}
	}
	pp.queued -= n
	notify(pp.space)
	return stepWrite, data, 0
}

// shutLocked discards the queue and marks pp shut by HalfClose.
func (pp *pipe) shutLocked() {
	pp.shut = true
	pp.queue = nil
	pp.queued = 0
	notify(pp.wake)
	notify(pp.space)
}

// writeLoop delivers the queue to dst, applying the proxy's faults, until the
// source ends, the direction is shut or the connection is torn down.
func (pp *pipe) writeLoop() {
	p := pp.c.p
	defer p.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		p.mu.Lock()
		st, data, wait := pp.nextLocked(time.Now())
		p.mu.Unlock()

		switch st {
		case stepExit:
			return
		case stepShut:
			pp.finishWriter()
			return
		case stepAbort:
			pp.c.teardown(true)
			return
		case stepEOF:
			closeWrite(pp.dst)
			pp.finishWriter()
			return
		case stepWait:
			var fire <-chan time.Time
			if wait > 0 {
				timer.Reset(wait)
				fire = timer.C
			}
			select {
			case <-pp.wake:
			case <-fire:
			case <-pp.c.done:
				return
			}
			timer.Stop()
		case stepWrite:
			n, err := pp.dst.Write(data)
			p.bytes[pp.dir].Add(int64(n))
			p.writes[pp.dir].Add(1)
			if err != nil {
				p.mu.Lock()
				shut := pp.shut
				p.mu.Unlock()
				if shut {
					// HalfClose shut dst down under this write.
					pp.finishWriter()
				} else {
					pp.c.teardown(true)
				}
				return
			}
		}
	}
}

// finishWriter records that pp's writer is done without error; when both
// writers are, the connection is closed.
func (pp *pipe) finishWriter() {
	c := pp.c
	c.p.mu.Lock()
	last := false
	if !pp.writerDone {
		pp.writerDone = true
		c.writersLeft--
		last = c.writersLeft == 0
	}
	c.p.mu.Unlock()
	if last {
		c.teardown(false)
	}
}
