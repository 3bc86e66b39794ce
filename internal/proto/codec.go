// Package proto is the ZooKeeper wire codec: jute binary records, opcodes and
// error codes, encoded and decoded by hand without reflection.
//
// It imports nothing of the project. The client (package zk) and the in-memory
// test server both use it; the real server checks both.
package proto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrShortBuffer is returned by a Reader when a record needs more bytes than
// the frame holds.
var ErrShortBuffer = errors.New("zk: malformed frame: record runs past the end of the frame")

// Encoder appends jute-encoded values to a byte slice. The zero value is ready
// to use; B may be reused between records by truncating it.
type Encoder struct {
	B []byte
}

// Int32 appends a jute int.
func (e *Encoder) Int32(v int32) { e.B = binary.BigEndian.AppendUint32(e.B, uint32(v)) }

// Int64 appends a jute long.
func (e *Encoder) Int64(v int64) { e.B = binary.BigEndian.AppendUint64(e.B, uint64(v)) }

// Bool appends a jute boolean.
func (e *Encoder) Bool(v bool) {
	if v {
		e.B = append(e.B, 1)
	} else {
		e.B = append(e.B, 0)
	}
}

// Buffer appends a jute buffer; nil is written as length -1 (null), a non-nil
// empty slice as length 0.
func (e *Encoder) Buffer(b []byte) {
	if b == nil {
		e.Int32(-1)
		return
	}
	e.Int32(int32(len(b)))
	e.B = append(e.B, b...)
}

// String appends a jute ustring. Go strings cannot be null, so the empty
// string is written with length 0.
func (e *Encoder) String(s string) {
	e.Int32(int32(len(s)))
	e.B = append(e.B, s...)
}

// Strings appends a vector<ustring>; nil is written as -1.
func (e *Encoder) Strings(ss []string) {
	if ss == nil {
		e.Int32(-1)
		return
	}
	e.Int32(int32(len(ss)))
	for _, s := range ss {
		e.String(s)
	}
}

// Decoder reads jute values from one frame. Errors are sticky: after the first
// failure every read returns a zero value and Err reports the failure, so a
// record decoder can read all its fields and check once.
type Decoder struct {
	b   []byte
	off int
	err error
}

// NewDecoder returns a Decoder over b. The decoder never retains b beyond the
// values it returns: buffers and strings are copied.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Reset makes d read from b, clearing any error.
func (d *Decoder) Reset(b []byte) { d.b, d.off, d.err = b, 0, nil }

// Err returns the first error met, or nil.
func (d *Decoder) Err() error { return d.err }

// Remaining reports how many unread bytes the frame holds.
func (d *Decoder) Remaining() int { return len(d.b) - d.off }

// Offset reports how many bytes were consumed.
func (d *Decoder) Offset() int { return d.off }

func (d *Decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.off = len(d.b)
}

func (d *Decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.fail(ErrShortBuffer)
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

// Int32 reads a jute int.
func (d *Decoder) Int32() int32 {
	p := d.take(4)
	if p == nil {
		return 0
	}
	return int32(binary.BigEndian.Uint32(p))
}

// Int64 reads a jute long.
func (d *Decoder) Int64() int64 {
	p := d.take(8)
	if p == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(p))
}

// Bool reads a jute boolean (any non-zero byte is true, as in Java).
func (d *Decoder) Bool() bool {
	p := d.take(1)
	if p == nil {
		return false
	}
	return p[0] != 0
}

// length reads a length prefix; -1 means null. Any other negative value, or a
// length larger than what remains, is a malformed frame.
func (d *Decoder) length(what string) (n int, null bool) {
	v := d.Int32()
	if d.err != nil {
		return 0, true
	}
	if v == -1 {
		return 0, true
	}
	if v < 0 {
		d.fail(fmt.Errorf("zk: malformed frame: negative %s length %d", what, v))
		return 0, true
	}
	return int(v), false
}

// Buffer reads a jute buffer as a fresh copy; null comes back as nil.
func (d *Decoder) Buffer() []byte {
	n, null := d.length("buffer")
	if null {
		return nil
	}
	p := d.take(n)
	if p == nil {
		return nil
	}
	out := make([]byte, n)
	copy(out, p)
	return out
}

// BufferView reads a jute buffer without copying: the result aliases the
// frame and is valid only as long as the frame is.
func (d *Decoder) BufferView() []byte {
	n, null := d.length("buffer")
	if null {
		return nil
	}
	return d.take(n)
}

// String reads a jute ustring; null comes back as "".
func (d *Decoder) String() string {
	n, null := d.length("string")
	if null {
		return ""
	}
	p := d.take(n)
	if p == nil {
		return ""
	}
	return string(p)
}

// Strings reads a vector<ustring>; null comes back as nil.
func (d *Decoder) Strings() []string {
	n, null := d.length("vector")
	if null {
		return nil
	}
	// Each element takes at least 4 bytes: refuse counts the frame cannot hold
	// before allocating.
	if n > d.Remaining()/4 {
		d.fail(ErrShortBuffer)
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.String()
	}
	if d.err != nil {
		return nil
	}
	return out
}

// Record is a jute record: it writes and reads its fields in declared order.
type Record interface {
	Encode(e *Encoder)
	Decode(d *Decoder)
}

// DecodeRecord decodes r from b and reports a malformed frame.
func DecodeRecord(b []byte, r Record) error {
	d := Decoder{b: b}
	r.Decode(&d)
	return d.err
}

