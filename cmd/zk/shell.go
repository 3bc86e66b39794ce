package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/zkgo/zk"
)

// Exit statuses of a shell ended by a signal, as a POSIX shell reports
// them: 128 + the signal number.
const (
	exitInterrupted = 130 // SIGINT
	exitTerminated  = 143 // SIGTERM
)

// shell runs the command lines it reads against one session.
type shell struct {
	s           *session
	interactive bool             // print a prompt and notices
	interrupts  <-chan os.Signal // each one stops the running command
	history     []string         // the lines run, "!N" expanded
	status      int              // the last command's exit status
}

// runShell connects, then runs the lines read from in until exit, the end
// of in or the end of ctx, and returns the exit status: the last command's.
// An interrupt stops the running command; at the prompt, it gives a new
// prompt (or, when not interactive, ends the shell).
func runShell(ctx context.Context, s *session, in io.Reader, interactive bool, interrupts <-chan os.Signal) int {
	s.cwd = "/"
	sh := &shell{s: s, interactive: interactive, interrupts: interrupts}
	_, cancel, conn, err := s.begin(ctx)
	cancel()
	if err != nil {
		return report(s.errOut, err, true)
	}
	if interactive {
		fmt.Fprintf(s.errOut, "connected to %s, session %#x; help lists the commands\n", conn.Server(), conn.SessionID())
	}
	lines, readErr, stop := readLines(in)
	defer stop()
	for {
		if ctx.Err() != nil {
			return exitTerminated
		}
		if interactive {
			fmt.Fprintf(s.errOut, "zk:%s> ", s.cwd)
		}
		select {
		case line, ok := <-lines:
			if !ok {
				if err := readErr(); err != nil {
					fmt.Fprintf(s.errOut, "zk: shell: reading input: %v\n", err)
					return exitError
				}
				if interactive {
					fmt.Fprintln(s.errOut)
				}
				return sh.status
			}
			if sh.line(ctx, line) {
				return sh.status
			}
		case <-interrupts:
			if !interactive {
				return exitInterrupted
			}
			fmt.Fprintln(s.errOut)
		case <-ctx.Done():
			return exitTerminated
		}
	}
}

// readLines reads lines from in on a goroutine of its own, so that the
// shell can wait for a line and an interrupt at once. err tells, once lines
// is closed, why reading stopped (nil at the end of in). stop makes the
// goroutine return; it cannot interrupt a Read in progress, so a goroutine
// blocked reading a terminal ends at the next line, or with the process.
func readLines(in io.Reader) (lines <-chan string, err func() error, stop func()) {
	ch := make(chan string)
	done := make(chan struct{})
	var readErr error // written before ch is closed
	go func() {
		defer close(ch)
		const maxLine = 2 << 20 // a line may carry up to 1 MiB of data
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 0, 64<<10), maxLine)
		n := 0
		for sc.Scan() {
			n++
			select {
			case ch <- sc.Text():
			case <-done:
				return
			}
		}
		readErr = sc.Err()
		if errors.Is(readErr, bufio.ErrTooLong) {
			readErr = fmt.Errorf("line %d is longer than %d MiB", n+1, maxLine>>20)
		}
	}()
	return ch, func() error { return readErr }, sync.OnceFunc(func() { close(done) })
}

// line runs one command line, and reports whether the shell should exit.
func (sh *shell) line(ctx context.Context, line string) (exit bool) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return false
	}
	errOut := sh.s.errOut
	if line[0] == '!' {
		expanded, err := sh.expand(line)
		if err != nil {
			sh.status = report(errOut, err, true)
			return false
		}
		fmt.Fprintln(errOut, expanded) // say what runs, as shells do
		line = expanded
	}
	sh.history = append(sh.history, line)
	words, err := splitWords(line)
	if err != nil {
		sh.status = report(errOut, err, true)
		return false
	}
	name, args := words[0], words[1:]
	switch name {
	case "exit", "quit":
		if len(args) > 1 {
			sh.status = report(errOut, usagef("%s: want at most a STATUS", name), true)
			return false
		}
		if len(args) == 1 {
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 0 || n > 255 {
				sh.status = report(errOut, usagef("%s: STATUS %q is not a number from 0 to 255", name, args[0]), true)
				return false
			}
			sh.status = n
		}
		return true
	case "cd":
		sh.status = report(errOut, sh.interruptible(ctx, func(ctx context.Context) error { return sh.cd(ctx, args) }), true)
	case "pwd":
		fmt.Fprintln(sh.s.out, sh.s.cwd)
		sh.status = exitOK
	case "history":
		for i, h := range sh.history {
			fmt.Fprintf(sh.s.out, "%5d  %s\n", i+1, h)
		}
		sh.status = exitOK
	case "help":
		sh.status = report(errOut, help(sh.s.out, args, true), true)
	case "shell", "serve":
		sh.status = report(errOut, usagef("%s: not available in the shell", name), true)
	default:
		err := sh.interruptible(ctx, func(ctx context.Context) error { return sh.s.exec(ctx, name, args) })
		sh.status = report(errOut, err, true)
	}
	return false
}

