package soak

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// The linearizability model: one register per node, holding (version,
// data). A Set with an expected version succeeds only if it matches and
// then bumps the version; a read returns (version, data).

// regState is a register's value.
type regState struct {
	version int32
	data    string
}

// initialData is what every register holds at version 0.
const initialData = "init"

// Outcomes of a register operation.
const (
	outOK      = iota // Set applied; version is the new version
	outBad            // Set refused with ErrBadVersion: not applied
	outUnknown        // Set without a definite answer: may or may not have applied
	outRead           // a read: version and data
)

type regInput struct {
	key    string
	set    bool
	reset  bool // not an operation: a partition starts in this state (see cutAtIsolatedReads)
	state  regState
	sess   int64  // the session that made the call (the model ignores it)
	expect int32  // Set: the version it expects
	data   string // Set: the data it writes
	server string // a read: the server that answered it (the model ignores it)
}

type regOutput struct {
	kind    int
	version int32
	data    string
}

func registerModel() porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
			by := map[string][]porcupine.Operation{}
			for _, op := range h {
				k := op.Input.(regInput).key
				by[k] = append(by[k], op)
			}
			keys := make([]string, 0, len(by))
			for k := range by {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			out := make([][]porcupine.Operation, 0, len(keys))
			for _, k := range keys {
				out = append(out, cutAtIsolatedReads(by[k])...)
			}
			return out
		},
		Init: func() []any { return []any{regState{version: 0, data: initialData}} },
		Step: func(state, input, output any) []any {
			s, in, out := state.(regState), input.(regInput), output.(regOutput)
			if in.reset {
				return []any{in.state}
			}
			if !in.set {
				if out.version == s.version && out.data == s.data {
					return []any{s}
				}
				return nil
			}
			match := s.version == in.expect
			next := regState{version: s.version + 1, data: in.data}
			switch out.kind {
			case outOK:
				if match && out.version == next.version {
					return []any{next}
				}
			case outBad:
				if !match {
					return []any{s}
				}
			default:
				// Unknown: the request may have been applied (if its
				// version matched where it falls) or lost on the way. A
				// model that applies it whenever it can is wrong whenever
				// nothing else happened to the register during the whole
				// window the Set can fall in: it then has to be applied,
				// and a later Set that expected the old version (and
				// succeeded, because the unknown one was lost) has no
				// place (seen in a stress run of the 2-minute soak).
				if match {
					return []any{next, s}
				}
				return []any{s}
			}
			return nil
		},
		DescribeOperation: func(input, output any) string {
			in, out := input.(regInput), output.(regOutput)
			if in.reset {
				return fmt.Sprintf("(from here on, checked from the state v%d %q that an isolated read saw)", in.state.version, in.state.data)
			}
			if !in.set {
				return fmt.Sprintf("get(%s) -> v%d %q", in.key, out.version, out.data)
			}
			res := map[int]string{outOK: fmt.Sprintf("ok v%d", out.version), outBad: "bad version", outUnknown: "unknown"}[out.kind]
			return fmt.Sprintf("set(%s, v%d, %q) -> %s", in.key, in.expect, in.data, res)
		},
		DescribeState: func(state any) string {
			s := state.(regState)
			return fmt.Sprintf("v%d %q", s.version, s.data)
		},
	}
	return nm.ToModel()
}

