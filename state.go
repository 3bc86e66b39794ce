package zk

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

// State is the state of a handle's link to the ensemble.
type State int32

const (
	// StateNotConnected: no server link and not dialing; before the first
	// attempt and while backing off after a whole pass over the servers
	// failed.
	StateNotConnected State = iota
	// StateConnecting: dialing or handshaking a server.
	StateConnecting
	// StateConnected: the session is established with a read-write server.
	StateConnected
	// StateConnectedReadOnly: the session is established with a read-only
	// server (only when WithReadOnly allows it).
	StateConnectedReadOnly
	// StateAuthFailed: the server rejected the credentials. Terminal.
	StateAuthFailed
	// StateClosed: closed by the application, or the session expired.
	// Terminal.
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateNotConnected:
		return "NOT_CONNECTED"
	case StateConnecting:
		return "CONNECTING"
	case StateConnected:
		return "CONNECTED"
	case StateConnectedReadOnly:
		return "CONNECTED_READ_ONLY"
	case StateAuthFailed:
		return "AUTH_FAILED"
	case StateClosed:
		return "CLOSED"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// terminal reports whether no transition leaves s.
func (s State) terminal() bool { return s == StateAuthFailed || s == StateClosed }

// connected reports whether s has a session on a live server link.
func (s State) connected() bool { return s == StateConnected || s == StateConnectedReadOnly }

// SessionEvent is the session event carried by a state change.
type SessionEvent int32

const (
	// EventNone: a change that is not a session event (a connection attempt
	// starting, or backoff).
	EventNone SessionEvent = iota
	// EventDisconnected: the link to the server was lost; the session may
	// still be alive and the handle is reconnecting.
	EventDisconnected
	// EventSyncConnected: the session is established with a read-write
	// server.
	EventSyncConnected
	// EventConnectedReadOnly: the session is established with a read-only
	// server.
	EventConnectedReadOnly
	// EventAuthFailed: the server rejected the credentials.
	EventAuthFailed
	// EventExpired: the session expired (told by the server, or decided by
	// the handle after the session timeout without a server). Its ephemeral
	// nodes are gone; the handle is closed.
	EventExpired
	// EventClosed: the application closed the handle.
	EventClosed
)

func (e SessionEvent) String() string {
	switch e {
	case EventNone:
		return "None"
	case EventDisconnected:
		return "Disconnected"
	case EventSyncConnected:
		return "SyncConnected"
	case EventConnectedReadOnly:
		return "ConnectedReadOnly"
	case EventAuthFailed:
		return "AuthFailed"
	case EventExpired:
		return "Expired"
	case EventClosed:
		return "Closed"
	}
	return fmt.Sprintf("SessionEvent(%d)", int32(e))
}

// StateChange is delivered to state listeners, in order, for every change.
type StateChange struct {
	From, To State
	Event    SessionEvent
	// Server is the server of the new connection (for the connected
	// states) or of the lost one (for EventDisconnected).
	Server string
	// SessionID is the session's id at the time of the change (0 before the
	// first session).
	SessionID int64
	// Err says why, where there is a reason: the dial or handshake error,
	// the read timeout, the protocol violation, the expiry.
	Err error
}

func (c StateChange) String() string {
	s := c.From.String() + " -> " + c.To.String()
	if c.Event != EventNone {
		s += " (" + c.Event.String() + ")"
	}
	return s
}

// validTransitions lists every legal state change. Anything else is a bug.
var validTransitions = map[State][]State{
	StateNotConnected:      {StateConnecting, StateClosed},
	StateConnecting:        {StateNotConnected, StateConnected, StateConnectedReadOnly, StateAuthFailed, StateClosed},
	StateConnected:         {StateConnecting, StateAuthFailed, StateClosed},
	StateConnectedReadOnly: {StateConnecting, StateAuthFailed, StateClosed},
}

func transitionAllowed(from, to State) bool {
	for _, s := range validTransitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// serializer runs callbacks one at a time, in the order they were
// scheduled, on its own goroutine and outside every lock of the handle. Its
// queue is unbounded: scheduling never blocks and never drops.
type serializer struct {
	mu      sync.Mutex // guards queue, closing, running
	queue   []func()
	closing bool
	running bool
	wake    chan struct{}
	done    chan struct{}
	gid     atomic.Uint64 // id of the goroutine running callbacks
}

func newSerializer() *serializer {
	s := &serializer{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go s.run()
	return s
}

// schedule queues fn; it returns false if the serializer is closed.
func (s *serializer) schedule(fn func()) bool {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return false
	}
	s.queue = append(s.queue, fn)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

// close stops accepting callbacks; the ones already queued still run. It
// returns at once; wait on s.done.
func (s *serializer) close() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *serializer) run() {
	defer close(s.done)
	s.gid.Store(goroutineID())
	var batch []func()
	for {
		s.mu.Lock()
		batch, s.queue = s.queue, batch[:0]
		closing := s.closing
		s.mu.Unlock()
		for i, fn := range batch {
			fn()
			batch[i] = nil
		}
		if len(batch) == 0 {
			if closing {
				return
			}
			<-s.wake
		}
	}
}

// onGoroutine reports whether the caller is the serializer's goroutine, that
// is, a callback. Close uses it so that a listener may close its handle.
func (s *serializer) onGoroutine() bool { return s.gid.Load() == goroutineID() }

// goroutineID parses the current goroutine's id from its stack header
// ("goroutine 123 [running]:"). It is called only by Close and by the
// serializer once, never on a hot path.
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}
