package soak

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/realzk"
	"go.uber.org/goleak"
)

var (
	flagSeed      = flag.Uint64("soak.seed", 0, "seed of the soak's random choices (0: pick one; it is printed)")
	flagDuration  = flag.Duration("soak.duration", 2*time.Minute, "how long clients work while faults are injected")
	flagClients   = flag.Int("soak.clients", 4, "number of concurrent clients")
	flagSession   = flag.Duration("soak.session", 4*time.Second, "session timeout the clients ask for")
	flagCheckTime = flag.Duration("soak.checktime", 2*time.Minute, "bound on the linearizability check")
	flagHeapProf  = flag.String("soak.heapprofile", "", "write a heap profile to this file after the final garbage collection")
	flagStrict    = flag.Bool("soak.strict", false, "fail when the ensemble itself lost acknowledged data (its members disagree), rather than leave only the checks of the nodes concerned unjudged")
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// faults counts what the chaos loop did.
type faults struct {
	kill, killLeader, stop, pause, pauseLeader, quorumLoss int
}

func (f faults) total() int {
	return f.kill + f.killLeader + f.stop + f.pause + f.pauseLeader + f.quorumLoss
}

func TestSoak(t *testing.T) {
	if *flagHeapProf != "" {
		runtime.MemProfileRate = 512 // a fine-grained profile of what survives the run
	}
	seed := *flagSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("soak: seed %d (rerun with -soak.seed=%d), duration %v, %d clients, session timeout %v",
		seed, seed, *flagDuration, *flagClients, *flagSession)
	rng := rand.New(rand.NewPCG(seed, 0x50a4))

	ens := realzk.Start(t, realzk.Options{
		Members:           3,
		TickTime:          100 * time.Millisecond,
		MaxSessionTimeout: 10 * time.Second,
	})
	connStr := ens.ConnString()
	addrs := make([]string, ens.Size())
	for i := range addrs {
		addrs[i] = ens.Addr(i)
	}
	setup(t, connStr)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	h := newHistory()
	// Who believes it leads, each member probed on its own (a paused one
	// holds up only its own probes): synced reads such a member answers
	// are not linearizable in ZooKeeper (see leaderSafe).
	leaders := &leaderTimeline{}
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	for i := range ens.Size() {
		sampling.Add(1)
		go func() {
			defer sampling.Done()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				from := h.now()
				mode := ens.Mode(i)
				leaders.observe(from, h.now(), i, mode)
				select {
				case <-tick.C:
				case <-stopSampling:
					return
				}
			}
		}()
	}
	sampled := make(chan struct{})
	go func() {
		sampling.Wait()
		close(sampled)
	}()
	defer func() {
		select {
		case <-stopSampling:
		default:
			close(stopSampling)
		}
		<-sampled
	}()
	v := &violations{}
	n := &counters{}
	clients := make([]*client, *flagClients)
	for i := range clients {
		clients[i] = &client{
			id: i, rng: rand.New(rand.NewPCG(rng.Uint64(), uint64(i))),
			connStr: connStr, T: *flagSession, h: h, v: v, n: n,
		}
	}

	// The clients run until the deadline; the chaos runs here, on the test
	// goroutine (realzk's controls must). Whatever way this function ends,
	// the clients are stopped and waited for.
	work, stopWork := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		stopWork()
		wg.Wait()
	}()
	start := time.Now()
	deadline := start.Add(*flagDuration)
	for _, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl.run(work)
		}()
	}
	f := chaos(t, ens, rng, deadline)
	stopWork()
	wg.Wait()
	ran := time.Since(start)

	close(stopSampling)
	<-sampled

	// Everything back up before the final checks.
	quorumCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	err := ens.WaitQuorum(quorumCtx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}

	// Close every client's last session, checking it first if it lives.
	for _, cl := range clients {
		finishClient(t, cl, v)
	}
	// The members must agree: if they do not, the ensemble lost
	// acknowledged writes on some of them (ZooKeeper 3.8.0 has such bugs,
	// e.g. ZOOKEEPER-4785, fixed in 3.8.4), and the client's checks below,
	// which read through one member, cannot be judged.
	diverged := compareMembers(t, ens)
	if len(diverged) > 0 {
		t.Logf("SERVER ANOMALY: the members of the ensemble disagree on %d nodes (replica divergence in ZooKeeper, not a client fault):\n%s",
			len(diverged), strings.Join(diverged[:min(len(diverged), 20)], "\n"))
	}
	checker := openChecker(t, connStr)
	defer checker.Close()
	checkFinal(t, checker, clients, h, v)
	if err := checker.Close(); err != nil {
		t.Error(err)
	}

	// No goroutine of the client survives its handles.
	if leak := waitNoGoroutines("github.com/zkgo/zk."); leak != "" {
		v.add("client goroutines survive every handle's Close:\n%s", leak)
	}

	// Linearizability of the register history: the writes and the synced
	// reads, leaving out those a member answered while it believed it led,
	// deposed or not (see leaderSafe); those are listed when stale, as
	// ZooKeeper's doing.
	h.mu.Lock()
	ops := append([]porcupine.Operation(nil), h.regOps...)
	boundUnknown(ops, h.all, h.ended, *flagSession)
	h.mu.Unlock()
	kept, leaderReads := leaderSafe(ops, addrs, leaders, 250*time.Millisecond)
	// A register where two acknowledged Sets made the same version forked
	// in the ensemble: it acknowledged a write and then lost it (ZooKeeper
	// 3.8.0 can, e.g. ZOOKEEPER-4785, fixed in 3.8.4). A client can only
	// report the version the server gave it, so such a register's history
	// judges the server, not the client: it is reported and left out.
	forks := forkedRegisters(ops)
	for _, f := range forks {
		t.Logf("SERVER ANOMALY: %s (an acknowledged write was lost by the ensemble; this register is not judged)", f.String())
	}
	// Registers the members disagree on at the end are likewise the
	// server's doing: not judged either.
	unjudged := unjudgedByDivergence(diverged)
	for reg := range forks {
		unjudged.regs[reg] = "forked in the ensemble"
	}
	kept = slices.DeleteFunc(kept, func(op porcupine.Operation) bool { return unjudged.regs[op.Input.(regInput).key] != "" })
	checkStart := time.Now()
	res := checkLinearizable(registerModel(), kept, *flagCheckTime)
	checkTook := time.Since(checkStart)
	pieces := len(registerModel().Partition(kept))
	switch res {
	case porcupine.Illegal:
		v.add("the history of register writes and synced reads (not answered by a member that believed it led) is not linearizable")
		for i, s := range staleReads(kept, kept) {
			if i == 10 {
				break
			}
			v.add("stale synced read: %s", s)
		}
		_, info := porcupine.CheckOperationsVerbose(registerModel(), kept, *flagCheckTime)
		if path, err := writeVisualization(info); err == nil {
			t.Logf("porcupine visualization: %s", path)
		}
	case porcupine.Unknown:
		t.Logf("soak: the linearizability check did not finish within %v (not a failure)", *flagCheckTime)
	}
	leaderStale := staleReads(ops, leaderReads)
	t.Logf("soak: %d synced reads answered by a member that believed it led (deposed or not) are left out of the linearizability check; "+
		"%d of them were stale (ZooKeeper: a sync the leader serves waits for nothing, ZOOKEEPER-1675; not the client)", len(leaderReads), len(leaderStale))
	for i, s := range leaderStale {
		if i == 5 {
			break
		}
		t.Logf("soak: stale synced read answered by a member that believed it led: %s", s)
	}
	leaders.mu.Lock()
	leaderChanges := leaders.elected
	leaders.mu.Unlock()

	// The heap once the history is let go: what is left is what the
	// clients (all closed) kept.
	nall, nops := len(h.all), len(kept)
	if len(v.all()) > 0 || len(diverged) > 0 {
		if path, err := writeOpLog(h); err == nil {
			t.Logf("every operation, in call order: %s", path)
		}
		if path, err := writeServerLogs(ens); err == nil {
			t.Logf("the members' server logs (last lines): %s", path)
		}
	}
	h, ops, kept, leaderReads, clients = nil, nil, nil, nil, nil
	waitNoGoroutines("github.com/anishathalye/porcupine.") // a check that timed out may still be winding down
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if *flagHeapProf != "" {
		if f, err := os.Create(*flagHeapProf); err == nil {
			pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	// With the linearizability check's goroutines bounded (see
	// checkLinearizable), the heap of a 4-minute run ends where it began
	// (275 KB -> 260 KB); the slack is for the runtime's own bookkeeping.
	const heapSlack = 4 << 20
	if after.HeapAlloc > before.HeapAlloc+heapSlack {
		v.add("heap grew from %d to %d bytes", before.HeapAlloc, after.HeapAlloc)
	}

	vs := slices.DeleteFunc(v.all(), func(msg string) bool {
		if why := unjudged.covers(msg); why != "" {
			t.Logf("not judged (%s): %s", why, msg)
			return true
		}
		return false
	})
	n.mu.Lock()
	t.Logf("soak: seed=%d duration=%v ops=%d (sets %d: %d ok, %d bad version, %d unknown; gets %d; sync reads %d; "+
		"sequential creates %d: %d ok; one-shot watches %d: %d fired, %d ended by an error; ephemeral checks %d; "+
		"stream events %d over %d connected intervals) sessions=%d (expired %d, failed connects %d) "+
		"faults=%d (kill %d, kill leader %d, stop %d, pause %d, pause leader %d, quorum loss %d) "+
		"linearizability=%v in %v over %d register ops in %d pieces (%d leader changes seen); heap %d -> %d bytes (history released); violations=%d",
		seed, ran.Round(time.Millisecond), nall,
		n.sets, n.setOK, n.setBad, n.setUnknown, n.gets, n.syncReads,
		n.creates, n.createOK, n.watchesSet, n.watchFired, n.watchFailed, n.ephChecks,
		n.streamEvents, n.streamIntervals, n.sessions, n.expired, n.connectFailures,
		f.total(), f.kill, f.killLeader, f.stop, f.pause, f.pauseLeader, f.quorumLoss,
		resultName(res), checkTook.Round(time.Millisecond), nops, pieces, leaderChanges, before.HeapAlloc, after.HeapAlloc, len(vs))
	n.mu.Unlock()
	if len(diverged) > 0 && *flagStrict {
		t.Errorf("the ZooKeeper members diverged on %d nodes (server data loss, see SERVER ANOMALY above); -soak.strict fails on that", len(diverged))
	}
	for i, s := range vs {
		if i == 50 {
			t.Errorf("... and %d more", len(vs)-50)
			break
		}
		t.Errorf("violation: %s", s)
	}
}

func resultName(r porcupine.CheckResult) string {
	switch r {
	case porcupine.Ok:
		return "ok"
	case porcupine.Illegal:
		return "ILLEGAL"
	}
	return "unknown (timed out)"
}

// setup creates the tree the soak works in.
func setup(t *testing.T, connStr string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := zk.Connect(ctx, connStr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	paths := []string{rootPath, regPath, seqPath, ephPath}
	for i := range numRegs {
		paths = append(paths, regName(i))
	}
	for _, p := range paths {
		data := []byte(nil)
		if strings.HasPrefix(p, regPath+"/") {
			data = []byte(initialData)
		}
		if _, err := c.Create(ctx, p, data, zk.CreatePersistent, zk.OpenACL); err != nil {
			t.Fatalf("setup: %v", err)
		}
	}
}

// chaos injects faults until the deadline, one at a time, each undone
// before the next. It returns what it did.
func chaos(t *testing.T, ens *realzk.Ensemble, rng *rand.Rand, deadline time.Time) faults {
	var f faults
	between := func() time.Duration { return 300*time.Millisecond + time.Duration(rng.Int64N(int64(2*time.Second))) }
	hold := func(max time.Duration) time.Duration {
		return 300*time.Millisecond + time.Duration(rng.Int64N(int64(max)))
	}
	sleepUntil := func(d time.Duration) {
		if until := time.Until(deadline); until < d {
			d = max(until, 0)
		}
		tm := time.NewTimer(d)
		<-tm.C
	}
	waitServing := func(i int) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := ens.WaitServing(ctx, i); err != nil {
			t.Fatalf("member %d after resume: %v\n%s", i, err, ens.LogTail(i, 40))
		}
	}
	for k := 1; time.Now().Before(deadline); k++ {
		sleepUntil(between())
		if !time.Now().Before(deadline) {
			break
		}
		i := rng.IntN(ens.Size())
		leader := ens.Leader()
		began := time.Now()
		var what string
		switch x := rng.IntN(100); {
		case x < 25:
			what = fmt.Sprintf("kill member %d", i)
			ens.Kill(i)
			sleepUntil(hold(3 * time.Second))
			ens.Start(i)
			f.kill++
		case x < 40 && leader >= 0:
			what = fmt.Sprintf("kill leader %d", leader)
			ens.Kill(leader)
			sleepUntil(hold(3 * time.Second))
			ens.Start(leader)
			f.killLeader++
		case x < 60:
			what = fmt.Sprintf("pause member %d", i)
			ens.Pause(i)
			sleepUntil(hold(5 * time.Second))
			ens.Resume(i)
			waitServing(i)
			f.pause++
		case x < 70 && leader >= 0:
			what = fmt.Sprintf("pause leader %d", leader)
			ens.Pause(leader)
			sleepUntil(hold(5 * time.Second))
			ens.Resume(leader)
			waitServing(leader)
			f.pauseLeader++
		case x < 88:
			what = fmt.Sprintf("stop member %d", i)
			ens.Stop(i)
			sleepUntil(hold(3 * time.Second))
			ens.Start(i)
			f.stop++
		default:
			j := (i + 1 + rng.IntN(ens.Size()-1)) % ens.Size()
			what = fmt.Sprintf("kill members %d and %d (quorum lost)", i, j)
			ens.Kill(i)
			ens.Kill(j)
			sleepUntil(hold(3 * time.Second))
			ens.Launch(i)
			ens.Launch(j)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			err := ens.WaitQuorum(ctx)
			cancel()
			if err != nil {
				t.Fatalf("quorum after relaunch: %v", err)
			}
			f.quorumLoss++
		}
		t.Logf("fault %d at %v: %s, for %v", k, began.Sub(deadline.Add(-*flagDuration)).Round(time.Millisecond), what,
			time.Since(began).Round(time.Millisecond))
	}
	return f
}

// finishClient ends a client's last session: if it still lives, it waits
// for it to be connected, checks its watches and its ephemeral node, and
// closes it.
func finishClient(t *testing.T, cl *client, v *violations) {
	s := cl.sess
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*settleTimeout)
	defer cancel()
	for st := s.c.State(); st != zk.StateConnected && !terminal(st); st = s.c.State() {
		if !s.c.WaitForStateChange(ctx, st) {
			break
		}
	}
	if terminal(s.c.State()) {
		cl.endSession("expired")
		return
	}
	// Every register: a synced read, after which every watch set at an
	// older version must have fired.
	for i := range numRegs {
		reg := regName(i)
		if err := s.c.Sync(ctx, reg); err != nil {
			t.Logf("final sync of session 0x%x: %v", s.rec.id, err)
			continue
		}
		if _, st, err := s.c.Get(ctx, reg); err == nil {
			cl.saw(reg, st.Version, "final read")
		}
	}
	if s.rec.ephKnown {
		if err := s.c.Sync(ctx, ephPath); err == nil {
			ok, st, err := s.c.Exists(ctx, s.rec.eph)
			switch {
			case err != nil:
			case !ok:
				v.add("live session 0x%x: its ephemeral node %s is gone", s.rec.id, s.rec.eph)
			case st.EphemeralOwner != s.rec.id:
				v.add("live session 0x%x: its ephemeral node %s is owned by 0x%x", s.rec.id, s.rec.eph, st.EphemeralOwner)
			}
		}
	}
	if terminal(s.c.State()) {
		cl.endSession("expired")
		return
	}
	cl.endSession("closed")
}

