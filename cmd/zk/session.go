package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"path"
	"strings"
	"time"

	"github.com/zkgo/zk"
)

// session is what commands run against: a connection (opened on first
// use), where to print, and the shell's current node.
type session struct {
	out     io.Writer     // results
	errOut  io.Writer     // notices, such as "watching /a"; errors are the caller's to print
	json    bool          // print JSON
	timeout time.Duration // bounds each command; 0 for none
	cwd     string        // the shell's current node; "" outside the shell, where paths must be absolute

	conn    *zk.Conn
	connect func(context.Context) (*zk.Conn, error) // opens conn on first use
}

// exec runs the command called name with args (flags and arguments). A
// usage error it returns carries the command's usage.
func (s *session) exec(ctx context.Context, name string, args []string) error {
	inShell := s.cwd != ""
	cmd := lookup(name)
	if cmd == nil {
		return usagef("unknown command %q", name)
	}
	saved := s.json // -json after the command holds for this command only
	defer func() { s.json = saved }()
	fs, run := cmd.flagSet(&s.json)
	if run == nil {
		return usagef("%s: not available here", name)
	}
	pos, err := parseArgs(fs, args)
	if err == nil {
		err = run(ctx, s, pos)
	}
	if errors.Is(err, flag.ErrHelp) {
		writeCommandUsage(s.out, name, fs, inShell)
		return nil
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return usageFor(name, fs, inShell, &usageError{msg: name + ": " + ue.msg})
	}
	// Name the command the user typed, not the request that failed:
	// "zk: delete /a/b: ...", not "zk: children /a/b: ...". The path stays
	// the one that failed.
	if oe, ok := err.(*zk.OpError); ok && oe.Op != name {
		return &zk.OpError{Op: name, Path: oe.Path, Err: oe.Err}
	}
	return err
}

// parseArgs parses flags that may come before, between or after the
// positional arguments ("set /a data -version 3"), which it returns. "--"
// ends the flags: what follows is positional even if it starts with '-'.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%v", err)
		}
		rest := fs.Args()
		if consumed := args[:len(args)-len(rest)]; len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// abs resolves p against the shell's current node, cleaning it (but for a
// trailing '/', which names the children of a sequential create). Outside
// the shell a relative path is a usage error, and paths are passed on as
// given, for the client to validate.
func (s *session) abs(p string) (string, error) {
	if s.cwd == "" {
		if !strings.HasPrefix(p, "/") {
			return "", usagef("relative path %q: paths start with '/' (relative paths work in the shell only)", p)
		}
		return p, nil
	}
	if p == "" {
		return "", usagef("empty path")
	}
	j := path.Join(s.cwd, p)
	if strings.HasPrefix(p, "/") {
		j = path.Clean(p)
	}
	if strings.HasSuffix(p, "/") && j != "/" {
		j += "/"
	}
	return j, nil
}

// onePath returns the one PATH argument, resolved. In the shell it
// defaults to the current node.
func (s *session) onePath(args []string) (string, error) {
	switch {
	case len(args) == 0 && s.cwd != "":
		return s.cwd, nil
	case len(args) == 0:
		return "", usagef("missing PATH")
	case len(args) > 1:
		return "", usagef("unexpected argument %q", args[1])
	}
	return s.abs(args[0])
}

func noArgs(args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}

// begin bounds ctx by the command timeout and returns the connection,
// opening it on first use. The caller must call cancel.
func (s *session) begin(ctx context.Context) (_ context.Context, cancel context.CancelFunc, _ *zk.Conn, _ error) {
	if s.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	if s.conn == nil {
		conn, err := s.connect(ctx)
		if err != nil {
			return ctx, cancel, nil, err
		}
		s.conn = conn
	}
	return ctx, cancel, s.conn, nil
}

// writeJSON prints v as one line of JSON.
func (s *session) writeJSON(v any) error {
	enc := json.NewEncoder(s.out)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// childPath is the path of the child name of node p.
func childPath(p, name string) string {
	if p == "/" {
		return "/" + name
	}
	return p + "/" + name
}
