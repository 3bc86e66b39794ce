package zk

import (
	"context"
	"fmt"
	"time"

	"github.com/zkgo/zk/internal/proto"
)

// AnyVersion matches every version in Delete, Set, SetACL and CheckOp.
const AnyVersion int32 = -1

// start validates the common arguments of an operation.
func (c *Conn) start(ctx context.Context, op, path string, sequential bool) error {
	if ctx == nil {
		return &OpError{Op: op, Path: path, Err: fmt.Errorf("%w: nil context", ErrInvalidArgument)}
	}
	if err := validatePath(path, sequential); err != nil {
		return &OpError{Op: op, Path: path, Err: err}
	}
	return nil
}

func validateVersion(v int32) error {
	if v < -1 {
		return fmt.Errorf("%w: version %d (use a version from a Stat, or AnyVersion)", ErrInvalidArgument, v)
	}
	return nil
}

// newReq starts a request frame for path with the chroot applied.
func (c *Conn) newReq(opcode int32, path string) (*request, proto.Encoder) {
	r := c.getRequest(opcode, path)
	e := proto.Encoder{B: appendHeader(r.buf[:0], opcode)}
	c.appendPath(&e, path, false)
	return r, e
}

// appendPath writes chroot+path as one ustring without building the string.
// A sequential create of "/" under a chroot names the chroot's children
// ("/app/" + suffix), not the chroot's siblings.
func (c *Conn) appendPath(e *proto.Encoder, path string, sequential bool) {
	if c.chroot == "" {
		e.String(path)
		return
	}
	if path == "/" && !sequential {
		e.String(c.chroot)
		return
	}
	e.Int32(int32(len(c.chroot) + len(path)))
	e.B = append(e.B, c.chroot...)
	e.B = append(e.B, path...)
}

// run sends r (its frame finished from e) and returns its outcome as an
// error for op. On nil, the caller owns r and must putRequest it.
func (c *Conn) run(ctx context.Context, op string, r *request, e proto.Encoder) error {
	r.buf = finishFrame(e.B)
	path := r.path
	if err := c.do(ctx, r); err != nil {
		return &OpError{Op: op, Path: path, Err: err}
	}
	if r.err != nil {
		err := explainUnimplemented(r.opcode, r.err)
		c.putRequest(r)
		return &OpError{Op: op, Path: path, Err: err}
	}
	return nil
}

func (c *Conn) watchFor(r *request, kind watchKind) <-chan Event {
	r.watch = newWatcher(r.path)
	r.watchKind = kind
	r.watchPath = addChroot(c.chroot, r.path)
	return r.watch.ch
}

// wireWatch reports whether a one-shot watch of kind on path must be asked
// of the server. Servers before 3.9 keep one watch mode per path and
// connection: a one-shot watch set where the handle has a persistent watch
// would turn the server's persistent watch into a one-shot one. There the
// persistent watch already brings every event the one-shot watch waits for,
// so the one-shot watch is kept only here.
func (c *Conn) wireWatch(path string, kind watchKind) bool {
	return !c.watches.coveredByPersistent(addChroot(c.chroot, path), kind)
}

// Create makes a node and returns its path (with the sequence suffix for a
// sequential mode). A TTL mode needs CreateTTL. Data nil is sent as a null
// buffer, as the Java client sends null (Get then returns nil, and kazoo
// None); a non-nil empty slice is empty data.
func (c *Conn) Create(ctx context.Context, path string, data []byte, mode CreateMode, acl []ACL) (string, error) {
	p, _, err := c.create(ctx, "create", path, data, mode, acl, 0, false)
	return p, err
}

// CreateStat is Create that also returns the new node's Stat (create2).
func (c *Conn) CreateStat(ctx context.Context, path string, data []byte, mode CreateMode, acl []ACL) (string, *Stat, error) {
	return c.create(ctx, "create", path, data, mode, acl, 0, true)
}

// CreateTTL makes a node with a TTL mode: the server deletes it when it has
// had no children and no change for ttl. Servers need
// extendedTypesEnabled=true, or the call fails with ErrUnimplemented.
func (c *Conn) CreateTTL(ctx context.Context, path string, data []byte, mode CreateMode, acl []ACL, ttl time.Duration) (string, *Stat, error) {
	return c.create(ctx, "create", path, data, mode, acl, ttl, true)
}

