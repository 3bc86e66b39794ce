package conformance

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/realzk"
)

// Failover tests on a real three-member ensemble. Each records the handle's
// state changes, checks their shape (the start and end, an unbroken chain,
// the session kept) and logs them.

// startEnsemble starts three members with a 100 ms tick; sessions may last
// up to 20 s.
func startEnsemble(t *testing.T, readOnly bool) *realzk.Ensemble {
	return realzk.Start(t, realzk.Options{
		Members:           3,
		TickTime:          tickTime,
		MinSessionTimeout: minSessionTimeout,
		MaxSessionTimeout: 20 * time.Second,
		ReadOnly:          readOnly,
	})
}

// memberOn returns the index of the member at addr.
func memberOn(t *testing.T, ens *realzk.Ensemble, addr string) int {
	t.Helper()
	for i := range ens.Size() {
		if ens.Addr(i) == addr {
			return i
		}
	}
	t.Fatalf("%q is not a member's address", addr)
	return -1
}

// liveConnString lists the members not in down.
func liveConnString(ens *realzk.Ensemble, down ...int) string {
	var addrs []string
	for i := range ens.Size() {
		if !slices.Contains(down, i) {
			addrs = append(addrs, ens.Addr(i))
		}
	}
	return strings.Join(addrs, ",")
}

// requireMove checks the changes from a loss (index lost, EventDisconnected
// from server from) to the next SyncConnected (index back): in between,
// only connection attempts and backoff; the session is the same; the new
// server is not the one that failed.
func requireMove(t *testing.T, cs []zk.StateChange, lost, back int, id int64, from, failed string) {
	t.Helper()
	require.Equal(t, zk.EventDisconnected, cs[lost].Event)
	require.Equal(t, zk.StateConnecting, cs[lost].To)
	require.Equal(t, from, cs[lost].Server)
	for _, ch := range cs[lost+1 : back] {
		require.Contains(t, []zk.State{zk.StateConnecting, zk.StateNotConnected}, ch.To, fmtChanges(cs))
		require.Equal(t, zk.EventNone, ch.Event, fmtChanges(cs))
	}
	require.Equal(t, zk.EventSyncConnected, cs[back].Event)
	require.Equal(t, zk.StateConnected, cs[back].To)
	require.NotEqual(t, failed, cs[back].Server)
	require.Equal(t, id, cs[back].SessionID)
}

// requireStartAndEnd checks the first two changes (connecting, then
// connected), the last one, and that the chain is unbroken.
func requireStartAndEnd(t *testing.T, cs []zk.StateChange, lastTo zk.State, lastEvent zk.SessionEvent) {
	t.Helper()
	require.GreaterOrEqual(t, len(cs), 3, fmtChanges(cs))
	require.Equal(t, zk.StateNotConnected, cs[0].From)
	require.Equal(t, zk.StateConnecting, cs[0].To)
	require.Equal(t, zk.StateConnecting, cs[1].From)
	require.Equal(t, zk.StateConnected, cs[1].To)
	require.Equal(t, zk.EventSyncConnected, cs[1].Event)
	last := cs[len(cs)-1]
	require.Equal(t, lastTo, last.To, fmtChanges(cs))
	require.Equal(t, lastEvent, last.Event, fmtChanges(cs))
	requireChain(t, cs)
}

// watched is a set of watches of one handle, to be fired after a failover.
type watched struct {
	data, child, exist <-chan zk.Event
	pw                 *zk.PersistentWatch // nil on a server without addWatch
	root, tag          string
}

// watchAll sets a data, a child, an exist and (where the server has them,
// 3.6.0+) a persistent watch under root, on nodes named after tag.
func watchAll(t *testing.T, c *zk.Conn, v zkVersion, root, tag string) *watched {
	t.Helper()
	ctx := testCtx(t)
	w := &watched{root: root, tag: tag}
	mustCreate(t, c, root+"/d"+tag, nil)
	mustCreate(t, c, root+"/c"+tag, nil)
	mustCreate(t, c, root+"/p"+tag, nil)
	var err error
	_, _, w.data, err = c.GetW(ctx, root+"/d"+tag)
	require.NoError(t, err)
	_, _, w.child, err = c.ChildrenW(ctx, root+"/c"+tag)
	require.NoError(t, err)
	_, _, w.exist, err = c.ExistsW(ctx, root+"/m"+tag)
	require.NoError(t, err)
	if v.has(since360) {
		w.pw, err = c.AddWatch(ctx, root+"/p"+tag, zk.AddWatchModePersistent)
		require.NoError(t, err)
	}
	return w
}

