// Command failover shows what a zk session does when its server goes away
// and when it expires.
//
// By default it starts the bundled in-memory ZooKeeper server with three
// listeners standing in for a three-member ensemble. With -server it runs
// against a real ensemble instead:
//
//	go run ./examples/failover
//	go run ./examples/failover -server 127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183
//
// It connects while printing every state change, creates an ephemeral node,
// loses its server (the in-memory listener is stopped; against a real
// ensemble the demo cuts its own socket, as a network fault would) and
// shows the same session carry on from another server with the node
// intact. Then it has the session expired from outside (a second handle
// opens the same session and closes it) and shows, through another client,
// that the ephemeral node is gone.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/zkgo/zk"
	"github.com/zkgo/zk/zktest"
)

func main() {
	server := flag.String("server", "", "connection string of a real ensemble (default: start the in-memory server)")
	timeout := flag.Duration("timeout", 4*time.Second, "session timeout to request")
	flag.Parse()
	if err := run(*server, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		os.Exit(1)
	}
}

// cuttable remembers the live connections so the demo can cut them.
type cuttable struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (c *cuttable) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err == nil {
		c.mu.Lock()
		c.conns = append(c.conns, nc)
		c.mu.Unlock()
	}
	return nc, err
}

func (c *cuttable) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, nc := range c.conns {
		nc.Close()
	}
	c.conns = nil
}

func run(connString string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var srv *zktest.Server
	if connString == "" {
		var err error
		srv, err = zktest.NewServer(zktest.WithListeners(3))
		if err != nil {
			return err
		}
		defer srv.Close()
		connString = srv.ConnString()
		fmt.Println("started the in-memory server, listeners:", connString)
	} else {
		fmt.Println("using the ensemble at", connString)
	}

	start := time.Now()
	changes := make(chan zk.StateChange, 64)
	listener := func(c zk.StateChange) { changes <- c }
	printer := make(chan struct{})
	go func() {
		defer close(printer)
		for c := range changes {
			line := fmt.Sprintf("  [%6.3fs] state %-20s", time.Since(start).Seconds(), c.String())
			if c.Server != "" {
				line += " server " + c.Server
			}
			if c.Err != nil {
				line += " (" + c.Err.Error() + ")"
			}
			fmt.Println(line)
		}
	}()

	net := &cuttable{}
	c, err := zk.Connect(ctx, connString, zk.WithSessionTimeout(timeout), zk.WithStateListener(listener), zk.WithDialer(net.dial))
	if err != nil {
		return err
	}
	defer func() {
		c.Close()
		close(changes)
		<-printer
	}()
	id := c.SessionID()
	fmt.Printf("connected: session 0x%x, negotiated timeout %v, server %s\n", id, c.SessionTimeout(), c.Server())

	path := fmt.Sprintf("/failover-demo-%x", id)
	if _, err := c.Create(ctx, path, []byte("alive"), zk.CreateEphemeral, zk.OpenACL); err != nil {
		return err
	}
	fmt.Println("created ephemeral node", path)

	// Lose the server.
	first := c.Server()
	if srv != nil {
		for i, a := range srv.Addrs() {
			if a == first {
				fmt.Printf("stopping listener %d (%s), the one this session is on\n", i, a)
				srv.StopListener(i)
			}
		}
	} else {
		fmt.Println("cutting the connection to", first)
		net.cut()
	}
	for c.Server() == "" || c.Server() == first && srv != nil {
		if !c.WaitForStateChange(ctx, c.State()) {
			return errors.New("the session did not move")
		}
	}
	for c.State() != zk.StateConnected {
		if !c.WaitForStateChange(ctx, c.State()) {
			return errors.New("the session did not come back")
		}
	}
	_, st, err := c.Get(ctx, path)
	if err != nil {
		return err
	}
	fmt.Printf("same session 0x%x now on %s; ephemeral node still there (owner 0x%x)\n", c.SessionID(), c.Server(), st.EphemeralOwner)

	// Expire the session from outside: another handle takes it over and
	// closes it, which ends it on the ensemble.
	other, err := zk.Connect(ctx, connString)
	if err != nil {
		return err
	}
	defer other.Close()
	_, _, seen, err := other.ExistsW(ctx, path)
	if err != nil {
		return err
	}
	fmt.Println("expiring the session from outside")
	thief, err := zk.Connect(ctx, connString, zk.WithSession(c.SessionID(), c.SessionPassword()))
	if err != nil {
		return err
	}
	thief.Close()
	for c.State() != zk.StateClosed {
		if !c.WaitForStateChange(ctx, c.State()) {
			return errors.New("the expiry was not noticed")
		}
	}
	if _, _, err := c.Get(ctx, path); err != nil {
		fmt.Println("a call on the dead handle:", err)
	}
	select {
	case ev := <-seen:
		fmt.Println("the other client saw:", ev.Type, ev.Path)
	case <-ctx.Done():
		return ctx.Err()
	}
	ok, _, err := other.Exists(ctx, path)
	if err != nil {
		return err
	}
	fmt.Println("ephemeral node exists after expiry:", ok)
	return nil
}
