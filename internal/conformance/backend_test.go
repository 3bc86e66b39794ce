package conformance

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/realzk"
	"github.com/zkgo/zk/internal/testserver"
)

// backend is a server the suite runs against: the in-memory one or a real
// standalone ZooKeeper. Both are configured alike: tick 100 ms, session
// timeouts [200 ms, 30 s], TTL nodes enabled, containers and TTL nodes
// reaped every 100 ms.
type backend interface {
	// Name is "mem" or "real".
	Name() string
	// ConnString is the server's address as a connection string, without
	// chroot.
	ConnString() string
	// Addr is the server's one client address, for a proxy in front of it.
	Addr() string
	// ExpireFromOutside ends a session the way another process can: it
	// resumes the session on a second handle with the id and password, and
	// closes that handle, which ends the session on the server. The
	// session's own handle must not be able to reach the server meanwhile
	// (it would take the session back): cut it off first.
	ExpireFromOutside(t *testing.T, id int64, passwd []byte)
	// Version is the release whose behaviour the server has: a real
	// server's own (srvr), memVersion for the in-memory one. Cases branch
	// on it where releases differ (see version_test.go).
	Version() zkVersion
}

// Settings shared by both backends.
const (
	tickTime          = 100 * time.Millisecond
	minSessionTimeout = 200 * time.Millisecond
	maxSessionTimeout = 30 * time.Second
	reapInterval      = 100 * time.Millisecond
)

// memBackend is the in-memory server. It models one release where real
// servers differ: a standalone 3.8.0 (memVersion says what that means).
// The suite asserts of it what it asserts of a real 3.8.0.
type memBackend struct{ srv *testserver.Server }

func startMem(t *testing.T) backend {
	srv := testserver.Start(t,
		testserver.WithTickTime(tickTime),
		testserver.WithSessionTimeoutRange(minSessionTimeout, maxSessionTimeout),
		testserver.WithExtendedTypes(true),
		testserver.WithReapInterval(reapInterval),
	)
	// It names the same release to srvr.
	reply, err := realzk.FourLetter(srv.Addr(0), "srvr", waitTime)
	require.NoError(t, err)
	v, err := parseVersion(reply)
	require.NoError(t, err)
	require.Equal(t, memVersion, v, "the in-memory server's srvr")
	return &memBackend{srv}
}

func (b *memBackend) Name() string       { return "mem" }
func (b *memBackend) ConnString() string { return b.srv.ConnString() }
func (b *memBackend) Addr() string       { return b.srv.Addr(0) }
func (b *memBackend) Version() zkVersion { return memVersion }
func (b *memBackend) ExpireFromOutside(t *testing.T, id int64, passwd []byte) {
	expireFromOutside(t, b.ConnString(), id, passwd)
}

// realBackend is a real standalone server, of whatever release realzk
// finds (ZK_CLASSPATH, ZK_HOME or Debian's package).
type realBackend struct {
	ens     *realzk.Ensemble
	version zkVersion // from srvr
}

func startReal(t *testing.T) backend {
	ens := realzk.Start(t, realzk.Options{
		Members:           1,
		TickTime:          tickTime,
		MinSessionTimeout: minSessionTimeout,
		MaxSessionTimeout: maxSessionTimeout,
		ExtendedTypes:     true,
		// The container reaper runs every minute by default; a system
		// property (not a zoo.cfg key) makes it run every 100 ms.
		JVMFlags: []string{"-Dznode.container.checkIntervalMs=" + strconv.FormatInt(reapInterval.Milliseconds(), 10)},
	})
	v := serverVersion(t, ens, 0)
	t.Logf("real ZooKeeper %v", v)
	return &realBackend{ens: ens, version: v}
}

func (b *realBackend) Name() string       { return "real" }
func (b *realBackend) ConnString() string { return b.ens.ConnString() }
func (b *realBackend) Addr() string       { return b.ens.Addr(0) }
func (b *realBackend) Version() zkVersion { return b.version }
func (b *realBackend) ExpireFromOutside(t *testing.T, id int64, passwd []byte) {
	expireFromOutside(t, b.ConnString(), id, passwd)
}

// expireFromOutside resumes a session on a second handle and closes it: the
// close ends the session on the server.
func expireFromOutside(t *testing.T, connString string, id int64, passwd []byte) {
	t.Helper()
	other, err := zk.Connect(testCtx(t), connString, zk.WithSession(id, passwd), zk.WithSessionTimeout(sessionTimeout))
	require.NoError(t, err, "resume session 0x%x from a second handle", id)
	require.Equal(t, id, other.SessionID())
	require.NoError(t, other.Close())
}

// backends lists how to start each backend, in the order they run.
var backends = []struct {
	name  string
	start func(*testing.T) backend
}{
	{"mem", startMem},
	{"real", startReal},
}

// conformanceCase is one behaviour, checked the same way on every backend.
type conformanceCase struct {
	name string
	fn   func(t *testing.T, b backend)
}

// TestConformance runs every case against the in-memory server
// (mem/<case>) and a real ZooKeeper server of whatever release is installed
// (real/<case>), asserting what that release does where releases differ.
// Each backend is one server shared by all cases; each case works under its
// own root, /t-<case>.
func TestConformance(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := be.start(t)
			for _, c := range cases() {
				t.Run(c.name, func(t *testing.T) { c.fn(t, b) })
			}
		})
	}
}
