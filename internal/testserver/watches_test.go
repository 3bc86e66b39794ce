package testserver

import (
	"testing"

	"github.com/zkgo/zk/internal/proto"
)

func TestWatchFiresOnce(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	w := connect(t, s.Addr(0), long)
	c.create("/w", nil, 0)
	w.getData("/w", true)
	c.setData("/w", []byte("1"), -1)
	w.expectEvent(proto.EventNodeDataChanged, "/w")
	c.setData("/w", []byte("2"), -1)
	w.expectNoEvents()

	// On the writer's own connection the event comes before the reply.
	c.getData("/w", true)
	c.setData("/w", []byte("3"), -1)
	eq(t, "events read before the setData reply", c.events,
		[]proto.WatcherEvent{{Type: proto.EventNodeDataChanged, State: proto.KeeperSyncConnected, Path: "/w"}})
}

func TestExistsWatchOnMissingNode(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	w := connect(t, s.Addr(0), long)
	_, code := w.exists("/n", true)
	eq(t, "exists missing", code, proto.ErrNoNode)
	c.create("/n", nil, 0)
	w.expectEvent(proto.EventNodeCreated, "/n")

	// getData and getChildren on a missing node set no watch.
	w.getData("/m", true)
	w.children("/m", true)
	c.create("/m", nil, 0)
	w.expectNoEvents()
}

func TestChildWatches(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	w := connect(t, s.Addr(0), long)
	c.create("/p", nil, 0)
	w.children("/p", true)
	c.create("/p/x", nil, 0)
	w.expectEvent(proto.EventNodeChildrenChanged, "/p")
	c.setData("/p", []byte("x"), -1) // a data change does not fire a child watch
	w.children("/p", true)
	c.delete("/p/x", -1)
	w.expectEvent(proto.EventNodeChildrenChanged, "/p")
	// Children of the root: the event path is "/".
	w.children("/", true)
	c.create("/r", nil, 0)
	w.expectEvent(proto.EventNodeChildrenChanged, "/")
	w.expectNoEvents()
}

func TestDeleteOneEventPerConnection(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	w := connect(t, s.Addr(0), long)
	c.create("/d", nil, 0)
	w.getData("/d", true)
	w.exists("/d", true)
	w.children("/d", true)
	w.children("/", true)
	c.delete("/d", -1)
	w.expectEvent(proto.EventNodeDeleted, "/d")
	w.expectEvent(proto.EventNodeChildrenChanged, "/")
	w.expectNoEvents()
}

func TestPersistentRecursiveWatch(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	w := connect(t, s.Addr(0), long)
	var er proto.IntResponse
	w.mustCall(0, proto.OpAddWatch, &proto.PathTypeRequest{Path: "/r", Type: proto.AddWatchPersistentRecursive}, &er)
	eq(t, "addWatch body", er.Value, int32(0))
	c.create("/r", nil, 0)
	c.create("/r/a", nil, 0)
	c.create("/r/a/b", nil, 0)
	c.setData("/r/a", []byte("x"), -1)
	c.delete("/r/a/b", -1)
	c.create("/other", nil, 0)
	w.expectEvent(proto.EventNodeCreated, "/r")
	w.expectEvent(proto.EventNodeCreated, "/r/a")
	w.expectEvent(proto.EventNodeCreated, "/r/a/b")
	w.expectEvent(proto.EventNodeDataChanged, "/r/a")
	w.expectEvent(proto.EventNodeDeleted, "/r/a/b")
	w.expectNoEvents() // never NodeChildrenChanged, nothing from /other
	// It stays registered.
	c.setData("/r/a", []byte("y"), -1)
	w.expectEvent(proto.EventNodeDataChanged, "/r/a")
	// Together with a one-shot watch on the same path: one event.
	w.getData("/r/a", true)
	c.setData("/r/a", []byte("z"), -1)
	w.expectEvent(proto.EventNodeDataChanged, "/r/a")
	w.expectNoEvents()
}

func TestPersistentWatch(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	w := connect(t, s.Addr(0), long)
	w.mustCall(0, proto.OpAddWatch, &proto.PathTypeRequest{Path: "/p", Type: proto.AddWatchPersistent}, nil)
	c.create("/p", nil, 0)
	c.create("/p/x", nil, 0)
	c.setData("/p", []byte("1"), -1)
	c.setData("/p/x", []byte("1"), -1) // below the path: nothing
	c.delete("/p/x", -1)
	c.delete("/p", -1)
	c.create("/p", nil, 0)
	w.expectEvent(proto.EventNodeCreated, "/p")
	w.expectEvent(proto.EventNodeChildrenChanged, "/p")
	w.expectEvent(proto.EventNodeDataChanged, "/p")
	w.expectEvent(proto.EventNodeChildrenChanged, "/p")
	w.expectEvent(proto.EventNodeDeleted, "/p") // once, though in both managers
	w.expectEvent(proto.EventNodeCreated, "/p")
	w.expectNoEvents()
	eq(t, "addWatch bad mode", w.call(proto.OpAddWatch, &proto.PathTypeRequest{Path: "/p", Type: 2}, nil), proto.ErrMarshallingError)
}