// requireNoAddWatch checks, on a server without addWatch (older than
// 3.6.0), that it fails there. It uses a handle of its own: the failover
// tests count their handle's state changes, and the server closes the
// connection of an operation it does not know.
func requireNoAddWatch(t *testing.T, ens *realzk.Ensemble) {
	t.Helper()
	requireUnimplementedApart(t, ens.ConnString(), since360, func(c *zk.Conn) error {
		_, err := c.AddWatch(testCtx(t), "/", zk.AddWatchModePersistent)
		return err
	})
}

// fire changes every watched node once, from another handle, and checks
// that each watch fires exactly once.
func (w *watched) fire(t *testing.T, c, writer *zk.Conn) {
	t.Helper()
	ctx := testCtx(t)
	_, err := writer.Set(ctx, w.root+"/d"+w.tag, []byte("x"), zk.AnyVersion)
	require.NoError(t, err)
	mustCreate(t, writer, w.root+"/c"+w.tag+"/kid", nil)
	mustCreate(t, writer, w.root+"/m"+w.tag, nil)
	_, err = writer.Set(ctx, w.root+"/p"+w.tag, []byte("x"), zk.AnyVersion)
	require.NoError(t, err)
	wantEvent(t, w.data, zk.EventNodeDataChanged, w.root+"/d"+w.tag)
	wantEvent(t, w.child, zk.EventNodeChildrenChanged, w.root+"/c"+w.tag)
	wantEvent(t, w.exist, zk.EventNodeCreated, w.root+"/m"+w.tag)
	if w.pw == nil {
		return
	}
	// The persistent stream: the session events of the failovers, then
	// exactly one change.
	var node []zk.Event
	for {
		e := nextPersistent(t, w.pw)
		if e.Type == zk.EventSession {
			continue
		}
		node = append(node, e)
		break
	}
	// A round trip on the watching handle: nothing more was sent.
	_, _, err = c.Get(ctx, w.root)
	require.NoError(t, err)
	for w.pw.Buffered() > 0 {
		if e := nextPersistent(t, w.pw); e.Type != zk.EventSession {
			node = append(node, e)
		}
	}
	require.Equal(t, []zk.Event{ev(zk.EventNodeDataChanged, w.root+"/p"+w.tag)}, node)
}

// requireEphemeral checks that the session's ephemeral is still there, for
// the handle and for another, and (where the server has getEphemerals,
// 3.6.0+; the case get_ephemerals checks its failure elsewhere) that it is
// the session's only one.
func requireEphemeral(t *testing.T, c, other *zk.Conn, v zkVersion, path string) {
	t.Helper()
	for _, h := range []*zk.Conn{c, other} {
		st := mustStat(t, h, path)
		require.Equal(t, c.SessionID(), st.EphemeralOwner)
	}
	if !v.has(since360) {
		return
	}
	eph, err := c.GetEphemerals(testCtx(t), "/")
	require.NoError(t, err)
	require.Equal(t, []string{path}, eph)
}

