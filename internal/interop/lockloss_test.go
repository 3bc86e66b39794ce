package interop_test

import (
	"context"
	"encoding/hex"
	"errors"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/faultproxy"
	"github.com/zkgo/zk/internal/realzk"
	"github.com/zkgo/zk/internal/testserver"
	"github.com/zkgo/zk/recipe/lock"
)

// ender makes clients whose sessions a test ends, the way their expiry
// would: victim gives the address such a client connects to, and a function
// that ends its session (given the session's id and password) with the
// client cut off from the server, so that it learns of the end only when it
// reconnects.
type ender func(t *testing.T) (hosts string, end func(t *testing.T, id int64, passwd []byte))

// TestKazooLockLoss has a lock held across this library and kazoo lose its
// holder's session, on a real ZooKeeper and on the in-memory server: the
// holder hears of it (our Mutex through Lost and Err), the other client's
// waiting lock gets the lock, and the holder's node is gone. It also has a
// Mutex and kazoo's ReadLock and WriteLock share a directory: a Mutex is
// exclusive.
//
// The in-memory server expires a session through its control, which drops
// the session's connection before it deletes its ephemerals. A real
// server's session is ended from outside: a second handle resumes it and
// closes it, while the client is cut off by a proxy. (Not cut off, the
// client can reconnect, taking its session back, between the second
// handle's connect, on which the server drops the client's connection, and
// the close; the server then tells it of its own node's deletion before it
// closes its connection, and a Mutex with KeepOnDisconnect reports
// ErrNodeDeleted, not the session's expiry: seen once in four runs.)
func TestKazooLockLoss(t *testing.T) {
	t.Run("real", func(t *testing.T) {
		ens := realzk.Start(t, realzk.Options{Members: 1})
		hosts := ens.ConnString()
		kazooLockLoss(t, hosts, func(t *testing.T) (string, func(*testing.T, int64, []byte)) {
			p := faultproxy.Start(t, ens.Addr(0))
			return p.Addr(), func(t *testing.T, id int64, passwd []byte) {
				t.Helper()
				p.RefuseNew(true)
				p.ResetAll()
				defer p.RefuseNew(false)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				other, err := zk.Connect(ctx, hosts, zk.WithSession(id, passwd))
				if err != nil {
					t.Fatalf("resume session 0x%x from a second handle: %v", id, err)
				}
				if got := other.SessionID(); got != id {
					other.Close()
					t.Fatalf("resumed session 0x%x, want 0x%x", got, id)
				}
				other.Close() // closeSession: the session ends
			}
		})
	})
	t.Run("mem", func(t *testing.T) {
		srv := testserver.Start(t)
		kazooLockLoss(t, srv.ConnString(), func(t *testing.T) (string, func(*testing.T, int64, []byte)) {
			return srv.ConnString(), func(t *testing.T, id int64, _ []byte) {
				t.Helper()
				if !srv.ExpireSession(id) {
					t.Fatalf("no session 0x%x to expire", id)
				}
			}
		})
	})
}

