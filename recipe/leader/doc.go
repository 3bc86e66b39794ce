// Package leader elects one leader among candidates that share a ZooKeeper
// directory.
//
// # Algorithm
//
// Each candidate creates an ephemeral sequential node
// <dir>/_c_<GUID>-n_<sequence>, holding its ID. The GUID is random and the
// candidate's own, so a create whose reply was lost with the connection
// (zk.ErrConnectionLoss: the node may or may not exist) is found again by
// listing the directory, instead of leaving a second node behind. The
// candidate with the lowest sequence number leads. Every other candidate
// watches only its predecessor, the next lower node, so when a candidate
// goes, one other wakes up, not the whole herd. Before claiming, a
// candidate lists the directory again to see that its node is the lowest,
// and checks that the node still exists and that its EphemeralOwner is the
// candidate's session.
//
// # What leadership means here
//
// Candidate.Run calls the application's lead function with a context that
// is cancelled the moment leadership is no longer certain:
//
//   - by default, as soon as the handle leaves CONNECTED (Disconnected):
//     the session may be about to expire, and once it does another
//     candidate will lead. With T the session timeout, the client gives up
//     a link 2T/3 after the server's last reply (watch notifications do not
//     count) and sends something at least every T/3; the ensemble expires
//     a session only T after it last heard from the client. So the old
//     leader's context is cancelled before a new leader can be elected, by
//     about T/3;
//   - with Config.KeepOnDisconnect, only when the session ends (Expired,
//     Closed, AuthFailed) or the node is deleted. This rides out short
//     network blips without a change of leader, at a price: a partitioned
//     leader goes on believing it leads after the ensemble expired its
//     session and elected another, until its handle learns of the expiry
//     (from a server when it reconnects, or by local expiry about T after
//     it last heard from one; never, with local expiry turned off);
//   - always when the candidate's node is deleted (by an operator, say, or
//     by the session's end when another process closed the session while
//     this handle was connected), when the session expires, the handle is
//     closed or its credentials are rejected, and when Run's own context
//     ends.
//
// context.Cause on the lead context says which (ErrDisconnected,
// ErrNodeDeleted, an error wrapping zk.ErrSessionExpired, zk.ErrClosed or
// zk.ErrAuthFailed, or Run's context's error). After a disconnection, Run
// contests again as soon as the handle reconnects: if its node is still
// there and still the lowest, it leads again (OnGained, lead are called
// again); if the session expired, Run returns an error wrapping
// zk.ErrSessionExpired, and a new session (see package recipe/session) must
// start a new candidate, which joins at the back of the queue.
//
// # Limits, and fencing
//
// Cancelling a context does not stop a process. A leader that is paused
// (a long garbage collection, a stopped VM, a swapped-out process) after it
// last checked its context can act after a new leader was elected: two
// processes then act as leader at once, whatever this package does. The
// remedy is fencing: make every action that matters conditional on a token
// that grows with every new leader, checked by the system acted upon.
// TermFrom(ctx) gives the leader's Term: the path of its node, and its
// Czxid, the zxid of the node's creation, which is larger for every later
// leader. Writes into ZooKeeper itself can be fenced exactly with a Multi
// that starts with zk.CheckOp{Path: term.Path, Version: term.Version}: it
// fails once the node is gone, that is once leadership is lost.
//
// The premise that the ensemble expires a session only T after it last
// heard from the client fails when the ensemble's own leader stalls (a long
// garbage collection, a stopped VM) for more than about 2T/3 while its
// followers still follow it (their syncLimit is longer). The clients of the
// followers stay connected, but the session touches the followers relay
// wait for the stalled leader, which expires those sessions the moment it
// resumes. The old leader's handle then hears of it at the same moment as
// the other candidates (its server closes the connection as the expiry
// commits), and a new leader can be elected milliseconds before the old
// one's context is cancelled. No client can see this coming; fencing covers
// it. Seen against ZooKeeper 3.8.6 with T = 1 s, syncLimit 2 s and the
// ensemble's leader stopped for 1.5 s.
//
// The cancellation is made by a goroutine woken by the state change (and,
// as a backstop, by a state listener): it depends on the client noticing
// the lost link, which takes up to 2/3 of the session timeout for a silent
// one. It assumes the client's and the servers' clocks run at the same
// rate, and a client that is not starved of CPU for a sizeable part of T.
package leader
