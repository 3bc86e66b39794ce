package soak

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zkgo/zk"
)

// The tree the soak works in.
const (
	rootPath = "/soak"
	regPath  = rootPath + "/reg"
	seqPath  = rootPath + "/seq"
	ephPath  = rootPath + "/eph"
	seqName  = seqPath + "/n-"
	numRegs  = 3

	opTimeout         = 10 * time.Second // bounds every call
	maxPendingWatches = 32               // one-shot watches a session keeps waiting
	settleTimeout     = 30 * time.Second // bounds waits for a handle, a stream, an event
)

func regName(i int) string { return fmt.Sprintf("%s/r%d", regPath, i) }

// violations collects broken invariants; safe for concurrent use.
type violations struct {
	mu   sync.Mutex
	list []string
}

func (v *violations) add(format string, args ...any) {
	v.mu.Lock()
	v.list = append(v.list, fmt.Sprintf(format, args...))
	v.mu.Unlock()
}

func (v *violations) all() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.list...)
}

// counters are the soak's figures.
type counters struct {
	mu                                        sync.Mutex
	sets, setOK, setBad, setUnknown           int
	gets, syncReads, creates, createOK        int
	watchesSet, watchFired, watchFailed       int
	ephChecks, streamEvents, streamIntervals  int
	sessions, expired, connectFailures, other int
}

func (c *counters) add(f func(c *counters)) {
	c.mu.Lock()
	f(c)
	c.mu.Unlock()
}

// sessionRec is what the final checks need to know about a session.
type sessionRec struct {
	client, index int
	id            int64
	eph           string
	ephKnown      bool // the ephemeral node was created (acknowledged or verified)
	ephMissing    int  // times the live session did not find it
	end           string
	observed      []string // sequential paths its stream reported
}

// oneShot is a one-shot watch set on a register at a version.
type oneShot struct {
	reg string
	v   int32
	ch  <-chan zk.Event
	ev  *zk.Event // the event, once received
}

// session is a client's current handle.
type session struct {
	rec        *sessionRec
	c          *zk.Conn
	maxVer     map[string]int32
	pending    []*oneShot // not yet fired
	fired      []*oneShot // fired while the session lived
	stream     *zk.PersistentWatch
	readerDone chan struct{}
	items      []zk.Event // written by the stream reader until readerDone
	streamErr  error
}

// client is one of the soak's concurrent clients. Everything in it belongs
// to its goroutine until run returns.
type client struct {
	id       int
	rng      *rand.Rand
	connStr  string
	T        time.Duration
	h        *history
	v        *violations
	n        *counters
	opSeq    int
	sess     *session
	sessions []*sessionRec
	done     []*session // ended sessions, kept for the final checks
}

func terminal(st zk.State) bool { return st == zk.StateClosed || st == zk.StateAuthFailed }

// run works until ctx ends, opening a new session whenever one expires.
func (cl *client) run(ctx context.Context) {
	for ctx.Err() == nil {
		if cl.sess == nil || terminal(cl.sess.c.State()) {
			if cl.sess != nil {
				cl.endSession("expired")
			}
			if !cl.open(ctx) {
				return
			}
			continue
		}
		cl.step(ctx)
	}
}

func (cl *client) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, opTimeout)
}

func (cl *client) nextOp() string {
	cl.opSeq++
	return "c" + strconv.Itoa(cl.id) + "-" + strconv.Itoa(cl.opSeq)
}

// wait waits d or until ctx ends; it reports whether ctx is still alive.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// open opens a session with its ephemeral node and its persistent watch.
func (cl *client) open(ctx context.Context) bool {
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, 2*settleTimeout)
		c, err := zk.Connect(cctx, cl.connStr, zk.WithSessionTimeout(cl.T))
		cancel()
		if err != nil {
			cl.n.add(func(n *counters) { n.connectFailures++ })
			if !wait(ctx, 100*time.Millisecond) {
				return false
			}
			continue
		}
		rec := &sessionRec{client: cl.id, index: len(cl.sessions), id: c.SessionID()}
		rec.eph = fmt.Sprintf("%s/c%d-s%d", ephPath, cl.id, rec.index)
		cl.sessions = append(cl.sessions, rec)
		cl.sess = &session{rec: rec, c: c, maxVer: map[string]int32{}}
		cl.n.add(func(n *counters) { n.sessions++ })
		cl.setupEphemeral(ctx)
		cl.setupStream(ctx)
		return true
	}
	return false
}

