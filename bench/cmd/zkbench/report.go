package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type facts struct {
	nproc      int
	gomaxprocs int
	goVersion  string
	cpuModel   string
	kernel     string
	load1Start string
	load1End   string
	date       string
	revision   string
}

func machineFacts() facts {
	f := facts{
		nproc:      runtime.NumCPU(),
		gomaxprocs: runtime.GOMAXPROCS(0),
		goVersion:  runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		cpuModel:   "?",
		load1Start: loadavg(),
		date:       time.Now().UTC().Format("2006-01-02 15:04 MST"),
		revision:   gitRevision(),
	}
	if fh, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				f.cpuModel = strings.TrimSpace(v)
				break
			}
		}
		fh.Close()
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		var b []byte
		for _, c := range u.Release {
			if c == 0 {
				break
			}
			b = append(b, byte(c))
		}
		f.kernel = string(b)
	}
	return f
}

// gitRevision describes the checkout the program runs in (best effort: the
// library is built from ../ through the replace directive).
func gitRevision() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "?"
	}
	rev := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no", "--", "*.go").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		rev += " + uncommitted changes"
	}
	return rev
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	fs := strings.Fields(string(b))
	if len(fs) < 3 {
		return "?"
	}
	return strings.Join(fs[:3], " ")
}

