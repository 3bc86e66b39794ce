package testserver

import (
	"testing"
	"time"

	"github.com/zkgo/zk/internal/proto"
)

func TestCreateGetSetDelete(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	z := s.Zxid()
	before := time.Now().UnixMilli()

	cr := c.create2("/a", []byte("hello"), 0)
	eq(t, "created path", cr.Path, "/a")
	st := cr.Stat
	want := proto.Stat{Czxid: z + 1, Mzxid: z + 1, Ctime: st.Ctime, Mtime: st.Ctime, DataLength: 5, Pzxid: z + 1}
	eq(t, "stat after create", st, want)
	if st.Ctime < before || st.Ctime > time.Now().UnixMilli() {
		t.Fatalf("ctime %d not in [%d, now]", st.Ctime, before)
	}
	eq(t, "reply zxid", c.lastZxid, z+1)

	gd, code := c.getData("/a", false)
	eq(t, "getData err", code, int32(0))
	eq(t, "data", string(gd.Data), "hello")
	eq(t, "getData stat", gd.Stat, st)

	st2, code := c.setData("/a", []byte("bye"), 0)
	eq(t, "setData err", code, int32(0))
	eq(t, "version", st2.Version, int32(1))
	eq(t, "mzxid", st2.Mzxid, z+2)
	eq(t, "czxid kept", st2.Czxid, z+1)
	eq(t, "dataLength", st2.DataLength, int32(3))

	// A failed write is still a transaction: it takes a zxid (the real
	// server logs an error txn), and the reply carries it.
	_, code = c.setData("/a", []byte("x"), 0)
	eq(t, "setData bad version", code, proto.ErrBadVersion)
	eq(t, "zxid after failed write", s.Zxid(), z+3)

	c.create("/a/b", nil, 0)
	_, pst, _ := c.children("/a", false)
	eq(t, "parent numChildren", pst.NumChildren, int32(1))
	eq(t, "parent cversion", pst.Cversion, int32(1))
	eq(t, "parent pzxid", pst.Pzxid, z+4)
	eq(t, "parent mzxid unchanged", pst.Mzxid, z+2)

	eq(t, "delete non-empty", c.delete("/a", -1), proto.ErrNotEmpty)
	eq(t, "delete bad version", c.delete("/a/b", 5), proto.ErrBadVersion)
	eq(t, "delete", c.delete("/a/b", 0), int32(0))
	_, pst, _ = c.children("/a", false)
	eq(t, "parent after delete", [3]int64{int64(pst.NumChildren), int64(pst.Cversion), pst.Pzxid}, [3]int64{0, 2, s.Zxid()})
	_, code = c.getData("/a/b", false)
	eq(t, "getData deleted", code, proto.ErrNoNode)
	eq(t, "delete with version", c.delete("/a", 1), int32(0))
	if _, _, ok := s.Get("/a"); ok {
		t.Fatal("/a still exists")
	}

	// exists answers the stat, or -101 with no body.
	_, code = c.exists("/a", false)
	eq(t, "exists missing", code, proto.ErrNoNode)
	rst, code := c.exists("/", false)
	eq(t, "exists /", code, int32(0))
	// One create of /a: 2*1 - 1 child (zookeeper).
	eq(t, "root cversion", rst.Cversion, int32(1))
}

func TestReservedNodes(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	rst, _ := c.exists("/", false)
	eq(t, "fresh root cversion (the reserved child is not counted)", rst.Cversion, int32(-1))
	zst, _ := c.exists("/zookeeper", false)
	eq(t, "/zookeeper stat", zst, proto.Stat{Cversion: -2, NumChildren: 2})
	kids, _, code := c.children("/", false)
	eq(t, "getChildren(/)", [2]any{kids, code}, [2]any{[]string{"zookeeper"}, int32(0)})
	kids, _, _ = c.children("/zookeeper", false)
	eq(t, "getChildren(/zookeeper)", kids, []string{"config", "quota"})
	for _, p := range []string{"/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"} {
		eq(t, "delete "+p, c.delete(p, -1), proto.ErrBadArguments)
	}
	var acl proto.GetACLResponse
	c.mustCall(0, proto.OpGetACL, &proto.PathRequest{Path: "/zookeeper/config"}, &acl)
	eq(t, "config ACL", acl.ACL, readACL)
	_, code = c.setData("/zookeeper/config", []byte("x"), -1)
	eq(t, "setData config", code, proto.ErrNoAuth)
	var n proto.IntResponse
	c.mustCall(0, proto.OpGetAllChildrenNumber, &proto.PathRequest{Path: "/"}, &n)
	eq(t, "all children of /", n.Value, int32(3))
}