func TestCheckAndRemoveWatches(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	c.create("/a", nil, 0)
	check := func(path string, typ int32) int32 {
		return c.call(proto.OpCheckWatches, &proto.PathTypeRequest{Path: path, Type: typ}, nil)
	}
	remove := func(path string, typ int32) int32 {
		return c.call(proto.OpRemoveWatches, &proto.PathTypeRequest{Path: path, Type: typ}, nil)
	}
	eq(t, "no watch", check("/a", proto.WatcherAny), proto.ErrNoWatcher)
	c.getData("/a", true)
	eq(t, "data watch as Data", check("/a", proto.WatcherData), int32(0))
	eq(t, "data watch as Children", check("/a", proto.WatcherChildren), proto.ErrNoWatcher)
	eq(t, "data watch as Any", check("/a", proto.WatcherAny), int32(0))
	c.children("/a", true)
	eq(t, "remove Children", remove("/a", proto.WatcherChildren), int32(0))
	eq(t, "child watch gone", check("/a", proto.WatcherChildren), proto.ErrNoWatcher)
	eq(t, "data watch kept", check("/a", proto.WatcherData), int32(0))
	eq(t, "remove Any", remove("/a", proto.WatcherAny), int32(0))
	eq(t, "remove again", remove("/a", proto.WatcherAny), proto.ErrNoWatcher)
	eq(t, "bad type", check("/a", 9), proto.ErrMarshallingError)

	// The 3.9 types Persistent (4) and PersistentRecursive (5) are unknown
	// to 3.8: MarshallingError.
	c.mustCall(0, proto.OpAddWatch, &proto.PathTypeRequest{Path: "/a", Type: proto.AddWatchPersistentRecursive}, nil)
	eq(t, "type Persistent", check("/a", proto.WatcherPersistent), proto.ErrMarshallingError)
	eq(t, "type PersistentRecursive", remove("/a", proto.WatcherPersistentRecursive), proto.ErrMarshallingError)
	// addWatch puts a recursive watch in both managers (3.8.0).
	eq(t, "recursive as Children", check("/a", proto.WatcherChildren), int32(0))
	eq(t, "recursive as Data", check("/a", proto.WatcherData), int32(0))
	eq(t, "remove recursive", remove("/a", proto.WatcherAny), int32(0))
	c.mustCall(0, proto.OpAddWatch, &proto.PathTypeRequest{Path: "/a", Type: proto.AddWatchPersistent}, nil)
	eq(t, "remove persistent from the data manager", remove("/a", proto.WatcherData), int32(0))
	eq(t, "persistent left in the child manager", check("/a", proto.WatcherChildren), int32(0))
	eq(t, "remove persistent", remove("/a", proto.WatcherChildren), int32(0))
	// Removed watches do not fire.
	c.setData("/a", nil, -1)
	c.expectNoEvents()

	// 3.8's containsWatcher looks at the path only: another connection's
	// watch makes checkWatches succeed; removeWatches is per connection.
	o := connect(t, s.Addr(0), long)
	o.getData("/a", true)
	eq(t, "another connection's watch", check("/a", proto.WatcherData), int32(0))
	eq(t, "another connection's watch, children", check("/a", proto.WatcherChildren), proto.ErrNoWatcher)
	eq(t, "remove another connection's watch", remove("/a", proto.WatcherData), proto.ErrNoWatcher)
	c.setData("/a", nil, -1)
	o.expectEvent(proto.EventNodeDataChanged, "/a")
	c.expectNoEvents()
}

