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
// started again, a member paused (SIGSTOP) and resumed. The leader of the
// ensemble is the member hit half the time. Members are restored before
// the fault returns, so the quorum is never lost for long.
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
			e.Pause(i)
			Wait(ctx, c.between(T/2, 2*T))
			e.Resume(i)
		}},
	}
}
