// Package queue is the algorithm shared by the recipes: a queue of ephemeral
// sequential nodes under one directory, in which each member waits only for
// the nearest lower node that blocks it, and holds its turn as long as the
// session is certain.
//
// A member's nodes are named <dir>/_c_<GUID>-<tag><sequence>: the GUID is
// random and belongs to one member (one Candidate or one lock), so a create
// whose reply was lost (ErrConnectionLoss) can be found again by listing the
// directory. The tag says what the member wants: "n_" a leader candidate,
// "lock-" or "write-" exclusive access, "read-" shared access. Any other
// child with a sequence suffix is queued too, as an exclusive member, except
// kazoo's reader nodes (<uuid>__rlock__<sequence>), which are shared.
//
// Nothing here is exported outside the recipe tree; the recipes wrap it in
// their own API and errors.
package queue

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
)

// Tags of the node kinds.
const (
	TagCandidate = "n_"
	TagLock      = "lock-"
	TagRead      = "read-"
	TagWrite     = "write-"
)

// seqLen is the length of the suffix ZooKeeper appends to a sequential node:
// the parent's child counter formatted %010d.
const seqLen = 10

// Node is a parsed child of the queue's directory.
type Node struct {
	Name   string // the child's name
	Prefix string // Name without its sequence suffix: _c_<GUID>-<tag>
	Seq    int64  // the sequence number
}

// kazooRead ends the prefix of a reader's node of kazoo (the Python
// client), whose ReadLock names its nodes <uuid hex>__rlock__<sequence>.
const kazooRead = "__rlock__"

// IsRead reports whether the node is a reader's (shared) node: ours, or
// kazoo's ReadLock's.
func (n Node) IsRead() bool {
	return strings.HasSuffix(n.Prefix, TagRead) || strings.HasSuffix(n.Prefix, kazooRead)
}

// Parse reads a child name as a sequential node: anything followed by ten
// digits. Names without a sequence suffix are not part of the queue.
func Parse(name string) (Node, bool) {
	if len(name) <= seqLen {
		return Node{}, false
	}
	suffix := name[len(name)-seqLen:]
	seq, err := strconv.ParseInt(suffix, 10, 64) // "-000000001" after the counter wraps
	if err != nil || suffix[0] == '+' {
		return Node{}, false
	}
	return Node{Name: name, Prefix: name[:len(name)-seqLen], Seq: seq}, true
}

// Sorted parses names and returns the sequential nodes among them in queue
// order (by sequence number).
func Sorted(names []string) []Node {
	nodes := make([]Node, 0, len(names))
	for _, name := range names {
		if n, ok := Parse(name); ok {
			nodes = append(nodes, n)
		}
	}
	slices.SortFunc(nodes, func(a, b Node) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return nodes
}

// NewPrefix returns a fresh member prefix "_c_<GUID>-<tag>", the GUID being
// 128 random bits in hex.
func NewPrefix(tag string) string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
	return "_c_" + hex.EncodeToString(b[:]) + "-" + tag
}
