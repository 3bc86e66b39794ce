package zk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/zkgo/zk/internal/proto"
)

// Conn is a handle on a ZooKeeper session. It connects to one server of the
// ensemble at a time, keeps the session alive with heartbeats, and moves to
// another server when the link is lost. All methods are safe for concurrent
// use. A Conn whose session expired or whose credentials were rejected is
// dead: open a new one.
type Conn struct {
	cfg    config
	chroot string
	log    *slog.Logger

	serial    *serializer
	closing   chan struct{} // closed by Close
	closeOnce sync.Once
	closeCtx  context.Context // cancelled by Close: bounds dials
	cancel    context.CancelFunc
	done      chan struct{} // closed when the loop goroutine has exited

	watches watchRegistry
	pool    sync.Pool // of *request

	lastRecv atomic.Int64 // UnixNano of the last reply (not notification) from a server, or of the handshake
	lastZxid atomic.Int64 // highest zxid seen in a reply
	lastSend atomic.Int64 // UnixNano of the last write to a server
	flushing atomic.Bool  // a goroutine is writing sendq to the link

	// mu guards every field below.
	mu              sync.Mutex
	state           State
	stateCh         chan struct{} // closed and replaced at every change
	terminalCh      chan struct{} // closed when the state becomes terminal
	listeners       []*listener   // copied on write
	closeRequested  bool
	closeErr        error // why calls fail once the state is terminal
	closeReason     error // what ended the handle, for Connect's error
	lastErr         error // the last connection error, for Connect's answer
	sessionID       int64
	passwd          []byte
	timeout         time.Duration // negotiated
	to              timeouts
	server          string
	creds           []Credential
	nextXid         int32
	sendq           []*request // not yet written
	sendqAbandoned  int        // calls given up while no link took sendq (see abandonedQueued)
	pending         []*request // written on the current link, awaiting replies in order, from phead
	phead           int        // the oldest request of pending still awaiting its reply
	authq           []*request // auth packets written, awaiting replies (xid -4) in order
	link            *link      // the current connection, or nil
	pingDue         bool       // a ping is to go out with the next write
	deferStreamSync bool       // setStateLocked leaves the connected event to SetWatches' reply
	wbuf            []byte     // the flusher's write buffer (used only while flushing is held)
	nhosts          int
	seenRW          bool     // a read-write server has accepted the session
	newHosts        []string // a server list to switch to, from UpdateServers
	hosts           []string // the current server list, for serverListed

	hostsChanged chan struct{} // capacity 1: UpdateServers was called
	moveTo       string        // an added server UpdateServers chose to move the session to
	rebalance    *rand.Rand    // UpdateServers' choices; guarded by mu

	// The connection attempt in progress (dial and handshake), which
	// UpdateServers abandons when it removes its server or moves the
	// session elsewhere.
	attemptAddr   string
	attemptCancel context.CancelFunc
}

type listener struct{ fn func(StateChange) }

// link is one connection to one server.
type link struct {
	conn     net.Conn
	addr     string
	failOnce sync.Once
	failed   chan struct{} // closed by fail
	err      error         // set before failed is closed
	backlog  chan []byte   // the rest of a write a caller handed over
	// callerWrites: the connection is plain TCP, so a caller may try a
	// short write and hand the rest over (see flush).
	callerWrites bool
	// raw, on Linux for plain TCP, is the raw system call path: the
	// reader reads through it and a caller makes one non-blocking write
	// attempt with it (see rawio_linux.go).
	raw *rawIO
}

func (l *link) fail(err error) {
	l.failOnce.Do(func() {
		l.err = err
		close(l.failed)
	})
}

// errLinkAuthFailed is a link's end when the server rejected the
// credentials; it ends the loop in AUTH_FAILED.
var errLinkAuthFailed = errors.New("zk: the server rejected the credentials")

