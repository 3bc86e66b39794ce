package recipetest

import (
	"context"
	"strconv"
	"time"

	"github.com/zkgo/zk/internal/realzk"
	"github.com/zkgo/zk/internal/testserver"
)

// MemoryFaults are the faults of the in-memory server: every connection
// dropped, a listener stopped for a while, a listener blackholed for a
// while (long enough, sometimes, for its clients' read timeouts).
func MemoryFaults(srv *testserver.Server, listeners int, T time.Duration) []Fault {
	return []Fault{
		{Name: "drop-all", Weight: 1, Do: func(ctx context.Context, c *Chaos) {
			srv.DropConnections()
		}},
		{Name: "stop-listener", Weight: 2, Do: func(ctx context.Context, c *Chaos) {
			i := c.Rand.IntN(listeners)
			c.noteVictimName("listener " + strconv.Itoa(i))
			srv.StopListener(i)
			Wait(ctx, c.between(T/4, 2*T))
			srv.StartListener(i)
		}},
		{Name: "blackhole", Weight: 2, Do: func(ctx context.Context, c *Chaos) {
			i := c.Rand.IntN(listeners)
			c.noteVictimName("listener " + strconv.Itoa(i))
			srv.Blackhole(i, true)
			Wait(ctx, c.between(T/4, T))
			srv.Blackhole(i, false)
		}},
	}
}

// HealMemory undoes every server fault of MemoryFaults.
func HealMemory(srv *testserver.Server, listeners int) func() {
	return func() {
		for i := range listeners {
			srv.Blackhole(i, false)
			srv.StartListener(i)
		}
	}
}

// RealFaults are the faults of a real ensemble: a member killed and
// started again, a member paused (SIGSTOP) and resumed (the ensemble's
// leader for at most T/2, see pause-member). The leader of the ensemble is
// the member hit half the time. Members are restored before the fault
// returns, so the quorum is never lost for long.
func RealFaults(e *realzk.Ensemble, T time.Duration) []Fault {
	pick := func(c *Chaos) int {
		if c.Rand.IntN(2) == 0 {
			if l := e.Leader(); l >= 0 {
				return l
			}
		}
		return c.Rand.IntN(e.Size())
	}
	return []Fault{
		{Name: "kill-member", Weight: 2, Do: func(ctx context.Context, c *Chaos) {
			i := pick(c)
			c.noteVictimName("member " + strconv.Itoa(i))
			e.Kill(i)
			Wait(ctx, c.between(T/2, T))
			e.Start(i)
		}},
		{Name: "pause-member", Weight: 2, Do: func(ctx context.Context, c *Chaos) {
			i := pick(c)
			c.noteVictimName("member " + strconv.Itoa(i))
			// A follower is paused for up to 2T. The ensemble's leader
			// only for up to T/2: one stalled for more than about 2T/3,
			// while its followers still follow it, expires on resuming
			// the sessions whose touches they relayed meanwhile, and the
			// clients hear of it no sooner than everyone else, which no
			// recipe can cover without fencing (recipe/leader's doc,
			// "Limits"). An unknown leader counts as this one.
			lo, hi := T/2, 2*T
			if l := e.Leader(); l == i || l < 0 {
				lo, hi = T/4, T/2
			}
			e.Pause(i)
			Wait(ctx, c.between(lo, hi))
			e.Resume(i)
		}},
	}
}
