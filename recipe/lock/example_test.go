package lock_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/zkgo/zk"
	"github.com/zkgo/zk/recipe/lock"
	"github.com/zkgo/zk/zktest"
)

// Work under a lock shared by every process of a service, stopping as soon
// as the lock is in doubt.
func ExampleMutex() {
	srv, err := zktest.NewServer() // in a real program: your ensemble
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	conn, err := zk.Connect(context.Background(), srv.ConnString())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	m, err := lock.New(conn, lock.Config{Dir: "/billing/lock", Data: []byte("host-a")})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Lock(ctx); err != nil {
		log.Fatal(err)
	}
	for batch := 1; batch <= 3; batch++ {
		select {
		case <-m.Lost():
			fmt.Println("lock lost:", m.Err())
			return
		default:
		}
		fmt.Println("batch", batch)
	}
	if err := m.Unlock(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("unlocked")
	// Output:
	// batch 1
	// batch 2
	// batch 3
	// unlocked
}
