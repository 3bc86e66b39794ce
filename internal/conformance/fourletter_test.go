package conformance

import (
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk/internal/realzk"
	"github.com/zkgo/zk/internal/testserver"
)

// rawWord sends four bytes on a fresh connection, instead of a first frame
// length, and returns everything the server writes until it closes the
// connection.
func rawWord(t *testing.T, addr string, word uint32) string {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitTime)
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.SetDeadline(time.Now().Add(waitTime)))
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], word)
	_, err = nc.Write(b[:])
	require.NoError(t, err)
	out, err := io.ReadAll(nc)
	require.NoError(t, err, "read the answer to 0x%08x", word)
	return string(out)
}

// TestFourLetterDefaultWhitelist: the four-letter words with the default
// whitelist (srvr only, no read-only mode), which the in-memory server
// models (the suite's real backend whitelists every word). A known word off
// the list, the telnet close sequence included (the command "telnet
// close"), gets "<cmd> is not executed because it is not in the
// whitelist.\n"; an unknown word is a frame length out of range: the
// connection is closed with nothing said.
func TestFourLetterDefaultWhitelist(t *testing.T) {
	ens := realzk.Start(t, realzk.Options{Members: 1, ExtraConfig: map[string]string{"4lw.commands.whitelist": ""}})
	srv := testserver.Start(t)
	word := func(s string) uint32 { return binary.BigEndian.Uint32([]byte(s)) }
	refused := func(cmd string) string { return cmd + " is not executed because it is not in the whitelist.\n" }
	for _, tc := range []struct {
		word uint32
		want string
	}{
		{0xfff4fffd, refused("telnet close")},
		{word("ruok"), refused("ruok")},
		{word("stat"), refused("stat")},
		{word("mntr"), refused("mntr")},
		{word("isro"), refused("isro")},
		{word("stmk"), refused("stmk")}, // refused before its 8-byte mask is read
		{word("abcd"), ""},
	} {
		for name, addr := range map[string]string{"real": ens.Addr(0), "mem": srv.Addr(0)} {
			require.Equal(t, tc.want, rawWord(t, addr, tc.word), "%s: 0x%08x", name, tc.word)
		}
	}
	for name, addr := range map[string]string{"real": ens.Addr(0), "mem": srv.Addr(0)} {
		out := rawWord(t, addr, word("srvr"))
		require.True(t, strings.HasPrefix(out, "Zookeeper version: "), "%s: srvr: %q", name, out)
		require.Contains(t, out, "\nMode: standalone\n", "%s: srvr", name)
	}
}
