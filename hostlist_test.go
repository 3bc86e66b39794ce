package zk

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParseConnString(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		hosts  []string
		chroot string
		// bad, when set, says the string must be refused and is a
		// substring the error message must contain: the offending part,
		// as the message quotes it.
		bad string
	}{
		// Good strings.
		{name: "host and port", in: "zk1:2182", hosts: []string{"zk1:2182"}},
		{name: "default port", in: "zk1", hosts: []string{"zk1:2181"}},
		{name: "several hosts", in: "zk1:1,zk2:2,zk3", hosts: []string{"zk1:1", "zk2:2", "zk3:2181"}},
		{name: "spaces around commas", in: " zk1:1 , zk2 ,\tzk3:3 ", hosts: []string{"zk1:1", "zk2:2181", "zk3:3"}},
		{name: "lowest port", in: "a:1", hosts: []string{"a:1"}},
		{name: "highest port", in: "a:65535", hosts: []string{"a:65535"}},
		{name: "IPv4", in: "127.0.0.1:2182,10.0.0.1", hosts: []string{"127.0.0.1:2182", "10.0.0.1:2181"}},
		{name: "IPv6 with port", in: "[::1]:2182", hosts: []string{"[::1]:2182"}},
		{name: "IPv6 without port", in: "[::1]", hosts: []string{"[::1]:2181"}},
		{name: "IPv6 long form and mixed list", in: "[2001:db8::1]:3000,zk2,[fe80::2]", hosts: []string{"[2001:db8::1]:3000", "zk2:2181", "[fe80::2]:2181"}},
		{name: "IPv4-mapped IPv6", in: "[::ffff:10.0.0.1]:2181", hosts: []string{"[::ffff:10.0.0.1]:2181"}},
		{name: "underscore and dash in hostnames", in: "zk_1.my-cluster.svc:2181,zk-2_b", hosts: []string{"zk_1.my-cluster.svc:2181", "zk-2_b:2181"}},
		{name: "upper case hostname", in: "ZK1.EXAMPLE.COM", hosts: []string{"ZK1.EXAMPLE.COM:2181"}},
		{name: "chroot", in: "zk1:2181/app", hosts: []string{"zk1:2181"}, chroot: "/app"},
		{name: "chroot / means none", in: "zk1:2181/", hosts: []string{"zk1:2181"}},
		{name: "nested chroot after several hosts", in: "zk1,zk2:2182/a/b", hosts: []string{"zk1:2181", "zk2:2182"}, chroot: "/a/b"},
		{name: "chroot after IPv6", in: "[::1]/app", hosts: []string{"[::1]:2181"}, chroot: "/app"},
		{name: "chroot after a space", in: "zk1 /app", hosts: []string{"zk1:2181"}, chroot: "/app"},
		{name: "chroot with dotted names", in: "zk1/.a/a..b/c.", hosts: []string{"zk1:2181"}, chroot: "/.a/a..b/c."},
		{name: "chroot with comma and non-ASCII", in: "zk1/a,b/é", hosts: []string{"zk1:2181"}, chroot: "/a,b/é"},

		// Bad strings.
		{name: "empty", in: "", bad: `"" has no host`},
		{name: "only spaces", in: "   ", bad: `"   " has no host`},
		{name: "only chroot", in: "/app", bad: `"/app" has no host`},
		{name: "only chroot /", in: "/", bad: `"/" has no host`},
		{name: "empty entry in the middle", in: "a,,b", bad: `"a,,b" has an empty host entry`},
		{name: "leading comma", in: ",a", bad: `",a" has an empty host entry`},
		{name: "trailing comma", in: "a,", bad: `"a," has an empty host entry`},
		{name: "trailing comma before chroot", in: "a,/app", bad: `"a,/app" has an empty host entry`},
		{name: "blank entry", in: "a, ,b", bad: `"a, ,b" has an empty host entry`},
		{name: "bare IPv6", in: "::1", bad: `"::1"`},
		{name: "bare IPv6 with port", in: "2001:db8::1:2181", bad: `"2001:db8::1:2181"`},
		{name: "IPv6 missing ]", in: "[::1", bad: `"[::1"`},
		{name: "IPv6 missing ] with port", in: "[::1:2181", bad: `"[::1:2181"`},
		{name: "junk after IPv6", in: "[::1]x", bad: `"x"`},
		{name: "IPv6 empty port", in: "[::1]:", bad: `"[::1]:"`},
		{name: "IPv6 bad port", in: "[::1]:http", bad: `"http"`},
		{name: "hostname in brackets", in: "[zk1]:2181", bad: `"zk1"`},
		{name: "IPv4 in brackets", in: "[10.0.0.1]", bad: `"10.0.0.1"`},
		{name: "empty brackets", in: "[]:2181", bad: `"[]:2181"`},
		{name: "port 0", in: "a:0", bad: `port "0"`},
		{name: "port 65536", in: "a:65536", bad: `port "65536"`},
		{name: "port abc", in: "a:abc", bad: `port "abc"`},
		{name: "empty port", in: "a:", bad: `"a:"`},
		{name: "port +1", in: "a:+1", bad: `port "+1"`},
		{name: "port -1", in: "a:-1", bad: `port "-1"`},
		{name: "port with space", in: "a: 1", bad: `port " 1"`},
		{name: "huge port", in: "a:99999999999999999999", bad: `port "99999999999999999999"`},
		{name: "two colons", in: "a:1:2", bad: `"a:1:2"`},
		{name: "empty host with port", in: ":2181", bad: `":2181"`},
		{name: "bad host in a list", in: "zk1,zk 2,zk3", bad: `"zk 2"`},
		{name: "space in hostname", in: "a b", bad: `"a b"`},
		{name: "space before port", in: "zk1 :2181", bad: `"zk1 :2181"`},
		{name: "@ in hostname", in: "a@b", bad: `"a@b"`},
		{name: "non-ASCII hostname", in: "zk\u00e9", bad: "\"zk\u00e9\""},
		{name: "non-ASCII hostname names the character", in: "zk\u00e9", bad: "disallowed character 'é'"},
		{name: "invalid UTF-8 in the hostname", in: "zk\xff", bad: `host "zk\xff": host name is not valid UTF-8 at byte 2`},
		{name: "chroot with trailing slash", in: "zk1/a/", bad: `chroot "/a/"`},
		{name: "chroot with leading empty component", in: "zk1//a", bad: `chroot "//a"`},
		{name: "chroot //", in: "zk1//", bad: `chroot "//"`},
		{name: "chroot with empty component", in: "zk1/a//b", bad: `chroot "/a//b"`},
		{name: "chroot with . component", in: "zk1/a/./b", bad: `chroot "/a/./b"`},
		{name: "chroot ending in ..", in: "zk1/a/..", bad: `chroot "/a/.."`},
		{name: "chroot with control char", in: "zk1/a\x01b", bad: `chroot "/a\x01b"`},
		{name: "chroot with NUL", in: "zk1/a\x00", bad: `chroot "/a\x00"`},
		{name: "chroot with DEL", in: "zk1/a\x7f", bad: `chroot "/a\x7f"`},
		{name: "chroot with invalid UTF-8", in: "zk1/a\xff", bad: `chroot "/a\xff"`},
		{name: "chroot outside the BMP", in: "zk1/\U0001F600", bad: `chroot "/` + "\U0001F600" + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts, chroot, err := parseConnString(tt.in)
			if tt.bad != "" {
				if err == nil {
					t.Fatalf("parseConnString(%q) = %q, %q, nil; want an error", tt.in, hosts, chroot)
				}
				if !errors.Is(err, ErrBadConnString) {
					t.Errorf("parseConnString(%q): error %q does not wrap ErrBadConnString", tt.in, err)
				}
				if !strings.Contains(err.Error(), tt.bad) {
					t.Errorf("parseConnString(%q): error %q does not name the bad part %s", tt.in, err, tt.bad)
				}
				if !strings.HasPrefix(err.Error(), "zk: ") {
					t.Errorf("parseConnString(%q): error %q does not start with \"zk: \"", tt.in, err)
				}
				if hosts != nil || chroot != "" {
					t.Errorf("parseConnString(%q) returned %q, %q with its error; want nothing", tt.in, hosts, chroot)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseConnString(%q): %v", tt.in, err)
			}
			if !slices.Equal(hosts, tt.hosts) || chroot != tt.chroot {
				t.Errorf("parseConnString(%q) = %q, %q; want %q, %q", tt.in, hosts, chroot, tt.hosts, tt.chroot)
			}
		})
	}
}

