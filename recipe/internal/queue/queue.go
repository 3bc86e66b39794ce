package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zkgo/zk"
)

// ErrNodeGone is returned by WaitTurn and Claim when the member has no node
// in the directory (it was deleted): the caller enqueues again.
var ErrNodeGone = errors.New("queue: our node is gone")

// ErrInDoubt is returned by Claim when the handle is not connected, or lost
// its link while the claim was checked: the caller waits for the connection
// (WaitConnected) and tries its turn again.
var ErrInDoubt = errors.New("queue: connection in doubt during the claim")

// Errors are the errors a recipe wants its holds to end with.
type Errors struct {
	// Prefix starts every message, without the colon: "leader", "lock".
	Prefix string
	// Disconnected is the cause of a hold ended by the handle leaving
	// CONNECTED.
	Disconnected error
	// NodeDeleted is the cause of a hold ended by the deletion of its node.
	NodeDeleted error
}

// Ended is the cause of a hold ended with its session: err wraps
// zk.ErrSessionExpired, zk.ErrClosed or zk.ErrAuthFailed.
func (e *Errors) Ended(err error) error {
	return fmt.Errorf("%s: session ended: %w", e.Prefix, err)
}

// Queue is one member of a queue: its connection, directory and prefix. Its
// methods are called by one goroutine at a time (the recipe's).
type Queue struct {
	Conn   *zk.Conn
	Dir    string
	Prefix string // _c_<GUID>-<tag>, from NewPrefix
	Data   []byte
	ACL    []zk.ACL
	// Blocks reports whether a node lower in the queue than ours keeps us
	// waiting. The nearest such node is the one we watch.
	Blocks func(lower Node) bool
	Errs   *Errors

	// Test hooks, nil in production. They are called on the goroutine of
	// the method that triggers them.
	OnWatch   func(path string) // a watch was set on a predecessor
	OnWake    func(ev zk.Event) // a predecessor's watch fired
	OnRecover func(path string) // a create whose reply was lost was found by its prefix

	// The watch on our node left by the last hold, still armed: the next
	// claim of the same node reuses it rather than set another (each would
	// stay registered until the node goes). ownCzxid tells that node from a
	// later one of the same path (a directory deleted and made again
	// restarts its sequence), whose claim needs a watch of its own.
	ownPath  string
	ownCh    <-chan zk.Event
	ownCzxid int64

	// The watch on a predecessor left by a WaitTurn whose ctx ended, still
	// armed: the next WaitTurn that waits for the same node reuses it. A
	// caller that tries to lock with a short ctx again and again would
	// otherwise leave one more watch registered on the handle each time,
	// until that node changes.
	predPath  string
	predCh    <-chan zk.Event
	predCzxid int64
}

// predWatch returns a watch on the predecessor at path, and the node's
// czxid: the watch a WaitTurn left armed if it is still the watch of that
// node, else a new one. ok is false when the node is gone meanwhile: look
// again.
func (q *Queue) predWatch(ctx context.Context, path string) (ch <-chan zk.Event, czxid int64, ok bool, err error) {
	if q.predPath == path && q.predCh != nil {
		old, oldCzxid := q.predCh, q.predCzxid
		q.predPath, q.predCh = "", nil
		select {
		case <-old:
			return nil, 0, false, nil // it fired: the node changed or went
		default:
		}
		_, st, err := q.Conn.Get(ctx, path)
		switch {
		case errors.Is(err, zk.ErrNoNode):
			return nil, 0, false, nil // its event is on its way
		case err != nil:
			q.predPath, q.predCh = path, old // not known yet: keep it
			return nil, 0, false, err
		case st.Czxid == oldCzxid:
			return old, oldCzxid, true, nil
		}
		// Another node of the same path (the directory was made again):
		// the old watch is of a node that is gone.
	}
	// GetW, not ExistsW: it sets no watch on a node that is already gone,
	// so nothing is left registered for a path that will never be created
	// again.
	_, st, ch, err := q.Conn.GetW(ctx, path)
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return nil, 0, false, nil
	case err != nil:
		return nil, 0, false, err
	}
	if q.OnWatch != nil {
		q.OnWatch(path)
	}
	return ch, st.Czxid, true, nil
}

