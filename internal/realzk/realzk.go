// Package realzk starts real Apache ZooKeeper servers from Go tests.
//
// Start runs one standalone server or a quorum ensemble as child JVMs on
// 127.0.0.1, each with its own ports, config and data under t.TempDir(),
// waits until every member serves, and stops them all when the test ends:
//
//	func TestAgainstRealZooKeeper(t *testing.T) {
//		ens := realzk.Start(t, realzk.Options{Members: 3})
//		conn := dial(t, ens.ConnString())
//		ens.Kill(ens.Leader())
//		...
//	}
//
// When no server is installed (see Available), Start skips the test, unless
// ZK_REQUIRE_REAL=1, which turns the skip into a failure for CI. On Debian:
// apt-get install -y zookeeper.
//
// Every member logs to a file (LogTail shows its end); the admin server is
// off, every four-letter word is whitelisted, fsync is off. A member is
// serving when its srvr reply has a "Mode:" line: ruok answers earlier.
//
// The methods of Ensemble that fail the test (Kill, Stop, Start, Launch,
// Pause, Resume) must be called from the goroutine running the test that
// called Start; the others may be called from any goroutine.
package realzk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Bounds on waiting for the servers.
const (
	defaultTickTime = 100 * time.Millisecond
	startTimeout    = 30 * time.Second // until a started member serves
	stopTimeout     = 10 * time.Second // SIGTERM grace before SIGKILL
	exitTimeout     = 10 * time.Second // from SIGKILL until reaped
	pollInterval    = 20 * time.Millisecond
	probeTimeout    = time.Second            // one srvr while polling
	probeIdle       = 100 * time.Millisecond // a srvr reply is complete after this silence
	commandTimeout  = 5 * time.Second        // Ensemble.FourLetter
	failureLogLines = 40                     // log lines shown per member on failure
)

// skipMessage is how Start skips a test when no server is installed.
const skipMessage = "real ZooKeeper not installed: apt-get install -y zookeeper (or set ZK_HOME)"

// Ensemble is a set of running ZooKeeper servers (members), indexed from 0.
// Member i has server id i+1.
type Ensemble struct {
	tb   testing.TB
	opts Options
	inst install
	dir  string    // the test's temporary directory
	tls  *tlsFiles // nil unless opts.TLS

	mu sync.Mutex // guards members and the fields of member marked so
	// members is replaced only during Start (on a retry with new ports).
	members []*member
}

// member is one server of the ensemble.
type member struct {
	index                  int
	dir                    string
	clientPort, securePort int
	peerPort, electionPort int

	// Guarded by Ensemble.mu.
	proc   *process // the latest process; nil before the first launch
	wanted bool     // launched and not since killed or stopped on purpose
	paused bool     // SIGSTOPped
}

// process is one run of a member's JVM. Its Wait goroutine belongs to the
// Ensemble: cleanup does not return before done is closed.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd.Wait has returned
	err  error         // cmd.Wait's result; read only after done is closed
}

// Where member m keeps its things, and who it is.
func (m *member) id() int             { return m.index + 1 }
func (m *member) cfgPath() string     { return filepath.Join(m.dir, "zoo.cfg") }
func (m *member) dynamicPath() string { return filepath.Join(m.dir, "zoo.cfg.dynamic") }
func (m *member) dataDir() string     { return filepath.Join(m.dir, "data") }
func (m *member) logPath() string     { return filepath.Join(m.dir, "zookeeper.log") }
func (m *member) addr() string        { return "127.0.0.1:" + strconv.Itoa(m.clientPort) }

// exited reports whether the process has been reaped.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// requireReal reports whether ZK_REQUIRE_REAL asks for a failure instead of
// a skip.
func requireReal() bool {
	v, err := strconv.ParseBool(os.Getenv(EnvRequire))
	return err == nil && v
}