func FuzzParseConnString(f *testing.F) {
	for _, s := range []string{
		"", "zk1", "zk1:2181", "a:1,b:2,c", " a , b ", "[::1]", "[::1]:2181", "[::1",
		"::1", "a:0", "a:65536", "a:+1", "a,,b", ",a", "a,", "/app", "a/", "a/app/x",
		"a/a/", "a//a", "a/a/./b", "a/a/..", "a/a\x00", "a/\xff", "[::ffff:1.2.3.4]:9",
		"zk_1.x-y:2181/é", "a b", "a@b", "[]", "[1.2.3.4]", "a:0080",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hosts, chroot, err := parseConnString(s)
		if err != nil {
			if !errors.Is(err, ErrBadConnString) {
				t.Fatalf("parseConnString(%q): error %q does not wrap ErrBadConnString", s, err)
			}
			if hosts != nil || chroot != "" {
				t.Fatalf("parseConnString(%q) returned %q, %q with its error", s, hosts, chroot)
			}
			return
		}
		if len(hosts) == 0 {
			t.Fatalf("parseConnString(%q) succeeded with no host", s)
		}
		for _, h := range hosts {
			host, port, err := net.SplitHostPort(h)
			if err != nil {
				t.Fatalf("parseConnString(%q): host %q is not host:port: %v", s, h, err)
			}
			n, err := strconv.Atoi(port)
			if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
				t.Fatalf("parseConnString(%q): host %q has port %q, not a number from 1 to 65535", s, h, port)
			}
			if host == "" {
				t.Fatalf("parseConnString(%q): host %q has an empty host name", s, h)
			}
		}
		if chroot != "" {
			if chroot == "/" {
				t.Fatalf("parseConnString(%q): chroot \"/\" must be reported as \"\"", s)
			}
			if err := validatePath(chroot, false); err != nil {
				t.Fatalf("parseConnString(%q): chroot %q is not a valid path: %v", s, chroot, err)
			}
		}
		again := strings.Join(hosts, ",") + chroot
		hosts2, chroot2, err := parseConnString(again)
		if err != nil {
			t.Fatalf("parseConnString(%q) = %q, %q, but re-parsing %q fails: %v", s, hosts, chroot, again, err)
		}
		if !slices.Equal(hosts, hosts2) || chroot != chroot2 {
			t.Fatalf("parseConnString(%q) = %q, %q, but re-parsing %q gives %q, %q", s, hosts, chroot, again, hosts2, chroot2)
		}
	})
}