func (q *Queue) acl() []zk.ACL {
	if q.ACL == nil {
		return zk.OpenACL
	}
	return q.ACL
}

// Enqueue creates the member's node and returns its path. A create that
// fails with a retryable error (the reply was lost: the node may exist) is
// followed by a search for the prefix; only if the node is not there is it
// created again. A missing directory is created, with its parents, as
// persistent nodes.
func (q *Queue) Enqueue(ctx context.Context) (string, error) {
	attempt := 0
	for {
		p, err := q.Conn.Create(ctx, q.Dir+"/"+q.Prefix, q.Data, zk.CreateEphemeralSequential, q.acl())
		switch {
		case err == nil:
			return p, nil
		case errors.Is(err, zk.ErrNoNode):
			if err := q.ensureDir(ctx); err != nil {
				return "", err
			}
		case zk.IsRetryable(err):
			// The create may have been applied, its reply lost.
			if err := Retry(ctx, q.Conn, err, &attempt); err != nil {
				return "", err
			}
			found, err := q.find(ctx)
			if err != nil {
				return "", err
			}
			if found != "" {
				if q.OnRecover != nil {
					q.OnRecover(found)
				}
				return found, nil
			}
		default:
			if err := Retry(ctx, q.Conn, err, &attempt); err != nil {
				return "", err
			}
		}
	}
}

// Retry decides what follows a failed call: nil to repeat it, or the
// error to give up with. After a lost connection the call is repeated at
// once (calls made while the handle reconnects wait for the new link);
// after a server timeout or throttling, after a growing pause (10 ms to
// 1 s); after ErrNotReadOnly, once the handle is on a read-write server
// again. Any other error, or ctx's end, is returned.
func Retry(ctx context.Context, conn *zk.Conn, err error, attempt *int) error {
	switch {
	case errors.Is(err, zk.ErrConnectionLoss):
	case errors.Is(err, zk.ErrNotReadOnly):
		if err := WaitConnected(ctx, conn); err != nil {
			return err
		}
	case zk.IsRetryable(err):
		*attempt++
		t := time.NewTimer(min(10*time.Millisecond<<min(*attempt, 7), time.Second))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	default:
		return err
	}
	return ctx.Err()
}

// find returns the path of the member's lowest node, or "" when it has
// none.
func (q *Queue) find(ctx context.Context) (string, error) {
	names, err := q.children(ctx)
	if err != nil {
		return "", err
	}
	for _, n := range Sorted(names) {
		if n.Prefix == q.Prefix {
			return q.Dir + "/" + n.Name, nil
		}
	}
	return "", nil
}

// children lists the directory, repeating the call after a retryable error
// (calls made while the handle reconnects wait for the new link). A missing
// directory has no children.
func (q *Queue) children(ctx context.Context) ([]string, error) {
	attempt := 0
	for {
		names, _, err := q.Conn.Children(ctx, q.Dir)
		switch {
		case err == nil:
			return names, nil
		case errors.Is(err, zk.ErrNoNode):
			return nil, nil
		}
		if err := Retry(ctx, q.Conn, err, &attempt); err != nil {
			return nil, err
		}
	}
}

// ensureDir creates the directory and its missing parents.
func (q *Queue) ensureDir(ctx context.Context) error {
	parts := strings.Split(strings.TrimPrefix(q.Dir, "/"), "/")
	p := ""
	attempt := 0
	for _, part := range parts {
		p += "/" + part
		for {
			_, err := q.Conn.Create(ctx, p, nil, zk.CreatePersistent, q.acl())
			if err == nil || errors.Is(err, zk.ErrNodeExists) {
				break
			}
			if err := Retry(ctx, q.Conn, err, &attempt); err != nil {
				return err
			}
		}
	}
	return nil
}

