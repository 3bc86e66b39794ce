package proto

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// ---------------------------------------------------------------------------
// helpers

// unhex parses hex written as in PROTOCOL.md §16: bytes separated by spaces,
// with optional "·" group separators and "N×hh" repeats.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	var out []byte
	for _, tok := range strings.Fields(strings.ReplaceAll(s, "·", " ")) {
		count := 1
		if i := strings.Index(tok, "×"); i >= 0 {
			var n int
			for _, c := range tok[:i] {
				n = n*10 + int(c-'0')
			}
			count, tok = n, tok[i+len("×"):]
		}
		b, err := hex.DecodeString(tok)
		require.NoError(t, err, "token %q", tok)
		for range count {
			out = append(out, b...)
		}
	}
	return out
}

func encode(recs ...Record) []byte {
	var e Encoder
	for _, r := range recs {
		r.Encode(&e)
	}
	return e.B
}

// decodeAll decodes recs in sequence from b and requires that every byte was
// consumed.
func decodeAll(t testing.TB, b []byte, recs ...Record) {
	t.Helper()
	d := NewDecoder(b)
	for _, r := range recs {
		r.Decode(d)
	}
	require.NoError(t, d.Err())
	require.Zero(t, d.Remaining(), "trailing bytes after decoding")
}

// oneFrame reads exactly one frame from b and requires a clean EOF after it.
func oneFrame(t testing.TB, b []byte) []byte {
	t.Helper()
	fr := NewFrameReader(bytes.NewReader(b), 0)
	p, err := fr.Next()
	require.NoError(t, err)
	p = bytes.Clone(p)
	_, err = fr.Next()
	require.ErrorIs(t, err, io.EOF)
	return p
}

func sampleStat() Stat {
	return Stat{
		Czxid:          0x0102030405060708,
		Mzxid:          0x1112131415161718,
		Ctime:          0x2122232425262728,
		Mtime:          0x3132333435363738,
		Version:        0x41424344,
		Cversion:       0x51525354,
		Aversion:       0x61626364,
		EphemeralOwner: -0x0100000000000000 | 1000, // TTL-style owner: top byte 0xFF
		DataLength:     0x71727374,
		NumChildren:    0x01020304,
		Pzxid:          math.MinInt64 + 7,
	}
}

// bytesAllocatedPerRun reports the average heap bytes f allocates.
func bytesAllocatedPerRun(runs int, f func()) uint64 {
	f() // warm up
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

// ---------------------------------------------------------------------------
// PROTOCOL.md §16 worked examples

func TestWorkedExamples(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		recs []Record
		// fresh returns empty records to decode the frame into.
		fresh func() []Record
	}{
		{
			name: "ConnectRequest new session",
			hex: "00 00 00 2d 00 00 00 00 00 00 00 00 00 00 00 00 00 00 75 30 " +
				"00 00 00 00 00 00 00 00 00 00 00 10 16×00 00",
			recs: []Record{&ConnectRequest{
				ProtocolVersion: 0, LastZxidSeen: 0, TimeOut: 30000, SessionID: 0,
				Passwd: make([]byte, PasswordLen), ReadOnly: false,
				HasReadOnly: true, // what Decode reports for the 45-byte body
			}},
			fresh: func() []Record { return []Record{&ConnectRequest{}} },
		},
		{
			name:  "ping",
			hex:   "00 00 00 08 ff ff ff fe 00 00 00 0b",
			recs:  []Record{&RequestHeader{Xid: XidPing, OpCode: OpPing}},
			fresh: func() []Record { return []Record{&RequestHeader{}} },
		},
		{
			name: "getData /a watch xid 1",
			hex:  "00 00 00 0f 00 00 00 01 00 00 00 04 00 00 00 02 2f 61 01",
			recs: []Record{
				&RequestHeader{Xid: 1, OpCode: OpGetData},
				&PathWatchRequest{Path: "/a", Watch: true},
			},
			fresh: func() []Record { return []Record{&RequestHeader{}, &PathWatchRequest{}} },
		},
		{
			name: "auth digest user:pass",
			hex: "00 00 00 23 ff ff ff fc 00 00 00 64 00 00 00 00 00 00 00 06 64 69 67 65 73 74 " +
				"00 00 00 09 75 73 65 72 3a 70 61 73 73",
			recs: []Record{
				&RequestHeader{Xid: XidAuth, OpCode: OpAuth},
				&AuthPacket{Type: 0, Scheme: "digest", Auth: []byte("user:pass")},
			},
			fresh: func() []Record { return []Record{&RequestHeader{}, &AuthPacket{}} },
		},
		{
			name: "multi xid 2 check+delete",
			hex: "00 00 00 37 00 00 00 02 00 00 00 0e · 00 00 00 0d 00 ff ff ff ff " +
				"00 00 00 02 2f 61 ff ff ff ff · 00 00 00 02 00 ff ff ff ff " +
				"00 00 00 02 2f 61 ff ff ff ff · ff ff ff ff 01 ff ff ff ff",
			recs: []Record{
				&RequestHeader{Xid: 2, OpCode: OpMulti},
				&MultiRequest{Ops: []MultiOp{
					{Type: OpCheck, Req: &PathVersionRequest{Path: "/a", Version: -1}},
					{Type: OpDelete, Req: &PathVersionRequest{Path: "/a", Version: -1}},
				}},
			},
			fresh: func() []Record { return []Record{&RequestHeader{}, &MultiRequest{}} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.hex)
			require.Equal(t, int(binary.BigEndian.Uint32(want)), len(want)-4, "example's own length prefix")

			got := AppendFrame(nil, tt.recs...)
			require.Equal(t, want, got, "encoded bytes\nwant % x\ngot  % x", want, got)

			// AppendFrame appends: a non-empty prefix is kept as is.
			prefix := []byte{0xde, 0xad}
			require.Equal(t, append(bytes.Clone(prefix), want...), AppendFrame(bytes.Clone(prefix), tt.recs...))

			recs := tt.fresh()
			decodeAll(t, oneFrame(t, want), recs...)
			require.Equal(t, tt.recs, recs)
		})
	}
}

func TestWorkedExampleSizes(t *testing.T) {
	require.Len(t, encode(&RequestHeader{}), 8)
	require.Len(t, encode(&ReplyHeader{}), 16)
	require.Len(t, encode(&MultiHeader{}), 9)
	require.Len(t, encode(&Stat{}), StatLen)
	require.Len(t, AppendFrame(nil, &ConnectRequest{Passwd: make([]byte, 16)}), 49)
}

// ---------------------------------------------------------------------------
// record layouts

func TestStatLayout(t *testing.T) {
	s := sampleStat()
	b := encode(&s)
	require.Len(t, b, StatLen)
	require.Equal(t, 68, StatLen)
	be := binary.BigEndian
	// Offsets from PROTOCOL.md §3.2.
	require.Equal(t, uint64(s.Czxid), be.Uint64(b[0:]))
	require.Equal(t, uint64(s.Mzxid), be.Uint64(b[8:]))
	require.Equal(t, uint64(s.Ctime), be.Uint64(b[16:]))
	require.Equal(t, uint64(s.Mtime), be.Uint64(b[24:]))
	require.Equal(t, uint32(s.Version), be.Uint32(b[32:]))
	require.Equal(t, uint32(s.Cversion), be.Uint32(b[36:]))
	require.Equal(t, uint32(s.Aversion), be.Uint32(b[40:]))
	require.Equal(t, uint64(s.EphemeralOwner), be.Uint64(b[44:]))
	require.Equal(t, uint32(s.DataLength), be.Uint32(b[52:]))
	require.Equal(t, uint32(s.NumChildren), be.Uint32(b[56:]))
	require.Equal(t, uint64(s.Pzxid), be.Uint64(b[60:]))

	var got Stat
	decodeAll(t, b, &got)
	require.Equal(t, s, got)
}

func TestReplyHeaderLayout(t *testing.T) {
	h := ReplyHeader{Xid: XidNotification, Zxid: -1, Err: ErrNodeExists}
	b := encode(&h)
	require.Equal(t, unhex(t, "ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff 92"), b)
	var got ReplyHeader
	decodeAll(t, b, &got)
	require.Equal(t, h, got)
}

