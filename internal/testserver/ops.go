package testserver

import (
	"fmt"
	"strings"

	"github.com/zkgo/zk/internal/proto"
)

// request is one decoded request frame.
type request struct {
	xid    int32
	op     int32
	rec    proto.Record // nil for ops without a body
	known  bool
	decErr error // the body did not decode
}

// bufferRecord is a record of one buffer: the body of deleteContainer (20,
// the path), of a SASL request (the token) and of its response.
type bufferRecord struct{ B []byte }

func (r *bufferRecord) Encode(e *proto.Encoder) { e.Buffer(r.B) }
func (r *bufferRecord) Decode(d *proto.Decoder) { r.B = d.Buffer() }

// newRequestRecord returns the record an opcode's body decodes into (nil for
// ops without one) and whether the server knows the opcode.
func newRequestRecord(op int32) (proto.Record, bool) {
	switch op {
	case proto.OpCreate, proto.OpCreate2, proto.OpCreateContainer:
		return &proto.CreateRequest{}, true
	case proto.OpCreateTTL:
		return &proto.CreateRequest{IsTTL: true}, true
	case proto.OpDelete, proto.OpCheck:
		return &proto.PathVersionRequest{}, true
	case proto.OpExists, proto.OpGetData, proto.OpGetChildren, proto.OpGetChildren2:
		return &proto.PathWatchRequest{}, true
	case proto.OpSetData:
		return &proto.SetDataRequest{}, true
	case proto.OpGetACL, proto.OpSync, proto.OpGetEphemerals, proto.OpGetAllChildrenNumber:
		return &proto.PathRequest{}, true
	case proto.OpSetACL:
		return &proto.SetACLRequest{}, true
	case proto.OpReconfig:
		return &proto.ReconfigRequest{}, true
	case proto.OpCheckWatches, proto.OpRemoveWatches, proto.OpAddWatch:
		return &proto.PathTypeRequest{}, true
	case proto.OpAuth:
		return &proto.AuthPacket{}, true
	case proto.OpSetWatches:
		return &proto.SetWatches{}, true
	case proto.OpSetWatches2:
		return &proto.SetWatches{V2: true}, true
	case proto.OpMulti, proto.OpMultiRead:
		return &proto.MultiRequest{}, true
	case proto.OpDeleteContainer, proto.OpSASL:
		return &bufferRecord{}, true
	case proto.OpPing, proto.OpCloseSession, proto.OpWhoAmI:
		return nil, true
	}
	return nil, false
}

func decodeRequest(frame []byte) (*request, error) {
	d := proto.NewDecoder(frame)
	var h proto.RequestHeader
	h.Decode(d)
	if err := d.Err(); err != nil {
		return nil, err
	}
	r := &request{xid: h.Xid, op: h.OpCode}
	r.rec, r.known = newRequestRecord(h.OpCode)
	if r.rec != nil {
		r.rec.Decode(d)
		r.decErr = d.Err()
	}
	return r, nil
}

// isWrite reports whether the real server sends an op through its
// transaction pipeline, where it takes a zxid even when it fails.
func isWrite(op int32) bool {
	switch op {
	case proto.OpCreate, proto.OpCreate2, proto.OpCreateContainer, proto.OpCreateTTL,
		proto.OpDelete, proto.OpSetData, proto.OpSetACL, proto.OpCheck, proto.OpMulti,
		proto.OpReconfig, proto.OpDeleteContainer, proto.OpCloseSession:
		return true
	}
	return false
}

// send queues a reply; a body goes out only with err 0.
func (s *Server) send(c *conn, xid int32, zxid int64, code int32, rec proto.Record, final bool) {
	recs := []proto.Record{&proto.ReplyHeader{Xid: xid, Zxid: zxid, Err: code}}
	if code == 0 && rec != nil {
		recs = append(recs, rec)
	}
	s.log.Debug("testserver: reply", "conn", c.id, "xid", xid, "zxid", zxid, "err", code)
	c.enqueue(proto.AppendFrame(nil, recs...), final)
}

// reply queues a reply carrying the server's last zxid.
func (s *Server) reply(c *conn, xid int32, code int32, rec proto.Record) {
	s.send(c, xid, s.zxid, code, rec, false)
}

