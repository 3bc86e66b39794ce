//go:build linux && race

package zk

// The race detector does not see what a raw system call does to memory: to
// it, the kernel filling the read buffer or reading the write buffer never
// happened. These tell it, so a goroutine touching a buffer while the
// link's reader or flusher has it in a system call is reported as it would
// be through net.Conn.

// raceKernelWrote records a write of p by the calling goroutine.
func raceKernelWrote(p []byte) {
	copy(p, p) // instrumented: a read and a write of all of p
}

// raceKernelRead records a read of p by the calling goroutine.
func raceKernelRead(p []byte) {
	var scratch [512]byte
	for len(p) > 0 {
		p = p[copy(scratch[:], p):] // instrumented: a read of p
	}
}
