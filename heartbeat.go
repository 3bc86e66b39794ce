package zk

import "time"

// timeouts are every duration the handle derives from the session timeout T.
// There is no other fixed wait in the handle.
type timeouts struct {
	session time.Duration // T, as negotiated (or requested, before the first session)
	read    time.Duration // 2T/3: silence this long means the connection is lost
	ping    time.Duration // T/3: send a ping when nothing was sent for this long
	connect time.Duration // T/n: bound on one dial and handshake
}

func newTimeouts(session time.Duration, hosts int) timeouts {
	if hosts < 1 {
		hosts = 1
	}
	t := timeouts{
		session: session,
		read:    session * 2 / 3,
		ping:    session / 3,
		connect: session / time.Duration(hosts),
	}
	// Guard against degenerate server answers (a 1 ms session): keep every
	// timer positive.
	if t.read < time.Millisecond {
		t.read = time.Millisecond
	}
	if t.ping < time.Millisecond {
		t.ping = time.Millisecond
	}
	if t.connect < time.Millisecond {
		t.connect = time.Millisecond
	}
	return t
}
