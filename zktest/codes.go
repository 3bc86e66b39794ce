package zktest

import "github.com/zkgo/zk/internal/proto"

// Opcodes, for FailNext: the request types of the ZooKeeper protocol.
const (
	OpCreate               int32 = proto.OpCreate
	OpDelete               int32 = proto.OpDelete
	OpExists               int32 = proto.OpExists
	OpGetData              int32 = proto.OpGetData
	OpSetData              int32 = proto.OpSetData
	OpGetACL               int32 = proto.OpGetACL
	OpSetACL               int32 = proto.OpSetACL
	OpGetChildren          int32 = proto.OpGetChildren
	OpSync                 int32 = proto.OpSync
	OpPing                 int32 = proto.OpPing
	OpGetChildren2         int32 = proto.OpGetChildren2
	OpCheck                int32 = proto.OpCheck // check outside a multi; inside one it is not a request of its own
	OpMulti                int32 = proto.OpMulti
	OpCreate2              int32 = proto.OpCreate2
	OpReconfig             int32 = proto.OpReconfig
	OpCheckWatches         int32 = proto.OpCheckWatches
	OpRemoveWatches        int32 = proto.OpRemoveWatches
	OpCreateContainer      int32 = proto.OpCreateContainer
	OpDeleteContainer      int32 = proto.OpDeleteContainer
	OpCreateTTL            int32 = proto.OpCreateTTL
	OpMultiRead            int32 = proto.OpMultiRead
	OpAuth                 int32 = proto.OpAuth
	OpSetWatches           int32 = proto.OpSetWatches
	OpSASL                 int32 = proto.OpSASL
	OpGetEphemerals        int32 = proto.OpGetEphemerals
	OpGetAllChildrenNumber int32 = proto.OpGetAllChildrenNumber
	OpSetWatches2          int32 = proto.OpSetWatches2
	OpAddWatch             int32 = proto.OpAddWatch
	OpWhoAmI               int32 = proto.OpWhoAmI
	OpCloseSession         int32 = proto.OpCloseSession
)

// Error codes a server can put in a reply, for FailNext (KeeperException
// codes).
const (
	CodeRuntimeInconsistency     int32 = proto.ErrRuntimeInconsistency
	CodeDataInconsistency        int32 = proto.ErrDataInconsistency
	CodeConnectionLoss           int32 = proto.ErrConnectionLoss
	CodeMarshallingError         int32 = proto.ErrMarshallingError
	CodeUnimplemented            int32 = proto.ErrUnimplemented
	CodeOperationTimeout         int32 = proto.ErrOperationTimeout
	CodeBadArguments             int32 = proto.ErrBadArguments
	CodeNewConfigNoQuorum        int32 = proto.ErrNewConfigNoQuorum
	CodeReconfigInProgress       int32 = proto.ErrReconfigInProgress
	CodeNoNode                   int32 = proto.ErrNoNode
	CodeNoAuth                   int32 = proto.ErrNoAuth
	CodeBadVersion               int32 = proto.ErrBadVersion
	CodeNoChildrenForEphemerals  int32 = proto.ErrNoChildrenForEphemerals
	CodeNodeExists               int32 = proto.ErrNodeExists
	CodeNotEmpty                 int32 = proto.ErrNotEmpty
	CodeSessionExpired           int32 = proto.ErrSessionExpired
	CodeInvalidACL               int32 = proto.ErrInvalidACL
	CodeAuthFailed               int32 = proto.ErrAuthFailed
	CodeSessionMoved             int32 = proto.ErrSessionMoved
	CodeNotReadOnly              int32 = proto.ErrNotReadOnly
	CodeEphemeralOnLocalSession  int32 = proto.ErrEphemeralOnLocalSession
	CodeNoWatcher                int32 = proto.ErrNoWatcher
	CodeReconfigDisabled         int32 = proto.ErrReconfigDisabled
	CodeSessionClosedRequireSASL int32 = proto.ErrSessionClosedRequireSASL
	CodeQuotaExceeded            int32 = proto.ErrQuotaExceeded
	CodeThrottledOp              int32 = proto.ErrThrottledOp
)