func TestCreateErrors(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	c.create("/a", nil, 0)
	c.create("/e", nil, proto.FlagEphemeral)
	tests := []struct {
		name string
		op   int32
		req  *proto.CreateRequest
		want int32
	}{
		{"missing parent", proto.OpCreate, createReq("/x/y", nil, 0), proto.ErrNoNode},
		{"exists", proto.OpCreate, createReq("/a", nil, 0), proto.ErrNodeExists},
		{"create /", proto.OpCreate, createReq("/", nil, 0), proto.ErrNodeExists},
		{"child of ephemeral", proto.OpCreate, createReq("/e/c", nil, 0), proto.ErrNoChildrenForEphemerals},
		{"no slash", proto.OpCreate, createReq("a", nil, 0), proto.ErrBadArguments},
		{"NUL", proto.OpCreate, createReq("/a/\x00", nil, 0), proto.ErrBadArguments},
		{"trailing slash", proto.OpCreate, createReq("/a/", nil, 0), proto.ErrBadArguments},
		{"dot", proto.OpCreate, createReq("/a/.", nil, 0), proto.ErrBadArguments},
		{"dot dot", proto.OpCreate, createReq("/a/..", nil, 0), proto.ErrBadArguments},
		{"control char", proto.OpCreate, createReq("/a/\x01", nil, 0), proto.ErrBadArguments},
		{"C1 control", proto.OpCreate, createReq("/a/\u0085", nil, 0), proto.ErrBadArguments},
		{"private use", proto.OpCreate, createReq("/a/\ue000", nil, 0), proto.ErrBadArguments},
		{"non-BMP", proto.OpCreate, createReq("/a/\U0001F600", nil, 0), proto.ErrBadArguments},
		{"invalid UTF-8", proto.OpCreate, createReq("/a/\xff", nil, 0), proto.ErrBadArguments},
		// The parent is looked up before the full path check.
		{"empty segment, parent missing", proto.OpCreate, createReq("/a//b", nil, 0), proto.ErrNoNode},
		{"bad flags", proto.OpCreate, createReq("/a/f", nil, 7), proto.ErrBadArguments},
		{"negative flags", proto.OpCreate, createReq("/a/f", nil, -1), proto.ErrBadArguments},
		{"TTL flag on create", proto.OpCreate, createReq("/a/f", nil, proto.FlagPersistentWithTTL), proto.ErrBadArguments},
		{"empty ACL", proto.OpCreate, &proto.CreateRequest{Path: "/a/f", ACL: []proto.ACL{}}, proto.ErrInvalidACL},
		{"null ACL", proto.OpCreate, &proto.CreateRequest{Path: "/a/f"}, proto.ErrInvalidACL},
		{"world:someone", proto.OpCreate, &proto.CreateRequest{Path: "/a/f", ACL: []proto.ACL{{Perms: 31, Id: proto.Id{Scheme: "world", ID: "someone"}}}}, proto.ErrInvalidACL},
		{"digest without colon", proto.OpCreate, &proto.CreateRequest{Path: "/a/f", ACL: []proto.ACL{{Perms: 31, Id: proto.Id{Scheme: "digest", ID: "user"}}}}, proto.ErrInvalidACL},
		{"auth without credentials", proto.OpCreate, &proto.CreateRequest{Path: "/a/f", ACL: []proto.ACL{{Perms: 31, Id: proto.Id{Scheme: "auth"}}}}, proto.ErrInvalidACL},
		{"ip bits out of range", proto.OpCreate, &proto.CreateRequest{Path: "/a/f", ACL: []proto.ACL{{Perms: 31, Id: proto.Id{Scheme: "ip", ID: "127.0.0.1/33"}}}}, proto.ErrInvalidACL},
		{"unknown scheme", proto.OpCreate, &proto.CreateRequest{Path: "/a/f", ACL: []proto.ACL{{Perms: 31, Id: proto.Id{Scheme: "kerberos", ID: "x"}}}}, proto.ErrInvalidACL},
		// ACLs are checked before the parent.
		{"bad ACL, missing parent", proto.OpCreate, &proto.CreateRequest{Path: "/x/y"}, proto.ErrInvalidACL},
		{"TTL zero", proto.OpCreateTTL, &proto.CreateRequest{Path: "/a/t", ACL: openACL, Flags: proto.FlagPersistentWithTTL, IsTTL: true}, proto.ErrBadArguments},
		{"TTL too big", proto.OpCreateTTL, &proto.CreateRequest{Path: "/a/t", ACL: openACL, Flags: proto.FlagPersistentWithTTL, TTL: proto.MaxTTL + 1, IsTTL: true}, proto.ErrBadArguments},
		{"createTTL without TTL mode", proto.OpCreateTTL, &proto.CreateRequest{Path: "/a/t", ACL: openACL, TTL: 100, IsTTL: true}, proto.ErrBadArguments},
	}
	for _, tt := range tests {
		before := s.Zxid()
		if got := c.call(tt.op, tt.req, nil); got != tt.want {
			t.Errorf("%s: err %d, want %d", tt.name, got, tt.want)
		}
		eq(t, tt.name+": zxid taken", s.Zxid(), before+1)
	}
	kids, _ := s.Children("/a")
	eq(t, "nothing created under /a", len(kids), 0)

	// Allowed oddities: a sequential create of a path ending in "/" and a
	// name that is not ASCII.
	eq(t, "sequential trailing slash", c.create("/a/", nil, proto.FlagPersistentSequential), "/a/0000000000")
	eq(t, "non-ASCII name", c.create("/a/é", nil, 0), "/a/é")
	c.mustCall(0, proto.OpCreate, &proto.CreateRequest{Path: "/a/ip", ACL: []proto.ACL{{Perms: 31, Id: proto.Id{Scheme: "ip", ID: "10.0.0.0/8"}}}}, nil)
}