// cutAtIsolatedReads splits one register's history where the state is known
// exactly, so that the checker's work (and memory: it keeps a bitset of
// the partition's operations per state it visits) stays proportional to
// the pieces, not to a 30-minute history. A read that overlaps no other
// operation of the register is such a point: every operation before it
// took effect before it, every one after it after it, and the state then
// is what it read. The read ends its piece; the next piece starts with a
// reset to that state, placed before all of its operations.
func cutAtIsolatedReads(ops []porcupine.Operation) [][]porcupine.Operation {
	sorted := append([]porcupine.Operation(nil), ops...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Call < sorted[j].Call })
	var out [][]porcupine.Operation
	var cur []porcupine.Operation
	maxRet := int64(math.MinInt64) // the latest return of the operations before i
	for i, op := range sorted {
		in := op.Input.(regInput)
		isolated := !in.set && !in.reset && maxRet < op.Call && i+1 < len(sorted) && sorted[i+1].Call > op.Return
		maxRet = max(maxRet, op.Return)
		cur = append(cur, op)
		if !isolated {
			continue
		}
		out = append(out, cur)
		o := op.Output.(regOutput)
		d := sorted[i+1].Call - op.Return // at least 1
		cur = []porcupine.Operation{{
			ClientId: op.ClientId,
			Input:    regInput{key: in.key, reset: true, state: regState{version: o.version, data: o.data}},
			Output:   regOutput{kind: outRead},
			Call:     op.Return + d/3,
			Return:   op.Return + 2*d/3, // before the next piece's first call
		}}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// boundUnknown gives each Set whose outcome is unknown (recorded with no
// return) the latest time it can have taken effect, from ZooKeeper's
// guarantee that a session's requests are applied in the order sent: before
// the next request of its session returned, or, if none did, before the
// session ended. A slack of one session timeout covers a request still on
// its way through a dying server. Without a bound, such a Set stays in
// flight to the end of the history and no point of the history can be cut.
func boundUnknown(ops []porcupine.Operation, all []opRecord, ended map[int64]time.Duration, slack time.Duration) {
	bySess := map[int64][]opRecord{}
	for _, r := range all {
		if r.ret >= 0 {
			bySess[r.session] = append(bySess[r.session], r)
		}
	}
	for _, rs := range bySess {
		sort.Slice(rs, func(i, j int) bool { return rs[i].call < rs[j].call })
	}
	for i := range ops {
		op := &ops[i]
		in, ok := op.Input.(regInput)
		if !ok || !in.set || op.Output.(regOutput).kind != outUnknown {
			continue
		}
		bound := time.Duration(math.MaxInt64)
		rs := bySess[in.sess]
		if j := sort.Search(len(rs), func(j int) bool { return int64(rs[j].call) > op.Call }); j < len(rs) {
			bound = rs[j].ret // the next call of the session was sent after it
			for _, r := range rs[j:] {
				bound = min(bound, r.ret) // any later call that returned
				if r.call > bound {
					break
				}
			}
		}
		if end, ok := ended[in.sess]; ok {
			bound = min(bound, end)
		}
		if bound != time.Duration(math.MaxInt64) {
			op.Return = int64(bound + slack)
		}
	}
}

// fork is two acknowledged Sets of one register that both made version.
type fork struct {
	reg     string
	version int32
	a, b    porcupine.Operation
}

func (f *fork) String() string {
	d := func(op porcupine.Operation) string {
		in := op.Input.(regInput)
		return fmt.Sprintf("%q by session 0x%x over [%v, %v]", in.data, in.sess, time.Duration(op.Call), time.Duration(op.Return))
	}
	return fmt.Sprintf("%s: version %d was made twice, by acknowledged Sets %s and %s", f.reg, f.version, d(f.a), d(f.b))
}

// forkedRegisters finds registers where two acknowledged Sets made the same
// version: the server took both, so it lost the first after acknowledging
// it. It returns the first such fork of each register.
func forkedRegisters(ops []porcupine.Operation) map[string]*fork {
	made := map[string]map[int32]porcupine.Operation{}
	out := map[string]*fork{}
	for _, op := range ops {
		in, ok := op.Input.(regInput)
		if !ok || !in.set || op.Output.(regOutput).kind != outOK || out[in.key] != nil {
			continue
		}
		v := op.Output.(regOutput).version
		if made[in.key] == nil {
			made[in.key] = map[int32]porcupine.Operation{}
		}
		if prev, dup := made[in.key][v]; dup {
			out[in.key] = &fork{reg: in.key, version: v, a: prev, b: op}
			continue
		}
		made[in.key][v] = op
	}
	return out
}

// opRecord is one operation of any kind, for the record and for failure
// reports.
type opRecord struct {
	client  int
	session int64
	kind    string
	path    string
	call    time.Duration // since the start of the soak
	ret     time.Duration // -1: never returned a definite answer
	result  string
	server  string // the server the handle was on when the call returned
}

func (r opRecord) String() string {
	ret := "?"
	if r.ret >= 0 {
		ret = r.ret.String()
	}
	return fmt.Sprintf("%12v %12v c%d 0x%x %-15s %-8s %-22s %s", r.call, ret, r.client, r.session, r.server, r.kind, r.path, r.result)
}

// history collects what every client did. Its methods are safe for
// concurrent use.
type history struct {
	epoch time.Time

	mu        sync.Mutex
	regOps    []porcupine.Operation
	all       []opRecord
	okSets    map[string]int
	unkSets   map[string]int
	written   map[string]map[string]bool // register -> data of ok or unknown Sets
	created   map[string]string          // acknowledged sequential path -> op id
	attempted map[string]bool            // op ids of every sequential create
	unkCreate int
	ended     map[int64]time.Duration // session id -> when its handle was closed
}

func newHistory() *history {
	return &history{
		epoch:     time.Now(),
		okSets:    map[string]int{},
		unkSets:   map[string]int{},
		written:   map[string]map[string]bool{},
		created:   map[string]string{},
		attempted: map[string]bool{},
	}
}

// sessionEnded records when a session's handle was closed (after its
// expiry, or on purpose).
func (h *history) sessionEnded(id int64, at time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended == nil {
		h.ended = map[int64]time.Duration{}
	}
	h.ended[id] = at
}

// now is the time since the start, on the monotonic clock.
func (h *history) now() time.Duration { return time.Since(h.epoch) }

func (h *history) record(r opRecord) {
	h.mu.Lock()
	h.all = append(h.all, r)
	h.mu.Unlock()
}

// set records a Set of key from version expect to data, called at call and
// returned at ret with outcome kind (and the new version when it applied).
func (h *history) set(client int, session int64, server, key string, expect int32, data string, kind int, version int32, call, ret time.Duration, result string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := int64(ret)
	if kind == outUnknown {
		r = math.MaxInt64 // may take effect at any time after the call
		ret = -1
	}
	h.regOps = append(h.regOps, porcupine.Operation{
		ClientId: client,
		Input:    regInput{key: key, set: true, expect: expect, data: data, sess: session},
		Call:     int64(call),
		Output:   regOutput{kind: kind, version: version},
		Return:   r,
	})
	switch kind {
	case outOK:
		h.okSets[key]++
	case outUnknown:
		h.unkSets[key]++
	}
	if kind != outBad {
		if h.written[key] == nil {
			h.written[key] = map[string]bool{}
		}
		h.written[key][data] = true
	}
	h.all = append(h.all, opRecord{client, session, "set", key, call, ret, fmt.Sprintf("%s (%q)", result, data), server})
}

// read records a read of key that followed a sync.
func (h *history) read(client int, session int64, server, key string, version int32, data string, call, ret time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.regOps = append(h.regOps, porcupine.Operation{
		ClientId: client,
		Input:    regInput{key: key, server: server, sess: session},
		Call:     int64(call),
		Output:   regOutput{kind: outRead, version: version, data: data},
		Return:   int64(ret),
	})
	h.all = append(h.all, opRecord{client, session, "syncget", key, call, ret, fmt.Sprintf("v%d %q", version, data), server})
}

// create records a sequential create of op id; path is "" unless it was
// acknowledged.
func (h *history) create(client int, session int64, server, id, path string, call, ret time.Duration, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempted[id] = true
	res := "ok " + path
	if path != "" {
		h.created[path] = id
	} else {
		h.unkCreate++
		ret = -1
		res = "unknown: " + err.Error()
	}
	h.all = append(h.all, opRecord{client, session, "create", id, call, ret, res, server})
}

// leaderTimeline records, member by member, when each believed it led:
// from a probe that found it leading until a probe of that same member
// found it in another mode. A probe that gets no answer (the member is
// paused, stopped or dead) changes nothing, and another member being
// elected does not end it either: a leader paused past syncLimit is
// deposed while it sleeps, and when it resumes it still believes it leads
// and answers reconnecting sessions and synced reads from its stale tree
// until it notices (seen in CI: a leader paused for 2.8 s answered a sync
// and a get with a version seven writes old, 3 ms after it resumed, while
// the ensemble's new leader was already committing).
type leaderTimeline struct {
	mu      sync.Mutex
	changes map[int][]modeChange // by member, in time order
	elected int                  // times a member was found leading after not leading
}

type modeChange struct {
	at    time.Duration
	leads bool
}

// observe records what a probe of member found: mode is srvr's ("" when it
// did not answer). A start of leading is dated at from, the probe's start,
// and an end at to, its end: both widen the interval.
func (l *leaderTimeline) observe(from, to time.Duration, member int, mode string) {
	if mode == "" {
		return
	}
	leads := mode == "leader" || mode == "standalone"
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changes == nil {
		l.changes = map[int][]modeChange{}
	}
	cs := l.changes[member]
	if n := len(cs); n > 0 && cs[n-1].leads == leads {
		return // only changes are kept
	}
	at := to
	if leads {
		at = from
		l.elected++
	}
	l.changes[member] = append(cs, modeChange{at, leads})
}

// ledDuring reports whether member believed it led at any time in
// [from, to].
func (l *leaderTimeline) ledDuring(member int, from, to time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	cs := l.changes[member]
	i := sort.Search(len(cs), func(i int) bool { return cs[i].at > from })
	if i > 0 && cs[i-1].leads {
		return true
	}
	for ; i < len(cs) && cs[i].at <= to; i++ {
		if cs[i].leads {
			return true
		}
	}
	return false
}

// leaderSafe splits the register history. ZooKeeper does not make a sync
// that a leader serves wait for anything (CommitProcessor.needCommit:
// matchSyncs is false on the leader), and a leader applies a committed
// write to its own tree after telling the followers; so a synced read that
// the leader answers can miss a write another client already saw
// acknowledged (ZOOKEEPER-1675). kept holds the writes and the synced reads
// answered by a member that did not believe it led around the read;
// leaderReads holds the others.
func leaderSafe(ops []porcupine.Operation, addrs []string, leaders *leaderTimeline, margin time.Duration) (kept, leaderReads []porcupine.Operation) {
	member := map[string]int{}
	for i, a := range addrs {
		member[a] = i
	}
	for _, op := range ops {
		in := op.Input.(regInput)
		if !in.set && in.server != "" {
			m, ok := member[in.server]
			if ok && leaders.ledDuring(m, time.Duration(op.Call)-margin, time.Duration(op.Return)+margin) {
				leaderReads = append(leaderReads, op)
				continue
			}
		}
		kept = append(kept, op)
	}
	return kept, leaderReads
}

// staleReads lists the synced reads of reads that returned an older version
// than a Set of ops acknowledged before the read began: the plain evidence
// behind a failed linearizability check.
func staleReads(ops, reads []porcupine.Operation) []string {
	type ack struct {
		ret     int64
		version int32
	}
	acks := map[string][]ack{}
	for _, op := range ops {
		in, out := op.Input.(regInput), op.Output.(regOutput)
		if in.set && out.kind == outOK {
			acks[in.key] = append(acks[in.key], ack{op.Return, out.version})
		}
	}
	for k := range acks {
		sort.Slice(acks[k], func(i, j int) bool { return acks[k][i].ret < acks[k][j].ret })
	}
	var out []string
	for _, op := range reads {
		in, o := op.Input.(regInput), op.Output.(regOutput)
		if in.set {
			continue
		}
		a := acks[in.key]
		i := sort.Search(len(a), func(i int) bool { return a[i].ret >= op.Call })
		newest := int32(-1)
		for _, x := range a[:i] {
			newest = max(newest, x.version)
		}
		if newest > o.version {
			out = append(out, fmt.Sprintf("client %d read %s at v%d from %s over [%v, %v], after a Set to v%d was acknowledged",
				op.ClientId, in.key, o.version, in.server, time.Duration(op.Call), time.Duration(op.Return), newest))
		}
	}
	return out
}

// checkLinearizable is porcupine.CheckOperationsTimeout over model's
// partitions with at most GOMAXPROCS of them checked at a time. Porcupine
// starts a goroutine for every partition at once, and the runtime keeps a
// goroutine's descriptor for reuse after it ends: a check of 30,000 pieces
// left 14 MB of them on the heap for good, which the soak's heap check
// took for the client's. Each piece is checked on its own (a piece starts
// from a known state), so the verdict is the same.
func checkLinearizable(model porcupine.Model, ops []porcupine.Operation, timeout time.Duration) porcupine.CheckResult {
	pieces := model.Partition(ops)
	one := model
	one.Partition = nil // each piece is one partition
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	next := make(chan []porcupine.Operation)
	var mu sync.Mutex
	illegal, unknown := false, false
	stop := make(chan struct{})
	var stopOnce sync.Once
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for piece := range next {
				var left time.Duration
				if !deadline.IsZero() {
					if left = time.Until(deadline); left <= 0 {
						mu.Lock()
						unknown = true
						mu.Unlock()
						continue
					}
				}
				switch porcupine.CheckOperationsTimeout(one, piece, left) {
				case porcupine.Illegal:
					mu.Lock()
					illegal = true
					mu.Unlock()
					stopOnce.Do(func() { close(stop) })
				case porcupine.Unknown:
					mu.Lock()
					unknown = true
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for _, piece := range pieces {
		select {
		case next <- piece:
		case <-stop:
			break feed
		}
	}
	close(next)
	wg.Wait()
	switch {
	case illegal:
		return porcupine.Illegal
	case unknown:
		return porcupine.Unknown
	}
	return porcupine.Ok
}