// openChecker opens the handle the final checks read through.
func openChecker(t *testing.T, connStr string) *zk.Conn {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := zk.Connect(ctx, connStr, zk.WithSessionTimeout(10*time.Second), zk.WithMaxFrameSize(checkFrameSize))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkFrameSize bounds the replies of the final checks' handles: a long
// soak leaves hundreds of thousands of sequential nodes, and listing them
// takes a reply far above the default 4 MiB frame limit.
const checkFrameSize = 256 << 20

// node is one child read by readDir.
type node struct {
	data []byte
	stat *zk.Stat
}

// readDir lists dir and reads every child, 32 reads in flight at once, so
// that the final checks of a long soak read their nodes in seconds.
func readDir(ctx context.Context, c *zk.Conn, dir string) (map[string]node, error) {
	names, _, err := c.Children(ctx, dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string]node, len(names))
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	next := make(chan string)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range next {
				data, st, err := c.Get(ctx, dir+"/"+name)
				mu.Lock()
				if err != nil && first == nil {
					first = fmt.Errorf("read of %s/%s: %w", dir, name, err)
				} else if err == nil {
					out[name] = node{data, st}
				}
				mu.Unlock()
			}
		}()
	}
	for _, name := range names {
		next <- name
	}
	close(next)
	wg.Wait()
	return out, first
}

