package conformance

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/faultproxy"
)

var watchCases = []conformanceCase{
	{"watch_data", caseWatchData},
	{"watch_exist", caseWatchExist},
	{"watch_child", caseWatchChild},
	{"watch_delete", caseWatchDelete},
	{"watch_other_client", caseWatchOtherClient},
	{"watch_catchup", caseWatchCatchUp},
	{"watch_catchup_many", caseWatchCatchUpMany},
	{"remove_check_watches", caseRemoveCheckWatches},
	{"watch_modes_one_path", caseWatchModesOnOnePath},
	{"check_watches_any_session", caseCheckWatchesAnySession},
	{"check_persistent_watches", caseCheckPersistentWatches},
}

// caseWatchData: a data watch fires once, with NodeDataChanged; a write's
// events reach the writer before the write's reply.
func caseWatchData(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	a := root + "/a"
	mustCreate(t, c, a, []byte("0"))
	_, _, w1, err := c.GetW(ctx, a)
	require.NoError(t, err)
	_, _, w2, err := c.GetW(ctx, a) // a second watch on the same node
	require.NoError(t, err)
	ok, _, w3, err := c.ExistsW(ctx, a) // exists on a present node: a data watch
	require.NoError(t, err)
	require.True(t, ok)
	_, _, wc, err := c.ChildrenW(ctx, a)
	require.NoError(t, err)

	_, err = c.Set(ctx, a, []byte("1"), zk.AnyVersion)
	require.NoError(t, err)
	wantEventNow(t, w1, zk.EventNodeDataChanged, a)
	wantEventNow(t, w2, zk.EventNodeDataChanged, a)
	wantEventNow(t, w3, zk.EventNodeDataChanged, a)
	wantPending(t, wc) // a data change is not a child change

	// Fired watches are gone on the server too.
	require.NoError(t, c.CheckWatches(ctx, a, zk.WatcherChildren))
	requireCode(t, c.CheckWatches(ctx, a, zk.WatcherData), zk.ErrNoWatcher, "checkWatches", a)

	// No watch is set on a missing node by get or children.
	_, _, w, err := c.GetW(ctx, root+"/missing")
	requireCode(t, err, zk.ErrNoNode, "get", root+"/missing")
	require.Nil(t, w)
	_, _, w, err = c.ChildrenW(ctx, root+"/missing")
	requireCode(t, err, zk.ErrNoNode, "children", root+"/missing")
	require.Nil(t, w)
	requireCode(t, c.CheckWatches(ctx, root+"/missing", zk.WatcherAny), zk.ErrNoWatcher, "checkWatches", root+"/missing")
}

// caseWatchExist: exists sets a watch on a missing node, fired by its
// creation.
func caseWatchExist(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	m := root + "/m"
	ok, st, w1, err := c.ExistsW(ctx, m)
	require.NoError(t, err)
	require.False(t, ok)
	require.Nil(t, st)
	require.NotNil(t, w1)
	_, _, w2, err := c.ExistsW(ctx, m)
	require.NoError(t, err)
	require.NoError(t, c.CheckWatches(ctx, m, zk.WatcherData))
	requireCode(t, c.CheckWatches(ctx, m, zk.WatcherChildren), zk.ErrNoWatcher, "checkWatches", m)

	mustCreate(t, c, m, nil)
	wantEventNow(t, w1, zk.EventNodeCreated, m)
	wantEventNow(t, w2, zk.EventNodeCreated, m)

	// On the node now present: deleted.
	_, _, w, err := c.ExistsW(ctx, m)
	require.NoError(t, err)
	require.NoError(t, c.Delete(ctx, m, zk.AnyVersion))
	wantEventNow(t, w, zk.EventNodeDeleted, m)

	// A missing node whose parent is missing too.
	ok, _, w, err = c.ExistsW(ctx, root+"/p/q")
	require.NoError(t, err)
	require.False(t, ok)
	mustCreate(t, c, root+"/p", nil)
	wantPending(t, w)
	mustCreate(t, c, root+"/p/q", nil)
	wantEventNow(t, w, zk.EventNodeCreated, root+"/p/q")
}