func (c *Conn) create(ctx context.Context, op, path string, data []byte, mode CreateMode, acl []ACL, ttl time.Duration, withStat bool) (string, *Stat, error) {
	if err := c.start(ctx, op, path, mode.sequential()); err != nil {
		return "", nil, err
	}
	if err := checkCreate(mode, acl, ttl); err != nil {
		return "", nil, &OpError{Op: op, Path: path, Err: err}
	}
	opcode := proto.OpCreate
	switch {
	case mode.ttl():
		opcode = proto.OpCreateTTL
	case mode == CreateContainer:
		opcode = proto.OpCreateContainer
	case withStat:
		opcode = proto.OpCreate2
	}
	r := c.getRequest(opcode, path)
	e := proto.Encoder{B: appendHeader(r.buf[:0], opcode)}
	c.appendPath(&e, path, mode.sequential())
	e.Buffer(data)
	encodeACLs(&e, acl)
	e.Int32(int32(mode))
	if opcode == proto.OpCreateTTL {
		e.Int64(ttl.Milliseconds())
	}
	if err := c.run(ctx, op, r, e); err != nil {
		return "", nil, err
	}
	created := stripChroot(c.chroot, r.str)
	var st *Stat
	if r.hasStat {
		st = newStat(&r.stat)
	}
	c.putRequest(r)
	return created, st, nil
}

// checkCreate validates a create's mode, ACL and TTL.
func checkCreate(mode CreateMode, acl []ACL, ttl time.Duration) error {
	if !mode.valid() {
		return fmt.Errorf("%w: create mode %d", ErrInvalidArgument, int32(mode))
	}
	if mode.ttl() {
		if err := validateTTL(ttl); err != nil {
			return err
		}
	} else if ttl != 0 {
		return fmt.Errorf("%w: a TTL needs a TTL mode, not %s", ErrInvalidArgument, mode)
	}
	return validateACL(acl)
}

func encodeACLs(e *proto.Encoder, acl []ACL) {
	e.Int32(int32(len(acl)))
	for _, a := range acl {
		e.Int32(a.Perms)
		e.String(a.Scheme)
		e.String(a.ID)
	}
}

// Delete removes a node if its version matches (AnyVersion for any).
func (c *Conn) Delete(ctx context.Context, path string, version int32) error {
	if err := c.start(ctx, "delete", path, false); err != nil {
		return err
	}
	if err := validateVersion(version); err != nil {
		return &OpError{Op: "delete", Path: path, Err: err}
	}
	r, e := c.newReq(proto.OpDelete, path)
	e.Int32(version)
	if err := c.run(ctx, "delete", r, e); err != nil {
		return err
	}
	c.putRequest(r)
	return nil
}

// Exists reports whether a node exists, with its Stat when it does.
func (c *Conn) Exists(ctx context.Context, path string) (bool, *Stat, error) {
	ok, st, _, err := c.exists(ctx, path, false)
	return ok, st, err
}

// ExistsW is Exists that also sets a one-shot watch, whether or not the node
// exists: the channel gets NodeCreated, NodeDeleted or NodeDataChanged.
func (c *Conn) ExistsW(ctx context.Context, path string) (bool, *Stat, <-chan Event, error) {
	return c.exists(ctx, path, true)
}

func (c *Conn) exists(ctx context.Context, path string, watch bool) (bool, *Stat, <-chan Event, error) {
	if err := c.start(ctx, "exists", path, false); err != nil {
		return false, nil, nil, err
	}
	r, e := c.newReq(proto.OpExists, path)
	e.Bool(watch && c.wireWatch(path, watchData))
	var ch <-chan Event
	if watch {
		ch = c.watchFor(r, watchData)
	}
	r.buf = finishFrame(e.B)
	if err := c.do(ctx, r); err != nil {
		return false, nil, nil, &OpError{Op: "exists", Path: path, Err: err}
	}
	defer c.putRequest(r)
	switch r.err {
	case nil:
		return true, newStat(&r.stat), ch, nil
	case ErrNoNode:
		return false, nil, ch, nil
	}
	return false, nil, nil, &OpError{Op: "exists", Path: path, Err: r.err}
}

// Get returns a node's data and Stat. The data is nil when the node holds
// a null buffer (created or set with nil data), and non-nil when it holds
// empty data.
func (c *Conn) Get(ctx context.Context, path string) ([]byte, *Stat, error) {
	data, st, _, err := c.get(ctx, path, false)
	return data, st, err
}

// GetW is Get that also sets a one-shot watch on the node: the channel gets
// NodeDataChanged or NodeDeleted. No watch is set if the node does not
// exist.
func (c *Conn) GetW(ctx context.Context, path string) ([]byte, *Stat, <-chan Event, error) {
	return c.get(ctx, path, true)
}

func (c *Conn) get(ctx context.Context, path string, watch bool) ([]byte, *Stat, <-chan Event, error) {
	if err := c.start(ctx, "get", path, false); err != nil {
		return nil, nil, nil, err
	}
	r, e := c.newReq(proto.OpGetData, path)
	e.Bool(watch && c.wireWatch(path, watchData))
	var ch <-chan Event
	if watch {
		ch = c.watchFor(r, watchData)
	}
	if err := c.run(ctx, "get", r, e); err != nil {
		return nil, nil, nil, err
	}
	data, st := r.data, newStat(&r.stat)
	c.putRequest(r)
	return data, st, ch, nil
}