// Start runs the servers that opts describe and waits (up to 30 s) until
// every member serves and, for an ensemble, a leader is elected. It skips
// the test when no server is installed (see Available), or fails it when
// ZK_REQUIRE_REAL=1. A cleanup registered on tb kills every member, reaps
// it and removes the files. If a server cannot bind a port chosen for it,
// Start tries once more with new ports.
func Start(tb testing.TB, opts Options) *Ensemble {
	tb.Helper()
	inst, err := findInstall()
	if err != nil {
		if requireReal() {
			tb.Fatalf("realzk: %s=1 but %s (%v)", EnvRequire, skipMessage, err)
			return nil
		}
		tb.Skipf("%s (%v)", skipMessage, err)
		return nil
	}
	opts, err = opts.normalize()
	if err != nil {
		tb.Fatal(err)
		return nil
	}
	e := &Ensemble{tb: tb, opts: opts, inst: inst, dir: tb.TempDir()}
	tb.Cleanup(e.cleanup)
	if err := e.writeShared(); err != nil {
		tb.Fatal(err)
		return nil
	}
	for attempt := 1; ; attempt++ {
		err := e.startAll(filepath.Join(e.dir, "try"+strconv.Itoa(attempt)))
		if err == nil {
			return e
		}
		logs := e.logTails(failureLogLines)
		if kerr := e.killAll(); kerr != nil {
			tb.Error(kerr)
		}
		if errors.Is(err, errPortTaken) && attempt < 2 {
			tb.Logf("%v; starting again with new ports", err)
			continue
		}
		tb.Fatalf("%v\n%s", err, logs)
		return nil
	}
}

// writeShared writes the files that all members and all attempts share.
func (e *Ensemble) writeShared() error {
	files := map[string]string{
		"log4j.properties": log4jConfig,
		"logback.xml":      logbackConfig,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(e.dir, name), []byte(data), 0o644); err != nil {
			return fmt.Errorf("realzk: %w", err)
		}
	}
	if e.opts.SASLUsers != nil {
		var b strings.Builder
		b.WriteString("Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required")
		for u, p := range e.opts.SASLUsers {
			fmt.Fprintf(&b, "\n  user_%s=\"%s\"", u, p)
		}
		b.WriteString(";\n};\n")
		if err := os.WriteFile(filepath.Join(e.dir, "jaas.conf"), []byte(b.String()), 0o600); err != nil {
			return fmt.Errorf("realzk: %w", err)
		}
	}
	if e.opts.TLS {
		files, err := writeTLS(filepath.Join(e.dir, "tls"))
		if err != nil {
			return err
		}
		e.tls = files
	}
	return nil
}

