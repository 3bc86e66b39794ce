// Command zkbench compares github.com/zkgo/zk ("ours") with
// github.com/go-zookeeper/zk v1.0.4 against real Apache ZooKeeper (NIO and
// Netty connection factories, started here through internal/realzk) and
// against the library's in-memory server, beside a minimal raw-protocol
// client that gives the ceiling of one connection on this machine.
//
// Both clients, and the raw client, run against the same server in one run,
// alternating (the order rotates every round); every figure is the median
// over the rounds, every ratio the median of the per-round ratios. The
// servers run one at a time, in processes of their own (the in-memory
// server too), so this process's CPU time and allocations are the clients'
// alone. The report (Markdown) goes to stdout, progress to stderr.
//
//	cd bench && go run ./cmd/zkbench > results.md   # full run, about 8 minutes
//	cd bench && go run ./cmd/zkbench -quick         # smoke test, about 35 s
//	go run ./cmd/zkbench -only netty,get64 -duration 5s -rounds 7
//	go run ./cmd/zkbench -only netty,get64 -clients ours -cpuprofile ours.pprof
//	go run ./cmd/zkbench -server 127.0.0.1:2181     # an existing server; no failover
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/realzk"
)

var (
	quick       = flag.Bool("quick", false, "short run for a CI smoke test (seconds per server): -duration 300ms -rounds 1 -watches 2000")
	duration    = flag.Duration("duration", 2*time.Second, "length of each measured run")
	warmup      = flag.Duration("warmup", 0, "warm-up per client and workload before the rounds (default: duration/2, at least 1s unless -quick)")
	rounds      = flag.Int("rounds", 5, "rounds; each runs every client once per workload, in rotating order; figures are medians")
	only        = flag.String("only", "", "comma-separated subset: servers nio,netty,inmem,ensemble and/or workloads serial,get64,cd64 (on nio, netty, inmem) and failover,watches (on the 3-member ensemble)")
	serverFlag  = flag.String("server", "", "use this existing server or ensemble (host:port[,host:port...], 127.0.0.1) instead of starting servers; failover and watches are skipped")
	inflight    = flag.Int("inflight", 64, "goroutines (and raw requests in flight) for the parallel workloads")
	payload     = flag.Int("payload", 1024, "node data size in bytes")
	nWatches    = flag.Int("watches", 100000, "one-shot watches for the re-registration test")
	tick        = flag.Duration("tick", 200*time.Millisecond, "tickTime of the 3-member ensemble")
	ensNetty    = flag.Bool("ensemble-netty", false, "run the failover ensemble with the Netty connection factory (default NIO)")
	serverC1    = flag.Bool("server-c1", false, "keep realzk's JIT setting for the servers (C1 only, fast start); the default lets the JVM use C2 as in production")
	cpuprofile  = flag.String("cpuprofile", "", "write a CPU profile of this process (the clients) to this file")
	clientsFlag = flag.String("clients", "ours,go-zookeeper,raw", "clients to run in the throughput workloads (for profiling one alone)")
	foRounds    = flag.Int("failover-rounds", 5, "rounds of the failover measurements (cheap; noisy)")
	verbose     = flag.Bool("v", false, "log server start-up and every sample")
	serveMem    = flag.Bool("serve-inmem", false, "internal: run the in-memory server (child process)")
)

// Workloads.
const (
	wSerial   = "serial"
	wGet64    = "get64"
	wCD64     = "cd64"
	wFailover = "failover"
	wWatches  = "watches"
)

// The clients compared, and the ceiling.
const (
	cOurs = "ours"
	cGozk = "go-zookeeper"
	cRaw  = "raw"
)

type key struct{ server, workload, client string }

var (
	samples   = map[key][]sample{}
	notes     []string
	servers   []serverInfo
	foResults = map[key][]foResult{}
	wResults  = map[string][]wResult{}
	selected  = map[string]bool{}
)

type serverInfo struct {
	name, version string
}

