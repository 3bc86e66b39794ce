package proto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// ---------------------------------------------------------------------------
// FuzzFrameReader

// fuzzStreamReader hands out data in chunks of at most chunk bytes (0: all at
// once). With eofWithData the last chunk comes back together with io.EOF, as
// io.Reader allows.
type fuzzStreamReader struct {
	data        []byte
	chunk       int
	eofWithData bool
}

func (r *fuzzStreamReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if r.chunk > 0 {
		n = min(n, r.chunk)
	}
	n = copy(p, r.data[:n])
	r.data = r.data[n:]
	if r.eofWithData && len(r.data) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// refFrames parses stream directly, as FrameReader must.
func refFrames(stream []byte, max int) ([][]byte, error) {
	var out [][]byte
	for {
		switch {
		case len(stream) == 0:
			return out, io.EOF
		case len(stream) < 4:
			return out, io.ErrUnexpectedEOF
		}
		n := int64(int32(binary.BigEndian.Uint32(stream)))
		if n < 0 || n > int64(max) {
			return out, &FrameTooLargeError{Len: n, Max: max}
		}
		if int64(len(stream)-4) < n {
			return out, io.ErrUnexpectedEOF
		}
		out = append(out, stream[4:4+n])
		stream = stream[4+n:]
	}
}

func FuzzFrameReader(f *testing.F) {
	frame := func(p []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(p))), p...) }
	ping := []byte{0, 0, 0, 8, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0x0b}
	getData := []byte{0, 0, 0, 0x0f, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 2, 0x2f, 0x61, 1}
	f.Add([]byte{}, int32(0), uint8(0))
	f.Add(ping, int32(8), uint8(1))
	f.Add(ping, int32(7), uint8(0))
	f.Add(append(bytes.Clone(ping), getData...), int32(100), uint8(3))
	f.Add(append(bytes.Clone(ping), getData[:10]...), int32(100), uint8(0x82))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, int32(16), uint8(0))
	f.Add([]byte{0x80, 0, 0, 0, 1, 2}, int32(-5), uint8(2))
	f.Add([]byte{0, 1, 0, 1, 1, 2, 3}, int32(70000), uint8(0x80))
	// Growth beyond the initial 64 KiB buffer needs only a prefix above it:
	// the reader grows before reading the body. (Large seeds make the
	// fuzzer's minimisation crawl, so keep them small.)
	f.Add(append([]byte{0, 1, 0, 0}, frame([]byte{1, 2})...), int32(70000), uint8(0x80|9))
	f.Add(append(frame(nil), frame([]byte{1})...), int32(1), uint8(1))

	f.Fuzz(func(t *testing.T, stream []byte, rawMax int32, chunk uint8) {
		// Keep limits small so a claimed-but-absent frame cannot make every
		// execution allocate megabytes; <= 0 exercises the default limit.
		limit := int(rawMax % (256 << 10))
		effMax := limit
		if effMax <= 0 {
			effMax = DefaultMaxFrame
		}
		r := &fuzzStreamReader{data: stream, chunk: int(chunk & 0x7f), eofWithData: chunk&0x80 != 0}
		fr := NewFrameReader(r, limit)
		wantFrames, wantErr := refFrames(stream, effMax)

		// Plain comparisons in the per-frame loop: streams of thousands of
		// empty frames are common inputs, and minimisation runs them often.
		var err error
		n := 0
		for ; ; n++ {
			var p []byte
			p, err = fr.Next()
			if err != nil {
				if p != nil {
					t.Fatalf("frame returned with error %v", err)
				}
				break
			}
			if len(p) > effMax {
				t.Fatalf("frame %d of %d bytes above the limit %d", n, len(p), effMax)
			}
			if n >= len(wantFrames) || !bytes.Equal(p, wantFrames[n]) {
				t.Fatalf("frame %d differs from the stream: got % x", n, p)
			}
		}
		if n != len(wantFrames) {
			t.Fatalf("got %d frames, the stream holds %d", n, len(wantFrames))
		}
		var tl *FrameTooLargeError
		if errors.As(wantErr, &tl) {
			var gtl *FrameTooLargeError
			require.ErrorAs(t, err, &gtl)
			require.Equal(t, tl, gtl)
		} else {
			require.Equal(t, wantErr, err)
		}
		// The buffer grows only for frames within the limit, to at most
		// twice the largest such frame.
		require.LessOrEqual(t, len(fr.buf), max(64<<10, 2*(effMax+4)))
	})
}

