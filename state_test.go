package zk

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

var allStates = []State{
	StateNotConnected, StateConnecting, StateConnected, StateConnectedReadOnly, StateAuthFailed, StateClosed,
}

func TestStateString(t *testing.T) {
	tests := []struct {
		s    State
		want string
	}{
		{StateNotConnected, "NOT_CONNECTED"},
		{StateConnecting, "CONNECTING"},
		{StateConnected, "CONNECTED"},
		{StateConnectedReadOnly, "CONNECTED_READ_ONLY"},
		{StateAuthFailed, "AUTH_FAILED"},
		{StateClosed, "CLOSED"},
		{State(6), "State(6)"},
		{State(42), "State(42)"},
		{State(-1), "State(-1)"},
		{State(-112), "State(-112)"}, // the wire's expired code is not a state
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("State(%d).String() = %q, want %q", int32(tt.s), got, tt.want)
		}
		if got := fmt.Sprint(tt.s); got != tt.want {
			t.Errorf("fmt.Sprint(State(%d)) = %q, want %q", int32(tt.s), got, tt.want)
		}
	}
	// The states are contiguous iota values, in DESIGN.md's order.
	for i, s := range allStates {
		if int(s) != i {
			t.Errorf("%s = %d, want %d", s, int32(s), i)
		}
	}
}

func TestSessionEventString(t *testing.T) {
	tests := []struct {
		e    SessionEvent
		want string
	}{
		{EventNone, "None"},
		{EventDisconnected, "Disconnected"},
		{EventSyncConnected, "SyncConnected"},
		{EventConnectedReadOnly, "ConnectedReadOnly"},
		{EventAuthFailed, "AuthFailed"},
		{EventExpired, "Expired"},
		{EventClosed, "Closed"},
		{SessionEvent(7), "SessionEvent(7)"},
		{SessionEvent(42), "SessionEvent(42)"},
		{SessionEvent(-1), "SessionEvent(-1)"},
	}
	for i, tt := range tests {
		if got := tt.e.String(); got != tt.want {
			t.Errorf("SessionEvent(%d).String() = %q, want %q", int32(tt.e), got, tt.want)
		}
		if i < 7 && int(tt.e) != i {
			t.Errorf("%s = %d, want %d", tt.e, int32(tt.e), i)
		}
	}
}

func TestStateChangeString(t *testing.T) {
	tests := []struct {
		c    StateChange
		want string
	}{
		{StateChange{From: StateNotConnected, To: StateConnecting}, "NOT_CONNECTED -> CONNECTING"},
		{StateChange{From: StateConnecting, To: StateConnected, Event: EventSyncConnected, Server: "zk1:2181"}, "CONNECTING -> CONNECTED (SyncConnected)"},
		{StateChange{From: StateConnected, To: StateConnecting, Event: EventDisconnected}, "CONNECTED -> CONNECTING (Disconnected)"},
		{StateChange{From: StateConnecting, To: StateClosed, Event: EventExpired}, "CONNECTING -> CLOSED (Expired)"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.c, got, tt.want)
		}
	}
}

func TestStatePredicates(t *testing.T) {
	for _, s := range allStates {
		wantTerminal := s == StateAuthFailed || s == StateClosed
		if s.terminal() != wantTerminal {
			t.Errorf("%s.terminal() = %v, want %v", s, s.terminal(), wantTerminal)
		}
		wantConnected := s == StateConnected || s == StateConnectedReadOnly
		if s.connected() != wantConnected {
			t.Errorf("%s.connected() = %v, want %v", s, s.connected(), wantConnected)
		}
	}
}

// TestTransitionTable asserts the exact table of legal state changes.
func TestTransitionTable(t *testing.T) {
	// Rows are "from", columns "to", in allStates order:
	// NOT_CONNECTED, CONNECTING, CONNECTED, CONNECTED_READ_ONLY,
	// AUTH_FAILED, CLOSED.
	want := map[State]string{
		StateNotConnected:      ".x...x", // backoff over: dial; Close
		StateConnecting:        "x.xxxx", // pass failed: back off; handshake ok (rw / ro); auth rejected; Close or expiry
		StateConnected:         ".x..xx", // link lost: dial again at once; auth rejected; Close or expiry
		StateConnectedReadOnly: ".x..xx",
		StateAuthFailed:        "......",
		StateClosed:            "......",
	}
	for _, from := range allStates {
		for j, to := range allStates {
			if got, w := transitionAllowed(from, to), want[from][j] == 'x'; got != w {
				t.Errorf("transitionAllowed(%s, %s) = %v, want %v", from, to, got, w)
			}
		}
	}
	// Unknown states have no transitions, in either direction.
	for _, odd := range []State{State(-1), State(6), State(42)} {
		for _, s := range allStates {
			if transitionAllowed(odd, s) || transitionAllowed(s, odd) {
				t.Errorf("a transition between %s and %s is allowed", odd, s)
			}
		}
	}
	// The table itself: only non-terminal states have a row, with no
	// duplicates and no self-loops.
	for from, tos := range validTransitions {
		if from.terminal() || !slices.Contains(allStates, from) {
			t.Errorf("validTransitions has a row for %s", from)
		}
		for i, to := range tos {
			if to == from {
				t.Errorf("validTransitions has a self-loop on %s", from)
			}
			if slices.Contains(tos[:i], to) {
				t.Errorf("validTransitions lists %s -> %s twice", from, to)
			}
		}
	}
}

