//go:build unix

package realzk

import (
	"errors"
	"syscall"
)

// supported reports whether this platform can run the server.
const supported = true

// signal is what signalGroup sends.
type signal = syscall.Signal

// Signals sent to a member's process group.
const (
	sigKill = syscall.SIGKILL
	sigTerm = syscall.SIGTERM
	sigStop = syscall.SIGSTOP
	sigCont = syscall.SIGCONT
)

// signalGroup sends sig to the process group led by pid. A group that is
// already gone is not an error.
func signalGroup(pid int, sig signal) error {
	err := syscall.Kill(-pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}