// caseWatchChild: a child watch fires on child creates and deletes, not on
// data changes of the node or its children.
func caseWatchChild(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	p := root + "/p"
	mustCreate(t, c, p, nil)
	_, _, w, err := c.ChildrenW(ctx, p)
	require.NoError(t, err)
	_, err = c.Set(ctx, p, []byte("x"), zk.AnyVersion)
	require.NoError(t, err)
	wantPending(t, w)
	mustCreate(t, c, p+"/k", nil)
	wantEventNow(t, w, zk.EventNodeChildrenChanged, p)

	_, _, w, err = c.ChildrenW(ctx, p)
	require.NoError(t, err)
	_, err = c.Set(ctx, p+"/k", []byte("x"), zk.AnyVersion)
	require.NoError(t, err)
	mustCreate(t, c, p+"/k/grandchild", nil)
	wantPending(t, w)
	require.NoError(t, c.Delete(ctx, p+"/k/grandchild", zk.AnyVersion))
	require.NoError(t, c.Delete(ctx, p+"/k", zk.AnyVersion))
	wantEventNow(t, w, zk.EventNodeChildrenChanged, p)

	// A sequential and an ephemeral child fire it too.
	_, _, w, err = c.ChildrenW(ctx, p)
	require.NoError(t, err)
	_, err = c.Create(ctx, p+"/s-", nil, zk.CreateEphemeralSequential, zk.OpenACL)
	require.NoError(t, err)
	wantEventNow(t, w, zk.EventNodeChildrenChanged, p)
}

// caseWatchDelete: a delete fires the node's data, exist and child
// watches with NodeDeleted, and the parent's child watch.
func caseWatchDelete(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	x := root + "/x"
	mustCreate(t, c, x, nil)
	_, _, wd, err := c.GetW(ctx, x)
	require.NoError(t, err)
	_, _, wc, err := c.ChildrenW(ctx, x)
	require.NoError(t, err)
	_, _, we, err := c.ExistsW(ctx, x)
	require.NoError(t, err)
	_, _, wp, err := c.ChildrenW(ctx, root)
	require.NoError(t, err)
	_, _, wpd, err := c.GetW(ctx, root)
	require.NoError(t, err)

	require.NoError(t, c.Delete(ctx, x, zk.AnyVersion))
	wantEventNow(t, wd, zk.EventNodeDeleted, x)
	wantEventNow(t, wc, zk.EventNodeDeleted, x)
	wantEventNow(t, we, zk.EventNodeDeleted, x)
	wantEventNow(t, wp, zk.EventNodeChildrenChanged, root)
	wantPending(t, wpd)
	for _, typ := range []zk.WatcherType{zk.WatcherData, zk.WatcherChildren} {
		requireCode(t, c.CheckWatches(ctx, x, typ), zk.ErrNoWatcher, "checkWatches", x)
	}
}

// caseWatchOtherClient: events caused by another session arrive on their
// own, and a watcher sees its events in the order of the changes.
func caseWatchOtherClient(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	other := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	a := root + "/a"
	_, _, we, err := c.ExistsW(ctx, a)
	require.NoError(t, err)
	_, _, wp, err := c.ChildrenW(ctx, root)
	require.NoError(t, err)
	mustCreate(t, other, a, nil)
	wantEvent(t, we, zk.EventNodeCreated, a)
	wantEvent(t, wp, zk.EventNodeChildrenChanged, root)

	_, _, wd, err := c.GetW(ctx, a)
	require.NoError(t, err)
	_, err = other.Set(ctx, a, []byte("x"), zk.AnyVersion)
	require.NoError(t, err)
	wantEvent(t, wd, zk.EventNodeDataChanged, a)

	// An ephemeral goes with its session, firing the watches on it.
	_, err = other.Create(ctx, root+"/e", nil, zk.CreateEphemeral, zk.OpenACL)
	require.NoError(t, err)
	_, _, wd, err = c.GetW(ctx, root+"/e")
	require.NoError(t, err)
	_, _, wp, err = c.ChildrenW(ctx, root)
	require.NoError(t, err)
	require.NoError(t, other.Close())
	wantEvent(t, wd, zk.EventNodeDeleted, root+"/e")
	wantEvent(t, wp, zk.EventNodeChildrenChanged, root)
	ok, _, err := c.Exists(ctx, root+"/e")
	require.NoError(t, err)
	require.False(t, ok)
}

