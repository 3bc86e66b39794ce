package leader

import "github.com/zkgo/zk"

// SetHooks installs test hooks on a candidate before Run: onWatch when it
// sets a watch on a predecessor, onWake when that watch fires, onRecover
// when a create whose reply was lost is found by its prefix. Nil leaves a
// hook unset.
func SetHooks(c *Candidate, onWatch func(path string), onWake func(zk.Event), onRecover func(path string)) {
	c.q.OnWatch, c.q.OnWake, c.q.OnRecover = onWatch, onWake, onRecover
}

// Prefix returns the candidate's node-name prefix, _c_<GUID>-n_.
func Prefix(c *Candidate) string { return c.q.Prefix }
