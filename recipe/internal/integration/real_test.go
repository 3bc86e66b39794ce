package integration_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/realzk"
	"github.com/zkgo/zk/recipe/internal/recipetest"
)

// TestChaosRealEnsemble runs five leader candidates and five lockers, each
// on its own sessions, against a real three-member ensemble while members
// are killed and restarted, paused and resumed (the ensemble's leader half
// the time, and then for at most T/2: a leader stalled for longer expires
// sessions that were not silent, which the recipes' docs name as the limit
// only fencing covers), and clients' links are cut or silently partitioned
// past their session timeout. No two candidates may believe they lead at
// once, and no two lockers that they hold the lock.
//
// ZK_CHAOS_SEED=n replays the choices of a run (not its timing).
func TestChaosRealEnsemble(t *testing.T) {
	if testing.Short() {
		t.Skip("a chaos run against a real ensemble takes about 30 s")
	}
	const T = time.Second
	e := realzk.Start(t, realzk.Options{Members: 3, TickTime: 100 * time.Millisecond})
	seed := recipetest.NewSeed(t)
	t.Logf("seed %d", seed)

	leaders, lockers := recipetest.NewRecorder(), recipetest.NewRecorder()
	const n = 5
	lead := recipetest.LeaderActor(leaders, "/chaos/election")
	hold := recipetest.LockActor(lockers, "/chaos/lock", seed, T/4)
	c := &recipetest.Chaos{
		Rand:           rand.New(rand.NewPCG(seed, 0)),
		Seed:           seed,
		ConnString:     e.ConnString(),
		SessionTimeout: T,
		Actors:         2 * n,
		Duration:       25 * time.Second,
		Act: func(ctx context.Context, actor int, conn *zk.Conn) error {
			if actor < n {
				return lead(ctx, actor, conn)
			}
			return hold(ctx, actor, conn)
		},
		Faults: recipetest.RealFaults(e, T),
		Rec:    leaders,
	}
	start := time.Now()
	rep := c.Run(t)
	t.Logf("leader election, real 3-member ensemble, session timeout %v, %v:\n%s", T, time.Since(start).Round(time.Second), rep)
	locks := recipetest.Summarize(lockers)
	t.Logf("lock, same run: %s", locks)
	if len(rep.Overlaps) > 0 || len(locks.Overlaps) > 0 || testing.Verbose() {
		t.Logf("timeline (leaders):\n%s", rep.Timeline())
	}
	require.Empty(t, rep.Overlaps, "two candidates believed they led at once (seed %d)", seed)
	require.Empty(t, locks.Overlaps, "two lockers believed they held the lock at once (seed %d)", seed)
}
