// Command zk is a command-line client for Apache ZooKeeper, with an
// interactive shell, and a ZooKeeper server for development.
//
// Usage:
//
//	zk [-server CONNSTRING] [-timeout D] [-json] [-auth SCHEME:CRED] [-sasl USER:PASSWORD] COMMAND [ARGS]
//	zk serve [-addr HOST:PORT[,HOST:PORT...]] [-tick D] [-v] [-sasl USER:PASSWORD]...
//	zk shell
//
// The global flags:
//
//	-server CONNSTRING  the ensemble: "host:port,host:port/chroot"
//	                    (default $ZK_SERVER, else 127.0.0.1:2181)
//	-timeout D          bounds connecting and each command (default 10s;
//	                    0 for none); watch is bounded only until its watch
//	                    is set
//	-json               print JSON (also accepted after the command)
//	-auth SCHEME:CRED   credentials sent on connecting, such as
//	                    digest:USER:PASSWORD (default $ZK_AUTH, which keeps
//	                    them out of the process list)
//	-sasl USER:PASSWORD SASL DIGEST-MD5 authentication (default $ZK_SASL)
//
// The commands:
//
//	ls PATH                              the children of a node, sorted
//	get PATH                             a node's data
//	set [-version N] PATH DATA           replace a node's data
//	create [-e] [-s] [-c] [-ttl D] PATH [DATA]
//	                                     create a node; print its path
//	delete [-r] [-version N] PATH        delete a node (-r: and its subtree)
//	stat PATH                            a node's metadata
//	tree PATH                            a subtree, indented
//	watch [-r] PATH                      print a node's events (-r: its
//	                                     subtree's) until interrupted
//	getacl PATH                          a node's ACL
//	sync PATH                            wait for the server to catch up
//	whoami                               the identities of the connection
//	shell                                an interactive shell
//	serve                                run an in-memory ZooKeeper server
//	version                              the version of this program
//	help [COMMAND]                       usage
//
// Command flags may come before or after the arguments ("set /a x
// -version 3"); "--" ends them, so that data may start with '-'. Paths are
// absolute, except in the shell.
//
// # Output
//
// Plain text, for people and for scripts: one item per line (ls, tree,
// whoami, getacl, watch), the data followed by a newline (get), the created
// path (create), "name value" lines (stat; zxids and session ids in hex,
// times in RFC 3339). set, delete and sync print nothing. With -json each
// command prints one JSON value on one line; watch prints one object per
// event. get prints the data as "data" when it is valid UTF-8, else as
// "dataBase64".
//
// Errors go to standard error, and start with "zk: ". The exit status is 0
// on success, 1 when an operation failed ("zk: get /x: node does not
// exist"), and 2 for bad usage (with the command's usage).
//
// # Watch
//
// watch sets a persistent watch (recursive with -r; ZooKeeper 3.6+) and
// prints every event, session events included ("Session Disconnected
// CONNECTING"), until SIGINT or SIGTERM, when it exits with status 0. It
// says on standard error when the watch is set.
//
// # Shell
//
// zk shell connects once and reads commands from standard input, one per
// line, with the prompt "zk:/path> " when standard input is a terminal (no
// prompt otherwise, so that scripts can pipe commands in). Words are split
// as a shell would, with '...', "..." and backslash escapes; lines starting
// with '#' are comments. Besides the commands above (but serve and shell),
// it knows cd PATH (paths relative to the current node work in every
// command, with "." and ".."; a command's PATH defaults to it), pwd,
// history, !N (run history entry N again), !!, help and exit [STATUS]. An
// interrupt stops the running command (a watch, say) and returns to the
// prompt. Ephemeral nodes live as long as the session: outside the shell,
// that is until the create command exits. The exit status is the last
// command's.
//
// # Serve
//
// zk serve runs the in-memory server of package
// github.com/zkgo/zk/zktest on the given addresses (default
// 127.0.0.1:2181; port 0 picks a free port), all serving one tree, prints
// its connection string, and runs until SIGINT or SIGTERM. Its tick
// (default 2s, a real server's) sets the session timeouts it grants:
// between 2 and 20 ticks. -v logs sessions to standard error. Each -sasl
// USER:PASSWORD adds a user the server accepts over SASL DIGEST-MD5.
// Nothing is persisted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/zkgo/zk"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // an operation failed
	exitUsage = 2 // bad usage
)

// defaultServer is the connection string used without -server.
func defaultServer() string {
	if s := os.Getenv("ZK_SERVER"); s != "" {
		return s
	}
	return "127.0.0.1:2181"
}

// run is the whole program but for os.Exit: it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("zk", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	server := fs.String("server", defaultServer(), "")
	timeout := fs.Duration("timeout", 10*time.Second, "")
	jsonOut := fs.Bool("json", false, "")
	auth := fs.String("auth", os.Getenv("ZK_AUTH"), "")
	sasl := fs.String("sasl", os.Getenv("ZK_SASL"), "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "zk: %v\n", err)
		printUsage(stderr)
		return exitUsage
	}
	if *timeout < 0 {
		fmt.Fprintf(stderr, "zk: -timeout %v is negative\n", *timeout)
		printUsage(stderr)
		return exitUsage
	}
	opts, err := authOptions(*auth, *sasl)
	if err != nil {
		fmt.Fprintln(stderr, err)
		printUsage(stderr)
		return exitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "zk: no command")
		printUsage(stderr)
		return exitUsage
	}
	name, rest := fs.Arg(0), fs.Args()[1:]

	s := &session{out: stdout, errOut: stderr, json: *jsonOut, timeout: *timeout}
	s.connect = func(ctx context.Context) (*zk.Conn, error) {
		if *timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, *timeout)
			defer cancel()
		}
		return zk.Connect(ctx, *server, opts...)
	}
	defer func() {
		if s.conn != nil {
			s.conn.Close() // ends the session: its ephemeral nodes go now
		}
	}()

	switch name {
	case "help":
		return report(stderr, help(stdout, rest, false), false)
	case "shell":
		if len(rest) > 0 {
			return report(stderr, usageFor("shell", nil, false, usagef("shell: unexpected argument %q", rest[0])), false)
		}
		// SIGTERM ends the shell; SIGINT only the running command.
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		intr := make(chan os.Signal, 1)
		signal.Notify(intr, os.Interrupt)
		defer signal.Stop(intr)
		return runShell(ctx, s, stdin, isTerminal(stdin), intr)
	}
	if lookup(name) == nil {
		fmt.Fprintf(stderr, "zk: unknown command %q\n", name)
		printUsage(stderr)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return report(stderr, s.exec(ctx, name, rest), false)
}

