package zk

import (
	"context"
	"fmt"
	"time"

	"github.com/zkgo/zk/internal/proto"
)

// Op is one operation of a Multi: *CreateOp, *DeleteOp, *SetDataOp or
// *CheckOp (or their values).
type Op interface {
	opPath() string
}

// CreateOp creates a node within a Multi.
type CreateOp struct {
	Path string
	Data []byte
	Mode CreateMode
	ACL  []ACL
	TTL  time.Duration // only with a TTL mode
}

// DeleteOp deletes a node within a Multi.
type DeleteOp struct {
	Path    string
	Version int32
}

// SetDataOp sets a node's data within a Multi.
type SetDataOp struct {
	Path    string
	Data    []byte
	Version int32
}

// CheckOp fails the Multi unless the node's version matches.
type CheckOp struct {
	Path    string
	Version int32
}

func (o CreateOp) opPath() string  { return o.Path }
func (o DeleteOp) opPath() string  { return o.Path }
func (o SetDataOp) opPath() string { return o.Path }
func (o CheckOp) opPath() string   { return o.Path }

// OpResult is the outcome of one operation of a Multi.
type OpResult struct {
	// Path is the created path, for a create.
	Path string
	// Stat is the node's new Stat, for a set (and a create whose server
	// reports one).
	Stat *Stat
	// Err is the operation's error. When a Multi fails, the failing
	// operation has its own error, those before it nil, those after it
	// ErrRuntimeInconsistency (they were not tried); nothing was applied.
	Err error
}

// Multi applies ops atomically: all of them or none. On failure it returns
// the per-operation results and an error for the first failing operation.
func (c *Conn) Multi(ctx context.Context, ops ...Op) ([]OpResult, error) {
	if ctx == nil {
		return nil, &OpError{Op: "multi", Err: fmt.Errorf("%w: nil context", ErrInvalidArgument)}
	}
	if len(ops) == 0 {
		return nil, nil
	}
	r := c.getRequest(proto.OpMulti, "")
	r.multi.Limit = len(ops) // one result per op: refuse a reply with more
	e := proto.Encoder{B: appendHeader(r.buf[:0], proto.OpMulti)}
	for i, op := range ops {
		if err := c.encodeMultiOp(&e, op); err != nil {
			c.putRequest(r)
			return nil, &OpError{Op: fmt.Sprintf("multi op %d", i), Path: pathOf(op), Err: err}
		}
	}
	(&proto.MultiHeader{Type: -1, Done: true, Err: -1}).Encode(&e)
	if err := c.run(ctx, "multi", r, e); err != nil {
		return nil, err
	}
	defer c.putRequest(r)
	res := r.multi.Results
	if len(res) != len(ops) {
		return nil, &OpError{Op: "multi", Err: fmt.Errorf("%w: %d results for %d operations", ErrProtocol, len(res), len(ops))}
	}
	out := make([]OpResult, len(res))
	var first error
	for i, mr := range res {
		if mr.Type == proto.OpError || mr.Err != 0 {
			out[i].Err = errorForCode(mr.Err)
			if first == nil && mr.Err != 0 {
				first = &OpError{Op: "multi", Path: ops[i].opPath(), Err: out[i].Err}
			}
			continue
		}
		switch mr.Type {
		case proto.OpCreate:
			out[i].Path = stripChroot(c.chroot, mr.Path)
		case proto.OpCreate2, proto.OpCreateContainer, proto.OpCreateTTL:
			out[i].Path = stripChroot(c.chroot, mr.Path)
			out[i].Stat = newStat(&mr.Stat)
		case proto.OpSetData:
			out[i].Stat = newStat(&mr.Stat)
		}
	}
	return out, first
}

// pathOf is op's path, or "" for a nil operation (nil interface or nil
// pointer), for error messages.
func pathOf(op Op) string {
	switch o := op.(type) {
	case nil:
		return ""
	case *CreateOp:
		if o == nil {
			return ""
		}
	case *DeleteOp:
		if o == nil {
			return ""
		}
	case *SetDataOp:
		if o == nil {
			return ""
		}
	case *CheckOp:
		if o == nil {
			return ""
		}
	}
	return op.opPath()
}

func (c *Conn) encodeMultiOp(e *proto.Encoder, op Op) error {
	if op == nil {
		return fmt.Errorf("%w: nil operation", ErrInvalidArgument)
	}
	head := func(t int32) { (&proto.MultiHeader{Type: t, Done: false, Err: -1}).Encode(e) }
	switch o := op.(type) {
	case *CreateOp:
		if o == nil {
			return fmt.Errorf("%w: nil operation", ErrInvalidArgument)
		}
		return c.encodeMultiOp(e, *o)
	case *DeleteOp:
		if o == nil {
			return fmt.Errorf("%w: nil operation", ErrInvalidArgument)
		}
		return c.encodeMultiOp(e, *o)
	case *SetDataOp:
		if o == nil {
			return fmt.Errorf("%w: nil operation", ErrInvalidArgument)
		}
		return c.encodeMultiOp(e, *o)
	case *CheckOp:
		if o == nil {
			return fmt.Errorf("%w: nil operation", ErrInvalidArgument)
		}
		return c.encodeMultiOp(e, *o)
	case CreateOp:
		if err := validatePath(o.Path, o.Mode.sequential()); err != nil {
			return err
		}
		if err := checkCreate(o.Mode, o.ACL, o.TTL); err != nil {
			return err
		}
		t := proto.OpCreate
		switch {
		case o.Mode.ttl():
			t = proto.OpCreateTTL
		case o.Mode == CreateContainer:
			t = proto.OpCreateContainer
		}
		head(t)
		c.appendPath(e, o.Path, o.Mode.sequential())
		e.Buffer(o.Data)
		encodeACLs(e, o.ACL)
		e.Int32(int32(o.Mode))
		if t == proto.OpCreateTTL {
			e.Int64(o.TTL.Milliseconds())
		}
	case DeleteOp:
		return c.encodePathVersion(e, head, proto.OpDelete, o.Path, o.Version)
	case CheckOp:
		return c.encodePathVersion(e, head, proto.OpCheck, o.Path, o.Version)
	case SetDataOp:
		if err := validatePath(o.Path, false); err != nil {
			return err
		}
		if err := validateVersion(o.Version); err != nil {
			return err
		}
		head(proto.OpSetData)
		c.appendPath(e, o.Path, false)
		e.Buffer(o.Data)
		e.Int32(o.Version)
	default:
		return fmt.Errorf("%w: unknown operation type %T", ErrInvalidArgument, op)
	}
	return nil
}

func (c *Conn) encodePathVersion(e *proto.Encoder, head func(int32), t int32, path string, version int32) error {
	if err := validatePath(path, false); err != nil {
		return err
	}
	if err := validateVersion(version); err != nil {
		return err
	}
	head(t)
	c.appendPath(e, path, false)
	e.Int32(version)
	return nil
}
