package testserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// DefaultTickTime is the tick used when no WithTickTime option is given. The
// real server's default is 2000 ms; tests want sessions to expire quickly.
const DefaultTickTime = 100 * time.Millisecond

// DefaultMaxFrameSize is the largest inbound frame accepted by default: the
// real server's jute.maxbuffer, 0xfffff bytes.
const DefaultMaxFrameSize = 0xfffff

// Option configures a Server.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	addrs         []string
	tick          time.Duration
	minTimeout    time.Duration // 0: 2 ticks
	maxTimeout    time.Duration // 0: 20 ticks
	extendedTypes bool
	logger        *slog.Logger
	maxFrame      int
	tls           *tls.Config
	reapInterval  time.Duration      // 0: one tick
	dropHook      func(listener int) // tests: a blackholed frame was dropped
	saslUsers     map[string]string  // nil: no SASL configured
}

func defaultConfig() config {
	return config{
		addrs:         []string{"127.0.0.1:0"},
		tick:          DefaultTickTime,
		extendedTypes: true,
		maxFrame:      DefaultMaxFrameSize,
	}
}

// validate checks the configuration and fills in the values derived from
// others.
func (c *config) validate() error {
	if len(c.addrs) == 0 {
		return errors.New("testserver: at least one listener is needed")
	}
	if c.tick < time.Millisecond {
		return fmt.Errorf("testserver: tick time %v is under a millisecond", c.tick)
	}
	if c.minTimeout == 0 {
		c.minTimeout = 2 * c.tick
	}
	if c.maxTimeout == 0 {
		c.maxTimeout = 20 * c.tick
	}
	if c.minTimeout <= 0 || c.maxTimeout < c.minTimeout {
		return fmt.Errorf("testserver: bad session timeout range [%v, %v]", c.minTimeout, c.maxTimeout)
	}
	if c.maxTimeout.Milliseconds() > 1<<31-1 {
		return fmt.Errorf("testserver: max session timeout %v does not fit the wire's int32 milliseconds", c.maxTimeout)
	}
	if c.maxFrame <= 0 {
		return fmt.Errorf("testserver: max frame size %d is not positive", c.maxFrame)
	}
	if c.reapInterval < 0 {
		return fmt.Errorf("testserver: reap interval %v is negative", c.reapInterval)
	}
	if c.reapInterval == 0 {
		c.reapInterval = c.tick
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// WithListeners makes the server listen on n loopback addresses
// (127.0.0.1, each on its own free port), all serving one tree: they stand in
// for the members of an ensemble. The default is 1. It replaces the addresses
// of an earlier WithAddrs.
func WithListeners(n int) Option {
	return optionFunc(func(c *config) {
		c.addrs = make([]string, max(n, 0))
		for i := range c.addrs {
			c.addrs[i] = "127.0.0.1:0"
		}
	})
}

// WithAddrs sets the listening addresses ("host:port"; port 0 picks a free
// one), one listener per address, all serving one tree. The default is one
// listener on "127.0.0.1:0". It replaces the count of an earlier
// WithListeners.
func WithAddrs(addrs ...string) Option {
	return optionFunc(func(c *config) { c.addrs = append([]string(nil), addrs...) })
}

// WithTickTime sets the server's tick: the granularity of session expiry
// (sessions are swept once per tick) and, unless WithSessionTimeoutRange says
// otherwise, the negotiated timeout range [2 ticks, 20 ticks], as in the real
// server. The default is DefaultTickTime (100 ms).
func WithTickTime(d time.Duration) Option {
	return optionFunc(func(c *config) { c.tick = d })
}

// WithSessionTimeoutRange sets the range into which a requested session
// timeout is clamped. The default follows the tick: [2 ticks, 20 ticks].
func WithSessionTimeoutRange(min, max time.Duration) Option {
	return optionFunc(func(c *config) { c.minTimeout, c.maxTimeout = min, max })
}

// WithExtendedTypes turns TTL nodes on or off (the real server's
// zookeeper.extendedTypesEnabled). Off, a TTL create mode is answered with
// -6 Unimplemented, as a real server with its default configuration does.
// The default is on.
func WithExtendedTypes(on bool) Option {
	return optionFunc(func(c *config) { c.extendedTypes = on })
}

// WithLogger sets the logger: Debug for packets, Info for sessions created and
// expired. The default discards everything.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// WithMaxFrameSize sets the largest inbound frame (the real server's
// jute.maxbuffer). A client sending a longer frame is disconnected without a
// reply. The default is DefaultMaxFrameSize (1,048,575 bytes).
func WithMaxFrameSize(n int) Option {
	return optionFunc(func(c *config) { c.maxFrame = n })
}

// WithTLS makes every listener speak TLS with the given configuration (which
// must hold a certificate). The default is plain TCP.
func WithTLS(cfg *tls.Config) Option {
	return optionFunc(func(c *config) { c.tls = cfg })
}

// WithReapInterval sets how often empty container nodes and expired TTL nodes
// are looked for and deleted (the real server's
// znode.container.checkIntervalMs, 60 s by default). The default here is one
// tick.
func WithReapInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.reapInterval = d })
}

// withDropHook calls fn (on a reader goroutine) each time a blackholed
// listener drops a frame, so tests can wait for that instead of sleeping.
func withDropHook(fn func(listener int)) Option {
	return optionFunc(func(c *config) { c.dropHook = fn })
}

// WithSASLUsers turns on SASL DIGEST-MD5 with these users (name to
// password), as a real server whose SASL login section lists them with
// DigestLoginModule. Without it a SASL request gets what a server without
// SASL answers: OK and no challenge.
func WithSASLUsers(users map[string]string) Option {
	m := make(map[string]string, len(users))
	for u, p := range users {
		m[u] = p
	}
	return optionFunc(func(c *config) { c.saslUsers = m })
}
