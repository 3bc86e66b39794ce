package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/zkgo/zk"
)

// ErrClosed is returned by Run once the Supervisor is closed.
var ErrClosed = errors.New("session: supervisor closed")

// EventType says what happened to a session.
type EventType int

const (
	// EventNewSession: a session was established (the first one by Open,
	// later ones after a loss). Event.Conn is its handle.
	EventNewSession EventType = iota + 1
	// EventLost: the session ended. Event.Err says why:
	// zk.ErrSessionExpired, zk.ErrAuthFailed, or zk.ErrClosed (the handle
	// was closed by Close, or by the application). Its ephemeral nodes are
	// gone (or going).
	EventLost
	// EventClosed: the Supervisor ended, after Close (Err nil) or after
	// giving up on opening a new session (Err the last error). It is the
	// last event.
	EventClosed
)

// String returns the type's name ("Lost"), or EventType(n).
func (t EventType) String() string {
	switch t {
	case EventNewSession:
		return "NewSession"
	case EventLost:
		return "Lost"
	case EventClosed:
		return "Closed"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is a change of session, delivered to Config.OnEvent.
type Event struct {
	Type EventType
	// Generation numbers the sessions from 1 (Open's); for EventClosed it
	// is the last one's.
	Generation int
	// SessionID is the session's id (0 for EventClosed).
	SessionID int64
	// Conn is the session's handle, for EventNewSession.
	Conn *zk.Conn
	// Err says why, for EventLost and a giving-up EventClosed.
	Err error
}

// String describes the event for logs: type, generation, session, error.
func (e Event) String() string {
	s := fmt.Sprintf("%s (generation %d", e.Type, e.Generation)
	if e.SessionID != 0 {
		s += fmt.Sprintf(", session 0x%x", e.SessionID)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s + ")"
}

// Config configures a Supervisor.
type Config struct {
	// Options are passed to every zk.Connect. They must not resume a
	// session (zk.WithSession).
	Options []zk.Option
	// NewBackOff returns the waits between failed attempts to open a new
	// session after a loss; it is called once per loss. A BackOff that
	// returns backoff.Stop makes the Supervisor give up: it emits
	// EventClosed with the last error and Run returns that error. Default:
	// exponential from 100 ms, factor 2, jitter ±50%, at most 5 s, never
	// giving up.
	NewBackOff func() backoff.BackOff
	// ConnectTimeout bounds one attempt to open a session (zk.Connect
	// retries the servers within it). Default 30 s.
	ConnectTimeout time.Duration
	// OnEvent, if set, receives every Event, in order, on a goroutine of
	// the Supervisor, never dropped: a slow OnEvent delays later events,
	// nothing else. It must not call Close (Close waits for it).
	OnEvent func(Event)
}

func defaultBackOff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.Multiplier = 2
	b.RandomizationFactor = 0.5
	b.MaxInterval = 5 * time.Second
	b.MaxElapsedTime = 0
	return b
}

// Supervisor owns the current session's handle and replaces it when the
// session ends. Its methods are safe for concurrent use.
type Supervisor struct {
	connString string
	cfg        Config

	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	closeOnce sync.Once
	done      chan struct{} // closed when supervise has returned
	events    *dispatcher

	// mu guards the fields below.
	mu      sync.Mutex
	cur     *generation
	changed chan struct{} // closed and replaced when cur or ended changes
	ended   error         // why the Supervisor ended, once it has
}

// generation is one session.
type generation struct {
	num    int
	conn   *zk.Conn
	ctx    context.Context // cancelled when the session ends
	cancel context.CancelCauseFunc
	lost   chan zk.StateChange // capacity 1: the terminal change
}

func newGeneration(num int) *generation {
	g := &generation{num: num, lost: make(chan zk.StateChange, 1)}
	g.ctx, g.cancel = context.WithCancelCause(context.Background())
	return g
}

// onState is the handle's state listener: the terminal change ends the
// generation at once and wakes the supervisor.
func (g *generation) onState(c zk.StateChange) {
	if c.To != zk.StateClosed && c.To != zk.StateAuthFailed {
		return
	}
	err := lossErr(c)
	if c.Err != nil && errors.Is(c.Err, err) {
		err = c.Err // says more: "no server accepted the session within its timeout"
	}
	g.cancel(err)
	select {
	case g.lost <- c:
	default:
	}
}

// lossErr maps a terminal change to the error its calls fail with.
func lossErr(c zk.StateChange) error {
	switch c.Event {
	case zk.EventExpired:
		return zk.ErrSessionExpired
	case zk.EventAuthFailed:
		return zk.ErrAuthFailed
	}
	return zk.ErrClosed
}

// Open establishes the first session (ctx bounds only that) and returns a
// Supervisor that keeps replacing it until Close. EventNewSession for the
// first session is the first event.
func Open(ctx context.Context, connString string, cfg Config) (*Supervisor, error) {
	if cfg.NewBackOff == nil {
		cfg.NewBackOff = defaultBackOff
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	s := &Supervisor{
		connString: connString,
		cfg:        cfg,
		done:       make(chan struct{}),
		changed:    make(chan struct{}),
	}
	g, err := s.connect(ctx, 1)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.events = newDispatcher(cfg.OnEvent)
	s.install(g)
	go s.supervise()
	return s, nil
}

// connect opens a session for generation num.
func (s *Supervisor) connect(ctx context.Context, num int) (*generation, error) {
	g := newGeneration(num)
	opts := slices.Concat(s.cfg.Options, []zk.Option{zk.WithStateListener(g.onState)})
	conn, err := zk.Connect(ctx, s.connString, opts...)
	if err != nil {
		return nil, err
	}
	g.conn = conn
	return g, nil
}

// install makes g the current generation and announces it.
func (s *Supervisor) install(g *generation) {
	s.mu.Lock()
	s.cur = g
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	s.events.emit(Event{Type: EventNewSession, Generation: g.num, SessionID: g.conn.SessionID(), Conn: g.conn})
}

// finish ends the Supervisor with err (ErrClosed or the giving-up error).
func (s *Supervisor) finish(gen int, err, eventErr error) {
	s.mu.Lock()
	s.ended = err
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	s.events.emit(Event{Type: EventClosed, Generation: gen, Err: eventErr})
}

// supervise waits for the current session to end and replaces it.
func (s *Supervisor) supervise() {
	defer close(s.done)
	defer s.events.close()
	for {
		s.mu.Lock()
		g := s.cur
		s.mu.Unlock()
		var c zk.StateChange
		select {
		case c = <-g.lost:
		case <-s.ctx.Done():
			g.cancel(ErrClosed)
			g.conn.Close()
			s.events.emit(Event{Type: EventLost, Generation: g.num, SessionID: g.conn.SessionID(), Err: zk.ErrClosed})
			s.finish(g.num, ErrClosed, nil)
			return
		}
		g.conn.Close() // terminal already: this only waits for its goroutines
		s.events.emit(Event{Type: EventLost, Generation: g.num, SessionID: c.SessionID, Err: context.Cause(g.ctx)})
		next, err := s.reopen(g.num + 1)
		if next == nil {
			if err == nil { // closed while reopening
				s.finish(g.num, ErrClosed, nil)
			} else {
				s.finish(g.num, err, err)
			}
			return
		}
		s.install(next)
	}
}

// reopen opens a new session, waiting between attempts as NewBackOff
// says. It returns nil, nil when the Supervisor is closed meanwhile, and
// nil and an error when the BackOff gives up.
func (s *Supervisor) reopen(num int) (*generation, error) {
	b := s.cfg.NewBackOff()
	b.Reset()
	for {
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ConnectTimeout)
		g, err := s.connect(ctx, num)
		cancel()
		if err == nil {
			return g, nil
		}
		if s.ctx.Err() != nil {
			return nil, nil
		}
		wait := b.NextBackOff()
		if wait == backoff.Stop {
			return nil, fmt.Errorf("session: giving up on a new session: %w", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return nil, nil
		}
	}
}

// Conn returns the current session's handle: the latest one, which may
// have ended if a new one is being opened.
func (s *Supervisor) Conn() *zk.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.conn
}

// Generation returns the number of the current session (1 for Open's).
func (s *Supervisor) Generation() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.num
}

// next waits for a live session newer than generation after.
func (s *Supervisor) next(ctx context.Context, after int) (*generation, error) {
	for {
		s.mu.Lock()
		g, ch, ended := s.cur, s.changed, s.ended
		s.mu.Unlock()
		if ended != nil {
			return nil, ended
		}
		if g.num > after && g.ctx.Err() == nil {
			return g, nil
		}
		select {
		case <-ch:
		case <-g.ctx.Done():
			// wait for the replacement (or the end) on the next round
			select {
			case <-ch:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Run calls fn with each session's handle, in turn: first the current one,
// then, each time a session ends, the next one once it is open. fn's
// context is cancelled when its session ends (context.Cause: an error
// wrapping zk.ErrSessionExpired, ...), when ctx ends, or when the
// Supervisor is closed; fn must then return.
//
// Run returns when fn returns while its session is still alive (with fn's
// error), when ctx ends (ctx's error), or when the Supervisor ends
// (ErrClosed, or the error it gave up with). Several Runs may go on at
// once, each with its own fn.
func (s *Supervisor) Run(ctx context.Context, fn func(ctx context.Context, conn *zk.Conn) error) error {
	after := 0
	for {
		g, err := s.next(ctx, after)
		if err != nil {
			return err
		}
		fctx, cancel := context.WithCancelCause(ctx)
		stop := context.AfterFunc(g.ctx, func() { cancel(context.Cause(g.ctx)) })
		err = fn(fctx, g.conn)
		stop()
		cancel(nil)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		st := g.conn.State()
		if g.ctx.Err() == nil && st != zk.StateClosed && st != zk.StateAuthFailed {
			return err
		}
		after = g.num
	}
}

// Close closes the current handle (its session ends at once, with its
// ephemeral nodes), stops opening new ones, cancels every Run's function,
// and returns once the Supervisor's goroutines have exited and every event
// has been delivered. It is idempotent. Run calls return ErrClosed.
func (s *Supervisor) Close() error {
	s.closeOnce.Do(s.cancel)
	<-s.done
	<-s.events.done
	return nil
}
