package interop_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/realzk"
	"github.com/zkgo/zk/internal/testserver"
	"github.com/zkgo/zk/recipe/lock"
)

// kazoo's ReadLock (nodes <uuid>__rlock__<seq>) waits for the nearest lower
// "__lock__" node (its WriteLock's and Lock's), its WriteLock (<uuid>__lock__
// <seq>) for the nearest lower "__lock__" or "__rlock__" node. Given these
// extra_lock_patterns, its reader also waits for our writers and Mutexes,
// and its writer for every node of ours.
var (
	kazooReadPatterns  = []string{"-write-", "-lock-"}
	kazooWritePatterns = []string{"-read-", "-write-", "-lock-"}
)

// TestKazooRWLock has a recipe/lock RWMutex and kazoo's ReadLock and
// WriteLock share one lock directory, on a real ZooKeeper and on the
// in-memory server: a writer of either excludes the readers and writers of
// both, readers of both share, and the queue's order holds across the two
// (a writer queued behind a reader gets the lock when it is released; a
// reader queued behind a waiting writer does not join the readers before
// it).
//
// kazoo 2.8 (Debian's) has a reader, whenever it looks at the queue, wait
// for the highest writer node of all, even one queued after it: a reader
// that waited for a writer and is woken with another writer queued behind
// it then waits for that writer, which waits for it (kazoo issue #649,
// fixed in 2.9). No step here has a kazoo reader wait while a writer is
// queued behind it.
func TestKazooRWLock(t *testing.T) {
	t.Run("real", func(t *testing.T) {
		ens := realzk.Start(t, realzk.Options{Members: 1})
		kazooRWLock(t, ens.ConnString())
	})
	t.Run("mem", func(t *testing.T) {
		kazooRWLock(t, testserver.Start(t).ConnString())
	})
}

