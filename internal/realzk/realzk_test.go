package realzk

import (
	"archive/zip"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// within returns a context that ends after d, cancelled when the test ends.
func within(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond every 20 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("no %s within %v", what, d)
		case <-tick.C:
		}
	}
}

// modes returns the mode of every member.
func modes(e *Ensemble) []string {
	out := make([]string, e.Size())
	for i := range out {
		out[i] = e.Mode(i)
	}
	return out
}

// count returns how often s occurs in list.
func count(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}

func TestStandalone(t *testing.T) {
	start := time.Now()
	e := Start(t, Options{})
	t.Logf("standalone serving after %v", time.Since(start))

	if e.Size() != 1 || e.ConnString() != e.Addr(0) {
		t.Fatalf("Size %d, ConnString %q, Addr(0) %q", e.Size(), e.ConnString(), e.Addr(0))
	}
	reply, err := e.FourLetter(0, "srvr")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(reply, "Mode: standalone") {
		t.Fatalf("srvr reply without Mode: standalone:\n%s", reply)
	}
	if got := e.Mode(0); got != "standalone" {
		t.Fatalf("Mode(0) = %q", got)
	}
	if got := e.Leader(); got != 0 {
		t.Fatalf("Leader() = %d", got)
	}
	// The session timeout bounds follow the tick (100 ms): 200 and 2000.
	conf, err := e.FourLetter(0, "conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tickTime=100", "minSessionTimeout=200", "maxSessionTimeout=2000"} {
		if !strings.Contains(conf, want) {
			t.Errorf("conf lacks %s:\n%s", want, conf)
		}
	}
	if ok, err := FourLetter(e.Addr(0), "ruok", time.Second); err != nil || ok != "imok" {
		t.Errorf("ruok = %q, %v", ok, err)
	}
	if tail := e.LogTail(0, 5); strings.Count(tail, "\n") != 5 {
		t.Errorf("LogTail(0, 5) is not 5 lines:\n%s", tail)
	}

	// Stop and Start keep the data and the port.
	start = time.Now()
	e.Stop(0)
	t.Logf("standalone stopped (SIGTERM) after %v", time.Since(start))
	if got := e.Mode(0); got != "" {
		t.Fatalf("Mode of a stopped member = %q", got)
	}
	start = time.Now()
	e.Start(0)
	t.Logf("standalone restarted after %v", time.Since(start))
	if got := e.Mode(0); got != "standalone" {
		t.Fatalf("Mode(0) after restart = %q", got)
	}
}