func median(v []float64) float64 {
	v = slices.DeleteFunc(slices.Clone(v), func(x float64) bool { return math.IsNaN(x) })
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func medianOf(ss []sample, f func(sample) float64) float64 {
	v := make([]float64, 0, len(ss))
	for _, s := range ss {
		v = append(v, f(s))
	}
	return median(v)
}

// pairedRatio is the median over rounds of a/b (b/a if inverse) for the
// samples of a and b taken in the same round.
func pairedRatio(a, b []sample, f func(sample) float64, inverse bool) float64 {
	var v []float64
	for _, x := range a {
		for _, y := range b {
			if x.round == y.round {
				if inverse {
					v = append(v, f(y)/f(x))
				} else {
					v = append(v, f(x)/f(y))
				}
			}
		}
	}
	return median(v)
}

// metric is one row of a throughput table.
type metric struct {
	label string
	get   func(sample) float64
	fmt   func(float64) string
	// higher is better (throughput): fraction = x/ceiling; lower is
	// better (latency, CPU): fraction = ceiling/x; none: no fraction.
	better int // +1, -1, 0
}

func fmtOps(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	return string(b)
}

func fmtF(prec int) func(float64) string {
	return func(v float64) string {
		if math.IsNaN(v) {
			return "—"
		}
		return strconv.FormatFloat(v, 'f', prec, 64)
	}
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

var (
	mOps    = metric{"ops/s", sample.opsPerSec, fmtOps, +1}
	mP50    = metric{"p50 latency (µs)", func(s sample) float64 { return us(s.p50) }, fmtF(0), -1}
	mP99    = metric{"p99 latency (µs)", func(s sample) float64 { return us(s.p99) }, fmtF(0), -1}
	mCPU    = metric{"client CPU (µs/op)", sample.cpuPerOp, fmtF(1), -1}
	mAllocs = metric{"allocs/op", sample.allocsPerOp, fmtF(1), 0}
	mBytes  = metric{"bytes/op", sample.bytesPerOp, fmtF(0), 0}
	mWrites = metric{"write syscalls/request", sample.writesPerOp, fmtF(3), 0}
	mReads  = metric{"read syscalls/request", sample.readsPerOp, fmtF(3), 0}
)

var workloadRows = []struct {
	w     string
	title string
	rows  []metric
}{
	{wSerial, "1 KiB get, one at a time", []metric{mOps, mP50, mP99, mCPU, mAllocs, mBytes, mWrites, mReads}},
	{wGet64, "1 KiB get, %d goroutines on one connection", []metric{mOps, mCPU, mAllocs, mBytes, mWrites, mReads}},
	{wCD64, "create (1 KiB) + delete, %d goroutines on one connection (ops = requests)", []metric{mOps, mCPU, mAllocs, mBytes, mWrites, mReads}},
}

func report(w io.Writer, f facts, took time.Duration) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("# zkbench: github.com/zkgo/zk (ours) vs github.com/go-zookeeper/zk v1.0.4\n\n")
	p("## Machine\n\n")
	p("| fact | value |\n|---|---|\n")
	p("| date | %s |\n", f.date)
	p("| library revision | %s |\n", f.revision)
	p("| CPU | %s |\n", f.cpuModel)
	p("| nproc | %d (GOMAXPROCS %d), shared by client and server |\n", f.nproc, f.gomaxprocs)
	p("| Go | %s |\n", f.goVersion)
	p("| kernel | %s |\n", f.kernel)
	p("| load average (1, 5, 15 min) | start %s, end %s |\n", f.load1Start, f.load1End)
	for _, s := range servers {
		p("| server %s | %s |\n", s.name, s.version)
	}
	jit := "full tiered JIT (C2)"
	if *serverC1 {
		jit = "C1 only (realzk default)"
	}
	p("| run | -duration %v -rounds %d -failover-rounds %d -inflight %d -payload %d -watches %d, warm-up %v; JVM %s; realzk config (fsync off, log to file) |\n",
		*duration, *rounds, *foRounds, *inflight, *payload, *nWatches, *warmup, jit)
	p("| took | %v |\n\n", took.Round(time.Second))
	p("Values are medians over the rounds; clients alternate within each round (order rotates). ")
	p("Ratios and fractions are medians of per-round ratios (each round's samples are seconds apart, so they share the machine's load). ratio = ours ÷ go-zookeeper. ")
	p("Ceiling = the raw-protocol client (one locked thread, blocking socket, pre-encoded requests, one write per batch, one read per batch, no allocations). ")
	p("\"of ceiling\" = value ÷ ceiling for throughput, ceiling ÷ value for latency and CPU (1.00 = as good as the ceiling). ")
	p("Client CPU = getrusage(RUSAGE_SELF) user+sys over the run ÷ requests (the server is another process). ")
	p("Syscalls = read(2)/write(2) calls of the whole benchmark process over the run (from /proc/self/io, so the Go runtime's own count too) ÷ requests.\n\n")

	for _, s := range servers {
		p("## Server: %s (%s)\n\n", s.name, s.version)
		for _, wr := range workloadRows {
			if !want(wr.w) {
				continue
			}
			title := wr.title
			if strings.Contains(title, "%d") {
				title = fmt.Sprintf(title, *inflight)
			}
			p("### %s\n\n", title)
			p("| metric | ours | go-zookeeper | ratio | ceiling | ours of ceiling | go-zk of ceiling |\n")
			p("|---|---:|---:|---:|---:|---:|---:|\n")
			o := samples[key{s.name, wr.w, cOurs}]
			g := samples[key{s.name, wr.w, cGozk}]
			r := samples[key{s.name, wr.w, cRaw}]
			for _, m := range wr.rows {
				vo, vg, vr := medianOf(o, m.get), medianOf(g, m.get), medianOf(r, m.get)
				// Ratios pair the samples of one round (taken minutes
				// apart at most), then take the median: the load of a
				// shared machine drifts between rounds.
				ratio := pairedRatio(o, g, m.get, false)
				fo, fg := "—", "—"
				switch m.better {
				case +1:
					fo, fg = fmtF(2)(pairedRatio(o, r, m.get, false)), fmtF(2)(pairedRatio(g, r, m.get, false))
				case -1:
					fo, fg = fmtF(2)(pairedRatio(o, r, m.get, true)), fmtF(2)(pairedRatio(g, r, m.get, true))
				}
				rs := fmtF(2)(ratio)
				if math.IsInf(ratio, 0) || (vo == 0 && vg == 0) {
					rs = "—"
				}
				p("| %s | %s | %s | %s | %s | %s | %s |\n", m.label, m.fmt(vo), m.fmt(vg), rs, m.fmt(vr), fo, fg)
			}
			p("\n")
		}
	}

	if len(foResults) > 0 || len(wResults) > 0 {
		mode := "NIO"
		if *ensNetty {
			mode = "Netty"
		}
		p("## Failover: 3-member ensemble (%s, tickTime %v, session timeout %v, %v per call in the loop after the kill)\n\n", mode, *tick, foSessionTimeout, foCallTimeout)
		p("| event | ours | go-zookeeper | ratio | bound |\n|---|---:|---:|---:|---|\n")
		ms := func(d time.Duration) float64 {
			if d == 0 {
				return math.NaN()
			}
			return float64(d.Microseconds()) / 1e3
		}
		fo := func(role string, who string, f func(foResult) float64) float64 {
			var v []float64
			for _, r := range foResults[key{"ensemble", role, who}] {
				if r.err == nil {
					v = append(v, f(r))
				} else {
					v = append(v, math.NaN())
				}
			}
			return median(v)
		}
		row := func(label string, vo, vg float64, format func(float64) string, bound string) {
			p("| %s | %s | %s | %s | %s |\n", label, format(vo), format(vg), fmtF(2)(vo/vg), bound)
		}
		if want(wFailover) {
			first := func(r foResult) float64 { return ms(r.firstSuccess) }
			ready := func(r foResult) float64 { return ms(r.leaderReady) }
			gap := func(r foResult) float64 { return ms(r.firstSuccess) - ms(r.leaderReady) }
			row("kill -9 of the follower the client is on → first successful call (ms)",
				fo("follower", cOurs, first), fo("follower", cGozk, first), fmtF(1), "dial + handshake with another member")
			row("kill -9 of the leader the client is on → first successful call (ms)",
				fo("leader", cOurs, first), fo("leader", cGozk, first), fmtF(1), "the election")
			row("… kill → a remaining member reports Mode: leader (ms, during that client's run)",
				fo("leader", cOurs, ready), fo("leader", cGozk, ready), fmtF(1), "server: election (polled every 5 ms)")
			row("… first success minus leader ready (ms)",
				fo("leader", cOurs, gap), fo("leader", cGozk, gap), fmtF(1), "client: reconnect policy")
		}
		if want(wWatches) {
			wm := func(who string, f func(wResult) float64) float64 {
				var v []float64
				for _, r := range wResults[who] {
					if r.err == nil {
						v = append(v, f(r))
					} else {
						v = append(v, math.NaN())
					}
				}
				return median(v)
			}
			row(fmt.Sprintf("%d one-shot watches: kill -9 of the member → all re-registered (ms)", *nWatches),
				wm(cOurs, func(r wResult) float64 { return ms(r.reregistered) }),
				wm(cGozk, func(r wResult) float64 { return ms(r.reregistered) }), fmtF(0), "reconnect + SetWatches round trips")
			row("… kill → first SetWatches written (ms)",
				wm(cOurs, func(r wResult) float64 { return ms(r.firstSetWatch) }),
				wm(cGozk, func(r wResult) float64 { return ms(r.firstSetWatch) }), fmtF(1), "reconnect")
			row("… SetWatches requests",
				wm(cOurs, func(r wResult) float64 { return float64(r.requests) }),
				wm(cGozk, func(r wResult) float64 { return float64(r.requests) }), fmtF(0), "128 KiB of paths each")
			row("… watches the new member counts (wchs, all sessions)",
				wm(cOurs, func(r wResult) float64 { return float64(r.serverCount) }),
				wm(cGozk, func(r wResult) float64 { return float64(r.serverCount) }), fmtF(0), "")
			row("… triggered watches that fired (of 5)",
				wm(cOurs, func(r wResult) float64 { return float64(r.fired) }),
				wm(cGozk, func(r wResult) float64 { return float64(r.fired) }), fmtF(0), "")
			row("heap bytes per watch (live heap after GC, incl. the caller's channel)",
				wm(cOurs, func(r wResult) float64 { return r.heapPerWatch }),
				wm(cGozk, func(r wResult) float64 { return r.heapPerWatch }), fmtF(0), "client")
			row(fmt.Sprintf("registration rate, ExistsW on absent nodes, 64 goroutines (watches/s)"),
				wm(cOurs, func(r wResult) float64 { return r.regRate }),
				wm(cGozk, func(r wResult) float64 { return r.regRate }), fmtOps, "")
		}
		p("\n")
	}

	p("## Spread (every round)\n\n")
	for _, s := range servers {
		for _, wr := range workloadRows {
			for _, who := range []string{cOurs, cGozk, cRaw} {
				ss := samples[key{s.name, wr.w, who}]
				if len(ss) == 0 {
					continue
				}
				var ops, cpu []string
				for _, x := range ss {
					ops = append(ops, fmtOps(x.opsPerSec()))
					cpu = append(cpu, fmtF(1)(x.cpuPerOp()))
				}
				p("- %s %s %s: ops/s %s; CPU µs/op %s\n", s.name, wr.w, who, strings.Join(ops, " "), strings.Join(cpu, " "))
			}
		}
	}
	for k, rs := range foResults {
		var v []string
		for _, r := range rs {
			if r.err != nil {
				v = append(v, "error")
				continue
			}
			x := fmt.Sprintf("%.1f", ms(r.firstSuccess))
			if r.leaderReady > 0 {
				x += fmt.Sprintf(" (leader %.1f)", ms(r.leaderReady))
			}
			v = append(v, x)
		}
		p("- failover %s %s: first success ms %s\n", k.workload, k.client, strings.Join(v, ", "))
	}
	for who, rs := range wResults {
		var v []string
		for _, r := range rs {
			if r.err != nil {
				v = append(v, "error")
				continue
			}
			v = append(v, fmt.Sprintf("%.0f ms/%.0f B", ms(r.reregistered), r.heapPerWatch))
		}
		p("- watches %s: %s\n", who, strings.Join(v, ", "))
	}
	if len(notes) > 0 {
		p("\n## Notes\n\n")
		for _, n := range notes {
			p("- %s\n", n)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
