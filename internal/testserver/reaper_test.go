package testserver

import (
	"testing"
	"time"

	"github.com/zkgo/zk/internal/proto"
)

func TestContainerReaped(t *testing.T) {
	s := start(t, WithTickTime(20*time.Millisecond))
	c := connect(t, s.Addr(0), long)
	w := connect(t, s.Addr(0), long)
	resp := proto.CreateResponse{HasStat: true}
	c.mustCall(0, proto.OpCreateContainer, createReq("/c", nil, proto.FlagContainer), &resp)
	eq(t, "container ephemeralOwner", resp.Stat.EphemeralOwner, int64(0))
	c.mustCall(0, proto.OpCreateContainer, createReq("/never", nil, proto.FlagContainer), nil)
	// Outside a multi, create with the container flag makes a plain node.
	c.create("/plain", nil, proto.FlagContainer)
	c.create("/c/x", nil, 0)
	w.exists("/c", true)
	c.delete("/c/x", -1)
	w.expectEvent(proto.EventNodeDeleted, "/c")
	// The reaper pass that took /c saw the others: a container that never
	// had a child stays, and so does a plain node.
	for _, p := range []string{"/never", "/plain"} {
		if _, _, ok := s.Get(p); !ok {
			t.Errorf("%s reaped", p)
		}
	}
}

func TestTTLReaped(t *testing.T) {
	s := start(t, WithTickTime(20*time.Millisecond))
	c := connect(t, s.Addr(0), long)
	w := connect(t, s.Addr(0), long)
	// The parent and its child are created atomically, so no reaper pass
	// can find the parent empty.
	c.mustCall(0, proto.OpMulti, &proto.MultiRequest{Ops: []proto.MultiOp{
		{Type: proto.OpCreateTTL, Req: &proto.CreateRequest{Path: "/parent", ACL: openACL, Flags: proto.FlagPersistentWithTTL, TTL: 1, IsTTL: true}},
		{Type: proto.OpCreate, Req: createReq("/parent/kid", nil, 0)},
	}}, nil)
	// Watch the name before the node exists: the reaper may be quick.
	const name = "/t-0000000001"
	w.mustCall(0, proto.OpAddWatch, &proto.PathTypeRequest{Path: name, Type: proto.AddWatchPersistent}, nil)
	r := proto.CreateResponse{HasStat: true}
	c.mustCall(0, proto.OpCreateTTL, &proto.CreateRequest{Path: "/t-", ACL: openACL, Flags: proto.FlagPersistentSequentialWithTTL, TTL: 1, IsTTL: true}, &r)
	eq(t, "sequential TTL path", r.Path, name)
	eq(t, "TTL ephemeralOwner", r.Stat.EphemeralOwner, int64(0))
	w.expectEvent(proto.EventNodeCreated, name)
	w.expectEvent(proto.EventNodeDeleted, name)
	if _, _, ok := s.Get("/parent"); !ok {
		t.Fatal("TTL node with a child reaped")
	}
}
