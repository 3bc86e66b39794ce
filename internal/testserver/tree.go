package testserver

import (
	"slices"
	"strings"
	"time"

	"github.com/zkgo/zk/internal/proto"
)

type nodeKind uint8

const (
	kindPersistent nodeKind = iota
	kindEphemeral
	kindContainer
	kindTTL
)

// node is a znode. Owned by run.
type node struct {
	path     string
	name     string
	parent   *node
	children map[string]*node
	// kids holds the children's names in the order the real server lists
	// them (a Java HashSet, created with the first child).
	kids *jset

	data     []byte // nil stays nil: it is sent back as length -1
	acl      []proto.ACL
	czxid    int64
	mzxid    int64
	pzxid    int64
	ctime    int64 // ms since the epoch
	mtime    int64
	version  int32
	aversion int32
	// cversion counts child creates, as the real server stores it. It is the
	// sequential suffix of the next child; the Stat reports
	// 2*cversion-numChildren, which counts creates and deletes (§11.3).
	cversion int32

	kind  nodeKind
	owner int64 // session id of an ephemeral
	ttl   int64 // ms, for a TTL node
}

func (n *node) stat() proto.Stat {
	nc := int32(len(n.children))
	st := proto.Stat{
		Czxid:       n.czxid,
		Mzxid:       n.mzxid,
		Ctime:       n.ctime,
		Mtime:       n.mtime,
		Version:     n.version,
		Cversion:    2*n.cversion - nc,
		Aversion:    n.aversion,
		DataLength:  int32(len(n.data)),
		NumChildren: nc,
		Pzxid:       n.pzxid,
	}
	// A 3.8 server shows 0 for containers and TTL nodes, not the special
	// owner values it stores for them (§18).
	if n.kind == kindEphemeral {
		st.EphemeralOwner = n.owner
	}
	return st
}

// childNames lists the children in the real server's order: the iteration
// order of its HashSet, which depends on the names and on the history of
// creates and deletes, and is not sorted.
func (n *node) childNames() []string {
	if n.kids == nil {
		return []string{}
	}
	return n.kids.keys()
}

// tree holds the znodes by path. Owned by run.
type tree struct {
	nodes   map[string]*node
	special map[string]*node // containers and TTL nodes, for the reaper
	quotas  map[string]bool  // paths with a quota (the real server's PathTrie)
}

var (
	openACL = []proto.ACL{{Perms: proto.PermAll, Id: proto.Id{Scheme: "world", ID: "anyone"}}}
	readACL = []proto.ACL{{Perms: proto.PermRead, Id: proto.Id{Scheme: "world", ID: "anyone"}}}
)

// Reserved paths: they always exist and cannot be deleted.
const (
	zookeeperPath = "/zookeeper"
	quotaPath     = "/zookeeper/quota"
	configPath    = "/zookeeper/config"
)

func newTree() *tree {
	t := &tree{nodes: make(map[string]*node), special: make(map[string]*node), quotas: make(map[string]bool)}
	root := &node{path: "/", children: make(map[string]*node), data: []byte{}, acl: openACL}
	t.nodes["/"] = root
	// The reserved nodes exist from the start with an all-zero stat, added
	// without counting as child creates (so "/" reports cversion -1, as the
	// real server does).
	add := func(path string, acl []proto.ACL) {
		parent := t.get(parentPath(path))
		n := &node{path: path, name: baseName(path), parent: parent, children: make(map[string]*node), data: []byte{}, acl: acl}
		parent.children[n.name] = n
		if parent.kids == nil {
			parent.kids = newJSet(8)
		}
		parent.kids.add(n.name)
		t.nodes[path] = n
	}
	add(zookeeperPath, openACL)
	add(quotaPath, openACL)
	add(configPath, readACL)
	// DataTree.addConfigNode sets the config node's ACL with version -1,
	// which becomes its aversion.
	t.nodes[configPath].aversion = -1
	return t
}

// get returns the node at path; "" is the root, as in the real server.
func (t *tree) get(path string) *node {
	if path == "" {
		path = "/"
	}
	return t.nodes[path]
}