func note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	notes = append(notes, s)
	log.Print(s)
}

func want(tok string) bool { return selected[tok] }

func main() {
	flag.Parse()
	if *serveMem {
		serveInmem()
		return
	}
	log.SetFlags(log.Ltime)
	if *quick {
		*duration, *rounds, *foRounds = 300*time.Millisecond, 1, 1
		if !flagSet("watches") {
			*nWatches = 2000
		}
	}
	if *warmup == 0 {
		*warmup = *duration / 2
		if !*quick {
			*warmup = max(*warmup, time.Second)
		}
	}
	if err := parseOnly(*only); err != nil {
		log.Fatal(err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		log.Print("interrupted: stopping the servers")
		finishAll()
		os.Exit(130)
	}()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	facts := machineFacts()
	start := time.Now()

	if *serverFlag != "" {
		throughputPhase("external", *serverFlag, func() string { return srvrVersion(firstHost(*serverFlag)) })
	} else {
		if reason, ok := realzk.Available(); !ok && (want("nio") || want("netty") || want("ensemble")) {
			note("real ZooKeeper not available (%s): NIO, Netty and failover skipped", reason)
		} else {
			for _, netty := range []bool{false, true} {
				name := "nio"
				if netty {
					name = "netty"
				}
				if !want(name) || !(want(wSerial) || want(wGet64) || want(wCD64)) {
					continue
				}
				realPhase(name, netty)
			}
		}
		if want("inmem") && (want(wSerial) || want(wGet64) || want(wCD64)) {
			addr, stop, err := startInmem()
			if err != nil {
				note("in-memory server: %v", err)
			} else {
				throughputPhase("inmem", addr, func() string { return "in-memory (internal/testserver)" })
				stop()
			}
		}
		if want("ensemble") && (want(wFailover) || want(wWatches)) && realzkOK() {
			ensemblePhase()
		}
	}
	facts.load1End = loadavg()
	report(os.Stdout, facts, time.Since(start))
}

func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

func parseOnly(s string) error {
	srv := []string{"nio", "netty", "inmem", "ensemble"}
	wl := []string{wSerial, wGet64, wCD64, wFailover, wWatches}
	var gotSrv, gotWl bool
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(strings.ToLower(t))
		switch {
		case t == "":
		case slices.Contains(srv, t):
			selected[t], gotSrv = true, true
		case slices.Contains(wl, t):
			selected[t], gotWl = true, true
		default:
			return fmt.Errorf("-only: unknown %q (servers %v, workloads %v)", t, srv, wl)
		}
	}
	if !gotSrv {
		for _, t := range srv {
			selected[t] = true
		}
	}
	if !gotWl {
		for _, t := range wl {
			selected[t] = true
		}
	}
	return nil
}

func realzkOK() bool { _, ok := realzk.Available(); return ok }

func jvmFlags() []string {
	if *serverC1 {
		return nil
	}
	// realzk passes -XX:TieredStopAtLevel=1 (C1 only) for a fast start;
	// a later flag wins, so this restores full tiered compilation.
	return []string{"-XX:TieredStopAtLevel=4"}
}

// realPhase starts one standalone real server and measures it.
func realPhase(name string, netty bool) {
	tb := newTB(name)
	defer tb.finish()
	var ens *realzk.Ensemble
	log.Printf("%s: starting ZooKeeper", name)
	err := tb.run(func() {
		ens = realzk.Start(tb, realzk.Options{
			Members:           1,
			Netty:             netty,
			MaxSessionTimeout: 60 * time.Second,
			JVMFlags:          jvmFlags(),
		})
	})
	if err != nil {
		note("%s: server did not start: %v", name, err)
		return
	}
	throughputPhase(name, ens.Addr(0), func() string { return srvrVersion(ens.Addr(0)) })
}

func firstHost(cs string) string { return strings.Split(cs, ",")[0] }

