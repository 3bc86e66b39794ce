package testserver

import (
	"github.com/zkgo/zk/internal/proto"
)

// Watches belong to connections, as in the real server: a session's watches
// are gone with its connection until the client re-registers them with
// setWatches on the next one.
//
// The layout mirrors the real server's two watch managers. The data manager
// holds standard data (and exist) watches, persistent watches and
// persistent-recursive watches; the child manager holds standard child
// watches and persistent watches. A persistent watch therefore sits in both,
// a recursive one in the data manager only, which is why a recursive watch
// never sees NodeChildrenChanged.
//
// Unlike 3.6–3.8 (where a connection's standard and persistent watch on the
// same path overwrite each other's mode), the modes coexist here, as in 3.9.

type pathWatches struct {
	data       map[*conn]struct{} // standard data and exist watches (data manager)
	child      map[*conn]struct{} // standard child watches (child manager)
	persistent map[*conn]struct{} // both managers, exact path
	recursive  map[*conn]struct{} // data manager, the path and below
}

func (pw *pathWatches) sets() []map[*conn]struct{} {
	return []map[*conn]struct{}{pw.data, pw.child, pw.persistent, pw.recursive}
}

func (pw *pathWatches) empty() bool {
	return len(pw.data) == 0 && len(pw.child) == 0 && len(pw.persistent) == 0 && len(pw.recursive) == 0
}

// watchRegistry holds every watch by path. Owned by run.
type watchRegistry struct {
	paths map[string]*pathWatches
}

type watchKind uint8

const (
	watchData watchKind = iota
	watchChild
	watchPersistent
	watchRecursive
)

func (w *watchRegistry) add(path string, c *conn, k watchKind) {
	pw := w.paths[path]
	if pw == nil {
		pw = &pathWatches{
			data:       make(map[*conn]struct{}),
			child:      make(map[*conn]struct{}),
			persistent: make(map[*conn]struct{}),
			recursive:  make(map[*conn]struct{}),
		}
		w.paths[path] = pw
	}
	pw.sets()[k][c] = struct{}{}
}

func (w *watchRegistry) tidy(path string) {
	if pw := w.paths[path]; pw != nil && pw.empty() {
		delete(w.paths, path)
	}
}

func (w *watchRegistry) removeConn(c *conn) {
	for path, pw := range w.paths {
		for _, set := range pw.sets() {
			delete(set, c)
		}
		if pw.empty() {
			delete(w.paths, path)
		}
	}
}

// setsFor maps a WatcherType (checkWatches, removeWatches) to the watch sets
// it names, with 3.9 meanings: Children and Data are the standard watches,
// Any is every kind, Persistent and PersistentRecursive (3.9 only) their own
// kind. ok is false for an unknown type.
func setsFor(pw *pathWatches, wtype int32) (sets []map[*conn]struct{}, ok bool) {
	switch wtype {
	case proto.WatcherChildren:
		return []map[*conn]struct{}{pw.child}, true
	case proto.WatcherData:
		return []map[*conn]struct{}{pw.data}, true
	case proto.WatcherAny:
		return pw.sets(), true
	case proto.WatcherPersistent:
		return []map[*conn]struct{}{pw.persistent}, true
	case proto.WatcherPersistentRecursive:
		return []map[*conn]struct{}{pw.recursive}, true
	}
	return nil, false
}

func validWatcherType(wtype int32) bool {
	return wtype >= proto.WatcherChildren && wtype <= proto.WatcherPersistentRecursive
}

// check reports whether c holds a watch of type wtype on path; with remove
// set it also removes what it found.
func (w *watchRegistry) check(path string, c *conn, wtype int32, remove bool) bool {
	pw := w.paths[path]
	if pw == nil {
		return false
	}
	sets, _ := setsFor(pw, wtype)
	found := false
	for _, set := range sets {
		if _, ok := set[c]; ok {
			found = true
			if remove {
				delete(set, c)
			}
		}
	}
	w.tidy(path)
	return found
}

// fire delivers the events of one committed change (DataTree.createNode,
// deleteNode, setData).
func (s *Server) fire(tr trigger) {
	switch tr.kind {
	case trigCreated:
		s.deliver(s.dataTrigger(tr.path), proto.EventNodeCreated, tr.path, nil)
		s.deliver(s.childTrigger(tr.parent), proto.EventNodeChildrenChanged, tr.parent, nil)
	case trigDeleted:
		// NodeDeleted goes to data and child watchers of the path, once per
		// connection.
		got := s.dataTrigger(tr.path)
		s.deliver(got, proto.EventNodeDeleted, tr.path, nil)
		s.deliver(s.childTrigger(tr.path), proto.EventNodeDeleted, tr.path, got)
		s.deliver(s.childTrigger(tr.parent), proto.EventNodeChildrenChanged, tr.parent, nil)
	case trigDataChanged:
		s.deliver(s.dataTrigger(tr.path), proto.EventNodeDataChanged, tr.path, nil)
	}
}

// dataTrigger collects, and for one-shot watches removes, the data manager's
// watchers of an event on path: recursive watches on the path and every
// ancestor, standard and persistent watches on the path itself.
func (s *Server) dataTrigger(path string) map[*conn]struct{} {
	out := make(map[*conn]struct{})
	for p := path; ; p = parentOrRoot(p) {
		if pw := s.watches.paths[p]; pw != nil {
			for c := range pw.recursive {
				out[c] = struct{}{}
			}
			if p == path {
				for c := range pw.data {
					out[c] = struct{}{}
				}
				clear(pw.data)
				for c := range pw.persistent {
					out[c] = struct{}{}
				}
			}
			s.watches.tidy(p)
		}
		if p == "/" || p == "" {
			return out
		}
	}
}

// childTrigger collects the child manager's watchers of an event on path.
func (s *Server) childTrigger(path string) map[*conn]struct{} {
	out := make(map[*conn]struct{})
	if pw := s.watches.paths[path]; pw != nil {
		for c := range pw.child {
			out[c] = struct{}{}
		}
		clear(pw.child)
		for c := range pw.persistent {
			out[c] = struct{}{}
		}
		s.watches.tidy(path)
	}
	return out
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
