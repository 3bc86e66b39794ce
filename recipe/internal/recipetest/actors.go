package recipetest

import (
	"context"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/zkgo/zk"
	"github.com/zkgo/zk/recipe/leader"
	"github.com/zkgo/zk/recipe/lock"
)

// LeaderActor returns a Chaos.Act that runs a candidate for the election
// in dir on each session, recording its leaderships: from the moment lead
// is called to the moment it sees its context cancelled.
func LeaderActor(rec *Recorder, dir string) func(ctx context.Context, actor int, conn *zk.Conn) error {
	return func(ctx context.Context, actor int, conn *zk.Conn) error {
		cand, err := leader.New(conn, leader.Config{Dir: dir, ID: []byte("actor-" + strconv.Itoa(actor))})
		if err != nil {
			return err
		}
		return cand.Run(ctx, func(ctx context.Context) error {
			rec.Begin(actor)
			<-ctx.Done()
			rec.End(actor)
			return nil
		})
	}
}

// LockActor returns a Chaos.Act that takes the lock in dir again and again
// on each session, holding it for up to maxHold, recording each hold: from
// Lock's return to the moment the holder lets go or sees Lost closed.
func LockActor(rec *Recorder, dir string, seed uint64, maxHold time.Duration) func(ctx context.Context, actor int, conn *zk.Conn) error {
	return func(ctx context.Context, actor int, conn *zk.Conn) error {
		m, err := lock.New(conn, lock.Config{Dir: dir, Data: []byte("actor-" + strconv.Itoa(actor))})
		if err != nil {
			return err
		}
		defer m.Close()
		rng := rand.New(rand.NewPCG(seed, uint64(actor)))
		for {
			if err := m.Lock(ctx); err != nil {
				return err
			}
			rec.Begin(actor)
			t := time.NewTimer(time.Duration(rng.Int64N(int64(maxHold) + 1)))
			select {
			case <-t.C:
			case <-m.Lost():
			case <-ctx.Done():
			}
			t.Stop()
			rec.End(actor)
			uctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			m.Unlock(uctx) // after a loss, deletes the node once reconnected
			cancel()
		}
	}
}