// hangUp closes the connection once what is queued is written, and stops
// serving it at once.
func (s *Server) hangUp(c *conn) {
	c.enqueue(nil, true)
	s.detach(c)
}

// handle serves one request on run's goroutine.
func (s *Server) handle(c *conn, r *request) {
	if c.detached || c.sess == nil {
		return
	}
	// Auth and SASL packets are answered on the real server's I/O thread
	// (ZooKeeperServer.processPacket) and never reach submitRequest, which
	// is where every other request, pings included, touches the session.
	if r.op != proto.OpAuth && r.op != proto.OpSASL {
		s.touch(c.sess)
	}
	s.log.Debug("testserver: request", "conn", c.id, "session", sid(c.sess.id), "xid", r.xid, "op", r.op)

	if q := s.failNext[r.op]; len(q) > 0 {
		if len(q) == 1 {
			delete(s.failNext, r.op)
		} else {
			s.failNext[r.op] = q[1:]
		}
		xid := r.xid
		if r.op == proto.OpPing {
			xid = proto.XidPing
		}
		s.reply(c, xid, q[0], nil)
		return
	}
	switch {
	case !r.known:
		// UnimplementedRequestProcessor: -6 with the request's zxid, which
		// is still -1, then the connection is closed.
		s.send(c, r.xid, -1, proto.ErrUnimplemented, nil, true)
		s.detach(c)
		return
	case r.decErr != nil:
		s.log.Debug("testserver: malformed request", "conn", c.id, "op", r.op, "err", r.decErr)
		if r.op == proto.OpAuth { // processPacket fails on it: the connection goes
			s.hangUp(c)
			return
		}
		if isWrite(r.op) {
			s.nextZxid()
		}
		s.reply(c, r.xid, proto.ErrMarshallingError, nil)
		return
	}

	switch r.op {
	case proto.OpPing:
		s.reply(c, proto.XidPing, 0, nil)
	case proto.OpAuth:
		s.opAuth(c, r.xid, r.rec.(*proto.AuthPacket))
	case proto.OpCloseSession:
		s.killSession(c.sess)
		s.log.Info("testserver: session closed by client", "session", sid(c.sess.id))
		s.send(c, r.xid, s.zxid, 0, nil, true)
		s.detach(c)
	case proto.OpCreate, proto.OpCreate2, proto.OpCreateContainer, proto.OpCreateTTL:
		req := r.rec.(*proto.CreateRequest)
		s.write(c, r.xid, func(tx *txn) (proto.Record, int32) {
			n, st, code := s.prepCreate(tx, c, r.op, req)
			if code != 0 {
				return nil, code
			}
			if r.op == proto.OpCreate {
				return &proto.CreateResponse{Path: n.path}, 0
			}
			return &proto.CreateResponse{Path: n.path, Stat: st, HasStat: true}, 0
		})
	case proto.OpDelete:
		req := r.rec.(*proto.PathVersionRequest)
		s.write(c, r.xid, func(tx *txn) (proto.Record, int32) { return nil, s.prepDelete(tx, c, req) })
	case proto.OpSetData:
		req := r.rec.(*proto.SetDataRequest)
		s.write(c, r.xid, func(tx *txn) (proto.Record, int32) {
			n, code := s.prepSetData(tx, c, req)
			if code != 0 {
				return nil, code
			}
			return &proto.StatResponse{Stat: n.stat()}, 0
		})
	case proto.OpSetACL:
		req := r.rec.(*proto.SetACLRequest)
		s.write(c, r.xid, func(tx *txn) (proto.Record, int32) {
			n, code := s.prepSetACL(tx, c, req)
			if code != 0 {
				return nil, code
			}
			return &proto.StatResponse{Stat: n.stat()}, 0
		})
	case proto.OpCheck:
		s.opCheck(c, r.xid, r.rec.(*proto.PathVersionRequest))
	case proto.OpDeleteContainer:
		path := string(r.rec.(*bufferRecord).B)
		s.write(c, r.xid, func(tx *txn) (proto.Record, int32) { return nil, s.prepDeleteContainer(tx, path) })
	case proto.OpSASL:
		s.opSASL(c, r.xid, r.rec.(*bufferRecord).B)
	case proto.OpReconfig:
		// A standalone 3.8 server with the default reconfigEnabled=false
		// refuses before it looks at the request; the refusal is an error
		// transaction.
		s.nextZxid()
		s.reply(c, r.xid, proto.ErrReconfigDisabled, nil)
	case proto.OpMulti:
		s.opMulti(c, r.xid, r.rec.(*proto.MultiRequest))
	case proto.OpMultiRead:
		s.opMultiRead(c, r.xid, r.rec.(*proto.MultiRequest))
	case proto.OpExists:
		s.opExists(c, r.xid, r.rec.(*proto.PathWatchRequest))
	case proto.OpGetData:
		req := r.rec.(*proto.PathWatchRequest)
		rec, code := s.readData(c, req)
		s.reply(c, r.xid, code, rec)
	case proto.OpGetChildren, proto.OpGetChildren2:
		req := r.rec.(*proto.PathWatchRequest)
		rec, code := s.readChildren(c, req, r.op == proto.OpGetChildren2)
		s.reply(c, r.xid, code, rec)
	case proto.OpGetACL:
		s.opGetACL(c, r.xid, r.rec.(*proto.PathRequest))
	case proto.OpSync:
		s.reply(c, r.xid, 0, &proto.PathRequest{Path: r.rec.(*proto.PathRequest).Path})
	case proto.OpCheckWatches, proto.OpRemoveWatches:
		req := r.rec.(*proto.PathTypeRequest)
		switch {
		case !validWatcherType(req.Type):
			s.reply(c, r.xid, proto.ErrMarshallingError, nil)
		case r.op == proto.OpCheckWatches && !s.watches.check(req.Path, req.Type),
			r.op == proto.OpRemoveWatches && !s.watches.remove(req.Path, c, req.Type):
			s.reply(c, r.xid, proto.ErrNoWatcher, nil)
		default:
			s.reply(c, r.xid, 0, nil)
		}
	case proto.OpAddWatch:
		req := r.rec.(*proto.PathTypeRequest)
		switch req.Type {
		case proto.AddWatchPersistent:
			s.watches.addWatch(req.Path, c, modePersistent)
		case proto.AddWatchPersistentRecursive:
			s.watches.addWatch(req.Path, c, modeRecursive)
		default:
			s.reply(c, r.xid, proto.ErrMarshallingError, nil)
			return
		}
		s.reply(c, r.xid, 0, &proto.IntResponse{Value: 0})
	case proto.OpSetWatches, proto.OpSetWatches2:
		s.opSetWatches(c, r.xid, r.rec.(*proto.SetWatches))
	case proto.OpGetEphemerals:
		s.opGetEphemerals(c, r.xid, r.rec.(*proto.PathRequest))
	case proto.OpGetAllChildrenNumber:
		s.opGetAllChildrenNumber(c, r.xid, r.rec.(*proto.PathRequest))
	case proto.OpWhoAmI:
		s.opWhoAmI(c, r.xid)
	default:
		panic(fmt.Sprintf("testserver: BUG: opcode %d known but not handled", r.op))
	}
}

