package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// The raw-protocol client: the ceiling of one connection on this machine.
//
// One goroutine locked to its OS thread drives a blocking socket: it keeps
// `inflight` requests outstanding; each pass makes one read(2) and consumes
// every complete reply in the buffer, appends the next request of each
// answered slot (pre-encoded frames, only the xid patched) to one buffer and
// sends it with one write(2). Nothing is allocated in the loop.

// rawSpec describes one raw run.
type rawSpec struct {
	addr     string
	inflight int
	// cycle[slot] is the sequence of frames a slot sends in turn (xid
	// bytes patched at send); a stopping slot finishes its cycle first, so
	// a create is always followed by its delete.
	cycle [][][]byte
	// getData, if non-nil, is the data every reply must carry: the cycle
	// is getData requests only.
	getData  []byte
	duration time.Duration
	maxOps   int64
	lat      []int64 // if non-nil (inflight 1), per-op latency in ns
}

type rawResult struct {
	ops     int64
	elapsed time.Duration
	writes  int64
	reads   int64
	nlat    int
}

// Frame builders (hand-encoded so that the ceiling depends on nothing of the
// library).

func beAppend32(b []byte, v int32) []byte { return binary.BigEndian.AppendUint32(b, uint32(v)) }
func beAppend64(b []byte, v int64) []byte { return binary.BigEndian.AppendUint64(b, uint64(v)) }
func appendUstring(b []byte, s string) []byte {
	b = beAppend32(b, int32(len(s)))
	return append(b, s...)
}

func frame(body []byte) []byte {
	return append(beAppend32(nil, int32(len(body))), body...)
}

func rawConnectFrame(timeout time.Duration) []byte {
	var b []byte
	b = beAppend32(b, 0)                             // protocolVersion
	b = beAppend64(b, 0)                             // lastZxidSeen
	b = beAppend32(b, int32(timeout.Milliseconds())) // timeOut
	b = beAppend64(b, 0)                             // sessionId
	b = beAppend32(b, 16)                            // passwd
	b = append(b, make([]byte, 16)...)
	b = append(b, 0) // readOnly
	return frame(b)
}

func rawGetFrame(path string) []byte {
	b := beAppend32(nil, 0) // xid, patched
	b = beAppend32(b, 4)    // getData
	b = appendUstring(b, path)
	b = append(b, 0) // watch
	return frame(b)
}

func rawCreateFrame(path string, data []byte) []byte {
	b := beAppend32(nil, 0)
	b = beAppend32(b, 1) // create
	b = appendUstring(b, path)
	b = beAppend32(b, int32(len(data)))
	b = append(b, data...)
	b = beAppend32(b, 1) // one ACL: world:anyone, all
	b = beAppend32(b, 31)
	b = appendUstring(b, "world")
	b = appendUstring(b, "anyone")
	b = beAppend32(b, 0) // persistent
	return frame(b)
}

func rawDeleteFrame(path string) []byte {
	b := beAppend32(nil, 0)
	b = beAppend32(b, 2) // delete
	b = appendUstring(b, path)
	b = beAppend32(b, -1)
	return frame(b)
}

func rawGetCycle(inflight int, path string) [][][]byte {
	f := rawGetFrame(path)
	c := make([][][]byte, inflight)
	for i := range c {
		c[i] = [][]byte{f}
	}
	return c
}

// rawCDCycle has slot i create and delete paths[i].
func rawCDCycle(paths []string, data []byte) [][][]byte {
	c := make([][][]byte, len(paths))
	for i, p := range paths {
		c[i] = [][]byte{rawCreateFrame(p, data), rawDeleteFrame(p)}
	}
	return c
}

// rawDial opens a blocking TCP socket to addr (127.0.0.1 only) and makes a
// session.
func rawDial(addr string, sessionTimeout time.Duration) (int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return -1, err
	}
	ip := net.ParseIP(host).To4()
	if ip == nil {
		return -1, fmt.Errorf("raw client: %s is not an IPv4 address", host)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return -1, err
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	sa := &syscall.SockaddrInet4{Port: port}
	copy(sa.Addr[:], ip)
	if err := syscall.Connect(fd, sa); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	// Bound the handshake (and any later stall) so that nothing hangs.
	tv := syscall.NsecToTimeval(int64(10 * time.Second))
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv)
	if err := writeAll(fd, rawConnectFrame(sessionTimeout)); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	var hdr [4]byte
	if err := readFull(fd, hdr[:]); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	body := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if err := readFull(fd, body); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	if len(body) < 16 || binary.BigEndian.Uint32(body[4:]) == 0 {
		syscall.Close(fd)
		return -1, errors.New("raw client: server refused the session")
	}
	return fd, nil
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func readFull(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Read(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("raw client: connection closed")
		}
		b = b[n:]
	}
	return nil
}

