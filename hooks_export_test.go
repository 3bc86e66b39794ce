package zk

import "math/rand/v2"

// Test hooks, visible only to this package's tests.

// WithSetWatchesBatch sets the SetWatches batch size in bytes of paths.
func WithSetWatchesBatch(n int) Option {
	return optionFunc(func(c *config) { c.setWatchesMax = n })
}

// WatchCount is the number of registered one-shot watches.
func (c *Conn) WatchCount() int { return c.watches.len() }

// WithRandSeed makes the handle's random choices (server order, rebalancing)
// repeatable.
func WithRandSeed(seed uint64) Option {
	return optionFunc(func(c *config) { c.rand = rand.New(rand.NewPCG(seed, seed)) })
}

// UpdateServersMove is UpdateServers that also returns the added server the
// session moves to ("" if it stays).
func (c *Conn) UpdateServersMove(connString string) (string, error) {
	return c.updateServers(connString)
}

// WithoutRebalance keeps UpdateServers from moving a session whose server
// stays listed, for tests that add servers and need the session to stay.
func WithoutRebalance() Option {
	return optionFunc(func(c *config) { c.noRebalance = true })
}

// WithoutRawIO makes links use net.Conn's Read and Write, as on platforms
// without the raw system call path.
func WithoutRawIO() Option {
	return optionFunc(func(c *config) { c.noRawIO = true })
}

// LinkRawIO reports whether c's current link reads and writes with raw
// system calls (false when it has no link).
func LinkRawIO(c *Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.link != nil && c.link.raw != nil
}

// SetCallerWriteHook runs f (until restore is called) after each write a
// caller makes as the flusher, saying whether it handed the rest of the
// batch to the link's writer goroutine.
func SetCallerWriteHook(f func(c *Conn, handedOff bool)) (restore func()) {
	callerWriteHook.Store(&f)
	return func() { callerWriteHook.Store(nil) }
}

// SetWriterIdleHook runs f (until restore is called) each time a link's
// writer goroutine, holding the flusher's role, finds nothing more to write
// and is about to give the role up.
func SetWriterIdleHook(f func(*Conn)) (restore func()) {
	writerIdleHook.Store(&f)
	return func() { writerIdleHook.Store(nil) }
}

// Queued is the number of requests queued but not yet taken for a write.
func (c *Conn) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sendq)
}
