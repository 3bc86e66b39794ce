package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkgo/zk/internal/realzk"
)

// Failover and watch re-registration on a 3-member ensemble.

const (
	foSessionTimeout = 4 * time.Second
	foCallTimeout    = 100 * time.Millisecond // per call, in the loop after a kill
	foBound          = 30 * time.Second       // the loop's bound
	foPath           = "/bench-fo"
	watchParent      = "/wz"
)

// foResult is one failover measurement.
type foResult struct {
	firstSuccess time.Duration // kill -> first successful call
	leaderReady  time.Duration // kill -> a remaining member reports Mode: leader (leader kill only)
	err          error
}

// wResult is one watch re-registration measurement.
type wResult struct {
	reregistered  time.Duration // kill -> every SetWatches answered
	firstSetWatch time.Duration // kill -> first SetWatches written
	requests      int           // SetWatches requests on the new connection
	serverCount   int           // the new member's wchs "Total watches"
	fired, tried  int           // triggered watches that fired
	heapPerWatch  float64       // bytes
	regRate       float64       // registrations/s (64 goroutines)
	err           error
}

type ensembleRun struct {
	tb  *benchTB
	ens *realzk.Ensemble
}

func (e *ensembleRun) quorum() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return e.ens.WaitQuorum(ctx)
}

func (e *ensembleRun) leader() (int, error) {
	if err := e.quorum(); err != nil {
		return -1, err
	}
	for range 100 {
		if l := e.ens.Leader(); l >= 0 {
			return l, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return -1, errors.New("no leader")
}

// restart brings member i back and waits for the quorum.
func (e *ensembleRun) restart(i int) error {
	return e.tb.run(func() {
		e.ens.Start(i)
		if err := e.quorum(); err != nil {
			e.tb.Fatal(err)
		}
	})
}

func (e *ensembleRun) kill(i int) error { return e.tb.run(func() { e.ens.Kill(i) }) }

// srvrMode asks addr for srvr and returns its Mode ("" if not serving),
// without waiting for a 3.8 server's missing close after "not currently
// serving".
func srvrMode(addr string, timeout time.Duration) string {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return ""
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(nc, "srvr"); err != nil {
		return ""
	}
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := nc.Read(buf)
		got = append(got, buf[:n]...)
		s := string(got)
		if strings.Contains(s, "not currently serving") {
			return ""
		}
		if i := strings.Index(s, "Mode:"); i >= 0 {
			if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
				return strings.TrimSpace(s[i+5 : i+j])
			}
		}
		if err != nil {
			return ""
		}
	}
}