// New returns a handle that connects in the background. It returns at once,
// in state CONNECTING; a bad connection string or option fails before any
// I/O.
func New(connString string, opts ...Option) (*Conn, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidArgument)
		}
		o.apply(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	hosts, chroot, err := parseConnString(connString)
	if err != nil {
		return nil, err
	}
	if cfg.rand == nil {
		cfg.rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if cfg.backoff == nil {
		b := backoff.NewExponentialBackOff()
		b.InitialInterval = 20 * time.Millisecond
		b.Multiplier = 2
		b.RandomizationFactor = 0.5
		b.MaxInterval = 100 * time.Millisecond
		b.MaxElapsedTime = 0
		cfg.backoff = b
	}
	c := &Conn{
		cfg:        cfg,
		chroot:     chroot,
		log:        cfg.logger,
		serial:     newSerializer(),
		closing:    make(chan struct{}),
		done:       make(chan struct{}),
		stateCh:    make(chan struct{}),
		terminalCh: make(chan struct{}),
		sessionID:  cfg.sessionID,
		passwd:     cfg.sessionPasswd,
		creds:      cfg.credentials,
		to:         newTimeouts(cfg.sessionTimeout, len(hosts)),
		nhosts:     len(hosts),
		hosts:      hosts,

		hostsChanged: make(chan struct{}, 1),
		rebalance:    rand.New(rand.NewPCG(cfg.rand.Uint64(), cfg.rand.Uint64())),
	}
	c.closeCtx, c.cancel = context.WithCancel(context.Background())
	c.pool.New = func() any { return &request{done: make(chan struct{}, 1)} }
	if c.passwd == nil {
		c.passwd = make([]byte, proto.PasswordLen)
	}
	c.lastRecv.Store(time.Now().UnixNano())
	for _, fn := range cfg.listeners {
		c.listeners = append(c.listeners, &listener{fn: fn})
	}
	c.mu.Lock()
	c.setStateLocked(StateConnecting, EventNone, "", nil)
	c.mu.Unlock()
	go c.loop(newHostList(hosts, cfg.rand))
	return c, nil
}

// Connect returns a handle once its first session is established. If ctx
// ends first, or the session cannot be had (expired, credentials rejected),
// it closes the handle and returns an error that says why.
func Connect(ctx context.Context, connString string, opts ...Option) (*Conn, error) {
	if ctx == nil {
		return nil, fmt.Errorf("%w: nil context", ErrInvalidArgument)
	}
	c, err := New(connString, opts...)
	if err != nil {
		return nil, err
	}
	for {
		c.mu.Lock()
		st, ch, lastErr, closeErr, why := c.state, c.stateCh, c.lastErr, c.closeErr, c.closeReason
		c.mu.Unlock()
		switch {
		case st.connected() && c.credsChecked(ctx):
			return c, nil
		case st.connected() && ctx.Err() == nil:
			continue // rejected credentials: the state is moving on
		case st.terminal():
			c.Close()
			msg := "zk: connect: " + trimZK(closeErr.Error())
			if why != nil && why != closeErr {
				msg += " (" + trimZK(why.Error()) + ")"
			}
			return nil, &detailError{msg, closeErr}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			c.mu.Lock()
			lastErr = c.lastErr // an attempt may have failed while we waited
			c.mu.Unlock()
			c.Close()
			if lastErr != nil {
				return nil, &joinedError{
					msg:  fmt.Sprintf("zk: connect: %v (last attempt: %s)", ctx.Err(), trimZK(lastErr.Error())),
					errs: []error{ctx.Err(), lastErr},
				}
			}
			return nil, fmt.Errorf("zk: connect: %w", ctx.Err())
		}
	}
}

// credsChecked makes Connect return a session only once the server has
// answered the credentials sent with it: a read queued behind them fails
// if they were rejected (the server then closes the connection). It
// reports false when ctx ended before the answer.
func (c *Conn) credsChecked(ctx context.Context) bool {
	c.mu.Lock()
	n := len(c.creds)
	c.mu.Unlock()
	if n == 0 {
		return true
	}
	_, _, err := c.Exists(ctx, "/")
	switch {
	case err == nil:
		return true
	case ctx.Err() != nil:
		return false // not known: Connect gives up
	}
	// Any other answer of the server (ErrNoAuth, say: 3.8.4+ and 3.9.2+
	// check READ for exists, and the chroot may deny it) came after the
	// credentials were accepted. A lost link or a dead handle did not
	// answer: the state is moving on.
	var ze *Error
	return errors.As(err, &ze) && ze != ErrConnectionLoss && ze != ErrAuthFailed && ze != ErrSessionExpired
}

// State returns the current state.
func (c *Conn) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// WaitForStateChange waits until the state differs from from, or ctx ends;
// it reports whether the state changed. A nil ctx, which could never end,
// is refused: it returns false at once.
func (c *Conn) WaitForStateChange(ctx context.Context, from State) bool {
	if ctx == nil {
		return false
	}
	for {
		c.mu.Lock()
		st, ch := c.state, c.stateCh
		c.mu.Unlock()
		if st != from {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// AddStateListener adds a listener for every later state change (see
// WithStateListener) and returns a function that removes it.
func (c *Conn) AddStateListener(fn func(StateChange)) (remove func()) {
	if fn == nil {
		return func() {} // nothing to call
	}
	l := &listener{fn: fn}
	c.mu.Lock()
	c.listeners = append(slices.Clip(c.listeners), l)
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		c.listeners = slices.DeleteFunc(slices.Clone(c.listeners), func(x *listener) bool { return x == l })
		c.mu.Unlock()
	}
}

// Done returns a channel closed when the handle becomes dead: closed,
// expired or rejected (AUTH_FAILED). Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.terminalCh }

// Err returns nil while the handle is alive, and after Done is closed the
// error every call fails with: ErrClosed, ErrSessionExpired or
// ErrAuthFailed.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.state.terminal() {
		return nil
	}
	return c.closeErr
}

// SessionID returns the session id (0 before the first session).
func (c *Conn) SessionID() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessionID
}