// setupEphemeral creates the session's ephemeral node. A create that failed
// without an answer may have happened: an existing node owned by this
// session counts.
func (cl *client) setupEphemeral(ctx context.Context) {
	s := cl.sess
	for attempt := 0; attempt < 20 && ctx.Err() == nil && !terminal(s.c.State()); attempt++ {
		octx, cancel := cl.opCtx(ctx)
		_, err := s.c.Create(octx, s.rec.eph, []byte(fmt.Sprintf("0x%x", s.rec.id)), zk.CreateEphemeral, zk.OpenACL)
		if errors.Is(err, zk.ErrNodeExists) {
			var ok bool
			var st *zk.Stat
			ok, st, err = s.c.Exists(octx, s.rec.eph)
			if err == nil && ok && st.EphemeralOwner != s.rec.id {
				cl.v.add("ephemeral %s of session 0x%x is owned by 0x%x", s.rec.eph, s.rec.id, st.EphemeralOwner)
			}
			if err == nil && !ok {
				err = errors.New("gone again")
			}
		}
		cancel()
		if err == nil {
			s.rec.ephKnown = true
			return
		}
		wait(ctx, 50*time.Millisecond)
	}
}

// setupStream sets the session's persistent recursive watch on the
// sequential parent and starts the goroutine that reads it.
func (cl *client) setupStream(ctx context.Context) {
	s := cl.sess
	for attempt := 0; attempt < 20 && ctx.Err() == nil && !terminal(s.c.State()); attempt++ {
		octx, cancel := cl.opCtx(ctx)
		pw, err := s.c.AddWatch(octx, seqPath, zk.AddWatchModePersistentRecursive)
		cancel()
		if err == nil {
			s.stream = pw
			s.readerDone = make(chan struct{})
			go func() {
				defer close(s.readerDone)
				for {
					// The stream ends (with an error) when the handle does.
					ev, err := pw.Next(context.Background())
					if err != nil {
						s.streamErr = err
						return
					}
					s.items = append(s.items, ev)
				}
			}()
			return
		}
		wait(ctx, 50*time.Millisecond)
	}
}

// step runs one random operation.
func (cl *client) step(ctx context.Context) {
	reg := regName(cl.rng.IntN(numRegs))
	switch x := cl.rng.IntN(100); {
	case x < 40:
		cl.versionedWrite(ctx, reg)
	case x < 65:
		cl.syncRead(ctx, reg)
	case x < 80:
		cl.seqCreate(ctx)
	case x < 90:
		cl.setWatch(ctx, reg)
	default:
		cl.checkEphemeral(ctx)
	}
}

// saw is called with every version of reg the session's replies showed: it
// checks that versions only increase in the session's view, and that every
// one-shot watch set on reg at an older version has fired by now (its
// event comes before any reply showing the change, and a reconnect's
// SetWatches delivers what was missed before any later reply).
func (cl *client) saw(reg string, v int32, what string) {
	s := cl.sess
	if prev, ok := s.maxVer[reg]; ok && v < prev {
		cl.v.add("session 0x%x saw %s at version %d after version %d (%s)", s.rec.id, reg, v, prev, what)
	}
	if v > s.maxVer[reg] {
		s.maxVer[reg] = v
	}
	kept := s.pending[:0]
	for _, w := range s.pending {
		select {
		case ev, ok := <-w.ch:
			cl.gotWatchEvent(w, ev, ok)
			continue
		default:
		}
		if w.reg == reg && w.v < v {
			cl.v.add("session 0x%x: one-shot watch on %s set at version %d had not fired when the session read version %d (%s)",
				s.rec.id, reg, w.v, v, what)
			continue
		}
		kept = append(kept, w)
	}
	clear(s.pending[len(kept):])
	s.pending = kept
}

// gotWatchEvent checks a one-shot watch's event received while its session
// lived.
func (cl *client) gotWatchEvent(w *oneShot, ev zk.Event, ok bool) {
	s := cl.sess
	if !ok {
		cl.v.add("session 0x%x: one-shot watch on %s closed without an event", s.rec.id, w.reg)
		return
	}
	w.ev = &ev
	s.fired = append(s.fired, w)
	switch {
	case ev.Type == zk.EventWatchFailed && terminal(s.c.State()):
		cl.n.add(func(n *counters) { n.watchFailed++ })
	case ev.Type != zk.EventNodeDataChanged || ev.Path != w.reg:
		cl.v.add("session 0x%x: one-shot watch on %s got %v on %q", s.rec.id, w.reg, ev.Type, ev.Path)
	default:
		cl.n.add(func(n *counters) { n.watchFired++ })
	}
}

