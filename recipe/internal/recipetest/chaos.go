package recipetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/recipe/session"
)

// fastBackOff retries a new session within the session timeout's scale.
func fastBackOff(T time.Duration) backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = T / 10
	b.MaxInterval = T
	b.MaxElapsedTime = 0
	return b
}

// Fault is one kind of fault: Do injects it, waits as long as it lasts,
// and undoes it. It runs on the test's goroutine.
type Fault struct {
	Name   string
	Weight int
	Do     func(ctx context.Context, c *Chaos)
}

// Chaos runs actors, each on its own sessions (a session.Supervisor with
// its own Net), while faults are injected at random; the actors record
// their holding intervals in Rec.
type Chaos struct {
	// Rand drives every random choice; seed it with Seed.
	Rand *rand.Rand
	// Seed is printed, to replay a run (ZK_CHAOS_SEED=n).
	Seed uint64

	ConnString     string
	SessionTimeout time.Duration
	Actors         int
	// Duration is how long faults are injected.
	Duration time.Duration
	// Act runs on each of an actor's sessions until ctx ends; it records
	// into Rec.
	Act func(ctx context.Context, actor int, conn *zk.Conn) error
	// Faults are the faults of the server; the client faults (cut, silence,
	// and, with Expire, cut-then-expire) are added by Run.
	Faults []Fault
	// Expire expires a session on the server now (nil for a real
	// ensemble).
	Expire func(sessionID int64) bool
	// Heal undoes any server fault still in place.
	Heal func()

	Rec *Recorder

	nets []*Net
	sups []*session.Supervisor
	// atHolder makes victim pick the holder: the first fault of a run
	// always takes the holder's session away.
	atHolder bool

	mu       sync.Mutex // guards sessions, log
	sessions int        // NewSession events after the first of each actor
	log      []FaultRecord
}

// FaultRecord is one injected fault.
type FaultRecord struct {
	Name       string
	Victim     string
	Start, End time.Time
}

// NewSeed returns the seed from ZK_CHAOS_SEED, or a fresh one.
func NewSeed(tb testing.TB) uint64 {
	if s := os.Getenv("ZK_CHAOS_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			tb.Fatalf("ZK_CHAOS_SEED=%q: %v", s, err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

// Report is what a chaos run measured.
type Report struct {
	Seed        uint64
	Actors      int
	Faults      map[string]int
	Intervals   int
	Handovers   int
	NewSessions int
	Overlaps    []string
	Gaps        []time.Duration            // from one holder's end to the next one's start
	Takeover    map[string][]time.Duration // by fault: from the fault to the next holder, when it ended a holding
	Recovery    time.Duration              // from the end of the faults to a holder
	Log         []FaultRecord
	Holdings    []Interval
}

// Timeline lists the faults (with their victims and durations) and the
// holdings, in time order, relative to the first fault.
func (r Report) Timeline() string {
	if len(r.Log) == 0 {
		return ""
	}
	t0 := r.Log[0].Start
	type line struct {
		at   time.Time
		text string
	}
	var lines []line
	for _, f := range r.Log {
		lines = append(lines, line{f.Start, fmt.Sprintf("fault %s %s for %v", f.Name, f.Victim, f.End.Sub(f.Start).Round(time.Millisecond))})
	}
	for _, iv := range r.Holdings {
		lines = append(lines, line{iv.Start, fmt.Sprintf("actor %d holds until %v", iv.Actor, iv.End.Sub(t0).Round(time.Millisecond))})
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].at.Before(lines[j].at) })
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%9v %s\n", l.at.Sub(t0).Round(time.Millisecond), l.text)
	}
	return b.String()
}

// String gives the figures, several lines.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed=%d actors=%d intervals=%d handovers=%d new-sessions=%d overlaps=%d\n",
		r.Seed, r.Actors, r.Intervals, r.Handovers, r.NewSessions, len(r.Overlaps))
	names := make([]string, 0, len(r.Faults))
	total := 0
	for n, k := range r.Faults {
		names = append(names, n)
		total += k
	}
	sort.Strings(names)
	fmt.Fprintf(&b, "faults=%d:", total)
	for _, n := range names {
		fmt.Fprintf(&b, " %s=%d", n, r.Faults[n])
	}
	fmt.Fprintf(&b, "\nno-holder gaps: %s\n", Summary(r.Gaps))
	for _, n := range names {
		if ds := r.Takeover[n]; len(ds) > 0 {
			fmt.Fprintf(&b, "fault to next holder, %s: %s\n", n, Summary(ds))
		}
	}
	fmt.Fprintf(&b, "after the faults stopped, a holder within %v", r.Recovery.Round(time.Millisecond))
	return b.String()
}