// unjudged says which client checks a server anomaly spoils: registers
// (by path) the ensemble forked or its members disagree on, and, when the
// members disagree on any sequential node, every check of the sequential
// nodes (a lost create shows up in the checks of its neighbours too).
type unjudged struct {
	regs map[string]string // register path -> why
	seq  string            // non-empty: why the sequential checks are not judged
}

func unjudgedByDivergence(diverged []string) unjudged {
	u := unjudged{regs: map[string]string{}}
	for _, d := range diverged {
		node, _, _ := strings.Cut(d, ": ")
		switch {
		case strings.HasPrefix(node, regPath+"/"):
			u.regs[node] = "the members disagree on it"
		case strings.HasPrefix(node, seqPath+"/"):
			u.seq = "the members disagree on " + node
		}
	}
	return u
}

// covers returns why the violation msg is not judged, or "".
func (u unjudged) covers(msg string) string {
	for reg, why := range u.regs {
		if strings.Contains(msg, reg+" ") || strings.Contains(msg, reg+":") || strings.HasSuffix(msg, reg) {
			return reg + " " + why
		}
	}
	if u.seq != "" && strings.Contains(msg, seqPath+"/") {
		return u.seq
	}
	return ""
}

// compareMembers reads the soak's tree from each member on its own and
// reports where they disagree: replicas that diverge are a server fault,
// which the client checks would otherwise blame on the client.
func compareMembers(t *testing.T, ens *realzk.Ensemble) (anomalies []string) {
	views := make([]map[string]string, ens.Size())
	for i := range views {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		c, err := zk.Connect(ctx, ens.Addr(i), zk.WithMaxFrameSize(checkFrameSize))
		if err != nil {
			cancel()
			t.Logf("member %d: %v", i, err)
			continue
		}
		view := map[string]string{}
		err = c.Sync(ctx, rootPath)
		for _, dir := range []string{regPath, seqPath} {
			if err != nil {
				break
			}
			var nodes map[string]node
			nodes, err = readDir(ctx, c, dir)
			for name, n := range nodes {
				view[dir+"/"+name] = fmt.Sprintf("v%d %q", n.stat.Version, n.data)
			}
		}
		c.Close()
		cancel()
		if err != nil {
			t.Logf("member %d: %v", i, err)
			continue
		}
		views[i] = view
	}
	keys := map[string]bool{}
	for _, view := range views {
		for k := range view {
			keys[k] = true
		}
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		var vals []string
		first, same := "", true
		for i, view := range views {
			if view == nil {
				continue
			}
			val, ok := view[k]
			if !ok {
				val = "(missing)"
			}
			if len(vals) == 0 {
				first = val
			} else if val != first {
				same = false
			}
			vals = append(vals, fmt.Sprintf("member %d: %s", i, val))
		}
		if !same {
			anomalies = append(anomalies, k+": "+strings.Join(vals, "; "))
		}
	}
	return anomalies
}

