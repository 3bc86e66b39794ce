package zk

// Test hooks, visible only to this package's tests.

// WithSetWatchesBatch sets the SetWatches batch size in bytes of paths.
func WithSetWatchesBatch(n int) Option {
	return optionFunc(func(c *config) { c.setWatchesMax = n })
}

// WatchCount is the number of registered one-shot watches.
func (c *Conn) WatchCount() int { return c.watches.len() }
