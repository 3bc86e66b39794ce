// Package lock provides locks shared through ZooKeeper: a Mutex, and an
// RWMutex whose readers share and whose writers exclude.
//
// # Algorithm
//
// A locker creates an ephemeral sequential node in the lock's directory,
// <dir>/_c_<GUID>-<kind><sequence>, with kind "lock-" (Mutex), "read-" or
// "write-" (RWMutex). The GUID is random and the locker's own, so a create
// whose reply was lost with the connection is found again by listing the
// directory rather than left behind. The lock is granted in sequence order:
// an exclusive locker (Mutex, writer) waits for the nearest lower node of
// any kind; a reader waits only for the nearest lower writer (or Mutex).
// Each waiter watches just that one node, so a release wakes the next
// waiter, not the herd. Before the lock is granted the locker lists the
// directory again, and checks that its node exists and belongs to its
// session. Mutex and RWMutex writers on the same directory exclude each
// other.
//
// Any other child with a sequence suffix queues as an exclusive locker,
// except a node of kazoo's ReadLock (the Python client's:
// <uuid>__rlock__<sequence>), which is a reader's. So an RWMutex and kazoo's
// ReadLock and WriteLock share a directory when kazoo is told our names:
// extra_lock_patterns=["-write-", "-lock-"] for its ReadLock and ["-read-",
// "-write-", "-lock-"] for its WriteLock (["-lock-"] for its Lock beside a
// Mutex). Before kazoo 2.9 a ReadLock that waited can deadlock with a writer
// queued after it (kazoo issue #649).
//
// # Holding a lock
//
// A held lock can be lost without Unlock: Lost returns a channel closed the
// moment the hold is no longer certain, and Err says why:
//
//   - ErrDisconnected: the handle left CONNECTED (by default). With T the
//     session timeout, the client gives up a link 2T/3 after the server's
//     last reply (watch notifications do not count) and sends something at
//     least every T/3; the ensemble expires the session, releasing the lock
//     to the next waiter, only T after it last heard from the client. So
//     the holder hears of the doubt before anyone else can get the lock, by
//     about T/3;
//   - an error wrapping zk.ErrSessionExpired, zk.ErrClosed or
//     zk.ErrAuthFailed: the session ended (expired, closed, or its
//     credentials rejected). With Config.KeepOnDisconnect, only this and a
//     deleted node end a hold: a partitioned holder then goes on believing
//     it holds the lock after the ensemble expired its session and gave the
//     lock to another, until its handle learns of the expiry (from a server
//     when it reconnects, or by local expiry about T after it last heard
//     from one; never, with local expiry turned off);
//   - ErrNodeDeleted: the lock node was deleted: by someone, or by the
//     end of the session itself when another process closed it while this
//     handle was connected (the deletion can reach the handle before the
//     connection drops).
//
// After a loss, stop the protected work and call Unlock (which deletes the
// node if it is still there) before locking again.
//
// As for every lock over a network, a holder that is paused (a garbage
// collection, a stopped VM) after it last looked at Lost can act after the
// lock went to another. Fence what matters: Token gives the node's path and
// Czxid, which grows with every later holder; writes into ZooKeeper can be
// made conditional on the hold with zk.CheckOp{Path: token.Path, Version:
// token.Version} in a Multi. Fencing also covers the one case the timing
// above does not: the ensemble's own leader stalling for more than about
// 2T/3 while its followers still follow it. It expires, as it resumes, the
// sessions whose touches the followers relayed to it meanwhile, and the
// holder hears of the expiry no sooner than the next waiter (see package
// recipe/leader).
//
// # Concurrency
//
// A Mutex (and each side of an RWMutex) is held by one owner at a time:
// goroutines of one process sharing a Mutex queue for it locally, as with
// sync.Mutex, before they queue in ZooKeeper. To share a read lock among
// goroutines of one process, give each its own RWMutex; handles may be
// shared.
package lock