// TestFailoverKill: kill -9 the member the handle is on, then (with it
// back) the leader. Each time the same session goes on on another member,
// its ephemeral intact, and its watches each fire once for a change made
// after the failover.
func TestFailoverKill(t *testing.T) {
	ens := startEnsemble(t, false)
	v := serverVersion(t, ens, 0)
	if !v.has(since360) {
		requireNoAddWatch(t, ens)
	}
	rec := newRecorder()
	c := dial(t, ens.ConnString(), rec.option(), zk.WithSessionTimeout(8*time.Second))
	ctx := testCtx(t)
	id := c.SessionID()
	root := mkroot(t, c)
	_, err := c.Create(ctx, root+"/e", nil, zk.CreateEphemeral, zk.OpenACL)
	require.NoError(t, err)

	kill := func(victim int, what string) {
		t.Helper()
		w := watchAll(t, c, v, root, what)
		from := c.Server()
		mark := len(rec.snapshot())
		t0 := time.Now()
		ens.Kill(victim)
		lost := rec.waitEvent(t, mark, zk.EventDisconnected)
		back := rec.waitEvent(t, lost, zk.EventSyncConnected)
		t.Logf("%s (member %d, %s) killed: disconnected after %v, connected to %s after %v",
			what, victim, ens.Addr(victim), rec.timeOf(lost).Sub(t0).Round(time.Millisecond),
			rec.snapshot()[back].Server, rec.timeOf(back).Sub(t0).Round(time.Millisecond))
		// On a follower, the handle loses its server when the follower
		// loses the leader; it may come back to it after the election.
		requireMove(t, rec.snapshot(), lost, back, id, from, ens.Addr(victim))
		// The session's watches are registered again before this call's
		// reply.
		_, _, err := c.Get(ctx, root)
		require.NoError(t, err)
		writer := dial(t, liveConnString(ens, victim))
		requireEphemeral(t, c, writer, v, root+"/e")
		w.fire(t, c, writer)
		require.NoError(t, writer.Close())
	}

	first := memberOn(t, ens, c.Server())
	kill(first, "its-member")
	ens.Start(first)
	waitQuorum(t, ens)
	leader := ens.Leader()
	require.GreaterOrEqual(t, leader, 0)
	t.Logf("handle on member %d, leader is member %d", memberOn(t, ens, c.Server()), leader)
	kill(leader, "leader")

	require.NoError(t, c.Close())
	cs := rec.snapshot()
	t.Logf("state sequence (kill -9 of the handle's member, then of the leader):%s", rec.fmtSequence())
	requireStartAndEnd(t, cs, zk.StateClosed, zk.EventClosed)
	require.Equal(t, 2, countEvents(cs, zk.EventDisconnected))
	require.Equal(t, 3, countEvents(cs, zk.EventSyncConnected))
	for _, ch := range cs[1:] {
		require.Equal(t, id, ch.SessionID)
	}
}

// TestFailoverPause: SIGSTOP the member the handle is on. The member keeps
// its sockets and says nothing: the handle notices by its read timeout (2/3
// of the session timeout without a packet) and moves the session to
// another member.
func TestFailoverPause(t *testing.T) {
	ens := startEnsemble(t, false)
	v := serverVersion(t, ens, 0)
	if !v.has(since360) {
		requireNoAddWatch(t, ens)
	}
	leader := ens.Leader()
	require.GreaterOrEqual(t, leader, 0)
	// A handle on a follower, so that no election is needed (a paused
	// leader would also do, only slower). Each handle picks its first
	// server at random: open handles until one is on a follower.
	const sessionTimeout = 6 * time.Second
	ctx := testCtx(t)
	var (
		c   *zk.Conn
		rec *recorder
	)
	for attempt := 1; c == nil; attempt++ {
		require.LessOrEqual(t, attempt, 40, "no handle landed on a follower")
		rec = newRecorder()
		h, err := zk.Connect(ctx, ens.ConnString(), rec.option(), zk.WithSessionTimeout(sessionTimeout))
		require.NoError(t, err)
		if memberOn(t, ens, h.Server()) == leader {
			require.NoError(t, h.Close())
			continue
		}
		c = h
	}
	t.Cleanup(func() { c.Close() })
	follower := memberOn(t, ens, c.Server())
	require.Equal(t, sessionTimeout, c.SessionTimeout())
	id := c.SessionID()
	root := mkroot(t, c)
	_, err := c.Create(ctx, root+"/e", nil, zk.CreateEphemeral, zk.OpenACL)
	require.NoError(t, err)
	w := watchAll(t, c, v, root, "paused")

	t0 := time.Now()
	ens.Pause(follower)
	lost := rec.waitEvent(t, 0, zk.EventDisconnected)
	back := rec.waitEvent(t, lost, zk.EventSyncConnected)
	detected := rec.timeOf(lost).Sub(t0)
	t.Logf("member %d paused: disconnected after %v, connected to %s after %v",
		follower, detected.Round(time.Millisecond), rec.snapshot()[back].Server, rec.timeOf(back).Sub(t0).Round(time.Millisecond))
	cs := rec.snapshot()
	requireMove(t, cs, lost, back, id, ens.Addr(follower), ens.Addr(follower))
	require.ErrorContains(t, cs[lost].Err, "read timeout")
	// The read timeout runs from the last packet, which came at most a
	// ping interval (T/3) before the pause.
	readTimeout := sessionTimeout * 2 / 3
	require.GreaterOrEqual(t, detected, readTimeout-sessionTimeout/3-100*time.Millisecond)
	require.Less(t, detected, readTimeout+2*time.Second)

	_, _, err = c.Get(ctx, root)
	require.NoError(t, err)
	writer := dial(t, liveConnString(ens, follower))
	requireEphemeral(t, c, writer, v, root+"/e")
	w.fire(t, c, writer)
	require.NoError(t, writer.Close())

	ens.Resume(follower)
	require.NoError(t, c.Close())
	cs = rec.snapshot()
	t.Logf("state sequence (SIGSTOP of the handle's member):%s", rec.fmtSequence())
	requireStartAndEnd(t, cs, zk.StateClosed, zk.EventClosed)
	require.Equal(t, 1, countEvents(cs, zk.EventDisconnected))
	require.Equal(t, 2, countEvents(cs, zk.EventSyncConnected))
}

