package soak

import (
	"fmt"
	"math"
	"testing"

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
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := porcupine.CheckOperationsTimeout(registerModel(), tc.ops, 0); got != tc.want {
				t.Fatalf("got %v, want %v", resultName(got), resultName(tc.want))
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
	leaders.add(0, 0)
	leaders.add(100, -1)
	leaders.add(200, 2)
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
	}
	kept, led := leaderSafe(ops, addrs, leaders, 5)
	if len(kept) != 3 || len(led) != 2 {
		t.Fatalf("kept %d, left out %d; want 3 and 2", len(kept), len(led))
	}
	if stale := staleReads(ops, led); len(stale) != 1 {
		t.Fatalf("stale reads %q, want one", stale)
	}
	if stale := staleReads(ops, kept); len(stale) != 0 {
		t.Fatalf("stale reads %q among the kept ones", stale)
	}
}
