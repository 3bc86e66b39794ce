package soak

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/zkgo/zk"
)

// The checks must be able to fail: these feed them histories with and
// without a violation.

func TestRegisterModel(t *testing.T) {
	set := func(client int, expect int32, data string, kind int, version int32, call, ret int64) porcupine.Operation {
		if kind == outUnknown {
			ret = math.MaxInt64
		}
		return porcupine.Operation{ClientId: client, Input: regInput{key: "r", set: true, expect: expect, data: data},
			Output: regOutput{kind: kind, version: version}, Call: call, Return: ret}
	}
	bounded := func(op porcupine.Operation, ret int64) porcupine.Operation { op.Return = ret; return op }
	get := func(client int, version int32, data string, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: regInput{key: "r"},
			Output: regOutput{kind: outRead, version: version, data: data}, Call: call, Return: ret}
	}
	cases := []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"write then read", []porcupine.Operation{set(0, 0, "a", outOK, 1, 0, 10), get(1, 1, "a", 20, 30)}, porcupine.Ok},
		{"stale read after an acknowledged write", []porcupine.Operation{set(0, 0, "a", outOK, 1, 0, 10), get(1, 0, initialData, 20, 30)}, porcupine.Illegal},
		{"read of data nobody wrote", []porcupine.Operation{get(1, 1, "b", 20, 30)}, porcupine.Illegal},
		{"wrong new version", []porcupine.Operation{set(0, 0, "a", outOK, 2, 0, 10)}, porcupine.Illegal},
		{"two writes from the same version both acknowledged", []porcupine.Operation{
			set(0, 0, "a", outOK, 1, 0, 10), set(1, 0, "b", outOK, 1, 0, 10)}, porcupine.Illegal},
		{"concurrent writes, one refused", []porcupine.Operation{
			set(0, 0, "a", outOK, 1, 0, 10), set(1, 0, "b", outBad, 0, 0, 10), get(2, 1, "a", 20, 30)}, porcupine.Ok},
		{"refused although the version matched", []porcupine.Operation{set(0, 0, "a", outBad, 0, 0, 10)}, porcupine.Illegal},
		{"unknown write that happened", []porcupine.Operation{set(0, 0, "a", outUnknown, 0, 0, 0), get(1, 1, "a", 20, 30)}, porcupine.Ok},
		{"unknown write that did not happen", []porcupine.Operation{set(0, 0, "a", outUnknown, 0, 0, 0), get(1, 0, initialData, 20, 30)}, porcupine.Ok},
		{"unknown write taking effect late", []porcupine.Operation{
			set(0, 0, "a", outUnknown, 0, 0, 0), get(1, 0, initialData, 20, 30), get(1, 1, "a", 40, 50)}, porcupine.Ok},
		{"unknown write undone", []porcupine.Operation{
			set(0, 0, "a", outUnknown, 0, 0, 0), get(1, 1, "a", 20, 30), get(1, 0, initialData, 40, 50)}, porcupine.Illegal},
		// An unknown write whose latest time (boundUnknown) passed with the
		// register unchanged may still never have happened: a later write
		// from the old version can succeed.
		{"bounded unknown write lost", []porcupine.Operation{
			bounded(set(0, 0, "a", outUnknown, 0, 0, 0), 20), set(1, 0, "b", outOK, 1, 30, 40)}, porcupine.Ok},
		{"bounded unknown write seen, then a write from the old version", []porcupine.Operation{
			bounded(set(0, 0, "a", outUnknown, 0, 0, 0), 20), get(2, 1, "a", 22, 25), set(1, 0, "b", outOK, 1, 30, 40)}, porcupine.Illegal},
		// Histories cut at isolated reads (cutAtIsolatedReads): a violation
		// on either side of a cut, or across it, is still found.
		{"write lost after an isolated read saw it", []porcupine.Operation{
			set(0, 0, "a", outOK, 1, 0, 10), get(1, 1, "a", 20, 30), get(1, 0, initialData, 40, 50)}, porcupine.Illegal},
		{"isolated read of a state nobody made", []porcupine.Operation{
			set(0, 0, "a", outOK, 1, 0, 10), get(1, 2, "x", 20, 30), set(0, 2, "b", outOK, 3, 40, 50), get(1, 3, "b", 60, 70)}, porcupine.Illegal},
		{"versions go on across cuts", []porcupine.Operation{
			set(0, 0, "a", outOK, 1, 0, 10), get(1, 1, "a", 20, 30), set(0, 1, "b", outOK, 2, 40, 50),
			get(1, 2, "b", 60, 70), set(2, 1, "c", outBad, 0, 80, 90), get(1, 2, "b", 100, 110)}, porcupine.Ok},
		{"a write from a version the cut says is gone", []porcupine.Operation{
			set(0, 0, "a", outOK, 1, 0, 10), get(1, 1, "a", 20, 30), set(2, 0, "c", outOK, 1, 40, 50)}, porcupine.Illegal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := porcupine.CheckOperationsTimeout(registerModel(), tc.ops, 0); got != tc.want {
				t.Fatalf("got %v, want %v", resultName(got), resultName(tc.want))
			}
			if got := checkLinearizable(registerModel(), tc.ops, 0); got != tc.want {
				t.Fatalf("checkLinearizable: got %v, want %v", resultName(got), resultName(tc.want))
			}
		})
	}
}

