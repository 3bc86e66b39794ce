package realzk

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// sysProcAttr puts the server in a process group of its own, so that signals
// reach the whole group and a terminal's Ctrl-C does not, and asks the kernel
// to kill it if the test binary dies without running its cleanups (killed,
// or timed out by go test). Strictly, Pdeathsig fires when the OS thread
// that started the JVM exits; Go only ends threads whose goroutine exits
// while locked to them, which test code here does not do.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// waitStopped waits up to d until every thread of process pid has stopped
// after SIGSTOP: kill(2) returns before the threads do, and a thread that
// runs a moment longer can still answer a request.
func waitStopped(pid int, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		stopped, err := allStopped(pid)
		if err != nil || stopped {
			return err
		}
		select {
		case <-timer.C:
			return fmt.Errorf("realzk: process %d did not stop within %v", pid, d)
		case <-tick.C:
		}
	}
}

// allStopped reports whether no thread of process pid is runnable, going by
// the state field of /proc/PID/task/TID/stat.
func allStopped(pid int) (bool, error) {
	dir := filepath.Join("/proc", fmt.Sprint(pid), "task")
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("realzk: %w", err)
	}
	for _, t := range tasks {
		stat, err := os.ReadFile(filepath.Join(dir, t.Name(), "stat"))
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread has exited
		}
		if err != nil {
			return false, fmt.Errorf("realzk: %w", err)
		}
		// "tid (comm) S ...": comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) {
			return false, fmt.Errorf("realzk: unexpected %s/%s/stat: %q", dir, t.Name(), stat)
		}
		switch stat[i+2] {
		case 'T', 't', 'Z', 'X':
		default:
			return false, nil
		}
	}
	return true, nil
}