func isReserved(path string) bool {
	switch path {
	case "/", zookeeperPath, quotaPath, configPath:
		return true
	}
	return false
}

// parentPath returns everything before the last slash ("" for a child of the
// root, which get maps to the root).
func parentPath(path string) string { return path[:max(strings.LastIndexByte(path, '/'), 0)] }

func baseName(path string) string { return path[strings.LastIndexByte(path, '/')+1:] }

// validPath applies PathUtils.validatePath (PROTOCOL.md §13).
func validPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	if p == "/" {
		return true
	}
	if p[len(p)-1] == '/' {
		return false
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	for _, r := range p {
		// Invalid UTF-8 decodes to U+FFFD, refused as Java refuses its
		// replacement character; runes above U+FFFF would be surrogate
		// pairs in Java, also refused.
		if r <= 0x1f || (r >= 0x7f && r <= 0x9f) || (r >= 0xd800 && r <= 0xf8ff) || r >= 0xfff0 {
			return false
		}
	}
	return true
}

// txn is one transaction: a zxid, a time, the undo log that rolls it back
// and the watch triggers that fire when it commits.
type txn struct {
	zxid     int64
	now      int64 // ms since the epoch
	undo     []func()
	triggers []trigger
	// multi marks a transaction that may roll back after changing the
	// tree; it then keeps a copy of every hash set it changes (saved), as
	// undoing an add or a remove need not restore a set's order.
	multi bool
	saved map[**jset]bool
}

// saveSet keeps a copy of the set at p, the first time the transaction
// changes it, and restores the copy when the transaction rolls back.
func (tx *txn) saveSet(p **jset) {
	if !tx.multi || tx.saved[p] {
		return
	}
	if tx.saved == nil {
		tx.saved = make(map[**jset]bool)
	}
	tx.saved[p] = true
	var cp *jset
	if *p != nil {
		cp = (*p).copy()
	}
	tx.undo = append(tx.undo, func() { *p = cp })
}

type triggerKind uint8

const (
	trigCreated triggerKind = iota
	trigDeleted
	trigDataChanged
)

type trigger struct {
	kind   triggerKind
	path   string
	parent string // for created and deleted
}

// begin starts a transaction with the next zxid. Every write request takes a
// zxid, even one that fails (the real server logs an error transaction).
func (s *Server) begin() *txn {
	return &txn{zxid: s.nextZxid(), now: time.Now().UnixMilli()}
}

// commit fires the transaction's watches in the order of its changes.
func (s *Server) commit(tx *txn) {
	for _, tr := range tx.triggers {
		s.fire(tr)
	}
	tx.undo, tx.triggers = nil, nil
}

// abort rolls the transaction's changes back; nothing fires.
func (s *Server) abort(tx *txn) {
	for i := len(tx.undo) - 1; i >= 0; i-- {
		tx.undo[i]()
	}
	tx.undo, tx.triggers = nil, nil
}

// link adds n to the tree and to the indexes that follow nodes.
func (s *Server) link(n *node) {
	s.tree.nodes[n.path] = n
	n.parent.children[n.name] = n
	if n.parent.kids == nil {
		n.parent.kids = newJSet(8) // DataNode.addChild
	}
	n.parent.kids.add(n.name)
	switch n.kind {
	case kindEphemeral:
		if sess := s.sessions[n.owner]; sess != nil {
			sess.ephemerals[n.path] = struct{}{}
			if sess.ephOrder == nil {
				sess.ephOrder = newJSet(0) // DataTree.createNode
			}
			sess.ephOrder.add(n.path)
		}
	case kindContainer, kindTTL:
		s.tree.special[n.path] = n
	}
}

// saveSets lets a multi roll back the hash sets that linking or unlinking
// n changes.
func (s *Server) saveSets(tx *txn, n *node) {
	tx.saveSet(&n.parent.kids)
	if n.kind == kindEphemeral {
		if sess := s.sessions[n.owner]; sess != nil {
			tx.saveSet(&sess.ephOrder)
		}
	}
}