func TestTransitionProperties(t *testing.T) {
	reach := func(from State) map[State]bool {
		seen := map[State]bool{from: true}
		queue := []State{from}
		for len(queue) > 0 {
			s := queue[0]
			queue = queue[1:]
			for _, to := range allStates {
				if transitionAllowed(s, to) && !seen[to] {
					seen[to] = true
					queue = append(queue, to)
				}
			}
		}
		return seen
	}
	for _, s := range allStates {
		if s.terminal() {
			for _, to := range allStates {
				if transitionAllowed(s, to) {
					t.Errorf("terminal %s has a transition to %s", s, to)
				}
			}
			continue
		}
		// Close and expiry can happen in every state, at once.
		if !transitionAllowed(s, StateClosed) {
			t.Errorf("%s cannot go to CLOSED", s)
		}
		if !reach(s)[StateClosed] {
			t.Errorf("%s cannot reach CLOSED", s)
		}
	}
	// Every state is reachable from the zero value, where a handle starts.
	if r := reach(StateNotConnected); len(r) != len(allStates) {
		t.Errorf("from NOT_CONNECTED only %v are reachable", r)
	}
	for _, tt := range []struct {
		from, to State
		why      string
	}{
		{StateNotConnected, StateConnected, "a session needs a handshake"},
		{StateNotConnected, StateConnectedReadOnly, "a session needs a handshake"},
		{StateNotConnected, StateAuthFailed, "credentials are refused only by a server"},
		{StateConnected, StateNotConnected, "a lost link goes to CONNECTING at once"},
		{StateConnectedReadOnly, StateNotConnected, "a lost link goes to CONNECTING at once"},
		{StateConnected, StateConnectedReadOnly, "changing servers goes through CONNECTING"},
		{StateConnectedReadOnly, StateConnected, "changing servers goes through CONNECTING"},
		{StateClosed, StateConnecting, "CLOSED is terminal"},
		{StateAuthFailed, StateClosed, "AUTH_FAILED is terminal"},
	} {
		if transitionAllowed(tt.from, tt.to) {
			t.Errorf("%s -> %s is allowed; it must not be: %s", tt.from, tt.to, tt.why)
		}
	}
}

// stopSerializer closes s and waits for its goroutine to exit.
func stopSerializer(s *serializer) {
	s.close()
	<-s.done
}

// blockSerializer schedules a callback that blocks until release is called,
// and returns once that callback is running.
func blockSerializer(t *testing.T, s *serializer) (release func()) {
	t.Helper()
	started := make(chan struct{})
	gate := make(chan struct{})
	if !s.schedule(func() { close(started); <-gate }) {
		t.Fatal("schedule returned false on an open serializer")
	}
	<-started
	return func() { close(gate) }
}

func TestSerializerOrderOneGoroutine(t *testing.T) {
	const n = 10000
	s := newSerializer()
	var got []int // touched only by callbacks until s.done
	for i := range n {
		if !s.schedule(func() { got = append(got, i) }) {
			t.Fatalf("schedule %d returned false", i)
		}
	}
	stopSerializer(s)
	if len(got) != n {
		t.Fatalf("%d callbacks ran, want %d", len(got), n)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("callback %d ran at position %d", v, i)
		}
	}
}

func TestSerializerOrderManyGoroutines(t *testing.T) {
	const goroutines, each = 8, 1250
	type rec struct{ g, seq int }
	s := newSerializer()
	var (
		got        []rec // touched only by callbacks until s.done
		inside     atomic.Int32
		concurrent atomic.Bool
		wg         sync.WaitGroup
	)
	for g := range goroutines {
		wg.Go(func() {
			for seq := range each {
				ok := s.schedule(func() {
					if inside.Add(1) != 1 {
						concurrent.Store(true)
					}
					got = append(got, rec{g, seq})
					inside.Add(-1)
				})
				if !ok {
					t.Errorf("goroutine %d: schedule %d returned false", g, seq)
					return
				}
			}
		})
	}
	wg.Wait()
	stopSerializer(s)
	if concurrent.Load() {
		t.Error("two callbacks ran at the same time")
	}
	if len(got) != goroutines*each {
		t.Fatalf("%d callbacks ran, want %d", len(got), goroutines*each)
	}
	next := make([]int, goroutines)
	for i, r := range got {
		if r.seq != next[r.g] {
			t.Fatalf("position %d: goroutine %d's callback %d ran, want its %d", i, r.g, r.seq, next[r.g])
		}
		next[r.g]++
	}
}