// ---------------------------------------------------------------------------
// round-trip harness shared by the decoder fuzz targets

// fuzzKind is one decoder under fuzz.
type fuzzKind struct {
	name string
	// header is the record in front of the body (ReplyHeader or
	// RequestHeader), or nil for the handshake records.
	header func() Record
	fresh  func() Record
	// canon applies the encoder's documented normalisations to a decoded
	// record, so that it can be compared with the record decoded after a
	// re-encode. It must not touch anything else.
	canon func(Record)
}

// checkRoundTrip decodes data; if that succeeds, the record must re-encode,
// decode again to an equal record with no byte left over, and re-encode to
// the same bytes.
func checkRoundTrip(t *testing.T, k fuzzKind, data []byte) {
	var recs1 []Record
	if k.header != nil {
		recs1 = append(recs1, k.header())
	}
	recs1 = append(recs1, k.fresh())
	d := NewDecoder(data)
	for _, r := range recs1 {
		r.Decode(d)
	}
	if d.Err() != nil {
		require.Zero(t, d.Remaining(), "a failed decoder consumes everything")
		return
	}

	b1 := encode(recs1...)
	if k.canon != nil {
		k.canon(recs1[len(recs1)-1])
	}

	var recs2 []Record
	if k.header != nil {
		recs2 = append(recs2, k.header())
	}
	recs2 = append(recs2, k.fresh())
	d2 := NewDecoder(b1)
	for _, r := range recs2 {
		r.Decode(d2)
	}
	require.NoError(t, d2.Err(), "%s: re-encoded record does not decode\n% x", k.name, b1)
	require.Zero(t, d2.Remaining(), "%s: re-encoded record has trailing bytes", k.name)
	require.Equal(t, recs1, recs2, "%s: record changed across re-encoding", k.name)
	require.Equal(t, b1, encode(recs2...), "%s: encoding is not a fixpoint", k.name)
}

func nonNilStrings(p *[]string) {
	if *p == nil {
		*p = []string{}
	}
}

func replyHeader() Record   { return &ReplyHeader{} }
func requestHeader() Record { return &RequestHeader{} }

// ---------------------------------------------------------------------------
// FuzzDecodeResponse: every client-side decoder

var responseKinds = []fuzzKind{
	{name: "ConnectResponse", fresh: func() Record { return &ConnectResponse{} }},
	{name: "CreateResponse", header: replyHeader, fresh: func() Record { return &CreateResponse{} }},
	{name: "Create2Response", header: replyHeader, fresh: func() Record { return &CreateResponse{HasStat: true} }},
	{name: "StatResponse", header: replyHeader, fresh: func() Record { return &StatResponse{} }},
	{name: "GetDataResponse", header: replyHeader, fresh: func() Record { return &GetDataResponse{} }},
	{name: "GetACLResponse", header: replyHeader, fresh: func() Record { return &GetACLResponse{} }},
	{name: "ChildrenResponse", header: replyHeader, fresh: func() Record { return &ChildrenResponse{} },
		canon: func(r Record) { nonNilStrings(&r.(*ChildrenResponse).Children) }},
	{name: "Children2Response", header: replyHeader, fresh: func() Record { return &ChildrenResponse{HasStat: true} },
		canon: func(r Record) { nonNilStrings(&r.(*ChildrenResponse).Children) }},
	{name: "IntResponse", header: replyHeader, fresh: func() Record { return &IntResponse{} }},
	{name: "WhoAmIResponse", header: replyHeader, fresh: func() Record { return &WhoAmIResponse{} },
		canon: func(r Record) {
			if w := r.(*WhoAmIResponse); w.Info == nil {
				w.Info = []ClientInfo{}
			}
		}},
	{name: "WatcherEvent", header: replyHeader, fresh: func() Record { return &WatcherEvent{} }},
	{name: "MultiResponse", header: replyHeader, fresh: func() Record { return &MultiResponse{} },
		canon: func(r Record) {
			for i := range r.(*MultiResponse).Results {
				if res := &r.(*MultiResponse).Results[i]; res.Type == OpGetChildren {
					nonNilStrings(&res.Children)
				}
			}
		}},
}

