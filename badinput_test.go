package zk_test

// Bad input at every public entry point: each call fails at once with a
// "zk: " error that wraps the right sentinel, without I/O (the server's zxid,
// the dial count and the writes on the wire do not move) and without a
// panic. TestInvalidArgumentsNoIO (ops_test.go) has the first few cases;
// these are the rest.

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/proto"
)

// badCall is one call with bad input and the sentinel its error must wrap.
type badCall struct {
	name string
	want error
	call func() error
}

// runBad runs a call, turning a panic into an error that fails the case.
func runBad(call func() error) (err error, panicked string) {
	defer func() {
		if r := recover(); r != nil {
			panicked = fmt.Sprintf("%v\n%s", r, debug.Stack())
		}
	}()
	return call(), ""
}

// requireBad checks one case's error: it wraps want, starts "zk: ", and has
// no formatting accident in it.
func requireBad(t *testing.T, tc badCall) {
	t.Helper()
	err, p := runBad(tc.call)
	require.Empty(t, p, "panicked instead of returning an error wrapping %v", tc.want)
	require.Error(t, err)
	require.ErrorIs(t, err, tc.want)
	msg := err.Error()
	require.True(t, strings.HasPrefix(msg, "zk: "), "message %q does not start with \"zk: \"", msg)
	require.NotContains(t, msg, "%!", "formatting accident in %q", msg)
	require.NotContains(t, msg, "zk: zk:", "stuttering message %q", msg)
	// The caller's bad input is quoted, not printed raw: a "\r" or an
	// escape sequence in a path would rewrite the line on a terminal.
	require.True(t, utf8.ValidString(msg), "message %q is not valid UTF-8", msg)
	require.False(t, strings.ContainsFunc(msg, unicode.IsControl), "message %q has a control character", msg)
}

// embeddedOp and embeddedReadOp satisfy zk.Op and zk.ReadOp (through the
// embedded value's methods) without being one of the operation types.
type embeddedOp struct{ zk.CheckOp }
type embeddedReadOp struct{ zk.GetDataOp }

