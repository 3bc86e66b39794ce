package zk_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/testserver"
)

// TestRawIOWhereItApplies: on Linux a plain TCP link reads and writes with
// raw system calls; TLS, a dialer's wrapper, WithoutRawIO and other
// platforms use net.Conn. Each way carries the same traffic intact: large
// replies that take many reads, large requests that the socket takes in
// parts (so callers hand the rest to the writer goroutine), and many calls
// in flight.
func TestRawIOWhereItApplies(t *testing.T) {
	cert, pool := selfSigned(t)
	wrapped := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return struct{ net.Conn }{nc}, nil // not a *net.TCPConn
	}
	cases := []struct {
		name string
		tls  bool
		opts []zk.Option
		raw  bool
	}{
		{"plain TCP", false, nil, runtime.GOOS == "linux"},
		{"plain TCP, WithoutRawIO", false, []zk.Option{zk.WithoutRawIO()}, false},
		{"a dialer's wrapper", false, []zk.Option{zk.WithDialer(wrapped)}, false},
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
				// 900 KB each: a socket takes such a write in parts.
				want[i] = bytes.Repeat([]byte{byte('a' + i)}, 900<<10)
				_, err := c.Create(ctx, fmt.Sprintf("/n%d", i), want[i], zk.CreatePersistent, zk.OpenACL)
				require.NoError(t, err)
			}
			const goroutines, rounds = 64, 6
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
