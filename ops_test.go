package zk_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/proto"
	"github.com/zkgo/zk/internal/testserver"
)

func TestBasicOperations(t *testing.T) {
	srv := startServer(t, 1)
	c := connect(t, srv.ConnString())
	ctx := testCtx(t)

	p, st, err := c.CreateStat(ctx, "/a", []byte("one"), zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	require.Equal(t, "/a", p)
	require.Equal(t, int32(0), st.Version)
	require.Equal(t, int32(3), st.DataLength)
	require.Equal(t, st.Czxid, st.Mzxid)

	data, st2, err := c.Get(ctx, "/a")
	require.NoError(t, err)
	require.Equal(t, "one", string(data))
	require.Equal(t, *st, *st2)

	st3, err := c.Set(ctx, "/a", []byte("two"), st2.Version)
	require.NoError(t, err)
	require.Equal(t, int32(1), st3.Version)
	require.Greater(t, st3.Mzxid, st2.Mzxid)

	_, err = c.Set(ctx, "/a", []byte("three"), 0)
	require.ErrorIs(t, err, zk.ErrBadVersion)
	var oe *zk.OpError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "set", oe.Op)
	require.Equal(t, "/a", oe.Path)
	require.Equal(t, "zk: set /a: version conflict", err.Error())

	ok, est, err := c.Exists(ctx, "/a")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int32(1), est.Version)
	ok, est, err = c.Exists(ctx, "/none")
	require.NoError(t, err)
	require.False(t, ok)
	require.Nil(t, est)

	_, err = c.Create(ctx, "/a", nil, zk.CreatePersistent, zk.OpenACL)
	require.ErrorIs(t, err, zk.ErrNodeExists)
	_, err = c.Create(ctx, "/x/y", nil, zk.CreatePersistent, zk.OpenACL)
	require.ErrorIs(t, err, zk.ErrNoNode)

	_, err = c.Create(ctx, "/a/k1", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	_, err = c.Create(ctx, "/a/k2", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	kids, pst, err := c.Children(ctx, "/a")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"k1", "k2"}, kids)
	require.Equal(t, int32(2), pst.NumChildren)
	require.Equal(t, int32(2), pst.Cversion)

	require.ErrorIs(t, c.Delete(ctx, "/a", zk.AnyVersion), zk.ErrNotEmpty)
	require.NoError(t, c.Delete(ctx, "/a/k1", 0))
	require.ErrorIs(t, c.Delete(ctx, "/a/k1", zk.AnyVersion), zk.ErrNoNode)
	require.NoError(t, c.Sync(ctx, "/a"))

	// Null data stays null, empty stays empty.
	_, err = c.Create(ctx, "/null", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	data, _, err = c.Get(ctx, "/null")
	require.NoError(t, err)
	require.Nil(t, data)
	_, err = c.Create(ctx, "/empty", []byte{}, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	data, _, err = c.Get(ctx, "/empty")
	require.NoError(t, err)
	require.NotNil(t, data)
	require.Len(t, data, 0)
}

func TestCreateModes(t *testing.T) {
	srv := startServer(t, 1, testserver.WithExtendedTypes(true))
	c := connect(t, srv.ConnString())
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/q", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)

	p0, err := c.Create(ctx, "/q/n-", nil, zk.CreatePersistentSequential, zk.OpenACL)
	require.NoError(t, err)
	require.Equal(t, "/q/n-0000000000", p0)
	p1, err := c.Create(ctx, "/q/e-", nil, zk.CreateEphemeralSequential, zk.OpenACL)
	require.NoError(t, err)
	require.Equal(t, "/q/e-0000000001", p1)
	_, st, err := c.Get(ctx, p1)
	require.NoError(t, err)
	require.Equal(t, c.SessionID(), st.EphemeralOwner)
	_, err = c.Create(ctx, p1+"/child", nil, zk.CreatePersistent, zk.OpenACL)
	require.ErrorIs(t, err, zk.ErrNoChildrenForEphemerals)

	p, cst, err := c.CreateStat(ctx, "/box", nil, zk.CreateContainer, zk.OpenACL)
	require.NoError(t, err)
	require.Equal(t, "/box", p)
	require.NotNil(t, cst)

	p, tst, err := c.CreateTTL(ctx, "/ttl", []byte("t"), zk.CreatePersistentTTL, zk.OpenACL, time.Hour)
	require.NoError(t, err)
	require.Equal(t, "/ttl", p)
	require.Equal(t, int32(1), tst.DataLength)
	p, _, err = c.CreateTTL(ctx, "/ttls-", nil, zk.CreatePersistentSequentialTTL, zk.OpenACL, time.Hour)
	require.NoError(t, err)
	require.Regexp(t, `^/ttls-\d{10}$`, p)
}

func TestSequentialSuffixCountsCreatesNotCversion(t *testing.T) {
	srv := startServer(t, 1)
	c := connect(t, srv.ConnString())
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/s", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	a, _ := c.Create(ctx, "/s/x", nil, zk.CreatePersistentSequential, zk.OpenACL)
	b, _ := c.Create(ctx, "/s/x", nil, zk.CreatePersistentSequential, zk.OpenACL)
	require.NoError(t, c.Delete(ctx, a, -1))
	require.NoError(t, c.Delete(ctx, b, -1))
	_, st, err := c.Get(ctx, "/s")
	require.NoError(t, err)
	require.Equal(t, int32(4), st.Cversion)
	third, err := c.Create(ctx, "/s/x", nil, zk.CreatePersistentSequential, zk.OpenACL)
	require.NoError(t, err)
	require.Equal(t, "/s/x0000000002", third)
}

func TestInvalidArgumentsNoIO(t *testing.T) {
	srv := startServer(t, 1)
	c := connect(t, srv.ConnString())
	ctx := testCtx(t)
	before := srv.Zxid()
	big := make([]byte, 1<<20)
	cases := []struct {
		name string
		err  error
		call func() error
	}{
		{"relative path", zk.ErrInvalidPath, func() error { _, err := c.Create(ctx, "a", nil, 0, zk.OpenACL); return err }},
		{"trailing slash", zk.ErrInvalidPath, func() error { _, _, err := c.Get(ctx, "/a/"); return err }},
		{"empty path", zk.ErrInvalidPath, func() error { return c.Delete(ctx, "", -1) }},
		{"dot component", zk.ErrInvalidPath, func() error { _, err := c.Set(ctx, "/a/./b", nil, -1); return err }},
		{"nul", zk.ErrInvalidPath, func() error { _, _, err := c.Exists(ctx, "/a\x00"); return err }},
		{"bad version", zk.ErrInvalidArgument, func() error { return c.Delete(ctx, "/a", -2) }},
		{"bad mode", zk.ErrInvalidArgument, func() error { _, err := c.Create(ctx, "/a", nil, 7, zk.OpenACL); return err }},
		{"ttl without ttl mode", zk.ErrInvalidArgument, func() error {
			_, _, err := c.CreateTTL(ctx, "/a", nil, zk.CreatePersistent, zk.OpenACL, time.Second)
			return err
		}},
		{"ttl mode without ttl", zk.ErrInvalidArgument, func() error { _, err := c.Create(ctx, "/a", nil, zk.CreatePersistentTTL, zk.OpenACL); return err }},
		{"empty acl", zk.ErrInvalidACL, func() error { _, err := c.Create(ctx, "/a", nil, 0, nil); return err }},
		{"bad perms", zk.ErrInvalidACL, func() error { _, err := c.Create(ctx, "/a", nil, 0, zk.WorldACL(64)); return err }},
		{"too large", zk.ErrTooLarge, func() error { _, err := c.Create(ctx, "/a", big, 0, zk.OpenACL); return err }},
		{"nil context", zk.ErrInvalidArgument, func() error {
			var nilCtx context.Context
			_, _, err := c.Get(nilCtx, "/")
			return err
		}},
		{"nil multi op", zk.ErrInvalidArgument, func() error { _, err := c.Multi(ctx, nil); return err }},
		{"bad multi path", zk.ErrInvalidPath, func() error { _, err := c.Multi(ctx, zk.DeleteOp{Path: "x", Version: -1}); return err }},
		{"empty scheme", zk.ErrInvalidArgument, func() error { return c.AddAuth(ctx, "", nil) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			require.ErrorIs(t, err, tc.err)
			require.True(t, len(err.Error()) > 4 && err.Error()[:4] == "zk: ", err.Error())
		})
	}
	require.Equal(t, before, srv.Zxid(), "nothing reached the server")
	require.Equal(t, zk.StateConnected, c.State())
	// Data just under the limit goes through.
	_, err := c.Create(ctx, "/big", big[:1<<20-200], zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
}

func TestMulti(t *testing.T) {
	srv := startServer(t, 1)
	c := connect(t, srv.ConnString())
	ctx := testCtx(t)
	res, err := c.Multi(ctx,
		zk.CreateOp{Path: "/m", Data: []byte("1"), ACL: zk.OpenACL},
		&zk.CreateOp{Path: "/m/s-", Mode: zk.CreatePersistentSequential, ACL: zk.OpenACL},
		zk.SetDataOp{Path: "/m", Data: []byte("2"), Version: 0},
		zk.CheckOp{Path: "/m", Version: 1},
	)
	require.NoError(t, err)
	require.Len(t, res, 4)
	require.Equal(t, "/m", res[0].Path)
	require.Equal(t, "/m/s-0000000000", res[1].Path)
	require.Equal(t, int32(1), res[2].Stat.Version)
	for _, r := range res {
		require.NoError(t, r.Err)
	}

	before := srv.Zxid()
	res, err = c.Multi(ctx,
		zk.SetDataOp{Path: "/m", Data: []byte("3"), Version: -1},
		zk.CreateOp{Path: "/m", ACL: zk.OpenACL},
		zk.DeleteOp{Path: "/m/s-0000000000", Version: -1},
	)
	require.ErrorIs(t, err, zk.ErrNodeExists)
	var oe *zk.OpError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "/m", oe.Path)
	require.Len(t, res, 3)
	require.NoError(t, res[0].Err)
	require.ErrorIs(t, res[1].Err, zk.ErrNodeExists)
	require.ErrorIs(t, res[2].Err, zk.ErrRuntimeInconsistency)
	data, _, err := c.Get(ctx, "/m")
	require.NoError(t, err)
	require.Equal(t, "2", string(data), "nothing of the failed multi was applied")
	_ = before

	res, err = c.Multi(ctx)
	require.NoError(t, err)
	require.Nil(t, res)
}

func TestChrootEverywhere(t *testing.T) {
	srv := startServer(t, 1)
	root := connect(t, srv.ConnString())
	ctx := testCtx(t)
	_, err := root.Create(ctx, "/app", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	c := connect(t, srv.ConnString()+"/app")

	p, err := c.Create(ctx, "/n-", []byte("x"), zk.CreatePersistentSequential, zk.OpenACL)
	require.NoError(t, err)
	require.Equal(t, "/n-0000000000", p)
	_, _, err = root.Get(ctx, "/app/n-0000000000")
	require.NoError(t, err)

	kids, _, err := c.Children(ctx, "/")
	require.NoError(t, err)
	require.Equal(t, []string{"n-0000000000"}, kids)

	res, err := c.Multi(ctx, zk.CreateOp{Path: "/m", ACL: zk.OpenACL}, zk.CreateOp{Path: "/m/s-", Mode: zk.CreatePersistentSequential, ACL: zk.OpenACL})
	require.NoError(t, err)
	require.Equal(t, "/m", res[0].Path)
	require.Equal(t, "/m/s-0000000000", res[1].Path)

	_, _, w, err := c.GetW(ctx, "/m")
	require.NoError(t, err)
	_, _, cw, err := c.ChildrenW(ctx, "/")
	require.NoError(t, err)
	_, err = root.Set(ctx, "/app/m", []byte("y"), -1)
	require.NoError(t, err)
	ev := awaitEvent(t, w)
	require.Equal(t, zk.Event{Type: zk.EventNodeDataChanged, Path: "/m"}, ev)
	_, err = root.Create(ctx, "/app/new", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	ev = awaitEvent(t, cw)
	require.Equal(t, zk.Event{Type: zk.EventNodeChildrenChanged, Path: "/"}, ev)

	_, _, err = c.Get(ctx, "/missing")
	require.EqualError(t, err, "zk: get /missing: node does not exist")
}

func TestFailNextInjectedError(t *testing.T) {
	srv := startServer(t, 1)
	c := connect(t, srv.ConnString())
	ctx := testCtx(t)
	srv.FailNext(proto.OpGetData, proto.ErrThrottledOp)
	_, _, err := c.Get(ctx, "/")
	require.ErrorIs(t, err, zk.ErrThrottled)
	require.True(t, zk.IsRetryable(err))
	_, _, err = c.Get(ctx, "/")
	require.NoError(t, err)
	require.False(t, zk.IsRetryable(zk.ErrNoNode))
	require.True(t, zk.IsRetryable(fmt.Errorf("wrapped: %w", zk.ErrConnectionLoss)))
}

func TestPipelinedRequestsKeepOrder(t *testing.T) {
	srv := startServer(t, 1)
	c := connect(t, srv.ConnString())
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/p", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	const n = 64
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			for j := 0; j < 50; j++ {
				want := []byte(fmt.Sprintf("%d-%d", i, j))
				p := fmt.Sprintf("/p/%d-%d", i, j)
				if _, err := c.Create(ctx, p, want, zk.CreatePersistent, zk.OpenACL); err != nil {
					errs <- err
					return
				}
				got, _, err := c.Get(ctx, p)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, want) {
					errs <- errors.New("reply matched to the wrong request: " + string(got) + " for " + string(want))
					return
				}
			}
			errs <- nil
		}(i)
	}
	for i := 0; i < n; i++ {
		require.NoError(t, <-errs)
	}
}