// versionedWrite reads a register and sets it with the version read, again
// on ErrBadVersion (a bounded number of times).
func (cl *client) versionedWrite(ctx context.Context, reg string) {
	s, h := cl.sess, cl.h
	for attempt := 0; attempt < 5; attempt++ {
		octx, cancel := cl.opCtx(ctx)
		call := h.now()
		_, st, err := s.c.Get(octx, reg)
		ret := h.now()
		cancel()
		cl.n.add(func(n *counters) { n.gets++ })
		if err != nil {
			h.record(opRecord{cl.id, s.rec.id, "get", reg, call, ret, err.Error(), s.c.Server()})
			return
		}
		h.record(opRecord{cl.id, s.rec.id, "get", reg, call, ret, fmt.Sprintf("v%d", st.Version), s.c.Server()})
		cl.saw(reg, st.Version, "get")

		data := cl.nextOp()
		octx, cancel = cl.opCtx(ctx)
		call = h.now()
		st2, err := s.c.Set(octx, reg, []byte(data), st.Version)
		ret = h.now()
		cancel()
		cl.n.add(func(n *counters) { n.sets++ })
		switch {
		case err == nil:
			h.set(cl.id, s.rec.id, s.c.Server(), reg, st.Version, data, outOK, st2.Version, call, ret, fmt.Sprintf("ok v%d", st2.Version))
			cl.n.add(func(n *counters) { n.setOK++ })
			if st2.Version != st.Version+1 {
				cl.v.add("Set of %s at version %d returned version %d", reg, st.Version, st2.Version)
			}
			cl.saw(reg, st2.Version, "set")
			return
		case errors.Is(err, zk.ErrBadVersion):
			h.set(cl.id, s.rec.id, s.c.Server(), reg, st.Version, data, outBad, 0, call, ret, "bad version")
			cl.n.add(func(n *counters) { n.setBad++ })
		default:
			// No definite answer (ErrConnectionLoss and the like): the Set
			// may have been applied, or may still be.
			h.set(cl.id, s.rec.id, s.c.Server(), reg, st.Version, data, outUnknown, 0, call, ret, "unknown: "+err.Error())
			cl.n.add(func(n *counters) { n.setUnknown++ })
			return
		}
	}
}

// syncRead reads a register after a sync; only such reads go into the
// linearizability history.
func (cl *client) syncRead(ctx context.Context, reg string) {
	s, h := cl.sess, cl.h
	octx, cancel := cl.opCtx(ctx)
	defer cancel()
	call := h.now()
	if err := s.c.Sync(octx, reg); err != nil {
		h.record(opRecord{cl.id, s.rec.id, "sync", reg, call, h.now(), err.Error(), s.c.Server()})
		return
	}
	data, st, err := s.c.Get(octx, reg)
	ret := h.now()
	if err != nil {
		h.record(opRecord{cl.id, s.rec.id, "syncget", reg, call, ret, err.Error(), s.c.Server()})
		return
	}
	cl.n.add(func(n *counters) { n.syncReads++ })
	h.read(cl.id, s.rec.id, s.c.Server(), reg, st.Version, string(data), call, ret)
	cl.saw(reg, st.Version, "sync+get")
}

// seqCreate creates a sequential node whose data is the op's id.
func (cl *client) seqCreate(ctx context.Context) {
	s, h := cl.sess, cl.h
	id := cl.nextOp()
	octx, cancel := cl.opCtx(ctx)
	call := h.now()
	p, err := s.c.Create(octx, seqName, []byte(id), zk.CreatePersistentSequential, zk.OpenACL)
	ret := h.now()
	cancel()
	cl.n.add(func(n *counters) { n.creates++ })
	if err != nil {
		p = ""
	} else {
		cl.n.add(func(n *counters) { n.createOK++ })
	}
	h.create(cl.id, s.rec.id, s.c.Server(), id, p, call, ret, err)
}

// setWatch sets a one-shot watch on a register.
func (cl *client) setWatch(ctx context.Context, reg string) {
	s, h := cl.sess, cl.h
	if len(s.pending) >= maxPendingWatches {
		return
	}
	octx, cancel := cl.opCtx(ctx)
	call := h.now()
	_, st, ch, err := s.c.GetW(octx, reg)
	ret := h.now()
	cancel()
	if err != nil {
		h.record(opRecord{cl.id, s.rec.id, "getw", reg, call, ret, err.Error(), s.c.Server()})
		return
	}
	h.record(opRecord{cl.id, s.rec.id, "getw", reg, call, ret, fmt.Sprintf("v%d", st.Version), s.c.Server()})
	cl.saw(reg, st.Version, "getw")
	s.pending = append(s.pending, &oneShot{reg: reg, v: st.Version, ch: ch})
	cl.n.add(func(n *counters) { n.watchesSet++ })
}

// checkEphemeral looks for the session's own ephemeral node, after a sync.
func (cl *client) checkEphemeral(ctx context.Context) {
	s, h := cl.sess, cl.h
	if !s.rec.ephKnown {
		return
	}
	octx, cancel := cl.opCtx(ctx)
	defer cancel()
	call := h.now()
	if err := s.c.Sync(octx, ephPath); err != nil {
		return
	}
	ok, st, err := s.c.Exists(octx, s.rec.eph)
	ret := h.now()
	if err != nil {
		return
	}
	cl.n.add(func(n *counters) { n.ephChecks++ })
	res := "exists"
	if !ok || st.EphemeralOwner != s.rec.id {
		// Fine only if the session turns out to have expired.
		s.rec.ephMissing++
		res = "missing"
	}
	h.record(opRecord{cl.id, s.rec.id, "ephcheck", s.rec.eph, call, ret, res, s.c.Server()})
}