// SessionPassword returns a copy of the session password, for WithSession.
func (c *Conn) SessionPassword() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.passwd...)
}

// SessionTimeout returns the timeout the server negotiated (0 before the
// first session).
func (c *Conn) SessionTimeout() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timeout
}

// Server returns the address of the server the handle is connected to, or
// "" when it is not connected.
func (c *Conn) Server() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.link == nil {
		return ""
	}
	return c.server
}

// GoString describes the handle without secrets, for %#v.
func (c *Conn) GoString() string { return c.String() }

// String describes the handle without secrets.
func (c *Conn) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("zk.Conn{session: 0x%x, state: %s, server: %q}", c.sessionID, c.state, c.server)
}

// Close ends the session: when connected it sends closeSession, so the
// session's ephemeral nodes go at once. Pending and later calls fail with
// ErrClosed; one-shot watches get a final event. It is idempotent and
// returns after every goroutine of the handle has exited and every state
// listener has run. Called from a state listener, it returns without waiting
// for the listener goroutine (that is, itself).
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closeRequested = true
		c.mu.Unlock()
		close(c.closing)
		c.cancel()
	})
	<-c.done
	if !c.serial.onGoroutine() {
		<-c.serial.done
	}
	return nil
}

// setStateLocked is the one function that changes state. It is a no-op when
// the state is unchanged or already terminal, and panics on a transition not
// in validTransitions (a bug). Listeners are queued on the serializer in
// order.
func (c *Conn) setStateLocked(to State, ev SessionEvent, server string, err error) {
	from := c.state
	if from == to || from.terminal() {
		return
	}
	if !transitionAllowed(from, to) {
		panic(fmt.Sprintf("zk: BUG: invalid transition %s -> %s", from, to))
	}
	c.state = to
	close(c.stateCh)
	c.stateCh = make(chan struct{})
	if to.terminal() {
		close(c.terminalCh)
	}
	change := StateChange{From: from, To: to, Event: ev, Server: server, SessionID: c.sessionID, Err: err}
	attrs := []any{"from", from.String(), "to", to.String(), "session", fmt.Sprintf("0x%x", c.sessionID)}
	if ev != EventNone {
		attrs = append(attrs, "event", ev.String())
	}
	if server != "" {
		attrs = append(attrs, "server", server)
	}
	if err != nil {
		attrs = append(attrs, "err", err.Error())
	}
	c.log.Info("zk: state change", attrs...)
	if !(c.deferStreamSync && to.connected()) {
		// A stream that overflows here is forgotten; its server watch
		// needs no removal: this change ends the link (or the handle), or
		// the new link had no watches to set.
		c.watches.sessionEvent(change, c.cfg.watchBuffer)
	}
	ls := c.listeners
	if len(ls) > 0 {
		c.serial.schedule(func() {
			for _, l := range ls {
				l.fn(change)
			}
		})
	}
}

