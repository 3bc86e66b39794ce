package leader_test

import (
	"context"
	"fmt"
	"log"

	"github.com/zkgo/zk"
	"github.com/zkgo/zk/recipe/leader"
	"github.com/zkgo/zk/zktest"
)

// A scheduler that must run in one process at a time. The leader's work
// gets a context that is cancelled as soon as leadership is in doubt, and a
// Term to fence its writes with.
func Example() {
	srv, err := zktest.NewServer() // in a real program: your ensemble
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	conn, err := zk.Connect(ctx, srv.ConnString())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	cand, err := leader.New(conn, leader.Config{Dir: "/scheduler/leader", ID: []byte("host-a")})
	if err != nil {
		log.Fatal(err)
	}
	err = cand.Run(ctx, func(ctx context.Context) error {
		id, err := cand.Current(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("%s leads\n", id)
		// A write fenced by the leadership: it fails once the candidate's
		// node is gone.
		term, _ := leader.TermFrom(ctx)
		_, err = conn.Multi(ctx,
			zk.CheckOp{Path: term.Path, Version: term.Version},
			zk.CreateOp{Path: "/scheduler/last-run", Data: []byte("host-a"), Mode: zk.CreatePersistent, ACL: zk.OpenACL})
		if err != nil {
			return err
		}
		fmt.Println("work done; resigning")
		return nil // returning resigns; a long-running leader returns when ctx is done
	})
	fmt.Println("Run:", err)
	// Output:
	// host-a leads
	// work done; resigning
	// Run: <nil>
}