// AppendFrame appends a length-prefixed frame holding the records to b.
func AppendFrame(b []byte, recs ...Record) []byte {
	start := len(b)
	e := Encoder{B: append(b, 0, 0, 0, 0)}
	for _, r := range recs {
		r.Encode(&e)
	}
	binary.BigEndian.PutUint32(e.B[start:], uint32(len(e.B)-start-4))
	return e.B
}

// DefaultMaxFrame is the largest frame accepted when no limit is configured:
// 4 MiB, comfortably above the server's 1 MiB jute.maxbuffer, since the server
// does not cap its replies (a large getChildren can exceed 1 MiB).
const DefaultMaxFrame = 4 << 20

// FrameTooLargeError reports a length prefix outside [0, max].
type FrameTooLargeError struct {
	Len int64
	Max int
}

func (e *FrameTooLargeError) Error() string {
	if e.Len < 0 {
		return fmt.Sprintf("zk: malformed frame: negative length prefix %d", e.Len)
	}
	return fmt.Sprintf("zk: frame of %d bytes exceeds the limit of %d bytes", e.Len, e.Max)
}

// FrameReader reads length-prefixed frames from a stream through one reusable
// buffer. A frame returned by Next aliases that buffer and is valid until the
// next call to Next.
type FrameReader struct {
	r    io.Reader
	max  int
	buf  []byte
	r0   int // start of unread data in buf
	w    int // end of data in buf
	prev int // bytes of the previous frame still held (consumed at next Next)
}

// NewFrameReader returns a reader that refuses frames longer than max bytes
// (max <= 0 means DefaultMaxFrame). The buffer starts at 64 KiB and grows only
// to hold a frame whose length is within the limit.
func NewFrameReader(r io.Reader, max int) *FrameReader {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	return &FrameReader{r: r, max: max, buf: make([]byte, 64<<10)}
}

// SetSource makes r the stream read from here on; bytes already buffered
// are kept.
func (f *FrameReader) SetSource(r io.Reader) { f.r = r }

// Buffered reports how many bytes are already read from the stream but not
// yet returned as frames. A reader can decode every buffered frame before
// blocking again.
func (f *FrameReader) Buffered() int { return f.w - f.r0 - f.prev }

// fill ensures at least n unread bytes are buffered, reading more as needed.
func (f *FrameReader) fill(n int) error {
	if f.w-f.r0 >= n {
		return nil
	}
	if len(f.buf)-f.r0 < n {
		// Not enough room after r0: compact, and grow if the buffer is small.
		if n > len(f.buf) {
			nb := make([]byte, max(n, 2*len(f.buf)))
			copy(nb, f.buf[f.r0:f.w])
			f.buf = nb
		} else {
			copy(f.buf, f.buf[f.r0:f.w])
		}
		f.w -= f.r0
		f.r0 = 0
	}
	for f.w-f.r0 < n {
		m, err := f.r.Read(f.buf[f.w:])
		f.w += m
		if err != nil {
			if f.w-f.r0 >= n {
				return nil
			}
			if err == io.EOF && f.w-f.r0 > 0 {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// Next returns the payload of the next frame. A length prefix that is
// negative or above the limit returns a *FrameTooLargeError without
// allocating; the stream is then unusable and the connection must be dropped.
func (f *FrameReader) Next() ([]byte, error) {
	f.r0 += f.prev
	f.prev = 0
	if f.r0 == f.w {
		f.r0, f.w = 0, 0
	}
	if err := f.fill(4); err != nil {
		return nil, err
	}
	n := int64(int32(binary.BigEndian.Uint32(f.buf[f.r0:])))
	if n < 0 || n > int64(f.max) {
		return nil, &FrameTooLargeError{Len: n, Max: f.max}
	}
	if err := f.fill(4 + int(n)); err != nil {
		return nil, err
	}
	p := f.buf[f.r0+4 : f.r0+4+int(n)]
	f.prev = 4 + int(n)
	return p, nil
}

// PeekRefused returns the first n bytes of the payload of the frame that Next
// just refused as above the limit (n is at most that frame's length), so a
// caller can read its header before deciding to skip it with SkipRefused.
func (f *FrameReader) PeekRefused(n int) ([]byte, error) {
	if f.prev != 0 || f.w-f.r0 < 4 {
		return nil, errors.New("zk: no refused frame to peek at")
	}
	size := int64(int32(binary.BigEndian.Uint32(f.buf[f.r0:])))
	if size <= int64(f.max) || int64(n) > size || n > len(f.buf)-4 {
		return nil, errors.New("zk: no refused frame to peek at")
	}
	if err := f.fill(4 + n); err != nil {
		return nil, err
	}
	return f.buf[f.r0+4 : f.r0+4+n], nil
}

// SkipRefused reads through the frame that Next just refused as above the
// limit and discards it, through the reader's own buffer (memory stays
// bounded whatever the frame's length); the next call to Next returns the
// frame after it.
func (f *FrameReader) SkipRefused() error {
	if f.prev != 0 || f.w-f.r0 < 4 {
		return errors.New("zk: no refused frame to skip")
	}
	left := 4 + int64(int32(binary.BigEndian.Uint32(f.buf[f.r0:])))
	if left <= 4+int64(f.max) {
		return errors.New("zk: no refused frame to skip")
	}
	have := int64(f.w - f.r0)
	if have >= left {
		f.r0 += int(left)
		return nil
	}
	left -= have
	f.r0, f.w = 0, 0
	for left > 0 {
		m, err := f.r.Read(f.buf[:min(int64(len(f.buf)), left)])
		left -= int64(m)
		if err != nil && left > 0 {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}