// expand returns the history entry "!N" (1-based), "!-N" (N back) or "!!"
// (the last) names.
func (sh *shell) expand(ref string) (string, error) {
	n := len(sh.history)
	if ref != "!!" {
		var err error
		n, err = strconv.Atoi(ref[1:])
		if err != nil {
			return "", usagef("%s: want !N, !-N or !!", ref)
		}
		if n < 0 {
			n += len(sh.history) + 1
		}
	}
	if n < 1 || n > len(sh.history) {
		return "", usagef("%s: no such command in the history (history lists them)", ref)
	}
	return sh.history[n-1], nil
}

// cd makes the node at args[0] (default /) the current one, if it exists.
func (sh *shell) cd(ctx context.Context, args []string) error {
	target := "/"
	switch len(args) {
	case 0:
	case 1:
		p, err := sh.s.abs(args[0])
		if err != nil {
			return err
		}
		target = path.Clean(p)
	default:
		return usagef("cd: unexpected argument %q (usage: cd [PATH])", args[1])
	}
	ctx, cancel, conn, err := sh.s.begin(ctx)
	defer cancel()
	if err != nil {
		return err
	}
	ok, _, err := conn.Exists(ctx, target)
	switch {
	case err != nil:
		return err
	case !ok:
		return &zk.OpError{Op: "cd", Path: target, Err: zk.ErrNoNode}
	}
	sh.s.cwd = target
	return nil
}

// interruptible runs fn with a context that an interrupt cancels.
func (sh *shell) interruptible(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-sh.interrupts:
			cancel()
		case <-done:
		}
	})
	defer wg.Wait()
	defer close(done)
	return fn(ctx)
}

// splitWords splits a line into words as a POSIX shell does, without
// expansions: blanks separate words; '...' quotes literally; "..." quotes,
// with \" and \\ escaped; elsewhere a backslash escapes the next character.
func splitWords(line string) ([]string, error) {
	var words []string
	var b strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; c {
		case ' ', '\t':
			if inWord {
				words = append(words, b.String())
				b.Reset()
				inWord = false
			}
			continue
		case '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, usagef("unterminated ' in %q", line)
			}
			b.WriteString(line[i+1 : i+1+j])
			i += j + 1
		case '"':
			for i++; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\') {
					i++
				}
				b.WriteByte(line[i])
			}
			if i == len(line) {
				return nil, usagef("unterminated \" in %q", line)
			}
		case '\\':
			if i+1 < len(line) {
				i++
			}
			b.WriteByte(line[i])
		default:
			b.WriteByte(c)
		}
		inWord = true
	}
	if inWord {
		words = append(words, b.String())
	}
	return words, nil
}

// printShellHelp writes the commands the shell knows.
func printShellHelp(w io.Writer) {
	fmt.Fprintln(w, "Commands:")
	writeCommandList(w, slices.DeleteFunc(slices.Clone(commands), func(c command) bool {
		return c.name == "shell" || c.name == "serve"
	}))
	writeCommandList(w, []command{
		{name: "cd", args: "[PATH]", summary: "change the current node (default /)"},
		{name: "pwd", summary: "print the current node"},
		{name: "history", summary: "print the lines run, numbered"},
		{name: "!N, !-N, !!", summary: "run line N, the Nth last, or the last again"},
		{name: "exit", args: "[STATUS]", summary: "leave the shell (also at the end of input)"},
	})
	fmt.Fprint(w, `
Relative paths resolve against the current node, which a missing PATH
means (but for create, set and delete). Quote words with ' or ". Command
flags may follow the arguments; "--" ends them. -json works per command.
An interrupt stops the running command. "help COMMAND" describes one.
`)
}
