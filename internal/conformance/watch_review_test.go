package conformance

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/faultproxy"
)

// TestChildWatchBesideRecursiveWatch: a child watch on the path of a
// recursive watch of the same handle fires on NodeChildrenChanged, whether
// it was set before the recursive watch or re-registered after a
// reconnect. A 3.6–3.8 server puts a recursive watch in its child watch
// manager too (addWatch, and setWatches2 after the frame's child watches),
// where it replaces the mode of the connection's child watch on that path
// with one that never fires NodeChildrenChanged. The handle used to lose
// such child watches on those servers; it now sets them again after the
// recursive watch.
func TestChildWatchBesideRecursiveWatch(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := be.start(t)
			if !b.Version().has(since360) {
				// No persistent watches before 3.6: addWatch is refused.
				requireUnimplementedApart(t, b.Addr(), since360, func(c *zk.Conn) error {
					_, err := c.AddWatch(testCtx(t), "/", zk.AddWatchModePersistentRecursive)
					return err
				})
				return
			}
			proxy := faultproxy.Start(t, b.Addr())
			rec := newRecorder()
			c := dial(t, proxy.Addr(), rec.option())
			ctx := testCtx(t)
			root := mkroot(t, c)
			a, r := root+"/a", root+"/r"
			mustCreate(t, c, a, nil)
			mustCreate(t, c, r, nil)

			// A child watch, then a recursive watch on the same path.
			_, _, wa, err := c.ChildrenW(ctx, a)
			require.NoError(t, err)
			aw, err := c.AddWatch(ctx, a, zk.AddWatchModePersistentRecursive)
			require.NoError(t, err)
			mustCreate(t, c, a+"/kid", nil)
			wantEventNow(t, wa, zk.EventNodeChildrenChanged, a)
			wantStream(t, aw, ev(zk.EventNodeCreated, a+"/kid"))

			// A recursive watch, then a child watch, then a reconnect.
			rw, err := c.AddWatch(ctx, r, zk.AddWatchModePersistentRecursive)
			require.NoError(t, err)
			_, _, wr, err := c.ChildrenW(ctx, r)
			require.NoError(t, err)
			proxy.ResetAll()
			lost := rec.waitEvent(t, 0, zk.EventDisconnected)
			rec.waitEvent(t, lost, zk.EventSyncConnected)
			mustCreate(t, c, r+"/kid", nil)
			wantEventNow(t, wr, zk.EventNodeChildrenChanged, r)
			for {
				e := nextPersistent(t, rw)
				if e.Type != zk.EventSession {
					require.Equal(t, ev(zk.EventNodeCreated, r+"/kid"), e)
					break
				}
			}
		})
	}
}