// write runs one write request as a transaction: on an error it rolls back
// (the zxid stays used) and answers the error; otherwise it commits, which
// queues the watch events, and answers.
func (s *Server) write(c *conn, xid int32, fn func(tx *txn) (proto.Record, int32)) {
	tx := s.begin()
	rec, code := fn(tx)
	if code != 0 {
		s.abort(tx)
		s.reply(c, xid, code, nil)
		return
	}
	s.commit(tx)
	s.reply(c, xid, 0, rec)
}

func isTTLMode(flags int32) bool {
	return flags == proto.FlagPersistentWithTTL || flags == proto.FlagPersistentSequentialWithTTL
}

// prepCreate is PrepRequestProcessor.pRequest2TxnCreate, checks in the real
// server's order. op is create (1), create2 (15), createContainer (19) or
// createTTL (21); inside a multi the caller passes the op the flags make of
// it.
func (s *Server) prepCreate(tx *txn, c *conn, op int32, req *proto.CreateRequest) (*node, proto.Stat, int32) {
	flags := req.Flags
	if flags < proto.FlagPersistent || flags > proto.FlagPersistentSequentialWithTTL {
		return nil, proto.Stat{}, proto.ErrBadArguments
	}
	ttl := int64(-1)
	if op == proto.OpCreateTTL {
		ttl = req.TTL
	}
	if isTTLMode(flags) {
		if !s.cfg.extendedTypes {
			return nil, proto.Stat{}, proto.ErrUnimplemented
		}
		if ttl <= 0 || ttl > proto.MaxTTL {
			return nil, proto.Stat{}, proto.ErrBadArguments
		}
	} else if ttl >= 0 {
		return nil, proto.Stat{}, proto.ErrBadArguments
	}
	path := req.Path
	last := strings.LastIndexByte(path, '/')
	if last < 0 || strings.IndexByte(path, 0) >= 0 {
		return nil, proto.Stat{}, proto.ErrBadArguments
	}
	acl, code := fixupACL(c, req.ACL)
	if code != 0 {
		return nil, proto.Stat{}, code
	}
	parent := s.tree.get(path[:last])
	if parent == nil {
		return nil, proto.Stat{}, proto.ErrNoNode
	}
	if !allowed(c, parent.acl, proto.PermCreate) {
		return nil, proto.Stat{}, proto.ErrNoAuth
	}
	if flags == proto.FlagPersistentSequential || flags == proto.FlagEphemeralSequential || flags == proto.FlagPersistentSequentialWithTTL {
		path += fmt.Sprintf("%010d", parent.cversion)
	}
	if !validPath(path) {
		return nil, proto.Stat{}, proto.ErrBadArguments
	}
	if s.tree.get(path) != nil {
		return nil, proto.Stat{}, proto.ErrNodeExists
	}
	if parent.kind == kindEphemeral {
		return nil, proto.Stat{}, proto.ErrNoChildrenForEphemerals
	}
	kind, owner := kindPersistent, int64(0)
	switch {
	case op == proto.OpCreateContainer:
		kind = kindContainer
	case op == proto.OpCreateTTL && isTTLMode(flags):
		kind = kindTTL
	case flags == proto.FlagEphemeral || flags == proto.FlagEphemeralSequential:
		kind, owner = kindEphemeral, c.sess.id
	}
	// Outside a multi, create or create2 with the container flag makes a
	// plain persistent node, as in the real server (its transaction type
	// follows the opcode).
	n, st := s.createNode(tx, parent, path, req.Data, acl, kind, owner, ttl)
	return n, st, 0
}

