package zk

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/zkgo/zk/internal/proto"
)

// Permission bits of an ACL entry.
const (
	PermRead   = proto.PermRead
	PermWrite  = proto.PermWrite
	PermCreate = proto.PermCreate
	PermDelete = proto.PermDelete
	PermAdmin  = proto.PermAdmin
	PermAll    = proto.PermAll
)

// ACL is one access-control entry: permissions for an identity within a
// scheme.
type ACL struct {
	Perms  int32
	Scheme string
	ID     string
}

// WorldACL gives perms to everyone (world:anyone).
func WorldACL(perms int32) []ACL { return []ACL{{Perms: perms, Scheme: "world", ID: "anyone"}} }

// AuthACL gives perms to every identity the connection authenticated with
// (the server fills them in; it refuses the ACL if there are none).
func AuthACL(perms int32) []ACL { return []ACL{{Perms: perms, Scheme: "auth", ID: ""}} }

// DigestACL gives perms to a digest user, computing the id the server
// stores: user:base64(sha1("user:password")).
func DigestACL(perms int32, user, password string) []ACL {
	sum := sha1.Sum([]byte(user + ":" + password))
	return []ACL{{Perms: perms, Scheme: "digest", ID: user + ":" + base64.StdEncoding.EncodeToString(sum[:])}}
}

// The well-known ACLs.
var (
	// OpenACL gives every permission to everyone (OPEN_ACL_UNSAFE).
	OpenACL = WorldACL(PermAll)
	// CreatorAllACL gives every permission to the creator's authenticated
	// identities (CREATOR_ALL_ACL).
	CreatorAllACL = AuthACL(PermAll)
	// ReadACL lets everyone read (READ_ACL_UNSAFE).
	ReadACL = WorldACL(PermRead)
)

func validateACL(acl []ACL) error {
	if len(acl) == 0 {
		return fmt.Errorf("%w: empty ACL list", ErrInvalidACL)
	}
	for _, a := range acl {
		if a.Perms&^PermAll != 0 {
			return fmt.Errorf("%w: permissions 0x%x outside 0x1f", ErrInvalidACL, a.Perms)
		}
		if a.Scheme == "" {
			return fmt.Errorf("%w: ACL entry with an empty scheme", ErrInvalidACL)
		}
	}
	return nil
}

func toProtoACL(acl []ACL) []proto.ACL {
	out := make([]proto.ACL, len(acl))
	for i, a := range acl {
		out[i] = proto.ACL{Perms: a.Perms, Id: proto.Id{Scheme: a.Scheme, ID: a.ID}}
	}
	return out
}

func fromProtoACL(acl []proto.ACL) []ACL {
	out := make([]ACL, len(acl))
	for i, a := range acl {
		out[i] = ACL{Perms: a.Perms, Scheme: a.Id.Scheme, ID: a.Id.ID}
	}
	return out
}

// Stat is a znode's metadata.
type Stat struct {
	Czxid          int64 // zxid of the create
	Mzxid          int64 // zxid of the last data change
	Ctime          int64 // create time, ms since the epoch
	Mtime          int64 // last data change, ms since the epoch
	Version        int32 // data version
	Cversion       int32 // child list version
	Aversion       int32 // ACL version
	EphemeralOwner int64 // owning session of an ephemeral node, else 0
	DataLength     int32
	NumChildren    int32
	Pzxid          int64 // zxid of the last child list change
}

func newStat(s *proto.Stat) *Stat {
	st := Stat(*s)
	return &st
}

// CreateMode is the kind of node Create makes.
type CreateMode int32

const (
	// CreatePersistent makes a node that lives until deleted.
	CreatePersistent CreateMode = CreateMode(proto.FlagPersistent)
	// CreateEphemeral makes a node deleted when the session ends.
	CreateEphemeral CreateMode = CreateMode(proto.FlagEphemeral)
	// CreatePersistentSequential appends a 10-digit sequence number.
	CreatePersistentSequential CreateMode = CreateMode(proto.FlagPersistentSequential)
	// CreateEphemeralSequential is ephemeral and sequential.
	CreateEphemeralSequential CreateMode = CreateMode(proto.FlagEphemeralSequential)
	// CreateContainer makes a node the server deletes once its last child
	// is gone (3.5.1+).
	CreateContainer CreateMode = CreateMode(proto.FlagContainer)
	// CreatePersistentTTL makes a node deleted when it has no children and
	// was not modified for its TTL (CreateTTL; servers with
	// extendedTypesEnabled).
	CreatePersistentTTL CreateMode = CreateMode(proto.FlagPersistentWithTTL)
	// CreatePersistentSequentialTTL is CreatePersistentTTL, sequential.
	CreatePersistentSequentialTTL CreateMode = CreateMode(proto.FlagPersistentSequentialWithTTL)
)

func (m CreateMode) String() string {
	switch m {
	case CreatePersistent:
		return "PERSISTENT"
	case CreateEphemeral:
		return "EPHEMERAL"
	case CreatePersistentSequential:
		return "PERSISTENT_SEQUENTIAL"
	case CreateEphemeralSequential:
		return "EPHEMERAL_SEQUENTIAL"
	case CreateContainer:
		return "CONTAINER"
	case CreatePersistentTTL:
		return "PERSISTENT_WITH_TTL"
	case CreatePersistentSequentialTTL:
		return "PERSISTENT_SEQUENTIAL_WITH_TTL"
	}
	return fmt.Sprintf("CreateMode(%d)", int32(m))
}

func (m CreateMode) sequential() bool {
	return m == CreatePersistentSequential || m == CreateEphemeralSequential || m == CreatePersistentSequentialTTL
}

func (m CreateMode) ttl() bool { return m == CreatePersistentTTL || m == CreatePersistentSequentialTTL }

func (m CreateMode) valid() bool { return m >= CreatePersistent && m <= CreatePersistentSequentialTTL }

// validateTTL checks a TTL against the server's range (1 ms to 2^40-1 ms).
func validateTTL(ttl time.Duration) error {
	ms := ttl.Milliseconds()
	if ms < 1 || ms > proto.MaxTTL {
		return fmt.Errorf("%w: TTL %v outside 1ms..%dms", ErrInvalidArgument, ttl, int64(proto.MaxTTL))
	}
	return nil
}