func TestExtendedTypesOff(t *testing.T) {
	s := start(t, WithExtendedTypes(false))
	c := connect(t, s.Addr(0), long)
	eq(t, "createTTL", c.call(proto.OpCreateTTL, &proto.CreateRequest{Path: "/t", ACL: openACL, Flags: proto.FlagPersistentWithTTL, TTL: 100, IsTTL: true}, nil), proto.ErrUnimplemented)
	eq(t, "create with flag 5", c.call(proto.OpCreate, createReq("/t", nil, proto.FlagPersistentWithTTL), nil), proto.ErrUnimplemented)
	c.ping() // the connection stays open
	// Containers need no setting.
	resp := proto.CreateResponse{HasStat: true}
	c.mustCall(0, proto.OpCreateContainer, createReq("/c", nil, proto.FlagContainer), &resp)
	eq(t, "container path", resp.Path, "/c")
}

func TestSequentialSuffix(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	c.create("/q", nil, 0)
	eq(t, "first", c.create("/q/lock-", nil, proto.FlagPersistentSequential), "/q/lock-0000000000")
	eq(t, "second", c.create("/q/lock-", nil, proto.FlagEphemeralSequential), "/q/lock-0000000001")
	eq(t, "delete", c.delete("/q/lock-0000000000", -1), int32(0))
	eq(t, "delete", c.delete("/q/lock-0000000001", -1), int32(0))
	st, _ := c.exists("/q", false)
	eq(t, "reported cversion counts creates and deletes", st.Cversion, int32(4))
	// §11.3: the suffix counts creates only.
	eq(t, "third", c.create("/q/lock-", nil, proto.FlagPersistentSequential), "/q/lock-0000000002")
	// Every child create consumes a number, sequential or not.
	c.create("/q/plain", nil, 0)
	eq(t, "after a plain child", c.create("/q/", nil, proto.FlagPersistentSequential), "/q/0000000004")
	// A failed create consumes nothing.
	eq(t, "failed create", c.call(proto.OpCreate, createReq("/q/plain", nil, 0), nil), proto.ErrNodeExists)
	eq(t, "after a failure", c.create("/q/x-", nil, proto.FlagPersistentSequential), "/q/x-0000000005")
	// Sequential children of the root.
	eq(t, "root sequential", c.create("/", nil, proto.FlagPersistentSequential), "/0000000001")
}