// WaitTurn waits until no node that blocks ours is lower than ours, and
// returns our node. Our node is the lowest one with our prefix; any other
// one with our prefix (a create that was repeated after its reply was lost
// and then went through after all) is deleted. It watches only the nearest
// lower blocking node, so that a deletion wakes one waiter, not the herd.
// It returns ErrNodeGone when we have no node, and an error wrapping the
// session's end (zk.ErrSessionExpired, zk.ErrClosed) when the session ends.
func (q *Queue) WaitTurn(ctx context.Context) (Node, error) {
	attempt := 0
	for {
		names, err := q.children(ctx)
		if err != nil {
			return Node{}, err
		}
		nodes := Sorted(names)
		mine := -1
		for i, n := range nodes {
			if n.Prefix != q.Prefix {
				continue
			}
			if mine < 0 {
				mine = i
				continue
			}
			if err := q.delete(ctx, q.Dir+"/"+n.Name); err != nil {
				return Node{}, err
			}
		}
		if mine < 0 {
			return Node{}, ErrNodeGone
		}
		var pred *Node
		for i := mine - 1; i >= 0; i-- {
			if q.Blocks(nodes[i]) {
				pred = &nodes[i]
				break
			}
		}
		if pred == nil {
			return nodes[mine], nil
		}
		path := q.Dir + "/" + pred.Name
		ch, czxid, ok, err := q.predWatch(ctx, path)
		switch {
		case err != nil:
			if err := Retry(ctx, q.Conn, err, &attempt); err != nil {
				return Node{}, err
			}
			continue
		case !ok: // gone already: look again
			continue
		}
		select {
		case ev := <-ch:
			if ev.Err != nil {
				return Node{}, &zk.OpError{Op: "watch", Path: path, Err: ev.Err}
			}
			if q.OnWake != nil {
				q.OnWake(ev)
			}
		case <-ctx.Done():
			q.predPath, q.predCh, q.predCzxid = path, ch, czxid // still armed: the next WaitTurn may use it
			return Node{}, ctx.Err()
		}
	}
}

// delete removes a node of ours; a node already gone is fine.
func (q *Queue) delete(ctx context.Context, path string) error {
	attempt := 0
	for {
		err := q.Conn.Delete(ctx, path, zk.AnyVersion)
		if err == nil || errors.Is(err, zk.ErrNoNode) {
			return nil
		}
		if err := Retry(ctx, q.Conn, err, &attempt); err != nil {
			return err
		}
	}
}

// Cleanup deletes every node with our prefix: the one we hold or wait with,
// and any create whose reply was lost.
func (q *Queue) Cleanup(ctx context.Context) error {
	names, err := q.children(ctx)
	if err != nil {
		return err
	}
	for _, n := range Sorted(names) {
		if n.Prefix == q.Prefix {
			if err := q.delete(ctx, q.Dir+"/"+n.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// CleanupContext bounds a cleanup made on the way out, when the caller's
// context may be done already: one session timeout (at least a second),
// after which the session is likely gone and its ephemerals with it.
func CleanupContext(parent context.Context, conn *zk.Conn) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(parent), max(conn.SessionTimeout(), time.Second))
}

// Terminal reports whether st is a state no handle leaves.
func Terminal(st zk.State) bool { return st == zk.StateClosed || st == zk.StateAuthFailed }

// WaitConnected waits until the handle is CONNECTED (read-write). It
// returns an error wrapping the session's end if the handle ends first, or
// ctx's error.
func WaitConnected(ctx context.Context, conn *zk.Conn) error {
	for {
		st := conn.State()
		switch {
		case st == zk.StateConnected:
			return nil
		case Terminal(st):
			return SessionErr(ctx, conn)
		}
		if !conn.WaitForStateChange(ctx, st) {
			return ctx.Err()
		}
	}
}

// SessionErr returns why a terminal handle ended: zk.ErrSessionExpired,
// zk.ErrAuthFailed or zk.ErrClosed. (A call on a terminal handle fails at
// once, without I/O, with that error.)
func SessionErr(ctx context.Context, conn *zk.Conn) error {
	_, _, err := conn.Exists(ctx, "/")
	for _, e := range []error{zk.ErrSessionExpired, zk.ErrAuthFailed} {
		if errors.Is(err, e) {
			return e
		}
	}
	return zk.ErrClosed
}

// SessionEnded reports whether err says that the session is over.
func SessionEnded(err error) bool {
	return errors.Is(err, zk.ErrSessionExpired) || errors.Is(err, zk.ErrClosed) || errors.Is(err, zk.ErrAuthFailed)
}
