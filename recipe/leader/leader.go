package leader

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/zkgo/zk"
	"github.com/zkgo/zk/recipe/internal/queue"
)

var (
	// ErrDisconnected is the cause of a lead context cancelled because the
	// handle left CONNECTED: leadership is in doubt.
	ErrDisconnected = errors.New("leader: disconnected from ZooKeeper: leadership in doubt")
	// ErrNodeDeleted is the cause of a lead context cancelled because the
	// candidate's node was deleted.
	ErrNodeDeleted = errors.New("leader: the candidate's node was deleted")
	// ErrResigned is the cause of a lead context ended because the lead
	// function returned on its own.
	ErrResigned = errors.New("leader: resigned")
	// ErrNoLeader is returned by Current when there is no candidate.
	ErrNoLeader = errors.New("leader: no candidate")
	// ErrRunning is returned by Run when the candidate is already running.
	ErrRunning = errors.New("leader: candidate already running")
)

// Config describes a candidate.
type Config struct {
	// Dir is the election's directory, shared by all candidates: an
	// absolute path. It is created, with its parents, if missing.
	Dir string
	// ID is stored in the candidate's node, for Current and Participants
	// (a host name, an address). It may be empty.
	ID []byte
	// KeepOnDisconnect keeps the lead context alive while the handle is
	// disconnected; it is then cancelled only when the session ends or the
	// node is deleted. Default false: cancelled on Disconnected. See the
	// package documentation for what this costs.
	KeepOnDisconnect bool
	// OnGained, if set, is called on Run's goroutine each time the
	// candidate becomes leader, just before lead.
	OnGained func()
	// OnLost, if set, is called on Run's goroutine each time a leadership
	// ends, after lead has returned, with the cause (see Run).
	OnLost func(cause error)
	// ACL is the ACL of the nodes the candidate creates. Default zk.OpenACL.
	ACL []zk.ACL
}

// Term describes one leadership, for fencing: see TermFrom.
type Term struct {
	// Path is the leader's node.
	Path string
	// Czxid is the zxid of the node's creation. It is larger for every
	// later leader of the same directory: a fencing token.
	Czxid int64
	// Version is the node's data version; zk.CheckOp{Path, Version} in a
	// Multi fails once the node, and with it the leadership, is gone.
	Version int32
	// SessionID is the leader's session.
	SessionID int64
}

type termKey struct{}

// TermFrom returns the Term of the leadership whose lead context is ctx (or
// a context derived from it).
func TermFrom(ctx context.Context) (Term, bool) {
	t, ok := ctx.Value(termKey{}).(Term)
	return t, ok
}

// Candidate takes part in an election on one session. Create it with New;
// Run contests. A Candidate belongs to its handle: when the session ends,
// so does the candidate (see package recipe/session for starting again on a
// new session).
type Candidate struct {
	conn *zk.Conn
	cfg  Config
	q    *queue.Queue

	running atomic.Bool

	mu      sync.Mutex // guards leading
	leading bool
}

// New returns a candidate for the election in cfg.Dir, on conn's session.
// It does no I/O.
func New(conn *zk.Conn, cfg Config) (*Candidate, error) {
	if conn == nil {
		return nil, errors.New("leader: nil connection")
	}
	if err := checkDir(cfg.Dir); err != nil {
		return nil, err
	}
	c := &Candidate{conn: conn, cfg: cfg}
	c.q = &queue.Queue{
		Conn:   conn,
		Dir:    cfg.Dir,
		Prefix: queue.NewPrefix(queue.TagCandidate),
		Data:   cfg.ID,
		ACL:    cfg.ACL,
		Blocks: func(queue.Node) bool { return true },
		Errs: &queue.Errors{
			Prefix:       "leader",
			Disconnected: ErrDisconnected,
			NodeDeleted:  ErrNodeDeleted,
		},
	}
	return c, nil
}

func checkDir(dir string) error {
	if !strings.HasPrefix(dir, "/") || dir == "/" || strings.HasSuffix(dir, "/") {
		return fmt.Errorf("leader: bad directory %q: want an absolute path other than /, without a trailing /", dir)
	}
	return nil
}

