package recipetest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// Interval is one actor's belief that it holds (leads, has the lock): from
// when its work started to when it saw its context cancelled. Times come
// from one process's monotonic clock.
type Interval struct {
	Actor      int
	Start, End time.Time // End is zero while open
}

// Recorder collects intervals from several actors and finds overlaps.
// Its methods are safe for concurrent use.
type Recorder struct {
	// mu guards the fields below.
	mu        sync.Mutex
	open      map[int]time.Time
	intervals []Interval
	live      []string      // overlaps seen as they happened
	changed   chan struct{} // closed and replaced at every Begin and End
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	return &Recorder{open: make(map[int]time.Time), changed: make(chan struct{})}
}

// Begin records that actor starts holding, now. If another actor holds at
// this moment, that is an overlap.
func (r *Recorder) Begin(actor int) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for other, since := range r.open {
		r.live = append(r.live, fmt.Sprintf("actor %d began while actor %d held (since %v)", actor, other, now.Sub(since)))
	}
	if _, ok := r.open[actor]; ok {
		r.live = append(r.live, fmt.Sprintf("actor %d began twice", actor))
	}
	r.open[actor] = now
	r.notifyLocked()
}

// End records that actor stopped holding, now.
func (r *Recorder) End(actor int) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	start, ok := r.open[actor]
	if !ok {
		r.live = append(r.live, fmt.Sprintf("actor %d ended without beginning", actor))
		return
	}
	delete(r.open, actor)
	r.intervals = append(r.intervals, Interval{Actor: actor, Start: start, End: now})
	r.notifyLocked()
}

func (r *Recorder) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Holder returns the actor holding now, if exactly one does.
func (r *Recorder) Holder() (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.open) != 1 {
		return 0, false
	}
	for a := range r.open {
		return a, true
	}
	return 0, false
}

// Holding reports whether actor holds now.
func (r *Recorder) Holding(actor int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.open[actor]
	return ok
}

// WaitFor waits until cond holds for the set of holders, or ctx ends.
func (r *Recorder) WaitFor(ctx context.Context, cond func(holders []int) bool) error {
	for {
		r.mu.Lock()
		holders := make([]int, 0, len(r.open))
		for a := range r.open {
			holders = append(holders, a)
		}
		ch := r.changed
		r.mu.Unlock()
		slices.Sort(holders)
		if cond(holders) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("recipetest: holders %v: %w", holders, ctx.Err())
		}
	}
}

// WaitHolder waits until someone holds, or ctx ends.
func (r *Recorder) WaitHolder(ctx context.Context) error {
	return r.WaitFor(ctx, func(h []int) bool { return len(h) > 0 })
}

// Intervals returns every interval, the open ones ending now, by start.
func (r *Recorder) Intervals() []Interval {
	now := time.Now()
	r.mu.Lock()
	out := slices.Clone(r.intervals)
	for a, s := range r.open {
		out = append(out, Interval{Actor: a, Start: s, End: now})
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// Overlaps returns every overlap: those seen live by Begin, and any pair
// of intervals that intersect (there should be none of either).
func (r *Recorder) Overlaps() []string {
	r.mu.Lock()
	out := slices.Clone(r.live)
	r.mu.Unlock()
	ivs := r.Intervals()
	var latest *Interval // the interval ending last so far
	for i := range ivs {
		iv := &ivs[i]
		if latest != nil && iv.Start.Before(latest.End) {
			out = append(out, fmt.Sprintf("actor %d held from %v, actor %d until %v later",
				iv.Actor, iv.Start.Format("15:04:05.000000"), latest.Actor, latest.End.Sub(iv.Start)))
		}
		if latest == nil || iv.End.After(latest.End) {
			latest = iv
		}
	}
	return out
}

// Gaps returns, for consecutive intervals, the time from one's end to the
// next one's start: time without a holder.
func (r *Recorder) Gaps() []time.Duration {
	ivs := r.Intervals()
	var out []time.Duration
	for i := 1; i < len(ivs); i++ {
		out = append(out, ivs[i].Start.Sub(ivs[i-1].End))
	}
	return out
}

// Handovers counts consecutive intervals held by different actors.
func (r *Recorder) Handovers() int {
	ivs := r.Intervals()
	n := 0
	for i := 1; i < len(ivs); i++ {
		if ivs[i].Actor != ivs[i-1].Actor {
			n++
		}
	}
	return n
}

// Summary describes durations: count, median, 95th percentile, max.
func Summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	pct := func(p float64) time.Duration { return s[int(float64(len(s)-1)*p)] }
	return fmt.Sprintf("n=%d median=%v p95=%v max=%v",
		len(s), pct(0.5).Round(time.Millisecond), pct(0.95).Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}

// Stats summarizes a recorder.
type Stats struct {
	Intervals int
	Handovers int
	Overlaps  []string
	Gaps      []time.Duration
}

// String gives the figures on one line.
func (s Stats) String() string {
	return fmt.Sprintf("holds=%d handovers=%d overlaps=%d no-holder gaps: %s",
		s.Intervals, s.Handovers, len(s.Overlaps), Summary(s.Gaps))
}

// Summarize returns r's figures.
func Summarize(r *Recorder) Stats {
	return Stats{Intervals: len(r.Intervals()), Handovers: r.Handovers(), Overlaps: r.Overlaps(), Gaps: r.Gaps()}
}