func TestConnectRequestReadOnlyByte(t *testing.T) {
	base := ConnectRequest{
		ProtocolVersion: 0, LastZxidSeen: 0x1122, TimeOut: 4000,
		SessionID: -0x7f00000000000001, Passwd: bytes.Repeat([]byte{0xab}, 16),
	}
	t.Run("with byte", func(t *testing.T) {
		for _, ro := range []bool{false, true} {
			in := base
			in.ReadOnly = ro
			b := encode(&in)
			require.Len(t, b, 45, "Encode always writes the readOnly byte")
			var got ConnectRequest
			decodeAll(t, b, &got)
			want := in
			want.HasReadOnly = true
			require.Equal(t, want, got)
		}
	})
	t.Run("without byte", func(t *testing.T) {
		b := encode(&base)[:44] // an old client: no readOnly byte
		got := ConnectRequest{}
		decodeAll(t, b, &got)
		require.False(t, got.HasReadOnly)
		require.False(t, got.ReadOnly)
		require.Equal(t, base, got)
	})
	t.Run("any non-zero byte is true", func(t *testing.T) {
		b := encode(&base)
		b[44] = 0x7f
		var got ConnectRequest
		decodeAll(t, b, &got)
		require.True(t, got.ReadOnly)
		require.True(t, got.HasReadOnly)
	})
}

func TestConnectResponseLengths(t *testing.T) {
	in := ConnectResponse{
		ProtocolVersion: 0, TimeOut: 40000, SessionID: 0x0100017f2a3b0000,
		Passwd: bytes.Repeat([]byte{0x5a}, 16), ReadOnly: true,
	}
	t.Run("37 bytes", func(t *testing.T) {
		b := encode(&in)
		require.Len(t, b, 37)
		require.Equal(t, byte(1), b[36])
		var got ConnectResponse
		decodeAll(t, b, &got)
		require.Equal(t, in, got)
		require.False(t, got.OmitReadOnly)
	})
	t.Run("36 bytes", func(t *testing.T) {
		omit := in
		omit.ReadOnly = false
		omit.OmitReadOnly = true
		b := encode(&omit)
		require.Len(t, b, 36)
		var got ConnectResponse
		decodeAll(t, b, &got)
		require.Equal(t, omit, got)
		require.True(t, got.OmitReadOnly)
		require.False(t, got.ReadOnly)
	})
	t.Run("expired all-zero reply §18", func(t *testing.T) {
		b := unhex(t, "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 10 16×00 00")
		require.Len(t, b, 37)
		var got ConnectResponse
		decodeAll(t, b, &got)
		require.Equal(t, ConnectResponse{Passwd: make([]byte, 16)}, got)
		require.Zero(t, got.TimeOut)
	})
}

func TestCreateRequestTTL(t *testing.T) {
	plain := CreateRequest{
		Path: "/q/lock-", Data: []byte("x"),
		ACL:   []ACL{{Perms: PermAll, Id: Id{Scheme: "world", ID: "anyone"}}},
		Flags: FlagEphemeralSequential,
	}
	pb := encode(&plain)
	// path 4+8, data 4+1, acl 4 + (4 + 4+5 + 4+6), flags 4
	require.Len(t, pb, 12+5+4+23+4)
	var gotPlain CreateRequest
	decodeAll(t, pb, &gotPlain)
	require.Equal(t, plain, gotPlain)

	// TTL set but IsTTL false: TTL is not written.
	withStray := plain
	withStray.TTL = 99
	require.Equal(t, pb, encode(&withStray))

	ttl := plain
	ttl.Flags, ttl.TTL, ttl.IsTTL = FlagPersistentWithTTL, MaxTTL, true
	tb := encode(&ttl)
	require.Len(t, tb, len(pb)+8)
	require.Equal(t, uint64(MaxTTL), binary.BigEndian.Uint64(tb[len(tb)-8:]))
	gotTTL := CreateRequest{IsTTL: true}
	decodeAll(t, tb, &gotTTL)
	require.Equal(t, ttl, gotTTL)

	// A TTL body read as a plain create leaves the 8 TTL bytes unread, and a
	// plain body read as TTL is short.
	d := NewDecoder(tb)
	(&CreateRequest{}).Decode(d)
	require.NoError(t, d.Err())
	require.Equal(t, 8, d.Remaining())
	require.ErrorIs(t, DecodeRecord(pb, &CreateRequest{IsTTL: true}), ErrShortBuffer)
}

func TestSetWatchesVersions(t *testing.T) {
	v1 := SetWatches{
		RelativeZxid: 0x100000005,
		DataWatches:  []string{"/a", "/b"},
		ExistWatches: []string{"/missing"},
		ChildWatches: []string{},
	}
	b1 := encode(&v1)
	// zxid 8 + (4+4+2+4+2) + (4+4+8) + 4
	require.Len(t, b1, 8+16+16+4)
	var got1 SetWatches
	decodeAll(t, b1, &got1)
	require.Equal(t, v1, got1)

	// V1 ignores the persistent lists when encoding.
	v1p := v1
	v1p.PersistentWatches = []string{"/p"}
	require.Equal(t, b1, encode(&v1p))

	v2 := v1
	v2.V2 = true
	v2.PersistentWatches = []string{"/p"}
	v2.PersistentRecursive = []string{"/r", "/r/s"}
	b2 := encode(&v2)
	require.Len(t, b2, len(b1)+(4+4+2)+(4+4+2+4+4))
	got2 := SetWatches{V2: true}
	decodeAll(t, b2, &got2)
	require.Equal(t, v2, got2)

	// nil lists go out as empty vectors (count 0), never null: the server
	// iterates them without a null check.
	empty := encode(&SetWatches{V2: true})
	require.Equal(t, unhex(t, "8×00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"), empty)
}

// roundTripCase encodes rec, decodes into fresh(), and requires equality.
type roundTripCase struct {
	name  string
	rec   Record
	fresh func() Record
	size  int // expected encoded size, or -1
}

