package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/zktest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLimit bounds every wait for an event; it is only reached when a test
// fails.
const waitLimit = 20 * time.Second

// fixture is a server and a connection to it for setting up and checking.
type fixture struct {
	srv  *zktest.Server
	conn *zk.Conn
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	// The zk command asks for 10 s sessions; the server's default range
	// stops at 2 s, whose read timeout a loaded machine can miss.
	srv := zktest.New(t, zktest.WithSessionTimeoutRange(200*time.Millisecond, time.Minute))
	return &fixture{srv: srv, conn: dial(t, srv.ConnString())}
}

// dial connects to connString; the connection closes when the test ends.
func dial(t *testing.T, connString string) *zk.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	conn, err := zk.Connect(ctx, connString)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// session returns a session of its own on the server, printing to buffers.
func (f *fixture) session(t *testing.T) (s *session, out, errOut *bytes.Buffer) {
	t.Helper()
	out, errOut = new(bytes.Buffer), new(bytes.Buffer)
	s = &session{out: out, errOut: errOut, timeout: waitLimit, conn: dial(t, f.srv.ConnString())}
	return s, out, errOut
}

// mkdirs creates nodes, each with its path as data.
func (f *fixture) mkdirs(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		_, err := f.conn.Create(t.Context(), p, []byte(p), zk.CreatePersistent, zk.OpenACL)
		require.NoError(t, err)
	}
}

// do runs one command line (split as the shell splits) and returns what it
// printed.
func do(t *testing.T, s *session, line string) (string, error) {
	t.Helper()
	words, err := splitWords(line)
	require.NoError(t, err)
	buf := s.out.(*bytes.Buffer)
	buf.Reset()
	err = s.exec(t.Context(), words[0], words[1:])
	return buf.String(), err
}

// mustDo is do for a command that must succeed.
func mustDo(t *testing.T, s *session, line string) string {
	t.Helper()
	out, err := do(t, s, line)
	require.NoError(t, err, line)
	return out
}

// decode parses one line of JSON output into v.
func decode(t *testing.T, out string, v any) {
	t.Helper()
	require.True(t, strings.HasSuffix(out, "\n") && strings.Count(out, "\n") == 1, "want one line of JSON, got %q", out)
	require.NoError(t, json.Unmarshal([]byte(out), v), out)
}

// runMain runs the program in-process and returns its exit status and
// output.
func runMain(t *testing.T, stdin string, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	status = run(args, strings.NewReader(stdin), &out, &errOut)
	return status, out.String(), errOut.String()
}

// lines is an io.Writer for output written by another goroutine: each
// complete line goes to a channel, which next reads with a bounded wait.
type lines struct {
	mu      sync.Mutex
	partial []byte
	ch      chan string
}

func newLines() *lines { return &lines{ch: make(chan string, 1024)} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.ch <- string(l.partial[:i])
		l.partial = l.partial[i+1:]
	}
}

// next returns the next line, failing the test after waitLimit.
func (l *lines) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-l.ch:
		return s
	case <-time.After(waitLimit):
		t.Fatal("no line written")
		return ""
	}
}

