package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/zkgo/zk"
)

// runFunc runs a command with its positional arguments; its flags were
// parsed into the variables its setup defined.
type runFunc func(ctx context.Context, s *session, args []string) error

// command is an entry of the command table.
type command struct {
	name    string
	args    string // the usage after the name
	summary string
	// setup defines the command's flags on fs and returns the function that
	// runs it. It is nil for shell and help, which the callers handle.
	setup func(fs *flag.FlagSet) runFunc
}

var commands = []command{
	{"ls", "PATH", "list the children of a node, sorted", setupLs},
	{"get", "PATH", "print a node's data", setupGet},
	{"set", "PATH DATA [-version N]", "replace a node's data", setupSet},
	{"create", "[-e] [-s] [-c] [-ttl D] PATH [DATA]", "create a node and print its path", setupCreate},
	{"delete", "[-r] [-version N] PATH", "delete a node (-r: with its subtree)", setupDelete},
	{"stat", "PATH", "print a node's metadata", setupStat},
	{"tree", "PATH", "print a subtree, indented", setupTree},
	{"watch", "[-r] PATH", "print events until interrupted (-r: the subtree's)", setupWatch},
	{"getacl", "PATH", "print a node's ACL", setupGetACL},
	{"sync", "PATH", "wait until the server has caught up", setupSync},
	{"whoami", "", "print the identities of the connection", setupWhoAmI},
	{"shell", "", "run commands read from standard input", nil},
	{"serve", "[-addr HOST:PORT[,...]] [-tick D] [-v] [-sasl USER:PASSWORD]", "run an in-memory server until interrupted", setupServe},
	{"version", "", "print the version of this program", setupVersion},
	{"help", "[COMMAND]", "print the usage, or a command's", nil},
}

// lookup returns the command called name, or nil.
func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// flagSet returns the command's flags, -json (bound to jsonOut) included,
// and its run function (nil for shell and help).
func (c *command) flagSet(jsonOut *bool) (*flag.FlagSet, runFunc) {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(jsonOut, "json", *jsonOut, "print JSON")
	if c.setup == nil {
		return fs, nil
	}
	return fs, c.setup(fs)
}

// onPath is the run function of a command that takes one path and a
// connection: it checks the argument and connects before fn runs.
func onPath(fn func(ctx context.Context, s *session, conn *zk.Conn, p string) error) runFunc {
	return func(ctx context.Context, s *session, args []string) error {
		p, err := s.onePath(args)
		if err != nil {
			return err
		}
		ctx, cancel, conn, err := s.begin(ctx)
		defer cancel()
		if err != nil {
			return err
		}
		return fn(ctx, s, conn, p)
	}
}

func setupLs(*flag.FlagSet) runFunc {
	return onPath(func(ctx context.Context, s *session, conn *zk.Conn, p string) error {
		names, _, err := conn.Children(ctx, p)
		if err != nil {
			return err
		}
		slices.Sort(names)
		if s.json {
			return s.writeJSON(struct {
				Path     string   `json:"path"`
				Children []string `json:"children"`
			}{p, names})
		}
		for _, n := range names {
			fmt.Fprintln(s.out, n)
		}
		return nil
	})
}

func setupGet(*flag.FlagSet) runFunc {
	return onPath(func(ctx context.Context, s *session, conn *zk.Conn, p string) error {
		data, st, err := conn.Get(ctx, p)
		if err != nil {
			return err
		}
		if s.json {
			v := getJSON{Path: p, Stat: toStatJSON(st)}
			if utf8.Valid(data) {
				d := string(data)
				v.Data = &d
			} else {
				d := base64.StdEncoding.EncodeToString(data)
				v.DataBase64 = &d
			}
			return s.writeJSON(v)
		}
		_, err = s.out.Write(append(data, '\n'))
		return err
	})
}

func setupSet(fs *flag.FlagSet) runFunc {
	version := versionFlag(fs, "set only if the node's data version is `N` (-1: any)")
	return func(ctx context.Context, s *session, args []string) error {
		switch {
		case len(args) < 2:
			return usagef("want PATH and DATA")
		case len(args) > 2:
			return usagef("unexpected argument %q (quote data that has spaces)", args[2])
		}
		p, err := s.abs(args[0])
		if err != nil {
			return err
		}
		ctx, cancel, conn, err := s.begin(ctx)
		defer cancel()
		if err != nil {
			return err
		}
		st, err := conn.Set(ctx, p, []byte(args[1]), *version)
		if err != nil {
			return err
		}
		if s.json {
			return s.writeJSON(nodeJSON{Path: p, Stat: toStatJSON(st)})
		}
		return nil
	}
}