// caseWatchCatchUp: a node changed while the handle was cut off fires its
// watch exactly once when the handle is back (the server compares the
// nodes with the handle's last zxid); a node not changed keeps its watch.
func caseWatchCatchUp(t *testing.T, b backend) {
	proxy := faultproxy.Start(t, b.Addr())
	rec := newRecorder()
	c := dial(t, proxy.Addr(), rec.option())
	other := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, other)
	for _, n := range []string{"d", "c", "del", "both", "gone", "keep", "pd", "reborn"} {
		mustCreate(t, other, root+"/"+n, nil)
	}
	_, _, wData, err := c.GetW(ctx, root+"/d")
	require.NoError(t, err)
	_, _, wExist, err := c.ExistsW(ctx, root+"/m")
	require.NoError(t, err)
	_, _, wChild, err := c.ChildrenW(ctx, root+"/c")
	require.NoError(t, err)
	_, _, wDel, err := c.GetW(ctx, root+"/del")
	require.NoError(t, err)
	_, _, wDelChild, err := c.ChildrenW(ctx, root+"/gone")
	require.NoError(t, err)
	_, _, wBoth, err := c.GetW(ctx, root+"/both")
	require.NoError(t, err)
	_, _, wBothChild, err := c.ChildrenW(ctx, root+"/both")
	require.NoError(t, err)
	_, _, wKeep, err := c.GetW(ctx, root+"/keep")
	require.NoError(t, err)
	_, _, wStillMissing, err := c.ExistsW(ctx, root+"/m2")
	require.NoError(t, err)
	_, _, wFlash, err := c.ExistsW(ctx, root+"/flash")
	require.NoError(t, err)
	_, _, wReborn, err := c.GetW(ctx, root+"/reborn")
	require.NoError(t, err)
	// Persistent watches, where the server has them (3.6.0+): one on a
	// node of its own, one on a node with a one-shot watch.
	var pw, pwShared *zk.PersistentWatch
	if b.Version().has(since360) {
		pw, err = c.AddWatch(ctx, root+"/pd", zk.AddWatchModePersistent)
		require.NoError(t, err)
		pwShared, err = c.AddWatch(ctx, root+"/d", zk.AddWatchModePersistent)
		require.NoError(t, err)
	} else {
		// The server closes the connection: the one-shot watches are
		// registered again on the next, nothing having changed.
		requireUnimplemented(t, c, since360, func() error {
			_, err := c.AddWatch(ctx, root+"/pd", zk.AddWatchModePersistent)
			return err
		})
	}

	// Cut the handle off: its connection is reset and new ones are refused.
	mark := len(rec.snapshot())
	proxy.RefuseNew(true)
	proxy.ResetAll()
	lost := rec.waitEvent(t, mark, zk.EventDisconnected)

	_, err = other.Set(ctx, root+"/d", []byte("x"), zk.AnyVersion)
	require.NoError(t, err)
	_, err = other.Set(ctx, root+"/pd", []byte("x"), zk.AnyVersion)
	require.NoError(t, err)
	mustCreate(t, other, root+"/m", nil)
	mustCreate(t, other, root+"/c/kid", nil)
	require.NoError(t, other.Delete(ctx, root+"/del", zk.AnyVersion))
	require.NoError(t, other.Delete(ctx, root+"/gone", zk.AnyVersion))
	mustCreate(t, other, root+"/both/kid", nil)
	require.NoError(t, other.Delete(ctx, root+"/both/kid", zk.AnyVersion))
	_, err = other.Set(ctx, root+"/both", nil, zk.AnyVersion) // the same data: still a change
	require.NoError(t, err)
	mustCreate(t, other, root+"/flash", nil) // created and gone again: nothing to tell
	require.NoError(t, other.Delete(ctx, root+"/flash", zk.AnyVersion))
	require.NoError(t, other.Delete(ctx, root+"/reborn", zk.AnyVersion)) // deleted and made again: changed
	mustCreate(t, other, root+"/reborn", nil)
	wantPending(t, wData)

	proxy.RefuseNew(false)
	rec.waitEvent(t, lost, zk.EventSyncConnected)
	// The catch-up events come before the reply to the re-registration,
	// which comes before the reply to any call made after reconnecting.
	_, _, err = c.Get(ctx, root)
	require.NoError(t, err)
	wantEventNow(t, wData, zk.EventNodeDataChanged, root+"/d")
	wantEventNow(t, wExist, zk.EventNodeCreated, root+"/m")
	wantEventNow(t, wChild, zk.EventNodeChildrenChanged, root+"/c")
	wantEventNow(t, wDel, zk.EventNodeDeleted, root+"/del")
	wantEventNow(t, wDelChild, zk.EventNodeDeleted, root+"/gone")
	wantEventNow(t, wBoth, zk.EventNodeDataChanged, root+"/both")
	wantEventNow(t, wBothChild, zk.EventNodeChildrenChanged, root+"/both")
	wantPending(t, wStillMissing)
	wantPending(t, wKeep)
	wantPending(t, wFlash)
	wantEventNow(t, wReborn, zk.EventNodeDataChanged, root+"/reborn")
	if pw != nil {
		// A persistent watch is registered again without catch-up: its
		// stream has only the session events...
		disconnected := zk.Event{Type: zk.EventSession, State: zk.StateConnecting, Session: zk.EventDisconnected}
		connected := zk.Event{Type: zk.EventSession, State: zk.StateConnected, Session: zk.EventSyncConnected}
		wantStream(t, pw, disconnected, connected)
		// ...unless a one-shot watch on the same node had its catch-up
		// event: the handle gives every event on a path to every watch of
		// the path. Streams hear of the new connection once the server has
		// their watches again, that is after the catch-up events.
		wantStream(t, pwShared, disconnected, ev(zk.EventNodeDataChanged, root+"/d"), connected)
	}

	// Watches not fired were registered again; fired ones are gone.
	mustCreate(t, other, root+"/m2", nil)
	wantEvent(t, wStillMissing, zk.EventNodeCreated, root+"/m2")
	mustCreate(t, other, root+"/flash", nil)
	wantEvent(t, wFlash, zk.EventNodeCreated, root+"/flash")
	_, err = other.Set(ctx, root+"/keep", nil, zk.AnyVersion)
	require.NoError(t, err)
	wantEvent(t, wKeep, zk.EventNodeDataChanged, root+"/keep")
	if pw != nil {
		_, err = other.Set(ctx, root+"/pd", []byte("y"), zk.AnyVersion)
		require.NoError(t, err)
		require.Equal(t, ev(zk.EventNodeDataChanged, root+"/pd"), nextPersistent(t, pw))
		_, err = other.Set(ctx, root+"/d", []byte("y"), zk.AnyVersion)
		require.NoError(t, err)
		require.Equal(t, ev(zk.EventNodeDataChanged, root+"/d"), nextPersistent(t, pwShared))
	}
	requireCode(t, c.CheckWatches(ctx, root+"/c", zk.WatcherAny), zk.ErrNoWatcher, "checkWatches", root+"/c")

	cs := rec.snapshot()
	requireChain(t, cs)
	require.Equal(t, zk.StateConnected, cs[len(cs)-1].To)
	require.Equal(t, c.SessionID(), cs[len(cs)-1].SessionID)
}

