package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/zkgo/zk/zktest"
)

func setupServe(fs *flag.FlagSet) runFunc {
	addrs := fs.String("addr", "127.0.0.1:2181", "listen on `HOST:PORT[,HOST:PORT...]`, all serving one tree (port 0: a free port)")
	tick := fs.Duration("tick", 2*time.Second, "the server's tick `D`: session timeouts are clamped into [2 ticks, 20 ticks]")
	verbose := fs.Bool("v", false, "log sessions created and expired to standard error")
	var sasl []string
	fs.Func("sasl", "accept SASL DIGEST-MD5 from `USER:PASSWORD` (repeatable)", func(v string) error {
		sasl = append(sasl, v) // checked below, where the error need not quote it
		return nil
	})
	return func(ctx context.Context, s *session, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		users := map[string]string{}
		for _, v := range sasl {
			user, password, ok := strings.Cut(v, ":")
			if !ok || user == "" {
				return usagef("-sasl must be USER:PASSWORD")
			}
			users[user] = password
		}
		if *tick <= 0 {
			return usagef("-tick %v is not positive", *tick)
		}
		var list []string
		for a := range strings.SplitSeq(*addrs, ",") {
			if a = strings.TrimSpace(a); a != "" {
				list = append(list, a)
			}
		}
		if len(list) == 0 {
			return usagef("-addr is empty")
		}
		return serve(ctx, s, list, *tick, *verbose, users)
	}
}

// serve runs the in-memory server on addrs until ctx ends, then closes it.
// It prints the connection string first, alone on a line, so that a script
// can read it (and learn the ports picked for port 0).
func serve(ctx context.Context, s *session, addrs []string, tick time.Duration, verbose bool, saslUsers map[string]string) error {
	opts := []zktest.Option{zktest.WithAddrs(addrs...), zktest.WithTickTime(tick)}
	if len(saslUsers) > 0 {
		opts = append(opts, zktest.WithSASLUsers(saslUsers))
	}
	if verbose {
		opts = append(opts, zktest.WithLogger(slog.New(slog.NewTextHandler(s.errOut, nil))))
	}
	srv, err := zktest.NewServer(opts...)
	if err != nil {
		return err
	}
	defer srv.Close() // returns once every goroutine of the server has exited
	if _, err := fmt.Fprintln(s.out, srv.ConnString()); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}
