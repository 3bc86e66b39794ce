package zk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/zkgo/zk/internal/proto"
)

// Errors that end a persistent watch stream.
var (
	// ErrWatchRemoved ends a stream whose watch was removed.
	ErrWatchRemoved = errors.New("zk: watch removed")
	// ErrWatchOverflow ends a stream whose reader fell more than the
	// buffer limit behind (WithWatchBuffer). Nothing was dropped silently:
	// the events before the end were delivered, and the application must
	// read the state again and add a new watch.
	ErrWatchOverflow = errors.New("zk: persistent watch buffer overflowed; read the state again and add a new watch")
)

// AddWatchMode is the kind of persistent watch AddWatch sets.
type AddWatchMode int32

const (
	// AddWatchModePersistent watches one node: created, deleted, data
	// changed and children changed, until removed.
	AddWatchModePersistent AddWatchMode = AddWatchMode(proto.AddWatchPersistent)
	// AddWatchModePersistentRecursive watches a node and every node below
	// it: created, deleted and data changed (never children changed), until
	// removed.
	AddWatchModePersistentRecursive AddWatchMode = AddWatchMode(proto.AddWatchPersistentRecursive)
)

// PersistentWatch is the event stream of a persistent watch (ZooKeeper
// 3.6+). Next returns every event in order, node events interleaved with
// session events (EventSession): after an EventSession with
// EventDisconnected, changes may have happened that the stream will never
// report, so an application that needs every change reads the state again
// after the following EventSyncConnected. That event comes once the server
// has the watch again, so every change after it is reported. Nothing is
// dropped silently: events wait in a buffer of at most the WithWatchBuffer
// limit; a reader that falls further behind gets ErrWatchOverflow after the
// buffered events (the event that did not fit, and any later one, is not
// delivered), and the watch is removed.
type PersistentWatch struct {
	c          *Conn
	path       string // the caller's path
	serverPath string
	recursive  bool

	mu    sync.Mutex // guards queue, head, err
	queue []Event
	head  int
	err   error         // set when the stream ended
	wake  chan struct{} // capacity 1
}

// Path returns the watched path.
func (w *PersistentWatch) Path() string { return w.path }

// Recursive reports whether the watch covers the whole subtree.
func (w *PersistentWatch) Recursive() bool { return w.recursive }

// push adds an event; it returns false if the stream has ended or has just
// overflowed (and then ended).
func (w *PersistentWatch) push(ev Event, limit int) bool {
	w.mu.Lock()
	if w.err != nil {
		w.mu.Unlock()
		return false
	}
	if len(w.queue)-w.head >= limit {
		w.err = ErrWatchOverflow
		w.mu.Unlock()
		w.signal()
		return false
	}
	if w.head > 0 && w.head == len(w.queue) {
		w.queue, w.head = w.queue[:0], 0
	}
	w.queue = append(w.queue, ev)
	w.mu.Unlock()
	w.signal()
	return true
}

// end finishes the stream with err after the buffered events.
func (w *PersistentWatch) end(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.signal()
}

func (w *PersistentWatch) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Next returns the next event, waiting for one until ctx ends. After the
// stream ended it returns, once the buffered events are read, the error
// that ended it: ErrWatchRemoved, ErrWatchOverflow, ErrSessionExpired,
// ErrClosed or ErrAuthFailed. If ctx ends first it returns an *OpError
// wrapping ctx.Err(), and the stream goes on.
func (w *PersistentWatch) Next(ctx context.Context) (Event, error) {
	if ctx == nil {
		return Event{}, &OpError{Op: "watch next", Path: w.path, Err: fmt.Errorf("%w: nil context", ErrInvalidArgument)}
	}
	for {
		w.mu.Lock()
		if w.head < len(w.queue) {
			ev := w.queue[w.head]
			w.queue[w.head] = Event{}
			w.head++
			if w.head == len(w.queue) {
				w.queue, w.head = w.queue[:0], 0
				if cap(w.queue) > 1024 {
					w.queue = nil // give back a buffer a burst made large
				}
			}
			w.mu.Unlock()
			return ev, nil
		}
		err := w.err
		w.mu.Unlock()
		if err != nil {
			return Event{}, err
		}
		select {
		case <-w.wake:
		case <-ctx.Done():
			return Event{}, &OpError{Op: "watch next", Path: w.path, Err: ctx.Err()}
		}
	}
}

// Buffered reports how many events wait to be read.
func (w *PersistentWatch) Buffered() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue) - w.head
}