// caseRemoveCheckWatches: checkWatches asks the server; removeWatches
// removes on the server and gives each removed watch its final event.
func caseRemoveCheckWatches(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	a, m := root+"/a", root+"/m"
	mustCreate(t, c, a, nil)
	_, _, wd, err := c.GetW(ctx, a)
	require.NoError(t, err)
	_, _, wc, err := c.ChildrenW(ctx, a)
	require.NoError(t, err)
	_, _, wm, err := c.ExistsW(ctx, m)
	require.NoError(t, err)

	for _, typ := range []zk.WatcherType{zk.WatcherData, zk.WatcherChildren, zk.WatcherAny} {
		require.NoError(t, c.CheckWatches(ctx, a, typ), "type %d", typ)
	}
	require.NoError(t, c.CheckWatches(ctx, m, zk.WatcherData))
	require.NoError(t, c.CheckWatches(ctx, m, zk.WatcherAny))
	requireCode(t, c.CheckWatches(ctx, root, zk.WatcherAny), zk.ErrNoWatcher, "checkWatches", root)
	requireCode(t, c.CheckWatches(ctx, root+"/nothing", zk.WatcherData), zk.ErrNoWatcher, "checkWatches", root+"/nothing")

	require.NoError(t, c.RemoveWatches(ctx, a, zk.WatcherData))
	wantEventNow(t, wd, zk.EventDataWatchRemoved, a)
	wantPending(t, wc)
	requireCode(t, c.CheckWatches(ctx, a, zk.WatcherData), zk.ErrNoWatcher, "checkWatches", a)
	require.NoError(t, c.CheckWatches(ctx, a, zk.WatcherChildren))
	require.NoError(t, c.RemoveWatches(ctx, a, zk.WatcherAny))
	wantEventNow(t, wc, zk.EventChildWatchRemoved, a)
	requireCode(t, c.CheckWatches(ctx, a, zk.WatcherAny), zk.ErrNoWatcher, "checkWatches", a)
	requireCode(t, c.RemoveWatches(ctx, a, zk.WatcherAny), zk.ErrNoWatcher, "removeWatches", a)

	require.NoError(t, c.RemoveWatches(ctx, m, zk.WatcherData))
	wantEventNow(t, wm, zk.EventDataWatchRemoved, m)
	requireCode(t, c.CheckWatches(ctx, m, zk.WatcherData), zk.ErrNoWatcher, "checkWatches", m)
	// Removed means removed: the changes fire nothing.
	mustCreate(t, c, m, nil)
	mustCreate(t, c, a+"/kid", nil)
	requireCode(t, c.CheckWatches(ctx, a, zk.WatcherAny), zk.ErrNoWatcher, "checkWatches", a)
}