func TestBadInputOperationsNoIO(t *testing.T) {
	srv := wideServer(t)
	spy := newWireSpy()
	// A long session timeout: pings (which the spy tells apart anyway) are
	// rare.
	c := connect(t, srv.ConnString(), zk.WithDialer(spy.dial), zk.WithSessionTimeout(time.Minute))
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/a", []byte("a"), zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	pw, err := c.AddWatch(ctx, "/a", zk.AddWatchModePersistent)
	require.NoError(t, err)

	var nilCtx context.Context
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	big := make([]byte, 1<<20)
	half := make([]byte, 600<<10)
	longPath := "/" + strings.Repeat("p", 1<<20)
	okACL := zk.OpenACL
	create := func(path string, mode zk.CreateMode, acl []zk.ACL) func() error {
		return func() error { _, err := c.Create(ctx, path, nil, mode, acl); return err }
	}
	createTTL := func(mode zk.CreateMode, ttl time.Duration) func() error {
		return func() error { _, _, err := c.CreateTTL(ctx, "/t", nil, mode, okACL, ttl); return err }
	}
	multi := func(ops ...zk.Op) func() error {
		return func() error { _, err := c.Multi(ctx, ops...); return err }
	}
	multiRead := func(ops ...zk.ReadOp) func() error {
		return func() error { _, err := c.MultiRead(ctx, ops...); return err }
	}

	cases := []badCall{
		// Paths, at each entry point that takes one.
		{"create: empty component", zk.ErrInvalidPath, create("/a//b", zk.CreatePersistent, okACL)},
		{"create sequential: empty component", zk.ErrInvalidPath, create("/a//", zk.CreatePersistentSequential, okACL)},
		{"createStat: dot-dot", zk.ErrInvalidPath, func() error {
			_, _, err := c.CreateStat(ctx, "/a/../b", nil, zk.CreatePersistent, okACL)
			return err
		}},
		{"createTTL: relative", zk.ErrInvalidPath, func() error {
			_, _, err := c.CreateTTL(ctx, "t", nil, zk.CreatePersistentTTL, okACL, time.Hour)
			return err
		}},
		{"existsW: trailing slash", zk.ErrInvalidPath, func() error { _, _, _, err := c.ExistsW(ctx, "/a/"); return err }},
		{"getW: relative", zk.ErrInvalidPath, func() error { _, _, _, err := c.GetW(ctx, "a"); return err }},
		{"set: empty", zk.ErrInvalidPath, func() error { _, err := c.Set(ctx, "", nil, -1); return err }},
		{"children: empty component", zk.ErrInvalidPath, func() error { _, _, err := c.Children(ctx, "/a//b"); return err }},
		{"childrenW: dot", zk.ErrInvalidPath, func() error { _, _, _, err := c.ChildrenW(ctx, "/."); return err }},
		{"getACL: relative", zk.ErrInvalidPath, func() error { _, _, err := c.GetACL(ctx, "rel"); return err }},
		{"setACL: trailing slash", zk.ErrInvalidPath, func() error { _, err := c.SetACL(ctx, "/a/", okACL, -1); return err }},
		{"sync: empty", zk.ErrInvalidPath, func() error { return c.Sync(ctx, "") }},
		{"getAllChildrenNumber: double slash", zk.ErrInvalidPath, func() error { _, err := c.GetAllChildrenNumber(ctx, "//"); return err }},
		{"getEphemerals: prefix without slash", zk.ErrInvalidPath, func() error { _, err := c.GetEphemerals(ctx, "a"); return err }},
		// The prefix need not be a path ("/a/" is fine), but no node's path
		// has these characters: refused as they are in a path.
		{"getEphemerals: prefix with NUL", zk.ErrInvalidPath, func() error { _, err := c.GetEphemerals(ctx, "/a\x00"); return err }},
		{"getEphemerals: prefix with invalid UTF-8", zk.ErrInvalidPath, func() error { _, err := c.GetEphemerals(ctx, "/\xc3"); return err }},
		{"addWatch: trailing slash", zk.ErrInvalidPath, func() error { _, err := c.AddWatch(ctx, "/a/", zk.AddWatchModePersistent); return err }},
		{"removeWatches: relative", zk.ErrInvalidPath, func() error { return c.RemoveWatches(ctx, "x", zk.WatcherAny) }},
		{"checkWatches: empty component", zk.ErrInvalidPath, func() error { return c.CheckWatches(ctx, "/a//", zk.WatcherAny) }},
		{"get: control character", zk.ErrInvalidPath, func() error { _, _, err := c.Get(ctx, "/a\x1f"); return err }},
		{"get: DEL", zk.ErrInvalidPath, func() error { _, _, err := c.Get(ctx, "/a\x7f"); return err }},
		{"get: C1 control", zk.ErrInvalidPath, func() error { _, _, err := c.Get(ctx, "/a\u0085"); return err }},
		{"get: invalid UTF-8", zk.ErrInvalidPath, func() error { _, _, err := c.Get(ctx, "/a\xff"); return err }},
		{"get: private use", zk.ErrInvalidPath, func() error { _, _, err := c.Get(ctx, "/a\ue000"); return err }},
		{"get: U+FFFE", zk.ErrInvalidPath, func() error { _, _, err := c.Get(ctx, "/a\ufffe"); return err }},
		{"get: outside the BMP", zk.ErrInvalidPath, func() error { _, _, err := c.Get(ctx, "/a\U0001F600"); return err }},
		{"get: carriage return", zk.ErrInvalidPath, func() error { _, _, err := c.Get(ctx, "/a\r/b"); return err }},
		{"delete: escape sequence", zk.ErrInvalidPath, func() error { return c.Delete(ctx, "/a\x1b[2K", -1) }},
		{"multi create: bad path", zk.ErrInvalidPath, multi(zk.CreateOp{Path: "/a/", ACL: okACL})},
		{"multi set: bad path", zk.ErrInvalidPath, multi(zk.SetDataOp{Path: "", Version: -1})},
		{"multi check: bad path", zk.ErrInvalidPath, multi(&zk.CheckOp{Path: "/a/./b", Version: -1})},
		{"multiRead getData: bad path", zk.ErrInvalidPath, multiRead(zk.GetDataOp{Path: "a"})},
		{"multiRead getChildren: bad path", zk.ErrInvalidPath, multiRead(&zk.GetChildrenOp{Path: "/a//"})},

		// Versions.
		{"set: version -2", zk.ErrInvalidArgument, func() error { _, err := c.Set(ctx, "/a", nil, -2); return err }},
		{"setACL: version -2", zk.ErrInvalidArgument, func() error { _, err := c.SetACL(ctx, "/a", okACL, -2); return err }},
		{"delete: MinInt32", zk.ErrInvalidArgument, func() error { return c.Delete(ctx, "/a", math.MinInt32) }},
		{"multi set: version -3", zk.ErrInvalidArgument, multi(zk.SetDataOp{Path: "/a", Version: -3})},
		{"multi delete: version -7", zk.ErrInvalidArgument, multi(&zk.DeleteOp{Path: "/a", Version: -7})},
		{"multi check: version -100", zk.ErrInvalidArgument, multi(zk.CheckOp{Path: "/a", Version: -100})},

		// Create modes.
		{"create: mode -1", zk.ErrInvalidArgument, create("/m", -1, okACL)},
		{"create: mode 100", zk.ErrInvalidArgument, create("/m", 100, okACL)},
		{"createStat: mode MaxInt32", zk.ErrInvalidArgument, func() error {
			_, _, err := c.CreateStat(ctx, "/m", nil, math.MaxInt32, okACL)
			return err
		}},
		{"multi create: mode 42", zk.ErrInvalidArgument, multi(zk.CreateOp{Path: "/m", Mode: 42, ACL: okACL})},

		// TTLs.
		{"createTTL: zero", zk.ErrInvalidArgument, createTTL(zk.CreatePersistentTTL, 0)},
		{"createTTL: negative", zk.ErrInvalidArgument, createTTL(zk.CreatePersistentSequentialTTL, -time.Second)},
		{"createTTL: under a millisecond", zk.ErrInvalidArgument, createTTL(zk.CreatePersistentTTL, 999*time.Microsecond)},
		{"createTTL: over 2^40-1 ms", zk.ErrInvalidArgument, createTTL(zk.CreatePersistentTTL, time.Duration(proto.MaxTTL+1)*time.Millisecond)},
		{"createTTL: TTL with an ephemeral mode", zk.ErrInvalidArgument, createTTL(zk.CreateEphemeralSequential, time.Hour)},
		{"createTTL: TTL with a container", zk.ErrInvalidArgument, createTTL(zk.CreateContainer, time.Hour)},
		{"multi create: TTL mode without a TTL", zk.ErrInvalidArgument, multi(zk.CreateOp{Path: "/t", Mode: zk.CreatePersistentTTL, ACL: okACL})},
		{"multi create: TTL without a TTL mode", zk.ErrInvalidArgument, multi(zk.CreateOp{Path: "/t", ACL: okACL, TTL: time.Hour})},

		// ACLs.
		{"create: empty ACL", zk.ErrInvalidACL, create("/n", zk.CreatePersistent, []zk.ACL{})},
		{"create: negative perms", zk.ErrInvalidACL, create("/n", zk.CreatePersistent, zk.WorldACL(-1))},
		{"create: perms 0x20", zk.ErrInvalidACL, create("/n", zk.CreatePersistent, zk.WorldACL(0x20))},
		{"create: empty scheme", zk.ErrInvalidACL, create("/n", zk.CreatePersistent, []zk.ACL{{Perms: zk.PermAll, ID: "anyone"}})},
		{"create: one bad entry among good ones", zk.ErrInvalidACL, create("/n", zk.CreatePersistent,
			append(zk.WorldACL(zk.PermRead), zk.ACL{Perms: 1 << 10, Scheme: "world", ID: "anyone"}))},
		{"createTTL: empty ACL", zk.ErrInvalidACL, func() error {
			_, _, err := c.CreateTTL(ctx, "/t", nil, zk.CreatePersistentTTL, nil, time.Hour)
			return err
		}},
		{"setACL: empty ACL", zk.ErrInvalidACL, func() error { _, err := c.SetACL(ctx, "/a", nil, -1); return err }},
		{"setACL: bad perms", zk.ErrInvalidACL, func() error { _, err := c.SetACL(ctx, "/a", zk.WorldACL(0x40), -1); return err }},
		{"setACL: empty scheme", zk.ErrInvalidACL, func() error {
			_, err := c.SetACL(ctx, "/a", []zk.ACL{{Perms: zk.PermRead, Scheme: "", ID: "x"}}, -1)
			return err
		}},
		{"multi create: nil ACL", zk.ErrInvalidACL, multi(zk.CreateOp{Path: "/n"})},

		// Sizes: over the server's 1 MiB jute.maxbuffer.
		{"set: 1 MiB", zk.ErrTooLarge, func() error { _, err := c.Set(ctx, "/a", big, -1); return err }},
		{"createStat: 1 MiB", zk.ErrTooLarge, func() error {
			_, _, err := c.CreateStat(ctx, "/big", big, zk.CreatePersistent, okACL)
			return err
		}},
		{"createTTL: 1 MiB", zk.ErrTooLarge, func() error {
			_, _, err := c.CreateTTL(ctx, "/big", big, zk.CreatePersistentTTL, okACL, time.Hour)
			return err
		}},
		{"get: 1 MiB path", zk.ErrTooLarge, func() error { _, _, err := c.Get(ctx, longPath); return err }},
		{"multi set: 1 MiB", zk.ErrTooLarge, multi(zk.SetDataOp{Path: "/a", Data: big, Version: -1})},
		{"multi: two creates of 600 KiB", zk.ErrTooLarge, multi(
			zk.CreateOp{Path: "/h1", Data: half, ACL: okACL}, zk.CreateOp{Path: "/h2", Data: half, ACL: okACL})},
		{"addAuth: 1 MiB credential", zk.ErrTooLarge, func() error { return c.AddAuth(ctx, "digest", big) }},

		// Nil contexts, at every entry point that takes one.
		{"create: nil context", zk.ErrInvalidArgument, func() error { _, err := c.Create(nilCtx, "/n", nil, 0, okACL); return err }},
		{"createStat: nil context", zk.ErrInvalidArgument, func() error { _, _, err := c.CreateStat(nilCtx, "/n", nil, 0, okACL); return err }},
		{"createTTL: nil context", zk.ErrInvalidArgument, func() error {
			_, _, err := c.CreateTTL(nilCtx, "/n", nil, zk.CreatePersistentTTL, okACL, time.Hour)
			return err
		}},
		{"delete: nil context", zk.ErrInvalidArgument, func() error { return c.Delete(nilCtx, "/a", -1) }},
		{"exists: nil context", zk.ErrInvalidArgument, func() error { _, _, err := c.Exists(nilCtx, "/a"); return err }},
		{"existsW: nil context", zk.ErrInvalidArgument, func() error { _, _, _, err := c.ExistsW(nilCtx, "/a"); return err }},
		{"getW: nil context", zk.ErrInvalidArgument, func() error { _, _, _, err := c.GetW(nilCtx, "/a"); return err }},
		{"set: nil context", zk.ErrInvalidArgument, func() error { _, err := c.Set(nilCtx, "/a", nil, -1); return err }},
		{"children: nil context", zk.ErrInvalidArgument, func() error { _, _, err := c.Children(nilCtx, "/a"); return err }},
		{"childrenW: nil context", zk.ErrInvalidArgument, func() error { _, _, _, err := c.ChildrenW(nilCtx, "/a"); return err }},
		{"getACL: nil context", zk.ErrInvalidArgument, func() error { _, _, err := c.GetACL(nilCtx, "/a"); return err }},
		{"setACL: nil context", zk.ErrInvalidArgument, func() error { _, err := c.SetACL(nilCtx, "/a", okACL, -1); return err }},
		{"sync: nil context", zk.ErrInvalidArgument, func() error { return c.Sync(nilCtx, "/a") }},
		{"addAuth: nil context", zk.ErrInvalidArgument, func() error { return c.AddAuth(nilCtx, "digest", []byte("u:p")) }},
		{"getEphemerals: nil context", zk.ErrInvalidArgument, func() error { _, err := c.GetEphemerals(nilCtx, "/"); return err }},
		{"getAllChildrenNumber: nil context", zk.ErrInvalidArgument, func() error { _, err := c.GetAllChildrenNumber(nilCtx, "/"); return err }},
		{"whoAmI: nil context", zk.ErrInvalidArgument, func() error { _, err := c.WhoAmI(nilCtx); return err }},
		{"getConfig: nil context", zk.ErrInvalidArgument, func() error { _, _, err := c.GetConfig(nilCtx); return err }},
		{"getConfigW: nil context", zk.ErrInvalidArgument, func() error { _, _, _, err := c.GetConfigW(nilCtx); return err }},
		{"reconfig: nil context", zk.ErrInvalidArgument, func() error { _, _, err := c.Reconfig(nilCtx, "", "", "", -1); return err }},
		{"multi: nil context", zk.ErrInvalidArgument, func() error { _, err := c.Multi(nilCtx, zk.CheckOp{Path: "/a", Version: -1}); return err }},
		{"multiRead: nil context", zk.ErrInvalidArgument, func() error { _, err := c.MultiRead(nilCtx, zk.GetDataOp{Path: "/a"}); return err }},
		{"addWatch: nil context", zk.ErrInvalidArgument, func() error { _, err := c.AddWatch(nilCtx, "/a", zk.AddWatchModePersistent); return err }},
		{"removeWatches: nil context", zk.ErrInvalidArgument, func() error { return c.RemoveWatches(nilCtx, "/a", zk.WatcherAny) }},
		{"checkWatches: nil context", zk.ErrInvalidArgument, func() error { return c.CheckWatches(nilCtx, "/a", zk.WatcherAny) }},
		{"persistent watch Next: nil context", zk.ErrInvalidArgument, func() error { _, err := pw.Next(nilCtx); return err }},
		{"persistent watch Remove: nil context", zk.ErrInvalidArgument, func() error { return pw.Remove(nilCtx) }},

		// Watch modes and watcher types.
		{"addWatch: mode 2", zk.ErrInvalidArgument, func() error { _, err := c.AddWatch(ctx, "/a", 2); return err }},
		{"addWatch: mode -1", zk.ErrInvalidArgument, func() error { _, err := c.AddWatch(ctx, "/a", -1); return err }},
		{"removeWatches: type 0", zk.ErrInvalidArgument, func() error { return c.RemoveWatches(ctx, "/a", 0) }},
		{"removeWatches: type 4", zk.ErrInvalidArgument, func() error { return c.RemoveWatches(ctx, "/a", 4) }},
		{"removeWatches: persistent recursive", zk.ErrInvalidArgument, func() error { return c.RemoveWatches(ctx, "/a", zk.WatcherPersistentRecursive) }},
		{"checkWatches: type 0", zk.ErrInvalidArgument, func() error { return c.CheckWatches(ctx, "/a", 0) }},
		{"checkWatches: type 6", zk.ErrInvalidArgument, func() error { return c.CheckWatches(ctx, "/a", 6) }},
		{"checkWatches: type -1", zk.ErrInvalidArgument, func() error { return c.CheckWatches(ctx, "/a", -1) }},
		{"checkWatches: type 99", zk.ErrInvalidArgument, func() error { return c.CheckWatches(ctx, "/a", 99) }},

		// Nil and unknown multi operations.
		{"multi: nil after a good op", zk.ErrInvalidArgument, multi(zk.CheckOp{Path: "/a", Version: -1}, nil)},
		{"multi: unknown op type", zk.ErrInvalidArgument, multi(embeddedOp{zk.CheckOp{Path: "/a", Version: -1}})},
		{"multi: nil *CreateOp", zk.ErrInvalidArgument, multi((*zk.CreateOp)(nil))},
		{"multi: nil *DeleteOp", zk.ErrInvalidArgument, multi((*zk.DeleteOp)(nil))},
		{"multi: nil *SetDataOp", zk.ErrInvalidArgument, multi((*zk.SetDataOp)(nil))},
		{"multi: nil *CheckOp", zk.ErrInvalidArgument, multi(zk.CheckOp{Path: "/a", Version: -1}, (*zk.CheckOp)(nil))},
		{"multiRead: nil op", zk.ErrInvalidArgument, multiRead(nil)},
		{"multiRead: unknown op type", zk.ErrInvalidArgument, multiRead(embeddedReadOp{zk.GetDataOp{Path: "/a"}})},
		{"multiRead: nil *GetDataOp", zk.ErrInvalidArgument, multiRead((*zk.GetDataOp)(nil))},
		{"multiRead: nil *GetChildrenOp", zk.ErrInvalidArgument, multiRead(zk.GetDataOp{Path: "/a"}, (*zk.GetChildrenOp)(nil))},

		// A context that has already ended: nothing is sent, so nothing
		// can be applied after the caller was told the call failed.
		{"create: ended context", context.Canceled, func() error {
			_, err := c.Create(ended, "/ended", nil, zk.CreatePersistent, okACL)
			return err
		}},
		{"set: ended context", context.Canceled, func() error { _, err := c.Set(ended, "/a", nil, -1); return err }},
		{"delete: ended context", context.Canceled, func() error { return c.Delete(ended, "/a", -1) }},
		{"multi: ended context", context.Canceled, func() error {
			_, err := c.Multi(ended, zk.CreateOp{Path: "/ended", ACL: okACL})
			return err
		}},
		{"get: ended context", context.Canceled, func() error { _, _, err := c.Get(ended, "/a"); return err }},
		{"sync: ended context", context.Canceled, func() error { return c.Sync(ended, "/a") }},

		// Other arguments.
		{"reconfig: newMembers with joining", zk.ErrInvalidArgument, func() error {
			_, _, err := c.Reconfig(ctx, "server.4=127.0.0.1:1:2;3", "", "server.1=127.0.0.1:1:2;3", -1)
			return err
		}},
	}

	zxid, dials, writes := srv.Zxid(), spy.dials.Load(), spy.writes.Load()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { requireBad(t, tc) })
	}
	// WaitForStateChange has no error to return: a nil context, which
	// could never end, makes it return false at once rather than panic or
	// wait forever.
	require.False(t, c.WaitForStateChange(nilCtx, c.State()), "waitForStateChange: nil context")
	require.Equal(t, zxid, srv.Zxid(), "a bad call changed the server's tree")
	require.Equal(t, dials, spy.dials.Load(), "a bad call dialed")
	require.Equal(t, writes, spy.writes.Load(), "a bad call wrote to the server")
	require.Equal(t, zk.StateConnected, c.State(), "a bad call disturbed the session")
	_, _, err = c.Get(ctx, "/a")
	require.NoError(t, err, "the handle still works")
	// A request written would have been answered before that Get: the
	// calls with an ended context created nothing.
	_, _, err = c.Get(ctx, "/ended")
	require.ErrorIs(t, err, zk.ErrNoNode, "a call with an ended context was sent and applied")
}