func TestNullData(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	c.create("/null", nil, 0)
	c.create("/empty", []byte{}, 0)
	gd, _ := c.getData("/null", false)
	if gd.Data != nil {
		t.Fatalf("null data came back as %q", gd.Data)
	}
	eq(t, "dataLength of null", gd.Stat.DataLength, int32(0))
	gd, _ = c.getData("/empty", false)
	if gd.Data == nil {
		t.Fatal("empty data came back null")
	}
	// setData with null makes it null again.
	c.setData("/empty", nil, -1)
	gd, _ = c.getData("/empty", false)
	if gd.Data != nil {
		t.Fatalf("data set to null came back as %q", gd.Data)
	}
	if data, _, ok := s.Get("/null"); !ok || data != nil {
		t.Fatalf("Get(/null) = %q, %v", data, ok)
	}
}

func TestSetACLAndGetACL(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	c.create("/n", nil, 0)
	dup := []proto.ACL{openACL[0], openACL[0], readACL[0]}
	var st proto.StatResponse
	c.mustCall(0, proto.OpSetACL, &proto.SetACLRequest{Path: "/n", ACL: dup, Version: 0}, &st)
	eq(t, "aversion", st.Stat.Aversion, int32(1))
	var acl proto.GetACLResponse
	c.mustCall(0, proto.OpGetACL, &proto.PathRequest{Path: "/n"}, &acl)
	eq(t, "duplicates removed", acl.ACL, []proto.ACL{openACL[0], readACL[0]})
	eq(t, "stale aversion", c.call(proto.OpSetACL, &proto.SetACLRequest{Path: "/n", ACL: openACL, Version: 0}, nil), proto.ErrBadVersion)
	eq(t, "setACL invalid path", c.call(proto.OpSetACL, &proto.SetACLRequest{Path: "/n/", ACL: openACL, Version: -1}, nil), proto.ErrBadArguments)
	eq(t, "setACL empty", c.call(proto.OpSetACL, &proto.SetACLRequest{Path: "/n", ACL: nil, Version: -1}, nil), proto.ErrInvalidACL)
	eq(t, "setACL missing", c.call(proto.OpSetACL, &proto.SetACLRequest{Path: "/m", ACL: openACL, Version: -1}, nil), proto.ErrNoNode)
	eq(t, "getACL missing", c.call(proto.OpGetACL, &proto.PathRequest{Path: "/m"}, nil), proto.ErrNoNode)
	// Read-only ACL: writes are refused.
	c.mustCall(0, proto.OpSetACL, &proto.SetACLRequest{Path: "/n", ACL: readACL, Version: -1}, nil)
	_, code := c.setData("/n", nil, -1)
	eq(t, "setData without WRITE", code, proto.ErrNoAuth)
	eq(t, "create without CREATE", c.call(proto.OpCreate, createReq("/n/x", nil, 0), nil), proto.ErrNoAuth)
	eq(t, "setACL without ADMIN", c.call(proto.OpSetACL, &proto.SetACLRequest{Path: "/n", ACL: openACL, Version: -1}, nil), proto.ErrNoAuth)
}

func TestCheckAlone(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	c.create("/a", nil, 0)
	z := s.Zxid()
	eq(t, "failing check", c.call(proto.OpCheck, &proto.PathVersionRequest{Path: "/a", Version: 3}, nil), proto.ErrBadVersion)
	eq(t, "missing node", c.call(proto.OpCheck, &proto.PathVersionRequest{Path: "/b", Version: -1}, nil), proto.ErrNoNode)
	eq(t, "zxids taken by failed checks", s.Zxid(), z+2)
	// A check that passes: no reply, the connection is closed.
	c.send(proto.OpCheck, &proto.PathVersionRequest{Path: "/a", Version: 0})
	c.expectEOF()
	eq(t, "nothing committed", s.Zxid(), z+2)
}

func TestUnknownOpcode(t *testing.T) {
	for _, op := range []int32{99, proto.OpNotification, proto.OpCreateSession, 10} {
		s := start(t)
		c := connect(t, s.Addr(0), long)
		c.create("/a", nil, 0)
		xid := c.send(op, nil)
		h := c.await(xid, nil)
		eq(t, "reply to unknown op", h, proto.ReplyHeader{Xid: xid, Zxid: -1, Err: proto.ErrUnimplemented})
		c.expectEOF()
		eq(t, "session survives", len(s.Sessions()), 1)
	}
}

