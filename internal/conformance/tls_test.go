package conformance

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/realzk"
)

// TestTLSRealServer: a session over a real server's secureClientPort, with
// the server verified; a client that does not trust the server's CA gets no
// session.
func TestTLSRealServer(t *testing.T) {
	ens := realzk.Start(t, realzk.Options{TLS: true})
	c := dial(t, ens.SecureConnString(), zk.WithTLS(ens.TLSConfig()))
	ctx := testCtx(t)
	root := mkroot(t, c)
	p, err := c.Create(ctx, root+"/tls", []byte("secret"), zk.CreateEphemeral, zk.OpenACL)
	require.NoError(t, err)
	data, _, err := c.Get(ctx, p)
	require.NoError(t, err)
	require.Equal(t, "secret", string(data))
	if serverVersion(t, ens, 0).has(since370) {
		who, err := c.WhoAmI(ctx)
		require.NoError(t, err)
		require.NotEmpty(t, who)
	} else {
		// whoAmI is 3.7.0: the handle reconnects over TLS.
		requireUnimplemented(t, c, since370, func() error { _, err := c.WhoAmI(ctx); return err })
	}

	short, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = zk.Connect(short, ens.SecureConnString(), zk.WithTLS(&tls.Config{}))
	require.Error(t, err)
	require.ErrorContains(t, err, "certificate")
}
