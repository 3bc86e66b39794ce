package lock_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk/internal/testserver"
	"github.com/zkgo/zk/recipe/internal/recipetest"
)

// TestChaosInMemory runs five lockers, each on its own sessions, taking the
// lock again and again while faults are injected at random (see the leader
// package's test of the same name). Each records its holds, from Lock's
// return to the moment it lets go or sees Lost closed; no two may overlap.
//
// ZK_CHAOS_SEED=n replays the choices of a run (not its timing).
func TestChaosInMemory(t *testing.T) {
	seed := recipetest.NewSeed(t)
	t.Logf("seed %d", seed)
	const (
		listeners = 3
		T         = 400 * time.Millisecond
	)
	srv := testserver.Start(t, testserver.WithListeners(listeners), testserver.WithTickTime(20*time.Millisecond))
	rec := recipetest.NewRecorder()
	c := &recipetest.Chaos{
		Rand:           rand.New(rand.NewPCG(seed, 0)),
		Seed:           seed,
		ConnString:     srv.ConnString(),
		SessionTimeout: T,
		Actors:         5,
		Duration:       5 * time.Second,
		Act:            recipetest.LockActor(rec, "/chaos/lock", seed, T/4),
		Faults:         recipetest.MemoryFaults(srv, listeners, T),
		Expire:         srv.ExpireSession,
		Heal:           recipetest.HealMemory(srv, listeners),
		Rec:            rec,
	}
	rep := c.Run(t)
	t.Logf("lock, in-memory server, session timeout %v:\n%s", T, rep)
	if len(rep.Overlaps) > 0 {
		t.Logf("timeline:\n%s", rep.Timeline())
	}
	require.Empty(t, rep.Overlaps, "two lockers believed they held the lock at once (seed %d)", seed)
	require.Greater(t, rep.Intervals, 20, "the lock hardly changed hands")
}