// loop owns the connection life cycle: pick a server, dial, handshake,
// serve until the link is lost, and again, until the handle is closed or the
// session ends.
func (c *Conn) loop(hosts *hostList) {
	defer close(c.done)
	defer c.serial.close()
	for {
		if c.isClosing() {
			c.terminate(StateClosed, EventClosed, ErrClosed, nil)
			return
		}
		c.applyHostUpdate(hosts)
		addr, needBackoff := hosts.next()
		if needBackoff {
			c.mu.Lock()
			lastErr := c.lastErr
			c.setStateLocked(StateNotConnected, EventNone, "", lastErr)
			c.mu.Unlock()
			wait := c.cfg.backoff.NextBackOff()
			if wait == backoff.Stop {
				wait = time.Second
			}
			if !c.sleep(wait) {
				continue // closing
			}
		}
		if c.localExpired() {
			return
		}
		c.mu.Lock()
		if !slices.Contains(c.hosts, addr) {
			// UpdateServers removed it after it was picked (during the
			// backoff's sleep): pick again from the new list.
			c.mu.Unlock()
			continue
		}
		c.setStateLocked(StateConnecting, EventNone, "", nil)
		actx, cancel := context.WithCancel(c.closeCtx)
		c.attemptAddr, c.attemptCancel = addr, cancel
		c.mu.Unlock()
		nc, fr, resp, err := c.dialAndHandshake(actx, addr)
		c.mu.Lock()
		c.attemptAddr, c.attemptCancel = "", nil
		c.mu.Unlock()
		if actx.Err() != nil && !c.isClosing() && !errors.Is(err, ErrSessionExpired) && !errors.Is(err, errSASLRejected) {
			// UpdateServers abandoned the attempt (even if it just
			// succeeded: the session is to go elsewhere).
			if err == nil {
				nc.Close()
			}
			err = fmt.Errorf("zk: attempt on %s abandoned: the server list was updated", addr)
		}
		cancel()
		if err != nil {
			if errors.Is(err, ErrSessionExpired) {
				c.terminate(StateClosed, EventExpired, ErrSessionExpired, err)
				return
			}
			if errors.Is(err, errSASLRejected) {
				c.terminate(StateAuthFailed, EventAuthFailed, ErrAuthFailed, err)
				return
			}
			c.mu.Lock()
			c.lastErr = err
			c.mu.Unlock()
			c.log.Debug("zk: connection attempt failed", "server", addr, "err", err.Error())
			if c.localExpired() {
				return
			}
			continue
		}
		hosts.connected()
		c.cfg.backoff.Reset()
		done, prefer := c.serve(nc, fr, addr, resp)
		if done {
			return
		}
		c.applyHostUpdate(hosts) // before prefer, which picks from the new list
		if prefer != "" {
			hosts.prefer(prefer)
		}
	}
}

func (c *Conn) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// sleep waits d, cut short by local expiry's deadline and by UpdateServers
// (a new server list is tried at once); it returns false if the handle is
// closing.
func (c *Conn) sleep(d time.Duration) bool {
	if dl, ok := c.expiryDeadline(); ok {
		if until := time.Until(dl); until < d {
			d = max(until, 0)
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.hostsChanged: // no link to check against the new list
		return true
	case <-c.closing:
		return false
	}
}

// expiryDeadline is when local expiry will end the session, if it applies:
// the handle has a session and local expiry is on.
func (c *Conn) expiryDeadline() (time.Time, bool) {
	c.mu.Lock()
	id, t := c.sessionID, c.to.session
	c.mu.Unlock()
	if id == 0 || c.cfg.localExpiry < 0 {
		return time.Time{}, false
	}
	if c.cfg.localExpiry > t {
		t = c.cfg.localExpiry
	}
	return time.Unix(0, c.lastRecv.Load()).Add(t), true
}

// localExpired ends the session if no server has accepted it within the
// local expiry time of the last packet received; it reports whether it did.
func (c *Conn) localExpired() bool {
	dl, ok := c.expiryDeadline()
	if !ok || time.Now().Before(dl) {
		return false
	}
	c.terminate(StateClosed, EventExpired, ErrSessionExpired,
		&detailError{"zk: session expired: no server accepted it within the session timeout", ErrSessionExpired})
	return true
}

// dialAndHandshake connects to addr and establishes the session there.
func (c *Conn) dialAndHandshake(actx context.Context, addr string) (net.Conn, *proto.FrameReader, *proto.ConnectResponse, error) {
	c.mu.Lock()
	req := proto.ConnectRequest{
		LastZxidSeen: c.lastZxid.Load(),
		TimeOut:      int32(c.cfg.sessionTimeout / time.Millisecond),
		SessionID:    c.sessionID,
		Passwd:       c.passwd,
		ReadOnly:     c.cfg.readOnly,
	}
	if c.cfg.readOnly && !c.seenRW && c.cfg.sessionID == 0 {
		// A session made by a read-only server is local to it: never carry
		// it to another server (as the Java client does).
		req.SessionID, req.Passwd, req.LastZxidSeen = 0, make([]byte, proto.PasswordLen), 0
	}
	timeout := c.to.connect
	c.mu.Unlock()
	deadline := time.Now().Add(timeout)
	if dl, ok := c.expiryDeadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	ctx, cancel := context.WithDeadline(actx, deadline)
	defer cancel()
	nc, err := c.dialServer(ctx, addr)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("zk: dial %s: %w", addr, err)
	}
	nc.SetDeadline(deadline)
	// Close interrupts a handshake in progress.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := nc.Write(proto.AppendFrame(nil, &req)); err != nil {
		nc.Close()
		return nil, nil, nil, fmt.Errorf("zk: handshake with %s: %w", addr, err)
	}
	fr := proto.NewFrameReader(nc, c.cfg.maxFrame)
	frame, err := fr.Next()
	if err != nil {
		nc.Close()
		var fe *proto.FrameTooLargeError
		if errors.As(err, &fe) {
			return nil, nil, nil, protocolError("zk: handshake with "+addr, err)
		}
		if errors.Is(err, io.EOF) {
			return nil, nil, nil, fmt.Errorf("zk: handshake with %s: server closed the connection during the handshake (it may not be serving yet, or its zxid is behind ours)", addr)
		}
		return nil, nil, nil, fmt.Errorf("zk: handshake with %s: %w", addr, err)
	}
	var resp proto.ConnectResponse
	if err := proto.DecodeRecord(frame, &resp); err != nil {
		nc.Close()
		return nil, nil, nil, protocolError("zk: handshake with "+addr, err)
	}
	if resp.TimeOut <= 0 || resp.SessionID == 0 || (req.SessionID != 0 && resp.SessionID != req.SessionID) {
		nc.Close()
		if req.SessionID == 0 {
			return nil, nil, nil, protocolError("zk: handshake with "+addr, errors.New("server refused to create a session"))
		}
		return nil, nil, nil, &detailError{fmt.Sprintf("zk: server %s says the session expired", addr), ErrSessionExpired}
	}
	if len(resp.Passwd) != proto.PasswordLen {
		nc.Close()
		return nil, nil, nil, protocolError("zk: handshake with "+addr, fmt.Errorf("password of %d bytes", len(resp.Passwd)))
	}
	if c.cfg.sasl != nil {
		if err := c.saslHandshake(nc, fr, addr); err != nil {
			nc.Close()
			return nil, nil, nil, err
		}
	}
	nc.SetDeadline(time.Time{})
	return nc, fr, &resp, nil
}

