package testserver

import (
	"encoding/binary"
	"testing"

	"github.com/zkgo/zk/internal/proto"
)

func TestMultiSuccess(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	c.create("/m", nil, 0)
	c.create("/m/s", []byte("old"), 0)
	c.create("/m/d", nil, 0)
	req := &proto.MultiRequest{Ops: []proto.MultiOp{
		{Type: proto.OpCreate, Req: createReq("/m/a", nil, 0)},
		{Type: proto.OpCreate2, Req: createReq("/m/b", nil, 0)},
		{Type: proto.OpCreateContainer, Req: createReq("/m/c", nil, proto.FlagContainer)},
		{Type: proto.OpCreate, Req: createReq("/m/c2", nil, proto.FlagContainer)},
		{Type: proto.OpCreateTTL, Req: &proto.CreateRequest{Path: "/m/t", ACL: openACL, Flags: proto.FlagPersistentWithTTL, TTL: 60000, IsTTL: true}},
		{Type: proto.OpSetData, Req: &proto.SetDataRequest{Path: "/m/s", Data: []byte("new"), Version: 0}},
		// The check sees the multi's own earlier change: version 1.
		{Type: proto.OpCheck, Req: &proto.PathVersionRequest{Path: "/m/s", Version: 1}},
		{Type: proto.OpDelete, Req: &proto.PathVersionRequest{Path: "/m/d", Version: -1}},
		// A later op may use a node an earlier one created.
		{Type: proto.OpCreate, Req: createReq("/m/a/x", nil, 0)},
	}}
	var resp proto.MultiResponse
	xid := c.send(proto.OpMulti, req)
	h := c.await(xid, &resp)
	eq(t, "outer err", h.Err, int32(0))
	z := h.Zxid
	eq(t, "one zxid for the multi", z, s.Zxid())

	var types []int32
	for _, r := range resp.Results {
		types = append(types, r.Type)
	}
	// §18: create2 answers as create; containers and TTL nodes as create2.
	eq(t, "result types", types, []int32{1, 1, 15, 15, 15, 5, 13, 2, 1})
	eq(t, "paths", []string{resp.Results[0].Path, resp.Results[1].Path, resp.Results[2].Path, resp.Results[3].Path, resp.Results[4].Path},
		[]string{"/m/a", "/m/b", "/m/c", "/m/c2", "/m/t"})
	eq(t, "container czxid", resp.Results[2].Stat.Czxid, z)
	eq(t, "setData stat", [2]int64{resp.Results[5].Stat.Mzxid, int64(resp.Results[5].Stat.Version)}, [2]int64{z, 1})
	for _, p := range []string{"/m/a", "/m/b", "/m/c", "/m/c2", "/m/t", "/m/a/x"} {
		_, st, ok := s.Get(p)
		if !ok || st.Czxid != z {
			t.Fatalf("%s: exists %v czxid %d, want %d", p, ok, st.Czxid, z)
		}
	}
	if _, _, ok := s.Get("/m/d"); ok {
		t.Fatal("/m/d not deleted")
	}
	data, _, _ := s.Get("/m/s")
	eq(t, "data set", string(data), "new")
}

func TestMultiFailure(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	c.create("/f", nil, 0)
	c.create("/f/x", nil, 0)
	req := &proto.MultiRequest{Ops: []proto.MultiOp{
		{Type: proto.OpCreate, Req: createReq("/f/seq-", nil, proto.FlagPersistentSequential)},
		{Type: proto.OpCreate, Req: createReq("/f", nil, 0)}, // exists
		{Type: proto.OpDelete, Req: &proto.PathVersionRequest{Path: "/f/x", Version: -1}},
	}}
	z := s.Zxid()
	c.xid++
	c.sendXid(c.xid, proto.OpMulti, req)
	b := c.frame()
	// Exactly the bytes of §18: outer err 0; {-1,false,0}+0,
	// {-1,false,-110}+-110, {-1,false,-2}+-2, then {-1,true,-1}.
	want := binary.BigEndian.AppendUint32(nil, uint32(c.xid))
	want = binary.BigEndian.AppendUint64(want, uint64(z+1))
	want = append(want, 0, 0, 0, 0)
	for _, code := range []int32{0, -110, -2} {
		want = append(want, 0xff, 0xff, 0xff, 0xff, 0)
		want = binary.BigEndian.AppendUint32(want, uint32(code))
		want = binary.BigEndian.AppendUint32(want, uint32(code))
	}
	want = append(want, 0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff)
	eq(t, "failed multi bytes", b, want)

	// Nothing applied, the failed create's sequence number not consumed.
	kids, _ := s.Children("/f")
	eq(t, "children", kids, []string{"x"})
	eq(t, "next sequential", c.create("/f/seq-", nil, proto.FlagPersistentSequential), "/f/seq-0000000001")

	// Read ops in a multi are a decode error.
	bad := &proto.MultiRequest{Ops: []proto.MultiOp{{Type: proto.OpGetData, Req: &proto.PathWatchRequest{Path: "/f"}}}}
	eq(t, "read op in multi", c.call(proto.OpMulti, bad, nil), proto.ErrMarshallingError)
	// An empty multi succeeds with no results.
	var resp proto.MultiResponse
	c.mustCall(0, proto.OpMulti, &proto.MultiRequest{}, &resp)
	eq(t, "empty multi results", len(resp.Results), 0)
}