// splitForDelete is getParentPathAndValidate: a slash, no NUL, not reserved.
func splitForDelete(path string) (parent string, ok bool) {
	last := strings.LastIndexByte(path, '/')
	if last < 0 || strings.IndexByte(path, 0) >= 0 || isReserved(path) {
		return "", false
	}
	return path[:last], true
}

func (s *Server) prepDelete(tx *txn, c *conn, req *proto.PathVersionRequest) int32 {
	pp, ok := splitForDelete(req.Path)
	if !ok {
		return proto.ErrBadArguments
	}
	parent := s.tree.get(pp)
	if parent == nil {
		return proto.ErrNoNode
	}
	if !allowed(c, parent.acl, proto.PermDelete) {
		return proto.ErrNoAuth
	}
	n := s.tree.get(req.Path)
	if n == nil {
		return proto.ErrNoNode
	}
	if req.Version != -1 && req.Version != n.version {
		return proto.ErrBadVersion
	}
	if len(n.children) > 0 {
		return proto.ErrNotEmpty
	}
	s.deleteNode(tx, n)
	return 0
}

// prepDeleteContainer is what the container reaper sends. A client may send
// it too: the real server refuses only nodes with children and ephemerals
// (with BadVersion), and checks no ACL.
func (s *Server) prepDeleteContainer(tx *txn, path string) int32 {
	if _, ok := splitForDelete(path); !ok {
		return proto.ErrBadArguments
	}
	n := s.tree.get(path)
	switch {
	case n == nil:
		return proto.ErrNoNode
	case len(n.children) > 0:
		return proto.ErrNotEmpty
	case n.kind == kindEphemeral:
		return proto.ErrBadVersion
	}
	s.deleteNode(tx, n)
	return 0
}

func (s *Server) prepSetData(tx *txn, c *conn, req *proto.SetDataRequest) (*node, int32) {
	if !validPath(req.Path) {
		return nil, proto.ErrBadArguments
	}
	n := s.tree.get(req.Path)
	if n == nil {
		return nil, proto.ErrNoNode
	}
	if !allowed(c, n.acl, proto.PermWrite) {
		return nil, proto.ErrNoAuth
	}
	if req.Version != -1 && req.Version != n.version {
		return nil, proto.ErrBadVersion
	}
	s.setNodeData(tx, n, req.Data, n.version+1)
	return n, 0
}