func TestRecordRoundTrips(t *testing.T) {
	st := sampleStat()
	acls := []ACL{
		{Perms: PermRead, Id: Id{Scheme: "world", ID: "anyone"}},
		{Perms: PermAll, Id: Id{Scheme: "digest", ID: "user:smGaoVKd/cQkjm7b88GyorAUz20="}},
		{Perms: PermCreate | PermDelete, Id: Id{Scheme: "ip", ID: "10.0.0.0/8"}},
	}
	cases := []roundTripCase{
		{"Stat", &st, func() Record { return &Stat{} }, 68},
		{"RequestHeader", &RequestHeader{Xid: math.MaxInt32, OpCode: OpWhoAmI}, func() Record { return &RequestHeader{} }, 8},
		{"ReplyHeader", &ReplyHeader{Xid: -2, Zxid: 0x7fffffffffffffff, Err: ErrThrottledOp}, func() Record { return &ReplyHeader{} }, 16},
		{"MultiHeader", &MultiHeader{Type: OpError, Done: true, Err: -1}, func() Record { return &MultiHeader{} }, 9},
		{"ConnectRequest resume", &ConnectRequest{LastZxidSeen: 77, TimeOut: 1, SessionID: -1, Passwd: bytes.Repeat([]byte{1}, 16), ReadOnly: true, HasReadOnly: true},
			func() Record { return &ConnectRequest{} }, 45},
		{"ConnectResponse", &ConnectResponse{TimeOut: 6000, SessionID: 42, Passwd: bytes.Repeat([]byte{9}, 16)}, func() Record { return &ConnectResponse{} }, 37},
		{"ConnectResponse omit", &ConnectResponse{TimeOut: 6000, SessionID: 42, Passwd: bytes.Repeat([]byte{9}, 16), OmitReadOnly: true}, func() Record { return &ConnectResponse{} }, 36},
		{"CreateRequest", &CreateRequest{Path: "/n", Data: []byte{0, 1, 2}, ACL: acls, Flags: FlagContainer}, func() Record { return &CreateRequest{} }, -1},
		{"CreateTTLRequest", &CreateRequest{Path: "/n", Data: []byte{}, ACL: acls[:1], Flags: FlagPersistentSequentialWithTTL, TTL: 1, IsTTL: true},
			func() Record { return &CreateRequest{IsTTL: true} }, -1},
		{"DeleteRequest", &PathVersionRequest{Path: "/a/b", Version: 7}, func() Record { return &PathVersionRequest{} }, 4 + 4 + 4},
		{"ExistsRequest", &PathWatchRequest{Path: "/", Watch: false}, func() Record { return &PathWatchRequest{} }, 4 + 1 + 1},
		{"PathRequest", &PathRequest{Path: "/zookeeper/config"}, func() Record { return &PathRequest{} }, 4 + 17},
		{"SetDataRequest", &SetDataRequest{Path: "/d", Data: bytes.Repeat([]byte("z"), 300), Version: -1}, func() Record { return &SetDataRequest{} }, 6 + 304 + 4},
		{"SetACLRequest", &SetACLRequest{Path: "/d", ACL: acls, Version: 3}, func() Record { return &SetACLRequest{} }, -1},
		{"ReconfigRequest", &ReconfigRequest{JoiningServers: "server.4=h:2888:3888;2181", LeavingServers: "3", NewMembers: "", CurConfigID: -1},
			func() Record { return &ReconfigRequest{} }, -1},
		{"CheckWatchesRequest", &PathTypeRequest{Path: "/w", Type: WatcherPersistentRecursive}, func() Record { return &PathTypeRequest{} }, 4 + 2 + 4},
		{"AuthPacket", &AuthPacket{Type: 0, Scheme: "digest", Auth: []byte("u:p")}, func() Record { return &AuthPacket{} }, 4 + 10 + 7},
		{"SetWatches", &SetWatches{RelativeZxid: 9, DataWatches: []string{"/x"}, ExistWatches: []string{}, ChildWatches: []string{"/y", "/z"}},
			func() Record { return &SetWatches{} }, -1},
		{"SetWatches2", &SetWatches{RelativeZxid: 9, DataWatches: []string{}, ExistWatches: []string{}, ChildWatches: []string{},
			PersistentWatches: []string{"/p"}, PersistentRecursive: []string{}, V2: true},
			func() Record { return &SetWatches{V2: true} }, 8 + 5*4 + 6},
		{"CreateResponse", &CreateResponse{Path: "/q/lock-0000000042"}, func() Record { return &CreateResponse{} }, 4 + 18},
		{"Create2Response", &CreateResponse{Path: "/q", Stat: st, HasStat: true}, func() Record { return &CreateResponse{HasStat: true} }, 4 + 2 + 68},
		{"StatResponse", &StatResponse{Stat: st}, func() Record { return &StatResponse{} }, 68},
		{"GetDataResponse", &GetDataResponse{Data: []byte("hello"), Stat: st}, func() Record { return &GetDataResponse{} }, 4 + 5 + 68},
		{"GetACLResponse", &GetACLResponse{ACL: acls, Stat: st}, func() Record { return &GetACLResponse{} }, -1},
		{"GetChildrenResponse", &ChildrenResponse{Children: []string{"zookeeper", "a", ""}}, func() Record { return &ChildrenResponse{} }, 4 + 13 + 5 + 4},
		{"GetChildren2Response", &ChildrenResponse{Children: []string{"c"}, Stat: st, HasStat: true}, func() Record { return &ChildrenResponse{HasStat: true} }, 4 + 5 + 68},
		{"IntResponse", &IntResponse{Value: -101}, func() Record { return &IntResponse{} }, 4},
		{"WhoAmIResponse", &WhoAmIResponse{Info: []ClientInfo{{AuthScheme: "ip", User: "127.0.0.1"}, {AuthScheme: "digest", User: "user"}}},
			func() Record { return &WhoAmIResponse{} }, 4 + (6 + 13) + (10 + 8)},
		{"WatcherEvent", &WatcherEvent{Type: EventNodeDataChanged, State: KeeperSyncConnected, Path: "/a"}, func() Record { return &WatcherEvent{} }, 4 + 4 + 6},
		{"MultiRequest all op types", allOpsMultiRequest(), func() Record { return &MultiRequest{} }, -1},
		{"MultiResponse all result types", allResultsMultiResponse(), func() Record { return &MultiResponse{} }, -1},
		{"MultiResponse empty", &MultiResponse{}, func() Record { return &MultiResponse{} }, 9},
		{"MultiRequest empty", &MultiRequest{}, func() Record { return &MultiRequest{} }, 9},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := encode(tc.rec)
			if tc.size >= 0 {
				require.Len(t, b, tc.size)
			}
			got := tc.fresh()
			decodeAll(t, b, got)
			require.Equal(t, tc.rec, got)
			require.Equal(t, b, encode(got), "re-encoding is stable")
			// DecodeRecord is the same thing.
			got2 := tc.fresh()
			require.NoError(t, DecodeRecord(b, got2))
			require.Equal(t, tc.rec, got2)
		})
	}
}

func allOpsMultiRequest() *MultiRequest {
	acl := []ACL{{Perms: PermAll, Id: Id{Scheme: "world", ID: "anyone"}}}
	return &MultiRequest{Ops: []MultiOp{
		{Type: OpCreate, Req: &CreateRequest{Path: "/c", Data: []byte("d"), ACL: acl, Flags: FlagPersistent}},
		{Type: OpCreate2, Req: &CreateRequest{Path: "/c2", ACL: acl, Flags: FlagEphemeral}},
		{Type: OpCreateContainer, Req: &CreateRequest{Path: "/cc", Data: []byte{}, ACL: acl, Flags: FlagContainer}},
		{Type: OpCreateTTL, Req: &CreateRequest{Path: "/ct", ACL: acl, Flags: FlagPersistentWithTTL, TTL: 60000, IsTTL: true}},
		{Type: OpDelete, Req: &PathVersionRequest{Path: "/del", Version: 2}},
		{Type: OpSetData, Req: &SetDataRequest{Path: "/s", Data: []byte("v"), Version: -1}},
		{Type: OpCheck, Req: &PathVersionRequest{Path: "/chk", Version: 0}},
		{Type: OpGetData, Req: &PathWatchRequest{Path: "/g", Watch: true}},
		{Type: OpGetChildren, Req: &PathWatchRequest{Path: "/gc", Watch: false}},
	}}
}

func allResultsMultiResponse() *MultiResponse {
	st := sampleStat()
	return &MultiResponse{Results: []MultiResult{
		{Type: OpCreate, Path: "/c"},
		{Type: OpCreate2, Path: "/c2", Stat: st},
		{Type: OpDelete},
		{Type: OpSetData, Stat: st},
		{Type: OpCheck},
		{Type: OpGetData, Data: []byte("data"), Stat: st},
		{Type: OpGetData, Data: nil, Stat: st},
		{Type: OpGetChildren, Children: []string{"x", "y"}},
		{Type: OpError, Err: ErrNoNode},
	}}
}

// ---------------------------------------------------------------------------
// multi

func TestMultiResponseFailedMulti(t *testing.T) {
	// PROTOCOL.md §18: a failed multi of three ops on a 3.8.0 server.
	b := unhex(t, ""+
		"ff ff ff ff 00 00 00 00 00 · 00 00 00 00 "+
		"ff ff ff ff 00 ff ff ff 92 · ff ff ff 92 "+
		"ff ff ff ff 00 ff ff ff fe · ff ff ff fe "+
		"ff ff ff ff 01 ff ff ff ff")
	want := &MultiResponse{Results: []MultiResult{
		{Type: OpError, Err: ErrOK},
		{Type: OpError, Err: ErrNodeExists},
		{Type: OpError, Err: ErrRuntimeInconsistency},
	}}
	got := &MultiResponse{}
	decodeAll(t, b, got)
	require.Equal(t, want, got)
	require.Equal(t, b, encode(want))

	// The same, framed behind a ReplyHeader with outer err 0.
	frame := AppendFrame(nil, &ReplyHeader{Xid: 5, Zxid: 0x20, Err: ErrOK}, want)
	var h ReplyHeader
	got = &MultiResponse{}
	decodeAll(t, oneFrame(t, frame), &h, got)
	require.Equal(t, ReplyHeader{Xid: 5, Zxid: 0x20}, h)
	require.Equal(t, want, got)
}