// A reply above the frame limit fails its own call with ErrReplyTooLarge;
// the connection, the session and the calls in flight beside it go on.
func TestReplyAboveFrameLimitFailsOnlyItsCall(t *testing.T) {
	srv := startServer(t, 1)
	rec := newRecorder()
	c := connect(t, srv.ConnString(), zk.WithMaxFrameSize(1024), rec.option())
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/big", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	for i := range 100 {
		_, err := c.Create(ctx, fmt.Sprintf("/big/child-with-a-long-name-%03d", i), []byte("v"), zk.CreatePersistent, zk.OpenACL)
		require.NoError(t, err)
	}
	id := c.SessionID()
	before := len(rec.waitLen(t, 2)) // the connect's changes may reach the listener after Connect returns

	// Gets in flight on both sides of the oversized reply.
	const n = 32
	errs := make(chan error, 2*n)
	for range n {
		go func() {
			data, _, err := c.Get(ctx, "/big/child-with-a-long-name-007")
			if err == nil && string(data) != "v" {
				err = fmt.Errorf("get returned %q", data)
			}
			errs <- err
		}()
	}
	_, _, err = c.Children(ctx, "/big")
	require.ErrorIs(t, err, zk.ErrReplyTooLarge)
	require.ErrorContains(t, err, "zk: children /big: reply of ")
	require.ErrorContains(t, err, "is above the frame limit of 1024 bytes")
	require.False(t, zk.IsRetryable(err))
	for range n {
		go func() {
			_, _, err := c.Exists(ctx, "/big")
			errs <- err
		}()
	}
	for range 2 * n {
		require.NoError(t, <-errs)
	}
	// A second oversized reply, then a small one, on the same connection.
	_, _, err = c.Children(ctx, "/big")
	require.ErrorIs(t, err, zk.ErrReplyTooLarge)
	_, st, err := c.Exists(ctx, "/big")
	require.NoError(t, err)
	require.EqualValues(t, 100, st.NumChildren)
	require.Equal(t, id, c.SessionID())
	require.Equal(t, zk.StateConnected, c.State())
	require.Len(t, rec.snapshot(), before, "no state change: the connection was kept (%s)", fmtChanges(rec.snapshot()))
}