// rawRun runs the loop on its own locked thread and returns when every slot
// has finished (after the duration or maxOps).
func rawRun(spec rawSpec) (rawResult, error) {
	type out struct {
		r   rawResult
		err error
	}
	ch := make(chan out, 1)
	go func() {
		runtime.LockOSThread()
		// Unlock before exiting: a goroutine that exits locked takes its
		// thread with it, and a JVM started from that thread would get
		// its Pdeathsig.
		defer runtime.UnlockOSThread()
		r, err := rawLoop(spec)
		ch <- out{r, err}
	}()
	o := <-ch
	return o.r, o.err
}

// rawBufs are reused across runs (allocated once, outside any measurement).
var rawRbuf, rawWbuf []byte

func rawLoop(spec rawSpec) (rawResult, error) {
	var res rawResult
	fd, err := rawDial(spec.addr, 30*time.Second)
	if err != nil {
		return res, err
	}
	defer syscall.Close(fd)

	n := spec.inflight
	maxFrame := 0
	for _, c := range spec.cycle {
		for _, f := range c {
			maxFrame = max(maxFrame, len(f))
		}
	}
	if cap(rawRbuf) < 4<<20 {
		rawRbuf = make([]byte, 4<<20)
	}
	if cap(rawWbuf) < n*maxFrame {
		rawWbuf = make([]byte, 0, n*maxFrame)
	}
	rbuf, wbuf := rawRbuf[:cap(rawRbuf)], rawWbuf[:0]
	step := make([]int, n)   // next frame index in each slot's cycle
	fifo := make([]int32, n) // slots in send order (ring)
	sent := make([]int64, n) // send time per slot (ns since start), for latency
	head, count := 0, 0
	xid := int32(0)
	active := n
	start := time.Now()
	deadline := spec.duration

	enqueue := func(slot int, now int64) {
		f := spec.cycle[slot][step[slot]]
		off := len(wbuf)
		wbuf = append(wbuf, f...)
		xid++
		binary.BigEndian.PutUint32(wbuf[off+4:], uint32(xid))
		fifo[(head+count)%n] = int32(slot)
		count++
		sent[slot] = now
	}
	now := int64(0)
	for s := range n {
		enqueue(s, now)
	}
	stopping := false
	wantXid := int32(1)
	r, w := 0, 0
	for active > 0 {
		if len(wbuf) > 0 {
			if err := writeAll(fd, wbuf); err != nil {
				return res, fmt.Errorf("raw client: write: %w", err)
			}
			res.writes++
			wbuf = wbuf[:0]
		}
		if count == 0 {
			break
		}
		m, err := syscall.Read(fd, rbuf[w:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return res, fmt.Errorf("raw client: read: %w", err)
		}
		if m == 0 {
			return res, errors.New("raw client: server closed the connection")
		}
		res.reads++
		w += m
		now = int64(time.Since(start))
		if !stopping && (time.Duration(now) >= deadline || res.ops >= spec.maxOps) {
			stopping = true
		}
		for w-r >= 4 {
			fl := int(binary.BigEndian.Uint32(rbuf[r:]))
			if w-r < 4+fl {
				break
			}
			f := rbuf[r+4 : r+4+fl]
			r += 4 + fl
			if fl < 16 {
				return res, errors.New("raw client: short reply")
			}
			rx := int32(binary.BigEndian.Uint32(f))
			if rx < 0 {
				continue // ping or notification: none expected
			}
			if rx != wantXid {
				return res, fmt.Errorf("raw client: reply xid %d, expected %d", rx, wantXid)
			}
			wantXid++
			if code := int32(binary.BigEndian.Uint32(f[12:])); code != 0 {
				return res, fmt.Errorf("raw client: server error %d", code)
			}
			// A getData reply: header, data (int32 length, bytes), Stat
			// (68 bytes).
			if want := spec.getData; want != nil && (fl != 16+4+len(want)+68 ||
				int(int32(binary.BigEndian.Uint32(f[16:]))) != len(want) || !bytes.Equal(f[20:20+len(want)], want)) {
				return res, errors.New("raw client: get returned data other than the node's")
			}
			slot := int(fifo[head])
			head = (head + 1) % n
			count--
			res.ops++
			if spec.lat != nil && res.nlat < len(spec.lat) {
				spec.lat[res.nlat] = now - sent[slot]
				res.nlat++
			}
			step[slot] = (step[slot] + 1) % len(spec.cycle[slot])
			if stopping && step[slot] == 0 {
				active--
				continue
			}
			enqueue(slot, now)
		}
		if r == w {
			r, w = 0, 0
		} else if r > len(rbuf)/2 {
			copy(rbuf, rbuf[r:w])
			w -= r
			r = 0
		}
	}
	res.elapsed = time.Since(start)
	return res, nil
}
