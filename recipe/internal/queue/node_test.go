package queue

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ok     bool
		prefix string
		seq    int64
	}{
		{"_c_0123-n_0000000007", true, "_c_0123-n_", 7},
		{"_c_ab-read-0000000010", true, "_c_ab-read-", 10},
		{"x-000000001", true, "x", -1}, // %010d of a wrapped counter
		{"0000000012", false, "", 0},   // nothing before the sequence
		{"lock", false, "", 0},
		{"_c_ab-lock-00000000x1", false, "", 0},
		{"_c_ab-lock-+000000001", false, "", 0},
	} {
		n, ok := Parse(tc.name)
		require.Equal(t, tc.ok, ok, tc.name)
		if ok {
			require.Equal(t, tc.prefix, n.Prefix, tc.name)
			require.Equal(t, tc.seq, n.Seq, tc.name)
		}
	}
}

func TestSortedAndKinds(t *testing.T) {
	nodes := Sorted([]string{"_c_b-write-0000000003", "junk", "_c_a-read-0000000001", "_c_c-read-0000000002"})
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	require.Equal(t, []string{"_c_a-read-0000000001", "_c_c-read-0000000002", "_c_b-write-0000000003"}, names)
	require.True(t, nodes[0].IsRead())
	require.False(t, nodes[2].IsRead())
	kazoo := Sorted([]string{"0123abcd__rlock__0000000004", "0123abcd__lock__0000000005"})
	require.True(t, kazoo[0].IsRead(), "kazoo's ReadLock node")
	require.False(t, kazoo[1].IsRead(), "kazoo's WriteLock node")
}

func TestNewPrefix(t *testing.T) {
	a, b := NewPrefix(TagLock), NewPrefix(TagLock)
	require.NotEqual(t, a, b)
	require.True(t, strings.HasPrefix(a, "_c_") && strings.HasSuffix(a, "-lock-"), a)
	require.Len(t, a, len("_c_")+32+len("-lock-"))
}
