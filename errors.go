package zk

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/zkgo/zk/internal/proto"
)

// Error is a ZooKeeper error code. There is one *Error value per code the
// server or this client can produce, so both errors.Is(err, ErrNoNode) and
// errors.As(err, &zkErr) work on what an operation returns.
type Error struct {
	// Code is the KeeperException code, as it travels on the wire.
	Code int32
	msg  string
}

func (e *Error) Error() string { return "zk: " + e.msg }

// Server error codes. Each is returned wrapped in an *OpError that names the
// operation and path.
var (
	ErrSystemError              = &Error{proto.ErrSystemError, "system error"}
	ErrRuntimeInconsistency     = &Error{proto.ErrRuntimeInconsistency, "runtime inconsistency"}
	ErrDataInconsistency        = &Error{proto.ErrDataInconsistency, "data inconsistency"}
	ErrConnectionLoss           = &Error{proto.ErrConnectionLoss, "connection lost"}
	ErrMarshallingError         = &Error{proto.ErrMarshallingError, "marshalling error"}
	ErrUnimplemented            = &Error{proto.ErrUnimplemented, "operation not implemented by the server"}
	ErrOperationTimeout         = &Error{proto.ErrOperationTimeout, "operation timeout"}
	ErrBadArguments             = &Error{proto.ErrBadArguments, "bad arguments"}
	ErrUnknownSession           = &Error{proto.ErrUnknownSession, "unknown session"}
	ErrNewConfigNoQuorum        = &Error{proto.ErrNewConfigNoQuorum, "new config has no quorum"}
	ErrReconfigInProgress       = &Error{proto.ErrReconfigInProgress, "reconfig in progress"}
	ErrAPIError                 = &Error{proto.ErrAPIError, "api error"}
	ErrNoNode                   = &Error{proto.ErrNoNode, "node does not exist"}
	ErrNoAuth                   = &Error{proto.ErrNoAuth, "not authorized"}
	ErrBadVersion               = &Error{proto.ErrBadVersion, "version conflict"}
	ErrNoChildrenForEphemerals  = &Error{proto.ErrNoChildrenForEphemerals, "ephemeral nodes may not have children"}
	ErrNodeExists               = &Error{proto.ErrNodeExists, "node already exists"}
	ErrNotEmpty                 = &Error{proto.ErrNotEmpty, "node has children"}
	ErrSessionExpired           = &Error{proto.ErrSessionExpired, "session expired"}
	ErrInvalidCallback          = &Error{proto.ErrInvalidCallback, "invalid callback"}
	ErrInvalidACL               = &Error{proto.ErrInvalidACL, "invalid ACL"}
	ErrAuthFailed               = &Error{proto.ErrAuthFailed, "authentication failed"}
	ErrSessionMoved             = &Error{proto.ErrSessionMoved, "session moved to another server"}
	ErrNotReadOnly              = &Error{proto.ErrNotReadOnly, "not allowed on a read-only server"}
	ErrEphemeralOnLocalSession  = &Error{proto.ErrEphemeralOnLocalSession, "ephemeral node on a local session"}
	ErrNoWatcher                = &Error{proto.ErrNoWatcher, "no such watcher"}
	ErrRequestTimeout           = &Error{proto.ErrRequestTimeout, "request timeout"}
	ErrReconfigDisabled         = &Error{proto.ErrReconfigDisabled, "reconfig disabled"}
	ErrSessionClosedRequireSASL = &Error{proto.ErrSessionClosedRequireSASL, "session closed: server requires SASL authentication"}
	ErrQuotaExceeded            = &Error{proto.ErrQuotaExceeded, "quota exceeded"}
	ErrThrottled                = &Error{proto.ErrThrottledOp, "operation throttled by the server"}
)

