package lock

import (
	"context"

	"github.com/zkgo/zk"
	"github.com/zkgo/zk/recipe/internal/queue"
)

// RWMutex is a reader/writer lock shared through ZooKeeper: any number of
// readers, or one writer. A reader waits only for the nearest lower writer,
// a writer for the nearest lower node of any kind, so a writer that queued
// keeps later readers out (writers do not starve). Create it with NewRW;
// Close releases both sides.
type RWMutex struct {
	r, w *Mutex
}

// NewRW returns an RWMutex for the lock in cfg.Dir, on conn's session. It
// does no I/O.
func NewRW(conn *zk.Conn, cfg Config) (*RWMutex, error) {
	r, err := newMutex(conn, cfg, queue.TagRead, func(n queue.Node) bool { return !n.IsRead() })
	if err != nil {
		return nil, err
	}
	w, err := newMutex(conn, cfg, queue.TagWrite, func(queue.Node) bool { return true })
	if err != nil {
		return nil, err
	}
	return &RWMutex{r: r, w: w}, nil
}

// RLock takes the read side (see Mutex.Lock).
func (rw *RWMutex) RLock(ctx context.Context) error { return rw.r.Lock(ctx) }

// RUnlock releases the read side (see Mutex.Unlock).
func (rw *RWMutex) RUnlock(ctx context.Context) error { return rw.r.Unlock(ctx) }

// Lock takes the write side (see Mutex.Lock).
func (rw *RWMutex) Lock(ctx context.Context) error { return rw.w.Lock(ctx) }

// Unlock releases the write side (see Mutex.Unlock).
func (rw *RWMutex) Unlock(ctx context.Context) error { return rw.w.Unlock(ctx) }

// Reader returns the read side, for Lost, Err and Token.
func (rw *RWMutex) Reader() *Mutex { return rw.r }

// Writer returns the write side, for Lost, Err and Token.
func (rw *RWMutex) Writer() *Mutex { return rw.w }

// Close closes both sides (see Mutex.Close).
func (rw *RWMutex) Close() error {
	rw.r.Close()
	rw.w.Close()
	return nil
}