// TestFailoverAllDown: every member killed for longer than the session
// timeout. No server can tell the handle anything: it declares the session
// expired itself, T after the last packet it received, and closes.
func TestFailoverAllDown(t *testing.T) {
	ens := startEnsemble(t, false)
	v := serverVersion(t, ens, 0)
	if !v.has(since360) {
		requireNoAddWatch(t, ens)
	}
	const sessionTimeout = 3 * time.Second
	rec := newRecorder()
	c := dial(t, ens.ConnString(), rec.option(), zk.WithSessionTimeout(sessionTimeout))
	require.Equal(t, sessionTimeout, c.SessionTimeout())
	ctx := testCtx(t)
	root := mkroot(t, c)
	_, _, w, err := c.GetW(ctx, root)
	require.NoError(t, err)
	var pw *zk.PersistentWatch // a recursive watch, where the server has them
	if v.has(since360) {
		pw, err = c.AddWatch(ctx, root, zk.AddWatchModePersistentRecursive)
		require.NoError(t, err)
	}

	// Freeze every member first, so that the handle cannot move to one
	// not yet killed, then kill them all.
	t0 := time.Now()
	for i := range ens.Size() {
		ens.Pause(i)
	}
	for i := range ens.Size() {
		ens.Kill(i)
	}
	cs := rec.waitState(t, zk.StateClosed)
	expired := rec.timeOf(len(cs) - 1).Sub(t0)
	t.Logf("every member killed: session expired by the handle after %v", expired.Round(time.Millisecond))
	t.Logf("state sequence (every member down):%s", rec.fmtSequence())
	requireStartAndEnd(t, cs, zk.StateClosed, zk.EventExpired)
	last := cs[len(cs)-1]
	require.ErrorIs(t, last.Err, zk.ErrSessionExpired)
	require.ErrorContains(t, last.Err, "no server accepted it")
	require.Equal(t, c.SessionID(), last.SessionID)
	require.Equal(t, zk.EventDisconnected, cs[2].Event)
	for _, ch := range cs[3 : len(cs)-1] {
		require.Contains(t, []zk.State{zk.StateConnecting, zk.StateNotConnected}, ch.To, fmtChanges(cs))
		require.Equal(t, zk.EventNone, ch.Event, fmtChanges(cs))
	}
	// Expiry comes T after the last packet, which came at most a ping
	// interval (T/3) before the kill.
	require.GreaterOrEqual(t, expired, sessionTimeout*2/3-100*time.Millisecond)
	require.Less(t, expired, sessionTimeout+2*time.Second)

	_, _, err = c.Get(ctx, root)
	require.ErrorIs(t, err, zk.ErrSessionExpired)
	final := nextEvent(t, w)
	require.Equal(t, zk.EventWatchFailed, final.Type)
	require.ErrorIs(t, final.Err, zk.ErrSessionExpired)
	if pw != nil {
		require.Equal(t, zk.Event{Type: zk.EventSession, State: zk.StateConnecting, Session: zk.EventDisconnected}, nextPersistent(t, pw))
		require.Equal(t, zk.Event{Type: zk.EventSession, State: zk.StateClosed, Session: zk.EventExpired}, nextPersistent(t, pw))
		_, err = pw.Next(ctx)
		require.ErrorIs(t, err, zk.ErrSessionExpired)
	}
}