func setupCreate(fs *flag.FlagSet) runFunc {
	eph := fs.Bool("e", false, "ephemeral: deleted when the session ends (outside the shell, when this command exits)")
	seq := fs.Bool("s", false, "sequential: append a 10-digit sequence number to the name")
	ctr := fs.Bool("c", false, "container: deleted by the server once its last child is gone")
	ttl := fs.Duration("ttl", 0, "deleted by the server after `D` without children or change (servers with extendedTypesEnabled)")
	return func(ctx context.Context, s *session, args []string) error {
		switch {
		case len(args) == 0:
			return usagef("missing PATH")
		case len(args) > 2:
			return usagef("unexpected argument %q (quote data that has spaces)", args[2])
		}
		mode, err := createMode(*eph, *seq, *ctr, *ttl)
		if err != nil {
			return err
		}
		p, err := s.abs(args[0])
		if err != nil {
			return err
		}
		var data []byte
		if len(args) == 2 {
			data = []byte(args[1])
		}
		ctx, cancel, conn, err := s.begin(ctx)
		defer cancel()
		if err != nil {
			return err
		}
		var created string
		var st *zk.Stat
		if *ttl > 0 {
			created, st, err = conn.CreateTTL(ctx, p, data, mode, zk.OpenACL, *ttl)
		} else {
			created, st, err = conn.CreateStat(ctx, p, data, mode, zk.OpenACL)
		}
		if err != nil {
			return err
		}
		if s.json {
			return s.writeJSON(nodeJSON{Path: created, Stat: toStatJSON(st)})
		}
		fmt.Fprintln(s.out, created)
		return nil
	}
}

// versionFlag defines -version, a node version: an int32, as on the wire.
// A value outside int32's range is refused rather than truncated (which
// would make 4294967295 into -1, any version).
func versionFlag(fs *flag.FlagSet, usage string) *int32 {
	v := zk.AnyVersion
	fs.Var((*int32Value)(&v), "version", usage)
	return &v
}

// int32Value is a flag.Value for an int32.
type int32Value int32

func (v *int32Value) String() string { return strconv.Itoa(int(*v)) }

func (v *int32Value) Set(s string) error {
	n, err := strconv.ParseInt(s, 0, 32)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return fmt.Errorf("out of range: want a number from %d to %d", math.MinInt32, math.MaxInt32)
		}
		return errors.New("parse error")
	}
	*v = int32Value(n)
	return nil
}

// createMode is the mode for create's flags.
func createMode(eph, seq, ctr bool, ttl time.Duration) (zk.CreateMode, error) {
	switch {
	case ttl < 0:
		return 0, usagef("-ttl %v is negative", ttl)
	case ctr && (eph || seq || ttl > 0):
		return 0, usagef("-c does not go with -e, -s or -ttl")
	case eph && ttl > 0:
		return 0, usagef("-e does not go with -ttl")
	case ctr:
		return zk.CreateContainer, nil
	case ttl > 0 && seq:
		return zk.CreatePersistentSequentialTTL, nil
	case ttl > 0:
		return zk.CreatePersistentTTL, nil
	case eph && seq:
		return zk.CreateEphemeralSequential, nil
	case eph:
		return zk.CreateEphemeral, nil
	case seq:
		return zk.CreatePersistentSequential, nil
	}
	return zk.CreatePersistent, nil
}

func setupDelete(fs *flag.FlagSet) runFunc {
	recursive := fs.Bool("r", false, "delete the node's subtree too")
	version := versionFlag(fs, "delete only if the node's data version is `N` (-1: any)")
	return func(ctx context.Context, s *session, args []string) error {
		if len(args) == 0 {
			return usagef("missing PATH") // no default in the shell: too easy to slip
		}
		p, err := s.onePath(args)
		if err != nil {
			return err
		}
		if *recursive && p == "/" {
			return usagef("refusing to delete / recursively")
		}
		ctx, cancel, conn, err := s.begin(ctx)
		defer cancel()
		if err != nil {
			return err
		}
		if !*recursive {
			return conn.Delete(ctx, p, *version)
		}
		if *version != zk.AnyVersion {
			// Check first, so that a wrong version deletes nothing. The
			// final Delete checks again.
			ok, st, err := conn.Exists(ctx, p)
			switch {
			case err != nil:
				return err
			case !ok:
				return &zk.OpError{Op: "delete", Path: p, Err: zk.ErrNoNode}
			case st.Version != *version:
				return &zk.OpError{Op: "delete", Path: p, Err: zk.ErrBadVersion}
			}
		}
		return deleteTree(ctx, conn, p, *version)
	}
}

