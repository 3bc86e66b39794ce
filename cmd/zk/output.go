package main

import (
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/zkgo/zk"
)

// statJSON is a Stat as JSON, with ZooKeeper's names. It has zk.Stat's
// fields in zk.Stat's order, so that one converts to the other.
type statJSON struct {
	Czxid          int64 `json:"czxid"`
	Mzxid          int64 `json:"mzxid"`
	Ctime          int64 `json:"ctime"` // ms since the epoch
	Mtime          int64 `json:"mtime"`
	Version        int32 `json:"version"`
	Cversion       int32 `json:"cversion"`
	Aversion       int32 `json:"aversion"`
	EphemeralOwner int64 `json:"ephemeralOwner"`
	DataLength     int32 `json:"dataLength"`
	NumChildren    int32 `json:"numChildren"`
	Pzxid          int64 `json:"pzxid"`
}

func toStatJSON(st *zk.Stat) *statJSON {
	if st == nil {
		return nil
	}
	v := statJSON(*st)
	return &v
}

// nodeJSON is the output of create, set and stat.
type nodeJSON struct {
	Path string    `json:"path"`
	Stat *statJSON `json:"stat,omitempty"`
}

// getJSON is the output of get: the data as a string when it is valid
// UTF-8, else in base64.
type getJSON struct {
	Path       string    `json:"path"`
	Data       *string   `json:"data,omitempty"`
	DataBase64 *string   `json:"dataBase64,omitempty"`
	Stat       *statJSON `json:"stat"`
}

// writeStat prints a Stat as "name value" lines: zxids and session ids in
// hex, as ZooKeeper prints them, times in RFC 3339 with milliseconds.
func writeStat(w io.Writer, st *zk.Stat) {
	ms := func(t int64) string { return time.UnixMilli(t).Format("2006-01-02T15:04:05.000Z07:00") }
	fmt.Fprintf(w, "%-14s %#x\n", "czxid", st.Czxid)
	fmt.Fprintf(w, "%-14s %#x\n", "mzxid", st.Mzxid)
	fmt.Fprintf(w, "%-14s %#x\n", "pzxid", st.Pzxid)
	fmt.Fprintf(w, "%-14s %s\n", "ctime", ms(st.Ctime))
	fmt.Fprintf(w, "%-14s %s\n", "mtime", ms(st.Mtime))
	fmt.Fprintf(w, "%-14s %d\n", "version", st.Version)
	fmt.Fprintf(w, "%-14s %d\n", "cversion", st.Cversion)
	fmt.Fprintf(w, "%-14s %d\n", "aversion", st.Aversion)
	fmt.Fprintf(w, "%-14s %#x\n", "ephemeralOwner", st.EphemeralOwner)
	fmt.Fprintf(w, "%-14s %d\n", "dataLength", st.DataLength)
	fmt.Fprintf(w, "%-14s %d\n", "numChildren", st.NumChildren)
}

// writeTree prints the root's path, then each descendant's name indented
// by two spaces per level.
func writeTree(w io.Writer, t *treeNode, depth int) {
	name := t.Path
	if depth > 0 {
		name = path.Base(t.Path)
	}
	fmt.Fprintf(w, "%s%s\n", strings.Repeat("  ", depth), name)
	for _, c := range t.Children {
		writeTree(w, c, depth+1)
	}
}

// permString spells permissions as ZooKeeper's CLI does: "cdrwa".
func permString(perms int32) string {
	var b strings.Builder
	for _, p := range []struct {
		bit  int32
		char byte
	}{{zk.PermCreate, 'c'}, {zk.PermDelete, 'd'}, {zk.PermRead, 'r'}, {zk.PermWrite, 'w'}, {zk.PermAdmin, 'a'}} {
		if perms&p.bit != 0 {
			b.WriteByte(p.char)
		}
	}
	return b.String()
}
