// Package session keeps an application supplied with ZooKeeper sessions:
// a Supervisor owns a *zk.Conn and, when its session ends (expired,
// rejected credentials, or the handle closed by the application), opens a
// new one, tells the application, and runs the application's function
// again on the new session.
//
// A zk.Conn whose session expired is dead, by design: its ephemeral nodes,
// watches and leaderships are gone, and pretending otherwise is how
// coordination bugs happen. The Supervisor does not hide that. Each session
// is a generation: the application sees the end of one (EventLost) and the
// start of the next (EventNewSession) as events, in order and never
// dropped, and Run calls its function afresh for every session, with a
// context that ends with the session. State built on the old session (a
// leader.Candidate, a lock.Mutex) is built again on the new one:
//
//	sup, err := session.Open(ctx, "zk1:2181,zk2:2181,zk3:2181", session.Config{
//		OnEvent: func(ev session.Event) { log.Print(ev) },
//	})
//	...
//	defer sup.Close()
//	err = sup.Run(ctx, func(ctx context.Context, conn *zk.Conn) error {
//		cand, err := leader.New(conn, leader.Config{Dir: "/app/leader"})
//		if err != nil {
//			return err
//		}
//		return cand.Run(ctx, lead)
//	})
package session
