package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// sample is one measured run of one workload by one client.
type sample struct {
	round   int // which round, for pairing the clients' samples
	ops     int64
	errs    int64
	firstEr error
	elapsed time.Duration
	cpu     time.Duration // user+sys of this process over the run
	mallocs uint64
	bytes   uint64
	writes  int64
	reads   int64
	p50     time.Duration // serial runs only
	p99     time.Duration
}

func (s sample) opsPerSec() float64 { return float64(s.ops) / s.elapsed.Seconds() }
func (s sample) cpuPerOp() float64 {
	return float64(s.cpu.Nanoseconds()) / 1e3 / float64(s.ops)
}                                     // µs
func (s sample) allocsPerOp() float64 { return float64(s.mallocs) / float64(s.ops) }
func (s sample) bytesPerOp() float64  { return float64(s.bytes) / float64(s.ops) }
func (s sample) writesPerOp() float64 { return float64(s.writes) / float64(s.ops) }
func (s sample) readsPerOp() float64  { return float64(s.reads) / float64(s.ops) }

// meter takes the process-wide readings before and after a run.
type meter struct {
	ru   syscall.Rusage
	ms   runtime.MemStats
	w    int64
	r    int64
	ctr  *ioCounters
	proc bool // syscalls counted by the kernel (/proc/self/io)
}

func cpuTime(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (m *meter) begin(ctr *ioCounters) {
	m.ctr = ctr
	runtime.GC()
	runtime.ReadMemStats(&m.ms)
	if r, w, ok := procIO(); ok {
		// The kernel's count of read(2) and write(2) calls of this process:
		// no wrapper around the clients' connections, so each client runs
		// its own write path (a wrapper would hide the *net.TCPConn that
		// zk's direct caller writes need).
		m.r, m.w, m.ctr = r, w, nil
		m.proc = true
	} else if ctr != nil {
		m.w, m.r = ctr.writes.Load(), ctr.reads.Load()
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &m.ru)
}

// procIO reads syscr and syscw from /proc/self/io.
func procIO() (reads, writes int64, ok bool) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, 0, false
	}
	var gotR, gotW bool
	for _, line := range strings.Split(string(b), "\n") {
		k, v, found := strings.Cut(line, ": ")
		if !found {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "syscr":
			reads, gotR = n, true
		case "syscw":
			writes, gotW = n, true
		}
	}
	return reads, writes, gotR && gotW
}

func (m *meter) end(s *sample) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.cpu = cpuTime(&ru) - cpuTime(&m.ru)
	s.mallocs = ms.Mallocs - m.ms.Mallocs
	s.bytes = ms.TotalAlloc - m.ms.TotalAlloc
	switch {
	case m.proc:
		if r, w, ok := procIO(); ok {
			// Less the two read(2) calls of os.ReadFile in begin, made
			// after its reading (the count shown excludes the read in
			// progress, so end's own reads are not in r).
			s.reads, s.writes = r-m.r-2, w-m.w
		}
	case m.ctr != nil:
		s.writes = m.ctr.writes.Load() - m.w
		s.reads = m.ctr.reads.Load() - m.r
	}
}

// workload is what one goroutine does once: it returns how many requests it
// made.
type workload func(c client, g int) (int, error)

// getWork gets path and checks that the data is want (the raw client makes
// the same check on every reply).
func getWork(path string, want []byte) workload {
	return func(c client, _ int) (int, error) {
		d, err := c.get(path)
		if err == nil && !bytes.Equal(d, want) {
			err = errBadData
		}
		return 1, err
	}
}

var errBadData = errors.New("get returned data other than the node's")

// cdWork creates and deletes the goroutine's own node: two requests.
func cdWork(paths []string, data []byte) workload {
	return func(c client, g int) (int, error) {
		if err := c.create(paths[g], data); err != nil {
			return 1, err
		}
		return 2, c.del(paths[g])
	}
}

// latBuf holds serial latencies; allocated once, before any measurement.
var latBuf []int64

const maxSerialOps = 1 << 21

// stuckBound bounds the wait for calls in flight at the end of a run.
const stuckBound = 60 * time.Second

// runClient runs w on n goroutines for d (at most maxOps requests) and
// measures it. With n == 1 it records every call's latency.
func runClient(c client, n int, d time.Duration, maxOps int64, w workload) sample {
	var s sample
	serial := n == 1
	if serial && latBuf == nil {
		latBuf = make([]int64, maxSerialOps)
	}
	if serial {
		maxOps = min(maxOps, maxSerialOps)
	}
	var (
		stop  atomic.Bool
		total atomic.Int64
		errs  atomic.Int64
		errMu sync.Mutex
		wg    sync.WaitGroup
		nlat  int
	)
	perG := maxOps/int64(n) + 1
	var m meter
	m.begin(c.counters())
	start := time.Now()
	wg.Add(n)
	for g := range n {
		go func() {
			defer wg.Done()
			var ops int64
			for ops < perG && !stop.Load() {
				var t0 time.Time
				if serial {
					t0 = time.Now()
				}
				k, err := w(c, g)
				if serial && nlat < len(latBuf) {
					latBuf[nlat] = int64(time.Since(t0))
					nlat++
				}
				ops += int64(k)
				if err != nil {
					if errs.Add(1) == 1 {
						errMu.Lock()
						s.firstEr = err
						errMu.Unlock()
					}
					if errs.Load() > 100 {
						stop.Store(true)
					}
				}
			}
			total.Add(ops)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	select {
	case <-t.C:
		stop.Store(true)
		// Calls in flight finish within the session's timeouts; bound the
		// wait anyway (a stuck server must not hang the program).
		select {
		case <-done:
		case <-time.After(stuckBound):
			var s sample
			s.errs, s.firstEr = 1, fmt.Errorf("calls still outstanding %v after the end of the run", stuckBound)
			return s
		}
	case <-done:
		t.Stop()
	}
	s.elapsed = time.Since(start)
	m.end(&s)
	s.ops = total.Load()
	s.errs = errs.Load()
	if serial {
		s.p50, s.p99 = percentiles(latBuf[:nlat])
	}
	return s
}

// runRaw runs the raw client and measures it the same way.
func runRaw(spec rawSpec) (sample, error) {
	var s sample
	if spec.inflight == 1 {
		if latBuf == nil {
			latBuf = make([]int64, maxSerialOps)
		}
		spec.lat = latBuf
		spec.maxOps = min(spec.maxOps, maxSerialOps)
	}
	var m meter
	m.begin(nil)
	r, err := rawRun(spec)
	m.end(&s)
	if err != nil {
		return s, err
	}
	s.ops, s.elapsed, s.writes, s.reads = r.ops, r.elapsed, r.writes, r.reads
	if spec.lat != nil {
		s.p50, s.p99 = percentiles(spec.lat[:r.nlat])
	}
	return s, nil
}

func percentiles(l []int64) (p50, p99 time.Duration) {
	if len(l) == 0 {
		return 0, 0
	}
	slices.Sort(l)
	at := func(q float64) time.Duration {
		i := int(q * float64(len(l)-1))
		return time.Duration(l[i])
	}
	return at(0.50), at(0.99)
}

func (s sample) String() string {
	return fmt.Sprintf("%.0f ops/s, %.1f µs CPU/op, %.2f allocs/op, %.0f B/op, %.3f writes/op, %.3f reads/op, p50 %v p99 %v, errs %d",
		s.opsPerSec(), s.cpuPerOp(), s.allocsPerOp(), s.bytesPerOp(), s.writesPerOp(), s.readsPerOp(), s.p50, s.p99, s.errs)
}
