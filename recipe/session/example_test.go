package session_test

import (
	"context"
	"fmt"
	"log"

	"github.com/zkgo/zk"
	"github.com/zkgo/zk/recipe/leader"
	"github.com/zkgo/zk/recipe/session"
	"github.com/zkgo/zk/zktest"
)

// A candidate that comes back on a new session after its session expired.
func ExampleSupervisor_Run() {
	srv, err := zktest.NewServer() // in a real program: your ensemble
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	var events []string
	sup, err := session.Open(context.Background(), srv.ConnString(), session.Config{
		OnEvent: func(ev session.Event) { events = append(events, fmt.Sprint(ev.Type, " ", ev.Generation)) },
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := context.WithCancel(context.Background())
	err = sup.Run(ctx, func(ctx context.Context, conn *zk.Conn) error {
		cand, err := leader.New(conn, leader.Config{Dir: "/app/leader"})
		if err != nil {
			return err
		}
		return cand.Run(ctx, func(ctx context.Context) error {
			gen := sup.Generation()
			fmt.Println("leading on session", gen)
			if gen == 1 {
				srv.ExpireSession(conn.SessionID()) // what a long partition does
			} else {
				stop()
			}
			<-ctx.Done()
			return nil
		})
	})
	fmt.Println("Run:", err)
	sup.Close() // delivers every event before it returns
	fmt.Println(events)
	// Output:
	// leading on session 1
	// leading on session 2
	// Run: context canceled
	// [NewSession 1 Lost 1 NewSession 2 Lost 2 Closed 2]
}