func srvrVersion(addr string) string {
	out, err := realzk.FourLetter(addr, "srvr", 5*time.Second)
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "Zookeeper version:"); ok {
			v = strings.TrimSpace(v)
			if i := strings.IndexByte(v, ','); i >= 0 {
				v = v[:i]
			}
			return v
		}
	}
	return "?"
}

const (
	getPath  = "/bench/get"
	cdPrefix = "/bench/cd/"
)

// getData is the data of getPath (payload bytes, not all equal, so that a
// reply with the wrong bytes is noticed).
func getData() []byte {
	data := make([]byte, *payload)
	for i := range data {
		data[i] = byte(i)
	}
	return data
}

// cdPath is the node of goroutine (or raw slot) g of client who in the
// create+delete workload; the names are of equal length for every client,
// so that each sends requests of the same size.
func cdPath(who string, g int) string {
	tag := map[string]string{cOurs: "o-", cGozk: "g-", cRaw: "r-"}[who]
	return cdPrefix + tag + strconv.Itoa(g)
}

// setupTree makes /bench/get (payload bytes) and /bench/cd with a client of
// ours.
func setupTree(cs string) error {
	o, err := newOurs(cs, 10*time.Second, "")
	if err != nil {
		return err
	}
	defer o.close()
	ctx := context.Background()
	data := getData()
	for _, p := range []string{"/bench", "/bench/cd", getPath, foPath, watchParent} {
		if _, err := o.c.Create(ctx, p, nil, zk.CreatePersistent, zk.OpenACL); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
	}
	_, err = o.c.Set(ctx, getPath, data, zk.AnyVersion)
	return err
}

// throughputPhase measures serial gets, parallel gets and parallel
// create+delete for both clients and the raw client against one server.
func throughputPhase(name, connString string, version func() string) {
	log.Printf("%s: server at %s", name, connString)
	if err := setupTree(connString); err != nil {
		note("%s: setting up the tree: %v", name, err)
		return
	}
	servers = append(servers, serverInfo{name: name, version: version()})
	const sessionTimeout = 10 * time.Second
	var cl []client
	for _, k := range kinds {
		c, err := k.new(connString, sessionTimeout, "")
		if err != nil {
			note("%s: %s: connect: %v", name, k.name, err)
			for _, c := range cl {
				c.close()
			}
			return
		}
		cl = append(cl, c)
	}
	defer func() {
		for _, c := range cl {
			c.close()
		}
	}()
	rawAddr := firstHost(connString)
	data := make([]byte, *payload)
	getWant := getData()
	n := *inflight
	cdPaths := map[string][]string{}
	for _, who := range []string{cOurs, cGozk, cRaw} {
		for g := range n {
			cdPaths[who] = append(cdPaths[who], cdPath(who, g))
		}
	}
	// Left over by an interrupted run?
	for _, who := range []string{cOurs, cGozk, cRaw} {
		for _, p := range cdPaths[who] {
			cl[0].del(p)
		}
	}
	const maxOps = 50_000_000

	run := func(workload, who string, d time.Duration, record bool, round int) {
		var s sample
		var err error
		var c client
		if who != cRaw {
			c = cl[slices.IndexFunc(cl, func(c client) bool { return c.name() == who })]
		}
		switch {
		case workload == wSerial && who == cRaw:
			s, err = runRaw(rawSpec{addr: rawAddr, inflight: 1, cycle: rawGetCycle(1, getPath), getData: getWant, duration: d, maxOps: maxOps})
		case workload == wGet64 && who == cRaw:
			s, err = runRaw(rawSpec{addr: rawAddr, inflight: n, cycle: rawGetCycle(n, getPath), getData: getWant, duration: d, maxOps: maxOps})
		case workload == wCD64 && who == cRaw:
			s, err = runRaw(rawSpec{addr: rawAddr, inflight: n, cycle: rawCDCycle(cdPaths[cRaw], data), duration: d, maxOps: maxOps})
		case workload == wSerial:
			s = runClient(c, 1, d, maxOps, getWork(getPath, getWant))
		case workload == wGet64:
			s = runClient(c, n, d, maxOps, getWork(getPath, getWant))
		case workload == wCD64:
			s = runClient(c, n, d, maxOps, cdWork(cdPaths[who], data))
		}
		if err == nil && s.errs > 0 {
			err = fmt.Errorf("%d errors, first: %v", s.errs, s.firstEr)
		}
		if err != nil {
			note("%s %s %s: %v", name, workload, who, err)
			return
		}
		s.round = round
		if record {
			samples[key{name, workload, who}] = append(samples[key{name, workload, who}], s)
		}
		if *verbose || record {
			log.Printf("%s %-6s %-12s %s", name, workload, who, s)
		}
	}
	workloads := []string{}
	for _, w := range []string{wSerial, wGet64, wCD64} {
		if want(w) {
			workloads = append(workloads, w)
		}
	}
	var who []string
	for _, c := range []string{cOurs, cGozk, cRaw} {
		if slices.Contains(strings.Split(*clientsFlag, ","), c) {
			who = append(who, c)
		}
	}
	if *warmup > 0 {
		log.Printf("%s: warming up (%v per client and workload)", name, *warmup)
		for _, w := range []string{wGet64, wCD64} {
			for _, c := range who {
				run(w, c, *warmup, false, -1)
			}
		}
	}
	for r := range *rounds {
		log.Printf("%s: round %d/%d", name, r+1, *rounds)
		order := rotate(who, r)
		for _, w := range workloads {
			for _, c := range order {
				run(w, c, *duration, true, r)
			}
		}
	}
}