// checkFinal checks the end state against the history.
func checkFinal(t *testing.T, c *zk.Conn, clients []*client, h *history, v *violations) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	h.mu.Lock()
	defer h.mu.Unlock()

	// Registers: no acknowledged Set lost, nothing written from nowhere.
	final := map[string]int32{}
	for i := range numRegs {
		reg := regName(i)
		call := h.now()
		if err := c.Sync(ctx, reg); err != nil {
			t.Fatalf("final sync: %v", err)
		}
		data, st, err := c.Get(ctx, reg)
		if err != nil {
			t.Fatalf("final read: %v", err)
		}
		ret := h.now()
		final[reg] = st.Version
		ok, unk := h.okSets[reg], h.unkSets[reg]
		if int(st.Version) < ok {
			v.add("%s: final version %d, but %d Sets were acknowledged: an acknowledged write was lost", reg, st.Version, ok)
		}
		if int(st.Version) > ok+unk {
			v.add("%s: final version %d, more than the %d acknowledged and %d unknown Sets", reg, st.Version, ok, unk)
		}
		if string(data) != initialData && !h.written[reg][string(data)] {
			v.add("%s: final data %q was written by no Set", reg, data)
		}
		h.regOps = append(h.regOps, porcupine.Operation{
			ClientId: len(clients),
			Input:    regInput{key: reg},
			Call:     int64(call), Return: int64(ret),
			Output: regOutput{kind: outRead, version: st.Version, data: string(data)},
		})
	}
	// A one-shot watch that fired saw a change that really happened.
	for _, cl := range clients {
		for _, s := range cl.done {
			for _, w := range s.fired {
				if w.ev.Type == zk.EventNodeDataChanged && final[w.reg] <= w.v {
					v.add("session 0x%x: a watch on %s set at version %d fired, but the final version is %d", s.rec.id, w.reg, w.v, final[w.reg])
				}
			}
		}
	}

	// Sequential creates: every acknowledged one exists with its data, none
	// happened twice, none came from nowhere.
	seqNodes, err := readDir(ctx, c, seqPath)
	if err != nil {
		t.Fatalf("final read of %s: %v", seqPath, err)
	}
	data := make(map[string]string, len(seqNodes))
	for name, n := range seqNodes {
		data[name] = string(n.data)
	}
	sq := judgeSeqCreates(seqPath, data, h.attempted, h.created, v)
	for _, a := range sq.anomalies {
		t.Logf("SERVER ANOMALY: %s", a)
	}
	exists, nums := sq.exists, sq.nums
	sort.Ints(nums)
	gaps := 0
	for i := 1; i < len(nums); i++ {
		gaps += nums[i] - nums[i-1] - 1
	}
	t.Logf("soak: %d sequential nodes (%d acknowledged, %d unknown creates), %d gaps in the numbering",
		len(data), len(h.created), h.unkCreate, gaps)
	// Every node a stream reported exists.
	for _, cl := range clients {
		for _, s := range cl.done {
			for _, p := range s.rec.observed {
				if !exists[p] {
					v.add("session 0x%x: its stream reported %s created, but it does not exist", s.rec.id, p)
				}
			}
		}
	}

	// Ephemeral nodes: gone for every session that expired (the ensemble
	// may take up to a session timeout, and an election, to agree), gone
	// for every closed one, and never missing while a session lived.
	var sessions []*sessionRec
	for _, cl := range clients {
		sessions = append(sessions, cl.sessions...)
	}
	for _, r := range sessions {
		if r.ephMissing > 0 && r.end != "expired" {
			v.add("session 0x%x (%s): its ephemeral node was missing %d times while the session lived", r.id, r.end, r.ephMissing)
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var left []string
		for _, r := range sessions {
			if r.eph == "" {
				continue
			}
			if err := c.Sync(ctx, ephPath); err != nil {
				t.Fatalf("final sync: %v", err)
			}
			ok, st, err := c.Exists(ctx, r.eph)
			if err != nil {
				t.Fatalf("final exists: %v", err)
			}
			if ok {
				left = append(left, fmt.Sprintf("%s (session 0x%x, %s, owner 0x%x)", r.eph, r.id, r.end, st.EphemeralOwner))
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			v.add("ephemeral nodes of ended sessions still exist: %s", strings.Join(left, ", "))
			break
		}
		wait(ctx, 200*time.Millisecond) // no event tells when the ensemble expires a session
	}
	kids, _, err := c.Children(ctx, ephPath)
	if err == nil && len(kids) > 0 {
		v.add("nodes under %s from no session of the soak: %v", ephPath, kids)
	}
}

// waitNoGoroutines waits (bounded) until no goroutine has a frame whose
// function name contains pkg, and returns the stacks of those left.
func waitNoGoroutines(pkg string) string {
	deadline := time.Now().Add(settleTimeout)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var left []string
		for _, g := range bytes.Split(buf, []byte("\n\n")) {
			s := string(g)
			if strings.Contains(s, pkg) {
				left = append(left, s)
			}
		}
		if len(left) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(left, "\n\n")
		}
		time.Sleep(20 * time.Millisecond) // bounded polling: goroutine exit has no event
	}
}

