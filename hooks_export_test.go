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