// Set replaces a node's data if its version matches (AnyVersion for any)
// and returns the new Stat.
func (c *Conn) Set(ctx context.Context, path string, data []byte, version int32) (*Stat, error) {
	if err := c.start(ctx, "set", path, false); err != nil {
		return nil, err
	}
	if err := validateVersion(version); err != nil {
		return nil, &OpError{Op: "set", Path: path, Err: err}
	}
	r, e := c.newReq(proto.OpSetData, path)
	e.Buffer(data)
	e.Int32(version)
	if err := c.run(ctx, "set", r, e); err != nil {
		return nil, err
	}
	st := newStat(&r.stat)
	c.putRequest(r)
	return st, nil
}

// Children returns the names of a node's children (in no particular order)
// and the node's Stat.
func (c *Conn) Children(ctx context.Context, path string) ([]string, *Stat, error) {
	ch, st, _, err := c.children(ctx, path, false)
	return ch, st, err
}

// ChildrenW is Children that also sets a one-shot watch: the channel gets
// NodeChildrenChanged or NodeDeleted. No watch is set if the node does not
// exist.
func (c *Conn) ChildrenW(ctx context.Context, path string) ([]string, *Stat, <-chan Event, error) {
	return c.children(ctx, path, true)
}

func (c *Conn) children(ctx context.Context, path string, watch bool) ([]string, *Stat, <-chan Event, error) {
	if err := c.start(ctx, "children", path, false); err != nil {
		return nil, nil, nil, err
	}
	r, e := c.newReq(proto.OpGetChildren2, path)
	e.Bool(watch && c.wireWatch(path, watchChild))
	var ch <-chan Event
	if watch {
		ch = c.watchFor(r, watchChild)
	}
	if err := c.run(ctx, "children", r, e); err != nil {
		return nil, nil, nil, err
	}
	names, st := r.strs, newStat(&r.stat)
	if names == nil {
		names = []string{}
	}
	c.putRequest(r)
	return names, st, ch, nil
}

// GetACL returns a node's ACL and Stat.
func (c *Conn) GetACL(ctx context.Context, path string) ([]ACL, *Stat, error) {
	if err := c.start(ctx, "getACL", path, false); err != nil {
		return nil, nil, err
	}
	r, e := c.newReq(proto.OpGetACL, path)
	if err := c.run(ctx, "getACL", r, e); err != nil {
		return nil, nil, err
	}
	acl, st := fromProtoACL(r.acl), newStat(&r.stat)
	c.putRequest(r)
	return acl, st, nil
}

// SetACL replaces a node's ACL if its ACL version (Stat.Aversion) matches
// (AnyVersion for any).
func (c *Conn) SetACL(ctx context.Context, path string, acl []ACL, version int32) (*Stat, error) {
	if err := c.start(ctx, "setACL", path, false); err != nil {
		return nil, err
	}
	if err := validateVersion(version); err != nil {
		return nil, &OpError{Op: "setACL", Path: path, Err: err}
	}
	if err := validateACL(acl); err != nil {
		return nil, &OpError{Op: "setACL", Path: path, Err: err}
	}
	r, e := c.newReq(proto.OpSetACL, path)
	encodeACLs(&e, acl)
	e.Int32(version)
	if err := c.run(ctx, "setACL", r, e); err != nil {
		return nil, err
	}
	st := newStat(&r.stat)
	c.putRequest(r)
	return st, nil
}

// Sync waits until the server the handle is connected to has caught up with
// the leader on path, so that a read after it sees every write completed
// before it.
func (c *Conn) Sync(ctx context.Context, path string) error {
	if err := c.start(ctx, "sync", path, false); err != nil {
		return err
	}
	r, e := c.newReq(proto.OpSync, path)
	if err := c.run(ctx, "sync", r, e); err != nil {
		return err
	}
	c.putRequest(r)
	return nil
}

// AddAuth adds credentials to the session: the server checks them at once,
// and the handle sends them again on every later connection. Rejected
// credentials end the handle in AUTH_FAILED (as the server closes the
// connection) and AddAuth returns ErrAuthFailed.
func (c *Conn) AddAuth(ctx context.Context, scheme string, auth []byte) error {
	if ctx == nil {
		return &OpError{Op: "addAuth", Err: fmt.Errorf("%w: nil context", ErrInvalidArgument)}
	}
	if scheme == "" {
		return &OpError{Op: "addAuth", Err: fmt.Errorf("%w: empty scheme", ErrInvalidArgument)}
	}
	cred := Credential{Scheme: scheme, Auth: append([]byte(nil), auth...)}
	r := c.getRequest(proto.OpAuth, scheme)
	r.buf = encodeAuth(r.buf[:0], cred)
	r.cred = &cred
	if err := c.do(ctx, r); err != nil {
		return &OpError{Op: "addAuth", Path: "", Err: err}
	}
	err := r.err
	c.putRequest(r)
	if err != nil {
		return &OpError{Op: "addAuth", Err: fmt.Errorf("scheme %q: %w", scheme, err)}
	}
	return nil
}