func writeVisualization(info porcupine.LinearizationInfo) (string, error) {
	f, err := os.CreateTemp("", "zk-soak-*.html")
	if err != nil {
		return "", err
	}
	defer f.Close()
	return f.Name(), porcupine.Visualize(registerModel(), info, f)
}

// writeServerLogs saves the end of every member's log, for telling a
// server fault from a client one.
func writeServerLogs(ens *realzk.Ensemble) (string, error) {
	f, err := os.CreateTemp("", "zk-soak-servers-*.txt")
	if err != nil {
		return "", err
	}
	defer f.Close()
	for i := range ens.Size() {
		fmt.Fprintf(f, "===== member %d (%s)\n%s\n", i, ens.Addr(i), ens.LogTail(i, 5000))
	}
	return f.Name(), nil
}

func writeOpLog(h *history) (string, error) {
	f, err := os.CreateTemp("", "zk-soak-ops-*.txt")
	if err != nil {
		return "", err
	}
	defer f.Close()
	h.mu.Lock()
	all := append([]opRecord(nil), h.all...)
	h.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].call < all[j].call })
	for _, r := range all {
		fmt.Fprintln(f, r)
	}
	return f.Name(), nil
}

// seqJudgment is what judgeSeqCreates found.
type seqJudgment struct {
	exists    map[string]bool // full paths of the nodes found
	nums      []int           // their sequence numbers, sorted later
	anomalies []string        // server faults seen, not judged
}

