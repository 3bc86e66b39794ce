package testserver

import (
	"github.com/zkgo/zk/internal/proto"
)

// multiCreateOp is the op a create sub-op becomes inside a multi: the real
// server rebuilds each op from its flags (Op.create), so create2 answers as
// create (type 1, path only), and the container and TTL modes as
// createContainer and createTTL (type 15, path and stat), whatever opcode the
// client wrote.
func multiCreateOp(flags int32) int32 {
	switch {
	case isTTLMode(flags):
		return proto.OpCreateTTL
	case flags == proto.FlagContainer:
		return proto.OpCreateContainer
	}
	return proto.OpCreate
}

func isMultiWriteOp(t int32) bool {
	switch t {
	case proto.OpCreate, proto.OpCreate2, proto.OpCreateContainer, proto.OpCreateTTL,
		proto.OpDelete, proto.OpSetData, proto.OpCheck:
		return true
	}
	return false
}

// opMulti runs a multi as one transaction with one zxid. If an op fails,
// nothing is applied and every result is an error: 0 before the failing op,
// its code, then -2 after it; the reply's own err is 0 (§8.4, §18).
func (s *Server) opMulti(c *conn, xid int32, req *proto.MultiRequest) {
	tx := s.begin()
	tx.multi = true
	for _, op := range req.Ops {
		if !isMultiWriteOp(op.Type) {
			// Read ops in a multi are a decode error.
			s.reply(c, xid, proto.ErrMarshallingError, nil)
			return
		}
	}
	results := make([]proto.MultiResult, len(req.Ops))
	failed := -1
	for i, op := range req.Ops {
		res, code := s.multiOp(tx, c, op)
		if code != 0 {
			failed = i
			results[i] = proto.MultiResult{Type: proto.OpError, Err: code}
			break
		}
		results[i] = res
	}
	if failed < 0 {
		s.commit(tx)
	} else {
		s.abort(tx)
		for i := range results {
			switch {
			case i < failed:
				results[i] = proto.MultiResult{Type: proto.OpError, Err: 0}
			case i > failed:
				results[i] = proto.MultiResult{Type: proto.OpError, Err: proto.ErrRuntimeInconsistency}
			}
		}
	}
	s.reply(c, xid, 0, &proto.MultiResponse{Results: results})
}

func (s *Server) multiOp(tx *txn, c *conn, op proto.MultiOp) (proto.MultiResult, int32) {
	switch op.Type {
	case proto.OpCreate, proto.OpCreate2, proto.OpCreateContainer, proto.OpCreateTTL:
		req := op.Req.(*proto.CreateRequest)
		eff := multiCreateOp(req.Flags)
		n, st, code := s.prepCreate(tx, c, eff, req)
		if code != 0 {
			return proto.MultiResult{}, code
		}
		if eff == proto.OpCreate {
			return proto.MultiResult{Type: proto.OpCreate, Path: n.path}, 0
		}
		return proto.MultiResult{Type: proto.OpCreate2, Path: n.path, Stat: st}, 0
	case proto.OpDelete:
		if code := s.prepDelete(tx, c, op.Req.(*proto.PathVersionRequest)); code != 0 {
			return proto.MultiResult{}, code
		}
		return proto.MultiResult{Type: proto.OpDelete}, 0
	case proto.OpSetData:
		n, code := s.prepSetData(tx, c, op.Req.(*proto.SetDataRequest))
		if code != 0 {
			return proto.MultiResult{}, code
		}
		return proto.MultiResult{Type: proto.OpSetData, Stat: n.stat()}, 0
	case proto.OpCheck:
		if code := s.prepCheck(c, op.Req.(*proto.PathVersionRequest)); code != 0 {
			return proto.MultiResult{}, code
		}
		return proto.MultiResult{Type: proto.OpCheck}, 0
	}
	return proto.MultiResult{}, proto.ErrMarshallingError // excluded by the caller
}

// opMultiRead runs getData and getChildren ops independently: a failed op
// is an error result, the others answer normally, watches included.
func (s *Server) opMultiRead(c *conn, xid int32, req *proto.MultiRequest) {
	for _, op := range req.Ops {
		if op.Type != proto.OpGetData && op.Type != proto.OpGetChildren {
			s.reply(c, xid, proto.ErrMarshallingError, nil)
			return
		}
	}
	results := make([]proto.MultiResult, len(req.Ops))
	for i, op := range req.Ops {
		r := op.Req.(*proto.PathWatchRequest)
		if op.Type == proto.OpGetData {
			resp, code := s.readData(c, r)
			if code != 0 {
				results[i] = proto.MultiResult{Type: proto.OpError, Err: code}
			} else {
				results[i] = proto.MultiResult{Type: proto.OpGetData, Data: resp.Data, Stat: resp.Stat}
			}
			continue
		}
		resp, code := s.readChildren(c, r, false)
		if code != 0 {
			results[i] = proto.MultiResult{Type: proto.OpError, Err: code}
		} else {
			results[i] = proto.MultiResult{Type: proto.OpGetChildren, Children: resp.Children}
		}
	}
	s.reply(c, xid, 0, &proto.MultiResponse{Results: results})
}