func TestStreamCheck(t *testing.T) {
	created := func(n int) zk.Event {
		return zk.Event{Type: zk.EventNodeCreated, Path: seqName + pad(n)}
	}
	sessEv := func(ev zk.SessionEvent) zk.Event { return zk.Event{Type: zk.EventSession, Session: ev} }
	cases := []struct {
		name  string
		items []zk.Event
		bad   bool
	}{
		{"consecutive", []zk.Event{created(1), created(2), created(3)}, false},
		{"a jump across a disconnection", []zk.Event{created(1), sessEv(zk.EventDisconnected), sessEv(zk.EventSyncConnected), created(7), created(8)}, false},
		{"a missed change while connected", []zk.Event{created(1), created(3)}, true},
		{"a repeated change", []zk.Event{created(4), created(4)}, true},
		{"out of order", []zk.Event{created(5), created(4)}, true},
		{"a foreign event", []zk.Event{{Type: zk.EventNodeDeleted, Path: seqName + pad(1)}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := &violations{}
			cl := &client{v: v, n: &counters{}}
			cl.checkStream(&session{rec: &sessionRec{id: 1}, items: tc.items, streamErr: zk.ErrClosed})
			if got := len(v.all()) > 0; got != tc.bad {
				t.Fatalf("violations %q, want some: %v", v.all(), tc.bad)
			}
		})
	}
}

func pad(n int) string { return fmt.Sprintf("%010d", n) }

func TestLeaderSafeAndStaleReads(t *testing.T) {
	addrs := []string{"a:1", "b:1", "c:1"}
	leaders := &leaderTimeline{}
	leaders.observe(0, 0, 0, "leader")
	leaders.observe(0, 0, 2, "follower")
	leaders.observe(100, 100, 0, "follower")
	leaders.observe(200, 200, 2, "leader")
	// b:1 led from 300 and was then paused: unanswered probes, another
	// member elected; it still believes it leads when it resumes.
	leaders.observe(300, 300, 1, "leader")
	leaders.observe(400, 400, 1, "")
	leaders.observe(400, 400, 2, "follower")
	leaders.observe(450, 450, 0, "leader")
	leaders.observe(500, 500, 1, "")
	read := func(server string, version int32, call, ret int64) porcupine.Operation {
		return porcupine.Operation{Input: regInput{key: "r", server: server}, Output: regOutput{kind: outRead, version: version},
			Call: call, Return: ret}
	}
	write := porcupine.Operation{Input: regInput{key: "r", set: true, expect: 0, data: "x"}, Output: regOutput{kind: outOK, version: 1},
		Call: 10, Return: 20}
	ops := []porcupine.Operation{
		write,
		read("a:1", 0, 30, 40),   // the leader then: left out, and stale
		read("b:1", 1, 30, 40),   // a follower: kept
		read("c:1", 1, 150, 160), // leader from 200, not within the margin of 5
		read("c:1", 1, 190, 210), // leader during the read: left out
		read("b:1", 0, 600, 610), // a deposed leader not yet probed since: left out, and stale
		read("c:1", 1, 600, 610), // a follower again since 400: kept
	}
	kept, led := leaderSafe(ops, addrs, leaders, 5)
	if len(kept) != 4 || len(led) != 3 {
		t.Fatalf("kept %d, left out %d; want 4 and 3", len(kept), len(led))
	}
	if stale := staleReads(ops, led); len(stale) != 2 {
		t.Fatalf("stale reads %q, want two", stale)
	}
	if stale := staleReads(ops, kept); len(stale) != 0 {
		t.Fatalf("stale reads %q among the kept ones", stale)
	}
}

