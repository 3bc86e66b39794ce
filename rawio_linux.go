//go:build linux

package zk

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawIO reads and writes a plain TCP connection's non-blocking socket with
// raw system calls inside the connection's own poller (syscall.RawConn), so
// waiting, deadlines and Close work as they do for net.Conn.
//
// Why: a read or write of a non-blocking socket never sleeps in the kernel,
// yet net.Conn enters it as a blocking system call. While any goroutine of
// the process is in such a call and others wait to run, the runtime's
// monitor thread hands its processor to another thread (a futex wake-up)
// and keeps polling every 20 µs. At tens of thousands of reads and writes a
// second that is a large share of the client's CPU; a raw call holds its
// processor for the few microseconds the kernel takes, as the runtime does
// for its own non-blocking calls.
type rawIO struct {
	rc syscall.RawConn
	rd rawOp
	wr rawOp
}

// rawOp is one direction's call in progress: only one goroutine at a time
// reads (the link's reader) and one writes (the flusher), so each direction
// keeps its arguments and results here, and the callbacks handed to the
// poller are built once, not per call.
type rawOp struct {
	trap  uintptr
	p     []byte
	n     int
	errno syscall.Errno
	wait  bool // on EAGAIN, wait for readiness (reads) or return (writes)
	fn    func(fd uintptr) bool
}

func (o *rawOp) call(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(o.trap, fd, uintptr(unsafe.Pointer(&o.p[0])), uintptr(len(o.p)))
		switch e {
		case 0:
			o.n, o.errno = int(n), 0
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			o.n, o.errno = 0, 0
			return !o.wait
		default:
			o.n, o.errno = 0, e
			return true
		}
	}
}

// newRawIO returns nil when nc is not a plain TCP connection, or when its
// socket is in blocking mode (a dialer that called File().Fd() on it puts
// it there): a raw call on a blocking socket would sleep in the kernel
// where the runtime cannot see it, and hold up garbage collection for the
// whole process.
func newRawIO(nc net.Conn) *rawIO {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	nonblocking := false
	err = rc.Control(func(fd uintptr) {
		flags, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
		nonblocking = e == 0 && flags&syscall.O_NONBLOCK != 0
	})
	if err != nil || !nonblocking {
		return nil
	}
	r := &rawIO{rc: rc}
	r.rd = rawOp{trap: syscall.SYS_READ, wait: true}
	r.wr = rawOp{trap: syscall.SYS_WRITE}
	r.rd.fn = r.rd.call
	r.wr.fn = r.wr.call
	return r
}

// Read implements io.Reader for the link's reader: it waits for data (or
// the read deadline, or Close) in the poller.
func (r *rawIO) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	o := &r.rd
	o.p = p
	err := r.rc.Read(o.fn)
	o.p = nil
	switch {
	case err != nil:
		return 0, err
	case o.errno != 0:
		return 0, os.NewSyscallError("read", o.errno)
	case o.n == 0:
		return 0, io.EOF
	}
	raceKernelWrote(p[:o.n])
	return o.n, nil
}

// tryWrite makes one attempt to write p without waiting: it returns how many
// bytes the socket took (possibly none). The caller hands the rest to the
// link's writer goroutine.
func (r *rawIO) tryWrite(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	o := &r.wr
	o.p = p
	err := r.rc.Write(o.fn)
	o.p = nil
	switch {
	case err != nil:
		return 0, err
	case o.errno != 0:
		return 0, os.NewSyscallError("write", o.errno)
	}
	raceKernelRead(p[:o.n])
	return o.n, nil
}
