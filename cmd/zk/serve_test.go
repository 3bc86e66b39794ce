package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/zktest"
)

func TestServe(t *testing.T) {
	out, errOut := newLines(), newLines()
	s := &session{out: out, errOut: errOut}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- s.exec(ctx, "serve", []string{"-addr", "127.0.0.1:0, 127.0.0.1:0", "-tick", "100ms", "-v", "-sasl", "bob:bob-pw"})
	}()
	cs := out.next(t)
	require.Regexp(t, `^127\.0\.0\.1:\d+,127\.0\.0\.1:\d+$`, cs)

	// Both addresses serve one tree.
	addrs := strings.Split(cs, ",")
	c0, c1 := dial(t, addrs[0]), dial(t, addrs[1])
	_, err := c0.Create(t.Context(), "/x", nil, zk.CreatePersistent, zk.OpenACL)
	require.NoError(t, err)
	ok, _, err := c1.Exists(t.Context(), "/x")
	require.NoError(t, err)
	require.True(t, ok)
	require.Contains(t, errOut.next(t), "zk: testserver:", "-v logs sessions")
	require.Equal(t, 20*100*time.Millisecond, c0.SessionTimeout(), "-tick sets the range: at most 20 ticks")

	// -sasl: a SASL user.
	ctx2, cancel2 := context.WithTimeout(t.Context(), time.Minute)
	defer cancel2()
	bob, err := zk.Connect(ctx2, cs, zk.WithSASLDigest("bob", "bob-pw"))
	require.NoError(t, err)
	ids, err := bob.WhoAmI(ctx2)
	require.NoError(t, err)
	require.Contains(t, ids, zk.ClientInfo{AuthScheme: "sasl", User: "bob"})
	bob.Close()

	c0.Close()
	c1.Close()
	cancel()
	require.NoError(t, waitDone(t, done))
}

func TestServeErrors(t *testing.T) {
	busy := zktest.New(t)
	s, out, _ := (&fixture{srv: busy}).session(t)
	for args, want := range map[string]string{
		"-tick 0":                    "zk: serve: -tick 0s is not positive",
		"-addr ,":                    "zk: serve: -addr is empty",
		"extra":                      `zk: serve: unexpected argument "extra"`,
		"-sasl :secret":              "zk: serve: -sasl must be USER:PASSWORD",
		"-addr " + busy.Addr(0):      "address already in use",
		"-addr 127.0.0.1:99999":      "invalid port",
		"-tick soon -addr 127.0.0.1": `zk: serve: invalid value "soon" for flag -tick: parse error`,
	} {
		err := s.exec(t.Context(), "serve", strings.Fields(args))
		require.ErrorContains(t, err, want, args)
		require.True(t, strings.HasPrefix(err.Error(), "zk: "), err.Error())
		require.NotContains(t, err.Error(), "secret", "a password is not echoed")
	}
	require.Empty(t, out.String())
}

// proc is a running zk subprocess whose output is read line by line.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *lines
	readers        sync.WaitGroup
	stopped        bool
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), stdout: newLines(), stderr: newLines()}
	outPipe, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	errPipe, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	for _, c := range []struct {
		r interface{ Read([]byte) (int, error) }
		w *lines
	}{{outPipe, p.stdout}, {errPipe, p.stderr}} {
		p.readers.Go(func() {
			sc := bufio.NewScanner(c.r)
			for sc.Scan() {
				c.w.Write([]byte(sc.Text() + "\n"))
			}
		})
	}
	t.Cleanup(func() {
		if !p.stopped {
			p.cmd.Process.Kill()
			p.readers.Wait()
			p.cmd.Wait()
		}
	})
	return p
}

// interrupt sends SIGINT and returns the exit status, killing the process
// if it has not exited within waitLimit.
func (p *proc) interrupt(t *testing.T) int {
	t.Helper()
	p.stopped = true
	require.NoError(t, p.cmd.Process.Signal(os.Interrupt))
	exited := make(chan struct{})
	go func() { p.readers.Wait(); close(exited) }() // the pipes close when the process exits
	select {
	case <-exited:
	case <-time.After(waitLimit):
		p.cmd.Process.Kill()
		<-exited
		p.cmd.Wait()
		t.Fatal("no exit after SIGINT")
	}
	p.cmd.Wait()
	return p.cmd.ProcessState.ExitCode()
}

func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if runtime.GOOS == "windows" {
		t.Skip("sends SIGINT")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	bin := filepath.Join(t.TempDir(), "zk")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	serve := startProc(t, bin, "serve", "-addr", "127.0.0.1:0")
	cs := serve.stdout.next(t)
	require.Regexp(t, `^127\.0\.0\.1:\d+$`, cs)

	// zk runs one command to its end, at most waitLimit.
	zkRun := func(stdin string, args ...string) (status int, stdout, stderr string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"-server", cs}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), o.String(), e.String()
	}
	expect := func(wantStatus int, wantOut, wantErr string, args ...string) {
		t.Helper()
		status, o, e := zkRun("", args...)
		require.Equal(t, wantStatus, status, "%v: %s", args, e)
		require.Equal(t, wantOut, o, args)
		require.True(t, strings.HasPrefix(e, wantErr), "%v: stderr %q", args, e)
	}

	expect(0, "/demo\n", "", "create", "/demo", "hello")
	expect(0, "demo\nzookeeper\n", "", "ls", "/")
	expect(0, "hello\n", "", "get", "/demo")
	expect(1, "", "zk: delete /nope: node does not exist\n", "delete", "/nope")
	expect(2, "", `zk: get: relative path "demo"`, "get", "demo")
	_, o, _ := zkRun("", "-json", "get", "/demo")
	var v getJSON
	require.NoError(t, json.Unmarshal([]byte(o), &v), o)
	require.Equal(t, "hello", *v.Data)

	// The shell reads a script from a pipe: no prompt. Its ephemeral node
	// goes when it exits and closes its session.
	status, o, e := zkRun("cd /demo\npwd\ncreate -e eph\nls\n", "shell")
	require.Equal(t, 0, status, e)
	require.Equal(t, "/demo\n/demo/eph\neph\n", o)
	require.Empty(t, e)
	expect(0, "", "", "ls", "/demo")

	// watch prints events until SIGINT, then exits 0.
	watch := startProc(t, bin, "-server", cs, "watch", "-r", "/demo")
	require.Equal(t, "watching /demo and its subtree; interrupt to stop", watch.stderr.next(t))
	expect(0, "/demo/x\n", "", "create", "/demo/x")
	require.Equal(t, "NodeCreated /demo/x", watch.stdout.next(t))
	require.Equal(t, 0, watch.interrupt(t))

	require.Equal(t, 0, serve.interrupt(t), "serve closes cleanly on SIGINT")
}
