// Package zk is a client for Apache ZooKeeper (servers 3.5 to 3.9).
//
// A *Conn is a handle on one ZooKeeper session. It talks to one server of
// the ensemble at a time over ZooKeeper's own wire protocol, keeps the
// session alive with heartbeats, moves to another server when the link is
// lost, and tells the application, in order and without ever dropping one,
// every change of state: the changes leader election and locks are built
// on.
//
// # Connecting
//
// The connection string is "host:port,host:port/chroot". The port defaults
// to 2181; IPv6 addresses go in brackets ("[::1]:2181"); hostnames are
// resolved again at every connection attempt. A malformed string fails
// before any I/O with an error that names the bad part and wraps
// ErrBadConnString.
//
// Connect blocks until the first session is established (or its context
// ends, when it closes the handle and says why). New returns at once, in
// CONNECTING; calls made before the session is up are queued and sent after
// it. Options set the session timeout, state listeners, a *slog.Logger, the
// dialer, the reconnect backoff, a session to resume, the largest frame
// accepted, credentials sent on every connection, SASL DIGEST-MD5
// (WithSASLDigest: authenticated on every connection before any other
// request, the server's proof checked), TLS (WithTLS, verified
// against the configured roots) and read-only servers (WithReadOnly: the
// handle accepts a server cut off from its quorum, reports
// CONNECTED_READ_ONLY, and moves to a read-write server as soon as it finds
// one). UpdateServers changes the server list of a live handle, keeping the
// session: off a server that was removed, and onto an added server with
// probability added/listed, so that sessions spread over a grown ensemble.
//
// # Sessions and States
//
// The server gives the session an id and a password and negotiates its
// timeout T. The handle pings when it has sent nothing for T/3, declares the
// link lost after 2T/3 without a reply (a watch notification does not
// count: it says nothing of whether the server still hears the handle),
// bounds each dial and handshake by T divided by the number of servers,
// and, when no server has accepted the session within T of the last reply
// received, declares the session expired itself: a partitioned client must
// not go on believing it holds ephemeral nodes the ensemble has dropped
// (WithLocalExpiry changes this).
//
// The states are NOT_CONNECTED, CONNECTING, CONNECTED, CONNECTED_READ_ONLY,
// AUTH_FAILED and CLOSED; the last two are terminal. A lost link moves the
// handle to CONNECTING at once (event Disconnected), and the next server is
// tried at once; only after a whole pass over the servers failed does the
// handle wait (NOT_CONNECTED), with exponential backoff and jitter. On
// reconnect it sends the session id and password, the highest zxid seen,
// then every credential, then its watches, then the calls queued meanwhile.
// When the session expires (told by a server, or decided locally) the
// handle reports Expired, moves to CLOSED and fails every pending and later
// call with ErrSessionExpired; it is dead, and the application opens a new
// one.
//
// State listeners (WithStateListener, AddStateListener) run on a goroutine
// of the handle, in order, outside its locks: a slow listener delays later
// listener calls, never I/O, and no change is dropped. WaitForStateChange
// waits for a change without a listener.
//
// # Watches
//
// GetW, ExistsW and ChildrenW set one-shot watches: each returns a channel
// that receives exactly one Event and is then closed. The event is the node
// change, or a final EventWatchFailed whose Err says why the watch can no
// longer fire (ErrSessionExpired, ErrClosed, ErrAuthFailed). A lost
// connection does not fire watches: they are registered again on the next
// server, which sends at once what changed meanwhile, so a node changed
// while the handle was away fires its watch exactly once.
//
// AddWatch sets a persistent watch, or a recursive one over a whole subtree
// (ZooKeeper 3.6+). Its PersistentWatch stream returns every event in
// order, interleaved with the session's events: after a Disconnected event
// changes may have been missed, and a read made after the following
// SyncConnected event sees them (the watch is registered again before that
// read is served). A stream holds at most WithWatchBuffer events for a
// reader that falls behind; past that it ends with ErrWatchOverflow instead
// of growing without bound or dropping events unannounced. RemoveWatches and
// PersistentWatch.Remove
// remove watches on the server and in the handle.
//
// # Chroot
//
// A connection string that ends in a path ("/app") makes every path
// relative to it: the chroot is added to every request path and stripped
// from every path that comes back (created paths, multi results, watch
// events). The chroot node must exist for creates under it to succeed.
//
// # Errors
//
// Every server error code has one *Error value (ErrNoNode, ErrNodeExists,
// ErrBadVersion, ErrNotEmpty, ErrNoAuth, ErrSessionExpired,
// ErrConnectionLoss, ...), usable with errors.Is and errors.As. Operations
// return an *OpError that also names the operation and the caller's path:
// "zk: get /missing: node does not exist". Client-side errors are ErrClosed,
// ErrBadConnString, ErrInvalidPath, ErrInvalidArgument and ErrTooLarge
// (a request over the server's default 1 MiB jute.maxbuffer, refused before
// it is sent), and ErrReplyTooLarge (a reply above the handle's frame limit,
// WithMaxFrameSize: that call fails, the connection goes on); ErrProtocol is
// wrapped by the error of a connection dropped because the server broke the
// protocol. Every message starts "zk: ". IsRetryable tells the errors
// after which the same call may succeed; a create that failed with
// ErrConnectionLoss may nevertheless have happened.
//
// # Context
//
// Every operation takes a context.Context first. Requests are pipelined on
// one connection, many per write. Cancelling a call's context makes it
// return at once with an *OpError that wraps ctx.Err() ("zk: get /a: context
// canceled"), and its reply is ignored; the session and the connection go
// on. As after ErrConnectionLoss, the request may have been sent and applied
// all the same; a call whose context has already ended sends nothing. On a
// lost connection every request in flight fails with ErrConnectionLoss:
// nothing is retried behind the application's back. The lifetime of the
// handle ends with Close, not with a context.
package zk
