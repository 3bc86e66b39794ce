package interop_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/realzk"
	"github.com/zkgo/zk/internal/testserver"
	"github.com/zkgo/zk/recipe/lock"
)

// TestKazooInterop has this library and kazoo share one server, each
// checking what the other did: a real ZooKeeper, and the in-memory server
// (which so meets a client it was not written beside).
func TestKazooInterop(t *testing.T) {
	t.Run("real", func(t *testing.T) {
		ens := realzk.Start(t, realzk.Options{Members: 1, SASLUsers: saslUsers})
		kazooInterop(t, ens.ConnString())
	})
	t.Run("mem", func(t *testing.T) {
		kazooInterop(t, testserver.Start(t, testserver.WithSASLUsers(saslUsers)).ConnString())
	})
}

// saslUsers are the SASL DIGEST-MD5 users of both servers.
var saslUsers = map[string]string{"bob": "bob-secret"}

func kazooInterop(t *testing.T, hosts string) {
	k := startKazoo(t, hosts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	connect := func(opts ...zk.Option) *zk.Conn {
		t.Helper()
		c, err := zk.Connect(ctx, hosts, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := connect()
	k.must(t, nil, map[string]any{"op": "connect", "c": "k"})
	if _, err := c.Create(ctx, "/interop", nil, zk.CreatePersistent, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}

	t.Run("binary data and stat", func(t *testing.T) {
		data := make([]byte, 256)
		for i := range data {
			data[i] = byte(i)
		}
		if _, err := c.Create(ctx, "/interop/bin", data, zk.CreatePersistent, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
		_, st, err := c.Get(ctx, "/interop/bin")
		if err != nil {
			t.Fatal(err)
		}
		var g kGet
		k.must(t, &g, map[string]any{"op": "get", "c": "k", "path": "/interop/bin"})
		if hexOf(g.Data) != hex.EncodeToString(data) {
			t.Errorf("kazoo read %s, want the 256 byte values", hexOf(g.Data))
		}
		want := kStat{st.Czxid, st.Mzxid, st.Pzxid, st.Version, st.Cversion, st.Aversion, st.EphemeralOwner, st.DataLength, st.NumChildren}
		if g.Stat != want {
			t.Errorf("kazoo's stat %+v, ours %+v", g.Stat, want)
		}
		var ks kStat
		k.must(t, &ks, map[string]any{"op": "set", "c": "k", "path": "/interop/bin", "data": "00ff", "version": 0})
		got, st, err := c.Get(ctx, "/interop/bin")
		if err != nil || !bytes.Equal(got, []byte{0, 0xff}) || st.Version != 1 || st.Mzxid != ks.Mzxid {
			t.Errorf("after kazoo's set: %x, %+v, %v; kazoo's stat %+v", got, st, err, ks)
		}
		if _, err := c.Set(ctx, "/interop/bin", nil, 0); !errors.Is(err, zk.ErrBadVersion) {
			t.Errorf("set at the version kazoo replaced: %v, want ErrBadVersion", err)
		}
	})

	t.Run("null and empty data", func(t *testing.T) {
		// nil is sent as a null buffer, as the Java client sends null;
		// kazoo reads that as None. An empty slice is empty data.
		if _, err := c.Create(ctx, "/interop/null", nil, zk.CreatePersistent, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Create(ctx, "/interop/empty", []byte{}, zk.CreatePersistent, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
		var g kGet
		k.must(t, &g, map[string]any{"op": "get", "c": "k", "path": "/interop/null"})
		if g.Data != nil || g.Stat.DataLength != 0 {
			t.Errorf("kazoo read our nil data as %q (length %d), want None", hexOf(g.Data), g.Stat.DataLength)
		}
		k.must(t, &g, map[string]any{"op": "get", "c": "k", "path": "/interop/empty"})
		if g.Data == nil || *g.Data != "" {
			t.Errorf("kazoo read our empty data as %v, want empty", g.Data)
		}
		if got, _, err := c.Get(ctx, "/interop/null"); err != nil || got != nil {
			t.Errorf("our Get of null data: %#v, %v; want nil", got, err)
		}
		if got, _, err := c.Get(ctx, "/interop/empty"); err != nil || got == nil || len(got) != 0 {
			t.Errorf("our Get of empty data: %#v, %v; want non-nil and empty", got, err)
		}
		k.must(t, nil, map[string]any{"op": "create", "c": "k", "path": "/interop/empty-py"})
		if got, st, err := c.Get(ctx, "/interop/empty-py"); err != nil || len(got) != 0 || st.DataLength != 0 {
			t.Errorf("kazoo's empty node: %q %+v %v", got, st, err)
		}
	})

	t.Run("one sequence counter", func(t *testing.T) {
		if _, err := c.Create(ctx, "/interop/seq", nil, zk.CreatePersistent, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
		var names []string
		for i := range 6 {
			var p string
			if i%2 == 0 {
				k.must(t, &p, map[string]any{"op": "create", "c": "k", "path": "/interop/seq/n-", "sequence": true})
			} else {
				var err error
				if p, err = c.Create(ctx, "/interop/seq/n-", nil, zk.CreatePersistentSequential, zk.WorldACL(zk.PermAll)); err != nil {
					t.Fatal(err)
				}
			}
			if want := "/interop/seq/n-" + seq10(i); p != want {
				t.Errorf("create %d (kazoo: %v) made %s, want %s", i, i%2 == 0, p, want)
			}
			names = append(names, p[len("/interop/seq/"):])
		}
		ours, _, err := c.Children(ctx, "/interop/seq")
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(ours)
		var theirs []string
		k.must(t, &theirs, map[string]any{"op": "children", "c": "k", "path": "/interop/seq"})
		if !slices.Equal(ours, names) || !slices.Equal(theirs, names) {
			t.Errorf("children: ours %v, kazoo's %v, created %v", ours, theirs, names)
		}
	})

	t.Run("digest ACLs both ways", func(t *testing.T) {
		alice := connect(zk.WithCredentials(zk.DigestCredential("alice", "secret")))
		if _, err := alice.Create(ctx, "/interop/acl-go", []byte("a"), zk.CreatePersistent, zk.DigestACL(zk.PermAll, "alice", "secret")); err != nil {
			t.Fatal(err)
		}
		k.must(t, nil, map[string]any{"op": "connect", "c": "alice", "auth": [][]string{{"alice", "secret"}}})
		var g kGet
		k.must(t, &g, map[string]any{"op": "get", "c": "alice", "path": "/interop/acl-go"})
		if hexOf(g.Data) != hex.EncodeToString([]byte("a")) {
			t.Errorf("kazoo as alice read %s", hexOf(g.Data))
		}
		k.mustFail(t, "NoAuthError", map[string]any{"op": "get", "c": "k", "path": "/interop/acl-go"})

		k.must(t, nil, map[string]any{"op": "create", "c": "k", "path": "/interop/acl-py", "data": "62", "digest": []string{"bob", "pw"}})
		if _, _, err := c.Get(ctx, "/interop/acl-py"); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("reading kazoo's bob-only node without credentials: %v, want ErrNoAuth", err)
		}
		bob := connect(zk.WithCredentials(zk.DigestCredential("bob", "pw")))
		if got, _, err := bob.Get(ctx, "/interop/acl-py"); err != nil || string(got) != "b" {
			t.Errorf("reading kazoo's node as bob: %q, %v", got, err)
		}
		acl, _, err := bob.GetACL(ctx, "/interop/acl-py")
		if err != nil || !slices.Equal(acl, zk.DigestACL(zk.PermAll, "bob", "pw")) {
			t.Errorf("kazoo's ACL %v (%v), want ours for the same user: %v", acl, err, zk.DigestACL(zk.PermAll, "bob", "pw"))
		}
	})

	t.Run("SASL identities both ways", func(t *testing.T) {
		// Each client's DIGEST-MD5 (kazoo's through puresasl) gets the same
		// identity, sasl:bob, and each enforces the other's sasl ACL.
		bob := connect(zk.WithSASLDigest("bob", "bob-secret"))
		if _, err := bob.Create(ctx, "/interop/sasl-go", []byte("g"), zk.CreatePersistent,
			[]zk.ACL{{Perms: zk.PermAll, Scheme: "sasl", ID: "bob"}}); err != nil {
			t.Fatal(err)
		}
		k.must(t, nil, map[string]any{"op": "connect", "c": "kbob", "sasl": []string{"bob", "bob-secret"}})
		var g kGet
		k.must(t, &g, map[string]any{"op": "get", "c": "kbob", "path": "/interop/sasl-go"})
		if hexOf(g.Data) != hex.EncodeToString([]byte("g")) {
			t.Errorf("kazoo as sasl:bob read %s", hexOf(g.Data))
		}
		k.mustFail(t, "NoAuthError", map[string]any{"op": "get", "c": "k", "path": "/interop/sasl-go"})

		k.must(t, nil, map[string]any{"op": "create", "c": "kbob", "path": "/interop/sasl-py", "data": "70", "sasl_acl": "bob"})
		if _, _, err := c.Get(ctx, "/interop/sasl-py"); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("reading kazoo's sasl:bob node without SASL: %v, want ErrNoAuth", err)
		}
		if got, _, err := bob.Get(ctx, "/interop/sasl-py"); err != nil || string(got) != "p" {
			t.Errorf("reading kazoo's sasl:bob node as bob: %q, %v", got, err)
		}
		k.must(t, nil, map[string]any{"op": "close", "c": "kbob"})
	})

	t.Run("watches across clients", func(t *testing.T) {
		if _, err := c.Create(ctx, "/interop/w", []byte("0"), zk.CreatePersistent, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
		_, _, ch, err := c.GetW(ctx, "/interop/w")
		if err != nil {
			t.Fatal(err)
		}
		k.must(t, nil, map[string]any{"op": "set", "c": "k", "path": "/interop/w", "data": "31"})
		if ev := waitEvent(t, ch); ev.Type != zk.EventNodeDataChanged || ev.Path != "/interop/w" {
			t.Errorf("our watch saw %+v after kazoo's set", ev)
		}
		k.must(t, nil, map[string]any{"op": "watch_data", "c": "k", "path": "/interop/w"})
		if _, err := c.Set(ctx, "/interop/w", []byte("2"), -1); err != nil {
			t.Fatal(err)
		}
		var kev kEvent
		k.must(t, &kev, map[string]any{"op": "wait_event", "c": "k"})
		if kev != (kEvent{"CHANGED", "/interop/w"}) {
			t.Errorf("kazoo's watch saw %+v after our set", kev)
		}
		_, _, ch, err = c.ChildrenW(ctx, "/interop/w")
		if err != nil {
			t.Fatal(err)
		}
		k.must(t, nil, map[string]any{"op": "create", "c": "k", "path": "/interop/w/child"})
		if ev := waitEvent(t, ch); ev.Type != zk.EventNodeChildrenChanged || ev.Path != "/interop/w" {
			t.Errorf("our child watch saw %+v after kazoo's create", ev)
		}
	})

	t.Run("ephemeral nodes end with their session", func(t *testing.T) {
		k.must(t, nil, map[string]any{"op": "connect", "c": "eph"})
		k.must(t, nil, map[string]any{"op": "create", "c": "eph", "path": "/interop/eph-py", "ephemeral": true})
		ok, st, ch, err := c.ExistsW(ctx, "/interop/eph-py")
		if err != nil || !ok || st.EphemeralOwner == 0 {
			t.Fatalf("kazoo's ephemeral node: exists %v, %+v, %v", ok, st, err)
		}
		k.must(t, nil, map[string]any{"op": "close", "c": "eph"})
		if ev := waitEvent(t, ch); ev.Type != zk.EventNodeDeleted || ev.Path != "/interop/eph-py" {
			t.Errorf("our watch saw %+v after kazoo's session closed", ev)
		}

		mine := connect()
		if _, err := mine.Create(ctx, "/interop/eph-go", nil, zk.CreateEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
		var exists bool
		k.must(t, &exists, map[string]any{"op": "watch_exists", "c": "k", "path": "/interop/eph-go"})
		if !exists {
			t.Fatal("kazoo does not see our ephemeral node")
		}
		var kst kGet
		k.must(t, &kst, map[string]any{"op": "get", "c": "k", "path": "/interop/eph-go"})
		if kst.Stat.EphemeralOwner != mine.SessionID() {
			t.Errorf("kazoo sees owner 0x%x, our session is 0x%x", kst.Stat.EphemeralOwner, mine.SessionID())
		}
		if err := mine.Close(); err != nil {
			t.Fatal(err)
		}
		var kev kEvent
		k.must(t, &kev, map[string]any{"op": "wait_event", "c": "k"})
		if kev != (kEvent{"DELETED", "/interop/eph-go"}) {
			t.Errorf("kazoo's watch saw %+v after our session closed", kev)
		}
	})

	t.Run("multi both ways", func(t *testing.T) {
		res, err := c.Multi(ctx,
			zk.CreateOp{Path: "/interop/m", Data: []byte("x"), ACL: zk.WorldACL(zk.PermAll)},
			zk.SetDataOp{Path: "/interop/m", Data: []byte("y"), Version: 0},
			zk.CheckOp{Path: "/interop/m", Version: 1},
		)
		if err != nil {
			t.Fatalf("multi: %v %+v", err, res)
		}
		var g kGet
		k.must(t, &g, map[string]any{"op": "get", "c": "k", "path": "/interop/m"})
		if hexOf(g.Data) != hex.EncodeToString([]byte("y")) || g.Stat.Version != 1 {
			t.Errorf("kazoo reads our multi's node as %+v", g)
		}
		var out []any
		k.must(t, &out, map[string]any{"op": "txn", "c": "k", "ops": [][]any{
			{"create", "/interop/m2", "7a"}, {"set", "/interop/m", "7a", 1}, {"check", "/interop/m", 5},
		}})
		if len(out) != 3 || out[2] != "BadVersionError" {
			t.Errorf("kazoo's failing transaction: %v", out)
		}
		if ok, _, err := c.Exists(ctx, "/interop/m2"); err != nil || ok {
			t.Errorf("a node of kazoo's failed transaction: exists %v, %v", ok, err)
		}
		if got, st, err := c.Get(ctx, "/interop/m"); err != nil || string(got) != "y" || st.Version != 1 {
			t.Errorf("kazoo's failed transaction changed our node: %q %+v %v", got, st, err)
		}
		k.must(t, &out, map[string]any{"op": "txn", "c": "k", "ops": [][]any{
			{"create", "/interop/m2", "7a"}, {"set", "/interop/m", "7a", 1}, {"delete", "/interop/m2"},
		}})
		if got, st, err := c.Get(ctx, "/interop/m"); err != nil || string(got) != "z" || st.Version != 2 {
			t.Errorf("after kazoo's transaction: %q %+v %v", got, st, err)
		}
	})

	t.Run("locks exclude each other", func(t *testing.T) {
		holder := connect()
		m, err := lock.New(holder, lock.Config{Dir: "/interop/lock"})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if err := m.Lock(ctx); err != nil {
			t.Fatal(err)
		}
		k.must(t, nil, map[string]any{"op": "lock_new", "c": "k", "name": "py", "path": "/interop/lock"})
		var got bool
		k.must(t, &got, map[string]any{"op": "lock_try", "name": "py"})
		if got {
			t.Fatal("kazoo took the lock while we held it")
		}
		k.must(t, nil, map[string]any{"op": "lock_start", "name": "py"})
		// Once kazoo's node is in the directory, kazoo waits behind ours:
		// it must not hold the lock.
		for {
			names, _, ch, err := holder.ChildrenW(ctx, "/interop/lock")
			if err != nil {
				t.Fatal(err)
			}
			if len(names) == 2 {
				break
			}
			waitEvent(t, ch)
		}
		k.must(t, &got, map[string]any{"op": "lock_held", "name": "py"})
		if got {
			t.Fatal("kazoo took the lock while we held it")
		}
		if err := m.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
		k.must(t, &got, map[string]any{"op": "lock_wait", "name": "py"})
		if !got {
			t.Fatal("kazoo did not get the lock after we released it")
		}
		// Now kazoo holds it: our Lock must wait until kazoo releases.
		short, cancelShort := context.WithTimeout(ctx, 500*time.Millisecond)
		err = m.Lock(short)
		cancelShort()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("our Lock while kazoo held it: %v, want the context's deadline", err)
		}
		locked := make(chan error, 1)
		go func() { locked <- m.Lock(ctx) }()
		k.must(t, nil, map[string]any{"op": "lock_release", "name": "py"})
		if err := <-locked; err != nil {
			t.Fatalf("our Lock after kazoo released: %v", err)
		}
		if err := m.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// seq10 is ZooKeeper's sequence suffix.
func seq10(n int) string { return fmt.Sprintf("%010d", n) }

// hexOf shows kazoo's data, "<null>" for a null buffer.
func hexOf(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}

// waitEvent waits for a one-shot watch's event.
func waitEvent(t *testing.T, ch <-chan zk.Event) zk.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no watch event in 30 s")
		return zk.Event{}
	}
}