// testRand returns a deterministic source, so that a failure can be
// reproduced.
func testRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 2)) }

func hostNames(n int) []string {
	hs := make([]string, n)
	for i := range hs {
		hs[i] = fmt.Sprintf("zk%d:2181", i)
	}
	return hs
}

func TestHostListShuffle(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 10} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			in := hostNames(n)
			orig := slices.Clone(in)
			firsts := make(map[string]bool)
			for seed := range uint64(200) {
				h := newHostList(in, testRand(seed))
				if !slices.Equal(in, orig) {
					t.Fatalf("newHostList changed its argument: %q", in)
				}
				if got := slices.Sorted(slices.Values(h.hosts)); !slices.Equal(got, orig) {
					t.Fatalf("seed %d: hosts %q are not a permutation of %q", seed, h.hosts, orig)
				}
				if h.len() != n {
					t.Fatalf("len() = %d, want %d", h.len(), n)
				}
				// The same seed gives the same order.
				if h2 := newHostList(in, testRand(seed)); !slices.Equal(h.hosts, h2.hosts) {
					t.Fatalf("seed %d: two shuffles differ: %q and %q", seed, h.hosts, h2.hosts)
				}
				firsts[h.hosts[0]] = true
			}
			// Over many seeds every host comes first at least once, so
			// clients spread over the ensemble.
			if len(firsts) != n {
				t.Errorf("over 200 seeds only %d of %d hosts came first", len(firsts), n)
			}
		})
	}
	// The list owns its slice: changing the caller's afterwards changes
	// nothing.
	in := hostNames(3)
	h := newHostList(in, testRand(1))
	before := slices.Clone(h.hosts)
	in[0] = "changed:1"
	if !slices.Equal(h.hosts, before) {
		t.Errorf("hostList aliases the caller's slice: %q", h.hosts)
	}
}