// prepCheck is the check sub-op of a multi: it changes nothing.
func (s *Server) prepCheck(c *conn, req *proto.PathVersionRequest) int32 {
	if !validPath(req.Path) {
		return proto.ErrBadArguments
	}
	n := s.tree.get(req.Path)
	if n == nil {
		return proto.ErrNoNode
	}
	if !allowed(c, n.acl, proto.PermRead) {
		return proto.ErrNoAuth
	}
	if req.Version != -1 && req.Version != n.version {
		return proto.ErrBadVersion
	}
	return 0
}

func (s *Server) prepSetACL(tx *txn, c *conn, req *proto.SetACLRequest) (*node, int32) {
	if !validPath(req.Path) {
		return nil, proto.ErrBadArguments
	}
	acl, code := fixupACL(c, req.ACL)
	if code != 0 {
		return nil, code
	}
	n := s.tree.get(req.Path)
	if n == nil {
		return nil, proto.ErrNoNode
	}
	if !allowed(c, n.acl, proto.PermAdmin) {
		return nil, proto.ErrNoAuth
	}
	if req.Version != -1 && req.Version != n.aversion {
		return nil, proto.ErrBadVersion
	}
	s.setNodeACL(tx, n, acl, n.aversion+1)
	return n, 0
}

// opCheck answers a check (13) sent outside a multi as a 3.8.0 server does:
// a failing check gets its error (an error transaction); a succeeding one
// makes the real server commit it and then drop the connection with no
// reply. Here nothing is committed.
func (s *Server) opCheck(c *conn, xid int32, req *proto.PathVersionRequest) {
	if code := s.prepCheck(c, req); code != 0 {
		s.nextZxid()
		s.reply(c, xid, code, nil)
		return
	}
	s.hangUp(c)
}

func (s *Server) opExists(c *conn, xid int32, req *proto.PathWatchRequest) {
	if strings.IndexByte(req.Path, 0) >= 0 {
		s.reply(c, xid, proto.ErrBadArguments, nil)
		return
	}
	// A 3.8.0 server checks no permission for exists (3.8.4 and 3.9.2
	// check READ on an existing node).
	n := s.tree.get(req.Path)
	// The watch is set even when the node is missing: it then waits for
	// NodeCreated.
	if req.Watch {
		s.watches.data.add(req.Path, c, modeStandard)
	}
	if n == nil {
		s.reply(c, xid, proto.ErrNoNode, nil)
		return
	}
	s.reply(c, xid, 0, &proto.StatResponse{Stat: n.stat()})
}

// readData is getData; a watch is set only when the node exists and may be
// read.
func (s *Server) readData(c *conn, req *proto.PathWatchRequest) (*proto.GetDataResponse, int32) {
	n := s.tree.get(req.Path)
	if n == nil {
		return nil, proto.ErrNoNode
	}
	if !allowed(c, n.acl, proto.PermRead) {
		return nil, proto.ErrNoAuth
	}
	if req.Watch {
		s.watches.data.add(req.Path, c, modeStandard)
	}
	return &proto.GetDataResponse{Data: n.data, Stat: n.stat()}, 0
}

// readChildren is getChildren and getChildren2.
func (s *Server) readChildren(c *conn, req *proto.PathWatchRequest, withStat bool) (*proto.ChildrenResponse, int32) {
	n := s.tree.get(req.Path)
	if n == nil {
		return nil, proto.ErrNoNode
	}
	if !allowed(c, n.acl, proto.PermRead) {
		return nil, proto.ErrNoAuth
	}
	if req.Watch {
		s.watches.child.add(req.Path, c, modeStandard)
	}
	return &proto.ChildrenResponse{Children: n.childNames(), Stat: n.stat(), HasStat: withStat}, 0
}

func (s *Server) opGetACL(c *conn, xid int32, req *proto.PathRequest) {
	n := s.tree.get(req.Path)
	if n == nil {
		s.reply(c, xid, proto.ErrNoNode, nil)
		return
	}
	if !allowed(c, n.acl, proto.PermRead|proto.PermAdmin) {
		s.reply(c, xid, proto.ErrNoAuth, nil)
		return
	}
	acl := n.acl
	if !allowed(c, n.acl, proto.PermAdmin) {
		acl = maskDigests(acl)
	}
	s.reply(c, xid, 0, &proto.GetACLResponse{ACL: acl, Stat: n.stat()})
}