// serve runs one established connection until it is lost or the handle is
// closed. It reports whether the loop must end (closed, expired, auth
// failed), and a server to try next (a read-write server found while on a
// read-only one).
func (c *Conn) serve(nc net.Conn, fr *proto.FrameReader, addr string, resp *proto.ConnectResponse) (done bool, prefer string) {
	_, plainTCP := nc.(*net.TCPConn)
	l := &link{conn: nc, addr: addr, failed: make(chan struct{}), backlog: make(chan []byte), callerWrites: plainTCP}
	if plainTCP && !c.cfg.noRawIO {
		if l.raw = newRawIO(nc); l.raw != nil {
			fr.SetSource(l.raw)
		}
	}
	c.lastRecv.Store(time.Now().UnixNano())

	c.mu.Lock()
	// A new session (the first read-write one, after a read-only one)
	// keeps lastZxid: the read-only server's zxids are the ensemble's (of
	// an older epoch), and SetWatches relative to them fires only the
	// watches whose nodes changed since; from 0 it would fire every watch
	// of an existing node.
	c.sessionID = resp.SessionID
	if !resp.ReadOnly {
		c.seenRW = true
	}
	c.passwd = resp.Passwd
	c.timeout = time.Duration(resp.TimeOut) * time.Millisecond
	c.to = newTimeouts(c.timeout, c.nhosts)
	c.server = addr
	c.lastErr = nil
	// The link's first requests: every credential, then the watches, then
	// whatever was queued while there was no link.
	pre := c.authRequestsLocked()
	sw := c.setWatchesRequestsLocked()
	pre = append(pre, sw...)
	c.sendq = append(pre, c.sendq...)
	c.link = l
	to, ev := StateConnected, EventSyncConnected
	if resp.ReadOnly {
		to, ev = StateConnectedReadOnly, EventConnectedReadOnly
	}
	if len(sw) > 0 {
		// Persistent streams hear of the new connection only once the
		// server has their watches again: a change after that event is
		// always reported.
		sw[len(sw)-1].streamEvent = &StateChange{To: to, Event: ev}
		c.deferStreamSync = true
	}
	c.setStateLocked(to, ev, addr, nil)
	c.deferStreamSync = false
	c.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.readLoop(l, fr) }()
	go func() { defer wg.Done(); c.writeLoop(l) }()
	pinger := c.startPings(l)
	c.flush()

	var found chan string
	stopProbe := make(chan struct{})
	var probeDone chan struct{}
	if resp.ReadOnly {
		found, probeDone = make(chan string, 1), make(chan struct{})
		go func() { defer close(probeDone); c.probeReadWrite(addr, found, stopProbe) }()
	}
	closing := false