// startAll chooses ports, writes every member's files under base, launches
// them all and waits for the quorum.
func (e *Ensemble) startAll(base string) error {
	n, per := e.opts.Members, e.opts.portsPerMember()
	ports, err := choosePorts(n * per)
	if err != nil {
		return err
	}
	members := make([]*member, n)
	for i := range members {
		p := ports[i*per:]
		members[i] = &member{
			index:        i,
			dir:          filepath.Join(base, "member"+strconv.Itoa(i)),
			clientPort:   p[0],
			peerPort:     p[1],
			electionPort: p[2],
		}
		if e.opts.TLS {
			members[i].securePort = p[3]
		}
	}
	for _, m := range members {
		if err := e.writeMemberFiles(m, members); err != nil {
			return err
		}
	}
	e.mu.Lock()
	e.members = members
	e.mu.Unlock()
	for _, m := range members {
		if err := e.launch(m); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	return e.WaitQuorum(ctx)
}

// launch starts a new JVM for m, appending its output to m's log file.
func (e *Ensemble) launch(m *member) error {
	f, err := os.OpenFile(m.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("realzk: %w", err)
	}
	defer f.Close() // the child has its own descriptor
	fmt.Fprintf(f, "=== realzk: starting member %d (server.%d) at %s\n",
		m.index, m.id(), time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(e.inst.java, e.jvmArgs(m)...)
	cmd.Dir = m.dir
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("realzk: starting member %d: %w", m.index, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	e.mu.Lock()
	m.proc, m.wanted, m.paused = p, true, false
	e.mu.Unlock()
	return nil
}

// cleanup kills and reaps every member; the test's TempDir cleanup, which
// was registered first, runs after it and removes the files.
func (e *Ensemble) cleanup() {
	if err := e.killAll(); err != nil {
		e.tb.Error(err)
	}
}

// killAll kills every member and waits until each is reaped.
func (e *Ensemble) killAll() error {
	e.mu.Lock()
	members := e.members
	e.mu.Unlock()
	var errs []error
	for _, m := range members {
		errs = append(errs, e.kill(m))
	}
	return errors.Join(errs...)
}

// member returns member i, failing the test when there is none.
func (e *Ensemble) member(i int) *member {
	e.tb.Helper()
	m, err := e.lookup(i)
	if err != nil {
		e.tb.Fatal(err)
	}
	return m
}

// lookup returns member i.
func (e *Ensemble) lookup(i int) (*member, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if i < 0 || i >= len(e.members) {
		return nil, fmt.Errorf("realzk: no member %d in an ensemble of %d", i, len(e.members))
	}
	return e.members[i], nil
}

// state returns m's current process and flags.
func (e *Ensemble) state(m *member) (p *process, wanted, paused bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return m.proc, m.wanted, m.paused
}

// live reports whether m runs and is not paused, so it may serve.
func (e *Ensemble) live(m *member) bool {
	p, wanted, paused := e.state(m)
	return wanted && !paused && p != nil && !p.exited()
}

// Size returns the number of members.
func (e *Ensemble) Size() int { return e.opts.Members }

// Addr returns the client address (127.0.0.1:port) of member i. It panics
// when there is no member i.
func (e *Ensemble) Addr(i int) string {
	m, err := e.lookup(i)
	if err != nil {
		panic(err)
	}
	return m.addr()
}

// ConnString returns the client addresses of all members, comma-separated,
// as a ZooKeeper connection string without chroot.
func (e *Ensemble) ConnString() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	addrs := make([]string, len(e.members))
	for i, m := range e.members {
		addrs[i] = m.addr()
	}
	return strings.Join(addrs, ",")
}

// FourLetter sends the four-letter word cmd to member i and returns the
// reply, waiting at most 5 s.
func (e *Ensemble) FourLetter(i int, cmd string) (string, error) {
	m, err := e.lookup(i)
	if err != nil {
		return "", err
	}
	return FourLetter(m.addr(), cmd, commandTimeout)
}

// Mode returns what member i's srvr reports as its mode: "leader",
// "follower", "standalone", "read-only" (or "observer"), or "" when the
// member does not serve, is not running or is paused.
func (e *Ensemble) Mode(i int) string {
	m, err := e.lookup(i)
	if err != nil || !e.live(m) {
		return ""
	}
	return probeMode(m)
}

// probeMode asks m for its mode; "" when it does not answer with one.
func probeMode(m *member) string {
	reply, err := fourLetter(m.addr(), "srvr", probeTimeout, probeIdle)
	if err != nil {
		return ""
	}
	return parseMode(reply)
}

// Leader returns the index of a running member whose mode is "leader" or
// "standalone", or -1 when there is none.
func (e *Ensemble) Leader() int {
	for i := range e.Size() {
		switch e.Mode(i) {
		case "leader", "standalone":
			return i
		}
	}
	return -1
}

// WaitServing waits until member i serves (its srvr reports a mode), ctx
// ends, or the member's process exits.
func (e *Ensemble) WaitServing(ctx context.Context, i int) error {
	m, err := e.lookup(i)
	if err != nil {
		return err
	}
	return poll(ctx, func() (bool, error) {
		p, wanted, _ := e.state(m)
		if !wanted || p == nil {
			return false, fmt.Errorf("realzk: member %d is not running", i)
		}
		if p.exited() {
			return false, exitError(m, p)
		}
		return probeMode(m) != "", nil
	}, func() string { return fmt.Sprintf("member %d to serve", i) })
}

// WaitQuorum waits until a member is leader (or standalone) and every
// running, unpaused member serves, or until ctx ends. A member that exits
// without having been killed or stopped ends the wait with an error.
func (e *Ensemble) WaitQuorum(ctx context.Context) error {
	e.mu.Lock()
	members := e.members
	e.mu.Unlock()
	var missing []string
	return poll(ctx, func() (bool, error) {
		missing = missing[:0]
		leader := false
		for _, m := range members {
			p, wanted, paused := e.state(m)
			if !wanted || paused || p == nil {
				continue
			}
			if p.exited() {
				return false, exitError(m, p)
			}
			switch probeMode(m) {
			case "":
				missing = append(missing, strconv.Itoa(m.index))
			case "leader", "standalone":
				leader = true
			}
		}
		if !leader {
			missing = append(missing, "a leader")
		}
		return len(missing) == 0, nil
	}, func() string { return "quorum (still missing " + strings.Join(missing, ", ") + ")" })
}

// poll calls check every pollInterval until it reports done or an error,
// or ctx ends; what describes the wait for the timeout error.
func poll(ctx context.Context, check func() (bool, error), what func() string) error {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		done, err := check()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("realzk: waiting for %s: %w", what(), ctx.Err())
		case <-tick.C:
		}
	}
}