// caseWatchModesOnOnePath: how the server holds a connection's watches of
// several modes on one path, which differs by release. On 3.6–3.8 a
// connection has one watch mode per path in each of the two watch managers
// (data, child), and addWatch puts even a recursive watch in both; a later
// watch on the same path replaces the mode of the earlier one in its
// manager, and checkWatches matches any mode. 3.9 keeps the modes apart
// (ZOOKEEPER-4466, 3.9.0): a recursive watch is in the data manager only,
// and checkWatches of type Data or Children matches one-shot watches only
// (ZOOKEEPER-4471, 3.9.0), Any every mode. What the handle still lets show:
//   - one-shot watches on a path with a persistent watch stay in the handle
//     (TestPersistentWatchSurvivesOneShot): both keep working;
//   - a one-shot watch set first, then a persistent one: the server's watch
//     becomes persistent (3.6–3.8) or holds both modes (3.9), and serves
//     both;
//   - a child watch on a path with a recursive watch (which brings no
//     NodeChildrenChanged) goes to the server (on 3.6–3.8 it replaces the
//     recursive watch's inert entry in the child manager): once it fired,
//     checkWatches finds no child watch there, while the recursive watch
//     goes on.
//
// 3.5 has no persistent watches (addWatch is 3.6.0): there, one-shot
// watches on the paths go to the server and fire once.
func caseWatchModesOnOnePath(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	other := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	v := b.Version()
	p, r := root+"/p", root+"/r"
	mustCreate(t, c, p, nil)
	mustCreate(t, c, r, nil)
	// oneShots sets a data watch on p and an exist watch on r.
	oneShots := func() (wp, wr <-chan zk.Event) {
		t.Helper()
		_, _, wp, err := c.GetW(ctx, p)
		require.NoError(t, err)
		_, _, wr, err = c.ExistsW(ctx, r)
		require.NoError(t, err)
		return wp, wr
	}
	// setTwice changes p and r twice from the other handle; after each
	// round, whose events have then arrived, it calls each.
	setTwice := func(each func()) {
		t.Helper()
		for i := range 2 {
			_, err := other.Set(ctx, p, []byte{byte(i)}, zk.AnyVersion)
			require.NoError(t, err)
			_, err = other.Set(ctx, r, []byte{byte(i)}, zk.AnyVersion)
			require.NoError(t, err)
			_, _, err = c.Get(ctx, root) // a round trip: the events have arrived
			require.NoError(t, err)
			each()
		}
	}
	if !v.has(since360) {
		requireUnimplemented(t, c, since360, func() error {
			_, err := c.AddWatch(ctx, p, zk.AddWatchModePersistent)
			return err
		})
		requireCode(t, c.CheckWatches(ctx, p, zk.WatcherAny), zk.ErrNoWatcher, "checkWatches", p)
		wp, wr := oneShots()
		require.NoError(t, c.CheckWatches(ctx, p, zk.WatcherData))
		require.NoError(t, c.CheckWatches(ctx, r, zk.WatcherData))
		setTwice(func() {})
		wantEventNow(t, wp, zk.EventNodeDataChanged, p)
		wantEventNow(t, wr, zk.EventNodeDataChanged, r)
		requireCode(t, c.CheckWatches(ctx, p, zk.WatcherAny), zk.ErrNoWatcher, "checkWatches", p)
		requireCode(t, c.CheckWatches(ctx, r, zk.WatcherAny), zk.ErrNoWatcher, "checkWatches", r)
		return
	}
	apart := v.watchModesApart()
	pw, err := c.AddWatch(ctx, p, zk.AddWatchModePersistent)
	require.NoError(t, err)
	rw, err := c.AddWatch(ctx, r, zk.AddWatchModePersistentRecursive)
	require.NoError(t, err)
	// A persistent watch: in both managers; 3.9 finds it with Any only.
	requireOnlyPersistent(t, c, v, p)
	wp, wr := oneShots()
	setTwice(func() {
		wantStream(t, pw, ev(zk.EventNodeDataChanged, p))
		wantStream(t, rw, ev(zk.EventNodeDataChanged, r))
	})
	wantEventNow(t, wp, zk.EventNodeDataChanged, p)
	wantEventNow(t, wr, zk.EventNodeDataChanged, r)

	// A one-shot watch, then a persistent one on the same path: the
	// server's watch serves both.
	q := root + "/q"
	mustCreate(t, c, q, nil)
	_, _, wq, err := c.GetW(ctx, q)
	require.NoError(t, err)
	qw, err := c.AddWatch(ctx, q, zk.AddWatchModePersistent)
	require.NoError(t, err)
	_, err = c.Set(ctx, q, []byte("1"), zk.AnyVersion)
	require.NoError(t, err)
	_, err = c.Set(ctx, q, []byte("2"), zk.AnyVersion)
	require.NoError(t, err)
	wantEventNow(t, wq, zk.EventNodeDataChanged, q)
	wantStream(t, qw, ev(zk.EventNodeDataChanged, q), ev(zk.EventNodeDataChanged, q))

	// A recursive watch sits in both managers (3.6–3.8), or in the data
	// manager only, where Data and Children do not match it (3.9).
	rr := root + "/rr"
	mustCreate(t, c, rr, nil)
	rrw, err := c.AddWatch(ctx, rr, zk.AddWatchModePersistentRecursive)
	require.NoError(t, err)
	requireOnlyPersistent(t, c, v, rr)
	// A child watch goes to the server, and fires once.
	_, _, wc, err := c.ChildrenW(ctx, rr)
	require.NoError(t, err)
	require.NoError(t, c.CheckWatches(ctx, rr, zk.WatcherChildren))
	mustCreate(t, c, rr+"/a", nil)
	wantEventNow(t, wc, zk.EventNodeChildrenChanged, rr)
	requireCode(t, c.CheckWatches(ctx, rr, zk.WatcherChildren), zk.ErrNoWatcher, "checkWatches", rr)
	if apart {
		requireCode(t, c.CheckWatches(ctx, rr, zk.WatcherData), zk.ErrNoWatcher, "checkWatches", rr)
	} else {
		require.NoError(t, c.CheckWatches(ctx, rr, zk.WatcherData))
	}
	require.NoError(t, c.CheckWatches(ctx, rr, zk.WatcherAny))
	_, err = c.Set(ctx, rr+"/a", []byte("1"), zk.AnyVersion)
	require.NoError(t, err)
	mustCreate(t, c, rr+"/b", nil)
	wantStream(t, rrw, ev(zk.EventNodeCreated, rr+"/a"), ev(zk.EventNodeDataChanged, rr+"/a"), ev(zk.EventNodeCreated, rr+"/b"))
}