wait:
	for {
		select {
		case <-l.failed:
			break wait
		case <-c.closing:
			closing = true
			// The one-shot watches end with ErrClosed, not with the
			// deletions closeSession is about to cause.
			c.watches.failOneShot(ErrClosed)
			c.closeSession(l)
			break wait
		case rw := <-found:
			prefer = rw
			l.fail(fmt.Errorf("zk: moving from read-only %s to read-write %s", addr, rw))
		case <-c.hostsChanged:
			c.mu.Lock()
			to := c.moveTo
			c.mu.Unlock()
			if !c.serverListed(addr) {
				l.fail(fmt.Errorf("zk: server %s was removed from the server list", addr))
			} else if to != "" {
				// applyHostUpdate makes it the next server tried.
				l.fail(fmt.Errorf("zk: moving from %s to %s, added to the server list, to spread sessions over the servers", addr, to))
			}
		}
	}
	close(stopProbe)
	if probeDone != nil {
		<-probeDone
	}
	nc.Close()
	pinger.Stop()
	wg.Wait()

	switch {
	case closing || c.isClosing():
		c.terminate(StateClosed, EventClosed, ErrClosed, nil)
		return true, ""
	case errors.Is(l.err, errLinkAuthFailed):
		c.terminate(StateAuthFailed, EventAuthFailed, ErrAuthFailed, l.err)
		return true, ""
	}
	c.mu.Lock()
	failed := c.detachLocked()
	c.lastErr = l.err
	c.setStateLocked(StateConnecting, EventDisconnected, addr, l.err)
	c.mu.Unlock()
	c.failRequests(failed, ErrConnectionLoss)
	return false, prefer
}

// closeSession asks the server to end the session and waits for its answer,
// at most the read timeout.
func (c *Conn) closeSession(l *link) {
	r := c.getRequest(proto.OpCloseSession, "")
	r.buf = appendHeader(r.buf[:0], proto.OpCloseSession)
	r.buf = finishFrame(r.buf)
	c.mu.Lock()
	r.xid = c.nextXidLocked()
	binary.BigEndian.PutUint32(r.buf[4:], uint32(r.xid))
	c.sendq = append(c.sendq, r)
	read := c.to.read
	c.mu.Unlock()
	c.flush()
	t := time.NewTimer(read)
	defer t.Stop()
	select {
	case <-r.done:
		c.putRequest(r)
	case <-l.failed:
		c.abandon(r)
	case <-t.C:
		c.abandon(r)
	}
}

// detachLocked ends the current link's bookkeeping and returns every
// request that was written or queued on it.
func (c *Conn) detachLocked() []*request {
	failed := append(c.pending[c.phead:], c.authq...)
	failed = append(failed, c.sendq...)
	c.pending, c.phead, c.authq, c.sendq, c.sendqAbandoned = nil, 0, nil, nil, 0
	c.link = nil
	return failed
}

// terminate moves the handle to a terminal state: every queued and pending
// call fails with callErr, every watch gets its final event.
func (c *Conn) terminate(to State, ev SessionEvent, callErr, reason error) {
	c.mu.Lock()
	if c.state.terminal() {
		c.mu.Unlock()
		return
	}
	failed := c.detachLocked()
	c.closeErr = callErr
	if reason == nil && callErr != ErrClosed {
		reason = callErr
	}
	c.closeReason = reason
	c.setStateLocked(to, ev, "", reason)
	c.mu.Unlock()
	c.failRequests(failed, callErr)
	c.watches.failAll(callErr)
}

func (c *Conn) failRequests(reqs []*request, err error) {
	for _, r := range reqs {
		c.complete(r, err)
	}
}

// States of the read loop's look for replies after its deadline passed.
const (
	recheckNone = iota
	recheckDue
	recheckUsed
)

