package lock

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/zkgo/zk"
	"github.com/zkgo/zk/recipe/internal/queue"
)

var (
	// ErrDisconnected is the cause of a hold lost because the handle left
	// CONNECTED: the lock is in doubt.
	ErrDisconnected = errors.New("lock: disconnected from ZooKeeper: lock in doubt")
	// ErrNodeDeleted is the cause of a hold lost because its node was
	// deleted.
	ErrNodeDeleted = errors.New("lock: the lock node was deleted")
	// ErrNotHeld is returned by Unlock (and Err) when the lock is not held.
	ErrNotHeld = errors.New("lock: not held")
	// ErrClosed is returned by calls after Close (Err included).
	ErrClosed = errors.New("lock: closed")
	// errUnlocked ends a hold's context when Unlock ends the hold; Err
	// then says ErrNotHeld.
	errUnlocked = errors.New("lock: unlocked")
)

// Config describes a lock.
type Config struct {
	// Dir is the lock's directory, shared by all its lockers: an absolute
	// path. It is created, with its parents, if missing.
	Dir string
	// Data is stored in the locker's node (who holds or waits: a host
	// name). It may be empty.
	Data []byte
	// KeepOnDisconnect keeps a hold while the handle is disconnected: it is
	// then lost only when the session ends or the node is deleted. Default
	// false: lost on Disconnected. See the package documentation.
	KeepOnDisconnect bool
	// ACL is the ACL of the nodes the locker creates. Default zk.OpenACL.
	ACL []zk.ACL
}

// Token describes a hold, for fencing.
type Token struct {
	// Path is the holder's node.
	Path string
	// Czxid is the zxid of the node's creation; it is larger for every
	// later holder of the same lock.
	Czxid int64
	// Version is the node's data version, for zk.CheckOp.
	Version int32
	// SessionID is the holder's session.
	SessionID int64
}

// closedCh is returned by Lost when there is no hold.
var closedCh = func() chan struct{} { ch := make(chan struct{}); close(ch); return ch }()

// Mutex is a mutual-exclusion lock shared through ZooKeeper. Create it with
// New; it belongs to its handle's session. Close releases it.
type Mutex struct {
	conn *zk.Conn
	q    *queue.Queue
	sem  chan struct{} // capacity 1: the local owner
	keep bool

	life      context.Context // cancelled by Close
	stop      context.CancelCauseFunc
	closeOnce sync.Once
	ops       sync.WaitGroup // Lock and Unlock calls in progress

	// mu guards the fields below.
	mu     sync.Mutex
	hold   *queue.Hold
	closed bool
}

// New returns a Mutex for the lock in cfg.Dir, on conn's session. It does
// no I/O.
func New(conn *zk.Conn, cfg Config) (*Mutex, error) {
	return newMutex(conn, cfg, queue.TagLock, func(queue.Node) bool { return true })
}

func newMutex(conn *zk.Conn, cfg Config, tag string, blocks func(queue.Node) bool) (*Mutex, error) {
	if conn == nil {
		return nil, errors.New("lock: nil connection")
	}
	if !strings.HasPrefix(cfg.Dir, "/") || cfg.Dir == "/" || strings.HasSuffix(cfg.Dir, "/") {
		return nil, fmt.Errorf("lock: bad directory %q: want an absolute path other than /, without a trailing /", cfg.Dir)
	}
	m := &Mutex{
		conn: conn,
		sem:  make(chan struct{}, 1),
		q: &queue.Queue{
			Conn:   conn,
			Dir:    cfg.Dir,
			Prefix: queue.NewPrefix(tag),
			Data:   cfg.Data,
			ACL:    cfg.ACL,
			Blocks: blocks,
			Errs: &queue.Errors{
				Prefix:       "lock",
				Disconnected: ErrDisconnected,
				NodeDeleted:  ErrNodeDeleted,
			},
		},
	}
	m.life, m.stop = context.WithCancelCause(context.Background())
	m.keep = cfg.KeepOnDisconnect
	return m, nil
}

// begin registers a Lock or Unlock call; it reports false after Close.
func (m *Mutex) begin() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.ops.Add(1)
	return true
}

// Lock waits until the lock is held, ctx ends, or the session ends. When
// ctx ends it deletes the node it queued with (trying for at most one
// session timeout; a node it could not delete is taken up by the next
// Lock, or goes with the session) and returns ctx's error; when the session
// ends, an error wrapping zk.ErrSessionExpired (or zk.ErrClosed,
// zk.ErrAuthFailed); after Close, ErrClosed. Once Lock returned nil, watch
// Lost. Goroutines sharing the Mutex wait for each other first, as with
// sync.Mutex: a Lock while the Mutex is held (even lost, until Unlock)
// waits.
func (m *Mutex) Lock(ctx context.Context) error {
	if ctx == nil {
		return errors.New("lock: nil context")
	}
	if !m.begin() {
		return ErrClosed
	}
	defer m.ops.Done()
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(m.life, func() { cancel(ErrClosed) })()
	if lctx.Err() != nil {
		return m.ctxErr(ctx, lctx)
	}
	select {
	case m.sem <- struct{}{}:
	case <-lctx.Done():
		return m.ctxErr(ctx, lctx)
	}
	h, err := m.acquire(ctx, lctx)
	if err != nil {
		<-m.sem
		return err
	}
	m.mu.Lock()
	m.hold = h
	m.mu.Unlock()
	return nil
}

