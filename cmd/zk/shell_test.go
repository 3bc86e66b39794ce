package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
)

// runScript runs a shell that reads script, not interactive, and returns
// its exit status and output.
func runScript(t *testing.T, f *fixture, script string) (status int, out, errOut string) {
	t.Helper()
	s, o, e := f.session(t)
	status = runShell(t.Context(), s, strings.NewReader(script), false, nil)
	return status, o.String(), e.String()
}

func TestShellScript(t *testing.T) {
	f := newFixture(t)
	script := `
# comments and blank lines are skipped
create /app
cd /app
pwd
create config 'v 1'
create -s job- "a \"quoted\" word"
ls
get config
cd config
pwd
get .
cd ..
set config v2 -version 0
get /app/config
cd /nope
ls ../app
stat -json config
history
!7
!!
!-11
!99
exit 3
ls /never
`
	status, out, errOut := runScript(t, f, script)
	require.Equal(t, 3, status, errOut)

	data, _, _ := f.srv.Get("/app/job-0000000001")
	require.Equal(t, `a "quoted" word`, string(data))

	// stat -json prints a line of its own; check it, then drop it.
	outLines := strings.Split(out, "\n")
	var statLine string
	for i, l := range outLines {
		if strings.HasPrefix(l, "{") {
			statLine = l
			outLines = append(outLines[:i:i], outLines[i+1:]...)
			break
		}
	}
	var v nodeJSON
	decode(t, statLine+"\n", &v)
	require.Equal(t, "/app/config", v.Path)
	require.Equal(t, int32(1), v.Stat.Version)

	want := `/app
/app
/app/config
/app/job-0000000001
config
job-0000000001
v 1
/app/config
v 1
v2
config
job-0000000001
    1  create /app
    2  cd /app
    3  pwd
    4  create config 'v 1'
    5  create -s job- "a \"quoted\" word"
    6  ls
    7  get config
    8  cd config
    9  pwd
   10  get .
   11  cd ..
   12  set config v2 -version 0
   13  get /app/config
   14  cd /nope
   15  ls ../app
   16  stat -json config
   17  history
v2
v2
/app
`
	require.Equal(t, want, strings.Join(outLines, "\n"))
	// !N says on stderr what it runs; errors do not stop the script.
	require.Equal(t, `zk: cd /nope: node does not exist
get config
get config
pwd
zk: !99: no such command in the history (history lists them)
`, errOut)
}

func TestShellStatusAndErrors(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		script  string
		status  int
		stdout  string
		stderr  string
		noWrite bool
	}{
		{"ls /\n", 0, "zookeeper\n", "", false},
		{"ls /\nget /nope\n", 1, "zookeeper\n", "zk: get /nope: node does not exist\n", false},
		{"get /nope\nls /\n", 0, "zookeeper\n", "zk: get /nope: node does not exist\n", false},
		{"get\n", 0, "\n", "", false}, // PATH defaults to the current node: / has no data
		{"frob\n", 2, "", "zk: unknown command \"frob\"\n", false},
		{"ls -x\n", 2, "", "zk: ls: flag provided but not defined: -x\nusage: ls PATH\nList the children of a node, sorted.\n  -json\n    \tprint JSON\n", false},
		{"delete\n", 2, "", "zk: delete: missing PATH\n", true},
		{"serve\n", 2, "", "zk: serve: not available in the shell\n", false},
		{"shell\n", 2, "", "zk: shell: not available in the shell\n", false},
		{"set /a 'open\n", 2, "", "zk: unterminated ' in \"set /a 'open\"\n", false},
		{"exit 300\n", 2, "", "zk: exit: STATUS \"300\" is not a number from 0 to 255\n", false},
		{"exit 1 2\n", 2, "", "zk: exit: want at most a STATUS\n", false},
		{"get /nope\nexit\n", 1, "", "zk: get /nope: node does not exist\n", false},
		{"!1\n", 2, "", "zk: !1: no such command in the history (history lists them)\n", false},
		{"!x\n", 2, "", "zk: !x: want !N, !-N or !!\n", false},
		{"cd a b\n", 2, "", "zk: cd: unexpected argument \"b\" (usage: cd [PATH])\n", false},
		{"quit 4\n", 4, "", "", false},
	}
	for _, tt := range tests {
		status, out, errOut := runScript(t, f, tt.script)
		require.Equal(t, tt.status, status, tt.script)
		require.Equal(t, tt.stdout, out, tt.script)
		if tt.noWrite {
			require.True(t, strings.HasPrefix(errOut, tt.stderr), "%q: %s", tt.script, errOut)
		} else {
			require.Equal(t, tt.stderr, errOut, tt.script)
		}
	}
}

