package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/zkgo/zk"
)

// Hold is a turn at the head of the queue (leadership, a lock): a context
// that is cancelled the moment the turn is no longer certain.
//
// Its context ends, with a cause, when
//   - the handle leaves CONNECTED (Errors.Disconnected), unless the hold
//     keeps through disconnections;
//   - the session ends: expired, closed or rejected (Errors.Ended);
//   - the node is deleted (Errors.NodeDeleted);
//   - the parent context ends, or Stop is called.
//
// Two mechanisms watch the state, so that neither a missed transition nor a
// slow listener can delay the cancellation: a state listener registered
// before the claim is checked (it sees every later change, in order), and a
// goroutine blocked in WaitForStateChange (woken directly by the change,
// not through the listener queue).
type Hold struct {
	Node Node
	Path string
	Stat zk.Stat // the node's Stat when the turn was claimed

	ctx    context.Context
	cancel context.CancelCauseFunc
	q      *Queue
	conn   *zk.Conn
	ch     <-chan zk.Event // the armed watch on the node; owned by watchNode until it exits
	keep   bool
	errs   *Errors
	remove func() // removes the state listener
	wg     sync.WaitGroup
	once   sync.Once
}

// Claim takes the turn that WaitTurn gave: it checks, with the handle
// CONNECTED, that our node still exists and belongs to our session, sets a
// watch on it, and returns the hold. With keep, only the end of the session
// (or of the node) ends the hold, not a disconnection.
//
// It returns ErrNodeGone when the node is gone, ErrInDoubt when the handle
// is not connected or lost its link during the check.
func (q *Queue) Claim(parent context.Context, n Node, keep bool) (*Hold, error) {
	ctx, cancel := context.WithCancelCause(parent)
	h := &Hold{
		Node:   n,
		Path:   q.Dir + "/" + n.Name,
		ctx:    ctx,
		cancel: cancel,
		q:      q,
		conn:   q.Conn,
		keep:   keep,
		errs:   q.Errs,
	}
	// The listener first: any change after this point reaches it. A
	// disconnection before it is harmless: the check below is answered
	// after it, by the session itself.
	h.remove = q.Conn.AddStateListener(h.onState)
	if q.Conn.State() != zk.StateConnected {
		h.Stop(nil)
		return nil, ErrInDoubt
	}
	var (
		st  *zk.Stat
		ch  <-chan zk.Event
		err error
	)
	if q.ownPath == h.Path && q.ownCh != nil {
		ch = q.ownCh // still armed from the last hold of this node
		h.Stat.Czxid = q.ownCzxid
		_, st, err = q.Conn.Get(ctx, h.Path)
	}
	if ch == nil || (err == nil && st.Czxid != q.ownCzxid) { // no watch, or one of a deleted node of the same path
		_, st, ch, err = q.Conn.GetW(ctx, h.Path)
	}
	q.ownPath, q.ownCh = "", nil
	h.ch = ch
	switch {
	case err == nil:
	case errors.Is(err, zk.ErrNoNode):
		h.Stop(nil)
		return nil, ErrNodeGone
	case zk.IsRetryable(err) || (ctx.Err() != nil && parent.Err() == nil):
		h.Stop(nil)
		return nil, ErrInDoubt
	default:
		h.Stop(nil)
		return nil, err
	}
	h.Stat = *st
	if owner := q.Conn.SessionID(); st.EphemeralOwner != owner {
		h.Stop(nil)
		return nil, fmt.Errorf("%s: node %s carries our id but belongs to session 0x%x, not ours (0x%x)",
			q.Errs.Prefix, h.Path, st.EphemeralOwner, owner)
	}
	if ctx.Err() != nil { // the link was lost during the check
		h.Stop(nil)
		if parent.Err() != nil {
			return nil, parent.Err()
		}
		return nil, ErrInDoubt
	}
	h.wg.Add(2)
	go h.watchState()
	go h.watchNode()
	return h, nil
}

// Context returns the hold's context.
func (h *Hold) Context() context.Context { return h.ctx }

// Stop ends the hold (with cause, if it had not ended already), waits for
// its goroutines and returns why it ended: the first cause.
func (h *Hold) Stop(cause error) error {
	h.once.Do(func() {
		h.cancel(cause)
		h.remove()
		h.wg.Wait()
		if h.ch != nil && !errors.Is(context.Cause(h.ctx), h.errs.NodeDeleted) {
			h.q.ownPath, h.q.ownCh, h.q.ownCzxid = h.Path, h.ch, h.Stat.Czxid
		}
	})
	return context.Cause(h.ctx)
}

// onState is the state listener: it runs on the handle's listener
// goroutine, for every change after the hold was created.
func (h *Hold) onState(c zk.StateChange) {
	switch {
	case c.To == zk.StateClosed || c.To == zk.StateAuthFailed:
		h.cancel(h.errs.Ended(endErr(c)))
	case c.From == zk.StateConnected && !h.keep:
		h.cancel(h.errs.Disconnected)
	}
}

// endErr maps a terminal change to the error calls fail with.
func endErr(c zk.StateChange) error {
	var want error
	switch c.Event {
	case zk.EventExpired:
		want = zk.ErrSessionExpired
	case zk.EventAuthFailed:
		want = zk.ErrAuthFailed
	default:
		want = zk.ErrClosed
	}
	if c.Err != nil && errors.Is(c.Err, want) {
		return c.Err
	}
	return want
}

// watchState is the fast path: WaitForStateChange is woken by the change
// itself.
func (h *Hold) watchState() {
	defer h.wg.Done()
	for {
		st := h.conn.State()
		switch {
		case Terminal(st):
			h.cancel(h.errs.Ended(SessionErr(h.ctx, h.conn)))
			return
		case st != zk.StateConnected && !h.keep:
			h.cancel(h.errs.Disconnected)
			return
		}
		if !h.conn.WaitForStateChange(h.ctx, st) {
			return
		}
	}
}

// watchNode ends the hold when the node is deleted. A data change re-arms
// the watch (after checking that the node is still ours).
func (h *Hold) watchNode() {
	defer h.wg.Done()
	for {
		select {
		case <-h.ctx.Done():
			return
		case ev := <-h.ch:
			h.ch = nil
			switch {
			case ev.Err != nil:
				h.cancel(h.errs.Ended(ev.Err))
				return
			case ev.Type == zk.EventNodeDeleted:
				h.cancel(h.errs.NodeDeleted)
				return
			}
		}
		for attempt := 0; ; {
			_, st, next, err := h.conn.GetW(h.ctx, h.Path)
			switch {
			case err == nil && st.EphemeralOwner == h.Stat.EphemeralOwner:
				h.ch = next
			case err == nil || errors.Is(err, zk.ErrNoNode):
				h.cancel(h.errs.NodeDeleted)
				return
			case h.ctx.Err() != nil:
				return
			case SessionEnded(err):
				h.cancel(h.errs.Ended(err))
				return
			default:
				if rerr := Retry(h.ctx, h.conn, err, &attempt); rerr == nil {
					continue
				} else if h.ctx.Err() == nil {
					h.cancel(fmt.Errorf("%s: watching %s: %w", h.errs.Prefix, h.Path, rerr))
				}
				return
			}
			break
		}
	}
}