// readLoop reads replies and notifications until the link fails.
func (c *Conn) readLoop(l *link, fr *proto.FrameReader) {
	c.mu.Lock()
	readTimeout := c.to.read
	c.mu.Unlock()
	var d proto.Decoder
	var readAt int64 // when the read that brought the current frames returned
	// After the read timeout passes, one short look for replies that
	// arrived meanwhile (recheckDue, then recheckUsed); only a reply or a
	// ping's answer ends it, so a stream of notifications cannot hide a
	// server that stopped answering.
	recheck := recheckNone
	recheckWindow := min(readTimeout/8, 100*time.Millisecond)
	for {
		// The link is lost when no reply (to a request or a ping: not a
		// watch notification, which says nothing of whether the server
		// still hears us) came for the read timeout. Frames already
		// buffered arrived with the read that brought them: the clock and
		// the deadline are touched once per read, not per frame.
		fresh := fr.Buffered() == 0
		if fresh && readAt != 0 {
			// The callers just woken by replies queue their next requests,
			// and more replies arrive, before this goroutine reads again:
			// a read that finds the socket empty costs a system call, a
			// park and a wake-up for nothing.
			runtime.Gosched()
		}
		switch {
		case recheck == recheckDue:
			// The deadline passed, but this process may have been off the
			// CPU (a stop-the-world pause, a container's CPU quota) while
			// the server's replies sat in the socket: Go fails a read whose
			// deadline has passed without looking. Look once, briefly.
			l.conn.SetReadDeadline(time.Now().Add(recheckWindow))
			recheck = recheckUsed
		case fresh:
			l.conn.SetReadDeadline(time.Unix(0, c.lastRecv.Load()).Add(readTimeout))
		}
		frame, err := fr.Next()
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout() && recheck == recheckNone:
				recheck = recheckDue
				continue
			case errors.As(err, &ne) && ne.Timeout():
				err = fmt.Errorf("zk: no reply from %s for %v (read timeout)", l.addr, readTimeout)
			case errors.Is(err, io.EOF):
				err = fmt.Errorf("zk: server %s closed the connection", l.addr)
			default:
				var fe *proto.FrameTooLargeError
				if errors.As(err, &fe) {
					handled, skipErr := c.refuseReply(l, fr, fe, readTimeout)
					if handled && skipErr == nil {
						recheck = recheckNone // a reply came
						continue
					}
					if skipErr != nil {
						err = skipErr
					} else {
						err = protocolError("zk: from "+l.addr, err)
					}
				} else {
					err = fmt.Errorf("zk: read from %s: %w", l.addr, err)
				}
			}
			l.fail(err)
			return
		}
		if fresh {
			readAt = time.Now().UnixNano()
		}
		d.Reset(frame)
		var h proto.ReplyHeader
		h.Decode(&d)
		if d.Err() != nil {
			l.fail(protocolError("zk: from "+l.addr, errors.New("short reply header")))
			return
		}
		if h.Xid != proto.XidNotification {
			c.lastRecv.Store(readAt)
			recheck = recheckNone
		}
		if err := c.handleReply(l, &h, &d); err != nil {
			l.fail(protocolError("zk: from "+l.addr, err))
			return
		}
		if errors.Is(l.errNow(), errLinkAuthFailed) {
			return
		}
	}
}

func (l *link) errNow() error {
	select {
	case <-l.failed:
		return l.err
	default:
		return nil
	}
}

// handleReply dispatches one frame. An error it returns drops the link.
func (c *Conn) handleReply(l *link, h *proto.ReplyHeader, d *proto.Decoder) error {
	switch h.Xid {
	case proto.XidNotification:
		var ev proto.WatcherEvent
		ev.Decode(d)
		if d.Err() != nil {
			return fmt.Errorf("malformed notification: %w", d.Err())
		}
		if ev.Type < proto.EventNodeCreated || ev.Type > proto.EventNodeChildrenChanged {
			return fmt.Errorf("notification of unknown event type %d", ev.Type)
		}
		userPath := stripChroot(c.chroot, ev.Path)
		n, overflowed := c.watches.fire(ev.Type, ev.Path, userPath, c.cfg.watchBuffer)
		c.log.Debug("zk: watch event", "type", EventType(ev.Type).String(), "path", userPath, "watchers", n)
		for _, w := range overflowed {
			c.dropOverflowed(w)
		}
		return nil
	case proto.XidPing:
		return nil
	case proto.XidAuth:
		c.mu.Lock()
		if len(c.authq) == 0 {
			c.mu.Unlock()
			return fmt.Errorf("auth reply with no auth request outstanding")
		}
		r := c.authq[0]
		c.authq = c.authq[1:]
		c.mu.Unlock()
		if h.Err != 0 {
			scheme := r.path
			c.complete(r, ErrAuthFailed) // r may be recycled from here on
			l.fail(fmt.Errorf("%w (scheme %q, server %s, code %d)", errLinkAuthFailed, scheme, l.addr, h.Err))
			return nil
		}
		if r.cred != nil {
			c.mu.Lock()
			c.creds = append(c.creds, *r.cred)
			c.mu.Unlock()
		}
		c.complete(r, nil)
		return nil
	}
	r, err := c.popPending(h)
	if err != nil {
		return err
	}
	if h.Err != 0 {
		err := errorForCode(h.Err)
		if r.opcode == proto.OpExists && h.Err == proto.ErrNoNode && r.watch != nil {
			r.watchKind = watchExist // the server set an exist watch
			r.registerWatch = true
		}
		c.complete(r, err)
		return nil
	}
	if err := r.decode(d); err != nil {
		op := r.opcode
		c.complete(r, ErrConnectionLoss) // r may be recycled from here on
		return fmt.Errorf("malformed reply to opcode %d: %w", op, err)
	}
	r.registerWatch = r.watch != nil
	c.complete(r, nil)
	return nil
}

