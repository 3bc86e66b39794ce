//go:build !linux

package zk

import (
	"errors"
	"net"
)

// rawIO is the Linux-only raw system call path (rawio_linux.go); elsewhere
// links use net.Conn's Read and Write.
type rawIO struct{}

func newRawIO(net.Conn) *rawIO { return nil }

var errNoRawIO = errors.New("zk: raw socket I/O is not available on this platform")

func (*rawIO) Read([]byte) (int, error) { return 0, errNoRawIO }

func (*rawIO) tryWrite([]byte) (int, error) { return 0, errNoRawIO }