func kazooRWLock(t *testing.T, hosts string) {
	k := startKazoo(t, hosts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := zk.Connect(ctx, hosts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k.must(t, nil, map[string]any{"op": "connect", "c": "k"})
	newRW := func(t *testing.T, dir string) *lock.RWMutex {
		t.Helper()
		rw, err := lock.NewRW(c, lock.Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rw.Close() })
		return rw
	}

	t.Run("our writer excludes kazoo's readers and writers", func(t *testing.T) {
		const dir = "/rw/go-writer"
		w := newRW(t, dir)
		excludesKazooRW(t, ctx, k, c, dir, "gw", "our writer", w.Lock, w.Unlock)
	})

	t.Run("kazoo's writer excludes our readers and writers", func(t *testing.T) {
		const dir = "/rw/py-writer"
		r, w := newRW(t, dir), newRW(t, dir)
		kazooLock(t, k, "pw", "write", dir)
		for _, side := range []struct {
			name   string
			lock   func(context.Context) error
			unlock func(context.Context) error
		}{{"RLock", r.RLock, r.RUnlock}, {"Lock", w.Lock, w.Unlock}} {
			if !kazooTry(t, k, "pw") {
				t.Fatal("kazoo's writer did not get the free lock")
			}
			mustWait(t, ctx, "our "+side.name+" while kazoo's writer held the lock", side.lock)
			locked := lockAsync(ctx, side.lock)
			waitNodes(t, ctx, c, dir, 2)
			kazooRelease(t, k, "pw")
			if err := <-locked; err != nil {
				t.Fatalf("our %s after kazoo's writer released: %v", side.name, err)
			}
			if err := side.unlock(ctx); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("readers share", func(t *testing.T) {
		const dir = "/rw/shared"
		r1, r2 := newRW(t, dir), newRW(t, dir)
		kazooLock(t, k, "sr", "read", dir)
		if err := r1.RLock(ctx); err != nil {
			t.Fatal(err)
		}
		if !kazooTry(t, k, "sr") {
			t.Fatal("kazoo's reader could not share the lock with our reader")
		}
		mustNodes(t, ctx, c, dir, 2)
		if err := r1.RUnlock(ctx); err != nil {
			t.Fatal(err)
		}
		// Only kazoo's reader holds the lock now: ours joins it.
		select {
		case err := <-lockAsync(ctx, r2.RLock):
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("our reader did not share the lock with kazoo's reader in 30 s")
		}
		if !kazooHeld(t, k, "sr") {
			t.Fatal("kazoo's reader lost the lock")
		}
		mustNodes(t, ctx, c, dir, 2)
		kazooRelease(t, k, "sr")
		if err := r2.RUnlock(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a writer queued behind a reader gets the lock when it is released", func(t *testing.T) {
		const dir = "/rw/writer-after-reader"
		r, w := newRW(t, dir), newRW(t, dir)
		kazooLock(t, k, "wr-w", "write", dir)
		kazooLock(t, k, "wr-r", "read", dir)

		if err := r.RLock(ctx); err != nil {
			t.Fatal(err)
		}
		if kazooTry(t, k, "wr-w") {
			t.Fatal("kazoo's writer took the lock while our reader held it")
		}
		kazooStart(t, k, "wr-w")
		waitNodes(t, ctx, c, dir, 2)
		if kazooHeld(t, k, "wr-w") {
			t.Fatal("kazoo's writer took the lock while our reader held it")
		}
		if err := r.RUnlock(ctx); err != nil {
			t.Fatal(err)
		}
		if !kazooWait(t, k, "wr-w") {
			t.Fatal("kazoo's writer did not get the lock after our reader released it")
		}
		kazooRelease(t, k, "wr-w")

		if !kazooTry(t, k, "wr-r") {
			t.Fatal("kazoo's reader did not get the free lock")
		}
		mustWait(t, ctx, "our Lock while kazoo's reader held the lock", w.Lock)
		locked := lockAsync(ctx, w.Lock)
		waitNodes(t, ctx, c, dir, 2)
		kazooRelease(t, k, "wr-r")
		if err := <-locked; err != nil {
			t.Fatalf("our Lock after kazoo's reader released: %v", err)
		}
		if err := w.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a reader queued behind a waiting writer waits for it", func(t *testing.T) {
		const dir = "/rw/reader-after-writer"
		r1, r2, w := newRW(t, dir), newRW(t, dir), newRW(t, dir)
		kazooLock(t, k, "rw-w", "write", dir)
		kazooLock(t, k, "rw-r", "read", dir)
		kazooLock(t, k, "rw-r2", "read", dir)

		// Our reader holds, kazoo's writer waits: our next reader must not
		// join the first.
		if err := r1.RLock(ctx); err != nil {
			t.Fatal(err)
		}
		kazooStart(t, k, "rw-w")
		waitNodes(t, ctx, c, dir, 2)
		mustWait(t, ctx, "our RLock queued behind kazoo's waiting writer", r2.RLock)
		rlocked := lockAsync(ctx, r2.RLock)
		waitNodes(t, ctx, c, dir, 3)
		if err := r1.RUnlock(ctx); err != nil {
			t.Fatal(err)
		}
		if !kazooWait(t, k, "rw-w") {
			t.Fatal("kazoo's writer did not get the lock after our reader released it")
		}
		select {
		case err := <-rlocked:
			t.Fatalf("our reader got the lock while kazoo's writer held it: %v", err)
		default:
		}
		kazooRelease(t, k, "rw-w")
		if err := <-rlocked; err != nil {
			t.Fatalf("our RLock after kazoo's writer released: %v", err)
		}
		if err := r2.RUnlock(ctx); err != nil {
			t.Fatal(err)
		}

		// Our reader holds, our writer waits: kazoo's next reader must not
		// join the first.
		if err := r1.RLock(ctx); err != nil {
			t.Fatal(err)
		}
		locked := lockAsync(ctx, w.Lock)
		waitNodes(t, ctx, c, dir, 2)
		if kazooTry(t, k, "rw-r") {
			t.Fatal("kazoo's reader joined our reader ahead of our waiting writer")
		}
		kazooStart(t, k, "rw-r")
		waitNodes(t, ctx, c, dir, 3)
		if err := r1.RUnlock(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-locked; err != nil {
			t.Fatalf("our Lock after our reader released: %v", err)
		}
		if kazooHeld(t, k, "rw-r") || kazooTry(t, k, "rw-r2") {
			t.Fatal("kazoo's reader took the lock while our writer held it")
		}
		if err := w.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
		if !kazooWait(t, k, "rw-r") {
			t.Fatal("kazoo's reader did not get the lock after our writer released it")
		}
		kazooRelease(t, k, "rw-r")
	})
}

// kazooLock makes kazoo's lock name on dir: a ReadLock (kind "read") or a
// WriteLock ("write"), with the extra_lock_patterns that name our nodes.
func kazooLock(t *testing.T, k *kazoo, name, kind, dir string) {
	t.Helper()
	patterns := kazooWritePatterns
	if kind == "read" {
		patterns = kazooReadPatterns
	}
	k.must(t, nil, map[string]any{"op": "lock_new", "c": "k", "name": name, "kind": kind, "path": dir, "patterns": patterns})
}

// kazooTry is a non-blocking acquire: whether kazoo's lock name got the
// lock.
func kazooTry(t *testing.T, k *kazoo, name string) bool {
	t.Helper()
	var got bool
	k.must(t, &got, map[string]any{"op": "lock_try", "name": name})
	return got
}

// kazooStart starts a blocking acquire in the background.
func kazooStart(t *testing.T, k *kazoo, name string) {
	t.Helper()
	k.must(t, nil, map[string]any{"op": "lock_start", "name": name})
}

// kazooHeld reports whether the background acquire has the lock.
func kazooHeld(t *testing.T, k *kazoo, name string) bool {
	t.Helper()
	var got bool
	k.must(t, &got, map[string]any{"op": "lock_held", "name": name})
	return got
}

// kazooWait waits (at most 15 s) for the background acquire.
func kazooWait(t *testing.T, k *kazoo, name string) bool {
	t.Helper()
	var got bool
	k.must(t, &got, map[string]any{"op": "lock_wait", "name": name})
	return got
}

func kazooRelease(t *testing.T, k *kazoo, name string) {
	t.Helper()
	k.must(t, nil, map[string]any{"op": "lock_release", "name": name})
}

// mustWait checks that lockFn (our Lock or RLock) cannot take the lock: given
// a short deadline, it must fail with it.
func mustWait(t *testing.T, ctx context.Context, what string, lockFn func(context.Context) error) {
	t.Helper()
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	err := lockFn(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%s: %v, want the context's deadline", what, err)
	}
}

// lockAsync runs our Lock or RLock in the background.
func lockAsync(ctx context.Context, lockFn func(context.Context) error) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- lockFn(ctx) }()
	return errc
}

// mustNodes checks that dir has n children: the lockers that hold or wait
// share it.
func mustNodes(t *testing.T, ctx context.Context, c *zk.Conn, dir string, n int) {
	t.Helper()
	names, _, err := c.Children(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != n {
		t.Fatalf("%s holds %q, want %d nodes", dir, names, n)
	}
}

// waitNodes waits until dir has n children: a background acquire has
// queued its node.
func waitNodes(t *testing.T, ctx context.Context, c *zk.Conn, dir string, n int) {
	t.Helper()
	for {
		names, _, ch, err := c.ChildrenW(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(names) == n {
			return
		}
		waitEvent(t, ch)
	}
}

// excludesKazooRW checks that an exclusive holder of ours (a Mutex, or an
// RWMutex's writer; what names it in messages) on dir excludes kazoo's
// ReadLock and WriteLock (named prefix-r and prefix-w): neither takes the
// lock while ours holds it; each queues behind ours and gets the lock once
// ours is released (one at a time: kazoo issue #649, see TestKazooRWLock).
// Ours holds the lock again between the two and not at the end.
func excludesKazooRW(t *testing.T, ctx context.Context, k *kazoo, c *zk.Conn, dir, prefix, what string, lock, unlock func(context.Context) error) {
	t.Helper()
	if err := lock(ctx); err != nil {
		t.Fatal(err)
	}
	reader, writer := prefix+"-r", prefix+"-w"
	kazooLock(t, k, reader, "read", dir)
	kazooLock(t, k, writer, "write", dir)
	if kazooTry(t, k, reader) {
		t.Fatalf("kazoo's reader took the lock while %s held it", what)
	}
	if kazooTry(t, k, writer) {
		t.Fatalf("kazoo's writer took the lock while %s held it", what)
	}
	for _, name := range []string{reader, writer} {
		kazooStart(t, k, name)
		waitNodes(t, ctx, c, dir, 2)
		if kazooHeld(t, k, name) {
			t.Fatalf("kazoo's %s took the lock while %s held it", name, what)
		}
		if err := unlock(ctx); err != nil {
			t.Fatal(err)
		}
		if !kazooWait(t, k, name) {
			t.Fatalf("kazoo's %s did not get the lock after %s released it", name, what)
		}
		kazooRelease(t, k, name)
		if name == reader {
			if err := lock(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
}