// popPending takes the request that the reply with header h answers off the
// pending queue (replies come in the order of the requests) and records the
// reply's zxid.
func (c *Conn) popPending(h *proto.ReplyHeader) (*request, error) {
	if h.Xid <= 0 {
		return nil, fmt.Errorf("reply with unexpected xid %d", h.Xid)
	}
	c.mu.Lock()
	if c.phead == len(c.pending) {
		c.mu.Unlock()
		return nil, fmt.Errorf("reply xid %d with no request outstanding", h.Xid)
	}
	r := c.pending[c.phead]
	if r.xid != h.Xid {
		c.mu.Unlock()
		return nil, fmt.Errorf("reply xid %d, expected %d", h.Xid, r.xid)
	}
	c.pending[c.phead] = nil
	c.phead++
	if c.phead == len(c.pending) {
		c.pending, c.phead = c.pending[:0], 0 // drained: reuse the array
	}
	c.mu.Unlock()
	if h.Zxid > 0 {
		for {
			cur := c.lastZxid.Load()
			if h.Zxid <= cur || c.lastZxid.CompareAndSwap(cur, h.Zxid) {
				break
			}
		}
	}
	r.zxid = h.Zxid
	return r, nil
}

// refuseReply handles a frame above the frame limit. When its header is
// that of the reply the next pending request waits for, the frame is read
// through and discarded, that request alone fails with ErrReplyTooLarge,
// and the connection goes on (handled is true). Anything else is a
// protocol error that drops the connection; err, if set, is the read
// error met while skipping.
func (c *Conn) refuseReply(l *link, fr *proto.FrameReader, fe *proto.FrameTooLargeError, readTimeout time.Duration) (handled bool, err error) {
	const headerLen = 16 // xid, zxid, err
	if fe.Len < headerLen {
		return false, nil
	}
	hdr, err := fr.PeekRefused(headerLen)
	if err != nil {
		return false, nil
	}
	var d proto.Decoder
	d.Reset(hdr)
	var h proto.ReplyHeader
	h.Decode(&d)
	if d.Err() != nil || h.Xid <= 0 {
		return false, nil
	}
	c.mu.Lock()
	next := c.phead < len(c.pending) && c.pending[c.phead].xid == h.Xid
	c.mu.Unlock()
	if !next {
		return false, nil
	}
	// The whole frame gets one read timeout, as a frame within the limit does.
	l.conn.SetReadDeadline(time.Now().Add(readTimeout))
	if err := fr.SkipRefused(); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return true, fmt.Errorf("zk: no reply from %s for %v (read timeout, in a reply of %d bytes)", l.addr, readTimeout, fe.Len)
		}
		return true, fmt.Errorf("zk: read from %s: %w", l.addr, err)
	}
	c.lastRecv.Store(time.Now().UnixNano())
	r, err := c.popPending(&h)
	if err != nil {
		return true, protocolError("zk: from "+l.addr, err)
	}
	c.log.Warn("zk: reply above the frame limit discarded", "server", l.addr, "bytes", fe.Len, "limit", fe.Max)
	c.complete(r, &detailError{
		fmt.Sprintf("zk: reply of %d bytes is above the frame limit of %d bytes (see WithMaxFrameSize)", fe.Len, fe.Max),
		ErrReplyTooLarge,
	})
	return true, nil
}

// dropOverflowed forgets a persistent watch whose reader fell behind, and
// asks the server to drop it unless another watch needs it. It runs on the
// reader goroutine, so the request is queued, not awaited.
func (c *Conn) dropOverflowed(w *PersistentWatch) {
	if c.watches.removePersistent(w) {
		c.dropServerWatch(w)
	}
}

// dropServerWatch asks the server to drop the watch of a persistent watch
// already forgotten here, unless another watch needs it (see
// dropOverflowed).
func (c *Conn) dropServerWatch(w *PersistentWatch) {
	if c.watches.anyOnPath(w.serverPath) {
		return
	}
	c.log.Warn("zk: persistent watch overflowed; removed", "path", w.path)
	r, e := c.newReq(proto.OpRemoveWatches, w.path)
	e.Int32(proto.WatcherAny)
	r.buf = finishFrame(e.B)
	r.noWaiter = true
	c.mu.Lock()
	if c.state.terminal() {
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

// protocolError says that a server broke the protocol: the message reads
// "<where>: protocol error: <cause>" without repeating "zk: ", and the
// error wraps both ErrProtocol and the cause.
func protocolError(where string, cause error) error {
	return &joinedError{
		msg:  where + ": protocol error: " + trimZK(cause.Error()),
		errs: []error{ErrProtocol, cause},
	}
}
