package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"sync"
	"testing"
)

// benchTB is the testing.TB that internal/realzk needs, for a program.
// testing.TB has an unexported method, so it cannot be implemented outside
// package testing; embedding the (nil) interface supplies that method, and
// every method realzk calls (Helper, Cleanup, TempDir, Logf, Error, Fatal,
// Fatalf, Skipf) is overridden here. A method that is not overridden panics
// on the nil interface: realzk does not call them.
//
// Fatal and Skip stop the caller as in a test: they panic with a tbStop,
// which run recovers. Cleanups run, last registered first, when finish is
// called (or when the program is interrupted).
type benchTB struct {
	testing.TB // nil: never called

	name string

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	skipped  bool
	finished bool
}

// tbStop is the panic value of Fatal and Skip.
type tbStop struct {
	skip bool
	msg  string
}

func (s tbStop) Error() string { return s.msg }

func newTB(name string) *benchTB {
	t := &benchTB{name: name}
	registerTB(t)
	return t
}

func (t *benchTB) Helper()      {}
func (t *benchTB) Name() string { return t.name }

func (t *benchTB) Cleanup(f func()) {
	t.mu.Lock()
	t.cleanups = append(t.cleanups, f)
	t.mu.Unlock()
}

func (t *benchTB) TempDir() string {
	dir, err := os.MkdirTemp("", "zkbench-")
	if err != nil {
		t.Fatalf("TempDir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (t *benchTB) Log(args ...any) { t.Logf("%s", fmt.Sprint(args...)) }
func (t *benchTB) Logf(format string, args ...any) {
	if *verbose {
		log.Printf("[%s] "+format, append([]any{t.name}, args...)...)
	}
}

func (t *benchTB) Error(args ...any) { t.Errorf("%s", fmt.Sprint(args...)) }
func (t *benchTB) Errorf(format string, args ...any) {
	log.Printf("[%s] error: "+format, append([]any{t.name}, args...)...)
	t.Fail()
}

func (t *benchTB) Fail() {
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
}

func (t *benchTB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

func (t *benchTB) FailNow() {
	t.Fail()
	panic(tbStop{msg: t.name + ": FailNow"})
}

func (t *benchTB) Fatal(args ...any) { t.Fatalf("%s", fmt.Sprint(args...)) }
func (t *benchTB) Fatalf(format string, args ...any) {
	t.Fail()
	panic(tbStop{msg: fmt.Sprintf(format, args...)})
}

func (t *benchTB) Skip(args ...any) { t.Skipf("%s", fmt.Sprint(args...)) }
func (t *benchTB) SkipNow()         { t.Skipf("skipped") }
func (t *benchTB) Skipf(format string, args ...any) {
	t.mu.Lock()
	t.skipped = true
	t.mu.Unlock()
	panic(tbStop{skip: true, msg: fmt.Sprintf(format, args...)})
}

func (t *benchTB) Skipped() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.skipped
}

func (t *benchTB) Setenv(key, value string) { os.Setenv(key, value) }
func (t *benchTB) Context() context.Context { return context.Background() }
func (t *benchTB) Output() io.Writer        { return os.Stderr }
func (t *benchTB) Attr(key, value string)   {}
func (t *benchTB) ArtifactDir() string      { return t.TempDir() }
func (t *benchTB) Chdir(dir string)         { os.Chdir(dir) }

// finish runs the cleanups, last first, once.
func (t *benchTB) finish() {
	t.mu.Lock()
	if t.finished {
		t.mu.Unlock()
		return
	}
	t.finished = true
	cs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		func() {
			defer func() {
				if r := recover(); r != nil {
					log.Printf("[%s] cleanup: %v", t.name, r)
				}
			}()
			cs[i]()
		}()
	}
	unregisterTB(t)
}

// run calls f, turning a Fatal or Skip inside it into an error.
func (t *benchTB) run(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if s, ok := r.(tbStop); ok {
				err = s
				return
			}
			panic(r)
		}
	}()
	f()
	return nil
}

// The live TBs, so that an interrupt can still kill the servers.
var (
	tbsMu sync.Mutex
	tbs   = map[*benchTB]struct{}{}
)

func registerTB(t *benchTB) {
	tbsMu.Lock()
	tbs[t] = struct{}{}
	tbsMu.Unlock()
}

func unregisterTB(t *benchTB) {
	tbsMu.Lock()
	delete(tbs, t)
	tbsMu.Unlock()
}

// finishAll runs every live TB's cleanups (on interrupt).
func finishAll() {
	tbsMu.Lock()
	var all []*benchTB
	for t := range tbs {
		all = append(all, t)
	}
	tbsMu.Unlock()
	for _, t := range all {
		t.finish()
	}
}
