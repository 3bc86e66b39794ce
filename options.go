package zk

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/zkgo/zk/internal/proto"
)

// An Option configures a handle in New or Connect.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// DialFunc dials a server; it has the signature of net.Dialer.DialContext.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Credential is an authentication scheme and its secret, sent with every
// connection. Its String method never shows the secret.
type Credential struct {
	Scheme string
	Auth   []byte
}

func (c Credential) String() string { return c.Scheme + ":<redacted>" }

// GoString keeps the secret out of %#v too.
func (c Credential) GoString() string {
	return "zk.Credential{Scheme:" + fmt.Sprintf("%q", c.Scheme) + ", Auth:<redacted>}"
}

// Format keeps the secret out of every fmt verb: without it, %d or %x would
// print the Auth bytes. %#v gives GoString, %q the quoted String, every
// other verb String.
func (c Credential) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		io.WriteString(f, c.GoString())
	case verb == 'q':
		io.WriteString(f, strconv.Quote(c.String()))
	default:
		io.WriteString(f, c.String())
	}
}

// LogValue keeps the secret out of structured logs.
func (c Credential) LogValue() slog.Value {
	return slog.GroupValue(slog.String("scheme", c.Scheme), slog.String("auth", "<redacted>"))
}

// MarshalJSON keeps the secret out of JSON (and so of JSON logs).
func (c Credential) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf(`{"Scheme":%q,"Auth":"<redacted>"}`, c.Scheme)), nil
}

// DigestCredential is the credential of the digest scheme for user and
// password.
func DigestCredential(user, password string) Credential {
	return Credential{Scheme: "digest", Auth: []byte(user + ":" + password)}
}

type config struct {
	sessionTimeout time.Duration
	listeners      []func(StateChange)
	logger         *slog.Logger
	dial           DialFunc
	backoff        backoff.BackOff
	sessionID      int64
	sessionPasswd  []byte
	maxFrame       int
	credentials    []Credential
	readOnly       bool
	localExpiry    time.Duration // 0 = T; <0 = off
	rand           *rand.Rand
	noRebalance    bool // tests: UpdateServers never moves a session that stays listed
	noRawIO        bool // tests: links use net.Conn Read and Write even on Linux
	setWatchesMax  int
	watchBuffer    int
	tls            *tls.Config
	useTLS         bool
	sasl           *saslConfig
}

// saslConfig is WithSASLDigest's user and password.
type saslConfig struct{ user, password string }

func defaultConfig() config {
	d := &net.Dialer{}
	return config{
		sessionTimeout: 10 * time.Second,
		logger:         slog.New(slog.DiscardHandler),
		dial:           d.DialContext,
		maxFrame:       proto.DefaultMaxFrame,
		setWatchesMax:  128 << 10,
		watchBuffer:    1 << 16,
	}
}

func (c *config) validate() error {
	if c.sessionTimeout <= 0 {
		return fmt.Errorf("%w: session timeout %v is not positive", ErrInvalidArgument, c.sessionTimeout)
	}
	if c.sessionTimeout > time.Duration(1<<31-1)*time.Millisecond {
		return fmt.Errorf("%w: session timeout %v is too large", ErrInvalidArgument, c.sessionTimeout)
	}
	if c.logger == nil {
		return fmt.Errorf("%w: nil logger", ErrInvalidArgument)
	}
	if c.dial == nil {
		return fmt.Errorf("%w: nil dialer", ErrInvalidArgument)
	}
	if c.maxFrame < 1<<10 {
		return fmt.Errorf("%w: maximum frame size %d is below 1024 bytes", ErrInvalidArgument, c.maxFrame)
	}
	if c.sessionID != 0 && len(c.sessionPasswd) != proto.PasswordLen {
		return fmt.Errorf("%w: session password must be %d bytes, got %d", ErrInvalidArgument, proto.PasswordLen, len(c.sessionPasswd))
	}
	for _, l := range c.listeners {
		if l == nil {
			return fmt.Errorf("%w: nil state listener", ErrInvalidArgument)
		}
	}
	for _, cr := range c.credentials {
		if cr.Scheme == "" {
			return fmt.Errorf("%w: credential with an empty scheme", ErrInvalidArgument)
		}
	}
	if c.sasl != nil && c.sasl.user == "" {
		return fmt.Errorf("%w: SASL DIGEST-MD5 with an empty user name", ErrInvalidArgument)
	}
	if c.watchBuffer < 1 {
		return fmt.Errorf("%w: watch buffer %d is not positive", ErrInvalidArgument, c.watchBuffer)
	}
	if c.setWatchesMax < 1 {
		return fmt.Errorf("%w: SetWatches batch size %d is not positive", ErrInvalidArgument, c.setWatchesMax)
	}
	return nil
}

// WithSessionTimeout sets the session timeout requested from the server; the
// server clamps it into its [minSessionTimeout, maxSessionTimeout] range
// (by default 2 and 20 ticks). Default 10s.
func WithSessionTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.sessionTimeout = d })
}

// WithStateListener adds a listener called for every state change, in
// order, on a goroutine of the handle and outside its locks. A slow listener
// delays later listener calls, never I/O; no change is dropped. It is called
// for the first change too (NOT_CONNECTED -> CONNECTING). Default none.
func WithStateListener(fn func(StateChange)) Option {
	return optionFunc(func(c *config) { c.listeners = append(c.listeners, fn) })
}

