//go:build !unix

package realzk

import (
	"errors"
	"syscall"
	"time"
)

// signal stands in for syscall.Signal, which not every platform has.
type signal int

// supported reports whether this platform can run the server: process
// groups and SIGSTOP are needed, so only unix can.
const supported = false

// Placeholders so the package builds; Start skips before using them.
const (
	sigKill signal = 9
	sigTerm signal = 15
	sigStop signal = 19
	sigCont signal = 18
)

// sysProcAttr has nothing to set here.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// signalGroup always fails here.
func signalGroup(int, signal) error {
	return errors.New("realzk: signals are not supported on this platform")
}

// waitStopped has nothing to wait for here.
func waitStopped(int, time.Duration) error { return nil }