func TestMultiRead(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	w := connect(t, s.Addr(0), long)
	c.create("/r", []byte("d"), 0)
	c.create("/r/k", nil, 0)
	req := &proto.MultiRequest{Ops: []proto.MultiOp{
		{Type: proto.OpGetData, Req: &proto.PathWatchRequest{Path: "/r", Watch: true}},
		{Type: proto.OpGetChildren, Req: &proto.PathWatchRequest{Path: "/missing"}},
		{Type: proto.OpGetChildren, Req: &proto.PathWatchRequest{Path: "/r"}},
		{Type: proto.OpGetData, Req: &proto.PathWatchRequest{Path: "/r/k"}},
	}}
	var resp proto.MultiResponse
	c.mustCall(0, proto.OpMultiRead, req, &resp)
	eq(t, "results", len(resp.Results), 4)
	eq(t, "getData", [2]any{resp.Results[0].Type, string(resp.Results[0].Data)}, [2]any{proto.OpGetData, "d"})
	eq(t, "failed op", [2]int32{resp.Results[1].Type, resp.Results[1].Err}, [2]int32{proto.OpError, proto.ErrNoNode})
	eq(t, "getChildren", resp.Results[2].Children, []string{"k"})
	if resp.Results[3].Data != nil {
		t.Fatal("null data not null in multiRead")
	}
	// The watch asked for inside multiRead is set.
	w.setData("/r", nil, -1)
	c.expectEvent(proto.EventNodeDataChanged, "/r")

	bad := &proto.MultiRequest{Ops: []proto.MultiOp{{Type: proto.OpDelete, Req: &proto.PathVersionRequest{Path: "/r/k", Version: -1}}}}
	eq(t, "write op in multiRead", c.call(proto.OpMultiRead, bad, nil), proto.ErrMarshallingError)
	if _, _, ok := s.Get("/r/k"); !ok {
		t.Fatal("multiRead deleted a node")
	}
}

func TestMultiRollback(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	w := connect(t, s.Addr(0), long)
	c.create("/f", nil, 0)
	c.create("/f/x", []byte("old"), proto.FlagEphemeral)
	_, before, _ := s.Get("/f")
	w.getData("/f/x", true)
	w.children("/f", true)
	req := &proto.MultiRequest{Ops: []proto.MultiOp{
		{Type: proto.OpSetData, Req: &proto.SetDataRequest{Path: "/f/x", Data: []byte("new"), Version: -1}},
		{Type: proto.OpDelete, Req: &proto.PathVersionRequest{Path: "/f/x", Version: 1}},
		{Type: proto.OpCreate, Req: createReq("/f/y", nil, 0)},
		{Type: proto.OpCheck, Req: &proto.PathVersionRequest{Path: "/f/x", Version: 0}}, // gone by now
	}}
	var resp proto.MultiResponse
	c.mustCall(0, proto.OpMulti, req, &resp)
	eq(t, "failing op", [2]int32{resp.Results[3].Type, resp.Results[3].Err}, [2]int32{proto.OpError, proto.ErrNoNode})
	data, st, ok := s.Get("/f/x")
	eq(t, "restored node", [3]any{string(data), st.Version, ok}, [3]any{"old", int32(0), true})
	eq(t, "ephemeral restored", s.Ephemerals(c.sessionID), []string{"/f/x"})
	_, after, _ := s.Get("/f")
	eq(t, "parent stat restored", after, before)
	kids, _ := s.Children("/f")
	eq(t, "children", kids, []string{"x"})
	w.expectNoEvents()
}