func TestMultiResponseSuccessfulMulti(t *testing.T) {
	// §18: create type 1 path only; setData 5 + Stat; check 13 no body;
	// delete 2 no body; createContainer/createTTL answer as 15 path + Stat.
	st := sampleStat()
	var e Encoder
	(&MultiHeader{Type: OpCreate, Err: 0}).Encode(&e)
	e.String("/c")
	(&MultiHeader{Type: OpSetData, Err: 0}).Encode(&e)
	st.Encode(&e)
	(&MultiHeader{Type: OpCheck, Err: 0}).Encode(&e)
	(&MultiHeader{Type: OpDelete, Err: 0}).Encode(&e)
	(&MultiHeader{Type: OpCreate2, Err: 0}).Encode(&e)
	e.String("/cc")
	st.Encode(&e)
	(&MultiHeader{Type: -1, Done: true, Err: -1}).Encode(&e)

	want := &MultiResponse{Results: []MultiResult{
		{Type: OpCreate, Path: "/c"},
		{Type: OpSetData, Stat: st},
		{Type: OpCheck},
		{Type: OpDelete},
		{Type: OpCreate2, Path: "/cc", Stat: st},
	}}
	got := &MultiResponse{}
	decodeAll(t, e.B, got)
	require.Equal(t, want, got)
	require.Equal(t, e.B, encode(want))
	require.Len(t, e.B, 9*6+6+68+7+68)
}

func TestMultiResponseCreateResultTypes(t *testing.T) {
	// Real servers answer createContainer and createTTL with result type 15,
	// but the decoder also accepts 19 and 21 with the same body; such a
	// result must survive re-encoding.
	st := sampleStat()
	for _, typ := range []int32{OpCreate2, OpCreateContainer, OpCreateTTL} {
		var e Encoder
		(&MultiHeader{Type: typ}).Encode(&e)
		e.String("/n")
		st.Encode(&e)
		(&MultiHeader{Type: -1, Done: true, Err: -1}).Encode(&e)

		got := &MultiResponse{}
		decodeAll(t, e.B, got)
		want := &MultiResponse{Results: []MultiResult{{Type: typ, Path: "/n", Stat: st}}}
		require.Equal(t, want, got, "type %d", typ)
		require.Equal(t, e.B, encode(got), "type %d re-encodes with its stat", typ)
	}
}

func TestMultiResponseIgnoresHeaderErrOnSuccess(t *testing.T) {
	// A success result's header err is not trusted; an error result's code is
	// the one in the body.
	var e Encoder
	(&MultiHeader{Type: OpDelete, Err: -7}).Encode(&e)
	(&MultiHeader{Type: OpError, Err: -101}).Encode(&e)
	e.Int32(-103)
	(&MultiHeader{Type: -1, Done: true, Err: -1}).Encode(&e)
	got := &MultiResponse{}
	decodeAll(t, e.B, got)
	require.Equal(t, []MultiResult{{Type: OpDelete}, {Type: OpError, Err: -103}}, got.Results)
}

func TestMultiResponseMalformed(t *testing.T) {
	// Unknown result type.
	var e Encoder
	(&MultiHeader{Type: OpSync}).Encode(&e)
	(&MultiHeader{Type: -1, Done: true, Err: -1}).Encode(&e)
	err := DecodeRecord(e.B, &MultiResponse{})
	require.Error(t, err)
	require.Contains(t, err.Error(), "result type 9")

	// Missing done marker.
	e = Encoder{}
	(&MultiHeader{Type: OpCheck}).Encode(&e)
	require.ErrorIs(t, DecodeRecord(e.B, &MultiResponse{}), ErrShortBuffer)
	require.ErrorIs(t, DecodeRecord(nil, &MultiResponse{}), ErrShortBuffer)
}

func TestMultiResponseLimit(t *testing.T) {
	// A reply holds one result per op. A frame of 9-byte result headers
	// would otherwise become ~150-byte MultiResults: some 80x the frame in
	// allocations (hundreds of MiB for a 4 MiB frame). With Limit set, the
	// extra results are refused before they are built.
	var e Encoder
	for len(e.B) < 1<<20 {
		(&MultiHeader{Type: OpDelete}).Encode(&e)
	}
	(&MultiHeader{Type: -1, Done: true, Err: -1}).Encode(&e)
	frame := e.B

	err := DecodeRecord(frame, &MultiResponse{Limit: 2})
	require.Error(t, err)
	require.Contains(t, err.Error(), "more than 2 results")
	perRun := bytesAllocatedPerRun(5, func() { _ = DecodeRecord(frame, &MultiResponse{Limit: 2}) })
	require.Less(t, perRun, uint64(64<<10), "bytes allocated per refused decode")

	// Exactly Limit results decode; a limit of 0 is no limit.
	ok := encode(allResultsMultiResponse())
	n := len(allResultsMultiResponse().Results)
	got := &MultiResponse{Limit: n}
	decodeAll(t, ok, got)
	require.Len(t, got.Results, n)
	require.ErrorContains(t, DecodeRecord(ok, &MultiResponse{Limit: n - 1}), "more than")
	got = &MultiResponse{}
	decodeAll(t, ok, got)
	require.Len(t, got.Results, n)
}

func TestMultiRequestMalformed(t *testing.T) {
	for _, typ := range []int32{OpSync, OpMulti, OpPing, OpError, 0, 999} {
		var e Encoder
		(&MultiHeader{Type: typ, Err: -1}).Encode(&e)
		(&PathVersionRequest{Path: "/a", Version: -1}).Encode(&e)
		(&MultiHeader{Type: -1, Done: true, Err: -1}).Encode(&e)
		err := DecodeRecord(e.B, &MultiRequest{})
		require.Error(t, err, "type %d", typ)
		require.Contains(t, err.Error(), "cannot appear in a multi")
		require.Nil(t, NewMultiOpRecord(typ))
	}
	// Missing done marker.
	var e Encoder
	(&MultiHeader{Type: OpDelete, Err: -1}).Encode(&e)
	(&PathVersionRequest{Path: "/a", Version: -1}).Encode(&e)
	require.ErrorIs(t, DecodeRecord(e.B, &MultiRequest{}), ErrShortBuffer)
}

func TestMultiRequestReuse(t *testing.T) {
	// Decode into a record that already holds ops replaces them.
	r := allOpsMultiRequest()
	b := encode(&MultiRequest{Ops: []MultiOp{{Type: OpCheck, Req: &PathVersionRequest{Path: "/x", Version: 1}}}})
	decodeAll(t, b, r)
	require.Equal(t, []MultiOp{{Type: OpCheck, Req: &PathVersionRequest{Path: "/x", Version: 1}}}, r.Ops)
}

// ---------------------------------------------------------------------------
// nulls