// between returns a random duration in [lo, hi).
func (c *Chaos) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(c.Rand.Int64N(int64(hi-lo)))
}

// Wait waits d or until ctx ends: a fault's duration, not a synchronization.
func Wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Between returns a random duration in [lo, hi), for fault functions.
func (c *Chaos) Between(lo, hi time.Duration) time.Duration { return c.between(lo, hi) }

// victim picks the actor to hit: the holder, more often than not.
func (c *Chaos) victim() int {
	if a, ok := c.Rec.Holder(); ok && (c.atHolder || c.Rand.IntN(3) > 0) {
		return a
	}
	return c.Rand.IntN(c.Actors)
}

// clientFaults are the faults that hit one actor's network.
func (c *Chaos) clientFaults(tb testing.TB) []Fault {
	T := c.SessionTimeout
	fs := []Fault{
		{Name: "client-blip", Weight: 2, Do: func(ctx context.Context, c *Chaos) {
			// One client's connection closes; it reconnects at once.
			a := c.victim()
			c.noteVictim(a)
			c.nets[a].Cut()
			c.nets[a].Heal()
		}},
		{Name: "client-silence", Weight: 3, Do: func(ctx context.Context, c *Chaos) {
			// A silent partition longer than the session timeout: the
			// client notices by its read timeout (2T/3), the server expires
			// the session (after T), the supervisor opens a new one.
			a := c.victim()
			c.noteVictim(a)
			c.nets[a].Silence()
			Wait(ctx, c.between(T*6/5, 2*T))
			c.nets[a].Heal()
		}},
	}
	if c.Expire != nil {
		fs = append(fs, Fault{Name: "client-expire", Weight: 3, Do: func(ctx context.Context, c *Chaos) {
			// The session expires on the server once the client has lost
			// its link and noticed: ExpireSession stands in for the T of
			// silence a real server waits (by then the client has long
			// stopped acting on the session: it gave up the link at 2T/3).
			a := c.victim()
			c.noteVictim(a)
			conn := c.sups[a].Conn()
			id := conn.SessionID()
			c.nets[a].Cut()
			wctx, cancel := context.WithTimeout(ctx, 10*T)
			defer cancel()
			for st := conn.State(); st == zk.StateConnected; st = conn.State() {
				if !conn.WaitForStateChange(wctx, st) {
					break
				}
			}
			if err := c.Rec.WaitFor(wctx, func(h []int) bool { return !contains(h, a) }); err != nil {
				tb.Errorf("actor %d still holds after losing its link: %v", a, err)
			}
			c.Expire(id)
			Wait(ctx, c.between(0, T/2))
			c.nets[a].Heal()
		}})
	}
	return fs
}

func contains(s []int, x int) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func (c *Chaos) noteVictim(a int) { c.noteVictimName("actor " + strconv.Itoa(a)) }

func (c *Chaos) noteVictimName(v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.log); n > 0 {
		c.log[n-1].Victim = v
	}
}

