//go:build unix && !linux

package realzk

import (
	"syscall"
	"time"
)

// sysProcAttr puts the server in a process group of its own, so that signals
// reach the whole group and a terminal's Ctrl-C does not.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// waitStopped cannot look at thread states here; SIGSTOP takes effect
// shortly after kill(2) returns.
func waitStopped(int, time.Duration) error { return nil }
