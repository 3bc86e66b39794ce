package conformance

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/realzk"
)

// Client bugs found by the suite against real servers, now fixed; each
// test keeps its case.

// startReconfigurable starts one real server that runs as a quorum of one
// with reconfig enabled and ACL checks off (reconfig needs ADMIN on the
// config node otherwise).
func startReconfigurable(t *testing.T) (*realzk.Ensemble, *zk.Conn, []string) {
	t.Helper()
	ens := realzk.Start(t, realzk.Options{Members: 1, Reconfig: true, JVMFlags: []string{"-Dzookeeper.skipACL=yes"}})
	c := dial(t, ens.ConnString())
	data, _, err := c.GetConfig(testCtx(t))
	require.NoError(t, err)
	var members []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "server.") {
			members = append(members, l)
		}
	}
	require.NotEmpty(t, members, "configuration %q", data)
	return ens, c, members
}

// TestClientReconfigIncremental: an incremental reconfig (joining or
// leaving servers) always fails with ErrMarshallingError. Reconfig encodes
// the arguments it was not given as empty strings; the server tells the
// kinds of reconfig apart by null (PrepRequestProcessor: newMembers !=
// null means a non-incremental one), so it takes "" for an empty member
// list, which it cannot parse.
func TestClientReconfigIncremental(t *testing.T) {
	_, c, members := startReconfigurable(t)
	ctx := testCtx(t)
	const observer = "server.2=127.0.0.1:40001:40002:observer;127.0.0.1:40003"
	data, _, err := c.Reconfig(ctx, observer, "", "", -1)
	require.NoError(t, err, "join an observer")
	require.Contains(t, string(data), observer)
	data, _, err = c.Reconfig(ctx, "", "2", "", -1)
	require.NoError(t, err, "remove it")
	require.NotContains(t, string(data), "server.2=")
	// A non-incremental one works today.
	_, _, err = c.Reconfig(ctx, "", "", strings.Join(members, ","), -1)
	require.NoError(t, err)
}

// TestClientPersistentConfigWatchSurvivesGetConfigW: GetConfigW is the one
// one-shot watch that still goes to the server where the handle has a
// persistent watch on the same path (get, exists and children keep such
// watches local, see TestPersistentWatchSurvivesOneShot). On a 3.6–3.8
// server it replaces the persistent watch on /zookeeper/config, which then
// stops after one configuration change. (3.5 has no persistent watches:
// there the one-shot watch alone fires, once.)
func TestClientPersistentConfigWatchSurvivesGetConfigW(t *testing.T) {
	ens, c, members := startReconfigurable(t)
	ctx := testCtx(t)
	var pw *zk.PersistentWatch
	if serverVersion(t, ens, 0).has(since360) {
		var err error
		pw, err = c.AddWatch(ctx, zk.ConfigPath, zk.AddWatchModePersistent)
		require.NoError(t, err)
	} else {
		requireUnimplemented(t, c, since360, func() error {
			_, err := c.AddWatch(ctx, zk.ConfigPath, zk.AddWatchModePersistent)
			return err
		})
	}
	_, _, w, err := c.GetConfigW(ctx)
	require.NoError(t, err)
	// Each reconfig makes a new version, and changes the config node (a
	// 3.8 leader writes it twice: with the change, and at its activation).
	for i := range 3 {
		_, _, err = c.Reconfig(ctx, "", "", strings.Join(members, ","), -1)
		require.NoError(t, err)
		// The change's event came before the reply.
		if pw != nil {
			require.Positive(t, pw.Buffered(), "no event for reconfig %d", i)
		}
		_, _, err = c.Get(ctx, "/") // a round trip: the events sent have arrived
		require.NoError(t, err)
		for pw != nil && pw.Buffered() > 0 {
			require.Equal(t, ev(zk.EventNodeDataChanged, zk.ConfigPath), nextPersistent(t, pw))
		}
		if i == 0 {
			wantEventNow(t, w, zk.EventNodeDataChanged, zk.ConfigPath)
		}
	}
}