func TestCutAtIsolatedReads(t *testing.T) {
	op := func(set bool, call, ret int64) porcupine.Operation {
		return porcupine.Operation{Input: regInput{key: "r", set: set}, Output: regOutput{kind: outRead, version: 1, data: "a"}, Call: call, Return: ret}
	}
	// Reads at [20,30] and [60,70] overlap nothing; the read at [95,120]
	// overlaps the write at [100,110]; the last read is last.
	ops := []porcupine.Operation{op(true, 0, 10), op(false, 20, 30), op(true, 40, 50), op(false, 60, 70),
		op(true, 100, 110), op(false, 95, 120), op(false, 130, 140)}
	pieces := cutAtIsolatedReads(ops)
	if len(pieces) != 3 {
		t.Fatalf("%d pieces, want 3: %v", len(pieces), pieces)
	}
	sizes := []int{2, 3, 4} // each later piece starts with its reset
	for i, p := range pieces {
		if len(p) != sizes[i] {
			t.Fatalf("piece %d has %d operations, want %d", i, len(p), sizes[i])
		}
		if i > 0 {
			r := p[0]
			if !r.Input.(regInput).reset || r.Return >= p[1].Call || r.Call <= pieces[i-1][len(pieces[i-1])-1].Return {
				t.Fatalf("piece %d does not start with a reset between the cut read and its first call: %+v", i, r)
			}
		}
	}
}

func TestBoundUnknown(t *testing.T) {
	unk := func(sess int64, call int64) porcupine.Operation {
		return porcupine.Operation{Input: regInput{key: "r", set: true, sess: sess}, Output: regOutput{kind: outUnknown}, Call: call, Return: math.MaxInt64}
	}
	ops := []porcupine.Operation{unk(1, 5), unk(2, 5), unk(3, 5)}
	all := []opRecord{
		{session: 1, call: 3, ret: 4},   // before: no bound from it
		{session: 1, call: 5, ret: -1},  // the unknown Set itself
		{session: 1, call: 20, ret: 90}, // the next call...
		{session: 1, call: 30, ret: 40}, // ...and a later one that returned first
		{session: 1, call: 95, ret: 99},
		{session: 3, call: 50, ret: 60},
	}
	ended := map[int64]time.Duration{2: 70, 3: 55}
	boundUnknown(ops, all, ended, 1000)
	for i, want := range []int64{40 + 1000, 70 + 1000, 55 + 1000} {
		if ops[i].Return != want {
			t.Fatalf("op %d: bound %d, want %d", i, ops[i].Return, want)
		}
	}
	// No later call and no end: no bound.
	ops = []porcupine.Operation{unk(9, 5)}
	boundUnknown(ops, all, ended, 1000)
	if ops[0].Return != math.MaxInt64 {
		t.Fatalf("bound %d for a session with nothing after the call", ops[0].Return)
	}
}