func TestNullBuffers(t *testing.T) {
	// Null (-1) decodes to nil; empty (0) decodes to a non-nil empty slice;
	// both encode back to what they came from.
	null := encode(&GetDataResponse{Data: nil})
	require.Equal(t, []byte{0xff, 0xff, 0xff, 0xff}, null[:4])
	empty := encode(&GetDataResponse{Data: []byte{}})
	require.Equal(t, []byte{0, 0, 0, 0}, empty[:4])

	var gn, ge GetDataResponse
	decodeAll(t, null, &gn)
	decodeAll(t, empty, &ge)
	require.Nil(t, gn.Data)
	require.NotNil(t, ge.Data)
	require.Empty(t, ge.Data)
	require.Equal(t, null, encode(&gn))
	require.Equal(t, empty, encode(&ge))

	// BufferView and the other buffer-carrying records behave the same.
	d := NewDecoder([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	require.Nil(t, d.BufferView())
	v := d.BufferView()
	require.NotNil(t, v)
	require.Empty(t, v)
	require.NoError(t, d.Err())

	for _, rec := range []struct {
		r   Record
		get func(Record) []byte
		new func() Record
	}{
		{&ConnectRequest{Passwd: nil}, func(r Record) []byte { return r.(*ConnectRequest).Passwd }, func() Record { return &ConnectRequest{} }},
		{&ConnectResponse{Passwd: nil}, func(r Record) []byte { return r.(*ConnectResponse).Passwd }, func() Record { return &ConnectResponse{} }},
		{&CreateRequest{Data: nil}, func(r Record) []byte { return r.(*CreateRequest).Data }, func() Record { return &CreateRequest{} }},
		{&SetDataRequest{Data: nil}, func(r Record) []byte { return r.(*SetDataRequest).Data }, func() Record { return &SetDataRequest{} }},
		{&AuthPacket{Auth: nil}, func(r Record) []byte { return r.(*AuthPacket).Auth }, func() Record { return &AuthPacket{} }},
	} {
		got := rec.new()
		decodeAll(t, encode(rec.r), got)
		require.Nil(t, rec.get(got), "%T", rec.r)
	}

	// Inside a multi: a getData result with null data.
	mr := &MultiResponse{Results: []MultiResult{{Type: OpGetData}, {Type: OpGetData, Data: []byte{}}}}
	got := &MultiResponse{}
	decodeAll(t, encode(mr), got)
	require.Nil(t, got.Results[0].Data)
	require.NotNil(t, got.Results[1].Data)
	require.Empty(t, got.Results[1].Data)
}

func TestDecodedBuffersDoNotAlias(t *testing.T) {
	b := encode(&GetDataResponse{Data: []byte("abc")})
	var r GetDataResponse
	decodeAll(t, b, &r)
	b[4] = 'X'
	require.Equal(t, []byte("abc"), r.Data, "Buffer copies")

	d := NewDecoder(b)
	v := d.BufferView()
	require.Equal(t, []byte("Xbc"), v)
	b[5] = 'Y'
	require.Equal(t, []byte("XYc"), v, "BufferView aliases the frame")
}

func TestNullVectors(t *testing.T) {
	nullVec := []byte{0xff, 0xff, 0xff, 0xff}

	t.Run("ACL", func(t *testing.T) {
		// vector<ACL> null stays null both ways.
		cr := CreateRequest{Path: "/a", ACL: nil}
		b := encode(&cr)
		require.Equal(t, nullVec, b[4+2+4:4+2+4+4])
		var got CreateRequest
		decodeAll(t, b, &got)
		require.Nil(t, got.ACL)

		ga := GetACLResponse{ACL: []ACL{}}
		b = encode(&ga)
		require.Equal(t, []byte{0, 0, 0, 0}, b[:4])
		var gotA GetACLResponse
		decodeAll(t, b, &gotA)
		require.NotNil(t, gotA.ACL)
		require.Empty(t, gotA.ACL)

		b = append(bytes.Clone(nullVec), encode(&Stat{})...)
		decodeAll(t, b, &gotA)
		require.Nil(t, gotA.ACL)
	})
	t.Run("Strings", func(t *testing.T) {
		d := NewDecoder(append(bytes.Clone(nullVec), 0, 0, 0, 0))
		require.Nil(t, d.Strings())
		empty := d.Strings()
		require.NotNil(t, empty)
		require.Empty(t, empty)
		require.NoError(t, d.Err())

		var e Encoder
		e.Strings(nil)
		e.Strings([]string{})
		require.Equal(t, append(bytes.Clone(nullVec), 0, 0, 0, 0), e.B)
	})
	t.Run("children", func(t *testing.T) {
		// A null children vector decodes to nil; the encoder (used by the
		// test server) always writes a vector, never null.
		var got ChildrenResponse
		decodeAll(t, nullVec, &got)
		require.Nil(t, got.Children)
		require.Equal(t, []byte{0, 0, 0, 0}, encode(&ChildrenResponse{}))

		got2 := ChildrenResponse{HasStat: true}
		decodeAll(t, append(bytes.Clone(nullVec), encode(&Stat{})...), &got2)
		require.Nil(t, got2.Children)

		var mr MultiResponse
		var e Encoder
		(&MultiHeader{Type: OpGetChildren}).Encode(&e)
		e.Int32(-1)
		(&MultiHeader{Type: -1, Done: true, Err: -1}).Encode(&e)
		decodeAll(t, e.B, &mr)
		require.Len(t, mr.Results, 1)
		require.Nil(t, mr.Results[0].Children)
	})
	t.Run("SetWatches", func(t *testing.T) {
		b := append(make([]byte, 8), bytes.Repeat(nullVec, 5)...)
		got := SetWatches{V2: true}
		decodeAll(t, b, &got)
		require.Nil(t, got.DataWatches)
		require.Nil(t, got.ExistWatches)
		require.Nil(t, got.ChildWatches)
		require.Nil(t, got.PersistentWatches)
		require.Nil(t, got.PersistentRecursive)
	})
	t.Run("WhoAmI", func(t *testing.T) {
		var got WhoAmIResponse
		decodeAll(t, nullVec, &got)
		require.Nil(t, got.Info)
		decodeAll(t, []byte{0, 0, 0, 0}, &got)
		require.NotNil(t, got.Info)
		require.Empty(t, got.Info)
	})
	t.Run("null string", func(t *testing.T) {
		// Go strings cannot be null: a null ustring reads as "".
		var got WatcherEvent
		decodeAll(t, unhex(t, "00 00 00 01 00 00 00 03 ff ff ff ff"), &got)
		require.Equal(t, WatcherEvent{Type: EventNodeCreated, State: KeeperSyncConnected}, got)
	})
}

// ---------------------------------------------------------------------------
// Decoder robustness

func TestDecoderTruncatedPrimitives(t *testing.T) {
	full := []byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x11}
	tests := []struct {
		name string
		need int
		read func(d *Decoder) any
		zero any
	}{
		{"Int32", 4, func(d *Decoder) any { return d.Int32() }, int32(0)},
		{"Int64", 8, func(d *Decoder) any { return d.Int64() }, int64(0)},
		{"Bool", 1, func(d *Decoder) any { return d.Bool() }, false},
		{"Buffer", 5, func(d *Decoder) any { return d.Buffer() }, []byte(nil)},
		{"BufferView", 5, func(d *Decoder) any { return d.BufferView() }, []byte(nil)},
		{"String", 5, func(d *Decoder) any { return d.String() }, ""},
		{"Strings", 9, func(d *Decoder) any { return d.Strings() }, []string(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for n := 0; n < tt.need; n++ {
				in := bytes.Clone(full[:n])
				// Make the length prefixes claim exactly what `need` holds.
				switch tt.name {
				case "Buffer", "BufferView", "String":
					in = []byte{0, 0, 0, 1, 'x'}[:n]
				case "Strings":
					in = []byte{0, 0, 0, 1, 0, 0, 0, 1, 'x'}[:n]
				}
				d := NewDecoder(in)
				require.NotPanics(t, func() {
					require.Equal(t, tt.zero, tt.read(d), "prefix %d", n)
				})
				require.ErrorIs(t, d.Err(), ErrShortBuffer, "prefix %d", n)
				require.Zero(t, d.Remaining())
			}
		})
	}
}

func TestDecoderSticky(t *testing.T) {
	b := []byte{0, 0, 0, 99, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	d := NewDecoder(b)
	require.Nil(t, d.Buffer())
	require.ErrorIs(t, d.Err(), ErrShortBuffer)
	// Plenty of bytes in b, but every read after the failure is a zero value.
	require.Zero(t, d.Int32())
	require.Zero(t, d.Int64())
	require.False(t, d.Bool())
	require.Empty(t, d.String())
	require.Nil(t, d.Strings())
	require.Nil(t, d.BufferView())
	require.Zero(t, d.Remaining())
	require.ErrorIs(t, d.Err(), ErrShortBuffer)

	// The first error is kept.
	d = NewDecoder([]byte{0xff, 0xff, 0xff, 0xfe})
	require.Nil(t, d.Buffer())
	first := d.Err()
	require.Contains(t, first.Error(), "negative buffer length -2")
	d.Int32()
	require.Equal(t, first, d.Err())

	// Reset clears it.
	d.Reset([]byte{0, 0, 0, 7})
	require.NoError(t, d.Err())
	require.Equal(t, int32(7), d.Int32())
	require.Equal(t, 4, d.Offset())
}

// validEncodings returns, per record, a valid encoding and a fresh record to
// decode it into.
func validEncodings() []roundTripCase {
	st := sampleStat()
	acl := []ACL{{Perms: PermAll, Id: Id{Scheme: "world", ID: "anyone"}}}
	return []roundTripCase{
		{"Stat", &st, func() Record { return &Stat{} }, -1},
		{"ConnectRequest", &ConnectRequest{TimeOut: 1, Passwd: make([]byte, 16)}, func() Record { return &ConnectRequest{} }, -1},
		{"ConnectResponse", &ConnectResponse{TimeOut: 1, Passwd: make([]byte, 16)}, func() Record { return &ConnectResponse{} }, -1},
		{"ReplyHeader", &ReplyHeader{Xid: 1}, func() Record { return &ReplyHeader{} }, -1},
		{"RequestHeader", &RequestHeader{Xid: 1}, func() Record { return &RequestHeader{} }, -1},
		{"CreateRequest", &CreateRequest{Path: "/a", Data: []byte("d"), ACL: acl}, func() Record { return &CreateRequest{} }, -1},
		{"CreateTTLRequest", &CreateRequest{Path: "/a", ACL: acl, TTL: 5, IsTTL: true}, func() Record { return &CreateRequest{IsTTL: true} }, -1},
		{"SetACLRequest", &SetACLRequest{Path: "/a", ACL: acl, Version: 1}, func() Record { return &SetACLRequest{} }, -1},
		{"SetDataRequest", &SetDataRequest{Path: "/a", Data: []byte("xy")}, func() Record { return &SetDataRequest{} }, -1},
		{"ReconfigRequest", &ReconfigRequest{JoiningServers: "j", LeavingServers: "l", NewMembers: "n"}, func() Record { return &ReconfigRequest{} }, -1},
		{"AuthPacket", &AuthPacket{Scheme: "digest", Auth: []byte("u:p")}, func() Record { return &AuthPacket{} }, -1},
		{"SetWatches", &SetWatches{DataWatches: []string{"/a"}}, func() Record { return &SetWatches{} }, -1},
		{"SetWatches2", &SetWatches{PersistentRecursive: []string{"/a"}, V2: true}, func() Record { return &SetWatches{V2: true} }, -1},
		{"PathVersionRequest", &PathVersionRequest{Path: "/a"}, func() Record { return &PathVersionRequest{} }, -1},
		{"PathWatchRequest", &PathWatchRequest{Path: "/a"}, func() Record { return &PathWatchRequest{} }, -1},
		{"PathTypeRequest", &PathTypeRequest{Path: "/a"}, func() Record { return &PathTypeRequest{} }, -1},
		{"CreateResponse", &CreateResponse{Path: "/a"}, func() Record { return &CreateResponse{} }, -1},
		{"Create2Response", &CreateResponse{Path: "/a", Stat: st, HasStat: true}, func() Record { return &CreateResponse{HasStat: true} }, -1},
		{"StatResponse", &StatResponse{Stat: st}, func() Record { return &StatResponse{} }, -1},
		{"GetDataResponse", &GetDataResponse{Data: []byte("abc"), Stat: st}, func() Record { return &GetDataResponse{} }, -1},
		{"GetACLResponse", &GetACLResponse{ACL: acl, Stat: st}, func() Record { return &GetACLResponse{} }, -1},
		{"ChildrenResponse", &ChildrenResponse{Children: []string{"a", "bc"}}, func() Record { return &ChildrenResponse{} }, -1},
		{"Children2Response", &ChildrenResponse{Children: []string{"a"}, Stat: st, HasStat: true}, func() Record { return &ChildrenResponse{HasStat: true} }, -1},
		{"IntResponse", &IntResponse{Value: 3}, func() Record { return &IntResponse{} }, -1},
		{"WhoAmIResponse", &WhoAmIResponse{Info: []ClientInfo{{"ip", "127.0.0.1"}, {"digest", "u"}}}, func() Record { return &WhoAmIResponse{} }, -1},
		{"WatcherEvent", &WatcherEvent{Type: 1, State: 3, Path: "/a"}, func() Record { return &WatcherEvent{} }, -1},
		{"MultiHeader", &MultiHeader{Type: 1}, func() Record { return &MultiHeader{} }, -1},
		{"MultiRequest", allOpsMultiRequest(), func() Record { return &MultiRequest{} }, -1},
		{"MultiResponse", allResultsMultiResponse(), func() Record { return &MultiResponse{} }, -1},
	}
}

func TestRecordsTruncatedEverywhere(t *testing.T) {
	for _, tc := range validEncodings() {
		t.Run(tc.name, func(t *testing.T) {
			b := encode(tc.rec)
			optionalLast := false
			switch tc.rec.(type) {
			case *ConnectRequest, *ConnectResponse:
				optionalLast = true // the readOnly byte may be absent
			}
			for n := 0; n < len(b); n++ {
				if optionalLast && n == len(b)-1 {
					require.NoError(t, DecodeRecord(b[:n:n], tc.fresh()))
					continue
				}
				var err error
				require.NotPanics(t, func() { err = DecodeRecord(b[:n:n], tc.fresh()) }, "prefix %d", n)
				require.ErrorIs(t, err, ErrShortBuffer, "prefix %d of %d", n, len(b))
			}
		})
	}
}

func TestTruncatedVectorsComeBackNil(t *testing.T) {
	// A vector whose elements run past the frame returns nil, not a partial
	// slice.
	b := encode(&ChildrenResponse{Children: []string{"aaaa", "bbbb", "cccc"}})
	var c ChildrenResponse
	require.ErrorIs(t, DecodeRecord(b[:len(b)-1], &c), ErrShortBuffer)
	require.Nil(t, c.Children)

	acl := []ACL{{1, Id{"a", "b"}}, {2, Id{"c", "d"}}, {3, Id{"eeeeeeeeeeeee", "f"}}}
	b = encode(&GetACLResponse{ACL: acl})
	var g GetACLResponse
	require.ErrorIs(t, DecodeRecord(b[:len(b)-StatLen-1], &g), ErrShortBuffer)
	require.Nil(t, g.ACL)
}

func TestDecoderNegativeLengths(t *testing.T) {
	for _, v := range []int32{-2, -3, -1000, math.MinInt32} {
		neg := binary.BigEndian.AppendUint32(nil, uint32(v))
		pad := append(bytes.Clone(neg), make([]byte, 128)...)
		for _, tt := range []struct {
			name string
			read func(d *Decoder)
			what string
		}{
			{"Buffer", func(d *Decoder) { require.Nil(t, d.Buffer()) }, "buffer"},
			{"BufferView", func(d *Decoder) { require.Nil(t, d.BufferView()) }, "buffer"},
			{"String", func(d *Decoder) { require.Empty(t, d.String()) }, "string"},
			{"Strings", func(d *Decoder) { require.Nil(t, d.Strings()) }, "vector"},
			{"ACLs", func(d *Decoder) { require.Nil(t, DecodeACLs(d)) }, "vector"},
			{"WhoAmI", func(d *Decoder) { var w WhoAmIResponse; w.Decode(d); require.Nil(t, w.Info) }, "vector"},
		} {
			d := NewDecoder(pad)
			tt.read(d)
			err := d.Err()
			require.Error(t, err, "%s %d", tt.name, v)
			require.NotErrorIs(t, err, ErrShortBuffer)
			require.Contains(t, err.Error(), "negative "+tt.what+" length")
			require.Zero(t, d.Remaining())
		}
	}
	// Within records.
	require.Error(t, DecodeRecord(unhex(t, "00 00 00 01 00 00 00 03 ff ff ff fe"), &WatcherEvent{}))
	require.Error(t, DecodeRecord(unhex(t, "ff ff ff f0"), &GetDataResponse{}))
}

func TestDecoderHugeCounts(t *testing.T) {
	// A count of 0x7fffffff with a few bytes behind it must fail before any
	// allocation proportional to the count.
	huge := unhex(t, "7f ff ff ff")
	withTail := append(bytes.Clone(huge), make([]byte, 64)...)
	withStat := append(bytes.Clone(huge), make([]byte, StatLen)...)

	var multiChildren Encoder
	(&MultiHeader{Type: OpGetChildren}).Encode(&multiChildren)
	multiChildren.B = append(multiChildren.B, withTail...)

	cases := []struct {
		name  string
		frame []byte
		fresh func() Record
	}{
		{"ChildrenResponse", withTail, func() Record { return &ChildrenResponse{} }},
		{"Children2Response", withStat, func() Record { return &ChildrenResponse{HasStat: true} }},
		{"GetACLResponse", withStat, func() Record { return &GetACLResponse{} }},
		{"WhoAmIResponse", withTail, func() Record { return &WhoAmIResponse{} }},
		{"SetWatches", append(make([]byte, 8), withTail...), func() Record { return &SetWatches{} }},
		{"CreateRequest ACL", append(unhex(t, "00 00 00 01 2f ff ff ff ff"), withTail...), func() Record { return &CreateRequest{} }},
		{"GetDataResponse buffer", withStat, func() Record { return &GetDataResponse{} }},
		{"CreateResponse string", withTail, func() Record { return &CreateResponse{} }},
		{"MultiResponse getChildren", multiChildren.B, func() Record { return &MultiResponse{} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := DecodeRecord(tc.frame, tc.fresh())
			require.ErrorIs(t, err, ErrShortBuffer)
			require.Less(t, time.Since(start), time.Second)

			allocs := testing.AllocsPerRun(50, func() { _ = DecodeRecord(tc.frame, tc.fresh()) })
			require.LessOrEqual(t, allocs, float64(4), "allocations per decode")
			perRun := bytesAllocatedPerRun(50, func() { _ = DecodeRecord(tc.frame, tc.fresh()) })
			require.Less(t, perRun, uint64(4<<10), "bytes allocated per decode")
		})
	}

	// Just within the bound: a count equal to what the frame can hold is
	// attempted, and fails on the element contents, not up front.
	d := NewDecoder(append(unhex(t, "00 00 00 02"), 0, 0, 0, 0, 0, 0, 0, 9))
	require.Nil(t, d.Strings())
	require.ErrorIs(t, d.Err(), ErrShortBuffer)
}

// ---------------------------------------------------------------------------
// FrameReader

type countingReader struct {
	r     io.Reader
	reads int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	return c.r.Read(p)
}

// chunkReader returns at most sizes[i % len(sizes)] bytes per Read.
type chunkReader struct {
	data  []byte
	sizes []int
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.data), c.sizes[c.i%len(c.sizes)])
	c.i++
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func frameOf(payload []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

func payload(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = seed + byte(i*7)
	}
	return p
}

// readAll reads frames until an error and returns copies of them.
func readAll(fr *FrameReader) ([][]byte, error) {
	var out [][]byte
	for {
		p, err := fr.Next()
		if err != nil {
			return out, err
		}
		out = append(out, bytes.Clone(p))
	}
}

func TestFrameReaderOneByteReads(t *testing.T) {
	want := [][]byte{payload(0, 0), payload(1, 1), payload(17, 2), payload(300, 3),
		unhex(t, "ff ff ff fe 00 00 00 0b")}
	var stream []byte
	for _, p := range want {
		stream = append(stream, frameOf(p)...)
	}
	cr := &countingReader{r: iotest.OneByteReader(bytes.NewReader(stream))}
	got, err := readAll(NewFrameReader(cr, 0))
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, want, got)
	require.GreaterOrEqual(t, cr.reads, len(stream), "really one byte per read")

	// The §16 examples, concatenated, through one-byte reads.
	examples := unhex(t, "00 00 00 08 ff ff ff fe 00 00 00 0b "+
		"00 00 00 0f 00 00 00 01 00 00 00 04 00 00 00 02 2f 61 01")
	fr := NewFrameReader(iotest.OneByteReader(bytes.NewReader(examples)), 0)
	p, err := fr.Next()
	require.NoError(t, err)
	var h RequestHeader
	decodeAll(t, p, &h)
	require.Equal(t, RequestHeader{Xid: XidPing, OpCode: OpPing}, h)
	p, err = fr.Next()
	require.NoError(t, err)
	var gd PathWatchRequest
	decodeAll(t, p, &h, &gd)
	require.Equal(t, PathWatchRequest{Path: "/a", Watch: true}, gd)
	_, err = fr.Next()
	require.ErrorIs(t, err, io.EOF)
}

