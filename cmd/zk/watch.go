package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/zkgo/zk"
)

func setupWatch(fs *flag.FlagSet) runFunc {
	recursive := fs.Bool("r", false, "watch the whole subtree (created, deleted and data changed)")
	return func(ctx context.Context, s *session, args []string) error {
		p, err := s.onePath(args)
		if err != nil {
			return err
		}
		return s.watch(ctx, p, *recursive)
	}
}

// watch sets a persistent watch on p and prints its events, session events
// included, until ctx ends (then it returns nil: an interrupt is how a
// watch is meant to stop) or the stream ends (session expired, for
// example). The command timeout bounds setting the watch only.
func (s *session) watch(ctx context.Context, p string, recursive bool) error {
	mode, what := zk.AddWatchModePersistent, ""
	if recursive {
		mode, what = zk.AddWatchModePersistentRecursive, " and its subtree"
	}
	actx, cancel, conn, err := s.begin(ctx)
	var w *zk.PersistentWatch
	if err == nil {
		w, err = conn.AddWatch(actx, p, mode)
	}
	cancel()
	if err != nil {
		return err
	}
	fmt.Fprintf(s.errOut, "watching %s%s; interrupt to stop\n", p, what)
	for {
		ev, err := w.Next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				return &zk.OpError{Op: "watch", Path: p, Err: err}
			}
			// Interrupted. Remove the watch, so that a shell's session
			// does not go on collecting events nobody reads.
			rctx, cancel, _, _ := s.begin(context.WithoutCancel(ctx))
			w.Remove(rctx)
			cancel()
			return nil
		}
		if err := s.writeEvent(ev); err != nil {
			return err
		}
	}
}

// eventJSON is a watch event as JSON.
type eventJSON struct {
	Type  string `json:"type"`            // NodeCreated, ..., Session
	Path  string `json:"path,omitempty"`  // for node events
	Event string `json:"event,omitempty"` // for session events: Disconnected, SyncConnected, ...
	State string `json:"state,omitempty"` // for session events: the state the handle moved to
	Error string `json:"error,omitempty"`
}

// writeEvent prints a watch event: "NodeDataChanged /a", or for a session
// event "Session Disconnected CONNECTING".
func (s *session) writeEvent(ev zk.Event) error {
	v := eventJSON{Type: ev.Type.String(), Path: ev.Path}
	if ev.Type == zk.EventSession {
		v.Event, v.State = ev.Session.String(), ev.State.String()
	}
	if ev.Err != nil {
		v.Error = ev.Err.Error()
	}
	if s.json {
		return s.writeJSON(v)
	}
	line := v.Type
	for _, f := range []string{v.Path, v.Event, v.State} {
		if f != "" {
			line += " " + f
		}
	}
	if v.Error != "" {
		line += ": " + v.Error
	}
	_, err := fmt.Fprintln(s.out, line)
	return err
}