// Run starts the actors, injects faults for Duration, heals everything,
// waits for a holder, stops the actors and reports. It fails tb if an
// actor's Run ends with an unexpected error.
func (c *Chaos) Run(tb testing.TB) Report {
	tb.Helper()
	T := c.SessionTimeout
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			cancel()
			for _, n := range c.nets {
				n.Heal()
			}
			wg.Wait()
			for _, s := range c.sups {
				s.Close()
			}
		})
	}
	defer stop()
	for i := range c.Actors {
		n := NewNet()
		c.nets = append(c.nets, n)
		octx, ocancel := context.WithTimeout(ctx, 30*time.Second)
		first := true
		sup, err := session.Open(octx, c.ConnString, session.Config{
			Options: []zk.Option{zk.WithSessionTimeout(T), zk.WithDialer(n.Dial)},
			// The default waits up to 5 s between attempts; the chaos
			// heals sooner than that.
			NewBackOff: func() backoff.BackOff { return fastBackOff(T) },
			OnEvent: func(ev session.Event) {
				if ev.Type != session.EventNewSession {
					return
				}
				if first {
					first = false
					return
				}
				c.mu.Lock()
				c.sessions++
				c.mu.Unlock()
			},
		})
		ocancel()
		if err != nil {
			tb.Fatalf("actor %d: %v", i, err)
		}
		c.sups = append(c.sups, sup)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := sup.Run(ctx, func(ctx context.Context, conn *zk.Conn) error { return c.Act(ctx, i, conn) })
			if err != nil && ctx.Err() == nil {
				tb.Errorf("actor %d: Run: %v", i, err)
			}
		}()
	}

	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	if err := c.Rec.WaitHolder(wctx); err != nil {
		tb.Fatalf("no first holder: %v", err)
	}
	wcancel()

	faults := append(append([]Fault(nil), c.Faults...), c.clientFaults(tb)...)
	total := 0
	for _, f := range faults {
		total += f.Weight
	}
	// The first fault costs the holder its session (an expiry where the
	// server can be told to expire one, else a silence past the session
	// timeout), so that every run moves the leadership at least once
	// whatever the seed draws after it.
	first := faults[len(faults)-1]
	counts := make(map[string]int)
	end := time.Now().Add(c.Duration)
	for n := 0; n == 0 || time.Now().Before(end) && !tb.Failed(); n++ {
		f := first
		if n > 0 {
			k := c.Rand.IntN(total)
			f = faults[0]
			for _, g := range faults {
				if k < g.Weight {
					f = g
					break
				}
				k -= g.Weight
			}
		}
		c.atHolder = n == 0
		counts[f.Name]++
		c.mu.Lock()
		c.log = append(c.log, FaultRecord{Name: f.Name, Start: time.Now()})
		c.mu.Unlock()
		f.Do(ctx, c)
		c.mu.Lock()
		c.log[len(c.log)-1].End = time.Now()
		c.mu.Unlock()
		Wait(ctx, c.between(T/4, T))
	}

	if c.Heal != nil {
		c.Heal()
	}
	for _, n := range c.nets {
		n.Heal()
	}
	healed := time.Now()
	rctx, rcancel := context.WithTimeout(ctx, 30*T+30*time.Second)
	if err := c.Rec.WaitHolder(rctx); err != nil {
		tb.Errorf("no holder after the faults stopped: %v", err)
		// What each actor's handle was doing, for the report.
		buf := make([]byte, 8<<20)
		buf = buf[:runtime.Stack(buf, true)]
		if f, err := os.CreateTemp("", "zk-chaos-stacks-*.txt"); err == nil {
			f.Write(buf)
			f.Close()
			tb.Logf("every goroutine's stack: %s", f.Name())
		}
		for i, s := range c.sups {
			if conn := s.Conn(); conn != nil {
				tb.Logf("actor %d: state %v server %s session 0x%x", i, conn.State(), conn.Server(), conn.SessionID())
			}
		}
	}
	rcancel()
	recovery := time.Since(healed)
	stop() // the holders end their holdings: every interval closes

	c.mu.Lock()
	defer c.mu.Unlock()
	return Report{
		Seed:        c.Seed,
		Actors:      c.Actors,
		Faults:      counts,
		Intervals:   len(c.Rec.Intervals()),
		Handovers:   c.Rec.Handovers(),
		NewSessions: c.sessions,
		Overlaps:    c.Rec.Overlaps(),
		Gaps:        c.Rec.Gaps(),
		Takeover:    takeovers(c.log, c.Rec.Intervals()),
		Recovery:    recovery,
		Log:         slices.Clone(c.log),
		Holdings:    c.Rec.Intervals(),
	}
}

// takeovers measures, for each fault that ended a holding, the time from
// the fault to the next holder's start.
func takeovers(log []FaultRecord, ivs []Interval) map[string][]time.Duration {
	out := make(map[string][]time.Duration)
	for i, f := range log {
		limit := time.Now()
		if i+1 < len(log) {
			limit = log[i+1].Start
		}
		for j, iv := range ivs {
			if iv.Start.After(f.Start) || !iv.End.After(f.Start) || iv.End.After(limit) {
				continue
			}
			if j+1 < len(ivs) && ivs[j+1].Start.Before(limit) {
				out[f.Name] = append(out[f.Name], ivs[j+1].Start.Sub(f.Start))
			}
			break
		}
	}
	return out
}