func TestRunExitStatus(t *testing.T) {
	f := newFixture(t)
	f.mkdirs(t, "/a", "/a/b")
	cs := f.srv.ConnString()

	tests := []struct {
		name       string
		args       []string
		wantStatus int
		wantOut    string // exact, when wantErr is ""
		wantErr    string // a prefix of the standard error
	}{
		{"ok", []string{"-server", cs, "ls", "/a"}, 0, "b\n", ""},
		{"no node", []string{"-server", cs, "get", "/x"}, 1, "", "zk: get /x: node does not exist\n"},
		{"not empty", []string{"-server", cs, "delete", "/a"}, 1, "", "zk: delete /a: node has children\n"},
		{"bad version", []string{"-server", cs, "set", "/a", "v", "-version", "7"}, 1, "", "zk: set /a: version conflict\n"},
		{"exists", []string{"-server", cs, "create", "/a"}, 1, "", "zk: create /a: node already exists\n"},
		{"recursive names the command", []string{"-server", cs, "delete", "-r", "/nope"}, 1, "", "zk: delete /nope: node does not exist\n"},
		{"invalid path", []string{"-server", cs, "get", "/a/"}, 1, "", "zk: get /a/: invalid path"},
		{"relative path", []string{"-server", cs, "get", "a"}, 2, "", `zk: get: relative path "a": paths start with '/' (relative paths work in the shell only)` + "\nusage: zk get PATH\n"},
		{"missing path", []string{"-server", cs, "ls"}, 2, "", "zk: ls: missing PATH\nusage: zk ls PATH\n"},
		{"extra argument", []string{"-server", cs, "stat", "/a", "/b"}, 2, "", `zk: stat: unexpected argument "/b"` + "\nusage: zk stat PATH\n"},
		{"unknown flag", []string{"-server", cs, "ls", "-x", "/"}, 2, "", "zk: ls: flag provided but not defined: -x\nusage: zk ls PATH\n"},
		{"bad flag value", []string{"-server", cs, "set", "/a", "v", "-version", "x"}, 2, "", `zk: set: invalid value "x" for flag -version`},
		// A version out of int32's range is refused, not truncated: 2^32-1
		// would become -1 (any version) and overwrite whatever is there.
		{"version 2^32-1", []string{"-server", cs, "set", "/a", "v", "-version", "4294967295"}, 2, "", `zk: set: invalid value "4294967295" for flag -version: `},
		{"version 2^31", []string{"-server", cs, "set", "/a", "v", "-version", "2147483648"}, 2, "", `zk: set: invalid value "2147483648" for flag -version: `},
		{"delete version 2^32", []string{"-server", cs, "delete", "-version", "4294967296", "/a/b"}, 2, "", `zk: delete: invalid value "4294967296" for flag -version: `},
		{"delete -r version 2^32-1", []string{"-server", cs, "delete", "-r", "-version", "4294967295", "/a"}, 2, "", `zk: delete: invalid value "4294967295" for flag -version: `},
		{"flag conflict", []string{"-server", cs, "create", "-c", "-e", "/c"}, 2, "", "zk: create: -c does not go with -e, -s or -ttl\nusage: zk create"},
		{"delete root", []string{"-server", cs, "delete", "-r", "/"}, 2, "", "zk: delete: refusing to delete / recursively\n"},
		{"unknown command", []string{"frob"}, 2, "", "zk: unknown command \"frob\"\nusage: zk [-server CONNSTRING]"},
		{"no command", nil, 2, "", "zk: no command\nusage: zk "},
		{"unknown global flag", []string{"-frob", "ls", "/"}, 2, "", "zk: flag provided but not defined: -frob\nusage: zk "},
		{"negative timeout", []string{"-timeout", "-1s", "ls", "/"}, 2, "", "zk: -timeout -1s is negative\n"},
		{"shell argument", []string{"shell", "x"}, 2, "", `zk: shell: unexpected argument "x"` + "\nusage: zk shell\n"},
		{"bad conn string", []string{"-server", "[::1", "ls", "/"}, 1, "", "zk: bad connection string"},
		{"help", []string{"-h"}, 0, "", ""},
		{"help command", []string{"help", "delete"}, 0, "", ""},
		{"help unknown", []string{"help", "frob"}, 2, "", `zk: help: unknown command "frob"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out, errOut := runMain(t, "", tt.args...)
			require.Equal(t, tt.wantStatus, status, "stderr: %s", errOut)
			if tt.wantErr == "" && tt.wantOut != "" {
				require.Equal(t, tt.wantOut, out)
			}
			require.True(t, strings.HasPrefix(errOut, tt.wantErr), "stderr %q does not start with %q", errOut, tt.wantErr)
			if tt.wantStatus == 0 {
				require.Empty(t, errOut)
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	status, out, _ := runMain(t, "", "help")
	require.Equal(t, 0, status)
	for _, c := range commands {
		require.Contains(t, out, "  "+c.name)
	}
	status, out, _ = runMain(t, "", "help", "delete")
	require.Equal(t, 0, status)
	require.True(t, strings.HasPrefix(out, "usage: zk delete [-r] [-version N] PATH\n"), out)
	require.Contains(t, out, "-version N")
	status, out, _ = runMain(t, "", "get", "-h")
	require.Equal(t, 0, status)
	require.True(t, strings.HasPrefix(out, "usage: zk get PATH\n"), out)
}

func TestRunConnectFails(t *testing.T) {
	// A listener that is closed at once leaves a port nothing listens on.
	srv, err := zktest.NewServer(zktest.WithSessionTimeoutRange(200*time.Millisecond, time.Minute))
	require.NoError(t, err)
	addr := srv.Addr(0)
	srv.Close()
	status, _, errOut := runMain(t, "", "-server", addr, "-timeout", "300ms", "ls", "/")
	require.Equal(t, 1, status)
	require.True(t, strings.HasPrefix(errOut, "zk: connect: context deadline exceeded"), errOut)
}

func TestRunServerFromEnvAndChroot(t *testing.T) {
	f := newFixture(t)
	f.mkdirs(t, "/app", "/app/x", "/app/y")
	t.Setenv("ZK_SERVER", f.srv.ConnString()+"/app")
	status, out, errOut := runMain(t, "", "ls", "/")
	require.Equal(t, 0, status, errOut)
	require.Equal(t, "x\ny\n", out)

	status, out, errOut = runMain(t, "", "-json", "get", "/x")
	require.Equal(t, 0, status, errOut)
	var v getJSON
	decode(t, out, &v)
	require.Equal(t, "/x", v.Path)
	require.Equal(t, "/app/x", *v.Data)
}

func TestRunVersion(t *testing.T) {
	// No server: version does not connect.
	status, out, errOut := runMain(t, "", "-server", "127.0.0.1:1", "version")
	require.Equal(t, 0, status, errOut)
	require.Regexp(t, `^zk version \S+ go\S+ \S+/\S+\n$`, out)
	status, out, _ = runMain(t, "", "version", "-json")
	require.Equal(t, 0, status)
	var v struct{ Version, Go, Platform string }
	decode(t, out, &v)
	require.NotEmpty(t, v.Version)
	require.NotEmpty(t, v.Go)
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args    []string
		pos     []string
		version int
		r       bool
	}{
		{[]string{"/a", "data"}, []string{"/a", "data"}, -1, false},
		{[]string{"-version", "3", "/a", "data"}, []string{"/a", "data"}, 3, false},
		{[]string{"/a", "data", "-version", "3"}, []string{"/a", "data"}, 3, false},
		{[]string{"/a", "-r", "data", "-version=2"}, []string{"/a", "data"}, 2, true},
		{[]string{"/a", "--", "-5"}, []string{"/a", "-5"}, -1, false},
		{[]string{"-r", "--", "-x", "-r"}, []string{"-x", "-r"}, -1, true},
		{nil, nil, -1, false},
	}
	for _, tt := range tests {
		fs, _ := (&command{name: "t"}).flagSet(new(bool))
		version := fs.Int("version", -1, "")
		r := fs.Bool("r", false, "")
		pos, err := parseArgs(fs, tt.args)
		require.NoError(t, err, tt.args)
		require.Equal(t, tt.pos, pos, tt.args)
		require.Equal(t, tt.version, *version, tt.args)
		require.Equal(t, tt.r, *r, tt.args)
	}
}

// TestRunAuthAndSASL: -auth and -sasl (and their environment variables)
// authenticate the connection; malformed values are usage errors that do
// not echo the secret; a wrong password fails the command.
func TestRunAuthAndSASL(t *testing.T) {
	srv := zktest.New(t, zktest.WithSessionTimeoutRange(200*time.Millisecond, time.Minute),
		zktest.WithSASLUsers(map[string]string{"bob": "bob-pw"}))
	cs := srv.ConnString()
	status, out, errOut := runMain(t, "", "-server", cs, "-sasl", "bob:bob-pw", "-auth", "digest:alice:alice-pw", "whoami")
	require.Equal(t, 0, status, errOut)
	require.Contains(t, out, "sasl bob")
	require.Contains(t, out, "digest alice")

	t.Setenv("ZK_SASL", "bob:bob-pw")
	status, out, errOut = runMain(t, "", "-server", cs, "whoami")
	require.Equal(t, 0, status, errOut)
	require.Contains(t, out, "sasl bob")

	status, _, errOut = runMain(t, "", "-server", cs, "-sasl", "bob:wrong", "ls", "/")
	require.Equal(t, 1, status)
	require.True(t, strings.HasPrefix(errOut, "zk: connect: authentication failed"), errOut)

	for _, args := range [][]string{{"-sasl", "bob-and-no-password"}, {"-sasl", ":secret-1"}, {"-auth", "secret-2"}, {"-auth", ":secret-3"}} {
		status, _, errOut := runMain(t, "", append([]string{"-server", cs}, append(args, "whoami")...)...)
		require.Equal(t, 2, status, "%v: %s", args, errOut)
		require.NotContains(t, errOut, "secret", "%v", args)
		require.NotContains(t, errOut, "bob-and-no-password", "%v", args)
	}
}
