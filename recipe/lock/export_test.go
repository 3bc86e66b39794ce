package lock

import "github.com/zkgo/zk"

// SetHooks installs test hooks on a Mutex before Lock: onWatch when it sets
// a watch on a predecessor, onWake when that watch fires, onRecover when a
// create whose reply was lost is found by its prefix. Nil leaves a hook
// unset.
func SetHooks(m *Mutex, onWatch func(path string), onWake func(zk.Event), onRecover func(path string)) {
	m.q.OnWatch, m.q.OnWake, m.q.OnRecover = onWatch, onWake, onRecover
}

// Prefix returns the Mutex's node-name prefix, _c_<GUID>-<kind>.
func Prefix(m *Mutex) string { return m.q.Prefix }