func (s *Server) opAuth(c *conn, xid int32, p *proto.AuthPacket) {
	var id proto.Id
	switch {
	case p.Scheme == "digest" && p.Auth != nil:
		id = proto.Id{Scheme: "digest", ID: digestID(string(p.Auth))}
	case p.Scheme == "ip":
		id = proto.Id{Scheme: "ip", ID: c.remoteIP}
	default:
		// Unknown scheme (or no credentials): -115 with zxid 0, then the
		// connection is closed. The session survives.
		s.log.Info("testserver: authentication failed", "conn", c.id, "scheme", p.Scheme)
		s.send(c, xid, 0, proto.ErrAuthFailed, nil, true)
		s.detach(c)
		return
	}
	addAuth(c, id)
	s.log.Debug("testserver: authenticated", "conn", c.id, "scheme", id.Scheme, "id", id.ID)
	s.send(c, xid, 0, 0, nil, false)
}

// opSetWatches re-registers a reconnected client's watches, first sending
// the events it missed since relativeZxid (§9.7). The events go out before
// the reply.
func (s *Server) opSetWatches(c *conn, xid int32, req *proto.SetWatches) {
	rel := req.RelativeZxid
	for _, p := range req.DataWatches {
		switch n := s.tree.get(p); {
		case n == nil:
			s.notify(c, proto.EventNodeDeleted, p)
		case n.mzxid > rel:
			s.notify(c, proto.EventNodeDataChanged, p)
		default:
			s.watches.data.add(p, c, modeStandard)
		}
	}
	for _, p := range req.ExistWatches {
		if s.tree.get(p) != nil {
			s.notify(c, proto.EventNodeCreated, p)
		} else {
			s.watches.data.add(p, c, modeStandard)
		}
	}
	for _, p := range req.ChildWatches {
		switch n := s.tree.get(p); {
		case n == nil:
			s.notify(c, proto.EventNodeDeleted, p)
		case n.pzxid > rel:
			s.notify(c, proto.EventNodeChildrenChanged, p)
		default:
			s.watches.child.add(p, c, modeStandard)
		}
	}
	for _, p := range req.PersistentWatches {
		s.watches.addWatch(p, c, modePersistent)
	}
	for _, p := range req.PersistentRecursive {
		s.watches.addWatch(p, c, modeRecursive)
	}
	s.reply(c, xid, 0, nil)
}

func (s *Server) opGetEphemerals(c *conn, xid int32, req *proto.PathRequest) {
	prefix := req.Path
	all := strings.TrimFunc(prefix, func(r rune) bool { return r <= ' ' }) // Java's trim
	out := []string{}
	for _, p := range c.sess.ephemeralsInOrder() {
		if all == "" || all == "/" || strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	s.reply(c, xid, 0, &proto.ChildrenResponse{Children: out})
}

func (s *Server) opGetAllChildrenNumber(c *conn, xid int32, req *proto.PathRequest) {
	n := s.tree.get(req.Path)
	if n == nil {
		s.reply(c, xid, proto.ErrNoNode, nil)
		return
	}
	if !allowed(c, n.acl, proto.PermRead) {
		s.reply(c, xid, proto.ErrNoAuth, nil)
		return
	}
	var count func(*node) int32
	count = func(n *node) int32 {
		total := int32(len(n.children))
		for _, ch := range n.children {
			total += count(ch)
		}
		return total
	}
	s.reply(c, xid, 0, &proto.IntResponse{Value: count(n)})
}

// opWhoAmI lists the connection's ids: ip always, digest users after auth.
func (s *Server) opWhoAmI(c *conn, xid int32) {
	resp := &proto.WhoAmIResponse{}
	for _, id := range c.auth {
		user := id.ID
		if id.Scheme == "digest" {
			user, _, _ = strings.Cut(user, ":")
		}
		resp.Info = append(resp.Info, proto.ClientInfo{AuthScheme: id.Scheme, User: user})
	}
	s.reply(c, xid, 0, resp)
}
