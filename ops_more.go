package zk

import (
	"context"
	"fmt"
	"strings"

	"github.com/zkgo/zk/internal/proto"
)

// minVersion names the first server release that has an operation, for the
// error a server too old for it gets.
var minVersion = map[int32]string{
	proto.OpCreateContainer:      "3.5.1",
	proto.OpCreateTTL:            "3.5.3",
	proto.OpMultiRead:            "3.6.0",
	proto.OpGetEphemerals:        "3.6.0",
	proto.OpGetAllChildrenNumber: "3.6.0",
	proto.OpSetWatches2:          "3.6.0",
	proto.OpAddWatch:             "3.6.0",
	proto.OpWhoAmI:               "3.7.0",
}

// explainUnimplemented turns ErrUnimplemented for an operation newer than
// some servers into an error that says so.
func explainUnimplemented(opcode int32, err error) error {
	if err != ErrUnimplemented {
		return err
	}
	v, ok := minVersion[opcode]
	if !ok {
		return err
	}
	msg := fmt.Sprintf("zk: operation not implemented by the server (it needs ZooKeeper %s or newer", v)
	if opcode == proto.OpCreateTTL {
		msg += " with extendedTypesEnabled=true"
	}
	return &detailError{msg + ")", ErrUnimplemented}
}

// GetEphemerals lists the session's ephemeral nodes whose paths start with
// prefix ("/" or "" for all), as full paths (ZooKeeper 3.6+). The prefix is
// a plain string prefix, not a path: "/a" matches "/ab" ("/a/" is allowed),
// but it may not hold a character that no path may hold (ErrInvalidPath).
func (c *Conn) GetEphemerals(ctx context.Context, prefix string) ([]string, error) {
	if prefix == "" {
		prefix = "/"
	}
	if err := c.start(ctx, "getEphemerals", "/", false); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(prefix, "/") {
		return nil, &OpError{Op: "getEphemerals", Path: prefix, Err: fmt.Errorf("%w: prefix %q does not start with '/'", ErrInvalidPath, prefix)}
	}
	if err := checkPathChars(prefix); err != nil {
		return nil, &OpError{Op: "getEphemerals", Path: prefix, Err: err}
	}
	// With a chroot, the prefix "/" becomes the chroot itself: everything
	// under it.
	r, e := c.newReq(proto.OpGetEphemerals, prefix)
	if err := c.run(ctx, "getEphemerals", r, e); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(r.strs))
	for _, p := range r.strs {
		out = append(out, stripChroot(c.chroot, p))
	}
	c.putRequest(r)
	return out, nil
}

// GetAllChildrenNumber counts every descendant of path, not the node itself
// (ZooKeeper 3.6+).
func (c *Conn) GetAllChildrenNumber(ctx context.Context, path string) (int, error) {
	if err := c.start(ctx, "getAllChildrenNumber", path, false); err != nil {
		return 0, err
	}
	r, e := c.newReq(proto.OpGetAllChildrenNumber, path)
	if err := c.run(ctx, "getAllChildrenNumber", r, e); err != nil {
		return 0, err
	}
	n := int(r.num)
	c.putRequest(r)
	return n, nil
}

// ClientInfo is one identity of the connection, as whoAmI reports it.
type ClientInfo struct {
	AuthScheme string
	User       string
}

// WhoAmI lists the identities the server associates with this connection
// (ZooKeeper 3.7+): ip:<address> always, plus one per accepted credential.
func (c *Conn) WhoAmI(ctx context.Context) ([]ClientInfo, error) {
	if ctx == nil {
		return nil, &OpError{Op: "whoAmI", Err: fmt.Errorf("%w: nil context", ErrInvalidArgument)}
	}
	r := c.getRequest(proto.OpWhoAmI, "")
	e := proto.Encoder{B: appendHeader(r.buf[:0], proto.OpWhoAmI)}
	if err := c.run(ctx, "whoAmI", r, e); err != nil {
		return nil, err
	}
	out := make([]ClientInfo, len(r.whoami))
	for i, ci := range r.whoami {
		out[i] = ClientInfo{AuthScheme: ci.AuthScheme, User: ci.User}
	}
	c.putRequest(r)
	return out, nil
}

// ConfigPath is the node that holds the ensemble's dynamic configuration.
const ConfigPath = "/zookeeper/config"

// GetConfig returns the ensemble's current configuration and its Stat. The
// chroot does not apply: the configuration is always read from ConfigPath.
func (c *Conn) GetConfig(ctx context.Context) ([]byte, *Stat, error) {
	data, st, _, err := c.getConfig(ctx, false)
	return data, st, err
}

// GetConfigW is GetConfig that also sets a one-shot watch on the
// configuration.
func (c *Conn) GetConfigW(ctx context.Context) ([]byte, *Stat, <-chan Event, error) {
	return c.getConfig(ctx, true)
}

func (c *Conn) getConfig(ctx context.Context, watch bool) ([]byte, *Stat, <-chan Event, error) {
	if ctx == nil {
		return nil, nil, nil, &OpError{Op: "getConfig", Err: fmt.Errorf("%w: nil context", ErrInvalidArgument)}
	}
	r := c.getRequest(proto.OpGetData, ConfigPath)
	e := proto.Encoder{B: appendHeader(r.buf[:0], proto.OpGetData)}
	e.String(ConfigPath)
	e.Bool(watch && !c.watches.coveredByPersistent(ConfigPath, watchData))
	var ch <-chan Event
	if watch {
		r.watch = newWatcher(ConfigPath)
		r.watchKind = watchData
		r.watchPath = ConfigPath
		ch = r.watch.ch
	}
	if err := c.run(ctx, "getConfig", r, e); err != nil {
		return nil, nil, nil, err
	}
	data, st := r.data, newStat(&r.stat)
	c.putRequest(r)
	return data, st, ch, nil
}