// endSession finishes the current session: closes the handle if how is
// "closed", waits for its stream to end and checks it, and checks that
// every one-shot watch ended with exactly one event.
func (cl *client) endSession(how string) {
	s := cl.sess
	cl.sess = nil
	s.rec.end = how
	cl.done = append(cl.done, s)
	if how == "expired" {
		cl.n.add(func(n *counters) { n.expired++ })
	}
	s.c.Close() // idempotent; after expiry it only waits for the goroutines
	cl.h.sessionEnded(s.rec.id, cl.h.now())
	if s.readerDone != nil {
		select {
		case <-s.readerDone:
		case <-time.After(settleTimeout):
			cl.v.add("session 0x%x: the persistent watch stream did not end with its handle", s.rec.id)
			return
		}
		cl.checkStream(s)
	}
	want := zk.ErrClosed
	if how == "expired" {
		want = zk.ErrSessionExpired
	}
	for _, w := range s.pending {
		select {
		case ev, ok := <-w.ch:
			switch {
			case !ok:
				cl.v.add("session 0x%x: one-shot watch on %s closed without an event", s.rec.id, w.reg)
				continue
			case ev.Type == zk.EventWatchFailed:
				if !errors.Is(ev.Err, want) {
					cl.v.add("session 0x%x (%s): one-shot watch on %s ended with %v", s.rec.id, how, w.reg, ev.Err)
				}
				cl.n.add(func(n *counters) { n.watchFailed++ })
			case ev.Type == zk.EventNodeDataChanged && ev.Path == w.reg:
				w.ev = &ev
				s.fired = append(s.fired, w)
				cl.n.add(func(n *counters) { n.watchFired++ })
			default:
				cl.v.add("session 0x%x: one-shot watch on %s got %+v", s.rec.id, w.reg, ev)
			}
		case <-time.After(settleTimeout):
			cl.v.add("session 0x%x (%s): one-shot watch on %s never got an event", s.rec.id, how, w.reg)
			continue
		}
		cl.requireClosed(s, w)
	}
	for _, w := range s.fired {
		cl.requireClosed(s, w)
	}
}

// requireClosed checks that a one-shot watch's channel is closed after its
// one event.
func (cl *client) requireClosed(s *session, w *oneShot) {
	select {
	case ev, ok := <-w.ch:
		if ok {
			cl.v.add("session 0x%x: one-shot watch on %s delivered a second event %+v", s.rec.id, w.reg, ev)
		}
	case <-time.After(settleTimeout):
		cl.v.add("session 0x%x: one-shot watch on %s not closed after its event", s.rec.id, w.reg)
	}
}

// checkStream checks a session's persistent stream: between two session
// events (while connected), the sequence numbers of the nodes it reports
// created are consecutive: nothing was missed, nothing repeated.
func (cl *client) checkStream(s *session) {
	prev := -1
	intervals, events := 1, 0
	for _, ev := range s.items {
		switch ev.Type {
		case zk.EventSession:
			prev = -1
			intervals++
		case zk.EventNodeCreated:
			n, ok := seqNumber(ev.Path)
			if !ok {
				cl.v.add("session 0x%x: stream reported %v on %q", s.rec.id, ev.Type, ev.Path)
				continue
			}
			if prev >= 0 && n != prev+1 {
				cl.v.add("session 0x%x: while connected, the stream went from %s%010d to %s%010d: it missed or repeated changes",
					s.rec.id, seqName, prev, seqName, n)
			}
			prev = n
			events++
			s.rec.observed = append(s.rec.observed, ev.Path)
		default:
			cl.v.add("session 0x%x: unexpected event %+v on the stream of %s", s.rec.id, ev, seqPath)
		}
	}
	if !errors.Is(s.streamErr, zk.ErrClosed) && !errors.Is(s.streamErr, zk.ErrSessionExpired) {
		cl.v.add("session 0x%x: the stream ended with %v", s.rec.id, s.streamErr)
	}
	cl.n.add(func(n *counters) { n.streamEvents += events; n.streamIntervals += intervals })
}

// seqNumber parses the sequence number of a sequential path.
func seqNumber(p string) (int, bool) {
	if !strings.HasPrefix(p, seqName) || len(p) != len(seqName)+10 {
		return 0, false
	}
	n, err := strconv.Atoi(p[len(seqName):])
	return n, err == nil
}
