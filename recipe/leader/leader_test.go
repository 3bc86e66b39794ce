package leader_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/testserver"
	"github.com/zkgo/zk/recipe/internal/recipetest"
	"github.com/zkgo/zk/recipe/leader"
)

// waitTime bounds every wait for an event: reaching it is a failure, not a
// measurement.
const waitTime = 20 * time.Second

const dir = "/election"

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	t.Cleanup(cancel)
	return ctx
}

func connect(t testing.TB, srv *testserver.Server, opts ...zk.Option) *zk.Conn {
	t.Helper()
	conn, err := zk.Connect(testCtx(t), srv.ConnString(), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// recv waits for a value from ch.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(waitTime)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// running is a candidate whose Run goes on in the background; its lead
// function reports each leadership's Term and the cause of its end.
type running struct {
	conn   *zk.Conn
	cand   *leader.Candidate
	gained chan leader.Term
	lost   chan error
	cancel context.CancelFunc
	exited chan struct{}
	err    error // Run's result, once exited is closed
}

func startCandidate(t testing.TB, conn *zk.Conn, cfg leader.Config, setup func(*leader.Candidate)) *running {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = dir
	}
	cand, err := leader.New(conn, cfg)
	require.NoError(t, err)
	if setup != nil {
		setup(cand)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{
		conn:   conn,
		cand:   cand,
		gained: make(chan leader.Term, 64),
		lost:   make(chan error, 64),
		cancel: cancel,
		exited: make(chan struct{}),
	}
	go func() {
		defer close(r.exited)
		r.err = cand.Run(ctx, func(ctx context.Context) error {
			term, ok := leader.TermFrom(ctx)
			if !ok {
				t.Error("lead context without a Term")
			}
			r.gained <- term
			<-ctx.Done()
			r.lost <- context.Cause(ctx)
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-r.exited })
	return r
}

// startQueued starts a candidate and waits until it watches a predecessor:
// it is queued behind the candidates started before it.
func startQueued(t testing.TB, conn *zk.Conn, cfg leader.Config) *running {
	t.Helper()
	watching := make(chan string, 16)
	r := startCandidate(t, conn, cfg, func(c *leader.Candidate) {
		leader.SetHooks(c, func(path string) { watching <- path }, nil, nil)
	})
	recv(t, watching, "the candidate to queue")
	return r
}

// wait waits for Run to return and returns its error.
func (r *running) wait(t testing.TB) error {
	t.Helper()
	recv(t, r.exited, "Run to return")
	return r.err
}

// stop resigns: Run's context ends.
func (r *running) stop(t testing.TB) error {
	t.Helper()
	r.cancel()
	return r.wait(t)
}

// children lists dir on the server, for assertions.
func children(srv *testserver.Server) []string {
	names, _ := srv.Children(dir)
	return names
}

var nodeName = regexp.MustCompile(`^_c_[0-9a-f]{32}-n_[0-9]{10}$`)

func TestSingleCandidateLeads(t *testing.T) {
	srv := testserver.Start(t)
	conn := connect(t, srv)
	var gained, lost int
	var mu sync.Mutex
	r := startCandidate(t, conn, leader.Config{
		ID:       []byte("host-a"),
		OnGained: func() { mu.Lock(); gained++; mu.Unlock() },
		OnLost:   func(error) { mu.Lock(); lost++; mu.Unlock() },
	}, nil)
	term := recv(t, r.gained, "leadership")

	require.True(t, strings.HasPrefix(term.Path, dir+"/"), term.Path)
	require.Regexp(t, nodeName, strings.TrimPrefix(term.Path, dir+"/"))
	require.Equal(t, conn.SessionID(), term.SessionID)
	data, st, ok := srv.Get(term.Path)
	require.True(t, ok)
	require.Equal(t, "host-a", string(data))
	require.Equal(t, conn.SessionID(), st.EphemeralOwner)
	require.Equal(t, st.Czxid, term.Czxid)
	require.True(t, r.cand.Leading())

	id, err := r.cand.Current(testCtx(t))
	require.NoError(t, err)
	require.Equal(t, "host-a", string(id))

	require.ErrorIs(t, r.stop(t), context.Canceled)
	require.ErrorIs(t, recv(t, r.lost, "the end of leadership"), context.Canceled)
	require.Empty(t, children(srv), "Run resigns on its way out")
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 1, gained)
	require.Equal(t, 1, lost)
}

func TestTakeoverWhenLeaderSessionExpires(t *testing.T) {
	srv := testserver.Start(t)
	c1, c2 := connect(t, srv), connect(t, srv)
	r1 := startCandidate(t, c1, leader.Config{ID: []byte("one")}, nil)
	t1 := recv(t, r1.gained, "first leader")
	r2 := startQueued(t, c2, leader.Config{ID: []byte("two")})

	require.True(t, srv.ExpireSession(c1.SessionID()))
	// The server drops the connection before it deletes the ephemerals, so
	// the client hears of the disconnection first.
	cause := recv(t, r1.lost, "the first leader's loss")
	require.True(t, errors.Is(cause, leader.ErrDisconnected) || errors.Is(cause, zk.ErrSessionExpired), "%v", cause)
	t2 := recv(t, r2.gained, "second leader")
	require.Greater(t, t2.Czxid, t1.Czxid, "the fencing token grows")
	require.ErrorIs(t, r1.wait(t), zk.ErrSessionExpired)
	require.True(t, strings.HasPrefix(r1.err.Error(), "leader: "), r1.err.Error())
}

func TestTakeoverWhenLeaderCloses(t *testing.T) {
	srv := testserver.Start(t)
	c1, c2 := connect(t, srv), connect(t, srv)
	r1 := startCandidate(t, c1, leader.Config{}, nil)
	recv(t, r1.gained, "first leader")
	r2 := startQueued(t, c2, leader.Config{})

	c1.Close()
	// closeSession deletes the node, and the client hears of that before
	// the reply that ends the handle.
	cause := recv(t, r1.lost, "the first leader's loss")
	require.True(t, errors.Is(cause, zk.ErrClosed) || errors.Is(cause, leader.ErrNodeDeleted), "%v", cause)
	recv(t, r2.gained, "second leader")
	require.ErrorIs(t, r1.wait(t), zk.ErrClosed)
}

// Each candidate watches only its predecessor: when the leader resigns,
// only the next candidate wakes up; when a candidate in the middle goes,
// only the one behind it does.
func TestHerdFree(t *testing.T) {
	srv := testserver.Start(t)
	const n = 4
	type probe struct {
		mu      sync.Mutex
		watched []string
		wakes   int
		set     chan string // every watch set
	}
	probes := make([]*probe, n)
	runs := make([]*running, n)
	for i := range n {
		p := &probe{set: make(chan string, 16)}
		probes[i] = p
		runs[i] = startCandidate(t, connect(t, srv), leader.Config{ID: []byte{byte('a' + i)}}, func(c *leader.Candidate) {
			leader.SetHooks(c,
				func(path string) {
					p.mu.Lock()
					p.watched = append(p.watched, path)
					p.mu.Unlock()
					p.set <- path
				},
				func(zk.Event) { p.mu.Lock(); p.wakes++; p.mu.Unlock() },
				nil)
		})
		if i == 0 {
			recv(t, runs[0].gained, "leader")
		} else {
			recv(t, p.set, fmt.Sprintf("candidate %d to watch", i))
		}
	}
	nodes := children(srv)
	require.Len(t, nodes, n)
	byPrefix := func(i int) string {
		for _, name := range nodes {
			if strings.HasPrefix(name, leader.Prefix(runs[i].cand)) {
				return dir + "/" + name
			}
		}
		t.Fatalf("no node for candidate %d", i)
		return ""
	}
	for i := 1; i < n; i++ {
		probes[i].mu.Lock()
		require.Equal(t, []string{byPrefix(i - 1)}, probes[i].watched, "candidate %d watches its predecessor only", i)
		probes[i].mu.Unlock()
	}
	snapshot := func() (wakes []int, watches []int) {
		for _, p := range probes {
			p.mu.Lock()
			wakes = append(wakes, p.wakes)
			watches = append(watches, len(p.watched))
			p.mu.Unlock()
		}
		return
	}
	// barrier makes sure every notification sent so far has reached the
	// clients: the server sends a connection's events before its replies.
	barrier := func() {
		for _, r := range runs {
			if r.conn.State() == zk.StateConnected {
				require.NoError(t, r.conn.Sync(testCtx(t), "/"))
			}
		}
	}

	// The leader resigns: only candidate 1 wakes, and leads.
	require.ErrorIs(t, runs[0].stop(t), context.Canceled)
	recv(t, runs[1].gained, "candidate 1 to lead")
	barrier()
	wakes, watches := snapshot()
	require.Equal(t, []int{0, 1, 0, 0}, wakes)
	require.Equal(t, []int{0, 1, 1, 1}, watches)

	// Candidate 2 (in the middle) goes: only candidate 3 wakes, and now
	// watches candidate 1.
	p1 := byPrefix(1)
	require.ErrorIs(t, runs[2].stop(t), context.Canceled)
	require.Equal(t, p1, recv(t, probes[3].set, "candidate 3 to watch again"))
	barrier()
	wakes, watches = snapshot()
	require.Equal(t, []int{0, 1, 0, 1}, wakes)
	require.Equal(t, []int{0, 1, 1, 2}, watches)
	require.True(t, runs[1].cand.Leading())
}

// A create whose reply is lost with the connection is found again by the
// candidate's prefix instead of being made twice.
func TestLostCreateReplyRecovered(t *testing.T) {
	srv := testserver.Start(t)
	setup := connect(t, srv)
	_, err := setup.Create(testCtx(t), dir, nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)

	net := recipetest.NewNet()
	conn := connect(t, srv, zk.WithDialer(net.Dial))
	dropped := net.ArmCreateReplyDrop()
	recovered := make(chan string, 4)
	r := startCandidate(t, conn, leader.Config{}, func(c *leader.Candidate) {
		leader.SetHooks(c, nil, nil, func(path string) { recovered <- path })
	})
	recv(t, dropped, "the create's reply to be dropped")
	path := recv(t, recovered, "the node to be found by its prefix")
	term := recv(t, r.gained, "leadership")
	require.Equal(t, path, term.Path)
	require.Len(t, children(srv), 1, "one node, not two")
	require.Equal(t, []string{term.Path}, srv.Ephemerals(conn.SessionID()))
}

// When a create was repeated after a lost reply and both went through,
// the candidate keeps its lowest node and deletes the other.
func TestDuplicateNodeRemoved(t *testing.T) {
	srv := testserver.Start(t)
	conn := connect(t, srv)
	_, err := conn.Create(testCtx(t), dir, nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	var first string
	r := startCandidate(t, conn, leader.Config{}, func(c *leader.Candidate) {
		// As if an earlier attempt had gone through unseen.
		first, err = conn.Create(testCtx(t), dir+"/"+leader.Prefix(c), nil, zk.CreateEphemeralSequential, zk.OpenACL)
		require.NoError(t, err)
	})
	term := recv(t, r.gained, "leadership")
	require.Equal(t, first, term.Path, "the lower node is kept")
	require.Equal(t, []string{strings.TrimPrefix(first, dir+"/")}, children(srv), "the later one is deleted")
}

func TestDisconnectCancelsThenLeadsAgain(t *testing.T) {
	srv := testserver.Start(t)
	conn := connect(t, srv)
	r := startCandidate(t, conn, leader.Config{}, nil)
	t1 := recv(t, r.gained, "leadership")
	srv.DropConnections()
	require.ErrorIs(t, recv(t, r.lost, "leadership to be in doubt"), leader.ErrDisconnected)
	t2 := recv(t, r.gained, "leadership again after the reconnect")
	require.Equal(t, t1, t2, "same node, same session")
}

func TestKeepOnDisconnect(t *testing.T) {
	srv := testserver.Start(t)
	reconnected := make(chan struct{}, 4)
	conn := connect(t, srv, zk.WithStateListener(func(c zk.StateChange) {
		if c.From == zk.StateConnecting && c.To == zk.StateConnected {
			reconnected <- struct{}{}
		}
	}))
	recv(t, reconnected, "the first connection")
	r := startCandidate(t, conn, leader.Config{KeepOnDisconnect: true}, nil)
	recv(t, r.gained, "leadership")

	srv.DropConnections()
	recv(t, reconnected, "the reconnection")
	require.NoError(t, conn.Sync(testCtx(t), "/"))
	select {
	case cause := <-r.lost:
		t.Fatalf("leadership lost on a disconnection: %v", cause)
	default:
	}
	require.True(t, r.cand.Leading())

	srv.ExpireSession(conn.SessionID())
	require.ErrorIs(t, recv(t, r.lost, "leadership to end with the session"), zk.ErrSessionExpired)
	require.ErrorIs(t, r.wait(t), zk.ErrSessionExpired)
}

func TestNodeDeletedEndsLeadership(t *testing.T) {
	srv := testserver.Start(t)
	conn, admin := connect(t, srv), connect(t, srv)
	r := startCandidate(t, conn, leader.Config{}, nil)
	t1 := recv(t, r.gained, "leadership")
	require.NoError(t, admin.Delete(testCtx(t), t1.Path, zk.AnyVersion))
	require.ErrorIs(t, recv(t, r.lost, "leadership to end"), leader.ErrNodeDeleted)
	t2 := recv(t, r.gained, "leadership with a new node")
	require.NotEqual(t, t1.Path, t2.Path)
	require.Greater(t, t2.Czxid, t1.Czxid)
}

func TestLeadReturningResigns(t *testing.T) {
	srv := testserver.Start(t)
	c1, c2 := connect(t, srv), connect(t, srv)
	r2 := startCandidate(t, c2, leader.Config{}, nil)
	recv(t, r2.gained, "the other candidate to lead first")

	done := errors.New("work done")
	var lost error
	cand2, err := leader.New(c1, leader.Config{Dir: dir, OnLost: func(err error) { lost = err }})
	require.NoError(t, err)
	watching := make(chan string, 4)
	leader.SetHooks(cand2, func(path string) { watching <- path }, nil, nil)
	errc := make(chan error, 1)
	go func() { errc <- cand2.Run(context.Background(), func(ctx context.Context) error { return done }) }()
	recv(t, watching, "the candidate to queue")
	require.ErrorIs(t, r2.stop(t), context.Canceled) // hand over
	require.ErrorIs(t, recv(t, errc, "Run to return lead's error"), done)
	require.ErrorIs(t, lost, leader.ErrResigned)
	require.Empty(t, children(srv), "the candidate resigned")
}

func TestCurrentAndParticipants(t *testing.T) {
	srv := testserver.Start(t)
	conn := connect(t, srv)
	ctx := testCtx(t)
	_, err := leader.Current(ctx, conn, dir)
	require.ErrorIs(t, err, leader.ErrNoLeader, "no directory yet")

	runs := []*running{startCandidate(t, connect(t, srv), leader.Config{ID: []byte("a")}, nil)}
	recv(t, runs[0].gained, "a to lead")
	for _, id := range []string{"b", "c"} {
		runs = append(runs, startQueued(t, connect(t, srv), leader.Config{ID: []byte(id)}))
	}
	id, err := leader.Current(ctx, conn, dir)
	require.NoError(t, err)
	require.Equal(t, "a", string(id))
	ids, err := runs[2].cand.Participants(ctx)
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("a"), []byte("b"), []byte("c")}, ids)

	for _, r := range runs {
		r.stop(t)
	}
	_, err = leader.Current(ctx, conn, dir)
	require.ErrorIs(t, err, leader.ErrNoLeader)
}

// The Term fences writes: a Multi that checks the leader's node fails once
// leadership is gone.
func TestTermFencesWrites(t *testing.T) {
	srv := testserver.Start(t)
	c1, c2 := connect(t, srv), connect(t, srv)
	ctx := testCtx(t)
	_, err := c2.Create(ctx, "/resource", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	r1 := startCandidate(t, c1, leader.Config{}, nil)
	term := recv(t, r1.gained, "leadership")
	fenced := func(conn *zk.Conn, term leader.Term, data string) error {
		_, err := conn.Multi(ctx,
			zk.CheckOp{Path: term.Path, Version: term.Version},
			zk.SetDataOp{Path: "/resource", Data: []byte(data), Version: zk.AnyVersion})
		return err
	}
	require.NoError(t, fenced(c1, term, "one"))
	require.ErrorIs(t, r1.stop(t), context.Canceled)
	// A stale leader's write (here from another handle, as if the old
	// leader had been paused) is refused.
	require.ErrorIs(t, fenced(c2, term, "stale"), zk.ErrNoNode)
	data, _, _ := srv.Get("/resource")
	require.Equal(t, "one", string(data))
}

func TestNewAndRunErrors(t *testing.T) {
	srv := testserver.Start(t)
	conn := connect(t, srv)
	for _, d := range []string{"", "/", "rel", "/trailing/"} {
		_, err := leader.New(conn, leader.Config{Dir: d})
		require.Error(t, err, "dir %q", d)
		require.True(t, strings.HasPrefix(err.Error(), "leader: "), err.Error())
	}
	_, err := leader.New(nil, leader.Config{Dir: dir})
	require.Error(t, err)

	r := startCandidate(t, conn, leader.Config{}, nil)
	recv(t, r.gained, "leadership")
	require.ErrorIs(t, r.cand.Run(testCtx(t), nil), leader.ErrRunning)

	// No permission on the directory: Run says so at once.
	c2 := connect(t, srv)
	_, err = c2.Create(testCtx(t), "/locked", nil, zk.CreatePersistent, zk.ReadACL)
	require.NoError(t, err)
	cand, err := leader.New(c2, leader.Config{Dir: "/locked"})
	require.NoError(t, err)
	err = cand.Run(testCtx(t), nil)
	require.ErrorIs(t, err, zk.ErrNoAuth)
	assert.True(t, strings.HasPrefix(err.Error(), "leader: "), err.Error())
}
