package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
)

func TestLsGetSet(t *testing.T) {
	f := newFixture(t)
	f.mkdirs(t, "/a", "/a/c", "/a/b", "/a/d")
	s, _, _ := f.session(t)

	require.Equal(t, "b\nc\nd\n", mustDo(t, s, "ls /a"))
	require.Equal(t, "/a\n", mustDo(t, s, "get /a"))

	var ls struct {
		Path     string   `json:"path"`
		Children []string `json:"children"`
	}
	decode(t, mustDo(t, s, "ls -json /a/b"), &ls)
	require.Equal(t, "/a/b", ls.Path)
	require.NotNil(t, ls.Children, "an empty list is [], not null")
	require.Empty(t, ls.Children)

	require.Empty(t, mustDo(t, s, `set /a "two words"`))
	require.Equal(t, "two words\n", mustDo(t, s, "get /a"))
	require.Empty(t, mustDo(t, s, "set /a v2 -version 1"))
	_, err := do(t, s, "set /a v3 -version 1")
	require.ErrorIs(t, err, zk.ErrBadVersion)
	require.EqualError(t, err, "zk: set /a: version conflict")
	require.Empty(t, mustDo(t, s, "set -version 2 /a -- -dash"))
	data, st, ok := f.srv.Get("/a")
	require.True(t, ok)
	require.Equal(t, "-dash", string(data))

	var set nodeJSON
	decode(t, mustDo(t, s, "set -json /a v4"), &set)
	require.Equal(t, "/a", set.Path)
	require.Equal(t, st.Version+1, set.Stat.Version)

	// get -json: the stat is the server's, the data a string.
	var get getJSON
	decode(t, mustDo(t, s, "get -json /a"), &get)
	_, st, _ = f.srv.Get("/a")
	require.Equal(t, "v4", *get.Data)
	require.Nil(t, get.DataBase64)
	require.Equal(t, statJSON(st), *get.Stat)

	// Data that is not UTF-8 comes in base64.
	bin := []byte{0xff, 0x00, 0xfe}
	_, err = f.conn.Set(t.Context(), "/a/b", bin, zk.AnyVersion)
	require.NoError(t, err)
	get = getJSON{}
	decode(t, mustDo(t, s, "get -json /a/b"), &get)
	require.Nil(t, get.Data)
	require.Equal(t, base64.StdEncoding.EncodeToString(bin), *get.DataBase64)
	require.Equal(t, string(bin)+"\n", mustDo(t, s, "get /a/b"))

	_, err = do(t, s, "get /nope")
	require.EqualError(t, err, "zk: get /nope: node does not exist")
	_, err = do(t, s, "ls /nope")
	require.EqualError(t, err, "zk: ls /nope: node does not exist", "named after the command, not the request")
}