func rotate[T any](s []T, r int) []T {
	r %= len(s)
	return append(slices.Clone(s[r:]), s[:r]...)
}

// ensemblePhase runs failover and watch re-registration on 3 members.
func ensemblePhase() {
	tb := newTB("ensemble")
	defer tb.finish()
	log.Printf("ensemble: starting 3 members (tickTime %v, %s)", *tick, map[bool]string{false: "NIO", true: "Netty"}[*ensNetty])
	var ens *realzk.Ensemble
	if err := tb.run(func() {
		ens = realzk.Start(tb, realzk.Options{Members: 3, TickTime: *tick, Netty: *ensNetty, JVMFlags: jvmFlags()})
	}); err != nil {
		note("ensemble did not start: %v", err)
		return
	}
	e := &ensembleRun{tb: tb, ens: ens}
	if err := setupTree(ens.ConnString()); err != nil {
		note("ensemble: setting up the tree: %v", err)
		return
	}
	for r := range max(*rounds, *foRounds) {
		order := rotate(kinds, r)
		if want(wFailover) && r < *foRounds {
			for _, role := range []string{"follower", "leader"} {
				for _, k := range order {
					log.Printf("ensemble: round %d/%d: %s, kill -9 of the %s it is on", r+1, *foRounds, k.name, role)
					res := e.failover(k, role)
					if res.err != nil {
						note("failover %s %s: %v", role, k.name, res.err)
					}
					foResults[key{"ensemble", role, k.name}] = append(foResults[key{"ensemble", role, k.name}], res)
					log.Printf("  first success %v, leader ready %v", res.firstSuccess.Round(time.Millisecond), res.leaderReady.Round(time.Millisecond))
				}
			}
		}
		if want(wWatches) && r < *rounds {
			for _, k := range order {
				log.Printf("ensemble: round %d/%d: %s, %d watches, kill -9 of its follower", r+1, *rounds, k.name, *nWatches)
				res := e.watches(k, *nWatches)
				if res.err != nil {
					note("watches %s: %v", k.name, res.err)
				}
				wResults[k.name] = append(wResults[k.name], res)
				log.Printf("  re-registered in %v (%d SetWatches, server counts %d), %d/%d fired, %.0f B/watch",
					res.reregistered.Round(time.Millisecond), res.requests, res.serverCount, res.fired, res.tried, res.heapPerWatch)
			}
		}
	}
}