func TestFrameReaderManyFramesOneRead(t *testing.T) {
	var stream []byte
	var want [][]byte
	for i := range 50 {
		p := payload(i*3, byte(i))
		want = append(want, p)
		stream = append(stream, frameOf(p)...)
	}
	cr := &countingReader{r: bytes.NewReader(stream)}
	fr := NewFrameReader(cr, 0)

	p, err := fr.Next()
	require.NoError(t, err)
	require.Equal(t, want[0], p)
	require.Equal(t, 1, cr.reads, "the whole stream arrived in one read")
	require.Equal(t, len(stream)-4-len(want[0]), fr.Buffered())

	for i := 1; i < len(want); i++ {
		p, err := fr.Next()
		require.NoError(t, err)
		require.Equal(t, want[i], p)
	}
	require.Equal(t, 1, cr.reads, "buffered frames come out without reading again")
	require.Zero(t, fr.Buffered())
	_, err = fr.Next()
	require.ErrorIs(t, err, io.EOF)
}

func TestFrameReaderBuffered(t *testing.T) {
	// Buffered counts bytes read from the stream but not yet returned,
	// including a partial frame.
	a, b := frameOf([]byte("first")), frameOf([]byte("second"))
	stream := append(bytes.Clone(a), b[:6]...)
	fr := NewFrameReader(bytes.NewReader(stream), 0)
	require.Zero(t, fr.Buffered())
	p, err := fr.Next()
	require.NoError(t, err)
	require.Equal(t, "first", string(p))
	require.Equal(t, 6, fr.Buffered())
	_, err = fr.Next()
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

func TestFrameReaderLimits(t *testing.T) {
	const max = 1000

	t.Run("exactly max", func(t *testing.T) {
		p := payload(max, 9)
		fr := NewFrameReader(bytes.NewReader(append(frameOf(p), frameOf(nil)...)), max)
		got, err := fr.Next()
		require.NoError(t, err)
		require.Equal(t, p, got)
		got, err = fr.Next()
		require.NoError(t, err)
		require.Empty(t, got)
		_, err = fr.Next()
		require.ErrorIs(t, err, io.EOF)
	})

	t.Run("exactly max above the initial buffer", func(t *testing.T) {
		const big = 200_000
		p := payload(big, 1)
		fr := NewFrameReader(iotest.HalfReader(bytes.NewReader(frameOf(p))), big)
		got, err := fr.Next()
		require.NoError(t, err)
		require.Equal(t, p, got)
		require.LessOrEqual(t, len(fr.buf), 2*(big+4))
	})

	tooLarge := []struct {
		name   string
		max    int
		prefix int64
	}{
		{"max+1", max, max + 1},
		{"max+1 of 256 MiB", 256 << 20, 256<<20 + 1},
		{"max+1 default limit", 0, DefaultMaxFrame + 1},
		{"MaxInt32", max, math.MaxInt32},
		{"negative -1", max, -1},
		{"negative -2", 256 << 20, -2},
		{"MinInt32", max, math.MinInt32},
	}
	for _, tt := range tooLarge {
		t.Run(tt.name, func(t *testing.T) {
			stream := binary.BigEndian.AppendUint32(nil, uint32(int32(tt.prefix)))
			stream = append(stream, make([]byte, 16)...)
			fr := NewFrameReader(bytes.NewReader(stream), tt.max)
			bufLen := len(fr.buf)

			p, err := fr.Next()
			require.Nil(t, p)
			var tl *FrameTooLargeError
			require.ErrorAs(t, err, &tl)
			wantMax := tt.max
			if wantMax <= 0 {
				wantMax = DefaultMaxFrame
			}
			require.Equal(t, &FrameTooLargeError{Len: tt.prefix, Max: wantMax}, tl)
			if tt.prefix < 0 {
				require.Contains(t, err.Error(), "negative length prefix")
			} else {
				require.Contains(t, err.Error(), "exceeds the limit")
			}
			require.Equal(t, bufLen, len(fr.buf), "buffer not grown")

			// The error repeats without allocating anything large.
			allocs := testing.AllocsPerRun(20, func() { _, _ = fr.Next() })
			require.LessOrEqual(t, allocs, float64(1))
			require.Less(t, bytesAllocatedPerRun(20, func() { _, _ = fr.Next() }), uint64(1024))
		})
	}

	t.Run("fresh reader allocates only its buffer", func(t *testing.T) {
		stream := binary.BigEndian.AppendUint32(nil, 256<<20+1)
		perRun := bytesAllocatedPerRun(10, func() {
			fr := NewFrameReader(bytes.NewReader(stream), 256<<20)
			_, err := fr.Next()
			if err == nil {
				panic("expected error")
			}
		})
		require.Less(t, perRun, uint64(80<<10))
	})
}

func TestFrameReaderEOF(t *testing.T) {
	full := append(frameOf([]byte("abc")), frameOf([]byte("defgh"))...)

	t.Run("empty stream", func(t *testing.T) {
		_, err := NewFrameReader(bytes.NewReader(nil), 0).Next()
		require.Equal(t, io.EOF, err)
	})
	t.Run("clean EOF between frames", func(t *testing.T) {
		for _, r := range []io.Reader{bytes.NewReader(full), iotest.OneByteReader(bytes.NewReader(full)), iotest.DataErrReader(bytes.NewReader(full))} {
			got, err := readAll(NewFrameReader(r, 0))
			require.Equal(t, io.EOF, err, "exactly io.EOF, not wrapped")
			require.Equal(t, [][]byte{[]byte("abc"), []byte("defgh")}, got)
		}
	})
	t.Run("EOF mid-frame", func(t *testing.T) {
		for cut := 1; cut < len(full); cut++ {
			if cut == 7 { // a frame boundary
				continue
			}
			for _, mk := range []func([]byte) io.Reader{
				func(b []byte) io.Reader { return bytes.NewReader(b) },
				func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
				func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) },
			} {
				got, err := readAll(NewFrameReader(mk(full[:cut]), 0))
				require.ErrorIs(t, err, io.ErrUnexpectedEOF, "cut at %d", cut)
				if cut > 7 {
					require.Len(t, got, 1)
				} else {
					require.Empty(t, got)
				}
			}
		}
	})
	t.Run("other errors pass through", func(t *testing.T) {
		boom := errors.New("boom")
		r := io.MultiReader(bytes.NewReader(full[:5]), iotest.ErrReader(boom))
		_, err := NewFrameReader(r, 0).Next()
		require.ErrorIs(t, err, boom)

		r = io.MultiReader(bytes.NewReader(full[:7]), iotest.ErrReader(boom))
		fr := NewFrameReader(r, 0)
		p, err := fr.Next()
		require.NoError(t, err)
		require.Equal(t, "abc", string(p))
		_, err = fr.Next()
		require.ErrorIs(t, err, boom)
	})
}