func responseKindIndex(name string) byte {
	for i, k := range responseKinds {
		if k.name == name {
			return byte(i)
		}
	}
	panic("unknown kind " + name)
}

// responseSeeds are valid replies, one or more per kind.
func responseSeeds() map[string][][]byte {
	st := sampleStat()
	rh := &ReplyHeader{Xid: 7, Zxid: 0x100000003, Err: 0}
	acl := []ACL{{Perms: PermAll, Id: Id{Scheme: "world", ID: "anyone"}}}
	var failedMulti Encoder
	(&MultiHeader{Type: -1, Err: 0}).Encode(&failedMulti)
	failedMulti.Int32(0)
	(&MultiHeader{Type: -1, Err: -110}).Encode(&failedMulti)
	failedMulti.Int32(-110)
	(&MultiHeader{Type: -1, Err: -2}).Encode(&failedMulti)
	failedMulti.Int32(-2)
	(&MultiHeader{Type: -1, Done: true, Err: -1}).Encode(&failedMulti)
	var ttlResult Encoder
	(&MultiHeader{Type: OpCreateTTL}).Encode(&ttlResult)
	ttlResult.String("/t")
	st.Encode(&ttlResult)
	(&MultiHeader{Type: -1, Done: true, Err: -1}).Encode(&ttlResult)

	return map[string][][]byte{
		"ConnectResponse": {
			encode(&ConnectResponse{TimeOut: 30000, SessionID: 0x1234, Passwd: bytes.Repeat([]byte{7}, 16)}),
			encode(&ConnectResponse{TimeOut: 30000, SessionID: 0x1234, Passwd: bytes.Repeat([]byte{7}, 16), OmitReadOnly: true}),
			encode(&ConnectResponse{Passwd: make([]byte, 16)}),
		},
		"CreateResponse":    {encode(rh, &CreateResponse{Path: "/q/lock-0000000001"})},
		"Create2Response":   {encode(rh, &CreateResponse{Path: "/c", Stat: st, HasStat: true})},
		"StatResponse":      {encode(rh, &StatResponse{Stat: st}), encode(&ReplyHeader{Xid: 3, Err: ErrNoNode})},
		"GetDataResponse":   {encode(rh, &GetDataResponse{Data: []byte("hello"), Stat: st}), encode(rh, &GetDataResponse{Stat: st})},
		"GetACLResponse":    {encode(rh, &GetACLResponse{ACL: acl, Stat: st})},
		"ChildrenResponse":  {encode(rh, &ChildrenResponse{Children: []string{"a", "zookeeper"}}), append(encode(rh), 0xff, 0xff, 0xff, 0xff)},
		"Children2Response": {encode(rh, &ChildrenResponse{Children: []string{"x"}, Stat: st, HasStat: true})},
		"IntResponse":       {encode(rh, &IntResponse{Value: 12})},
		"WhoAmIResponse":    {encode(rh, &WhoAmIResponse{Info: []ClientInfo{{"ip", "127.0.0.1"}, {"digest", "user"}}})},
		"WatcherEvent":      {encode(&ReplyHeader{Xid: -1, Zxid: -1}, &WatcherEvent{Type: EventNodeDataChanged, State: KeeperSyncConnected, Path: "/a"})},
		"MultiResponse": {
			encode(rh, allResultsMultiResponse()),
			append(encode(rh), failedMulti.B...),
			// Regression: result types 19 and 21 carry path + Stat; Encode
			// used to drop the body (see TestMultiResponseCreateResultTypes).
			append(encode(rh), ttlResult.B...),
		},
	}
}

