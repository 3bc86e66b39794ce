package testserver

import (
	"github.com/zkgo/zk/internal/proto"
)

// Watches belong to connections, as in the real server: a session's watches
// are gone with its connection until the client re-registers them with
// setWatches on the next one.
//
// The layout is the 3.8 server's: two watch managers (WatchManager), one
// for data watches and one for child watches. Each holds, per path, the
// connections watching it, and per connection and path one mode (its
// WatcherModeManager): standard (fires once), persistent, or persistent
// recursive. A getData or exists watch goes into the data manager, a
// getChildren watch into the child manager, an addWatch into both (a
// recursive one too; the child manager never fires it, as recursive
// watches skip NodeChildrenChanged).
//
// One mode per connection and path means that a later watch replaces the
// mode of an earlier one on the same path, in that manager, as on 3.6–3.8:
// a getData watch on a path with a persistent (or recursive) watch of the
// same connection turns its data-manager entry into a standard watch,
// which is removed when it fires: the persistent watch then gets no more
// data events. 3.9 keeps the modes apart (ZOOKEEPER-4466); this server
// does not.
type watchMode uint8

const (
	modeStandard watchMode = iota
	modePersistent
	modeRecursive
)

type modeKey struct {
	c    *conn
	path string
}

// watchManager is one of the real server's WatchManagers. Owned by run.
type watchManager struct {
	table  map[string]map[*conn]struct{} // watchTable: path -> connections
	byConn map[*conn]map[string]struct{} // watch2Paths: connection -> paths
	modes  map[modeKey]watchMode         // only modes other than standard
}

func newWatchManager() *watchManager {
	return &watchManager{
		table:  make(map[string]map[*conn]struct{}),
		byConn: make(map[*conn]map[string]struct{}),
		modes:  make(map[modeKey]watchMode),
	}
}

// add is WatchManager.addWatch: the connection watches path, in mode,
// replacing the mode of any watch it had there.
func (m *watchManager) add(path string, c *conn, mode watchMode) {
	set := m.table[path]
	if set == nil {
		set = make(map[*conn]struct{})
		m.table[path] = set
	}
	set[c] = struct{}{}
	paths := m.byConn[c]
	if paths == nil {
		paths = make(map[string]struct{})
		m.byConn[c] = paths
	}
	paths[path] = struct{}{}
	if mode == modeStandard {
		delete(m.modes, modeKey{c, path})
	} else {
		m.modes[modeKey{c, path}] = mode
	}
}

func (m *watchManager) mode(c *conn, path string) watchMode { return m.modes[modeKey{c, path}] }

// unlink removes c from path's set, and the set when empty.
func (m *watchManager) unlink(path string, c *conn) bool {
	set := m.table[path]
	if _, ok := set[c]; !ok {
		return false
	}
	delete(set, c)
	if len(set) == 0 {
		delete(m.table, path)
	}
	return true
}

// remove is WatchManager.removeWatcher(path, watcher): it reports whether
// the connection had a watch there.
func (m *watchManager) remove(path string, c *conn) bool {
	paths := m.byConn[c]
	if _, ok := paths[path]; !ok {
		return false
	}
	delete(paths, path)
	if len(paths) == 0 {
		delete(m.byConn, c)
	}
	if !m.unlink(path, c) {
		return false
	}
	delete(m.modes, modeKey{c, path})
	return true
}

// removeConn drops every watch of a connection.
func (m *watchManager) removeConn(c *conn) {
	for path := range m.byConn[c] {
		m.unlink(path, c)
		delete(m.modes, modeKey{c, path})
	}
	delete(m.byConn, c)
}

// contains is WatchManager.containsWatcher as 3.8 has it: it reports
// whether ANY connection watches the path (it never looks at which one),
// so checkWatches succeeds for a path that only another session watches.
func (m *watchManager) contains(path string) bool { return len(m.table[path]) > 0 }

// trigger is WatchManager.triggerWatch: it collects the connections an
// event on path goes to (recursive watches on the path and its ancestors,
// except for NodeChildrenChanged; every other watch on the path itself),
// removes the standard watches it fires, and returns the connections.
func (m *watchManager) trigger(path string, evType int32) map[*conn]struct{} {
	out := make(map[*conn]struct{})
	for p := path; ; p = parentOrRoot(p) {
		for c := range m.table[p] {
			switch mode := m.mode(c, p); {
			case mode == modeRecursive:
				if evType != proto.EventNodeChildrenChanged {
					out[c] = struct{}{}
				}
			case p == path:
				out[c] = struct{}{}
				if mode == modeStandard {
					m.unlink(p, c)
					if paths := m.byConn[c]; paths != nil {
						delete(paths, p)
						if len(paths) == 0 {
							delete(m.byConn, c)
						}
					}
				}
			}
		}
		if p == "/" || p == "" {
			return out
		}
	}
}