func TestCreate(t *testing.T) {
	f := newFixture(t)
	f.mkdirs(t, "/q")
	s, _, _ := f.session(t)

	require.Equal(t, "/q/plain\n", mustDo(t, s, "create /q/plain hello"))
	data, st, _ := f.srv.Get("/q/plain")
	require.Equal(t, "hello", string(data))
	require.Zero(t, st.EphemeralOwner)

	require.Equal(t, "/q/nodata\n", mustDo(t, s, "create /q/nodata"))
	_, st, _ = f.srv.Get("/q/nodata")
	require.Zero(t, st.DataLength)

	require.Equal(t, "/q/job-0000000002\n", mustDo(t, s, "create -s /q/job- x"))
	require.Equal(t, "/q/job-0000000003\n", mustDo(t, s, "create /q/job- -s"))

	require.Equal(t, "/q/eph\n", mustDo(t, s, "create -e /q/eph"))
	_, st, _ = f.srv.Get("/q/eph")
	require.Equal(t, s.conn.SessionID(), st.EphemeralOwner)
	out := mustDo(t, s, "create -e -s /q/es-")
	require.Regexp(t, `^/q/es-\d{10}\n$`, out)
	require.ElementsMatch(t, []string{"/q/eph", strings.TrimSpace(out)}, f.srv.Ephemerals(s.conn.SessionID()))

	var created nodeJSON
	decode(t, mustDo(t, s, "create -json -s /q/j- data"), &created)
	require.Regexp(t, `^/q/j-\d{10}$`, created.Path)
	require.Equal(t, int32(4), created.Stat.DataLength)

	// A container goes once its last child is gone.
	require.Equal(t, "/q/ctr\n", mustDo(t, s, "create -c /q/ctr"))
	mustDo(t, s, "create /q/ctr/child")
	mustDo(t, s, "delete /q/ctr/child")
	awaitDeleted(t, f.conn, "/q/ctr")

	// A TTL node goes after its TTL without change; -s -ttl is sequential.
	require.Equal(t, "/q/ttl\n", mustDo(t, s, "create -ttl 200ms /q/ttl"))
	out = mustDo(t, s, "create -s -ttl 200ms /q/ttls-")
	require.Regexp(t, `^/q/ttls-\d{10}\n$`, out)
	awaitDeleted(t, f.conn, "/q/ttl")
	awaitDeleted(t, f.conn, strings.TrimSpace(out))

	for line, msg := range map[string]string{
		"create -c -s /q/x":       "zk: create: -c does not go with -e, -s or -ttl",
		"create -c -ttl 1s /q/x":  "zk: create: -c does not go with -e, -s or -ttl",
		"create -e -ttl 1s /q/x":  "zk: create: -e does not go with -ttl",
		"create -ttl -1s /q/x":    "zk: create: -ttl -1s is negative",
		"create":                  "zk: create: missing PATH",
		"create /q/x a b":         `zk: create: unexpected argument "b" (quote data that has spaces)`,
		"create -ttl soon /q/x":   `zk: create: invalid value "soon" for flag -ttl: parse error`,
		"create relative/x":       `zk: create: relative path "relative/x": paths start with '/' (relative paths work in the shell only)`,
		"create /q/plain/../x":    "", // the client rejects it; see below
		"create /q/nope/x":        "zk: create /q/nope/x: node does not exist",
		"create /q/plain":         "zk: create /q/plain: node already exists",
		"create -e /q/eph/child":  "zk: create /q/eph/child: ephemeral nodes may not have children",
		"create -ttl 1ms -e /q/x": "zk: create: -e does not go with -ttl",
	} {
		_, err := do(t, s, line)
		require.Error(t, err, line)
		if msg == "" {
			require.ErrorIs(t, err, zk.ErrInvalidPath, line)
			continue
		}
		require.Equal(t, msg, err.Error(), line)
		var ue *usageError
		require.Equal(t, strings.HasPrefix(msg, "zk: create: "), errors.As(err, &ue), "usage error: %s", line)
	}
}

// awaitDeleted waits until the server deletes p.
func awaitDeleted(t *testing.T, conn *zk.Conn, p string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	for {
		ok, _, ch, err := conn.ExistsW(ctx, p)
		require.NoError(t, err)
		if !ok {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("%s was not deleted", p)
		}
	}
}

func TestDelete(t *testing.T) {
	f := newFixture(t)
	f.mkdirs(t, "/d", "/d/a", "/d/a/x", "/d/a/y", "/d/b", "/d/b/z", "/keep")
	s, _, _ := f.session(t)

	_, err := do(t, s, "delete /d")
	require.ErrorIs(t, err, zk.ErrNotEmpty)
	require.EqualError(t, err, "zk: delete /d: node has children")

	// A wrong version deletes nothing, not even the children.
	_, err = do(t, s, "delete -r -version 5 /d")
	require.EqualError(t, err, "zk: delete /d: version conflict")
	children, _ := f.srv.Children("/d")
	require.Equal(t, []string{"a", "b"}, children)

	require.Empty(t, mustDo(t, s, "delete -r /d/a"))
	_, _, ok := f.srv.Get("/d/a")
	require.False(t, ok)
	require.Empty(t, mustDo(t, s, "delete /d -r -version 0"))
	_, _, ok = f.srv.Get("/d")
	require.False(t, ok)
	_, _, ok = f.srv.Get("/keep")
	require.True(t, ok)

	_, err = do(t, s, "delete -version 3 /keep")
	require.EqualError(t, err, "zk: delete /keep: version conflict")
	require.Empty(t, mustDo(t, s, "delete -version 0 /keep"))
	_, err = do(t, s, "delete /keep")
	require.EqualError(t, err, "zk: delete /keep: node does not exist")
}