// TestWatchModeReplaced: one mode per connection, path and manager, as on
// 3.6–3.8: a standard watch set on a path where the connection has a
// persistent or recursive watch replaces it in that manager, and is gone
// once it fires.
func TestWatchModeReplaced(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	w := connect(t, s.Addr(0), long)
	c.create("/p", nil, 0)
	c.create("/r", nil, 0)
	w.mustCall(0, proto.OpAddWatch, &proto.PathTypeRequest{Path: "/p", Type: proto.AddWatchPersistent}, nil)
	w.mustCall(0, proto.OpAddWatch, &proto.PathTypeRequest{Path: "/r", Type: proto.AddWatchPersistentRecursive}, nil)
	w.getData("/p", true)
	w.getData("/r", true)
	c.setData("/p", []byte("1"), -1)
	c.setData("/r", []byte("1"), -1)
	w.expectEvent(proto.EventNodeDataChanged, "/p")
	w.expectEvent(proto.EventNodeDataChanged, "/r")
	// The data-manager entries were standard, and fired: gone.
	c.setData("/p", []byte("2"), -1)
	c.setData("/r", []byte("2"), -1)
	c.create("/r/kid", nil, 0)
	// The child manager still holds /p as persistent.
	c.create("/p/kid", nil, 0)
	w.expectEvent(proto.EventNodeChildrenChanged, "/p")
	w.expectNoEvents()

	// A persistent watch added over a standard one makes it persistent.
	c.create("/q", nil, 0)
	w.getData("/q", true)
	w.mustCall(0, proto.OpAddWatch, &proto.PathTypeRequest{Path: "/q", Type: proto.AddWatchPersistent}, nil)
	c.setData("/q", []byte("1"), -1)
	c.setData("/q", []byte("2"), -1)
	w.expectEvent(proto.EventNodeDataChanged, "/q")
	w.expectEvent(proto.EventNodeDataChanged, "/q")
	// A child watch leaves a recursive watch alone: recursive watches
	// live in the data manager for events.
	c.create("/rr", nil, 0)
	w.mustCall(0, proto.OpAddWatch, &proto.PathTypeRequest{Path: "/rr", Type: proto.AddWatchPersistentRecursive}, nil)
	w.children("/rr", true)
	c.create("/rr/a", nil, 0)
	w.expectEvent(proto.EventNodeCreated, "/rr/a")
	w.expectEvent(proto.EventNodeChildrenChanged, "/rr")
	c.setData("/rr/a", []byte("1"), -1)
	w.expectEvent(proto.EventNodeDataChanged, "/rr/a")
	w.expectNoEvents()
}

func TestSetWatchesCatchUp(t *testing.T) {
	s := start(t)
	c := connect(t, s.Addr(0), long)
	for _, p := range []string{"/data", "/gone", "/same", "/kids", "/kids/k"} {
		c.create(p, nil, 0)
	}
	c.getData("/data", true)
	c.getData("/gone", true)
	c.getData("/same", true)
	c.exists("/new", true)
	c.exists("/never", true)
	c.children("/kids", true)
	rel := c.lastZxid

	s.DropConnections()
	c.expectEOF()
	o := connect(t, s.Addr(0), long)
	o.setData("/data", []byte("x"), -1)
	o.delete("/gone", -1)
	o.create("/new", nil, 0)
	o.create("/kids/k2", nil, 0)

	// Watches are per connection: the new one has none until setWatches.
	c2, resp := resume(t, s.Addr(0), c)
	eq(t, "resumed", resp.SessionID, c.sessionID)
	o.setData("/same", []byte("y"), -1)
	c2.expectNoEvents()

	sw := &proto.SetWatches{
		RelativeZxid: rel,
		DataWatches:  []string{"/data", "/gone", "/same"},
		ExistWatches: []string{"/new", "/never"},
		ChildWatches: []string{"/kids"},
	}
	c2.sendXid(proto.XidSetWatches, proto.OpSetWatches, sw)
	h := c2.await(proto.XidSetWatches, nil) // the xid comes back as sent
	eq(t, "setWatches err", h.Err, int32(0))
	ev := func(typ int32, path string) proto.WatcherEvent {
		return proto.WatcherEvent{Type: typ, State: proto.KeeperSyncConnected, Path: path}
	}
	// /same changed after rel too (while c2 had no watch), so it is caught up.
	eq(t, "catch-up events, before the reply", c2.events, []proto.WatcherEvent{
		ev(proto.EventNodeDataChanged, "/data"),
		ev(proto.EventNodeDeleted, "/gone"),
		ev(proto.EventNodeDataChanged, "/same"),
		ev(proto.EventNodeCreated, "/new"),
		ev(proto.EventNodeChildrenChanged, "/kids"),
	})
	c2.events = nil
	// /never was re-registered.
	o.create("/never", nil, 0)
	c2.expectEvent(proto.EventNodeCreated, "/never")

	// setWatches2 with relativeZxid now: everything re-registers.
	c2.create("/p", nil, 0)
	sw2 := &proto.SetWatches{V2: true, RelativeZxid: c2.lastZxid, DataWatches: []string{"/p"}, PersistentRecursive: []string{"/deep"}}
	c2.mustCall(0, proto.OpSetWatches2, sw2, nil)
	c2.expectNoEvents()
	o.setData("/p", nil, -1)
	o.create("/deep", nil, 0)
	c2.expectEvent(proto.EventNodeDataChanged, "/p")
	c2.expectEvent(proto.EventNodeCreated, "/deep")
}
