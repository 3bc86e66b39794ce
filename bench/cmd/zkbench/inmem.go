package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/zkgo/zk/internal/testserver"
)

// The in-memory server runs in a child process (this program with
// -serve-inmem), so that this process's CPU time and allocations stay the
// clients' alone. The child exits when its stdin closes.

func serveInmem() {
	s, err := testserver.New(testserver.WithSessionTimeoutRange(200*time.Millisecond, 60*time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("ADDR %s\n", s.Addr(0))
	io.Copy(io.Discard, os.Stdin)
	s.Close()
}

// startInmem starts the child and returns its address and a stop function.
func startInmem() (addr string, stop func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(exe, "-serve-inmem")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	done := make(chan struct{})
	stop = func() {
		in.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		} else {
			line <- ""
		}
		io.Copy(io.Discard, out)
		cmd.Wait()
		close(done)
	}()
	select {
	case l := <-line:
		a, ok := strings.CutPrefix(l, "ADDR ")
		if !ok {
			stop()
			return "", nil, fmt.Errorf("in-memory server: unexpected output %q", l)
		}
		return a, stop, nil
	case <-time.After(10 * time.Second):
		stop()
		return "", nil, fmt.Errorf("in-memory server: no address within 10s")
	}
}
