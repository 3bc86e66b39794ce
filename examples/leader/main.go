// Command leader runs three candidates of a leader election and kills the
// leader, again and again, printing who leads.
//
// By default it starts the bundled in-memory ZooKeeper server; with -server
// it uses a real ensemble:
//
//	go run ./examples/leader
//	go run ./examples/leader -server 127.0.0.1:2181 -rounds 5
//
// Each candidate has its own session. Killing the leader closes its
// session, as the end of its process would: its election node goes, the
// next candidate in line (the only one watching it) takes over, and the
// killed candidate comes back as a new process at the end of the line.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/zkgo/zk"
	"github.com/zkgo/zk/recipe/leader"
	"github.com/zkgo/zk/zktest"
)

func main() {
	server := flag.String("server", "", "connection string of a real ensemble (default: start the in-memory server)")
	rounds := flag.Int("rounds", 4, "how many leaders to kill")
	flag.Parse()
	if err := run(*server, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "leader:", err)
		os.Exit(1)
	}
}

// process is one candidate process: its own session and its own candidate.
type process struct {
	name string
	conn *zk.Conn
	stop context.CancelFunc
	done chan error
}

// gained reports a leadership: who, and the fencing token of its term.
type gained struct {
	name  string
	czxid int64
	at    time.Time
}

func start(ctx context.Context, connString, name string, leads chan<- gained) (*process, error) {
	conn, err := zk.Connect(ctx, connString, zk.WithSessionTimeout(4*time.Second))
	if err != nil {
		return nil, err
	}
	cand, err := leader.New(conn, leader.Config{Dir: "/examples/leader", ID: []byte(name)})
	if err != nil {
		conn.Close()
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.Background())
	p := &process{name: name, conn: conn, stop: stop, done: make(chan error, 1)}
	go func() {
		p.done <- cand.Run(runCtx, func(ctx context.Context) error {
			term, _ := leader.TermFrom(ctx)
			leads <- gained{name: name, czxid: term.Czxid, at: time.Now()}
			<-ctx.Done() // lead until leadership is no longer certain
			return nil
		})
	}()
	return p, nil
}

// kill ends the process abruptly: its session is closed, as a crash would
// end it after the session timeout.
func (p *process) kill() {
	p.conn.Close()
	p.stop()
	<-p.done
}

func run(connString string, rounds int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if connString == "" {
		srv, err := zktest.NewServer()
		if err != nil {
			return err
		}
		defer srv.Close()
		connString = srv.ConnString()
		fmt.Println("started the in-memory server at", connString)
	}

	leads := make(chan gained, 16)
	var mu sync.Mutex
	procs := map[string]*process{}
	next := 0
	spawn := func() error {
		next++
		name := fmt.Sprintf("candidate-%d", next)
		p, err := start(ctx, connString, name, leads)
		if err != nil {
			return err
		}
		mu.Lock()
		procs[name] = p
		mu.Unlock()
		fmt.Printf("%s joined (session 0x%x)\n", name, p.conn.SessionID())
		return nil
	}
	for i := 0; i < 3; i++ {
		if err := spawn(); err != nil {
			return err
		}
	}
	defer func() {
		for _, p := range procs {
			p.kill()
		}
	}()

	var cur gained
	select {
	case cur = <-leads:
	case <-ctx.Done():
		return errors.New("no leader was elected")
	}
	fmt.Printf("%s leads (fencing token: czxid 0x%x)\n", cur.name, cur.czxid)
	line := func() {
		mu.Lock()
		p := procs[cur.name]
		mu.Unlock()
		ids, err := leader.Participants(ctx, p.conn, "/examples/leader")
		if err == nil {
			fmt.Printf("  line: %s\n", bytes.Join(ids, []byte(", ")))
		}
	}
	line()
	for round := 0; round < rounds; round++ {
		mu.Lock()
		p := procs[cur.name]
		delete(procs, cur.name)
		mu.Unlock()
		killed := time.Now()
		fmt.Printf("killing %s\n", cur.name)
		p.kill()
		select {
		case cur = <-leads:
		case <-ctx.Done():
			return errors.New("no new leader after a kill")
		}
		fmt.Printf("%s leads, %v after the kill (fencing token: czxid 0x%x)\n", cur.name, cur.at.Sub(killed).Round(time.Microsecond), cur.czxid)
		if err := spawn(); err != nil { // the killed process restarts
			return err
		}
		line()
	}
	return nil
}