func FuzzDecodeResponse(f *testing.F) {
	seeds := responseSeeds()
	for _, k := range responseKinds {
		for _, s := range seeds[k.name] {
			f.Add(responseKindIndex(k.name), s)
		}
	}
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		checkRoundTrip(t, responseKinds[int(kind)%len(responseKinds)], data)
	})
}

// FuzzFrameReaderSkip: frames above the limit are peeked at and skipped, as
// the client does with a reply too large for it; every frame and every
// skipped frame's head must match the stream, and memory must not grow to
// a skipped frame.
func FuzzFrameReaderSkip(f *testing.F) {
	frame := func(p []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(p))), p...) }
	f.Add(append(append(frame([]byte{1}), frame(make([]byte, 40))...), frame([]byte{2, 3})...), uint8(20), uint8(0))
	f.Add(append(frame(make([]byte, 300)), frame(nil)...), uint8(16), uint8(7))
	f.Add(frame(make([]byte, 100))[:50], uint8(8), uint8(0x81))
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 1, 2, 3}, uint8(4), uint8(3))

	f.Fuzz(func(t *testing.T, stream []byte, rawMax uint8, chunk uint8) {
		limit := 1024 + int(rawMax) // the smallest limit a handle accepts, and a little more
		if len(stream) > 0 && rawMax < 64 {
			limit = int(rawMax) + 1 // small limits make more frames refused
		}
		r := &fuzzStreamReader{data: stream, chunk: int(chunk & 0x7f), eofWithData: chunk&0x80 != 0}
		fr := NewFrameReader(r, limit)
		rest := stream
		for n := 0; ; n++ {
			p, err := fr.Next()
			var tl *FrameTooLargeError
			switch {
			case err == nil:
				size := int(binary.BigEndian.Uint32(rest))
				if size != len(p) || !bytes.Equal(p, rest[4:4+size]) {
					t.Fatalf("frame %d differs from the stream", n)
				}
				rest = rest[4+size:]
				continue
			case errors.As(err, &tl) && tl.Len >= 0:
				head, perr := fr.PeekRefused(int(min(tl.Len, 16)))
				if perr == nil && !bytes.Equal(head, rest[4:4+len(head)]) {
					t.Fatalf("refused frame %d: head % x, the stream has % x", n, head, rest[4:4+len(head)])
				}
				if serr := fr.SkipRefused(); serr != nil {
					if int64(len(rest)-4) >= tl.Len {
						t.Fatalf("skip of a whole frame failed: %v", serr)
					}
					return // the stream ended inside it
				}
				if int64(len(rest)-4) < tl.Len {
					t.Fatalf("skipped a frame of %d bytes with only %d in the stream", tl.Len, len(rest)-4)
				}
				rest = rest[4+tl.Len:]
				if len(fr.buf) > max(64<<10, 2*(limit+4)) {
					t.Fatalf("buffer grew to %d for a refused frame", len(fr.buf))
				}
				continue
			case errors.As(err, &tl):
				return // a negative length: the stream is unusable
			case errors.Is(err, io.EOF):
				if len(rest) != 0 {
					t.Fatalf("EOF with %d bytes left", len(rest))
				}
				return
			default:
				if len(rest) == 0 {
					t.Fatalf("error %v at the end of the stream", err)
				}
				return // a truncated frame
			}
		}
	})
}

// ---------------------------------------------------------------------------
// FuzzMultiRequest: the server-side decoders