func TestForkedRegisters(t *testing.T) {
	set := func(key string, data string, kind int, version int32) porcupine.Operation {
		return porcupine.Operation{Input: regInput{key: key, set: true, data: data}, Output: regOutput{kind: kind, version: version}}
	}
	ops := []porcupine.Operation{
		set("/r0", "a", outOK, 1), set("/r0", "b", outBad, 0), set("/r0", "c", outOK, 2),
		set("/r1", "d", outOK, 1), set("/r1", "e", outUnknown, 0), set("/r1", "f", outOK, 1), // /r1 v1 twice
		set("/r2", "g", outOK, 1),
	}
	forks := forkedRegisters(ops)
	if len(forks) != 1 || forks["/r1"] == nil || forks["/r1"].version != 1 {
		t.Fatalf("forks %v, want /r1 at version 1", forks)
	}
	if s := forks["/r1"].String(); !strings.Contains(s, `"d"`) || !strings.Contains(s, `"f"`) {
		t.Fatalf("fork report %q names neither write", s)
	}
}

// TestUnjudgedByDivergence: when the members disagree at the end, only the
// checks of the nodes concerned go unjudged: the register itself (not one
// whose name merely starts the same), and the sequential-node checks when
// a sequential node is concerned.
func TestUnjudgedByDivergence(t *testing.T) {
	u := unjudgedByDivergence([]string{
		regPath + "/r1: member 0: v5 \"a\"; member 1: v4 \"b\"",
	})
	for msg, want := range map[string]bool{
		regPath + "/r1: final version 5, but 6 Sets were acknowledged: an acknowledged write was lost": true,
		"session 0x1 saw " + regPath + "/r1 at version 3 after version 4 (get)":                        true,
		"session 0x1: one-shot watch on " + regPath + "/r1":                                            true,
		regPath + "/r10: final data \"x\" was written by no Set":                                       false,
		"acknowledged create " + seqName + "0000000005 (c1-5) is gone":                                 false,
		"heap grew from 1 to 2 bytes":                                                                  false,
	} {
		if got := u.covers(msg) != ""; got != want {
			t.Errorf("register divergence: covers(%q) = %v, want %v", msg, got, want)
		}
	}
	u = unjudgedByDivergence([]string{seqName + "0000000007: member 0: v0 \"c\"; member 2: (missing)"})
	for msg, want := range map[string]bool{
		"acknowledged create " + seqName + "0000000005 (c1-5) is gone":                                              true,
		"session 0x2: while connected, the stream went from " + seqName + "0000000006 to " + seqName + "0000000008": true,
		regPath + "/r1: final version 5, but 6 Sets were acknowledged":                                              false,
		"live session 0x3: its ephemeral node " + ephPath + "/e is gone":                                            false,
	} {
		if got := u.covers(msg) != ""; got != want {
			t.Errorf("sequential divergence: covers(%q) = %v, want %v", msg, got, want)
		}
	}
}

// TestCheckLinearizableManyRegisters: checked piece by piece with a few
// workers, a history of many registers is linearizable exactly when each
// register's is; one bad register anywhere makes it Illegal.
func TestCheckLinearizableManyRegisters(t *testing.T) {
	history := func(bad int) []porcupine.Operation {
		var ops []porcupine.Operation
		for i := range 500 {
			key := fmt.Sprintf("r%d", i)
			ops = append(ops,
				porcupine.Operation{ClientId: 0, Input: regInput{key: key, set: true, expect: 0, data: "a"},
					Output: regOutput{kind: outOK, version: 1}, Call: 0, Return: 10},
				porcupine.Operation{ClientId: 1, Input: regInput{key: key},
					Output: regOutput{kind: outRead, version: 1, data: "a"}, Call: 20, Return: 30})
			if i == bad { // a read of the state before the acknowledged write
				ops = append(ops, porcupine.Operation{ClientId: 1, Input: regInput{key: key},
					Output: regOutput{kind: outRead, version: 0, data: initialData}, Call: 40, Return: 50})
			}
		}
		return ops
	}
	for _, tc := range []struct {
		bad  int
		want porcupine.CheckResult
	}{{-1, porcupine.Ok}, {0, porcupine.Illegal}, {499, porcupine.Illegal}} {
		if got := checkLinearizable(registerModel(), history(tc.bad), time.Minute); got != tc.want {
			t.Errorf("bad register %d: got %v, want %v", tc.bad, resultName(got), resultName(tc.want))
		}
	}
}