// Remove removes the watch: after the events already buffered, the stream
// delivers an EventPersistentWatchRemoved event and then ends with
// ErrWatchRemoved. The server is asked to drop its watch unless another
// watch of this handle needs the same server watch.
func (w *PersistentWatch) Remove(ctx context.Context) error {
	c := w.c
	if ctx == nil {
		return &OpError{Op: "removeWatch", Path: w.path, Err: fmt.Errorf("%w: nil context", ErrInvalidArgument)}
	}
	if !c.watches.removePersistent(w) {
		return &OpError{Op: "removeWatch", Path: w.path, Err: ErrNoWatcher}
	}
	w.push(Event{Type: EventPersistentWatchRemoved, Path: w.path}, int(^uint(0)>>1))
	w.end(ErrWatchRemoved)
	if c.watches.anyOnPath(w.serverPath) {
		return nil // the server watch still serves another watch here
	}
	err := c.removeServerWatches(ctx, "removeWatch", w.path, proto.WatcherAny)
	if errors.Is(err, ErrNoWatcher) {
		// The server has no such watch: a connection made after the watch
		// left the handle (above) did not register it.
		return nil
	}
	return err
}

// AddWatch sets a persistent watch on path (ZooKeeper 3.6+): it stays until
// removed, is registered again after every reconnect, and delivers its
// events through the returned stream.
func (c *Conn) AddWatch(ctx context.Context, path string, mode AddWatchMode) (*PersistentWatch, error) {
	if err := c.start(ctx, "addWatch", path, false); err != nil {
		return nil, err
	}
	if mode != AddWatchModePersistent && mode != AddWatchModePersistentRecursive {
		return nil, &OpError{Op: "addWatch", Path: path, Err: fmt.Errorf("%w: watch mode %d", ErrInvalidArgument, int32(mode))}
	}
	w := &PersistentWatch{
		c:          c,
		path:       path,
		serverPath: addChroot(c.chroot, path),
		recursive:  mode == AddWatchModePersistentRecursive,
		wake:       make(chan struct{}, 1),
	}
	r, e := c.newReq(proto.OpAddWatch, path)
	e.Int32(int32(mode))
	r.persistent = w
	if err := c.run(ctx, "addWatch", r, e); err != nil {
		return nil, err
	}
	zxid := r.zxid
	c.putRequest(r)
	if w.recursive && c.watches.has(w.serverPath, []watchKind{watchChild}) {
		// A 3.6–3.8 server's addWatch puts a recursive watch in its child
		// watch manager too, where it replaces this connection's child
		// watch on the path with one that never fires
		// NodeChildrenChanged: set the child watches again, from the
		// zxid the server had when it took the recursive watch (a change
		// since then fires them at once).
		c.rewatchChildren(w.serverPath, zxid)
	}
	return w, nil
}

// rewatchChildren queues a SetWatches that registers this handle's child
// watch on serverPath again, relative to zxid; nobody waits for it.
func (c *Conn) rewatchChildren(serverPath string, zxid int64) {
	r := c.getRequest(proto.OpSetWatches, "")
	r.buf = appendHeader(r.buf[:0], proto.OpSetWatches)
	e := proto.Encoder{B: r.buf}
	(&proto.SetWatches{RelativeZxid: zxid, ChildWatches: []string{serverPath}}).Encode(&e)
	r.buf = finishFrame(e.B)
	r.noWaiter = true
	c.mu.Lock()
	if c.state.terminal() || c.link == nil {
		// No link: the next one registers every watch anyway.
		c.mu.Unlock()
		c.putRequest(r)
		return
	}
	r.xid = c.nextXidLocked()
	binary.BigEndian.PutUint32(r.buf[4:], uint32(r.xid))
	c.sendq = append(c.sendq, r)
	c.mu.Unlock()
	c.flush()
}

// WatcherType selects the watches RemoveWatches and CheckWatches act on.
type WatcherType int32

const (
	// WatcherChildren selects child watches (ChildrenW).
	WatcherChildren WatcherType = WatcherType(proto.WatcherChildren)
	// WatcherData selects data and existence watches (GetW, ExistsW).
	WatcherData WatcherType = WatcherType(proto.WatcherData)
	// WatcherAny selects both (and, for CheckWatches, persistent watches).
	WatcherAny WatcherType = WatcherType(proto.WatcherAny)
	// WatcherPersistent selects a persistent watch (AddWatchModePersistent)
	// set on the path itself: CheckWatches only, ZooKeeper 3.9+. Remove a
	// persistent watch with PersistentWatch.Remove.
	WatcherPersistent WatcherType = WatcherType(proto.WatcherPersistent)
	// WatcherPersistentRecursive selects a recursive watch
	// (AddWatchModePersistentRecursive) set on the path itself: CheckWatches
	// only, ZooKeeper 3.9+.
	WatcherPersistentRecursive WatcherType = WatcherType(proto.WatcherPersistentRecursive)
)

