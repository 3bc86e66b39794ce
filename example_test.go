package zk_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/zkgo/zk"
	"github.com/zkgo/zk/zktest"
)

func Example() {
	srv, err := zktest.NewServer() // the in-memory server; use your ensemble's address instead
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := zk.Connect(ctx, srv.ConnString(), zk.WithSessionTimeout(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	if _, err := conn.Create(ctx, "/config", []byte("v1"), zk.CreatePersistent, zk.OpenACL); err != nil {
		log.Fatal(err)
	}
	data, stat, err := conn.Get(ctx, "/config")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s version %d\n", data, stat.Version)

	_, err = conn.Set(ctx, "/config", []byte("v2"), 7)
	fmt.Println(errors.Is(err, zk.ErrBadVersion), err)
	// Output:
	// v1 version 0
	// true zk: set /config: version conflict
}

func ExampleConn_GetW() {
	srv, _ := zktest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	conn, err := zk.Connect(ctx, srv.ConnString())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	conn.Create(ctx, "/leader", []byte("a"), zk.CreatePersistent, zk.OpenACL)
	_, _, events, err := conn.GetW(ctx, "/leader")
	if err != nil {
		log.Fatal(err)
	}
	conn.Set(ctx, "/leader", []byte("b"), zk.AnyVersion)
	ev := <-events // exactly one event, then the channel is closed
	fmt.Println(ev.Type, ev.Path)
	_, more := <-events
	fmt.Println("more:", more)
	// Output:
	// NodeDataChanged /leader
	// more: false
}

func ExampleWithStateListener() {
	srv, _ := zktest.NewServer(zktest.WithListeners(2))
	defer srv.Close()
	ctx := context.Background()
	changes := make(chan zk.StateChange, 16)
	conn, err := zk.Connect(ctx, srv.ConnString(), zk.WithStateListener(func(c zk.StateChange) { changes <- c }))
	if err != nil {
		log.Fatal(err)
	}
	srv.DropConnections() // a network blip: the session moves on
	for i := 0; i < 4; i++ {
		fmt.Println(<-changes)
	}
	conn.Close()
	fmt.Println(<-changes)
	// Output:
	// NOT_CONNECTED -> CONNECTING
	// CONNECTING -> CONNECTED (SyncConnected)
	// CONNECTED -> CONNECTING (Disconnected)
	// CONNECTING -> CONNECTED (SyncConnected)
	// CONNECTED -> CLOSED (Closed)
}

func ExampleConn_Multi() {
	srv, _ := zktest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	conn, err := zk.Connect(ctx, srv.ConnString())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	res, err := conn.Multi(ctx,
		zk.CreateOp{Path: "/jobs", ACL: zk.OpenACL},
		zk.CreateOp{Path: "/jobs/job-", Mode: zk.CreatePersistentSequential, ACL: zk.OpenACL},
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res[0].Path, res[1].Path)

	_, err = conn.Multi(ctx,
		zk.SetDataOp{Path: "/jobs", Data: []byte("x"), Version: zk.AnyVersion},
		zk.CheckOp{Path: "/jobs", Version: 5},
	)
	fmt.Println(err)
	// Output:
	// /jobs /jobs/job-0000000000
	// zk: multi /jobs: version conflict
}

func ExampleNew_badConnString() {
	_, err := zk.New("zk1:2181,zk2:99999/app")
	fmt.Println(err)
	fmt.Println(errors.Is(err, zk.ErrBadConnString))
	// Output:
	// zk: bad connection string: host "zk2:99999": port "99999" is not a number from 1 to 65535
	// true
}
