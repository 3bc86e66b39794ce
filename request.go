package zk

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/zkgo/zk/internal/proto"
)

// maxRequestFrame is the server's default jute.maxbuffer: a longer frame is
// dropped by the server with the connection, so it is refused here.
const maxRequestFrame = 0xfffff

// Request states: a request completes exactly once, either by its reply (or
// the link's failure), or by its caller giving up.
const (
	reqPending int32 = iota
	reqDone
	reqAbandoned
)

// request is one call in flight. It is pooled: whoever takes it off the last
// queue after its caller gave up returns it to the pool.
type request struct {
	xid    int32
	opcode int32
	buf    []byte // the whole frame, xid patched in at enqueue
	path   string // the caller's path, for errors (or the scheme, for auth)
	state  atomic.Int32
	done   chan struct{} // capacity 1: signalled once when complete
	err    error
	zxid   int64

	// Watch to register when the reply arrives.
	watch         *watcher
	watchKind     watchKind
	watchPath     string // server path
	registerWatch bool

	unwatch *unwatch // RemoveWatches: the local removal, done when the server answered

	cred        *Credential      // AddAuth: added to the replay list on success
	persistent  *PersistentWatch // AddWatch: registered on success
	streamEvent *StateChange     // SetWatches: delivered to persistent streams on success

	// Reply fields, filled in by decode according to opcode.
	stat     proto.Stat
	data     []byte
	str      string
	strs     []string
	acl      []proto.ACL
	num      int32
	multi    proto.MultiResponse
	whoami   []proto.ClientInfo
	hasStat  bool // create2-style reply with a stat
	noWaiter bool // internal request nobody waits for (SetWatches, replayed auth)
}

func (c *Conn) getRequest(opcode int32, path string) *request {
	r := c.pool.Get().(*request)
	r.opcode = opcode
	r.path = path
	r.state.Store(reqPending)
	return r
}

func (c *Conn) putRequest(r *request) {
	buf := r.buf[:0]
	if cap(buf) > 64<<10 {
		buf = nil
	}
	done := r.done
	select { // drain a signal nobody consumed
	case <-done:
	default:
	}
	multi := r.multi.Results[:0]
	*r = request{buf: buf, done: done}
	r.multi.Results = multi
	c.pool.Put(r)
}

// putRequestLocked is putRequest for callers holding c.mu (it takes no lock).
func (c *Conn) putRequestLocked(r *request) { c.putRequest(r) }

// complete finishes r with err (nil on success). If the caller gave up, r
// goes back to the pool instead.
func (c *Conn) complete(r *request, err error) {
	r.err = err
	if r.unwatch != nil && (err == nil || err == ErrNoWatcher) {
		// The server has removed the watches (or had none): so does the
		// handle, even if the caller gave up after sending the request.
		c.watches.removeKinds(r.unwatch)
	}
	if !r.state.CompareAndSwap(reqPending, reqDone) {
		c.putRequest(r)
		return
	}
	if r.registerWatch && (err == nil || r.watchKind == watchExist) {
		c.watches.add(r.watchPath, r.watchKind, r.watch)
	}
	if r.persistent != nil && err == nil {
		c.watches.addPersistent(r.persistent)
	}
	if r.streamEvent != nil && err == nil {
		// The link has the watches again: one whose stream overflowed
		// now goes from the server too.
		for _, w := range c.watches.sessionEvent(*r.streamEvent, c.cfg.watchBuffer) {
			c.dropServerWatch(w)
		}
	}
	if r.noWaiter {
		if err != nil && err != ErrConnectionLoss {
			c.log.Warn("zk: internal request failed", "opcode", r.opcode, "err", err.Error())
		}
		c.putRequest(r)
		return
	}
	r.done <- struct{}{}
}

// abandon gives up on r: it returns to the pool when taken off its queue, or
// now if it already completed.
func (c *Conn) abandon(r *request) {
	if !r.state.CompareAndSwap(reqPending, reqAbandoned) {
		<-r.done
		c.putRequest(r)
	}
}

