package zktest

// Opcodes, for FailNext: the request types of the ZooKeeper protocol.
const (
	OpCreate               int32 = 1
	OpDelete               int32 = 2
	OpExists               int32 = 3
	OpGetData              int32 = 4
	OpSetData              int32 = 5
	OpGetACL               int32 = 6
	OpSetACL               int32 = 7
	OpGetChildren          int32 = 8
	OpSync                 int32 = 9
	OpPing                 int32 = 11
	OpGetChildren2         int32 = 12
	OpCheck                int32 = 13 // check outside a multi; inside one it is not a request of its own
	OpMulti                int32 = 14
	OpCreate2              int32 = 15
	OpReconfig             int32 = 16
	OpCheckWatches         int32 = 17
	OpRemoveWatches        int32 = 18
	OpCreateContainer      int32 = 19
	OpDeleteContainer      int32 = 20
	OpCreateTTL            int32 = 21
	OpMultiRead            int32 = 22
	OpAuth                 int32 = 100
	OpSetWatches           int32 = 101
	OpSASL                 int32 = 102
	OpGetEphemerals        int32 = 103
	OpGetAllChildrenNumber int32 = 104
	OpSetWatches2          int32 = 105
	OpAddWatch             int32 = 106
	OpWhoAmI               int32 = 107
	OpCloseSession         int32 = -11
)

// Error codes a server can put in a reply, for FailNext (KeeperException
// codes).
const (
	CodeRuntimeInconsistency     int32 = -2
	CodeDataInconsistency        int32 = -3
	CodeConnectionLoss           int32 = -4
	CodeMarshallingError         int32 = -5
	CodeUnimplemented            int32 = -6
	CodeOperationTimeout         int32 = -7
	CodeBadArguments             int32 = -8
	CodeNewConfigNoQuorum        int32 = -13
	CodeReconfigInProgress       int32 = -14
	CodeNoNode                   int32 = -101
	CodeNoAuth                   int32 = -102
	CodeBadVersion               int32 = -103
	CodeNoChildrenForEphemerals  int32 = -108
	CodeNodeExists               int32 = -110
	CodeNotEmpty                 int32 = -111
	CodeSessionExpired           int32 = -112
	CodeInvalidACL               int32 = -114
	CodeAuthFailed               int32 = -115
	CodeSessionMoved             int32 = -118
	CodeNotReadOnly              int32 = -119
	CodeEphemeralOnLocalSession  int32 = -120
	CodeNoWatcher                int32 = -121
	CodeReconfigDisabled         int32 = -123
	CodeSessionClosedRequireSASL int32 = -124
	CodeQuotaExceeded            int32 = -125
	CodeThrottledOp              int32 = -127
)