func (s *Server) unlink(n *node) {
	delete(s.tree.nodes, n.path)
	delete(n.parent.children, n.name)
	n.parent.kids.remove(n.name)
	switch n.kind {
	case kindEphemeral:
		if sess := s.sessions[n.owner]; sess != nil {
			delete(sess.ephemerals, n.path)
			if sess.ephOrder != nil {
				sess.ephOrder.remove(n.path)
			}
		}
	case kindContainer, kindTTL:
		delete(s.tree.special, n.path)
	}
}

// createNode adds a node and returns it with its Stat as the create's
// reply shows it: taken before any quota stats node is rewritten (the real
// server copies it inside DataTree.createNode, before the quota update).
func (s *Server) createNode(tx *txn, parent *node, path string, data []byte, acl []proto.ACL, kind nodeKind, owner, ttl int64) (*node, proto.Stat) {
	n := &node{
		path: path, name: baseName(path), parent: parent, children: make(map[string]*node),
		data: data, acl: acl,
		czxid: tx.zxid, mzxid: tx.zxid, pzxid: tx.zxid, ctime: tx.now, mtime: tx.now,
		kind: kind, owner: owner, ttl: ttl,
	}
	s.saveSets(tx, n)
	oldC, oldP := parent.cversion, parent.pzxid
	parent.cversion++
	parent.pzxid = tx.zxid
	s.link(n)
	tx.undo = append(tx.undo, func() {
		s.unlink(n)
		parent.cversion, parent.pzxid = oldC, oldP
	})
	st := n.stat()
	s.quotaCreated(tx, n)
	tx.triggers = append(tx.triggers, trigger{kind: trigCreated, path: path, parent: parent.path})
	return n, st
}

// deleteNode removes a childless node.
func (s *Server) deleteNode(tx *txn, n *node) {
	p := n.parent
	oldP := p.pzxid
	s.saveSets(tx, n)
	s.unlink(n)
	if tx.zxid > p.pzxid {
		p.pzxid = tx.zxid
	}
	tx.undo = append(tx.undo, func() {
		p.pzxid = oldP
		s.link(n)
	})
	s.quotaDeleted(tx, n)
	tx.triggers = append(tx.triggers, trigger{kind: trigDeleted, path: n.path, parent: p.path})
}

func (s *Server) setNodeData(tx *txn, n *node, data []byte, version int32) {
	oldData, oldV, oldM, oldT := n.data, n.version, n.mzxid, n.mtime
	n.data, n.version, n.mzxid, n.mtime = data, version, tx.zxid, tx.now
	tx.undo = append(tx.undo, func() { n.data, n.version, n.mzxid, n.mtime = oldData, oldV, oldM, oldT })
	s.updateQuotaStat(tx, n.path, int64(len(data)-len(oldData)), 0)
	tx.triggers = append(tx.triggers, trigger{kind: trigDataChanged, path: n.path})
}

func (s *Server) setNodeACL(tx *txn, n *node, acl []proto.ACL, aversion int32) {
	oldACL, oldV := n.acl, n.aversion
	n.acl, n.aversion = acl, aversion
	tx.undo = append(tx.undo, func() { n.acl, n.aversion = oldACL, oldV })
}

// reap deletes empty containers that once had children and TTL nodes without
// children left unmodified for longer than their TTL, one transaction each,
// as the real server's ContainerManager does.
func (s *Server) reap() {
	now := time.Now().UnixMilli()
	var victims []string
	for path, n := range s.tree.special {
		if len(n.children) != 0 {
			continue
		}
		if (n.kind == kindContainer && n.cversion > 0) || (n.kind == kindTTL && now-n.mtime > n.ttl) {
			victims = append(victims, path)
		}
	}
	slices.Sort(victims)
	for _, path := range victims {
		tx := s.begin()
		s.deleteNode(tx, s.tree.get(path))
		s.commit(tx)
		s.log.Debug("testserver: reaped", "path", path, "zxid", tx.zxid)
	}
}