// abandonedQueued notes a call given up while it may still sit in sendq.
// With no link, sendq holds every call not yet answered, and the calls of
// an outage that give up would pile up there until the next link (each
// with its encoded request): once they are most of the queue, they are
// taken off it and returned to the pool.
func (c *Conn) abandonedQueued() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.link != nil {
		return // the next write takes them off
	}
	c.sendqAbandoned++
	if n := len(c.sendq); n < 64 || c.sendqAbandoned < n/2 {
		return
	}
	kept := c.sendq[:0]
	for _, r := range c.sendq {
		if r.state.Load() == reqAbandoned {
			c.putRequest(r)
			continue
		}
		kept = append(kept, r)
	}
	clear(c.sendq[len(kept):])
	c.sendq, c.sendqAbandoned = kept, 0
}

func (c *Conn) nextXidLocked() int32 {
	c.nextXid++
	if c.nextXid <= 0 {
		c.nextXid = 1
	}
	return c.nextXid
}

// appendHeader starts a frame: length placeholder, xid placeholder, opcode.
func appendHeader(b []byte, opcode int32) []byte {
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	return binary.BigEndian.AppendUint32(b, uint32(opcode))
}

// finishFrame writes the frame's length prefix.
func finishFrame(b []byte) []byte {
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// do sends r and waits for its reply or for ctx. On success or a server
// error it returns nil and r holds the outcome in r.err; the caller must
// putRequest(r). On a local failure (closed, ctx) it returns that error and
// r is no longer the caller's.
func (c *Conn) do(ctx context.Context, r *request) error {
	if len(r.buf)-4 > maxRequestFrame {
		c.putRequest(r)
		return fmt.Errorf("%w: %d bytes, the server accepts at most %d", ErrTooLarge, len(r.buf)-4, maxRequestFrame)
	}
	if err := ctx.Err(); err != nil {
		// A call whose ctx has already ended is not sent: once queued it
		// could be applied after the caller was told it failed.
		c.putRequest(r)
		return err
	}
	c.mu.Lock()
	if c.closeRequested || c.state.terminal() {
		err := c.closeErr
		if err == nil {
			err = ErrClosed
		}
		c.mu.Unlock()
		c.putRequest(r)
		return err
	}
	if r.opcode == proto.OpAuth {
		r.xid = proto.XidAuth
	} else {
		r.xid = c.nextXidLocked()
	}
	binary.BigEndian.PutUint32(r.buf[4:], uint32(r.xid))
	c.sendq = append(c.sendq, r)
	up := c.link != nil
	busy := len(c.pending) > c.phead
	c.mu.Unlock()
	if up {
		if busy && !c.flushing.Load() {
			// Other requests are in flight, so their callers are about to be
			// woken by replies and to queue more: let them run first, so one
			// write carries many requests.
			runtime.Gosched()
			runtime.Gosched()
		}
		c.flush()
	}
	done := ctx.Done()
	if done == nil { // a context that never ends: no select needed
		<-r.done
		return nil
	}
	select {
	case <-r.done:
		return nil
	case <-done:
		if r.state.CompareAndSwap(reqPending, reqAbandoned) {
			c.abandonedQueued()
			return ctx.Err()
		}
		<-r.done
		return nil
	}
}

// decode reads the reply body for r's opcode.
func (r *request) decode(d *proto.Decoder) error {
	switch r.opcode {
	case proto.OpCreate, proto.OpSync:
		r.str = d.String()
	case proto.OpCreate2, proto.OpCreateContainer, proto.OpCreateTTL:
		r.str = d.String()
		r.stat.Decode(d)
		r.hasStat = true
	case proto.OpExists, proto.OpSetData, proto.OpSetACL:
		r.stat.Decode(d)
	case proto.OpGetData, proto.OpReconfig:
		r.data = d.Buffer()
		r.stat.Decode(d)
	case proto.OpGetACL:
		r.acl = proto.DecodeACLs(d)
		r.stat.Decode(d)
	case proto.OpGetChildren, proto.OpGetEphemerals:
		r.strs = d.Strings()
	case proto.OpGetChildren2:
		r.strs = d.Strings()
		r.stat.Decode(d)
	case proto.OpMulti, proto.OpMultiRead:
		r.multi.Decode(d)
	case proto.OpGetAllChildrenNumber, proto.OpAddWatch:
		r.num = d.Int32()
	case proto.OpWhoAmI:
		var w proto.WhoAmIResponse
		w.Decode(d)
		r.whoami = w.Info
	case proto.OpDelete, proto.OpSetWatches, proto.OpSetWatches2, proto.OpCheckWatches,
		proto.OpRemoveWatches, proto.OpCloseSession, proto.OpCheck:
	default:
		return fmt.Errorf("no decoder for opcode %d", r.opcode)
	}
	return d.Err()
}

// authRequestsLocked builds the auth packets replayed at the start of a
// link.
func (c *Conn) authRequestsLocked() []*request {
	var out []*request
	for _, cr := range c.creds {
		r := c.getRequest(proto.OpAuth, cr.Scheme)
		r.buf = encodeAuth(r.buf[:0], cr)
		r.xid = proto.XidAuth
		r.noWaiter = true
		out = append(out, r)
	}
	return out
}

func encodeAuth(b []byte, cr Credential) []byte {
	b = appendHeader(b, proto.OpAuth)
	xid := proto.XidAuth
	binary.BigEndian.PutUint32(b[4:], uint32(xid))
	e := proto.Encoder{B: b}
	(&proto.AuthPacket{Scheme: cr.Scheme, Auth: cr.Auth}).Encode(&e)
	return finishFrame(e.B)
}

// setWatchesRequestsLocked builds the SetWatches requests that re-register
// every watch at the start of a link, in batches of about setWatchesMax
// bytes of paths.
func (c *Conn) setWatchesRequestsLocked() []*request {
	lists := c.watches.paths()
	exact, recursive := c.watches.persistentPaths()
	total := len(exact) + len(recursive)
	for _, l := range lists {
		total += len(l)
	}
	if total == 0 {
		return nil
	}
	// SetWatches2 only when there are persistent watches: 3.5 servers do
	// not know it.
	v2 := len(exact)+len(recursive) > 0
	opcode := proto.OpSetWatches
	if v2 {
		opcode = proto.OpSetWatches2
	}
	rel := c.lastZxid.Load()
	var out []*request
	cur := proto.SetWatches{V2: v2}
	size := 0
	flush := func() {
		if size == 0 {
			return
		}
		cur.RelativeZxid = rel
		r := c.getRequest(opcode, "")
		r.buf = appendHeader(r.buf[:0], opcode)
		e := proto.Encoder{B: r.buf}
		cur.Encode(&e)
		r.buf = finishFrame(e.B)
		r.xid = c.nextXidLocked()
		binary.BigEndian.PutUint32(r.buf[4:], uint32(r.xid))
		r.noWaiter = true
		out = append(out, r)
		cur = proto.SetWatches{V2: v2}
		size = 0
	}
	add := func(list *[]string, p string) {
		if size > 0 && size+len(p) > c.cfg.setWatchesMax {
			flush()
		}
		*list = append(*list, p)
		size += len(p) + 4
	}
	// A 3.6–3.8 server keeps one watch mode per connection and path in
	// each watch manager, and setWatches registers a recursive watch in
	// the child manager too, after the frame's child watches: a child
	// watch on the path of a recursive watch would become recursive there,
	// and never fire NodeChildrenChanged. Such child watches go in a frame
	// of their own, after the persistent ones.
	var recursiveSet map[string]bool
	if len(recursive) > 0 {
		recursiveSet = make(map[string]bool, len(recursive))
		for _, p := range recursive {
			recursiveSet[p] = true
		}
	}
	var lateChild []string
	for kind, paths := range lists {
		for _, p := range paths {
			switch watchKind(kind) {
			case watchData:
				add(&cur.DataWatches, p)
			case watchExist:
				add(&cur.ExistWatches, p)
			case watchChild:
				if recursiveSet[p] {
					lateChild = append(lateChild, p)
					continue
				}
				add(&cur.ChildWatches, p)
			}
		}
	}
	for _, p := range exact {
		add(&cur.PersistentWatches, p)
	}
	for _, p := range recursive {
		add(&cur.PersistentRecursive, p)
	}
	flush()
	for _, p := range lateChild {
		add(&cur.ChildWatches, p)
	}
	flush()
	return out
}