func TestMalformedBody(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	// getData whose path length runs past the frame: -5, the connection stays.
	c.xid++
	c.writeRaw([]byte{0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 9})
	eq(t, "malformed getData", c.await(1, nil).Err, proto.ErrMarshallingError)
	c.ping()
}

func TestReconfigRefused(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	z := s.Zxid()
	eq(t, "reconfig", c.call(proto.OpReconfig, &proto.ReconfigRequest{CurConfigID: -1}, nil), proto.ErrReconfigDisabled)
	eq(t, "zxid", s.Zxid(), z+1)
	c.ping()
}

func TestSmallOps(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	other := connect(t, s.Addr(0), long)
	c.create("/a", nil, 0)
	c.create("/a/e1", nil, proto.FlagEphemeral)
	c.create("/a/b", nil, 0)
	c.create("/a/b/e2", nil, proto.FlagEphemeral)
	c.create("/z", nil, proto.FlagEphemeral)
	other.create("/o", nil, proto.FlagEphemeral)

	var sr proto.PathRequest
	c.mustCall(0, proto.OpSync, &proto.PathRequest{Path: "/whatever"}, &sr)
	eq(t, "sync echo", sr.Path, "/whatever")

	eph := func(prefix string) []string {
		var r proto.ChildrenResponse
		c.mustCall(0, proto.OpGetEphemerals, &proto.PathRequest{Path: prefix}, &r)
		return r.Children
	}
	eq(t, "all ephemerals", eph(""), []string{"/a/b/e2", "/a/e1", "/z"})
	eq(t, "ephemerals of /", eph(" / "), []string{"/a/b/e2", "/a/e1", "/z"})
	eq(t, "prefix /a/b", eph("/a/b"), []string{"/a/b/e2"})
	eq(t, "string prefix", eph("/a/e"), []string{"/a/e1"})
	eq(t, "Ephemerals control", s.Ephemerals(c.sessionID), []string{"/a/b/e2", "/a/e1", "/z"})

	var n proto.IntResponse
	c.mustCall(0, proto.OpGetAllChildrenNumber, &proto.PathRequest{Path: "/a"}, &n)
	eq(t, "descendants of /a", n.Value, int32(3))
	eq(t, "descendants of missing", c.call(proto.OpGetAllChildrenNumber, &proto.PathRequest{Path: "/nope"}, nil), proto.ErrNoNode)

	var who proto.WhoAmIResponse
	c.mustCall(0, proto.OpWhoAmI, nil, &who)
	eq(t, "whoAmI", who.Info, []proto.ClientInfo{{AuthScheme: "ip", User: "127.0.0.1"}})

	var resp proto.ChildrenResponse
	c.mustCall(0, proto.OpGetChildren, &proto.PathWatchRequest{Path: "/a"}, &resp)
	eq(t, "getChildren", resp.Children, []string{"b", "e1"})
	eq(t, "getChildren missing", c.call(proto.OpGetChildren, &proto.PathWatchRequest{Path: "/nope"}, nil), proto.ErrNoNode)
	eq(t, "exists with NUL", c.call(proto.OpExists, &proto.PathWatchRequest{Path: "/a\x00"}, nil), proto.ErrBadArguments)
}

func TestSASLAndDeleteContainer(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	// No SASL configured: OK, zxid 0, a null token.
	xid := c.send(proto.OpSASL, &bufferRecord{B: []byte("token")})
	var tok bufferRecord
	h := c.await(xid, &tok)
	eq(t, "sasl reply", h, proto.ReplyHeader{Xid: xid})
	if tok.B != nil {
		t.Fatalf("token %q, want null", tok.B)
	}

	c.mustCall(0, proto.OpCreateContainer, createReq("/c", nil, proto.FlagContainer), nil)
	c.create("/c/k", nil, 0)
	c.create("/e", nil, proto.FlagEphemeral)
	del := func(p string) int32 { return c.call(proto.OpDeleteContainer, &bufferRecord{B: []byte(p)}, nil) }
	eq(t, "with children", del("/c"), proto.ErrNotEmpty)
	eq(t, "ephemeral", del("/e"), proto.ErrBadVersion)
	eq(t, "missing", del("/m"), proto.ErrNoNode)
	eq(t, "reserved", del("/zookeeper"), proto.ErrBadArguments)
	eq(t, "child", del("/c/k"), int32(0))
	eq(t, "container", del("/c"), int32(0))
}