// exitError describes the unexpected exit of m's process p, wrapping
// errPortTaken when the log shows a bind failure.
func exitError(m *member, p *process) error {
	err := fmt.Errorf("realzk: member %d exited: %v", m.index, p.err)
	if log, rerr := os.ReadFile(m.logPath()); rerr == nil &&
		bytes.Contains(log, []byte("Address already in use")) {
		err = fmt.Errorf("%w (%w)", err, errPortTaken)
	}
	return err
}

// Kill kills member i with SIGKILL and waits until its process is reaped.
// Killing a member that is not running does nothing.
func (e *Ensemble) Kill(i int) {
	e.tb.Helper()
	if err := e.kill(e.member(i)); err != nil {
		e.tb.Fatal(err)
	}
}

// kill sends SIGKILL to m and reaps it.
func (e *Ensemble) kill(m *member) error {
	e.mu.Lock()
	p := m.proc
	m.wanted, m.paused = false, false
	e.mu.Unlock()
	if p == nil || p.exited() {
		return nil
	}
	if err := signalGroup(p.cmd.Process.Pid, sigKill); err != nil {
		return fmt.Errorf("realzk: killing member %d: %w", m.index, err)
	}
	return waitExit(m, p, exitTimeout)
}

// waitExit waits up to d for p to be reaped.
func waitExit(m *member, p *process, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
		return fmt.Errorf("realzk: member %d (pid %d) did not exit within %v", m.index, p.cmd.Process.Pid, d)
	}
}

// Stop stops member i with SIGTERM (resuming it first if paused) and waits
// until its process is reaped, killing it after 10 s. Stopping a member
// that is not running does nothing.
func (e *Ensemble) Stop(i int) {
	e.tb.Helper()
	m := e.member(i)
	e.mu.Lock()
	p, paused := m.proc, m.paused
	m.wanted, m.paused = false, false
	e.mu.Unlock()
	if p == nil || p.exited() {
		return
	}
	pid := p.cmd.Process.Pid
	if err := signalGroup(pid, sigTerm); err != nil {
		e.tb.Fatalf("realzk: stopping member %d: %v", i, err)
	}
	if paused {
		if err := signalGroup(pid, sigCont); err != nil {
			e.tb.Fatalf("realzk: stopping member %d: %v", i, err)
		}
	}
	if waitExit(m, p, stopTimeout) == nil {
		return
	}
	e.tb.Logf("realzk: member %d ignored SIGTERM for %v; killing it", i, stopTimeout)
	if err := e.kill(m); err != nil {
		e.tb.Fatal(err)
	}
}