func TestStat(t *testing.T) {
	f := newFixture(t)
	f.mkdirs(t, "/s", "/s/c")
	s, _, _ := f.session(t)
	_, err := f.conn.Set(t.Context(), "/s", []byte("12345"), zk.AnyVersion)
	require.NoError(t, err)
	_, st, _ := f.srv.Get("/s")

	out := mustDo(t, s, "stat /s")
	fields := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		kv := strings.Fields(line)
		require.Len(t, kv, 2, line)
		fields[kv[0]] = kv[1]
	}
	require.Len(t, fields, 11)
	require.Equal(t, "1", fields["version"])
	require.Equal(t, "5", fields["dataLength"])
	require.Equal(t, "1", fields["numChildren"])
	require.Equal(t, "0x0", fields["ephemeralOwner"])
	require.Regexp(t, `^0x[0-9a-f]+$`, fields["mzxid"])
	require.Equal(t, fmt.Sprintf("%#x", st.Mzxid), fields["mzxid"])
	mtime, err := time.Parse(time.RFC3339, fields["mtime"])
	require.NoError(t, err)
	require.Equal(t, st.Mtime, mtime.UnixMilli())

	var v nodeJSON
	decode(t, mustDo(t, s, "stat -json /s"), &v)
	require.Equal(t, "/s", v.Path)
	require.Equal(t, statJSON(st), *v.Stat)

	_, err = do(t, s, "stat /nope")
	require.EqualError(t, err, "zk: stat /nope: node does not exist")
}

func TestTree(t *testing.T) {
	f := newFixture(t)
	f.mkdirs(t, "/t", "/t/b", "/t/a", "/t/a/y", "/t/a/x", "/t/a/x/deep")
	s, _, _ := f.session(t)

	require.Equal(t, "/t\n  a\n    x\n      deep\n    y\n  b\n", mustDo(t, s, "tree /t"))
	require.Equal(t, "/t/b\n", mustDo(t, s, "tree /t/b"))

	var root treeNode
	decode(t, mustDo(t, s, "tree -json /t"), &root)
	var paths []string
	var walk func(n *treeNode, depth int)
	walk = func(n *treeNode, depth int) {
		paths = append(paths, strings.Repeat(">", depth)+n.Path)
		require.NotNil(t, n.Children, "leaves have [] children")
		for _, c := range n.Children {
			walk(c, depth+1)
		}
	}
	walk(&root, 0)
	require.Equal(t, []string{"/t", ">/t/a", ">>/t/a/x", ">>>/t/a/x/deep", ">>/t/a/y", ">/t/b"}, paths)

	out := mustDo(t, s, "tree /")
	require.True(t, strings.HasPrefix(out, "/\n  t\n    a\n"), out)

	_, err := do(t, s, "tree /nope")
	require.EqualError(t, err, "zk: tree /nope: node does not exist")
}

func TestGetACLWhoAmISync(t *testing.T) {
	f := newFixture(t)
	f.mkdirs(t, "/acl")
	_, err := f.conn.Create(t.Context(), "/ro", nil, zk.CreatePersistent, zk.ReadACL)
	require.NoError(t, err)
	s, _, _ := f.session(t)

	require.Equal(t, "world:anyone cdrwa\n", mustDo(t, s, "getacl /acl"))
	require.Equal(t, "world:anyone r\n", mustDo(t, s, "getacl /ro"))
	var acl struct {
		Path string `json:"path"`
		ACL  []struct{ Scheme, ID, Perms string }
	}
	decode(t, mustDo(t, s, "getacl -json /ro"), &acl)
	require.Equal(t, "/ro", acl.Path)
	require.Len(t, acl.ACL, 1)
	require.Equal(t, "world", acl.ACL[0].Scheme)
	require.Equal(t, "anyone", acl.ACL[0].ID)
	require.Equal(t, "r", acl.ACL[0].Perms)
	_, err = do(t, s, "set /ro x")
	require.EqualError(t, err, "zk: set /ro: not authorized")

	require.Regexp(t, `^ip 127\.0\.0\.1\n$`, mustDo(t, s, "whoami"))
	var ids []struct{ Scheme, User string }
	decode(t, mustDo(t, s, "whoami -json"), &ids)
	require.Equal(t, "ip", ids[0].Scheme)

	require.Empty(t, mustDo(t, s, "sync /acl"))
	_, err = do(t, s, "whoami extra")
	require.EqualError(t, err, `zk: whoami: unexpected argument "extra"`)
}

func TestTimeout(t *testing.T) {
	f := newFixture(t)
	s, _, _ := f.session(t)
	s.timeout = 200 * time.Millisecond
	f.srv.Blackhole(0, true) // the server reads requests and answers none
	defer f.srv.Blackhole(0, false)
	_, err := do(t, s, "ls /")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.EqualError(t, err, "zk: ls /: context deadline exceeded")
}