// TestJudgeSeqCreates: each way the final sequential nodes can contradict
// the creates is a violation, except the one fork ZooKeeper was seen to make
// (an acknowledged create's name holding an unknown-outcome create's data,
// the acknowledged data nowhere), which is reported as a server anomaly.
func TestJudgeSeqCreates(t *testing.T) {
	name := func(n int) string { return fmt.Sprintf("n-%010d", n) }
	full := func(n int) string { return seqPath + "/" + name(n) }
	attempted := map[string]bool{"c1-1": true, "c1-2": true, "c2-1": true, "c2-2": true}
	for _, tc := range []struct {
		label      string
		found      map[string]string // name -> data
		created    map[string]string // acknowledged path -> id
		violations []string          // a substring of each violation, in order
		anomaly    bool
	}{
		{"all in place", map[string]string{name(1): "c1-1", name(2): "c2-1"},
			map[string]string{full(1): "c1-1", full(2): "c2-1"}, nil, false},
		{"an unknown outcome that happened", map[string]string{name(1): "c1-1", name(2): "c2-2"},
			map[string]string{full(1): "c1-1"}, nil, false},
		{"acknowledged and gone", map[string]string{name(1): "c1-1"},
			map[string]string{full(1): "c1-1", full(2): "c2-1"}, []string{"(c2-1) is gone"}, false},
		{"written by no create", map[string]string{name(1): "c1-1", name(2): "x-9"},
			map[string]string{full(1): "c1-1"}, []string{`holds "x-9", which no create wrote`}, false},
		{"happened twice", map[string]string{name(1): "c1-1", name(2): "c1-1"},
			map[string]string{full(1): "c1-1"}, []string{"create c1-1 happened twice"}, false},
		{"two acknowledged creates swapped", map[string]string{name(1): "c2-1", name(3): "c1-1"},
			map[string]string{full(1): "c1-1", full(3): "c2-1"},
			[]string{`(c1-1) holds "c2-1" (an acknowledged create) instead; c1-1 is in`, `(c2-1) holds "c1-1" (an acknowledged create) instead; c2-1 is in`}, false},
		{"an unknown create's data, the acknowledged one elsewhere", map[string]string{name(2): "c2-1", name(3): "c2-2"},
			map[string]string{full(2): "c2-2"},
			[]string{`(c2-2) holds "c2-1" (a create whose outcome was unknown) instead; c2-2 is in`}, false},
		{"fork: an unknown create's data, the acknowledged one nowhere", map[string]string{name(1): "c1-1", name(2): "c2-1"},
			map[string]string{full(1): "c1-1", full(2): "c2-2"}, nil, true},
	} {
		t.Run(tc.label, func(t *testing.T) {
			v := &violations{}
			j := judgeSeqCreates(seqPath, tc.found, attempted, tc.created, v)
			got := v.all()
			sort.Strings(got)
			if len(got) != len(tc.violations) {
				t.Fatalf("violations %q, want %d", got, len(tc.violations))
			}
			for i, want := range tc.violations {
				if !strings.Contains(got[i], want) {
					t.Errorf("violation %q, want one with %q", got[i], want)
				}
			}
			if tc.anomaly != (len(j.anomalies) == 1) || len(j.anomalies) > 1 {
				t.Errorf("anomalies %q, want anomaly %v", j.anomalies, tc.anomaly)
			}
			if len(j.exists) != len(tc.found) || len(j.nums) != len(tc.found) {
				t.Errorf("exists %v, nums %v for %d nodes", j.exists, j.nums, len(tc.found))
			}
		})
	}
}
