package interop_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/zkgo/zk/internal/realzk"
)

// python is Debian's interpreter, the one python3-kazoo installs into (the
// python3 first on PATH may be another).
const python = "/usr/bin/python3"

// kazoo is a kazoo process driven one JSON command at a time
// (testdata/kazoo_driver.py).
type kazoo struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

// kazooError is a kazoo exception, by class name.
type kazooError struct{ Class, Message string }

func (e *kazooError) Error() string { return "kazoo: " + e.Class + ": " + e.Message }

// startKazoo starts the driver against hosts, or skips the test when kazoo
// is not installed (fails it with ZK_REQUIRE_REAL=1).
func startKazoo(t *testing.T, hosts string) *kazoo {
	t.Helper()
	if out, err := exec.Command(python, "-c", "import kazoo").CombinedOutput(); err != nil {
		msg := fmt.Sprintf("kazoo is not installed (apt-get install python3-kazoo): %v %s", err, out)
		if v, _ := strconv.ParseBool(os.Getenv(realzk.EnvRequire)); v {
			t.Fatalf("%s=1 but %s", realzk.EnvRequire, msg)
		}
		t.Skip(msg)
	}
	cmd := exec.Command(python, "testdata/kazoo_driver.py", hosts)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &testLogWriter{t: t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	k := &kazoo{cmd: cmd, in: in, lines: make(chan string)}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(k.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<16), 1<<24)
		for sc.Scan() {
			k.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		in.Close() // the driver closes its clients and exits
		exited := make(chan error, 1)
		go func() {
			for range k.lines { // drain anything unread
			}
			<-readerDone
			exited <- cmd.Wait()
		}()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Error("kazoo driver did not exit within 30 s of its stdin closing")
		}
	})
	return k
}

// call sends one command and returns its result, or kazoo's exception.
func (k *kazoo) call(t *testing.T, cmd map[string]any) (json.RawMessage, error) {
	t.Helper()
	b, err := json.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.in.Write(append(b, '\n')); err != nil {
		t.Fatalf("kazoo %v: %v", cmd["op"], err)
	}
	var line string
	select {
	case l, ok := <-k.lines:
		if !ok {
			t.Fatalf("kazoo driver exited during %s", b)
		}
		line = l
	case <-time.After(60 * time.Second):
		t.Fatalf("kazoo driver gave no answer to %s in 60 s", b)
	}
	var reply struct {
		OK      bool            `json:"ok"`
		Result  json.RawMessage `json:"result"`
		Error   string          `json:"error"`
		Message string          `json:"message"`
	}
	if err := json.Unmarshal([]byte(line), &reply); err != nil {
		t.Fatalf("kazoo driver answered %q: %v", line, err)
	}
	if !reply.OK {
		return nil, &kazooError{reply.Error, reply.Message}
	}
	return reply.Result, nil
}

// must sends one command that must succeed and decodes its result into out
// (unless out is nil).
func (k *kazoo) must(t *testing.T, out any, cmd map[string]any) {
	t.Helper()
	res, err := k.call(t, cmd)
	if err != nil {
		t.Fatalf("kazoo %s: %v", cmd["op"], err)
	}
	if out != nil {
		if err := json.Unmarshal(res, out); err != nil {
			t.Fatalf("kazoo %s: result %s: %v", cmd["op"], res, err)
		}
	}
}

// mustFail sends one command that must fail with kazoo's exception class.
func (k *kazoo) mustFail(t *testing.T, class string, cmd map[string]any) {
	t.Helper()
	res, err := k.call(t, cmd)
	ke, ok := err.(*kazooError)
	if !ok || ke.Class != class {
		t.Fatalf("kazoo %s: got result %s, error %v; want %s", cmd["op"], res, err, class)
	}
}

// kStat is the part of a kazoo ZnodeStat the tests compare.
type kStat struct {
	Czxid, Mzxid, Pzxid         int64
	Version, Cversion, Aversion int32
	EphemeralOwner              int64
	DataLength, NumChildren     int32
}

type kGet struct {
	Data *string `json:"data"` // hex; nil for a null buffer
	Stat kStat   `json:"stat"`
}

type kEvent struct {
	Type string `json:"type"`
	Path string `json:"path"`
}

// testLogWriter passes the driver's stderr to the test log.
type testLogWriter struct{ t *testing.T }

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.t.Logf("kazoo: %s", p)
	return len(p), nil
}