// TestBadInputOptionsNoIO: nil and bad options fail New and Connect before
// anything is dialed.
func TestBadInputOptionsNoIO(t *testing.T) {
	spy := newWireSpy()
	dial := zk.WithDialer(spy.dial)
	const addr = "127.0.0.1:1" // never dialed
	var nilCtx context.Context
	cases := []struct {
		name string
		opts []zk.Option
	}{
		{"nil option", []zk.Option{nil}},
		{"nil option after a good one", []zk.Option{zk.WithSessionTimeout(time.Second), nil}},
		{"negative session timeout", []zk.Option{zk.WithSessionTimeout(-time.Second)}},
		{"zero session timeout", []zk.Option{zk.WithSessionTimeout(0)}},
		{"session timeout over the wire's int32 milliseconds", []zk.Option{zk.WithSessionTimeout(time.Duration(math.MaxInt32+1) * time.Millisecond)}},
		{"nil logger", []zk.Option{zk.WithLogger(nil)}},
		{"nil dialer", []zk.Option{zk.WithDialer(nil)}},
		{"session password of 8 bytes", []zk.Option{zk.WithSession(0x1234, make([]byte, 8))}},
		{"session password missing", []zk.Option{zk.WithSession(0x1234, nil)}},
		{"session password of 17 bytes", []zk.Option{zk.WithSession(0x1234, make([]byte, 17))}},
		{"max frame size 1023", []zk.Option{zk.WithMaxFrameSize(1023)}},
		{"max frame size negative", []zk.Option{zk.WithMaxFrameSize(-1)}},
		{"nil state listener", []zk.Option{zk.WithStateListener(nil)}},
		{"credential with an empty scheme", []zk.Option{zk.WithCredentials(zk.Credential{Auth: []byte("x")})}},
		{"watch buffer 0", []zk.Option{zk.WithWatchBuffer(0)}},
		{"watch buffer negative", []zk.Option{zk.WithWatchBuffer(-5)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The spy's dialer goes first so that a bad option is what fails.
			opts := append([]zk.Option{dial}, tc.opts...)
			requireBad(t, badCall{"New", zk.ErrInvalidArgument, func() error {
				c, err := zk.New(addr, opts...)
				if c != nil {
					c.Close()
				}
				return err
			}})
			requireBad(t, badCall{"Connect", zk.ErrInvalidArgument, func() error {
				c, err := zk.Connect(testCtx(t), addr, opts...)
				if c != nil {
					c.Close()
				}
				return err
			}})
		})
	}
	t.Run("Connect with a nil context", func(t *testing.T) {
		requireBad(t, badCall{"Connect", zk.ErrInvalidArgument, func() error {
			c, err := zk.Connect(nilCtx, addr, dial)
			if c != nil {
				c.Close()
			}
			return err
		}})
	})
	require.Zero(t, spy.dials.Load(), "a bad option let the handle dial")
}

// TestBadInputAddStateListenerNil: AddStateListener(nil) must not plant a
// nil function that crashes a goroutine of the handle at the next state
// change. A panic at the call itself (a programming error reported where it
// is made) is acceptable; a crash later, on the handle's goroutine, takes
// the whole process down and cannot be recovered. The check runs in a
// child process for that reason.
func TestBadInputAddStateListenerNil(t *testing.T) {
	if os.Getenv("ZK_BADINPUT_CHILD") == "1" {
		srv := wideServer(t)
		c := connect(t, srv.ConnString())
		func() {
			defer func() { recover() }() // a panic here, at the call, is fine
			c.AddStateListener(nil)
		}()
		c.Close() // a state change: listeners run
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBadInputAddStateListenerNil$", "-test.count=1")
	cmd.Env = append(os.Environ(), "ZK_BADINPUT_CHILD=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "AddStateListener(nil) crashed the process at the next state change:\n%s", out)
}