var requestKinds = []fuzzKind{
	{name: "MultiRequest", header: requestHeader, fresh: func() Record { return &MultiRequest{} }},
	{name: "ConnectRequest", fresh: func() Record { return &ConnectRequest{} },
		// Encode always writes the readOnly byte.
		canon: func(r Record) { r.(*ConnectRequest).HasReadOnly = true }},
	{name: "CreateRequest", header: requestHeader, fresh: func() Record { return &CreateRequest{} }},
	{name: "CreateTTLRequest", header: requestHeader, fresh: func() Record { return &CreateRequest{IsTTL: true} }},
	{name: "SetWatches", header: requestHeader, fresh: func() Record { return &SetWatches{} },
		canon: func(r Record) {
			w := r.(*SetWatches)
			nonNilStrings(&w.DataWatches)
			nonNilStrings(&w.ExistWatches)
			nonNilStrings(&w.ChildWatches)
		}},
	{name: "SetWatches2", header: requestHeader, fresh: func() Record { return &SetWatches{V2: true} },
		canon: func(r Record) {
			w := r.(*SetWatches)
			nonNilStrings(&w.DataWatches)
			nonNilStrings(&w.ExistWatches)
			nonNilStrings(&w.ChildWatches)
			nonNilStrings(&w.PersistentWatches)
			nonNilStrings(&w.PersistentRecursive)
		}},
}

func requestKindIndex(name string) byte {
	for i, k := range requestKinds {
		if k.name == name {
			return byte(i)
		}
	}
	panic("unknown kind " + name)
}

func requestSeeds() map[string][][]byte {
	acl := []ACL{{Perms: PermAll, Id: Id{Scheme: "world", ID: "anyone"}}}
	// PROTOCOL.md §16 multi example, without its length prefix.
	multi16 := []byte{0, 0, 0, 2, 0, 0, 0, 0x0e,
		0, 0, 0, 0x0d, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, 0x2f, 0x61, 0xff, 0xff, 0xff, 0xff,
		0, 0, 0, 0x02, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, 0x2f, 0x61, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff}
	connect := encode(&ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16)})
	return map[string][][]byte{
		"MultiRequest": {
			multi16,
			encode(&RequestHeader{Xid: 3, OpCode: OpMulti}, allOpsMultiRequest()),
			encode(&RequestHeader{Xid: 4, OpCode: OpMultiRead}, &MultiRequest{}),
		},
		"ConnectRequest": {connect, connect[:len(connect)-1]},
		"CreateRequest": {
			encode(&RequestHeader{Xid: 1, OpCode: OpCreate}, &CreateRequest{Path: "/a", Data: []byte("v"), ACL: acl, Flags: FlagEphemeral}),
			encode(&RequestHeader{Xid: 1, OpCode: OpCreate}, &CreateRequest{Path: "/a"}),
		},
		"CreateTTLRequest": {
			encode(&RequestHeader{Xid: 1, OpCode: OpCreateTTL}, &CreateRequest{Path: "/a", ACL: acl, Flags: FlagPersistentWithTTL, TTL: 1000, IsTTL: true}),
		},
		"SetWatches": {
			encode(&RequestHeader{Xid: XidSetWatches, OpCode: OpSetWatches}, &SetWatches{RelativeZxid: 5, DataWatches: []string{"/a"}}),
		},
		"SetWatches2": {
			encode(&RequestHeader{Xid: XidSetWatches, OpCode: OpSetWatches2},
				&SetWatches{RelativeZxid: 5, PersistentWatches: []string{"/p"}, PersistentRecursive: []string{"/r"}, V2: true}),
		},
	}
}

func FuzzMultiRequest(f *testing.F) {
	seeds := requestSeeds()
	for _, k := range requestKinds {
		for _, s := range seeds[k.name] {
			f.Add(requestKindIndex(k.name), s)
		}
	}
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		checkRoundTrip(t, requestKinds[int(kind)%len(requestKinds)], data)
	})
}