func TestHostListRotation(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			h := newHostList(hostNames(n), testRand(uint64(n)))
			order := slices.Clone(h.hosts)
			for pass := range 4 {
				seen := make(map[string]bool)
				for i := range n {
					addr, backoff := h.next()
					if want := order[i]; addr != want {
						t.Fatalf("pass %d, attempt %d: next() = %q, want %q", pass, i, addr, want)
					}
					if seen[addr] {
						t.Fatalf("pass %d: %q visited twice", pass, addr)
					}
					seen[addr] = true
					// Only the first attempt of a pass after a failed pass
					// backs off.
					if want := pass > 0 && i == 0; backoff != want {
						t.Fatalf("pass %d, attempt %d: backoff = %v, want %v", pass, i, backoff, want)
					}
				}
				if len(seen) != n {
					t.Fatalf("pass %d visited %d of %d hosts", pass, len(seen), n)
				}
			}
		})
	}
}

// TestHostListScript drives a hostList of known order through scripted
// failures and successes.
func TestHostListScript(t *testing.T) {
	// A step is "connected", or an expected next() result written as the
	// address followed by "!" when it must back off.
	tests := []struct {
		name  string
		hosts []string
		steps []string
	}{
		{
			name:  "every attempt fails",
			hosts: []string{"a", "b", "c"},
			steps: []string{"a", "b", "c", "a!", "b", "c", "a!", "b"},
		},
		{
			name:  "loss after success tries the next host at once",
			hosts: []string{"a", "b", "c"},
			steps: []string{"a", "connected", "b", "c", "a", "b!", "c"},
		},
		{
			name:  "success in the middle of a pass starts a new pass",
			hosts: []string{"a", "b", "c"},
			steps: []string{"a", "b", "connected", "c", "a", "b", "c!"},
		},
		{
			name:  "success after backing off resets the backoff",
			hosts: []string{"a", "b", "c"},
			steps: []string{"a", "b", "c", "a!", "b", "connected", "c", "a", "b", "c!"},
		},
		{
			name:  "success on every attempt never backs off",
			hosts: []string{"a", "b"},
			steps: []string{"a", "connected", "b", "connected", "a", "connected", "b", "connected", "a"},
		},
		{
			name:  "single host backs off before every retry",
			hosts: []string{"a"},
			steps: []string{"a", "a!", "a!", "connected", "a", "a!"},
		},
		{
			name:  "single host reconnects at once after a loss",
			hosts: []string{"a"},
			steps: []string{"a", "connected", "a", "connected", "a", "a!"},
		},
		{
			name:  "connected twice is harmless",
			hosts: []string{"a", "b"},
			steps: []string{"a", "b", "a!", "connected", "connected", "b", "a", "b!"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &hostList{hosts: slices.Clone(tt.hosts)}
			for i, step := range tt.steps {
				if step == "connected" {
					h.connected()
					continue
				}
				want, wantBackoff := strings.CutSuffix(step, "!")
				addr, backoff := h.next()
				if addr != want || backoff != wantBackoff {
					t.Fatalf("step %d: next() = %q, %v; want %q, %v", i, addr, backoff, want, wantBackoff)
				}
			}
		})
	}
}

