package zk

import (
	"fmt"
	"sync"

	"github.com/zkgo/zk/internal/proto"
)

// EventType is the type of a watch event.
type EventType int32

const (
	// EventSession marks an event of a persistent watch stream that carries
	// a session event rather than a node change.
	EventSession EventType = -1
	// EventNodeCreated: the node was created.
	EventNodeCreated EventType = 1
	// EventNodeDeleted: the node was deleted.
	EventNodeDeleted EventType = 2
	// EventNodeDataChanged: the node's data changed.
	EventNodeDataChanged EventType = 3
	// EventNodeChildrenChanged: a child was created or deleted.
	EventNodeChildrenChanged EventType = 4
	// EventDataWatchRemoved: a data watch was removed by RemoveWatches.
	EventDataWatchRemoved EventType = 5
	// EventChildWatchRemoved: a child watch was removed by RemoveWatches.
	EventChildWatchRemoved EventType = 6
	// EventPersistentWatchRemoved: a persistent watch was removed.
	EventPersistentWatchRemoved EventType = 7
	// EventWatchFailed: the watch can no longer fire (session expired,
	// handle closed); Err says why.
	EventWatchFailed EventType = 100
)

func (t EventType) String() string {
	switch t {
	case EventSession:
		return "Session"
	case EventNodeCreated:
		return "NodeCreated"
	case EventNodeDeleted:
		return "NodeDeleted"
	case EventNodeDataChanged:
		return "NodeDataChanged"
	case EventNodeChildrenChanged:
		return "NodeChildrenChanged"
	case EventDataWatchRemoved:
		return "DataWatchRemoved"
	case EventChildWatchRemoved:
		return "ChildWatchRemoved"
	case EventPersistentWatchRemoved:
		return "PersistentWatchRemoved"
	case EventWatchFailed:
		return "WatchFailed"
	}
	return fmt.Sprintf("EventType(%d)", int32(t))
}

// Event is what a watch delivers.
type Event struct {
	Type EventType
	// Path is the node's path as the caller sees it (the chroot stripped).
	Path string
	// Err is set on the final event of a watch that can no longer fire:
	// ErrSessionExpired, ErrClosed, ErrAuthFailed.
	Err error
	// State is set on EventSession events of persistent watch streams: the
	// state the handle moved to.
	State State
	// Session is set on EventSession events: the session event.
	Session SessionEvent
}

// watchKind is the client-side list a one-shot watch belongs to; it decides
// which SetWatches list re-registers it and which events fire it.
type watchKind uint8

const (
	watchData  watchKind = iota // getData, or exists on a node that exists
	watchExist                  // exists on a node that does not exist
	watchChild                  // getChildren
	numWatchKinds
)

type watchKey struct {
	path string // server path
	kind watchKind
}

// watcher is one registered one-shot watch: a channel of capacity 1 that
// receives exactly one event and is then closed.
type watcher struct {
	ch   chan Event
	path string // the caller's path, for the final event
}

func newWatcher(path string) *watcher { return &watcher{ch: make(chan Event, 1), path: path} }

func (w *watcher) deliver(ev Event) {
	w.ch <- ev // capacity 1, one send: never blocks
	close(w.ch)
}

// watchRegistry holds the one-shot watches by server path and kind.
type watchRegistry struct {
	mu sync.Mutex // guards m and p
	m  map[watchKey][]*watcher
	p  persistentRegistry
}

func (r *watchRegistry) add(path string, kind watchKind, w *watcher) {
	r.mu.Lock()
	if r.m == nil {
		r.m = make(map[watchKey][]*watcher)
	}
	k := watchKey{path, kind}
	r.m[k] = append(r.m[k], w)
	r.mu.Unlock()
}

// kindsFor lists which client-side lists an event fires, as the Java
// client does.
func kindsFor(t int32) []watchKind {
	switch t {
	case proto.EventNodeCreated, proto.EventNodeDataChanged:
		return []watchKind{watchData, watchExist}
	case proto.EventNodeDeleted:
		return []watchKind{watchData, watchExist, watchChild}
	case proto.EventNodeChildrenChanged:
		return []watchKind{watchChild}
	}
	return nil
}

// fire delivers a server event to every one-shot watch it triggers (and
// removes them) and to every persistent watch it concerns. It reports how
// many one-shot watches fired and which persistent streams overflowed.
func (r *watchRegistry) fire(t int32, serverPath, userPath string, limit int) (int, []*PersistentWatch) {
	var fired []*watcher
	ev := Event{Type: EventType(t), Path: userPath}
	r.mu.Lock()
	for _, k := range kindsFor(t) {
		key := watchKey{serverPath, k}
		if ws, ok := r.m[key]; ok {
			fired = append(fired, ws...)
			delete(r.m, key)
		}
	}
	overflowed := r.firePersistentLocked(t, serverPath, ev, limit)
	r.mu.Unlock()
	for _, w := range fired {
		w.deliver(ev)
	}
	return len(fired), overflowed
}

// remove drops the watches of the given kinds on a path and delivers ev to
// each; it reports how many there were.
func (r *watchRegistry) remove(serverPath string, kinds []watchKind, ev Event) int {
	var removed []*watcher
	r.mu.Lock()
	for _, k := range kinds {
		key := watchKey{serverPath, k}
		removed = append(removed, r.m[key]...)
		delete(r.m, key)
	}
	r.mu.Unlock()
	for _, w := range removed {
		w.deliver(ev)
	}
	return len(removed)
}

// has reports whether any watch of the given kinds is set on a path.
func (r *watchRegistry) has(serverPath string, kinds []watchKind) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range kinds {
		if len(r.m[watchKey{serverPath, k}]) > 0 {
			return true
		}
	}
	return false
}

// paths returns the server paths of every watch, by kind, for SetWatches.
func (r *watchRegistry) paths() (lists [numWatchKinds][]string) {
	r.mu.Lock()
	for k := range r.m {
		lists[k.kind] = append(lists[k.kind], k.path)
	}
	r.mu.Unlock()
	return lists
}

// failAll ends every watch with a final event carrying err, and every
// persistent stream with err.
func (r *watchRegistry) failAll(err error) {
	r.endPersistent(err)
	r.failOneShot(err)
}

// failOneShot ends every one-shot watch with a final event carrying err.
func (r *watchRegistry) failOneShot(err error) {
	r.mu.Lock()
	m := r.m
	r.m = nil
	r.mu.Unlock()
	for _, ws := range m {
		for _, w := range ws {
			w.deliver(Event{Type: EventWatchFailed, Path: w.path, Err: err})
		}
	}
}

// len counts the registered watches.
func (r *watchRegistry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ws := range r.m {
		n += len(ws)
	}
	return n
}
