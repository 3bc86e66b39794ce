// Package testserver is an in-memory ZooKeeper server that speaks the real
// wire protocol on loopback, for tests. Applications reach it through package
// zktest; the client library's own tests use it directly. It shares only
// internal/proto with the client.
//
// It keeps a tree of znodes with stats, versions and zxids; sequential,
// ephemeral, container and TTL nodes; ACLs with digest and ip
// authentication; one-shot and persistent watches; multi and multiRead.
// Sessions expire by the bucket strategy of the real server's
// SessionTrackerImpl. Several listening addresses over one tree stand in for
// an ensemble. Where real servers differ between releases, it answers as a
// standalone Apache ZooKeeper 3.8 server does.
//
// # Concurrency
//
// One goroutine (run) owns the tree, the sessions and the watches. Each
// connection has a reader goroutine, which decodes frames and hands them to
// run in order, and a writer goroutine, which drains the connection's
// outbound queue; run never blocks on a socket. A write's watch events are
// queued before its reply, so on the writer's own connection they arrive
// first. Test controls reach the state through admin, which runs a function
// on run's goroutine. Close returns after every goroutine has exited.
//
// # As in the real server
//
//   - Every write request takes a zxid, even one that fails (the real server
//     logs an error transaction); so do session creation and closing. A multi
//     takes one zxid for all its ops.
//   - cversion is stored as the count of child creates (the sequential
//     suffix); a Stat reports 2*creates-children, so "/" starts at -1.
//   - Outside a multi, create and create2 with the container flag make a
//     plain persistent node; only createContainer makes a container. Inside
//     a multi the flags decide, and create2 answers as create.
//   - A new connection for a session closes its older one, even when the
//     password is wrong; the session survives a wrong password.
//   - An expired session's connection is closed without a word, then its
//     ephemerals go in one closeSession transaction.
//   - Watches live in two managers (data and child) with one mode per
//     connection and path, as on 3.6–3.8: a one-shot watch set where the
//     connection has a persistent or recursive watch replaces it in that
//     manager (and is gone once it fired); addWatch puts even a recursive
//     watch in both managers; checkWatches succeeds if any connection
//     watches the path; the 3.9 WatcherTypes 4 and 5 get -5.
//   - ip ACL ids are dotted IPv4 only (3.8 has no IPv6 parsing); the config
//     node's aversion is -1.
//   - getChildren lists names in the order of the real server's Java
//     HashSet of them (String hash codes and table resizes), not sorted; a
//     failed multi leaves that order as it was.
//   - exists checks no permission, and events are not filtered by READ
//     permission, as on 3.8.0 (3.8.4+ and 3.9.2+ check READ for both).
//
// These are checked against a real 3.8.0 server by the suite in
// internal/conformance.
//
// # Known differences
//
//   - A check (13) sent alone that succeeds closes the connection without a
//     reply, as on 3.8.0, but nothing is committed.
//   - reconfig answers -123 ReconfigDisabled (a standalone server with
//     reconfigEnabled=false). SASL (102) answers OK with a null token, as a
//     server without SASL configured does, unless WithSASLUsers turns on
//     DIGEST-MD5 (then an unknown user is refused; ZooKeeper 3.8.0 lets one
//     in with the password of the user it last authenticated,
//     ZOOKEEPER-4839). An unknown opcode answers -6 with zxid -1 (the
//     request's unset zxid), then closes the connection.
//   - Not implemented: quota enforcement (zookeeper.enforceQuota; the
//     counting into zookeeper_stats nodes is done), read-only mode, super
//     digest, x509, SASL mechanisms other than DIGEST-MD5, local sessions,
//     throttling, per-IP connection limits.
//     Among four-letter words only srvr answers; the others (the telnet
//     close sequence too) get the "not in the whitelist" line, as with the
//     default whitelist.
//   - Auth replies are sent in order with the other replies; a real server
//     answers them at once, so they may overtake earlier replies.
//   - whoAmI lists ip first, then the credentials in the order they were
//     accepted (the real server's order comes from a hash set).
//   - getEphemerals and the deletes of a closing session follow a copy of
//     the session's hash set sized as JDK 8 to 18 size it (JDK 19 and later
//     size some copies smaller, which can change the order).
//   - A bucket of a Java hash table of 64 or more buckets that gets more
//     than eight names becomes a red-black tree, whose order is not
//     modelled: only names whose hash codes collide on purpose get there.
//   - The container and TTL reaper runs every reap interval (one tick by
//     default; 60 s on a real server) with no per-minute limit.
//   - Session passwords are an HMAC of the id with a per-server secret; ids
//     carry server id 1 in their top byte.
package testserver