// caseCheckWatchesAnySession: whose watches checkWatches looks at differs
// by release. 3.6–3.8 look at the path only: checkWatches succeeds when
// another session watches the path. 3.5, and 3.9 again (ZOOKEEPER-4466,
// 3.9.0), look at the session's own watches. On every release it fails for
// a path only covered by the handle's recursive watch on an ancestor.
// removeWatches is per session.
func caseCheckWatchesAnySession(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	other := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	v := b.Version()
	q := root + "/q"
	mustCreate(t, c, q, nil)
	_, _, w, err := other.GetW(ctx, q)
	require.NoError(t, err)
	require.NoError(t, other.CheckWatches(ctx, q, zk.WatcherData)) // its own
	if v.checkWatchesAnySession() {
		require.NoError(t, c.CheckWatches(ctx, q, zk.WatcherData))
	} else {
		requireCode(t, c.CheckWatches(ctx, q, zk.WatcherData), zk.ErrNoWatcher, "checkWatches", q)
	}
	requireCode(t, c.CheckWatches(ctx, q, zk.WatcherChildren), zk.ErrNoWatcher, "checkWatches", q)
	// The handle's own RemoveWatches knows it has none.
	requireCode(t, c.RemoveWatches(ctx, q, zk.WatcherData), zk.ErrNoWatcher, "removeWatches", q)
	if !v.has(since360) {
		requireUnimplemented(t, c, since360, func() error {
			_, err := c.AddWatch(ctx, root, zk.AddWatchModePersistentRecursive)
			return err
		})
		requireCode(t, c.CheckWatches(ctx, root, zk.WatcherAny), zk.ErrNoWatcher, "checkWatches", root)
		_, err = c.Set(ctx, q, nil, zk.AnyVersion)
		require.NoError(t, err)
		wantEvent(t, w, zk.EventNodeDataChanged, q)
		return
	}
	rw, err := c.AddWatch(ctx, root, zk.AddWatchModePersistentRecursive)
	require.NoError(t, err)
	requireCode(t, c.CheckWatches(ctx, root+"/missing", zk.WatcherAny), zk.ErrNoWatcher, "checkWatches", root+"/missing")
	requireOnlyPersistent(t, c, v, root)
	_, err = c.Set(ctx, q, nil, zk.AnyVersion)
	require.NoError(t, err)
	wantEvent(t, w, zk.EventNodeDataChanged, q)
	wantStream(t, rw, ev(zk.EventNodeDataChanged, q))
}