// Start starts member i again after Kill or Stop, with the same ports,
// config and data, and waits (up to 30 s) until it serves. A member of an
// ensemble serves only once a quorum is up; to bring back several members
// of an ensemble that lost its quorum, use Launch and then WaitQuorum.
func (e *Ensemble) Start(i int) {
	e.tb.Helper()
	e.Launch(i)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := e.WaitServing(ctx, i); err != nil {
		e.tb.Fatalf("%v\n%s", err, e.logTail(i, failureLogLines))
	}
}

// Launch starts member i again after Kill or Stop, like Start, but does
// not wait for it to serve.
func (e *Ensemble) Launch(i int) {
	e.tb.Helper()
	m := e.member(i)
	if p, _, _ := e.state(m); p != nil && !p.exited() {
		e.tb.Fatalf("realzk: member %d is already running", i)
	}
	if err := e.launch(m); err != nil {
		e.tb.Fatal(err)
	}
}

// Pause stops member i with SIGSTOP and, on Linux, waits until all its
// threads have stopped: it keeps its sockets but answers nothing, like a
// hung or partitioned server (the kernel still completes new TCP
// handshakes). Resume undoes it.
func (e *Ensemble) Pause(i int) { e.tb.Helper(); e.setPaused(i, true) }

// Resume continues member i after Pause with SIGCONT.
func (e *Ensemble) Resume(i int) { e.tb.Helper(); e.setPaused(i, false) }

// setPaused sends SIGSTOP or SIGCONT to member i; after SIGSTOP it waits
// until the JVM's threads have stopped.
func (e *Ensemble) setPaused(i int, pause bool) {
	e.tb.Helper()
	m := e.member(i)
	sig, verb := sigCont, "resuming"
	if pause {
		sig, verb = sigStop, "pausing"
	}
	e.mu.Lock()
	p := m.proc
	if p == nil || !m.wanted || p.exited() {
		e.mu.Unlock()
		e.tb.Fatalf("realzk: member %d is not running", i)
	}
	err := signalGroup(p.cmd.Process.Pid, sig)
	if err == nil {
		m.paused = pause
	}
	e.mu.Unlock()
	if err == nil && pause {
		err = waitStopped(p.cmd.Process.Pid, exitTimeout)
	}
	if err != nil {
		e.tb.Fatalf("realzk: %s member %d: %v", verb, i, err)
	}
}

// LogTail returns the last n lines of member i's log, which holds the
// server's output across all its runs, for failure messages.
func (e *Ensemble) LogTail(i, n int) string {
	m, err := e.lookup(i)
	if err != nil {
		return err.Error()
	}
	return tailFile(m.logPath(), n)
}

// logTail is LogTail under a heading.
func (e *Ensemble) logTail(i, n int) string {
	return fmt.Sprintf("--- last lines of member %d's log:\n%s", i, e.LogTail(i, n))
}

// logTails returns the log tails of all members.
func (e *Ensemble) logTails(n int) string {
	var b strings.Builder
	for i := range e.Size() {
		b.WriteString(e.logTail(i, n))
	}
	return b.String()
}

// tailFile returns the last n lines of the file at path (looking at most
// at its last 256 KiB).
func tailFile(path string, n int) string {
	const window = 256 << 10
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("realzk: %v\n", err)
	}
	defer f.Close()
	var off int64
	if st, err := f.Stat(); err == nil && st.Size() > window {
		off = st.Size() - window
	}
	buf := make([]byte, window)
	k, _ := f.ReadAt(buf, off)
	lines := strings.SplitAfter(string(buf[:k]), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}