// kinds returns the one-shot watch kinds t selects, for RemoveWatches.
func (t WatcherType) kinds() ([]watchKind, error) {
	switch t {
	case WatcherChildren:
		return []watchKind{watchChild}, nil
	case WatcherData:
		return []watchKind{watchData, watchExist}, nil
	case WatcherAny:
		return []watchKind{watchData, watchExist, watchChild}, nil
	case WatcherPersistent, WatcherPersistentRecursive:
		return nil, fmt.Errorf("%w: watcher type %d is for CheckWatches; remove a persistent watch with PersistentWatch.Remove", ErrInvalidArgument, int32(t))
	}
	return nil, fmt.Errorf("%w: watcher type %d", ErrInvalidArgument, int32(t))
}

// RemoveWatches removes this handle's one-shot watches of type typ on path,
// on the server and here: each channel gets a final
// EventDataWatchRemoved or EventChildWatchRemoved and is closed. It returns
// ErrNoWatcher, without I/O, if there are none.
func (c *Conn) RemoveWatches(ctx context.Context, path string, typ WatcherType) error {
	if err := c.start(ctx, "removeWatches", path, false); err != nil {
		return err
	}
	kinds, err := typ.kinds()
	if err != nil {
		return &OpError{Op: "removeWatches", Path: path, Err: err}
	}
	sp := addChroot(c.chroot, path)
	if !c.watches.has(sp, kinds) {
		return &OpError{Op: "removeWatches", Path: path, Err: ErrNoWatcher}
	}
	u := &unwatch{serverPath: sp, path: path, kinds: kinds}
	// A persistent watch on the same path shares the server's watch: leave
	// it there (its events keep flowing to the persistent watch) and remove
	// only here.
	if c.watches.hasPersistent(sp) {
		c.watches.removeKinds(u)
		return nil
	}
	// The local removal is done when the server answers (see complete),
	// even if ctx ends after the request went out: the server then removes
	// the watches all the same.
	r, e := c.newReq(proto.OpRemoveWatches, path)
	e.Int32(int32(typ))
	r.unwatch = u
	if err := c.run(ctx, "removeWatches", r, e); err != nil {
		if errors.Is(err, ErrNoWatcher) {
			return nil // removed here when the server answered
		}
		return err
	}
	c.putRequest(r)
	return nil
}

// unwatch is the local part of a RemoveWatches.
type unwatch struct {
	serverPath string
	path       string // the caller's
	kinds      []watchKind
}

// removeKinds drops the one-shot watches u names, each with its final
// DataWatchRemoved or ChildWatchRemoved event.
func (r *watchRegistry) removeKinds(u *unwatch) {
	for _, k := range u.kinds {
		t := EventDataWatchRemoved
		if k == watchChild {
			t = EventChildWatchRemoved
		}
		r.remove(u.serverPath, []watchKind{k}, Event{Type: t, Path: u.path})
	}
}

// CheckWatches asks the server whether a watch of type typ is set on path;
// it returns nil, or an error wrapping ErrNoWatcher. What counts is the
// server's: 3.5 and 3.9+ servers look at this session's watches (3.9 counts
// a persistent watch only for WatcherAny), 3.6 to 3.8 answer whether any
// session has a watch of that kind on path. WatcherPersistent and
// WatcherPersistentRecursive need a 3.9+ server; an older one fails them
// with an error wrapping ErrMarshallingError that says so.
func (c *Conn) CheckWatches(ctx context.Context, path string, typ WatcherType) error {
	if err := c.start(ctx, "checkWatches", path, false); err != nil {
		return err
	}
	persistent := typ == WatcherPersistent || typ == WatcherPersistentRecursive
	if _, err := typ.kinds(); err != nil && !persistent {
		return &OpError{Op: "checkWatches", Path: path, Err: err}
	}
	r, e := c.newReq(proto.OpCheckWatches, path)
	e.Int32(int32(typ))
	if err := c.run(ctx, "checkWatches", r, e); err != nil {
		var oe *OpError
		if persistent && errors.Is(err, ErrMarshallingError) && errors.As(err, &oe) {
			// Servers before 3.9 know watcher types 1 to 3 only and
			// answer others with a marshalling error.
			oe.Err = &detailError{"zk: the server cannot check persistent watches (it needs ZooKeeper 3.9.0 or newer)", ErrMarshallingError}
		}
		return err
	}
	c.putRequest(r)
	return nil
}

func (c *Conn) removeServerWatches(ctx context.Context, op, path string, typ int32) error {
	r, e := c.newReq(proto.OpRemoveWatches, path)
	e.Int32(typ)
	if err := c.run(ctx, op, r, e); err != nil {
		return err
	}
	c.putRequest(r)
	return nil
}