// acquire queues and waits for the turn.
func (m *Mutex) acquire(ctx, lctx context.Context) (*queue.Hold, error) {
	enqueued := false
	for {
		if !enqueued {
			if _, err := m.q.Enqueue(lctx); err != nil {
				return nil, m.abandon(ctx, lctx, err)
			}
			enqueued = true
		}
		node, err := m.q.WaitTurn(lctx)
		if errors.Is(err, queue.ErrNodeGone) {
			enqueued = false
			continue
		}
		if err != nil {
			return nil, m.abandon(ctx, lctx, err)
		}
		h, err := m.q.Claim(m.life, node, m.keep)
		switch {
		case errors.Is(err, queue.ErrNodeGone):
			enqueued = false
			continue
		case errors.Is(err, queue.ErrInDoubt):
			if err := queue.WaitConnected(lctx, m.conn); err != nil {
				return nil, m.abandon(ctx, lctx, err)
			}
			continue
		case err != nil:
			return nil, m.abandon(ctx, lctx, err)
		}
		if err := lctx.Err(); err != nil { // ctx ended just as the turn came
			h.Stop(nil)
			return nil, m.abandon(ctx, lctx, err)
		}
		return h, nil
	}
}

// abandon deletes what Lock queued (the node, and any create in flight
// whose reply was lost) and returns the error Lock returns.
func (m *Mutex) abandon(ctx, lctx context.Context, err error) error {
	if !queue.Terminal(m.conn.State()) {
		cctx, cancel := queue.CleanupContext(ctx, m.conn)
		m.q.Cleanup(cctx) // best effort: a node left behind goes with the session, or is reused by the next Lock
		cancel()
	}
	if lctx.Err() != nil {
		return m.ctxErr(ctx, lctx)
	}
	return wrap(err)
}

// ctxErr is the error of a Lock whose context ended: ctx's own, or
// ErrClosed when Close ended it.
func (m *Mutex) ctxErr(ctx, lctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return context.Cause(lctx)
}

func wrap(err error) error {
	if strings.HasPrefix(err.Error(), "lock: ") {
		return err
	}
	return fmt.Errorf("lock: %w", err)
}

// Unlock releases the lock: it ends the hold and deletes the node, waiting
// for the deletion at most until ctx ends. A lock whose session ended is
// released already: Unlock returns nil. It returns ErrNotHeld if the lock
// is not held. If the node could not be deleted (ctx ended while
// disconnected) Unlock returns the error; the node, which keeps later
// lockers waiting, is taken up again by the next Lock (which keeps its place
// in the queue), deleted by Close, or goes with the session.
func (m *Mutex) Unlock(ctx context.Context) error {
	if ctx == nil {
		return errors.New("lock: nil context")
	}
	if !m.begin() {
		return ErrClosed
	}
	defer m.ops.Done()
	m.mu.Lock()
	h := m.hold
	m.hold = nil
	m.mu.Unlock()
	if h == nil {
		return ErrNotHeld
	}
	h.Stop(errUnlocked)
	err := m.q.Cleanup(ctx)
	<-m.sem
	if err != nil && !queue.SessionEnded(err) {
		return fmt.Errorf("lock: unlock: %w", err)
	}
	return nil
}

// Lost returns a channel that is closed when the current hold is lost or in
// doubt (see Err), or ended by Unlock or Close (Err then returns ErrNotHeld
// or ErrClosed). Without a hold it returns a closed channel.
func (m *Mutex) Lost() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hold == nil {
		return closedCh
	}
	return m.hold.Context().Done()
}

// Err returns nil while the lock is held and certain, why the hold was lost
// once Lost is closed (ErrDisconnected, ErrNodeDeleted, an error wrapping
// zk.ErrSessionExpired, zk.ErrClosed or zk.ErrAuthFailed), ErrNotHeld
// without a hold (after Unlock, say), and ErrClosed after Close.
func (m *Mutex) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.hold == nil {
		return ErrNotHeld
	}
	return context.Cause(m.hold.Context())
}

// Token returns the current hold's fencing token, and whether there is a
// hold (lost or not).
func (m *Mutex) Token() (Token, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hold == nil {
		return Token{}, false
	}
	st := m.hold.Stat
	return Token{Path: m.hold.Path, Czxid: st.Czxid, Version: st.Version, SessionID: st.EphemeralOwner}, true
}

// Close releases the lock if it is held, makes waiting and later Lock
// calls return ErrClosed, and returns once they have. The node is deleted
// if the handle is connected within one session timeout; otherwise it goes
// with the session. It is idempotent.
func (m *Mutex) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		m.stop(ErrClosed)
		m.ops.Wait()
		m.mu.Lock()
		h := m.hold
		m.hold = nil
		m.mu.Unlock()
		if h != nil {
			h.Stop(ErrClosed)
		}
		if !queue.Terminal(m.conn.State()) {
			ctx, cancel := queue.CleanupContext(context.Background(), m.conn)
			m.q.Cleanup(ctx)
			cancel()
		}
	})
	return nil
}
