//go:build linux && race

package zk

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

func init() { raceProbe = runRaceProbe }

var raceSink byte

// runRaceProbe, in a child process, has the kernel fill (read) or drain
// (write) a buffer through rawIO while another goroutine touches the same
// buffer: unordered in "read" and "write", ordered by a channel in
// "read-ordered". It returns the process's exit code; the race detector
// turns a clean exit into 66 when it saw a race.
func runRaceProbe(scenario string) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		return 2
	}
	defer ln.Close()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		return 2
	}
	defer nc.Close()
	peer, err := ln.Accept()
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		return 2
	}
	defer peer.Close()
	r := newRawIO(nc)
	if r == nil {
		fmt.Fprintln(os.Stderr, "probe: no raw I/O on a plain TCP connection")
		return 2
	}
	if _, err := peer.Write(make([]byte, 64)); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		return 2
	}
	buf := make([]byte, 64)
	var wg sync.WaitGroup
	var ioErr error
	ordered := make(chan struct{})
	wg.Add(2)
	go func() { // the link's reader or flusher
		defer wg.Done()
		if scenario == "read-ordered" {
			<-ordered
		}
		if scenario == "write" {
			_, ioErr = r.tryWrite(buf)
		} else {
			_, ioErr = r.Read(buf)
		}
	}()
	go func() { // a goroutine that has no business with the buffer
		defer wg.Done()
		if scenario == "write" {
			buf[10] = 1
		} else {
			raceSink = buf[10]
		}
		if scenario == "read-ordered" {
			close(ordered)
		}
	}()
	wg.Wait()
	if ioErr != nil {
		fmt.Fprintln(os.Stderr, "probe:", ioErr)
		return 2
	}
	return 0
}

// TestRawIOVisibleToRaceDetector checks that what the kernel does to a
// buffer in a raw read or write is seen by the race detector: a goroutine
// touching the buffer unordered with the system call is reported, and one
// ordered with it is not.
func TestRawIOVisibleToRaceDetector(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		race     bool
		frame    string // in the report's stack of the raw call
	}{
		{"read", true, "(*rawIO).Read"},
		{"write", true, "(*rawIO).tryWrite"},
		{"read-ordered", false, ""},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			// atexit_sleep_ms: the detector's one-second pause before exit.
			gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
			cmd.Env = append(os.Environ(), "ZK_RACE_PROBE="+tc.scenario, "GORACE="+gorace)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			reported := strings.Contains(out.String(), "WARNING: DATA RACE")
			switch {
			case tc.race && (!reported || code != 66):
				t.Fatalf("race not reported (exit %d):\n%s", code, out.String())
			case tc.race && !strings.Contains(out.String(), tc.frame):
				t.Fatalf("race reported without %s in its stacks:\n%s", tc.frame, out.String())
			case !tc.race && (reported || code != 0):
				t.Fatalf("ordered access reported or probe failed (exit %d):\n%s", code, out.String())
			}
		})
	}
}
