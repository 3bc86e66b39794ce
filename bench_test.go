package zk_test

// Benchmarks of whole calls against the in-memory server (internal/testserver)
// on loopback. The codec alone is measured in internal/proto/bench_test.go;
// the comparison with go-zookeeper and real ZooKeeper is bench/cmd/zkbench.
//
//	go test -run '^$' -bench . -benchmem
//	go test -run '^$' -bench BenchmarkGetParallel -cpuprofile cpu.out && go tool pprof -top cpu.out
//
// The server runs in this process, so allocs/op, B/op and CPU profiles
// include its share: BenchmarkGetServerBaseline drives the same server with
// a client that allocates nothing, and what it reports is the server's
// share of BenchmarkGet (subtract it to get the client's). writes/op and
// reads/op count the client's Write and Read calls on its net.Conn (each
// one system call here).

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/testserver"
)

const (
	benchPayloadSize = 1024
	benchParallel    = 64 // goroutines in BenchmarkGetParallel
)

// benchIO counts the Read and Write calls on a handle's connections.
type benchIO struct{ writes, reads atomic.Int64 }

type benchCountConn struct {
	net.Conn
	n *benchIO
}

func (c *benchCountConn) Write(b []byte) (int, error) { c.n.writes.Add(1); return c.Conn.Write(b) }
func (c *benchCountConn) Read(b []byte) (int, error)  { c.n.reads.Add(1); return c.Conn.Read(b) }

func (n *benchIO) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &benchCountConn{Conn: nc, n: n}, nil
}

func (n *benchIO) reset() { n.writes.Store(0); n.reads.Store(0) }

// report adds writes/op and reads/op; call it after the timed loop.
func (n *benchIO) report(b *testing.B) {
	if b.N > 0 {
		b.ReportMetric(float64(n.writes.Load())/float64(b.N), "writes/op")
		b.ReportMetric(float64(n.reads.Load())/float64(b.N), "reads/op")
	}
}

// benchSetup starts a server and a connected handle with a 1 KiB node at
// /bench; both are closed when the benchmark ends.
func benchSetup(b *testing.B) (*testserver.Server, *zk.Conn, *benchIO) {
	b.Helper()
	srv := testserver.Start(b)
	n := &benchIO{}
	ctx := context.Background()
	c, err := zk.Connect(ctx, srv.ConnString(), zk.WithDialer(n.dial), zk.WithStateListener(func(sc zk.StateChange) {
		if sc.Event == zk.EventDisconnected {
			b.Logf("lost the connection: %v", sc.Err)
		}
	}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if _, err := c.Create(ctx, "/bench", make([]byte, benchPayloadSize), zk.CreatePersistent, zk.OpenACL); err != nil {
		b.Fatal(err)
	}
	return srv, c, n
}

// BenchmarkGet is one getData round trip of a 1 KiB node, one at a time.
func BenchmarkGet(b *testing.B) {
	_, c, n := benchSetup(b)
	ctx := context.Background()
	b.ReportAllocs()
	n.reset()
	for b.Loop() {
		data, _, err := c.Get(ctx, "/bench")
		if err != nil || len(data) != benchPayloadSize {
			b.Fatal(err, len(data))
		}
	}
	n.report(b)
}

// BenchmarkGetParallel is getData of a 1 KiB node from 64 goroutines on one
// handle (b.SetParallelism(64/GOMAXPROCS)).
func BenchmarkGetParallel(b *testing.B) {
	_, c, n := benchSetup(b)
	ctx := context.Background()
	b.SetParallelism(max(1, (benchParallel+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	n.reset()
	b.ResetTimer()
	var failed atomic.Pointer[error]
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := c.Get(ctx, "/bench"); err != nil {
				e := err // declared here, so only a failure allocates it
				failed.CompareAndSwap(nil, &e)
				for pb.Next() { // RunParallel wants the iterations consumed
				}
				return
			}
		}
	})
	b.StopTimer()
	if p := failed.Load(); p != nil {
		b.Fatal(*p)
	}
	n.report(b)
}

// BenchmarkCreateDelete creates a node with 1 KiB of data and deletes it:
// two round trips per op.
func BenchmarkCreateDelete(b *testing.B) {
	_, c, n := benchSetup(b)
	ctx := context.Background()
	data := make([]byte, benchPayloadSize)
	b.ReportAllocs()
	n.reset()
	for b.Loop() {
		if _, err := c.Create(ctx, "/bench-cd", data, zk.CreatePersistent, zk.OpenACL); err != nil {
			b.Fatal(err)
		}
		if err := c.Delete(ctx, "/bench-cd", zk.AnyVersion); err != nil {
			b.Fatal(err)
		}
	}
	n.report(b)
}

// BenchmarkSet replaces a node's 1 KiB of data.
func BenchmarkSet(b *testing.B) {
	_, c, n := benchSetup(b)
	ctx := context.Background()
	data := make([]byte, benchPayloadSize)
	b.ReportAllocs()
	n.reset()
	for b.Loop() {
		if _, err := c.Set(ctx, "/bench", data, zk.AnyVersion); err != nil {
			b.Fatal(err)
		}
	}
	n.report(b)
}

// BenchmarkGetServerBaseline is BenchmarkGet's round trip made by a client
// that allocates nothing (a pre-encoded request on a plain net.Conn): its
// allocs/op and B/op are the in-process server's share of BenchmarkGet's,
// and its ns/op the floor of a serial round trip through this server.
func BenchmarkGetServerBaseline(b *testing.B) {
	srv, _, _ := benchSetup(b)
	nc, err := net.Dial("tcp", srv.Addr(0))
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	be := binary.BigEndian
	// ConnectRequest: protocol 0, zxid 0, timeout 10 s, session 0, 16-byte
	// zero password, readOnly false.
	conn := be.AppendUint32(nil, 45)
	conn = be.AppendUint32(conn, 0)
	conn = be.AppendUint64(conn, 0)
	conn = be.AppendUint32(conn, 10000)
	conn = be.AppendUint64(conn, 0)
	conn = be.AppendUint32(conn, 16)
	conn = append(conn, make([]byte, 17)...)
	if _, err := nc.Write(conn); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	readFrame := func() []byte {
		if _, err := io.ReadFull(nc, buf[:4]); err != nil {
			b.Fatal(err)
		}
		n := int(be.Uint32(buf))
		if n > len(buf) {
			b.Fatal("frame too long")
		}
		if _, err := io.ReadFull(nc, buf[:n]); err != nil {
			b.Fatal(err)
		}
		return buf[:n]
	}
	readFrame() // ConnectResponse
	// getData("/bench", no watch); the xid is patched per request.
	req := be.AppendUint32(nil, 0)
	req = be.AppendUint32(req, 0)
	req = be.AppendUint32(req, 4)
	req = be.AppendUint32(req, uint32(len("/bench")))
	req = append(req, "/bench"...)
	req = append(req, 0)
	be.PutUint32(req, uint32(len(req)-4))
	xid := uint32(0)
	b.ReportAllocs()
	for b.Loop() {
		xid++
		be.PutUint32(req[4:], xid)
		if _, err := nc.Write(req); err != nil {
			b.Fatal(err)
		}
		f := readFrame()
		if be.Uint32(f) != xid || be.Uint32(f[12:]) != 0 {
			b.Fatal(errors.New("unexpected reply"))
		}
	}
}