// authOptions turns -auth SCHEME:CREDENTIAL and -sasl USER:PASSWORD into
// options. Its errors never repeat the secret.
func authOptions(auth, sasl string) ([]zk.Option, error) {
	var opts []zk.Option
	if auth != "" {
		scheme, cred, ok := strings.Cut(auth, ":")
		if !ok || scheme == "" {
			return nil, errors.New("zk: -auth (or $ZK_AUTH) must be SCHEME:CREDENTIAL, such as digest:USER:PASSWORD")
		}
		opts = append(opts, zk.WithCredentials(zk.Credential{Scheme: scheme, Auth: []byte(cred)}))
	}
	if sasl != "" {
		user, password, ok := strings.Cut(sasl, ":")
		if !ok || user == "" {
			return nil, errors.New("zk: -sasl (or $ZK_SASL) must be USER:PASSWORD")
		}
		opts = append(opts, zk.WithSASLDigest(user, password))
	}
	return opts, nil
}

// isTerminal reports whether r is a character device, such as a terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// usageError is bad usage: exit status 2, and the usage is printed.
type usageError struct {
	msg   string
	usage string // the command's usage, when known
}

func (e *usageError) Error() string { return "zk: " + e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// usageFor fills in the usage of command name (and its flags) in a usage
// error, and returns other errors as they are.
func usageFor(name string, fs *flag.FlagSet, inShell bool, err error) error {
	var ue *usageError
	if !errors.As(err, &ue) || ue.usage != "" {
		return err
	}
	var b strings.Builder
	writeCommandUsage(&b, name, fs, inShell)
	return &usageError{msg: ue.msg, usage: b.String()}
}

// writeCommandUsage writes the usage line of a command and its flags.
func writeCommandUsage(w io.Writer, name string, fs *flag.FlagSet, inShell bool) {
	prog := "zk "
	if inShell {
		prog = ""
	}
	cmd := lookup(name)
	if cmd == nil {
		return
	}
	fmt.Fprintf(w, "usage: %s%s\n", prog, strings.TrimSpace(cmd.name+" "+cmd.args))
	fmt.Fprintf(w, "%s.\n", upperFirst(cmd.summary))
	if fs != nil {
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// exitStatus is the exit status for the outcome err.
func exitStatus(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	}
	return exitError
}

// report prints err, with the usage for a usage error, and returns the exit
// status.
func report(w io.Writer, err error, inShell bool) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(w, err)
	var ue *usageError
	if errors.As(err, &ue) {
		switch {
		case ue.usage != "":
			io.WriteString(w, ue.usage)
		case !inShell:
			printUsage(w)
		}
	}
	return exitStatus(err)
}

// help prints the usage of the program, or of the commands named.
func help(w io.Writer, args []string, inShell bool) error {
	if len(args) == 0 {
		if inShell {
			printShellHelp(w)
		} else {
			printUsage(w)
		}
		return nil
	}
	for _, name := range args {
		if lookup(name) == nil {
			return usagef("help: unknown command %q", name)
		}
	}
	for _, name := range args {
		var jsonOut bool
		fs, _ := lookup(name).flagSet(&jsonOut)
		writeCommandUsage(w, name, fs, inShell)
	}
	return nil
}

// printUsage writes the program's usage.
func printUsage(w io.Writer) {
	fmt.Fprintf(w, `usage: zk [-server CONNSTRING] [-timeout D] [-json] [-auth SCHEME:CRED] [-sasl USER:PASSWORD] COMMAND [ARGS]

Flags:
  -server CONNSTRING  the ensemble, "host:port,host:port/chroot"
                      (default $ZK_SERVER, else 127.0.0.1:2181; now %q)
  -timeout D          bound on connecting and on each command; 0 for none
                      (default 10s)
  -json               print JSON, one value per line
  -auth SCHEME:CRED   credentials sent on connecting, e.g. digest:USER:PASSWORD
                      (default $ZK_AUTH, which keeps them out of ps)
  -sasl USER:PASSWORD authenticate with SASL DIGEST-MD5 (default $ZK_SASL)

Commands:
`, defaultServer())
	writeCommandList(w, commands)
	fmt.Fprint(w, `
Command flags may follow the arguments; "--" ends them. Paths are absolute
outside the shell. Exit status: 1 if an operation failed, 2 for bad usage.
"zk help COMMAND" describes a command's flags.
`)
}

// writeCommandList writes one line per command: its usage and summary.
func writeCommandList(w io.Writer, cmds []command) {
	for _, c := range cmds {
		use := strings.TrimSpace(c.name + " " + c.args)
		if len(use) > 36 {
			fmt.Fprintf(w, "  %s\n  %-36s  %s\n", use, "", c.summary)
			continue
		}
		fmt.Fprintf(w, "  %-36s  %s\n", use, c.summary)
	}
}
