package conformance

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/testserver"
)

// Regression tests for client bugs the suite found (each failed against
// both servers until the client was fixed).

// TestPersistentWatchSurvivesOneShot: a persistent watch delivers every
// event until removed, even when the handle also sets one-shot watches on
// its path. A 3.6–3.8 server keeps one watch mode per connection and path
// (the conformance case watch_modes_one_path shows it): a one-shot data
// watch sent to it replaces the persistent or recursive watch, which then
// stops once the one-shot fired. The handle used to send it; it now keeps
// such one-shot watches to itself, served by the persistent watch. (3.9
// keeps the modes apart; 3.5 has no persistent watches, and there the
// one-shot watches alone fire, once.)
func TestPersistentWatchSurvivesOneShot(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := be.start(t)
			c := dial(t, b.ConnString())
			other := dial(t, b.ConnString())
			ctx := testCtx(t)
			root := mkroot(t, c)
			p, r := root+"/p", root+"/r"
			mustCreate(t, c, p, nil)
			mustCreate(t, c, r, nil)
			var pw, rw *zk.PersistentWatch
			persistent := b.Version().has(since360)
			if persistent {
				var err error
				pw, err = c.AddWatch(ctx, p, zk.AddWatchModePersistent)
				require.NoError(t, err)
				rw, err = c.AddWatch(ctx, r, zk.AddWatchModePersistentRecursive)
				require.NoError(t, err)
			} else {
				requireUnimplemented(t, c, since360, func() error {
					_, err := c.AddWatch(ctx, p, zk.AddWatchModePersistent)
					return err
				})
			}
			_, _, wp, err := c.GetW(ctx, p)
			require.NoError(t, err)
			_, _, wr, err := c.ExistsW(ctx, r)
			require.NoError(t, err)
			for i := range 3 {
				_, err = other.Set(ctx, p, []byte{byte(i)}, zk.AnyVersion)
				require.NoError(t, err)
				_, err = other.Set(ctx, r, []byte{byte(i)}, zk.AnyVersion)
				require.NoError(t, err)
				kid := r + "/kid" + string(rune('0'+i))
				mustCreate(t, other, kid, nil)
				// A round trip after the changes: their events have arrived.
				_, _, err = c.Get(ctx, root)
				require.NoError(t, err)
				if persistent {
					wantStream(t, pw, ev(zk.EventNodeDataChanged, p))
					wantStream(t, rw, ev(zk.EventNodeDataChanged, r), ev(zk.EventNodeCreated, kid))
				}
			}
			wantEvent(t, wp, zk.EventNodeDataChanged, p)
			wantEvent(t, wr, zk.EventNodeDataChanged, r)
		})
	}
}

// TestUpdateServersThenLoss: after UpdateServers, the new server list is
// installed when the current link is lost. It used to be installed without
// the lost server as "current" (applyHostUpdate looked at c.link, already
// nil), so the first server tried could be the very one just lost; if it
// hung, that attempt took the connect timeout (T/3 with three servers)
// after the read timeout (2T/3), and the handle expired its session itself
// although two servers were up. Each round has a one in three chance to
// catch that.
func TestUpdateServersThenLoss(t *testing.T) {
	srv := testserver.Start(t, testserver.WithListeners(3), testserver.WithSessionTimeoutRange(100*time.Millisecond, time.Minute))
	// The fix leaves T/3 to spare (read timeout 2T/3, then an immediate
	// reconnect); the bug needed all of T. 1.8 s leaves 600 ms for a loaded
	// machine.
	const sessionTimeout = 1800 * time.Millisecond
	for i := range 8 {
		rec := newRecorder()
		c, err := zk.Connect(testCtx(t), srv.ConnString(), rec.option(), zk.WithSessionTimeout(sessionTimeout))
		require.NoError(t, err)
		cur := slices.Index(srv.Addrs(), c.Server())
		require.GreaterOrEqual(t, cur, 0)
		// The same servers in another order: nothing added, so the session
		// stays where it is until its server hangs.
		require.NoError(t, c.UpdateServers(srv.Addr(2)+","+srv.Addr(1)+","+srv.Addr(0)))
		srv.Blackhole(cur, true) // the current server hangs
		lost := rec.waitEvent(t, 0, zk.EventDisconnected)
		cs := rec.waitUntil(t, "connected again, or closed", func(cs []zk.StateChange) bool {
			last := cs[len(cs)-1].To
			return len(cs) > lost+1 && (last == zk.StateConnected || last == zk.StateClosed)
		})
		srv.Blackhole(cur, false)
		require.NoError(t, c.Close())
		require.Equal(t, zk.StateConnected, cs[len(cs)-1].To, "round %d: %s", i, fmtChanges(cs))
	}
}

// TestConnectRejectedCredentials: Connect with credentials the server
// rejects fails with ErrAuthFailed, as documented; it does not hand back a
// handle that is about to end in AUTH_FAILED. (It did: Connect returned at
// the handshake, before the credentials were answered.)
func TestConnectRejectedCredentials(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := be.start(t)
			for range 5 {
				c, err := zk.Connect(testCtx(t), b.ConnString(), zk.WithSessionTimeout(sessionTimeout),
					zk.WithCredentials(zk.Credential{Scheme: "nosuchscheme", Auth: []byte("x")}))
				if err == nil {
					id, pw := c.SessionID(), c.SessionPassword()
					c.Close()
					endSession(t, b.ConnString(), id, pw)
				}
				require.ErrorIs(t, err, zk.ErrAuthFailed, "Connect with credentials the server rejects")
			}
			// Good credentials still connect, and count.
			c := dial(t, b.ConnString(), zk.WithCredentials(zk.DigestCredential("u", "p")))
			require.Equal(t, zk.StateConnected, c.State())
			root := mkroot(t, c)
			_, err := c.Create(testCtx(t), root+"/mine", nil, zk.CreatePersistent, zk.CreatorAllACL)
			require.NoError(t, err)
		})
	}
}