func kazooLockLoss(t *testing.T, hosts string, victim ender) {
	k := startKazoo(t, hosts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	connect := func(t *testing.T, hosts string) *zk.Conn {
		t.Helper()
		c, err := zk.Connect(ctx, hosts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	newMutex := func(t *testing.T, c *zk.Conn, cfg lock.Config) *lock.Mutex {
		t.Helper()
		m, err := lock.New(c, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	c := connect(t, hosts) // observes, and waits in the second case
	var kID int64
	k.must(t, &kID, map[string]any{"op": "connect", "c": "k"})

	t.Run("our holder's session expires: kazoo's waiting Lock gets the lock", func(t *testing.T) {
		const dir = "/loss/go-holder"
		holderHosts, expire := victim(t)
		holder := connect(t, holderHosts)
		var (
			mu      sync.Mutex
			changes []string
		)
		remove := holder.AddStateListener(func(sc zk.StateChange) {
			mu.Lock()
			changes = append(changes, sc.From.String()+"->"+sc.To.String()+" ("+sc.Event.String()+")")
			mu.Unlock()
		})
		defer func() {
			remove()
			mu.Lock()
			t.Logf("holder's state changes: %s", strings.Join(changes, ", "))
			mu.Unlock()
		}()
		// m keeps its hold through a disconnection, so only the session's
		// end (or its node's) ends it; dflt, on the same session, is lost
		// as soon as the handle leaves CONNECTED.
		m := newMutex(t, holder, lock.Config{Dir: dir, KeepOnDisconnect: true})
		dflt := newMutex(t, holder, lock.Config{Dir: dir + "-default"})
		if err := m.Lock(ctx); err != nil {
			t.Fatal(err)
		}
		if err := dflt.Lock(ctx); err != nil {
			t.Fatal(err)
		}
		tok, _ := m.Token()

		k.must(t, nil, map[string]any{"op": "lock_new", "c": "k", "name": "gh", "path": dir})
		if kazooTry(t, k, "gh") {
			t.Fatal("kazoo took the lock while we held it")
		}
		kazooStart(t, k, "gh")
		waitNodes(t, ctx, c, dir, 2)
		if kazooHeld(t, k, "gh") {
			t.Fatal("kazoo took the lock while we held it")
		}

		expire(t, holder.SessionID(), holder.SessionPassword())

		waitLost(t, "our Mutex (KeepOnDisconnect)", m)
		if err := m.Err(); !errors.Is(err, zk.ErrSessionExpired) {
			t.Errorf("our Mutex (KeepOnDisconnect) lost the lock with %v, want an error wrapping zk.ErrSessionExpired", err)
		}
		waitLost(t, "our Mutex (default)", dflt)
		if err := dflt.Err(); !errors.Is(err, lock.ErrDisconnected) {
			t.Errorf("our Mutex (default) lost the lock with %v, want lock.ErrDisconnected (the handle left CONNECTED before it learnt of the expiry)", err)
		}
		if !kazooWait(t, k, "gh") {
			t.Fatal("kazoo's waiting Lock did not get the lock after our session expired")
		}
		if ok, _, err := c.Exists(ctx, tok.Path); err != nil || ok {
			t.Errorf("our expired session's node %s: exists %v, %v; want it gone", tok.Path, ok, err)
		}
		mustOwners(t, ctx, c, dir, kID)
		// A lock whose session ended is released already.
		if err := m.Unlock(ctx); err != nil {
			t.Errorf("Unlock after the session expired: %v, want nil", err)
		}
		if err := dflt.Unlock(ctx); err != nil {
			t.Errorf("Unlock (default) after the session expired: %v, want nil", err)
		}
		kazooRelease(t, k, "gh")
	})

	for _, end := range []string{"expired", "closed"} {
		t.Run("kazoo's holder's session "+end+": our waiting Mutex gets the lock", func(t *testing.T) {
			dir, kc := "/loss/py-holder-"+end, "kh-"+end
			khHosts, expire := victim(t)
			var khID int64
			k.must(t, &khID, map[string]any{"op": "connect", "c": kc, "hosts": khHosts})
			k.must(t, nil, map[string]any{"op": "lock_new", "c": kc, "name": kc, "path": dir})
			if !kazooTry(t, k, kc) {
				t.Fatal("kazoo's Lock did not get the free lock")
			}
			mustOwners(t, ctx, c, dir, khID)
			m := newMutex(t, c, lock.Config{Dir: dir})
			mustWait(t, ctx, "our Lock while kazoo's Lock held it", m.Lock)
			locked := lockAsync(ctx, m.Lock)
			waitNodes(t, ctx, c, dir, 2)

			if end == "expired" {
				var sess struct {
					ID       int64  `json:"id"`
					Password string `json:"password"`
				}
				k.must(t, &sess, map[string]any{"op": "session", "c": kc})
				passwd, err := hex.DecodeString(sess.Password)
				if err != nil || sess.ID != khID {
					t.Fatalf("kazoo's session %+v (%v), connected as 0x%x", sess, err, khID)
				}
				expire(t, sess.ID, passwd)
			} else {
				k.must(t, nil, map[string]any{"op": "close", "c": kc})
			}

			select {
			case err := <-locked:
				if err != nil {
					t.Fatalf("our Lock after kazoo's session %s: %v", end, err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("our Lock did not get the lock in 30 s after kazoo's session %s", end)
			}
			tok, held := m.Token()
			if !held || tok.SessionID != c.SessionID() || m.Err() != nil {
				t.Errorf("our hold: %+v, held %v, Err %v; want ours (session 0x%x) and certain", tok, held, m.Err(), c.SessionID())
			}
			mustOwners(t, ctx, c, dir, c.SessionID()) // kazoo's node is gone
			if err := m.Unlock(ctx); err != nil {
				t.Fatal(err)
			}
			if end == "expired" { // kazoo went on with a new session
				k.must(t, nil, map[string]any{"op": "close", "c": kc})
			}
		})
	}

	t.Run("a Mutex excludes kazoo's readers and writers, and they exclude it", func(t *testing.T) {
		const dir = "/loss/rw"
		m := newMutex(t, c, lock.Config{Dir: dir})
		excludesKazooRW(t, ctx, k, c, dir, "mx", "our Mutex", m.Lock, m.Unlock)
		// kazoo's writer, then its reader, holds: our Mutex waits for each.
		for _, name := range []string{"mx-w", "mx-r"} {
			if !kazooTry(t, k, name) {
				t.Fatalf("kazoo's %s did not get the free lock", name)
			}
			mustWait(t, ctx, "our Lock while kazoo's "+name+" held the lock", m.Lock)
			locked := lockAsync(ctx, m.Lock)
			waitNodes(t, ctx, c, dir, 2)
			kazooRelease(t, k, name)
			if err := <-locked; err != nil {
				t.Fatalf("our Lock after kazoo's %s released: %v", name, err)
			}
			if err := m.Unlock(ctx); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// waitLost waits (at most 30 s) for a held Mutex's Lost channel.
func waitLost(t *testing.T, what string, m *lock.Mutex) {
	t.Helper()
	select {
	case <-m.Lost():
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: Lost not closed in 30 s (Err %v)", what, m.Err())
	}
}

// mustOwners checks that dir has exactly one child, an ephemeral node of
// session owner.
func mustOwners(t *testing.T, ctx context.Context, c *zk.Conn, dir string, owner int64) {
	t.Helper()
	names, _, err := c.Children(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 {
		t.Fatalf("%s holds %q, want one node, of session 0x%x", dir, names, owner)
	}
	ok, st, err := c.Exists(ctx, path.Join(dir, names[0]))
	if err != nil || !ok || st.EphemeralOwner != owner {
		t.Fatalf("%s/%s: exists %v, %+v, %v; want a node of session 0x%x", dir, names[0], ok, st, err, owner)
	}
}