// caseWatchCatchUpMany: thousands of watches, whose paths take more than
// one SetWatches frame (the handle batches them by about 128 KiB), all
// registered again after a reconnect: each fires exactly once.
func caseWatchCatchUpMany(t *testing.T, b backend) {
	proxy := faultproxy.Start(t, b.Addr())
	rec := newRecorder()
	c := dial(t, proxy.Addr(), rec.option())
	other := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, other)
	const n = 1600 // about 150 KiB of paths
	name := func(i int) string {
		return fmt.Sprintf("%s/a-node-with-a-rather-long-name-so-that-the-paths-fill-frames-%05d", root, i)
	}
	var ops []zk.Op
	for i := range n {
		ops = append(ops, &zk.CreateOp{Path: name(i), ACL: zk.OpenACL})
	}
	_, err := other.Multi(ctx, ops...)
	require.NoError(t, err)
	chans := make([]<-chan zk.Event, n)
	for i := range n {
		_, _, chans[i], err = c.GetW(ctx, name(i))
		require.NoError(t, err)
	}
	proxy.RefuseNew(true)
	proxy.ResetAll()
	lost := rec.waitEvent(t, 0, zk.EventDisconnected)
	// Change every other node while the handle is away.
	ops = ops[:0]
	for i := 0; i < n; i += 2 {
		ops = append(ops, &zk.SetDataOp{Path: name(i), Data: []byte("x"), Version: zk.AnyVersion})
	}
	_, err = other.Multi(ctx, ops...)
	require.NoError(t, err)
	proxy.RefuseNew(false)
	rec.waitEvent(t, lost, zk.EventSyncConnected)
	_, _, err = c.Get(ctx, root)
	require.NoError(t, err)
	for i := range n {
		if i%2 == 0 {
			wantEventNow(t, chans[i], zk.EventNodeDataChanged, name(i))
		} else {
			wantPending(t, chans[i])
		}
	}
	// The others were registered again.
	ops = ops[:0]
	for i := 1; i < n; i += 2 {
		ops = append(ops, &zk.SetDataOp{Path: name(i), Data: []byte("y"), Version: zk.AnyVersion})
	}
	_, err = other.Multi(ctx, ops...)
	require.NoError(t, err)
	for i := 1; i < n; i += 2 {
		wantEvent(t, chans[i], zk.EventNodeDataChanged, name(i))
	}
}