// watchRegistry holds the two managers. Owned by run.
type watchRegistry struct {
	data  *watchManager
	child *watchManager
}

func newWatchRegistry() watchRegistry {
	return watchRegistry{data: newWatchManager(), child: newWatchManager()}
}

func (w *watchRegistry) removeConn(c *conn) {
	w.data.removeConn(c)
	w.child.removeConn(c)
}

// addWatch is DataTree.addWatch (opcode 106): both managers, whatever the
// mode.
func (w *watchRegistry) addWatch(path string, c *conn, mode watchMode) {
	w.data.add(path, c, mode)
	w.child.add(path, c, mode)
}

// validWatcherType reports whether a 3.8 server knows a WatcherType
// (checkWatches, removeWatches): Children 1, Data 2, Any 3. The 3.9 types
// Persistent 4 and PersistentRecursive 5 make WatcherType.fromInt throw,
// which the server answers with -5 MarshallingError.
func validWatcherType(wtype int32) bool {
	return wtype >= proto.WatcherChildren && wtype <= proto.WatcherAny
}

// managers returns the managers a WatcherType names.
func (w *watchRegistry) managers(wtype int32) []*watchManager {
	switch wtype {
	case proto.WatcherChildren:
		return []*watchManager{w.child}
	case proto.WatcherData:
		return []*watchManager{w.data}
	}
	return []*watchManager{w.child, w.data}
}

// check is DataTree.containsWatcher (with its 3.8 flaw: see contains).
func (w *watchRegistry) check(path string, wtype int32) bool {
	for _, m := range w.managers(wtype) {
		if m.contains(path) {
			return true
		}
	}
	return false
}

// remove is DataTree.removeWatch: the connection's watches of the type on
// path; it reports whether there were any.
func (w *watchRegistry) remove(path string, c *conn, wtype int32) bool {
	removed := false
	for _, m := range w.managers(wtype) {
		if m.remove(path, c) {
			removed = true
		}
	}
	return removed
}

// fire delivers the events of one committed change (DataTree.createNode,
// deleteNode, setData).
func (s *Server) fire(tr trigger) {
	w := &s.watches
	switch tr.kind {
	case trigCreated:
		s.deliver(w.data.trigger(tr.path, proto.EventNodeCreated), proto.EventNodeCreated, tr.path, nil)
		s.deliver(w.child.trigger(tr.parent, proto.EventNodeChildrenChanged), proto.EventNodeChildrenChanged, tr.parent, nil)
	case trigDeleted:
		// NodeDeleted goes to data and child watchers of the path, once per
		// connection.
		got := w.data.trigger(tr.path, proto.EventNodeDeleted)
		s.deliver(got, proto.EventNodeDeleted, tr.path, nil)
		s.deliver(w.child.trigger(tr.path, proto.EventNodeDeleted), proto.EventNodeDeleted, tr.path, got)
		s.deliver(w.child.trigger(tr.parent, proto.EventNodeChildrenChanged), proto.EventNodeChildrenChanged, tr.parent, nil)
	case trigDataChanged:
		s.deliver(w.data.trigger(tr.path, proto.EventNodeDataChanged), proto.EventNodeDataChanged, tr.path, nil)
	}
}

func parentOrRoot(p string) string {
	if pp := parentPath(p); pp != "" {
		return pp
	}
	return "/"
}

func (s *Server) deliver(to map[*conn]struct{}, evType int32, path string, skip map[*conn]struct{}) {
	for c := range to {
		if _, ok := skip[c]; ok {
			continue
		}
		s.notify(c, evType, path)
	}
}

// notify sends one watch event. A 3.8 server puts zxid -1 in the header.
func (s *Server) notify(c *conn, evType int32, path string) {
	if c.detached {
		return
	}
	s.log.Debug("testserver: event", "conn", c.id, "type", evType, "path", path)
	c.enqueue(proto.AppendFrame(nil,
		&proto.ReplyHeader{Xid: proto.XidNotification, Zxid: -1},
		&proto.WatcherEvent{Type: evType, State: proto.KeeperSyncConnected, Path: path}), false)
}
