package leader_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk/internal/testserver"
	"github.com/zkgo/zk/recipe/internal/recipetest"
)

// TestChaosInMemory runs five candidates, each on its own sessions, while
// faults are injected at random: every connection dropped, a listener
// stopped or blackholed for a while, one client's connection cut, one
// client silently partitioned past its session timeout, one client's
// session expired after it lost its link. Each candidate records when it
// believes it leads (from lead's call to its seeing the context
// cancelled); no two such intervals may overlap.
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
		Act:            recipetest.LeaderActor(rec, "/chaos/election"),
		Faults:         recipetest.MemoryFaults(srv, listeners, T),
		Expire:         srv.ExpireSession,
		Heal:           recipetest.HealMemory(srv, listeners),
		Rec:            rec,
	}
	rep := c.Run(t)
	t.Logf("leader election, in-memory server, session timeout %v:\n%s", T, rep)
	if len(rep.Overlaps) > 0 || testing.Verbose() {
		t.Logf("timeline:\n%s", rep.Timeline())
	}
	require.Empty(t, rep.Overlaps, "two candidates believed they led at once (seed %d)", seed)
	require.Positive(t, rep.Handovers, "the faults never moved the leadership")
}