// judgeSeqCreates checks the sequential nodes found at the end (name ->
// data, the data being the id of the create that wrote it) against the
// creates made: every acknowledged one exists with its data, none happened
// twice, none came from nowhere. Violations go to v.
func judgeSeqCreates(seqPath string, found map[string]string, attempted map[string]bool, created map[string]string, v *violations) seqJudgment {
	var j seqJudgment
	names := make([]string, 0, len(found))
	for name := range found {
		names = append(names, name)
	}
	sort.Strings(names)
	exists := map[string]bool{}
	j.exists = exists
	dataAt := map[string]string{}
	byID := map[string]string{}
	j.nums = make([]int, 0, len(names))
	for _, name := range names {
		p := seqPath + "/" + name
		exists[p] = true
		id := found[name]
		dataAt[p] = id
		if !attempted[id] {
			v.add("%s holds %q, which no create wrote", p, id)
		}
		if other, dup := byID[id]; dup {
			v.add("create %s happened twice: %s and %s (retried behind the caller's back)", id, other, p)
		}
		byID[id] = p
		if n, ok := seqNumber(p); ok {
			j.nums = append(j.nums, n)
		}
	}
	acked := map[string]bool{}
	for _, id := range created {
		acked[id] = true
	}
	for p, id := range created {
		if !exists[p] {
			v.add("acknowledged create %s (%s) is gone", p, id)
		} else if dataAt[p] != id { // a create twice is reported above
			where := "nowhere"
			if byID[id] != "" {
				where = "in " + byID[id]
			}
			other := "an acknowledged create"
			if !acked[dataAt[p]] {
				other = "a create whose outcome was unknown"
			}
			if where == "nowhere" && !acked[dataAt[p]] {
				// The ensemble gave one sequential name to two creates:
				// the acknowledged one, which it then lost, and one whose
				// outcome the client never learned (seen once with
				// ZooKeeper 3.8.0: a create sent to a member as it was
				// stopped, from a session that expired, turned up under
				// the name acknowledged 5 s later to another session's
				// create, on another member). The client reports the name
				// the server answered and sends each create once, on one
				// connection, so that is the server's fork, like
				// forkedRegisters.
				j.anomalies = append(j.anomalies, fmt.Sprintf("acknowledged create %s (%s) holds %q (%s) instead, and %s is nowhere: the ensemble gave the name twice and lost the acknowledged create; not judged",
					p, id, dataAt[p], other, id))
				continue
			}
			v.add("acknowledged create %s (%s) holds %q (%s) instead; %s is %s", p, id, dataAt[p], other, id, where)
		}
	}
	return j
}