// Run contests the election until ctx ends, the session ends, or lead
// returns on its own. Whenever the candidate leads, Run calls lead with a
// context that is cancelled the moment leadership is no longer certain (see
// the package documentation); lead must return promptly once it is. A nil
// lead just waits for that.
//
// After a leadership lost to a disconnection, Run contests again when the
// handle reconnects. When lead returns before its context is cancelled,
// Run resigns (deletes its node, so that the next candidate leads) and
// returns lead's error. When ctx ends, Run resigns and returns ctx's error.
// When the session ends, Run returns an error wrapping zk.ErrSessionExpired
// (or zk.ErrClosed, zk.ErrAuthFailed). Other errors (no permission on Dir,
// a bad path) are returned as they happen. On its way out Run deletes the
// candidate's node; if it cannot (no connection within one session
// timeout), the node goes when the session ends.
//
// Run may be called again after it returned, but not concurrently.
func (c *Candidate) Run(ctx context.Context, lead func(ctx context.Context) error) error {
	if ctx == nil {
		return errors.New("leader: nil context")
	}
	if !c.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer c.running.Store(false)
	if lead == nil {
		lead = func(ctx context.Context) error { <-ctx.Done(); return nil }
	}
	defer c.resign(ctx)
	enqueued := false
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !enqueued {
			if _, err := c.q.Enqueue(ctx); err != nil {
				return c.wrap(ctx, err)
			}
			enqueued = true
		}
		node, err := c.q.WaitTurn(ctx)
		if errors.Is(err, queue.ErrNodeGone) {
			enqueued = false
			continue
		}
		if err != nil {
			return c.wrap(ctx, err)
		}
		h, err := c.q.Claim(ctx, node, c.cfg.KeepOnDisconnect)
		switch {
		case errors.Is(err, queue.ErrNodeGone):
			enqueued = false
			continue
		case errors.Is(err, queue.ErrInDoubt):
			if err := queue.WaitConnected(ctx, c.conn); err != nil {
				return c.wrap(ctx, err)
			}
			continue
		case err != nil:
			return c.wrap(ctx, err)
		}
		if done, err := c.lead(ctx, h, lead); done {
			return err
		}
	}
}

// lead runs one leadership. It reports whether Run must return, and what.
func (c *Candidate) lead(ctx context.Context, h *queue.Hold, lead func(context.Context) error) (bool, error) {
	term := Term{Path: h.Path, Czxid: h.Stat.Czxid, Version: h.Stat.Version, SessionID: h.Stat.EphemeralOwner}
	c.setLeading(true)
	if c.cfg.OnGained != nil {
		c.cfg.OnGained()
	}
	err := lead(context.WithValue(h.Context(), termKey{}, term))
	lost := h.Context().Err() != nil
	cause := h.Stop(ErrResigned)
	c.setLeading(false)
	if c.cfg.OnLost != nil {
		c.cfg.OnLost(cause)
	}
	switch {
	case !lost:
		return true, err
	case ctx.Err() != nil:
		return true, ctx.Err()
	case queue.Terminal(c.conn.State()):
		return true, c.wrap(ctx, queue.SessionErr(ctx, c.conn))
	}
	return false, nil
}

func (c *Candidate) setLeading(v bool) {
	c.mu.Lock()
	c.leading = v
	c.mu.Unlock()
}

// Leading reports whether the candidate's lead function is running. Its
// context may be cancelled already: to decide whether to act, check the
// lead context, not this.
func (c *Candidate) Leading() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leading
}

// resign deletes the candidate's nodes on the way out of Run.
func (c *Candidate) resign(ctx context.Context) {
	if queue.Terminal(c.conn.State()) {
		return // the session's ephemerals are gone, or go with it
	}
	cctx, cancel := queue.CleanupContext(ctx, c.conn)
	defer cancel()
	c.q.Cleanup(cctx) // best effort: a node left behind goes with the session
}

// wrap gives an error the package's prefix; once ctx has ended, ctx's error
// is what Run returns.
func (c *Candidate) wrap(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if strings.HasPrefix(err.Error(), "leader: ") {
		return err
	}
	return fmt.Errorf("leader: %w", err)
}

// Current returns the ID of the candidate at the head of the election in
// the candidate's directory (see the package-level Current).
func (c *Candidate) Current(ctx context.Context) ([]byte, error) {
	return Current(ctx, c.conn, c.cfg.Dir)
}

// Participants returns the IDs of the candidates in the candidate's
// directory (see the package-level Participants).
func (c *Candidate) Participants(ctx context.Context) ([][]byte, error) {
	return Participants(ctx, c.conn, c.cfg.Dir)
}

// Current returns the ID of the candidate at the head of the election in
// dir: the leader, or the candidate about to lead (it may still be checking
// its claim, or be disconnected with its lead context cancelled). It
// returns ErrNoLeader when there is no candidate. It needs no Candidate:
// observers use it too.
func Current(ctx context.Context, conn *zk.Conn, dir string) ([]byte, error) {
	ids, err := participants(ctx, conn, dir, 1)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, ErrNoLeader
	}
	return ids[0], nil
}

// Participants returns the IDs of the candidates in dir in the order in
// which they would lead: the first is Current.
func Participants(ctx context.Context, conn *zk.Conn, dir string) ([][]byte, error) {
	return participants(ctx, conn, dir, -1)
}

// participants reads the IDs of the first n candidates (all if n < 0). A
// node deleted between the listing and its read is skipped.
func participants(ctx context.Context, conn *zk.Conn, dir string, n int) ([][]byte, error) {
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	names, _, err := conn.Children(ctx, dir)
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("leader: %w", err)
	}
	var ids [][]byte
	for _, node := range queue.Sorted(names) {
		if n >= 0 && len(ids) == n {
			break
		}
		data, _, err := conn.Get(ctx, dir+"/"+node.Name)
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("leader: %w", err)
		}
		ids = append(ids, data)
	}
	return ids, nil
}