// Reconfig changes the ensemble's membership (servers with
// reconfigEnabled=true; the caller needs ADMIN permission on ConfigPath):
// incrementally with joining and leaving (comma-separated server specs and
// ids), or wholesale with newMembers. fromConfig is the version of the
// configuration this change applies to (-1 to skip the check). It returns
// the new configuration and its Stat.
func (c *Conn) Reconfig(ctx context.Context, joining, leaving, newMembers string, fromConfig int64) ([]byte, *Stat, error) {
	if ctx == nil {
		return nil, nil, &OpError{Op: "reconfig", Err: fmt.Errorf("%w: nil context", ErrInvalidArgument)}
	}
	if newMembers != "" && (joining != "" || leaving != "") {
		return nil, nil, &OpError{Op: "reconfig", Err: fmt.Errorf("%w: newMembers excludes joining and leaving", ErrInvalidArgument)}
	}
	r := c.getRequest(proto.OpReconfig, "")
	e := proto.Encoder{B: appendHeader(r.buf[:0], proto.OpReconfig)}
	(&proto.ReconfigRequest{JoiningServers: joining, LeavingServers: leaving, NewMembers: newMembers, CurConfigID: fromConfig}).Encode(&e)
	if err := c.run(ctx, "reconfig", r, e); err != nil {
		return nil, nil, err
	}
	data, st := r.data, newStat(&r.stat)
	c.putRequest(r)
	return data, st, nil
}

// ReadOp is one read of a MultiRead: *GetDataOp or *GetChildrenOp (or
// their values).
type ReadOp interface {
	readPath() string
}

// GetDataOp reads a node's data within a MultiRead.
type GetDataOp struct{ Path string }

// GetChildrenOp lists a node's children within a MultiRead.
type GetChildrenOp struct{ Path string }

func (o GetDataOp) readPath() string     { return o.Path }
func (o GetChildrenOp) readPath() string { return o.Path }

// ReadResult is the outcome of one read of a MultiRead: Data and Stat for a
// GetDataOp, Children for a GetChildrenOp, or Err.
type ReadResult struct {
	Data     []byte
	Stat     *Stat
	Children []string
	Err      error
}

// MultiRead runs several reads in one request (ZooKeeper 3.6+). Unlike
// Multi, each read succeeds or fails on its own; the results come from one
// consistent view of the server's tree.
func (c *Conn) MultiRead(ctx context.Context, ops ...ReadOp) ([]ReadResult, error) {
	if ctx == nil {
		return nil, &OpError{Op: "multiRead", Err: fmt.Errorf("%w: nil context", ErrInvalidArgument)}
	}
	if len(ops) == 0 {
		return nil, nil
	}
	r := c.getRequest(proto.OpMultiRead, "")
	r.multi.Limit = len(ops) // one result per read: refuse a reply with more
	e := proto.Encoder{B: appendHeader(r.buf[:0], proto.OpMultiRead)}
	for i, op := range ops {
		var t int32
		switch o := op.(type) {
		case *GetDataOp:
			if o == nil {
				op = nil
			}
		case *GetChildrenOp:
			if o == nil {
				op = nil
			}
		}
		switch op.(type) {
		case GetDataOp, *GetDataOp:
			t = proto.OpGetData
		case GetChildrenOp, *GetChildrenOp:
			t = proto.OpGetChildren
		default:
			c.putRequest(r)
			return nil, &OpError{Op: fmt.Sprintf("multiRead op %d", i), Err: fmt.Errorf("%w: operation type %T", ErrInvalidArgument, op)}
		}
		p := op.readPath()
		if err := validatePath(p, false); err != nil {
			c.putRequest(r)
			return nil, &OpError{Op: fmt.Sprintf("multiRead op %d", i), Path: p, Err: err}
		}
		(&proto.MultiHeader{Type: t, Done: false, Err: -1}).Encode(&e)
		c.appendPath(&e, p, false)
		e.Bool(false)
	}
	(&proto.MultiHeader{Type: -1, Done: true, Err: -1}).Encode(&e)
	if err := c.run(ctx, "multiRead", r, e); err != nil {
		return nil, err
	}
	defer c.putRequest(r)
	if len(r.multi.Results) != len(ops) {
		return nil, &OpError{Op: "multiRead", Err: fmt.Errorf("%w: %d results for %d reads", ErrProtocol, len(r.multi.Results), len(ops))}
	}
	out := make([]ReadResult, len(ops))
	for i, mr := range r.multi.Results {
		switch {
		case mr.Type == proto.OpError || mr.Err != 0:
			out[i].Err = &OpError{Op: "multiRead", Path: ops[i].readPath(), Err: errorForCode(mr.Err)}
		case mr.Type == proto.OpGetData:
			out[i].Data = mr.Data
			out[i].Stat = newStat(&mr.Stat)
		case mr.Type == proto.OpGetChildren:
			out[i].Children = mr.Children
			if out[i].Children == nil {
				out[i].Children = []string{}
			}
		}
	}
	return out, nil
}