// deleteTree deletes the subtree under p, then p if its version matches.
// Nodes deleted meanwhile by others are not errors.
func deleteTree(ctx context.Context, conn *zk.Conn, p string, version int32) error {
	names, _, err := conn.Children(ctx, p)
	if err != nil {
		return err
	}
	for _, name := range names {
		err := deleteTree(ctx, conn, childPath(p, name), zk.AnyVersion)
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return err
		}
	}
	return conn.Delete(ctx, p, version)
}

func setupStat(*flag.FlagSet) runFunc {
	return onPath(func(ctx context.Context, s *session, conn *zk.Conn, p string) error {
		ok, st, err := conn.Exists(ctx, p)
		switch {
		case err != nil:
			return err
		case !ok:
			return &zk.OpError{Op: "stat", Path: p, Err: zk.ErrNoNode}
		case s.json:
			return s.writeJSON(nodeJSON{Path: p, Stat: toStatJSON(st)})
		}
		writeStat(s.out, st)
		return nil
	})
}

func setupTree(*flag.FlagSet) runFunc {
	return onPath(func(ctx context.Context, s *session, conn *zk.Conn, p string) error {
		t, err := fetchTree(ctx, conn, p)
		if err != nil {
			return err
		}
		if s.json {
			return s.writeJSON(t)
		}
		writeTree(s.out, t, 0)
		return nil
	})
}

// treeNode is a node of tree's output.
type treeNode struct {
	Path     string      `json:"path"`
	Children []*treeNode `json:"children"`
}

// fetchTree reads the subtree under p, children sorted. Nodes deleted while
// it reads are left out.
func fetchTree(ctx context.Context, conn *zk.Conn, p string) (*treeNode, error) {
	names, _, err := conn.Children(ctx, p)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	t := &treeNode{Path: p, Children: make([]*treeNode, 0, len(names))}
	for _, name := range names {
		c, err := fetchTree(ctx, conn, childPath(p, name))
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, err
		}
		t.Children = append(t.Children, c)
	}
	return t, nil
}

func setupGetACL(*flag.FlagSet) runFunc {
	return onPath(func(ctx context.Context, s *session, conn *zk.Conn, p string) error {
		acl, _, err := conn.GetACL(ctx, p)
		if err != nil {
			return err
		}
		if s.json {
			type entry struct {
				Scheme string `json:"scheme"`
				ID     string `json:"id"`
				Perms  string `json:"perms"`
			}
			v := struct {
				Path string  `json:"path"`
				ACL  []entry `json:"acl"`
			}{Path: p, ACL: []entry{}}
			for _, a := range acl {
				v.ACL = append(v.ACL, entry{a.Scheme, a.ID, permString(a.Perms)})
			}
			return s.writeJSON(v)
		}
		for _, a := range acl {
			fmt.Fprintf(s.out, "%s:%s %s\n", a.Scheme, a.ID, permString(a.Perms))
		}
		return nil
	})
}

func setupSync(*flag.FlagSet) runFunc {
	return onPath(func(ctx context.Context, s *session, conn *zk.Conn, p string) error {
		return conn.Sync(ctx, p)
	})
}

func setupWhoAmI(*flag.FlagSet) runFunc {
	return func(ctx context.Context, s *session, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		ctx, cancel, conn, err := s.begin(ctx)
		defer cancel()
		if err != nil {
			return err
		}
		ids, err := conn.WhoAmI(ctx)
		if err != nil {
			return err
		}
		if s.json {
			type id struct {
				Scheme string `json:"scheme"`
				User   string `json:"user"`
			}
			v := []id{}
			for _, ci := range ids {
				v = append(v, id{ci.AuthScheme, ci.User})
			}
			return s.writeJSON(v)
		}
		for _, ci := range ids {
			fmt.Fprintf(s.out, "%s %s\n", ci.AuthScheme, ci.User)
		}
		return nil
	}
}

func setupVersion(*flag.FlagSet) runFunc {
	return func(_ context.Context, s *session, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		v := "devel"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		if s.json {
			return s.writeJSON(struct {
				Version  string `json:"version"`
				Go       string `json:"go"`
				Platform string `json:"platform"`
			}{v, runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH})
		}
		fmt.Fprintf(s.out, "zk version %s %s %s/%s\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return nil
	}
}
