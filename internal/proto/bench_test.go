package proto

import (
	"bytes"
	"testing"
)

// BenchmarkEncodeGetDataRequest encodes a getData request frame into a reused
// buffer, as a client's writer does.
func BenchmarkEncodeGetDataRequest(b *testing.B) {
	hdr := RequestHeader{Xid: 1, OpCode: OpGetData}
	req := PathWatchRequest{Path: "/services/frontend/config", Watch: true}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		hdr.Xid++
		buf = AppendFrame(buf[:0], &hdr, &req)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkDecodeGetDataResponse decodes ReplyHeader + GetDataResponse with a
// 1 KiB payload (the payload is copied out of the frame).
func BenchmarkDecodeGetDataResponse(b *testing.B) {
	frame := encode(
		&ReplyHeader{Xid: 1, Zxid: 0x100000010, Err: 0},
		&GetDataResponse{Data: bytes.Repeat([]byte{0xa5}, 1024), Stat: sampleStat()},
	)
	var d Decoder
	var h ReplyHeader
	var r GetDataResponse
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		d.Reset(frame)
		h.Decode(&d)
		r.Decode(&d)
		if d.Err() != nil || len(r.Data) != 1024 {
			b.Fatal(d.Err())
		}
	}
}

// BenchmarkDecodeGetDataResponseRecord is the same through DecodeRecord, the
// one-call API.
func BenchmarkDecodeGetDataResponseRecord(b *testing.B) {
	body := encode(&GetDataResponse{Data: bytes.Repeat([]byte{0xa5}, 1024), Stat: sampleStat()})
	var r GetDataResponse
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := DecodeRecord(body, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeReplyHeader decodes a 16-byte ReplyHeader.
func BenchmarkDecodeReplyHeader(b *testing.B) {
	frame := encode(&ReplyHeader{Xid: 42, Zxid: 0x100000010, Err: ErrNoNode})
	var d Decoder
	var h ReplyHeader
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		d.Reset(frame)
		h.Decode(&d)
		if d.Err() != nil || h.Xid != 42 {
			b.Fatal(d.Err())
		}
	}
}

// repeatReader returns the same bytes forever: a stream of identical frames.
type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.data)
	}
	return n, nil
}

// BenchmarkFrameReaderNext reads 1 KiB frames from an endless stream.
func BenchmarkFrameReaderNext(b *testing.B) {
	var stream []byte
	for i := range 64 {
		stream = append(stream, frameOf(payload(1024, byte(i)))...)
	}
	fr := NewFrameReader(&repeatReader{data: stream}, 0)
	b.SetBytes(4 + 1024)
	b.ReportAllocs()
	for b.Loop() {
		p, err := fr.Next()
		if err != nil || len(p) != 1024 {
			b.Fatal(err)
		}
	}
}