// TestFailoverReadOnly: with read-only mode, a member cut off from the
// quorum serves reads. A handle that allows it connects there in
// CONNECTED_READ_ONLY: reads work, writes fail with ErrNotReadOnly. When
// the quorum is back, the handle finds a read-write member by itself and
// moves to CONNECTED.
//
// The ensemble writes before the partition, which every release is fine
// with, and 3.5 and 3.6 need. Their read-only server is a new server
// object whose zxid counter starts at 0, not at the member's last zxid:
// the session it opens takes zxid 0x1, applied to the data tree (it
// tracks the session as a global one; ZOOKEEPER-3863, fixed in 3.7.0),
// never logged. The tree's last zxid only moves forward. On an ensemble
// that never wrote, 0x1 is ahead of every member: when the quorum is back,
// a new leader still at 0x0 tells the member to truncate its log to 0x0
// (TRUNC), there is no log to truncate ("No log files found to
// truncate!"), and the member exits with status 13 (2 runs of 5 failed so
// on 3.6.4; without the write, the member came back at 0x1 in 5 runs of 8,
// one of them to that TRUNC). After a write of epoch 1 (zxid 0x100000001)
// the member's last zxid stays ahead of 0x1: it rejoins at that zxid with
// a DIFF, and the client's read-only failover is tested as on 3.7+. Should
// a member exit anyway, waitQuorum fails with its exit status, or the last
// wait for the survivor to rejoin, with its log.
func TestFailoverReadOnly(t *testing.T) {
	ens := startEnsemble(t, true)
	const survivor = 0
	ctx := testCtx(t)
	// A node written through the survivor: the reply comes once the
	// survivor has applied the transaction (logged by a quorum).
	writer := dial(t, ens.Addr(survivor))
	_, err := writer.Create(ctx, "/before", []byte("rw"), zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	require.NoError(t, writer.Close())
	ens.Stop(1)
	ens.Stop(2)
	waitMode(t, ens, survivor, "read-only")

	rec := newRecorder()
	c := dial(t, ens.ConnString(), rec.option(), zk.WithReadOnly(true), zk.WithSessionTimeout(6*time.Second))
	cs := rec.waitState(t, zk.StateConnectedReadOnly)
	roSession := c.SessionID()
	require.Equal(t, ens.Addr(survivor), c.Server())
	require.Equal(t, zk.EventConnectedReadOnly, cs[len(cs)-1].Event)

	_, _, err = c.Get(ctx, "/")
	require.NoError(t, err)
	data, _, err := c.Get(ctx, "/before") // written before the partition
	require.NoError(t, err)
	require.Equal(t, "rw", string(data))
	names, _, err := c.Children(ctx, "/")
	require.NoError(t, err)
	require.Contains(t, names, "zookeeper")
	// Watches set on the read-only server move to the read-write session:
	// one on a node nobody changes meanwhile stays quiet, and fires once
	// the node changes.
	_, _, quiet, err := c.GetW(ctx, "/before")
	require.NoError(t, err)
	_, err = c.Create(ctx, "/ro", nil, zk.CreatePersistent, zk.OpenACL)
	requireCode(t, err, zk.ErrNotReadOnly, "create", "/ro")
	_, err = c.Set(ctx, "/", nil, zk.AnyVersion)
	requireCode(t, err, zk.ErrNotReadOnly, "set", "/")
	require.ErrorIs(t, c.Delete(ctx, "/ro", zk.AnyVersion), zk.ErrNotReadOnly)
	_, err = c.Multi(ctx, &zk.CheckOp{Path: "/", Version: zk.AnyVersion})
	require.ErrorIs(t, err, zk.ErrNotReadOnly)
	require.ErrorIs(t, c.Sync(ctx, "/"), zk.ErrNotReadOnly)

	// A handle that does not allow read-only servers gets no session.
	short, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = zk.Connect(short, ens.Addr(survivor))
	require.ErrorIs(t, err, context.DeadlineExceeded)

	t0 := time.Now()
	ens.Launch(1)
	ens.Launch(2)
	waitQuorum(t, ens)
	t.Logf("quorum back after %v", time.Since(t0).Round(time.Millisecond))
	cs = rec.waitUntil(t, "CONNECTED after the quorum is back", func(cs []zk.StateChange) bool {
		return cs[len(cs)-1].To == zk.StateConnected
	})
	t.Logf("connected read-write after %v (session 0x%x, read-only session was 0x%x)",
		time.Since(t0).Round(time.Millisecond), c.SessionID(), roSession)
	_, err = c.Create(ctx, "/rw", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	data, _, err = c.Get(ctx, "/before")
	require.NoError(t, err)
	require.Equal(t, "rw", string(data))
	// The replies above come after the SetWatches of the new session, and
	// after any event it fired.
	wantPending(t, quiet)
	_, err = c.Set(ctx, "/before", []byte("changed"), zk.AnyVersion)
	require.NoError(t, err)
	wantEvent(t, quiet, zk.EventNodeDataChanged, "/before")
	// The survivor rejoins the quorum (waitQuorum may have counted it as
	// serving while still read-only); a member that exits instead never
	// does, and its log tail says why.
	waitMode(t, ens, survivor, "follower", "leader")

	require.NoError(t, c.Close())
	cs = rec.snapshot()
	t.Logf("state sequence (read-only member, then the quorum back):%s", rec.fmtSequence())
	requireChain(t, cs)
	require.Equal(t, zk.StateNotConnected, cs[0].From)
	first := slices.IndexFunc(cs, func(ch zk.StateChange) bool { return ch.To != zk.StateConnecting && ch.To != zk.StateNotConnected })
	require.Equal(t, zk.StateConnectedReadOnly, cs[first].To, fmtChanges(cs))
	rw := slices.IndexFunc(cs, func(ch zk.StateChange) bool { return ch.To == zk.StateConnected })
	require.Greater(t, rw, first)
	require.Equal(t, zk.EventSyncConnected, cs[rw].Event)
	for _, ch := range cs[first+1 : rw] {
		require.Contains(t, []zk.State{zk.StateConnecting, zk.StateNotConnected, zk.StateConnectedReadOnly}, ch.To, fmtChanges(cs))
	}
	// A read-only session is local to its server: the read-write one is
	// new.
	require.NotEqual(t, roSession, cs[rw].SessionID)
	require.NotZero(t, cs[rw].SessionID)
	last := cs[len(cs)-1]
	require.Equal(t, zk.StateClosed, last.To)
	require.Equal(t, zk.EventClosed, last.Event)
}

func countEvents(cs []zk.StateChange, ev zk.SessionEvent) int {
	n := 0
	for _, ch := range cs {
		if ch.Event == ev {
			n++
		}
	}
	return n
}

// waitQuorum waits until every running member serves and one leads.
func waitQuorum(t *testing.T, ens *realzk.Ensemble) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	require.NoError(t, ens.WaitQuorum(ctx))
}

// waitMode polls a member's mode until it is one of want: no event tells
// when a member changes mode, so this polls, with a bound.
func waitMode(t *testing.T, ens *realzk.Ensemble, i int, want ...string) {
	t.Helper()
	deadline := time.Now().Add(waitTime)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		mode := ens.Mode(i)
		if slices.Contains(want, mode) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("member %d is %q, not %q, after %v\n%s", i, mode, want, waitTime, ens.LogTail(i, 30))
		}
		<-tick.C
	}
}