// TestSerializerScheduleNeverBlocks checks that a blocked callback never
// stalls the scheduler: if schedule could block, this test would hang
// rather than fail, which is why nothing here is timed.
func TestSerializerScheduleNeverBlocks(t *testing.T) {
	const n = 1000
	s := newSerializer()
	release := blockSerializer(t, s)
	var ran atomic.Int32
	for i := range n {
		if !s.schedule(func() { ran.Add(1) }) {
			t.Fatalf("schedule %d returned false", i)
		}
	}
	// Every schedule returned while the first callback is still blocked.
	if got := ran.Load(); got != 0 {
		t.Fatalf("%d callbacks ran while the first one was blocked", got)
	}
	release()
	stopSerializer(s)
	if got := ran.Load(); got != n {
		t.Fatalf("%d callbacks ran, want %d", got, n)
	}
}

func TestSerializerCloseRunsQueued(t *testing.T) {
	s := newSerializer()
	release := blockSerializer(t, s)
	var got []int // touched only by callbacks until s.done
	for i := range 100 {
		s.schedule(func() { got = append(got, i) })
	}
	s.close() // returns at once, though a callback is blocked
	if s.schedule(func() { got = append(got, -1) }) {
		t.Error("schedule after close returned true")
	}
	select {
	case <-s.done:
		t.Fatal("the serializer exited before its queued callbacks ran")
	default:
	}
	release()
	<-s.done
	if want := 100; len(got) != want {
		t.Fatalf("%d callbacks ran after close, want %d (got %v)", len(got), want, got)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("callback %d ran at position %d", v, i)
		}
	}
}

func TestSerializerCloseIdle(t *testing.T) {
	s := newSerializer()
	s.close()
	s.close() // idempotent
	<-s.done
	if s.schedule(func() { t.Error("callback ran after close") }) {
		t.Error("schedule after close returned true")
	}
	s.close() // and harmless after the goroutine exited
}

func TestSerializerScheduleFromCallback(t *testing.T) {
	s := newSerializer()
	release := blockSerializer(t, s)
	var got []string // touched only by callbacks until s.done
	s.schedule(func() {
		got = append(got, "first")
		if !s.schedule(func() { got = append(got, "scheduled by first") }) {
			got = append(got, "schedule from a callback returned false")
		}
	})
	s.schedule(func() { got = append(got, "second") })
	release()
	// Wait for the callback scheduled from inside before closing.
	flushed := make(chan struct{})
	s.schedule(func() { s.schedule(func() { close(flushed) }) })
	<-flushed
	stopSerializer(s)
	if want := []string{"first", "second", "scheduled by first"}; !slices.Equal(got, want) {
		t.Fatalf("callbacks ran as %q, want %q", got, want)
	}
}

// TestSerializerCloseFromCallback: a listener may close its handle, which
// closes the serializer from one of its own callbacks.
func TestSerializerCloseFromCallback(t *testing.T) {
	s := newSerializer()
	release := blockSerializer(t, s)
	var got []string // touched only by callbacks until s.done
	s.schedule(func() {
		s.close()
		got = append(got, "closer")
		if s.schedule(func() { got = append(got, "after close") }) {
			got = append(got, "schedule after close returned true")
		}
	})
	s.schedule(func() { got = append(got, "queued before close") })
	release()
	<-s.done
	if want := []string{"closer", "queued before close"}; !slices.Equal(got, want) {
		t.Fatalf("callbacks ran as %q, want %q", got, want)
	}
}

func TestSerializerOnGoroutine(t *testing.T) {
	s := newSerializer()
	other := newSerializer()
	defer stopSerializer(other)
	if s.onGoroutine() {
		t.Error("onGoroutine is true outside a callback")
	}
	type result struct{ inside, spawned, other bool }
	res := make(chan result, 1)
	s.schedule(func() {
		spawned := make(chan bool)
		go func() { spawned <- s.onGoroutine() }()
		res <- result{inside: s.onGoroutine(), spawned: <-spawned, other: other.onGoroutine()}
	})
	r := <-res
	if !r.inside {
		t.Error("onGoroutine is false inside a callback")
	}
	if r.spawned {
		t.Error("onGoroutine is true on a goroutine started by a callback")
	}
	if r.other {
		t.Error("another serializer's onGoroutine is true inside this one's callback")
	}
	stopSerializer(s)
	if s.onGoroutine() {
		t.Error("onGoroutine is true outside a callback after close")
	}
}

func TestSerializerGoroutineID(t *testing.T) {
	id := goroutineID()
	if id == 0 {
		t.Fatal("goroutineID() = 0")
	}
	if again := goroutineID(); again != id {
		t.Fatalf("goroutineID() changed from %d to %d on one goroutine", id, again)
	}
	other := make(chan uint64)
	go func() { other <- goroutineID() }()
	if o := <-other; o == id || o == 0 {
		t.Fatalf("goroutineID() on another goroutine = %d, this one's is %d", o, id)
	}
}
