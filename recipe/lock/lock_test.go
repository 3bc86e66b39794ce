package lock_test

import (
	"context"
	"errors"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/testserver"
	"github.com/zkgo/zk/recipe/internal/recipetest"
	"github.com/zkgo/zk/recipe/lock"
)

// waitTime bounds every wait for an event: reaching it is a failure, not a
// measurement.
const waitTime = 20 * time.Second

const dir = "/locks/l"

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	t.Cleanup(cancel)
	return ctx
}

func connect(t testing.TB, srv *testserver.Server, opts ...zk.Option) *zk.Conn {
	t.Helper()
	conn, err := zk.Connect(testCtx(t), srv.ConnString(), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(waitTime)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func newMutex(t testing.TB, conn *zk.Conn) *lock.Mutex {
	t.Helper()
	m, err := lock.New(conn, lock.Config{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

// watching installs a hook that reports each watch m sets.
func watching(m *lock.Mutex) <-chan string {
	ch := make(chan string, 16)
	lock.SetHooks(m, func(path string) { ch <- path }, nil, nil)
	return ch
}

// lockAsync runs Lock in the background.
func lockAsync(ctx context.Context, lockFn func(context.Context) error) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- lockFn(ctx) }()
	return errc
}

func children(srv *testserver.Server) []string {
	names, _ := srv.Children(dir)
	return names
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Five lockers, each with its own session, increment a counter N times
// under the lock with a read, a yield and a write: any overlap loses an
// update or is caught by the inside count.
func TestMutualExclusion(t *testing.T) {
	srv := testserver.Start(t)
	const lockers, n = 5, 20
	var counter, inside, overlaps atomic.Int64
	var wg sync.WaitGroup
	for range lockers {
		m := newMutex(t, connect(t, srv))
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := testCtx(t)
			for range n {
				if err := m.Lock(ctx); err != nil {
					t.Error(err)
					return
				}
				if inside.Add(1) != 1 {
					overlaps.Add(1)
				}
				v := counter.Load()
				runtime.Gosched()
				counter.Store(v + 1)
				inside.Add(-1)
				if err := m.Unlock(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	require.Zero(t, overlaps.Load())
	require.Equal(t, int64(lockers*n), counter.Load())
	require.Empty(t, children(srv))
}

// Goroutines sharing one Mutex queue for it locally.
func TestSharedMutexIsLocalMutex(t *testing.T) {
	srv := testserver.Start(t)
	m := newMutex(t, connect(t, srv))
	var counter, inside, overlaps atomic.Int64
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if err := m.Lock(testCtx(t)); err != nil {
					t.Error(err)
					return
				}
				if inside.Add(1) != 1 {
					overlaps.Add(1)
				}
				v := counter.Load()
				runtime.Gosched()
				counter.Store(v + 1)
				inside.Add(-1)
				if err := m.Unlock(testCtx(t)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	require.Zero(t, overlaps.Load())
	require.Equal(t, int64(15), counter.Load())
}

var nodeName = regexp.MustCompile(`^_c_[0-9a-f]{32}-lock-[0-9]{10}$`)

func TestLockCtxEndLeavesNoNode(t *testing.T) {
	srv := testserver.Start(t)
	m1, m2 := newMutex(t, connect(t, srv)), newMutex(t, connect(t, srv))
	require.NoError(t, m1.Lock(testCtx(t)))
	held := children(srv)
	require.Len(t, held, 1)
	require.Regexp(t, nodeName, held[0])

	watched := watching(m2)
	ctx, cancel := context.WithCancel(context.Background())
	errc := lockAsync(ctx, m2.Lock)
	recv(t, watched, "the second locker to wait")
	require.Len(t, children(srv), 2)
	cancel()
	require.ErrorIs(t, recv(t, errc, "Lock to return"), context.Canceled)
	require.Equal(t, held, children(srv), "the waiter's node is gone")

	// A deadline works the same, and the Mutex can lock later.
	dctx, dcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer dcancel()
	require.ErrorIs(t, m2.Lock(dctx), context.DeadlineExceeded)
	require.Equal(t, held, children(srv))
	require.NoError(t, m1.Unlock(testCtx(t)))
	require.NoError(t, m2.Lock(testCtx(t)))
	require.NoError(t, m2.Unlock(testCtx(t)))
	require.Empty(t, children(srv))
}

// TestLockTimeoutsReuseOneWatch: a caller that tries to lock with a short
// ctx again and again, while another holds the lock, sets one watch on the
// holder's node, not one more per try (each would stay registered on the
// handle until the holder's node changed); the watch still wakes it.
func TestLockTimeoutsReuseOneWatch(t *testing.T) {
	srv := testserver.Start(t)
	m1, m2 := newMutex(t, connect(t, srv)), newMutex(t, connect(t, srv))
	require.NoError(t, m1.Lock(testCtx(t)))
	var watches atomic.Int32
	first := make(chan struct{})
	lock.SetHooks(m2, func(string) {
		if watches.Add(1) == 1 {
			close(first)
		}
	}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := lockAsync(ctx, m2.Lock)
	recv(t, first, "the second locker to wait")
	cancel()
	require.ErrorIs(t, recv(t, errc, "Lock to return"), context.Canceled)
	for range 20 {
		dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		require.ErrorIs(t, m2.Lock(dctx), context.DeadlineExceeded)
		dcancel()
	}
	require.Equal(t, int32(1), watches.Load(), "watches set on the holder's node by 21 tries")
	errc = lockAsync(testCtx(t), m2.Lock)
	require.NoError(t, m1.Unlock(testCtx(t)))
	require.NoError(t, recv(t, errc, "Lock to return once the holder unlocked"))
	require.NoError(t, m2.Unlock(testCtx(t)))
}

func TestLostOnDisconnect(t *testing.T) {
	srv := testserver.Start(t)
	conn := connect(t, srv)
	m := newMutex(t, conn)
	require.NoError(t, m.Lock(testCtx(t)))
	require.False(t, closed(m.Lost()))
	require.NoError(t, m.Err())

	srv.DropConnections()
	recv(t, m.Lost(), "the hold to be in doubt")
	require.ErrorIs(t, m.Err(), lock.ErrDisconnected)
	require.NoError(t, m.Unlock(testCtx(t)), "Unlock deletes the node once reconnected")
	require.Empty(t, children(srv))
}

func TestKeepOnDisconnectLostOnExpiry(t *testing.T) {
	srv := testserver.Start(t)
	reconnected := make(chan struct{}, 4)
	conn := connect(t, srv, zk.WithStateListener(func(c zk.StateChange) {
		if c.From == zk.StateConnecting && c.To == zk.StateConnected {
			reconnected <- struct{}{}
		}
	}))
	recv(t, reconnected, "the first connection")
	m, err := lock.New(conn, lock.Config{Dir: dir, KeepOnDisconnect: true})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.Lock(testCtx(t)))

	srv.DropConnections()
	recv(t, reconnected, "the reconnection")
	require.NoError(t, conn.Sync(testCtx(t), "/"))
	require.False(t, closed(m.Lost()), "a disconnection does not lose a KeepOnDisconnect hold")

	srv.ExpireSession(conn.SessionID())
	recv(t, m.Lost(), "the hold to end with the session")
	require.ErrorIs(t, m.Err(), zk.ErrSessionExpired)
	require.NoError(t, m.Unlock(testCtx(t)), "an expired hold is released already")
	require.ErrorIs(t, m.Lock(testCtx(t)), zk.ErrSessionExpired)
}

func TestLostWhenNodeDeleted(t *testing.T) {
	srv := testserver.Start(t)
	m, admin := newMutex(t, connect(t, srv)), connect(t, srv)
	require.NoError(t, m.Lock(testCtx(t)))
	tok, ok := m.Token()
	require.True(t, ok)
	require.NoError(t, admin.Delete(testCtx(t), tok.Path, zk.AnyVersion))
	recv(t, m.Lost(), "the hold to end")
	require.ErrorIs(t, m.Err(), lock.ErrNodeDeleted)
	require.NoError(t, m.Unlock(testCtx(t)))
}

func TestLostCreateReplyRecovered(t *testing.T) {
	srv := testserver.Start(t)
	setup := connect(t, srv)
	_, err := setup.Create(testCtx(t), "/locks", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	_, err = setup.Create(testCtx(t), dir, nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)

	net := recipetest.NewNet()
	conn := connect(t, srv, zk.WithDialer(net.Dial))
	m := newMutex(t, conn)
	recovered := make(chan string, 4)
	lock.SetHooks(m, nil, nil, func(path string) { recovered <- path })
	dropped := net.ArmCreateReplyDrop()
	require.NoError(t, m.Lock(testCtx(t)))
	recv(t, dropped, "the create's reply to be dropped")
	path := recv(t, recovered, "the node to be found by its prefix")
	tok, _ := m.Token()
	require.Equal(t, path, tok.Path)
	require.Len(t, children(srv), 1, "one node, not two")
}

func TestCloseReleases(t *testing.T) {
	srv := testserver.Start(t)
	m1, m2, m3 := newMutex(t, connect(t, srv)), newMutex(t, connect(t, srv)), newMutex(t, connect(t, srv))
	require.NoError(t, m1.Lock(testCtx(t)))
	watched2, watched3 := watching(m2), watching(m3)
	got2 := lockAsync(testCtx(t), m2.Lock)
	recv(t, watched2, "m2 to wait")
	got3 := lockAsync(testCtx(t), m3.Lock)
	recv(t, watched3, "m3 to wait")

	require.NoError(t, m3.Close()) // a waiter closes: its Lock returns
	require.ErrorIs(t, recv(t, got3, "m3's Lock to return"), lock.ErrClosed)
	lost1 := m1.Lost()
	require.NoError(t, m1.Close()) // the holder closes: the lock is released
	require.True(t, closed(lost1), "Close ends the hold")
	require.ErrorIs(t, m1.Err(), lock.ErrClosed)
	require.NoError(t, recv(t, got2, "m2 to get the lock"))
	lost2 := m2.Lost()
	require.NoError(t, m2.Unlock(testCtx(t)))
	require.True(t, closed(lost2), "Unlock ends the hold")
	require.ErrorIs(t, m2.Err(), lock.ErrNotHeld)
	require.NoError(t, m2.Lock(testCtx(t)))
	require.ErrorIs(t, m1.Lock(testCtx(t)), lock.ErrClosed)
	require.NoError(t, m1.Close(), "Close is idempotent")
	require.Len(t, children(srv), 1)
}

func TestUnlockWithoutLock(t *testing.T) {
	srv := testserver.Start(t)
	m := newMutex(t, connect(t, srv))
	require.ErrorIs(t, m.Unlock(testCtx(t)), lock.ErrNotHeld)
	require.True(t, closed(m.Lost()))
	require.ErrorIs(t, m.Err(), lock.ErrNotHeld)
	_, ok := m.Token()
	require.False(t, ok)
}

func TestTokenFences(t *testing.T) {
	srv := testserver.Start(t)
	c1, c2 := connect(t, srv), connect(t, srv)
	m1, m2 := newMutex(t, c1), newMutex(t, c2)
	ctx := testCtx(t)
	_, err := c1.Create(ctx, "/resource", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	write := func(conn *zk.Conn, tok lock.Token) error {
		_, err := conn.Multi(ctx, zk.CheckOp{Path: tok.Path, Version: tok.Version},
			zk.SetDataOp{Path: "/resource", Data: []byte(tok.Path), Version: zk.AnyVersion})
		return err
	}
	require.NoError(t, m1.Lock(ctx))
	t1, _ := m1.Token()
	require.Equal(t, c1.SessionID(), t1.SessionID)
	require.NoError(t, write(c1, t1))
	require.NoError(t, m1.Unlock(ctx))
	require.NoError(t, m2.Lock(ctx))
	t2, _ := m2.Token()
	require.Greater(t, t2.Czxid, t1.Czxid)
	require.ErrorIs(t, write(c1, t1), zk.ErrNoNode, "a stale holder's write is refused")
	require.NoError(t, write(c2, t2))
}

func TestNewErrors(t *testing.T) {
	srv := testserver.Start(t)
	conn := connect(t, srv)
	for _, d := range []string{"", "/", "rel", "/trailing/"} {
		_, err := lock.New(conn, lock.Config{Dir: d})
		require.Error(t, err, "dir %q", d)
		require.True(t, strings.HasPrefix(err.Error(), "lock: "), err.Error())
		_, err = lock.NewRW(conn, lock.Config{Dir: d})
		require.Error(t, err)
	}
	_, err := lock.New(nil, lock.Config{Dir: dir})
	require.Error(t, err)
}

func newRW(t testing.TB, srv *testserver.Server) *lock.RWMutex {
	t.Helper()
	rw, err := lock.NewRW(connect(t, srv), lock.Config{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { rw.Close() })
	return rw
}

// Readers share; a writer waits for the readers before it, and readers
// that come after a waiting writer wait for it.
func TestRWReadersShareWriterWaits(t *testing.T) {
	srv := testserver.Start(t)
	r1, r2, w, r3 := newRW(t, srv), newRW(t, srv), newRW(t, srv), newRW(t, srv)
	ctx := testCtx(t)
	require.NoError(t, r1.RLock(ctx))
	require.NoError(t, r2.RLock(ctx), "readers share")
	require.False(t, closed(r1.Reader().Lost()))

	wWatch := watching(w.Writer())
	gotW := lockAsync(ctx, w.Lock)
	recv(t, wWatch, "the writer to wait")
	r3Watch := watching(r3.Reader())
	gotR3 := lockAsync(ctx, r3.RLock)
	wNode := ""
	for _, name := range children(srv) {
		if strings.HasPrefix(name, lock.Prefix(w.Writer())) {
			wNode = dir + "/" + name
		}
	}
	require.Equal(t, wNode, recv(t, r3Watch, "the late reader to wait"), "a reader waits for the nearest writer")

	require.NoError(t, r1.RUnlock(ctx))
	select {
	case err := <-gotW:
		t.Fatalf("the writer got the lock while a reader held it: %v", err)
	default:
	}
	require.NoError(t, r2.RUnlock(ctx))
	require.NoError(t, recv(t, gotW, "the writer to get the lock"))
	select {
	case err := <-gotR3:
		t.Fatalf("a reader got the lock while the writer held it: %v", err)
	default:
	}
	require.NoError(t, w.Unlock(ctx))
	require.NoError(t, recv(t, gotR3, "the late reader to get the lock"))
	require.NoError(t, r3.RUnlock(ctx))
	require.Empty(t, children(srv))
}

// Readers and writers, each with its own session, take the lock many
// times: a writer never overlaps anyone, readers overlap each other.
func TestRWExclusion(t *testing.T) {
	srv := testserver.Start(t)
	var readers, writers, bad, maxReaders atomic.Int64
	var wg sync.WaitGroup
	for i := range 6 {
		rw := newRW(t, srv)
		writer := i < 2
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := testCtx(t)
			for range 8 {
				if writer {
					if err := rw.Lock(ctx); err != nil {
						t.Error(err)
						return
					}
					if writers.Add(1) != 1 || readers.Load() != 0 {
						bad.Add(1)
					}
					runtime.Gosched()
					writers.Add(-1)
					if err := rw.Unlock(ctx); err != nil {
						t.Error(err)
						return
					}
					continue
				}
				if err := rw.RLock(ctx); err != nil {
					t.Error(err)
					return
				}
				n := readers.Add(1)
				if writers.Load() != 0 {
					bad.Add(1)
				}
				for m := maxReaders.Load(); n > m && !maxReaders.CompareAndSwap(m, n); m = maxReaders.Load() {
				}
				runtime.Gosched()
				readers.Add(-1)
				if err := rw.RUnlock(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	require.Zero(t, bad.Load())
	t.Logf("at most %d readers at once", maxReaders.Load())
}

// kazoo (the Python client) names the nodes of its ReadLock
// <uuid>__rlock__<seq> and those of its WriteLock <uuid>__lock__<seq>: our
// readers share with the first and wait for the second; our writers wait
// for both.
func TestRWKazooNodes(t *testing.T) {
	srv := testserver.Start(t)
	ctx := testCtx(t)
	py := connect(t, srv)
	for _, p := range []string{"/locks", dir} {
		_, err := py.Create(ctx, p, nil, zk.CreatePersistent, zk.OpenACL)
		require.NoError(t, err)
	}
	kazooNode := func(kind string) string {
		p, err := py.Create(ctx, dir+"/0123456789abcdef0123456789abcdef"+kind, nil, zk.CreateEphemeralSequential, zk.OpenACL)
		require.NoError(t, err)
		return p
	}
	r, w := newRW(t, srv), newRW(t, srv)
	rWatch, wWatch := watching(r.Reader()), watching(w.Writer())

	reader := kazooNode("__rlock__")
	require.NoError(t, r.RLock(ctx), "our reader shares with kazoo's")
	require.NoError(t, r.RUnlock(ctx))
	gotW := lockAsync(ctx, w.Lock)
	require.Equal(t, reader, recv(t, wWatch, "our writer to wait"), "our writer waits for kazoo's reader")
	require.NoError(t, py.Delete(ctx, reader, zk.AnyVersion))
	require.NoError(t, recv(t, gotW, "our writer to get the lock"))
	require.NoError(t, w.Unlock(ctx))

	writer := kazooNode("__lock__")
	gotR := lockAsync(ctx, r.RLock)
	require.Equal(t, writer, recv(t, rWatch, "our reader to wait"), "our reader waits for kazoo's writer")
	require.NoError(t, py.Delete(ctx, writer, zk.AnyVersion))
	require.NoError(t, recv(t, gotR, "our reader to get the lock"))
	require.NoError(t, r.RUnlock(ctx))
	require.Empty(t, children(srv))
}

func TestLockFailsWithoutPermission(t *testing.T) {
	srv := testserver.Start(t)
	conn := connect(t, srv)
	_, err := conn.Create(testCtx(t), "/ro", nil, zk.CreatePersistent, zk.ReadACL)
	require.NoError(t, err)
	m, err := lock.New(conn, lock.Config{Dir: "/ro"})
	require.NoError(t, err)
	defer m.Close()
	err = m.Lock(testCtx(t))
	require.ErrorIs(t, err, zk.ErrNoAuth)
	require.True(t, strings.HasPrefix(err.Error(), "lock: "), err.Error())
	require.False(t, errors.Is(err, context.Canceled))
}

// A directory deleted once empty (by the server, if it is a container as
// Curator makes them, or by a cleanup job) and made again restarts its
// sequence: the next Lock's node has the path of the last one's. The hold
// must not take the fired watch of the deleted node for its own.
func TestRelockAfterDirRecreated(t *testing.T) {
	srv := testserver.Start(t)
	conn, admin := connect(t, srv), connect(t, srv)
	m := newMutex(t, conn)
	ctx := testCtx(t)
	require.NoError(t, m.Lock(ctx))
	first, _ := m.Token()
	require.NoError(t, m.Unlock(ctx))
	require.NoError(t, admin.Delete(ctx, dir, zk.AnyVersion))

	require.NoError(t, m.Lock(ctx))
	second, _ := m.Token()
	require.Equal(t, first.Path, second.Path, "the sequence restarted")
	require.NoError(t, conn.Sync(ctx, dir)) // a round trip: time for the hold's goroutines to see what they have
	require.False(t, closed(m.Lost()), "the new hold was lost: %v", m.Err())

	// The hold watches its own node.
	require.NoError(t, admin.Delete(ctx, second.Path, zk.AnyVersion))
	recv(t, m.Lost(), "the hold to end")
	require.ErrorIs(t, m.Err(), lock.ErrNodeDeleted)
}
