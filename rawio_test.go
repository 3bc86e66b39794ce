package zk_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/faultproxy"
	"github.com/zkgo/zk/internal/testserver"
)

// TestRawIOWhereItApplies: on Linux a plain TCP link reads and writes with
// raw system calls; TLS, a dialer's wrapper, a socket in blocking mode
// (where a raw call would sleep in the kernel out of the runtime's sight),
// WithoutRawIO and other platforms use net.Conn. Each way carries the same
// traffic intact: large replies that take many reads, large requests, and
// many calls in flight. (TestCallerWritesHandOffAndComeBack makes the
// socket refuse writes.)
func TestRawIOWhereItApplies(t *testing.T) {
	cert, pool := selfSigned(t)
	// A dialer that reaches the descriptor the old way (File().Fd(), to set
	// a socket option, say) leaves the socket in blocking mode.
	blocking := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		f, err := nc.(*net.TCPConn).File()
		if err != nil {
			nc.Close()
			return nil, err
		}
		f.Fd() // puts the shared file description in blocking mode
		f.Close()
		return nc, nil
	}
	cases := []struct {
		name string
		tls  bool
		opts []zk.Option
		raw  bool
	}{
		{"plain TCP", false, nil, runtime.GOOS == "linux"},
		{"plain TCP, WithoutRawIO", false, []zk.Option{zk.WithoutRawIO()}, false},
		{"a dialer's wrapper", false, []zk.Option{zk.WithDialer(wrappedDial)}, false},
		{"a socket in blocking mode", false, []zk.Option{zk.WithDialer(blocking)}, false},
		{"TLS", true, []zk.Option{zk.WithTLS(&tls.Config{RootCAs: pool})}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var srvOpts []testserver.Option
			if tc.tls {
				srvOpts = append(srvOpts, testserver.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}}))
			}
			srv := wideServer(t, srvOpts...)
			c := connect(t, srv.ConnString(), tc.opts...)
			require.Equal(t, tc.raw, zk.LinkRawIO(c), "raw system call I/O on this link")
			ctx := testCtx(t)

			const nodes = 8
			want := make([][]byte, nodes)
			for i := range nodes {
				// 256 KB each: a reply takes several reads, and eight
				// such writes at once more than the socket takes in one.
				want[i] = bytes.Repeat([]byte{byte('a' + i)}, 256<<10)
				_, err := c.Create(ctx, fmt.Sprintf("/n%d", i), want[i], zk.CreatePersistent, zk.OpenACL)
				require.NoError(t, err)
			}
			const goroutines, rounds = 64, 4
			var wg sync.WaitGroup
			errs := make(chan error, goroutines)
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for r := range rounds {
						i := (g + r) % nodes
						p := fmt.Sprintf("/n%d", i)
						if g%8 == 0 {
							if _, err := c.Set(ctx, p, want[i], -1); err != nil {
								errs <- err
								return
							}
							continue
						}
						data, _, err := c.Get(ctx, p)
						if err != nil {
							errs <- err
							return
						}
						if !bytes.Equal(data, want[i]) {
							errs <- fmt.Errorf("get %s: %d bytes that are not what was written", p, len(data))
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			for i := range nodes {
				data, _, err := c.Get(ctx, fmt.Sprintf("/n%d", i))
				require.NoError(t, err)
				require.True(t, bytes.Equal(data, want[i]), "/n%d holds what was set", i)
			}
		})
	}
}

// TestCallerWritesHandOffAndComeBack: when the socket does not take a
// caller's whole batch (the server stopped reading), the rest goes to the
// link's writer goroutine, which writes it with a deadline; once the stall
// is over, callers write directly again, also after that deadline has
// passed (the writer takes it away before it gives the flusher's role
// back; a stale deadline would send every later write through the writer
// goroutine). Runs on the default I/O of the platform (raw on Linux) and
// on net.Conn.
func TestCallerWritesHandOffAndComeBack(t *testing.T) {
	for _, mode := range ioModes() {
		t.Run(mode.name, func(t *testing.T) {
			const T = 3 * time.Second // read timeout, and the writer's write deadline: 2 s
			_, p, _, c := proxied(t, T, mode.opts...)
			var direct, handed atomic.Int64
			firstHandOff := make(chan struct{})
			var once sync.Once
			restore := zk.SetCallerWriteHook(func(hc *zk.Conn, handedOff bool) {
				if hc != c {
					return
				}
				if handedOff {
					handed.Add(1)
					once.Do(func() { close(firstHandOff) })
				} else {
					direct.Add(1)
				}
			})
			defer restore()
			ctx := testCtx(t)

			p.Pause(faultproxy.ClientToServer, true)
			const calls = 12 // 12 MB: more than the proxy and the kernel hold
			errs := megabyteSets(ctx, c, "/eph", calls)
			select {
			case <-firstHandOff:
			case <-time.After(waitTime):
				t.Fatal("no caller handed a write to the writer goroutine while the server did not read")
			}
			p.Pause(faultproxy.ClientToServer, false)
			for range calls {
				require.NoError(t, <-errs)
			}
			h0 := handed.Load()
			// Past the writer's write deadline (the read timeout, 2 s).
			time.Sleep(2*T/3 + 200*time.Millisecond) // the clock passing the deadline is the condition under test; no event marks it
			d0 := direct.Load()
			for range 20 {
				_, _, err := c.Get(ctx, "/eph")
				require.NoError(t, err)
			}
			require.Equal(t, h0, handed.Load(), "writes after the stall were handed to the writer goroutine")
			require.GreaterOrEqual(t, direct.Load()-d0, int64(20), "each call was written by its caller")
			t.Logf("%s: %d hand-offs during the stall, then %d direct writes", mode.name, h0, direct.Load()-d0)
		})
	}
}