// pollLeader polls the members in idx every 5 ms until one reports Mode:
// leader, and returns when (or the zero time if stop closes first).
func pollLeader(addrs []string, stop <-chan struct{}) <-chan time.Time {
	out := make(chan time.Time, 1)
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var wg sync.WaitGroup
			var found atomic.Bool
			for _, a := range addrs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if srvrMode(a, 500*time.Millisecond) == "leader" {
						found.Store(true)
					}
				}()
			}
			wg.Wait()
			if found.Load() {
				out <- time.Now()
				return
			}
			select {
			case <-stop:
				out <- time.Time{}
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// failover measures kill -> first successful call for a client on the
// member of the given role, killed with SIGKILL.
func (e *ensembleRun) failover(k clientKind, role string) (res foResult) {
	l, err := e.leader()
	if err != nil {
		return foResult{err: err}
	}
	target := l
	if role == "follower" {
		target = (l + 1) % 3
	}
	addr := e.ens.Addr(target)
	c, err := k.new(e.ens.ConnString(), foSessionTimeout, addr)
	if err != nil {
		return foResult{err: err}
	}
	defer c.close()
	if got := c.server(); got != addr {
		return foResult{err: fmt.Errorf("client on %s, wanted %s", got, addr)}
	}
	if _, err := c.get(foPath); err != nil {
		return foResult{err: err}
	}
	var others []string
	for i := range 3 {
		if i != target {
			others = append(others, e.ens.Addr(i))
		}
	}
	var first atomic.Int64 // UnixNano of the earliest success after the kill
	late := func(t time.Time) {
		v := t.UnixNano()
		for {
			cur := first.Load()
			if cur != 0 && cur <= v {
				return
			}
			if first.CompareAndSwap(cur, v) {
				return
			}
		}
	}
	stopPoll := make(chan struct{})
	var ready <-chan time.Time
	t0 := time.Now()
	if role == "leader" {
		ready = pollLeader(others, stopPoll)
	}
	if *verbose {
		tr := func(m string) { log.Printf("  +%v %s %s", time.Since(t0).Round(100*time.Microsecond), k.name, m) }
		gateOf(c).trace.Store(&tr)
	}
	if err := e.kill(target); err != nil {
		close(stopPoll)
		return foResult{err: err}
	}
	killedAt := time.Now()
	for time.Since(t0) < foBound && first.Load() == 0 {
		s := time.Now()
		if err := c.getTimeout(foPath, foCallTimeout, late); err == nil {
			break
		}
		if time.Since(s) < time.Millisecond {
			time.Sleep(time.Millisecond) // do not spin on a fast failure
		}
	}
	if *verbose {
		log.Printf("  +%v killed; first success at %v", killedAt.Sub(t0).Round(100*time.Microsecond), time.Unix(0, first.Load()).Sub(t0))
	}
	if f := first.Load(); f != 0 {
		res.firstSuccess = time.Unix(0, f).Sub(t0)
	} else {
		res.err = fmt.Errorf("no successful call within %v", foBound)
	}
	if ready != nil {
		select {
		case at := <-ready:
			if !at.IsZero() {
				res.leaderReady = at.Sub(t0)
			}
		case <-time.After(foBound):
		}
	}
	close(stopPoll)
	c.close()
	if err := e.restart(target); err != nil && res.err == nil {
		res.err = err
	}
	return res
}

func watchPath(i int) string { return watchParent + "/w" + strconv.Itoa(i) }

// watches sets n one-shot watches from a client on a follower, kills that
// follower, and measures kill -> every SetWatches answered; then it fires
// a few watches.
func (e *ensembleRun) watches(k clientKind, n int) (res wResult) {
	l, err := e.leader()
	if err != nil {
		return wResult{err: err}
	}
	target := (l + 1) % 3
	addr := e.ens.Addr(target)
	c, err := k.new(e.ens.ConnString(), foSessionTimeout, addr)
	if err != nil {
		return wResult{err: err}
	}
	defer c.close()
	if got := c.server(); got != addr {
		return wResult{err: fmt.Errorf("client on %s, wanted %s", got, addr)}
	}
	k.allocWatches(c, n)
	var h0, h1 runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&h0)
	regStart := time.Now()
	var wg sync.WaitGroup
	var regErr atomic.Pointer[error]
	const workers = 64
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += workers {
				if err := c.watch(i, watchPath(i)); err != nil {
					regErr.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if p := regErr.Load(); p != nil {
		return wResult{err: fmt.Errorf("registering watches: %w", *p)}
	}
	res.regRate = float64(n) / time.Since(regStart).Seconds()
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&h1)
	res.heapPerWatch = (float64(h1.HeapAlloc) - float64(h0.HeapAlloc)) / float64(n)

	sn := newSniffer(n)
	gate := gateOf(c)
	gate.sniff.Store(sn)
	t0 := time.Now()
	if err := e.kill(target); err != nil {
		return wResult{err: err}
	}
	select {
	case <-sn.done:
		res.reregistered = sn.doneAt.Sub(t0)
	case <-time.After(2 * foBound):
		req, acked, failed := sn.snapshot()
		res.err = fmt.Errorf("after %v: %d SetWatches sent, %d paths acknowledged, %d failed", 2*foBound, req, acked, failed)
	}
	gate.sniff.Store(nil)
	res.requests, _, _ = sn.snapshot()
	sn.mu.Lock()
	if !sn.firstSentAt.IsZero() {
		res.firstSetWatch = sn.firstSentAt.Sub(t0)
	}
	sn.mu.Unlock()
	if res.err == nil {
		// The server's own count, on the member the client moved to.
		for i := range 3 {
			if e.ens.Addr(i) == c.server() {
				if out, err := e.ens.FourLetter(i, "wchs"); err == nil {
					res.serverCount = parseTotalWatches(out)
				}
			}
		}
		// Fire a few: create watched nodes, expect NodeCreated.
		for j := range 5 {
			i := j * (n / 5)
			res.tried++
			if err := c.create(watchPath(i), nil); err != nil {
				log.Printf("watches: create %s: %v", watchPath(i), err)
				continue
			}
			if c.fired(i, 10*time.Second) {
				res.fired++
			}
			c.del(watchPath(i))
		}
	}
	c.close()
	if err := e.restart(target); err != nil && res.err == nil {
		res.err = err
	}
	return res
}

func parseTotalWatches(s string) int {
	i := strings.Index(s, "Total watches:")
	if i < 0 {
		return -1
	}
	v := strings.TrimSpace(s[i+len("Total watches:"):])
	if j := strings.IndexAny(v, "\r\n"); j >= 0 {
		v = v[:j]
	}
	n, _ := strconv.Atoi(v)
	return n
}