// Client-side errors.
var (
	// ErrClosed is returned by calls on a handle closed by the application.
	ErrClosed = errors.New("zk: connection closed")
	// ErrBadConnString wraps every error of a malformed connection string.
	ErrBadConnString = errors.New("zk: bad connection string")
	// ErrInvalidPath is returned for a path that is not a valid ZooKeeper
	// path; nothing is sent.
	ErrInvalidPath = errors.New("zk: invalid path")
	// ErrTooLarge is returned for a request larger than the server's default
	// jute.maxbuffer (1,048,575 bytes); nothing is sent.
	ErrTooLarge = errors.New("zk: request too large")

	// ErrReplyTooLarge is returned for a call whose reply is above the
	// handle's frame limit (WithMaxFrameSize; 4 MiB by default), a
	// getChildren of a very large node, say. The reply is read through and
	// discarded; the connection and the other calls go on. Raise the limit
	// to read it.
	ErrReplyTooLarge = errors.New("zk: reply too large")
	// ErrInvalidArgument is returned for a bad argument (version, mode, ACL,
	// TTL, nil context); nothing is sent.
	ErrInvalidArgument = errors.New("zk: invalid argument")
	// ErrProtocol is wrapped by errors that drop a connection because the
	// server sent something this client cannot accept.
	ErrProtocol = errors.New("zk: protocol error")
)

var codeErrors = func() map[int32]*Error {
	m := make(map[int32]*Error)
	for _, e := range []*Error{ErrSystemError, ErrRuntimeInconsistency, ErrDataInconsistency,
		ErrConnectionLoss, ErrMarshallingError, ErrUnimplemented, ErrOperationTimeout,
		ErrBadArguments, ErrUnknownSession, ErrNewConfigNoQuorum, ErrReconfigInProgress,
		ErrAPIError, ErrNoNode, ErrNoAuth, ErrBadVersion, ErrNoChildrenForEphemerals,
		ErrNodeExists, ErrNotEmpty, ErrSessionExpired, ErrInvalidCallback, ErrInvalidACL,
		ErrAuthFailed, ErrSessionMoved, ErrNotReadOnly, ErrEphemeralOnLocalSession,
		ErrNoWatcher, ErrRequestTimeout, ErrReconfigDisabled, ErrSessionClosedRequireSASL,
		ErrQuotaExceeded, ErrThrottled} {
		m[e.Code] = e
	}
	return m
}()

// errorForCode returns the *Error for a wire code; an unknown code gets a
// fresh *Error that still carries the code.
func errorForCode(code int32) error {
	if code == 0 {
		return nil
	}
	if e, ok := codeErrors[code]; ok {
		return e
	}
	return &Error{Code: code, msg: fmt.Sprintf("unknown error code %d", code)}
}

// OpError is the error an operation returns: the operation, the caller's
// path (without the chroot) and the cause.
type OpError struct {
	Op   string
	Path string
	Err  error
}

func (e *OpError) Error() string {
	msg := trimZK(e.Err.Error())
	if e.Path == "" {
		return "zk: " + e.Op + ": " + msg
	}
	return "zk: " + e.Op + " " + quoteIfUnprintable(e.Path) + ": " + msg
}

// quoteIfUnprintable returns s as it is, or quoted if it is not valid UTF-8
// or has a character that does not print (a control character, say): a
// caller's bad path must not put a "\r" or an escape sequence into a
// message that may go to a terminal.
func quoteIfUnprintable(s string) string {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return !strconv.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}

func (e *OpError) Unwrap() error { return e.Err }

// IsRetryable reports whether err is one after which the same call may
// succeed if repeated: a lost connection, a server-side timeout or
// throttling. A create or a versionless write that failed with
// ErrConnectionLoss may nevertheless have been applied: check before you
// repeat it.
func IsRetryable(err error) bool {
	var ze *Error
	if !errors.As(err, &ze) {
		return false
	}
	switch ze {
	case ErrConnectionLoss, ErrOperationTimeout, ErrRequestTimeout, ErrThrottled:
		return true
	}
	return false
}

// detailError is an error with its own message that still unwraps to a
// sentinel, so the message need not repeat the sentinel's "zk: " text.
type detailError struct {
	msg string
	err error
}

func (e *detailError) Error() string { return e.msg }
func (e *detailError) Unwrap() error { return e.err }

// joinedError has its own message and unwraps to several errors.
type joinedError struct {
	msg  string
	errs []error
}

func (e *joinedError) Error() string   { return e.msg }
func (e *joinedError) Unwrap() []error { return e.errs }

// trimZK drops the "zk: " that starts every message of this package, for a
// message quoted inside another.
func trimZK(msg string) string {
	if len(msg) > 4 && msg[:4] == "zk: " {
		return msg[4:]
	}
	return msg
}