// TestShellLongLine: a line over the 2 MiB limit ends the shell with an
// error that says so (the lines before it ran), not with the scanner's
// "token too long".
func TestShellLongLine(t *testing.T) {
	f := newFixture(t)
	status, out, errOut := runScript(t, f, "ls /\nset /x "+strings.Repeat("a", 3<<20)+"\nls /\n")
	require.Equal(t, exitError, status)
	require.Equal(t, "zookeeper\n", out)
	require.Equal(t, "zk: shell: reading input: line 2 is longer than 2 MiB\n", errOut)
}

func TestShellInteractive(t *testing.T) {
	f := newFixture(t)
	f.mkdirs(t, "/a", "/a/b")
	s, out, errOut := f.session(t)
	status := runShell(t.Context(), s, strings.NewReader("cd a\nls\ncd b\nhelp\n"), true, nil)
	require.Equal(t, 0, status)
	require.True(t, strings.HasPrefix(errOut.String(), "connected to 127.0.0.1:"), errOut.String())
	require.True(t, strings.HasSuffix(errOut.String(), "zk:/> zk:/a> zk:/a> zk:/a/b> zk:/a/b> \n"), errOut.String())
	require.True(t, strings.HasPrefix(out.String(), "b\nCommands:\n"), out.String())
	for _, want := range []string{"  cd [PATH]", "  history", "  !N, !-N, !!", "  exit [STATUS]", "  watch [-r] PATH"} {
		require.Contains(t, out.String(), want)
	}
	require.NotContains(t, out.String(), "  serve")
}

func TestShellInterrupt(t *testing.T) {
	f := newFixture(t)
	f.mkdirs(t, "/w")
	s, _, _ := f.session(t)
	out, errOut := newLines(), newLines()
	s.out, s.errOut = out, errOut
	intr := make(chan os.Signal)
	done := make(chan int, 1)
	// An interrupt stops the watch, not the shell, which goes on to ls;
	// the watch's server watch is removed.
	go func() {
		done <- runShell(t.Context(), s, strings.NewReader("watch w\nls\n"), false, intr)
	}()
	require.Equal(t, "watching /w; interrupt to stop", errOut.next(t))
	f.mkdirs(t, "/w/x")
	require.Equal(t, "NodeChildrenChanged /w", out.next(t))
	intr <- os.Interrupt
	require.Equal(t, "w", out.next(t))
	require.Equal(t, "zookeeper", out.next(t))
	select {
	case status := <-done:
		require.Equal(t, 0, status)
	case <-t.Context().Done():
	}
	err := s.conn.CheckWatches(t.Context(), "/w", zk.WatcherAny)
	require.ErrorIs(t, err, zk.ErrNoWatcher, "the watch was removed")
}

func TestShellInterruptAtPrompt(t *testing.T) {
	f := newFixture(t)
	s, _, _ := f.session(t)
	intr := make(chan os.Signal, 1)
	intr <- os.Interrupt
	// The input never ends: only the interrupt can end a script shell.
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	require.Equal(t, exitInterrupted, runShell(t.Context(), s, r, false, intr))
	w.Close() // ends the reader goroutine

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.Equal(t, exitTerminated, runShell(ctx, s, strings.NewReader("ls /\n"), false, nil))
}

func TestSplitWords(t *testing.T) {
	tests := map[string][]string{
		"":                       nil,
		"  ls   /a  ":            {"ls", "/a"},
		`set /a 'x y'`:           {"set", "/a", "x y"},
		`set /a "x \"y\" \\ \z"`: {"set", "/a", `x "y" \ \z`},
		`set /a x\ y`:            {"set", "/a", "x y"},
		`set /a ''`:              {"set", "/a", ""},
		`set /a a'b c'"d"`:       {"set", "/a", "ab cd"},
		"set\t/a\tx":             {"set", "/a", "x"},
		`trailing\`:              {`trailing\`},
		`héllo 'wörld'`:          {"héllo", "wörld"},
	}
	for line, want := range tests {
		got, err := splitWords(line)
		require.NoError(t, err, line)
		require.Equal(t, want, got, line)
	}
	for _, bad := range []string{`'open`, `"open`, `x "a\"`} {
		_, err := splitWords(bad)
		require.Error(t, err, bad)
	}
}

func TestAbs(t *testing.T) {
	s := &session{cwd: "/a/b"}
	for in, want := range map[string]string{
		"c":        "/a/b/c",
		".":        "/a/b",
		"..":       "/a",
		"../../..": "/",
		"/x/./y":   "/x/y",
		"job-/":    "/a/b/job-/",
		"/":        "/",
	} {
		got, err := s.abs(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := (&session{}).abs("rel")
	require.Error(t, err)
	got, err := (&session{}).abs("/as/../given")
	require.NoError(t, err)
	require.Equal(t, "/as/../given", got, "outside the shell the client validates paths")
}