func TestFrameReaderGrowsBeyondInitialBuffer(t *testing.T) {
	initial := len(NewFrameReader(nil, 0).buf)
	require.Equal(t, 64<<10, initial)

	sizes := []int{10, initial - 4, initial - 3, initial, initial + 1, 300_000, 5, 1 << 20, 0, 70_000}
	var stream []byte
	var want [][]byte
	for i, n := range sizes {
		p := payload(n, byte(i))
		want = append(want, p)
		stream = append(stream, frameOf(p)...)
	}
	for _, tt := range []struct {
		name string
		r    func() io.Reader
	}{
		{"one read", func() io.Reader { return bytes.NewReader(stream) }},
		{"half reads", func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) }},
		{"odd chunks", func() io.Reader { return &chunkReader{data: stream, sizes: []int{1, 3, 4093, 65537, 7}} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fr := NewFrameReader(tt.r(), 2<<20)
			got, err := readAll(fr)
			require.ErrorIs(t, err, io.EOF)
			require.Equal(t, len(want), len(got))
			for i := range want {
				require.True(t, bytes.Equal(want[i], got[i]), "frame %d (%d bytes)", i, len(want[i]))
			}
			require.GreaterOrEqual(t, len(fr.buf), 1<<20+4)
			require.LessOrEqual(t, len(fr.buf), 2*(1<<20+4))
		})
	}
}