func TestEnsembleKillLeader(t *testing.T) {
	start := time.Now()
	e := Start(t, Options{Members: 3})
	t.Logf("3-member ensemble serving after %v", time.Since(start))

	if got := len(strings.Split(e.ConnString(), ",")); got != 3 {
		t.Fatalf("ConnString %q", e.ConnString())
	}
	m := modes(e)
	if count(m, "leader") != 1 || count(m, "follower") != 2 {
		t.Fatalf("modes %q, want one leader and two followers", m)
	}
	old := e.Leader()
	if m[old] != "leader" {
		t.Fatalf("Leader() = %d, modes %q", old, m)
	}

	start = time.Now()
	e.Kill(old)
	t.Logf("leader killed and reaped after %v", time.Since(start))
	if got := e.Mode(old); got != "" {
		t.Fatalf("killed member reports mode %q", got)
	}
	waitFor(t, 20*time.Second, "new leader", func() bool {
		l := e.Leader()
		return l >= 0 && l != old
	})
	t.Logf("new leader after killing the leader: %v", time.Since(start))
	if err := e.WaitQuorum(within(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	m = modes(e)
	if count(m, "leader") != 1 || count(m, "follower") != 1 || m[old] != "" {
		t.Fatalf("modes after kill %q", m)
	}

	start = time.Now()
	e.Start(old)
	t.Logf("killed member serving again after %v", time.Since(start))
	if got := e.Mode(old); got != "follower" {
		t.Fatalf("restarted member mode %q, want follower", got)
	}
}

func TestEnsemblePauseResume(t *testing.T) {
	e := Start(t, Options{Members: 3})
	f := (e.Leader() + 1) % 3
	e.Pause(f)
	if got := e.Mode(f); got != "" {
		t.Fatalf("Mode of a paused member = %q", got)
	}
	// The kernel still accepts the connection, but nothing answers.
	if reply, err := FourLetter(e.Addr(f), "srvr", 300*time.Millisecond); err == nil {
		t.Fatalf("paused member answered srvr:\n%s", reply)
	}
	// The other two keep the quorum.
	if err := e.WaitQuorum(within(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	e.Resume(f)
	if err := e.WaitServing(within(t, 20*time.Second), f); err != nil {
		t.Fatal(err)
	}
	if got := e.Mode(f); got != "follower" && got != "leader" {
		t.Fatalf("resumed member mode %q", got)
	}

	// Stop (SIGTERM) and Start a follower, then launch everyone again after
	// losing the quorum.
	e.Stop(f)
	if got := e.Mode(f); got != "" {
		t.Fatalf("stopped member mode %q", got)
	}
	e.Start(f)
	for i := range e.Size() {
		e.Kill(i)
	}
	if l := e.Leader(); l != -1 {
		t.Fatalf("Leader() = %d with every member killed", l)
	}
	for i := range e.Size() {
		e.Launch(i)
	}
	if err := e.WaitQuorum(within(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if m := modes(e); count(m, "leader") != 1 || count(m, "follower") != 2 {
		t.Fatalf("modes after relaunch %q", m)
	}

	// Stop resumes a paused member so that it sees SIGTERM; a member left
	// paused is killed by the cleanup.
	e.Pause(0)
	e.Stop(0)
	e.Pause(1)
}

func TestReadOnly(t *testing.T) {
	e := Start(t, Options{Members: 3, ReadOnly: true})
	l := e.Leader()
	survivor := (l + 1) % 3
	e.Kill(l)
	e.Kill((l + 2) % 3)
	start := time.Now()
	waitFor(t, 20*time.Second, "read-only mode", func() bool { return e.Mode(survivor) == "read-only" })
	t.Logf("lone member read-only after %v", time.Since(start))
	if reply, err := e.FourLetter(survivor, "isro"); err != nil || reply != "ro" {
		t.Fatalf("isro = %q, %v", reply, err)
	}
}

// connectRequest is a ConnectRequest frame for a new session (PROTOCOL §16).
func connectRequest() []byte {
	b := binary.BigEndian.AppendUint32(nil, 45)
	b = binary.BigEndian.AppendUint32(b, 0)     // protocol version
	b = binary.BigEndian.AppendUint64(b, 0)     // last zxid seen
	b = binary.BigEndian.AppendUint32(b, 30000) // timeout
	b = binary.BigEndian.AppendUint64(b, 0)     // session id
	b = binary.BigEndian.AppendUint32(b, 16)    // password length
	b = append(b, make([]byte, 16)...)          // password
	return append(b, 0)                         // readOnly
}

// handshake sends a ConnectRequest on rw and returns the negotiated timeout.
func handshake(rw io.ReadWriter) (int32, error) {
	if _, err := rw.Write(connectRequest()); err != nil {
		return 0, err
	}
	body, err := readFrame(rw)
	if err != nil {
		return 0, err
	}
	if len(body) < 8 {
		return 0, fmt.Errorf("short ConnectResponse % x", body)
	}
	return int32(binary.BigEndian.Uint32(body[4:8])), nil
}

// readFrame reads one length-prefixed frame.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	_, err := io.ReadFull(r, body)
	return body, err
}

// appendString appends a jute string.
func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// createTTL sends a createTTL (opcode 21) of a persistent TTL node on a
// connection past its handshake and returns the error code of the reply:
// 0 with extendedTypesEnabled, -6 (unimplemented) without.
func createTTL(rw io.ReadWriter, path string) (int32, error) {
	b := binary.BigEndian.AppendUint32(nil, 1) // xid
	b = binary.BigEndian.AppendUint32(b, 21)   // createTTL
	b = appendString(b, path)
	b = binary.BigEndian.AppendUint32(b, 0)  // empty data
	b = binary.BigEndian.AppendUint32(b, 1)  // one ACL
	b = binary.BigEndian.AppendUint32(b, 31) // all permissions
	b = appendString(b, "world")
	b = appendString(b, "anyone")
	b = binary.BigEndian.AppendUint32(b, 5)     // persistent with TTL
	b = binary.BigEndian.AppendUint64(b, 60000) // ttl
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(b)))
	if _, err := rw.Write(append(frame, b...)); err != nil {
		return 0, err
	}
	reply, err := readFrame(rw)
	if err != nil {
		return 0, err
	}
	if len(reply) < 16 {
		return 0, fmt.Errorf("short reply % x", reply)
	}
	return int32(binary.BigEndian.Uint32(reply[12:16])), nil
}

func TestNettyTLSExtendedReconfig(t *testing.T) {
	e := Start(t, Options{TLS: true, ExtendedTypes: true, Reconfig: true})
	// Reconfig runs a single server as a quorum of one.
	if got := e.Mode(0); got != "leader" {
		t.Fatalf("Mode(0) = %q, want leader", got)
	}
	if e.SecureAddr(0) == "" || e.SecureConnString() != e.SecureAddr(0) {
		t.Fatalf("SecureAddr %q, SecureConnString %q", e.SecureAddr(0), e.SecureConnString())
	}
	if log := e.LogTail(0, 1000); !strings.Contains(log, "reconfigEnabled=true") {
		t.Errorf("the log does not say reconfigEnabled=true:\n%s", log)
	}

	conn, err := tls.Dial("tcp", e.SecureAddr(0), e.TLSConfig())
	if err != nil {
		t.Fatalf("TLS dial: %v\n%s", err, e.LogTail(0, 20))
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	timeout, err := handshake(conn)
	if err != nil {
		t.Fatalf("handshake over TLS: %v\n%s", err, e.LogTail(0, 20))
	}
	if timeout != 2000 {
		t.Fatalf("negotiated timeout %d, want 2000 (20 ticks)", timeout)
	}
	if code, err := createTTL(conn, "/ttl"); err != nil || code != 0 {
		t.Fatalf("createTTL with ExtendedTypes: code %d, %v", code, err)
	}
}

func TestNettyPlain(t *testing.T) {
	// The subtest's name puts '#', '%' and a space in the directory: the
	// log4j configuration URL and zoo.cfg must survive them.
	t.Run("odd #% dir", testNettyPlain)
}

func testNettyPlain(t *testing.T) {
	e := Start(t, Options{Netty: true, MaxSessionTimeout: 3 * time.Second})
	conn, err := net.DialTimeout("tcp", e.Addr(0), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	timeout, err := handshake(conn)
	if err != nil {
		t.Fatalf("handshake: %v\n%s", err, e.LogTail(0, 20))
	}
	if timeout != 3000 {
		t.Fatalf("negotiated timeout %d, want 3000", timeout)
	}
	if code, err := createTTL(conn, "/ttl"); err != nil || code != -6 {
		t.Fatalf("createTTL without ExtendedTypes: code %d, %v; want -6", code, err)
	}
	if !strings.Contains(e.LogTail(0, 1000), "NettyServerCnxnFactory") {
		t.Errorf("the log does not mention NettyServerCnxnFactory:\n%s", e.LogTail(0, 40))
	}
}

func TestPortTakenRetry(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	calls := 0
	choosePorts = func(n int) ([]int, error) {
		calls++
		ports, err := freePorts(n)
		if calls == 1 && err == nil {
			ports[0] = taken.Addr().(*net.TCPAddr).Port // the client port
		}
		return ports, err
	}
	t.Cleanup(func() { choosePorts = freePorts })

	e := Start(t, Options{})
	if calls != 2 || e.Addr(0) == taken.Addr().String() {
		t.Fatalf("%d port choices, Addr(0) %s, taken %s", calls, e.Addr(0), taken.Addr())
	}
	if got := e.Mode(0); got != "standalone" {
		t.Fatalf("Mode(0) = %q", got)
	}
}

// fakeTB records Skip and Fatal instead of ending a real test.
type fakeTB struct {
	testing.TB
	mu      sync.Mutex
	skipped bool
	failed  bool
	msg     string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) end(failed bool, msg string) {
	f.mu.Lock()
	f.failed, f.skipped, f.msg = failed, !failed, msg
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Skip(args ...any)                 { f.end(false, fmt.Sprint(args...)) }
func (f *fakeTB) Skipf(format string, args ...any) { f.end(false, fmt.Sprintf(format, args...)) }
func (f *fakeTB) Fatal(args ...any)                { f.end(true, fmt.Sprint(args...)) }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.end(true, fmt.Sprintf(format, args...))
}

// startFake runs Start with a fakeTB on a goroutine of its own, since the
// fake ends it with runtime.Goexit.
func startFake(t *testing.T) *fakeTB {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(f, Options{})
	}()
	<-done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f
}

func TestMissingInstall(t *testing.T) {
	empty := t.TempDir()
	t.Setenv(EnvClassPath, "")
	t.Setenv(EnvHome, empty)
	t.Setenv(EnvRequire, "")

	reason, ok := Available()
	if ok || !strings.Contains(reason, empty) {
		t.Fatalf("Available() = %q, %v with an empty ZK_HOME", reason, ok)
	}

	var sub *testing.T
	t.Run("skips", func(t *testing.T) {
		sub = t
		Start(t, Options{})
		t.Error("Start returned without skipping")
	})
	if !sub.Skipped() {
		t.Fatal("Start did not skip")
	}

	f := startFake(t)
	if !f.skipped || !strings.HasPrefix(f.msg, skipMessage) {
		t.Fatalf("skipped %v, message %q", f.skipped, f.msg)
	}

	t.Setenv(EnvRequire, "1")
	f = startFake(t)
	if !f.failed || !strings.Contains(f.msg, skipMessage) || !strings.Contains(f.msg, EnvRequire) {
		t.Fatalf("failed %v, message %q", f.failed, f.msg)
	}
}

// writeJar writes a jar (a zip file) at path, with a manifest when
// classPath is not empty.
func writeJar(t *testing.T, path, classPath string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	if classPath != "" {
		w, err := zw.Create("META-INF/MANIFEST.MF")
		if err != nil {
			t.Fatal(err)
		}
		// A long Class-Path folds onto continuation lines, as jar tools do.
		mf := "Manifest-Version: 1.0\r\nClass-Path: " + classPath + "\r\n\r\n"
		var folded strings.Builder
		for line := range strings.Lines(mf) {
			for len(line) > 72 {
				folded.WriteString(line[:70] + "\r\n ")
				line = line[70:]
			}
			folded.WriteString(line)
		}
		if _, err := io.WriteString(w, folded.String()); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestInstallLookup(t *testing.T) {
	if _, err := findJava(); err != nil {
		t.Skip(err)
	}
	t.Setenv(EnvClassPath, "")

	// An Apache release: the jars are in lib/ and the server jar has no
	// manifest class path, so every jar of lib/ is used, server jar first.
	home := t.TempDir()
	lib := filepath.Join(home, "lib")
	if err := os.Mkdir(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"zookeeper-3.8.4.jar", "zookeeper-jute-3.8.4.jar", "netty-handler-4.1.jar"} {
		writeJar(t, filepath.Join(lib, name), "")
	}
	t.Setenv(EnvHome, home)
	inst, err := findInstall()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Join(lib, "zookeeper-3.8.4.jar"),
		filepath.Join(lib, "netty-handler-4.1.jar"),
		filepath.Join(lib, "zookeeper-jute-3.8.4.jar"),
	}
	if !slices.Equal(inst.classPath, want) {
		t.Fatalf("release class path %q, want %q", inst.classPath, want)
	}

	// Debian's layout: the manifest names the dependencies (absolute or
	// relative; missing ones are left out), plus the extras that are present.
	dir := t.TempDir()
	writeJar(t, filepath.Join(dir, "zookeeper.jar"),
		dir+"/zookeeper-jute.jar /nonexistent/jline.jar netty-handler.jar "+strings.Repeat("x", 80)+".jar")
	for _, name := range []string{"zookeeper-jute.jar", "netty-handler.jar", "slf4j-log4j12.jar", "unrelated.jar"} {
		writeJar(t, filepath.Join(dir, name), "")
	}
	t.Setenv(EnvHome, dir)
	inst, err = findInstall()
	if err != nil {
		t.Fatal(err)
	}
	want = []string{
		filepath.Join(dir, "zookeeper.jar"),
		filepath.Join(dir, "zookeeper-jute.jar"),
		filepath.Join(dir, "netty-handler.jar"),
		filepath.Join(dir, "slf4j-log4j12.jar"),
	}
	if !slices.Equal(inst.classPath, want) {
		t.Fatalf("Debian-style class path %q, want %q", inst.classPath, want)
	}

	// ZK_CLASSPATH wins, verbatim.
	t.Setenv(EnvClassPath, "/a.jar"+string(os.PathListSeparator)+"/b.jar")
	inst, err = findInstall()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(inst.classPath, []string{"/a.jar", "/b.jar"}) {
		t.Fatalf("class path %q from %s", inst.classPath, EnvClassPath)
	}

	// The real Debian install, when present.
	t.Setenv(EnvClassPath, "")
	t.Setenv(EnvHome, "")
	if _, err := os.Stat("/usr/share/java/zookeeper.jar"); err != nil {
		t.Skip("Debian's zookeeper.jar is not installed")
	}
	inst, err = findInstall()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar",
		"slf4j-log4j12.jar", "log4j-1.2.jar", "netty-handler.jar", "netty-codec.jar"} {
		if !slices.Contains(inst.classPath, "/usr/share/java/"+want) {
			t.Errorf("class path lacks %s: %q", want, inst.classPath)
		}
	}
	t.Logf("class path: %s", strings.Join(inst.classPath, ":"))
}

func TestManifestAttr(t *testing.T) {
	const mf = "Manifest-Version: 1.0\r\n" +
		"Class-Path: /usr/share/java/a.jar /usr/share/java/b.j\r\n" +
		" ar c.jar\r\n" +
		"Created-By: test\r\n" +
		"\r\n" +
		"Name: other\r\n" +
		"Class-Path: nope.jar\r\n"
	got, err := manifestAttr(strings.NewReader(mf), "class-path")
	if err != nil {
		t.Fatal(err)
	}
	if want := "/usr/share/java/a.jar /usr/share/java/b.jar c.jar"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestApplyExtra(t *testing.T) {
	cfg := []cfgLine{{"a", "1"}, {"b", "2"}, {"c", "3"}}
	got := applyExtra(cfg, map[string]string{"b": "", "c": "9", "z": "26", "y": "25"})
	want := []cfgLine{{"a", "1"}, {"c", "9"}, {"y", "25"}, {"z", "26"}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if cfg[2].value != "3" {
		t.Fatal("applyExtra changed its input")
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]string{
		"Zookeeper version: 3.8.0\nZxid: 0x0\nMode: follower\nNode count: 5\n": "follower",
		"Mode: read-only\n": "read-only",
		"This ZooKeeper instance is not currently serving requests\n": "",
		"": "",
	} {
		if got := parseMode(in); got != want {
			t.Errorf("parseMode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFourLetterErrors(t *testing.T) {
	if _, err := FourLetter("127.0.0.1:1", "srvrx", time.Second); err == nil ||
		!strings.HasPrefix(err.Error(), "realzk: ") {
		t.Fatalf("five-letter word: %v", err)
	}
	if _, err := FourLetter("127.0.0.1:1", "srvr", time.Second); err == nil {
		t.Fatal("no error from a closed port")
	}
}

// TestSASLUsersChecked: names and passwords that would break the JAAS file
// are refused before anything starts.
func TestSASLUsersChecked(t *testing.T) {
	for _, users := range []map[string]string{
		{"": "pw"}, {"bob smith": "pw"}, {"bob\"": "pw"}, {"bob": "p\"w"}, {"bob": "p\\w"}, {"bob": "p\nw"},
	} {
		if _, err := (Options{SASLUsers: users}).normalize(); err == nil {
			t.Errorf("SASL users %q accepted", users)
		}
	}
	if _, err := (Options{SASLUsers: map[string]string{"bob_2": "pw with spaces, ö"}}).normalize(); err != nil {
		t.Errorf("good SASL users refused: %v", err)
	}
}