// persistentRegistry holds the persistent watches, by server path. It lives
// inside watchRegistry, under its mutex.
type persistentRegistry struct {
	exact     map[string][]*PersistentWatch
	recursive map[string][]*PersistentWatch
}

func (r *watchRegistry) addPersistent(w *PersistentWatch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := &r.p.exact
	if w.recursive {
		m = &r.p.recursive
	}
	if *m == nil {
		*m = make(map[string][]*PersistentWatch)
	}
	(*m)[w.serverPath] = append((*m)[w.serverPath], w)
}

func (r *watchRegistry) removePersistent(w *PersistentWatch) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.removePersistentLocked(w)
}

func (r *watchRegistry) removePersistentLocked(w *PersistentWatch) bool {
	m := r.p.exact
	if w.recursive {
		m = r.p.recursive
	}
	ws := m[w.serverPath]
	for i, x := range ws {
		if x == w {
			ws = append(ws[:i:i], ws[i+1:]...)
			if len(ws) == 0 {
				delete(m, w.serverPath)
			} else {
				m[w.serverPath] = ws
			}
			return true
		}
	}
	return false
}

func (r *watchRegistry) hasPersistent(serverPath string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.p.exact[serverPath]) > 0 || len(r.p.recursive[serverPath]) > 0
}

// coveredByPersistent reports whether a persistent watch on exactly this
// server path already brings the events of a one-shot watch of kind there:
// a data watch is covered by a persistent or recursive watch, a child watch
// by a persistent one (recursive watches get no NodeChildrenChanged).
func (r *watchRegistry) coveredByPersistent(serverPath string, kind watchKind) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.p.exact[serverPath]) > 0 {
		return true
	}
	return kind != watchChild && len(r.p.recursive[serverPath]) > 0
}

// anyOnPath reports whether any watch, one-shot or persistent, is set on
// exactly this server path.
func (r *watchRegistry) anyOnPath(serverPath string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := watchKind(0); k < numWatchKinds; k++ {
		if len(r.m[watchKey{serverPath, k}]) > 0 {
			return true
		}
	}
	return len(r.p.exact[serverPath]) > 0 || len(r.p.recursive[serverPath]) > 0
}

// firePersistentLocked delivers a node event to the persistent watches it
// concerns; it returns the streams that overflowed.
func (r *watchRegistry) firePersistentLocked(t int32, serverPath string, ev Event, limit int) (overflowed []*PersistentWatch) {
	for _, w := range r.p.exact[serverPath] {
		if !w.push(ev, limit) {
			overflowed = append(overflowed, w)
		}
	}
	if len(r.p.recursive) == 0 || t == proto.EventNodeChildrenChanged {
		return overflowed
	}
	for p := serverPath; ; {
		for _, w := range r.p.recursive[p] {
			if !w.push(ev, limit) {
				overflowed = append(overflowed, w)
			}
		}
		if p == "/" {
			break
		}
		i := strings.LastIndexByte(p, '/')
		if i == 0 {
			p = "/"
		} else {
			p = p[:i]
		}
	}
	return overflowed
}

// sessionEvent delivers a state change to every persistent stream. A
// stream that overflows (or had ended) is removed here, as a node event's
// overflow removes it; they are returned, for the caller to ask the server
// to drop their watches where the connection has them.
func (r *watchRegistry) sessionEvent(ch StateChange, limit int) (removed []*PersistentWatch) {
	if ch.Event == EventNone {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := Event{Type: EventSession, State: ch.To, Session: ch.Event}
	for _, m := range []map[string][]*PersistentWatch{r.p.exact, r.p.recursive} {
		for _, ws := range m {
			for _, w := range ws {
				if !w.push(ev, limit) {
					removed = append(removed, w)
				}
			}
		}
	}
	for _, w := range removed {
		r.removePersistentLocked(w)
	}
	return removed
}

// persistentPaths returns the server paths of the persistent watches, for
// SetWatches2.
func (r *watchRegistry) persistentPaths() (exact, recursive []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for p := range r.p.exact {
		exact = append(exact, p)
	}
	for p := range r.p.recursive {
		recursive = append(recursive, p)
	}
	return exact, recursive
}

// endPersistent ends every persistent stream with err and forgets them.
func (r *watchRegistry) endPersistent(err error) {
	r.mu.Lock()
	p := r.p
	r.p = persistentRegistry{}
	r.mu.Unlock()
	for _, m := range []map[string][]*PersistentWatch{p.exact, p.recursive} {
		for _, ws := range m {
			for _, w := range ws {
				w.end(err)
			}
		}
	}
}