func TestFrameReaderRandomStreams(t *testing.T) {
	// Frames of random sizes through random chunkings, checked against the
	// stream parsed directly: exercises compaction at the buffer's end.
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 30 {
		var stream []byte
		var want [][]byte
		for range 40 {
			n := rng.IntN(40 << 10)
			if rng.IntN(10) == 0 {
				n = rng.IntN(200 << 10)
			}
			p := payload(n, byte(rng.Uint32()))
			want = append(want, p)
			stream = append(stream, frameOf(p)...)
		}
		sizes := make([]int, 1+rng.IntN(5))
		for i := range sizes {
			sizes[i] = 1 + rng.IntN(100<<10)
		}
		got, err := readAll(NewFrameReader(&chunkReader{data: stream, sizes: sizes}, 0))
		require.ErrorIs(t, err, io.EOF, "iteration %d", iter)
		require.Equal(t, len(want), len(got))
		for i := range want {
			require.True(t, bytes.Equal(want[i], got[i]), "iteration %d frame %d", iter, i)
		}
	}
}

// A frame refused as above the limit can have its head read and be skipped;
// the frames around it come through intact, whether the stream arrives in
// one read or a byte at a time, and memory does not grow to the frame.
func TestFrameReaderSkipRefused(t *testing.T) {
	const limit = 1024
	big := payload(200_000, 9) // larger than the reader's 64 KiB buffer too
	small1, small2 := payload(40, 1), payload(limit, 2)
	stream := append(append(frameOf(small1), frameOf(big)...), frameOf(small2)...)
	for name, r := range map[string]func() io.Reader{
		"whole":    func() io.Reader { return bytes.NewReader(stream) },
		"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) },
	} {
		t.Run(name, func(t *testing.T) {
			fr := NewFrameReader(r(), limit)
			p, err := fr.Next()
			require.NoError(t, err)
			require.Equal(t, small1, p)
			_, err = fr.Next()
			var fe *FrameTooLargeError
			require.ErrorAs(t, err, &fe)
			require.EqualValues(t, len(big), fe.Len)
			head, err := fr.PeekRefused(16)
			require.NoError(t, err)
			require.Equal(t, big[:16], head)
			_, err = fr.PeekRefused(len(big) + 1)
			require.Error(t, err, "peeking past the frame")
			require.NoError(t, fr.SkipRefused())
			require.LessOrEqual(t, len(fr.buf), 64<<10, "the buffer did not grow to the refused frame")
			p, err = fr.Next()
			require.NoError(t, err)
			require.Equal(t, small2, p)
			_, err = fr.Next()
			require.ErrorIs(t, err, io.EOF)
			require.Error(t, fr.SkipRefused(), "nothing refused to skip")
		})
	}
	// Nothing refused: peek and skip say so and consume nothing.
	fr := NewFrameReader(bytes.NewReader(frameOf(small1)), limit)
	_, err := fr.PeekRefused(4)
	require.ErrorContains(t, err, "zk: no refused frame")
	require.ErrorContains(t, fr.SkipRefused(), "zk: no refused frame")
	p, err := fr.Next()
	require.NoError(t, err)
	require.Equal(t, small1, p)
	// A stream that ends inside the refused frame.
	fr = NewFrameReader(bytes.NewReader(stream[:len(frameOf(small1))+5000]), limit)
	_, err = fr.Next()
	require.NoError(t, err)
	_, err = fr.Next()
	require.Error(t, err)
	require.ErrorIs(t, fr.SkipRefused(), io.ErrUnexpectedEOF)
}