// WithLogger sets the logger: state changes and moves between servers at
// Info; failed connection attempts and watch events at Debug; a discarded
// oversized reply, an overflowed persistent watch and a failed internal
// request at Warn. Packets are not logged. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// WithDialer sets the function that dials servers, with the signature of
// net.Dialer.DialContext. The handle bounds each call with the connect
// timeout (session timeout / number of servers). Default: a net.Dialer.
//
// On Linux, a *net.TCPConn in non-blocking mode (what net.Dialer returns)
// is read and written with raw system calls through its syscall.RawConn,
// which costs less CPU than its Read and Write; any other connection, and
// one a dialer put in blocking mode (File().Fd() does), is used through
// Read and Write.
func WithDialer(dial DialFunc) Option {
	return optionFunc(func(c *config) { c.dial = dial })
}

// WithBackoff sets the wait between whole passes over the server list that
// all failed. It is Reset after every successful connection. A Stop from it
// is treated as a 1s wait: the handle never gives up by itself before the
// session expires. Default: exponential from 20ms, factor 2, jitter ±50%,
// at most 100ms, so that a session reaches a new leader within about 100ms
// of its election (members refuse sessions while they elect). A fleet of
// thousands of clients may prefer a longer maximum, to spare an ensemble
// that is recovering.
func WithBackoff(b backoff.BackOff) Option {
	return optionFunc(func(c *config) { c.backoff = b })
}

// WithSession resumes a known session (for example one handed over from
// another process) instead of creating one. Default: a new session.
func WithSession(id int64, password []byte) Option {
	return optionFunc(func(c *config) {
		c.sessionID = id
		c.sessionPasswd = append([]byte(nil), password...)
	})
}

// WithMaxFrameSize sets the largest reply frame accepted, in bytes. The
// server does not cap its replies, so a large getChildren can exceed its
// own 1 MiB limit. A reply above the limit fails its call with
// ErrReplyTooLarge (read through and discarded: the connection goes on); a
// larger frame that answers no call in flight, or a negative length, is a
// protocol error that drops the connection. Default 4 MiB.
func WithMaxFrameSize(n int) Option {
	return optionFunc(func(c *config) { c.maxFrame = n })
}

// WithCredentials adds credentials sent on every connection, before any
// other request. Default none.
func WithCredentials(creds ...Credential) Option {
	return optionFunc(func(c *config) {
		for _, cr := range creds {
			c.credentials = append(c.credentials, Credential{Scheme: cr.Scheme, Auth: append([]byte(nil), cr.Auth...)})
		}
	})
}

// WithSASLDigest authenticates every connection with SASL DIGEST-MD5 as
// user, with password, right after the session handshake and before any
// other request (the server's SASL "Server" login section lists the users:
// org.apache.zookeeper.server.auth.DigestLoginModule with
// user_<name>="<password>", and its authProvider includes
// SASLAuthenticationProvider). The session then holds the identity
// sasl:<user>, for ACLs such as {Scheme: "sasl", ID: user}. The client also
// checks the server's proof that it knows the password. A server that
// rejects the exchange, or has no SASL configured, ends the handle in
// AUTH_FAILED; a connection lost during it moves on to the next server.
func WithSASLDigest(user, password string) Option {
	return optionFunc(func(c *config) { c.sasl = &saslConfig{user: user, password: password} })
}

// WithReadOnly allows sessions with read-only servers (a member cut off from
// the quorum that runs with readonlymode.enabled). Reads work there, writes
// fail with ErrNotReadOnly. Default false.
func WithReadOnly(allow bool) Option {
	return optionFunc(func(c *config) { c.readOnly = allow })
}

// WithLocalExpiry sets how long after the last packet received from any
// server the handle, still without a server, declares its session expired
// itself. The ensemble expires the session after the session timeout T
// without hearing from the client, so a handle that waits longer may go on
// believing in ephemeral nodes that are gone; a d between 0 and T counts as
// T (the handle never declares expiry sooner). d < 0 turns local expiry
// off: the handle then learns of expiry only from a server, which during a
// partition may be never. Default T.
func WithLocalExpiry(d time.Duration) Option {
	return optionFunc(func(c *config) { c.localExpiry = d })
}

// WithWatchBuffer bounds how many events a persistent watch stream holds
// for a reader that has not caught up. A stream whose reader falls further
// behind ends with ErrWatchOverflow after the events it holds, and its
// watch is removed: memory stays bounded and no event is dropped silently.
// Default 65536.
func WithWatchBuffer(n int) Option {
	return optionFunc(func(c *config) { c.watchBuffer = n })
}

// WithTLS makes every connection TLS, for servers' secureClientPort. The
// server's certificate is verified against cfg (its RootCAs, or the
// system's; a nil cfg means the defaults); ServerName defaults to the host
// of the address dialed. Only cfg.InsecureSkipVerify turns verification
// off. Default: plain TCP.
func WithTLS(cfg *tls.Config) Option {
	return optionFunc(func(c *config) {
		if cfg == nil {
			cfg = &tls.Config{} // the system's roots
		}
		c.tls, c.useTLS = cfg, true
	})
}
