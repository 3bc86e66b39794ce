package realzk

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// FourLetter sends the four-letter word cmd (srvr, mntr, ruok, ...) to the
// ZooKeeper client port at addr and returns the server's plain-text reply,
// read until the server closes the connection. The whole exchange, dial
// included, is bounded by timeout; on a timeout the error comes with what
// arrived. The server must whitelist the word (Start whitelists all).
func FourLetter(addr, cmd string, timeout time.Duration) (string, error) {
	return fourLetter(addr, cmd, timeout, 0)
}

// fourLetter is FourLetter that, when idle > 0, also takes the reply as
// complete once bytes have arrived and then nothing more for idle. A 3.8
// server asked while it starts writes "not currently serving" and then
// fails to close the socket (a NullPointerException in
// ServerCnxn.cleanupWriterSocket), which would hold a poll for its whole
// timeout.
func fourLetter(addr, cmd string, timeout, idle time.Duration) (string, error) {
	if len(cmd) != 4 {
		return "", fmt.Errorf("realzk: four-letter word %q is not four bytes", cmd)
	}
	deadline := time.Now().Add(timeout)
	d := net.Dialer{Deadline: deadline}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("realzk: %s to %s: %w", cmd, addr, err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return "", fmt.Errorf("realzk: %s to %s: %w", cmd, addr, err)
	}
	if _, err := io.WriteString(conn, cmd); err != nil {
		return "", fmt.Errorf("realzk: %s to %s: %w", cmd, addr, err)
	}
	var reply []byte
	buf := make([]byte, 4096)
	for {
		if idle > 0 && len(reply) > 0 {
			quiet := time.Now().Add(idle)
			if quiet.After(deadline) {
				quiet = deadline
			}
			if err := conn.SetReadDeadline(quiet); err != nil {
				return string(reply), fmt.Errorf("realzk: %s to %s: %w", cmd, addr, err)
			}
		}
		n, err := conn.Read(buf)
		reply = append(reply, buf[:n]...)
		switch {
		case err == io.EOF:
			return string(reply), nil
		case err == nil:
			continue
		case idle > 0 && len(reply) > 0 && errors.Is(err, os.ErrDeadlineExceeded) && time.Now().Before(deadline):
			return string(reply), nil // quiet for idle: complete
		default:
			return string(reply), fmt.Errorf("realzk: %s to %s: %w", cmd, addr, err)
		}
	}
}

// parseMode returns the value of the "Mode:" line of a srvr or stat reply
// ("leader", "follower", "standalone", "read-only", "observer"), or "" when
// there is none (the server is not serving).
func parseMode(srvr string) string {
	sc := bufio.NewScanner(strings.NewReader(srvr))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Mode:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