// caseCheckPersistentWatches: checkWatches with the watcher types
// Persistent and PersistentRecursive (ZOOKEEPER-4472, 3.9.0) finds a
// persistent watch of that mode that this session set on the path itself.
// Older servers know types 1 to 3 only and answer a marshalling error,
// which the client explains; the connection stays usable.
func caseCheckPersistentWatches(t *testing.T, b backend) {
	c := dial(t, b.ConnString())
	other := dial(t, b.ConnString())
	ctx := testCtx(t)
	root := mkroot(t, c)
	v := b.Version()
	p, r := root+"/p", root+"/r"
	if v.has(since360) {
		for _, w := range []struct {
			path string
			mode zk.AddWatchMode
		}{{p, zk.AddWatchModePersistent}, {r, zk.AddWatchModePersistentRecursive}} {
			_, err := c.AddWatch(ctx, w.path, w.mode)
			require.NoError(t, err)
		}
	}
	if !v.persistentWatcherTypes() {
		for _, typ := range []zk.WatcherType{zk.WatcherPersistent, zk.WatcherPersistentRecursive} {
			err := c.CheckWatches(ctx, p, typ)
			requireCode(t, err, zk.ErrMarshallingError, "checkWatches", p)
			require.ErrorContains(t, err, "it needs ZooKeeper 3.9.0 or newer")
		}
		_, _, err := c.Get(ctx, "/")
		require.NoError(t, err, "the handle after the refused check")
		return
	}
	require.NoError(t, c.CheckWatches(ctx, p, zk.WatcherPersistent))
	require.NoError(t, c.CheckWatches(ctx, r, zk.WatcherPersistentRecursive))
	requireCode(t, c.CheckWatches(ctx, p, zk.WatcherPersistentRecursive), zk.ErrNoWatcher, "checkWatches", p)
	requireCode(t, c.CheckWatches(ctx, r, zk.WatcherPersistent), zk.ErrNoWatcher, "checkWatches", r)
	// On the path itself only, and only this session's.
	requireCode(t, c.CheckWatches(ctx, r+"/kid", zk.WatcherPersistentRecursive), zk.ErrNoWatcher, "checkWatches", r+"/kid")
	requireCode(t, other.CheckWatches(ctx, p, zk.WatcherPersistent), zk.ErrNoWatcher, "checkWatches", p)
}

// requireOnlyPersistent checks what checkWatches answers for a path whose
// only watch of c is a persistent or recursive one: WatcherAny finds it;
// WatcherData and WatcherChildren find it on 3.6–3.8, which keep such a
// watch in both watch managers, and not from 3.9, which matches them to
// one-shot watches only (watchModesApart).
func requireOnlyPersistent(t *testing.T, c *zk.Conn, v zkVersion, path string) {
	t.Helper()
	ctx := testCtx(t)
	require.NoError(t, c.CheckWatches(ctx, path, zk.WatcherAny))
	for _, typ := range []zk.WatcherType{zk.WatcherData, zk.WatcherChildren} {
		if v.watchModesApart() {
			requireCode(t, c.CheckWatches(ctx, path, typ), zk.ErrNoWatcher, "checkWatches", path, "type %d", typ)
		} else {
			require.NoError(t, c.CheckWatches(ctx, path, typ), "type %d", typ)
		}
	}
}