func TestHostListUpdate(t *testing.T) {
	tests := []struct {
		name     string
		old      []string
		failures int // failed attempts before the update
		hosts    []string
		current  string
		kept     bool
	}{
		{name: "current still present", old: []string{"a", "b", "c"}, hosts: []string{"a", "b", "c", "d"}, current: "c", kept: true},
		{name: "current removed", old: []string{"a", "b", "c"}, hosts: []string{"a", "b", "d"}, current: "c"},
		{name: "no current", old: []string{"a", "b"}, hosts: []string{"b", "c", "d"}, current: ""},
		{name: "single host kept", old: []string{"a", "b"}, hosts: []string{"a"}, current: "a", kept: true},
		{name: "single host replaced", old: []string{"a"}, hosts: []string{"b"}, current: "a"},
		{name: "current kept after failures", old: []string{"a", "b", "c"}, failures: 5, hosts: []string{"d", "c", "b", "a", "e"}, current: "b", kept: true},
		{name: "failures forgotten", old: []string{"a", "b", "c"}, failures: 4, hosts: []string{"x", "y"}, current: "a"},
	}
	for _, tt := range tests {
		for seed := range uint64(20) {
			h := &hostList{hosts: slices.Clone(tt.old)}
			for range tt.failures {
				h.next()
			}
			in := slices.Clone(tt.hosts)
			kept := h.update(in, tt.current, testRand(seed))
			if kept != tt.kept {
				t.Fatalf("%s, seed %d: update reported %v, want %v", tt.name, seed, kept, tt.kept)
			}
			if !slices.Equal(in, tt.hosts) {
				t.Fatalf("%s, seed %d: update changed its argument: %q", tt.name, seed, in)
			}
			if got := slices.Sorted(slices.Values(h.hosts)); !slices.Equal(got, slices.Sorted(slices.Values(tt.hosts))) {
				t.Fatalf("%s, seed %d: hosts %q are not a permutation of %q", tt.name, seed, h.hosts, tt.hosts)
			}
			if tt.kept && h.hosts[0] != tt.current {
				t.Fatalf("%s, seed %d: current %q is not first in %q", tt.name, seed, tt.current, h.hosts)
			}
			// A whole pass follows without backoff, visiting every host
			// once; when current was kept, it comes last (the handle is
			// connected to it: after a loss, try another server first).
			n := len(tt.hosts)
			seen := make(map[string]bool)
			var last string
			for i := range n {
				addr, backoff := h.next()
				if backoff {
					t.Fatalf("%s, seed %d: attempt %d after update backs off", tt.name, seed, i)
				}
				seen[addr] = true
				last = addr
			}
			if len(seen) != n {
				t.Fatalf("%s, seed %d: a pass after update visited %d of %d hosts", tt.name, seed, len(seen), n)
			}
			if tt.kept && last != tt.current {
				t.Fatalf("%s, seed %d: pass after update ends with %q, want current %q last", tt.name, seed, last, tt.current)
			}
			if _, backoff := h.next(); !backoff {
				t.Fatalf("%s, seed %d: no backoff after a failed pass following update", tt.name, seed)
			}
			// The list owns its slice.
			before := slices.Clone(h.hosts)
			in[0] = "changed"
			if !slices.Equal(h.hosts, before) {
				t.Fatalf("%s: hostList aliases the caller's slice", tt.name)
			}
		}
	}
}

// rebalanceTarget moves a session with probability added/listed, to an added
// server chosen uniformly, and never when nothing was added or the current
// server is gone.
func TestRebalanceTarget(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	old := []string{"a:1", "b:1", "c:1"}
	grown := []string{"a:1", "b:1", "c:1", "d:1", "e:1"}
	const trials = 100_000
	moved := map[string]int{}
	for range trials {
		if to := rebalanceTarget(old, grown, "b:1", rnd); to != "" {
			moved[to]++
		}
	}
	total := moved["d:1"] + moved["e:1"]
	if len(moved) != 2 {
		t.Fatalf("moved to %v, want only the added d:1 and e:1", moved)
	}
	// 2 of 5 move, half of them to each added server (binomial: the bounds
	// are more than 6 standard deviations wide; the seed is fixed anyway).
	if total < 39_000 || total > 41_000 {
		t.Fatalf("%d of %d sessions moved, want about 40%%", total, trials)
	}
	if d := moved["d:1"] - moved["e:1"]; d < -1_500 || d > 1_500 {
		t.Fatalf("moves split %v, want about even", moved)
	}
	for _, tc := range []struct {
		name         string
		old, updated []string
		current      string
	}{
		{"same list", old, old, "a:1"},
		{"same servers reordered", old, []string{"c:1", "a:1", "b:1"}, "a:1"},
		{"shrunk", old, []string{"a:1", "b:1"}, "a:1"},
		{"current removed (moves anyway, not by rebalancing)", old, []string{"d:1", "e:1"}, "a:1"},
		{"not connected", old, grown, ""},
	} {
		for range 1000 {
			if to := rebalanceTarget(tc.old, tc.updated, tc.current, rnd); to != "" {
				t.Fatalf("%s: moved to %s", tc.name, to)
			}
		}
	}
	// One server replaced by another: a move with probability 1/3.
	n := 0
	for range 30_000 {
		if to := rebalanceTarget(old, []string{"a:1", "b:1", "z:1"}, "a:1", rnd); to != "" {
			if to != "z:1" {
				t.Fatalf("moved to %s", to)
			}
			n++
		}
	}
	if n < 9_000 || n > 11_000 {
		t.Fatalf("%d of 30000 moved, want about 10000", n)
	}
}
