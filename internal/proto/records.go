package proto

// Id is a jute Id: an authentication scheme and an identity within it.
type Id struct {
	Scheme string
	ID     string
}

// ACL is one access-control entry.
type ACL struct {
	Perms int32
	Id    Id
}

// Stat is a znode's metadata, 68 bytes on the wire.
type Stat struct {
	Czxid          int64
	Mzxid          int64
	Ctime          int64
	Mtime          int64
	Version        int32
	Cversion       int32
	Aversion       int32
	EphemeralOwner int64
	DataLength     int32
	NumChildren    int32
	Pzxid          int64
}

// StatLen is the encoded size of a Stat.
const StatLen = 68

func (s *Stat) Encode(e *Encoder) {
	e.Int64(s.Czxid)
	e.Int64(s.Mzxid)
	e.Int64(s.Ctime)
	e.Int64(s.Mtime)
	e.Int32(s.Version)
	e.Int32(s.Cversion)
	e.Int32(s.Aversion)
	e.Int64(s.EphemeralOwner)
	e.Int32(s.DataLength)
	e.Int32(s.NumChildren)
	e.Int64(s.Pzxid)
}

func (s *Stat) Decode(d *Decoder) {
	s.Czxid = d.Int64()
	s.Mzxid = d.Int64()
	s.Ctime = d.Int64()
	s.Mtime = d.Int64()
	s.Version = d.Int32()
	s.Cversion = d.Int32()
	s.Aversion = d.Int32()
	s.EphemeralOwner = d.Int64()
	s.DataLength = d.Int32()
	s.NumChildren = d.Int32()
	s.Pzxid = d.Int64()
}

// EncodeACLs writes a vector<ACL>; nil is written as -1.
func EncodeACLs(e *Encoder, acls []ACL) {
	if acls == nil {
		e.Int32(-1)
		return
	}
	e.Int32(int32(len(acls)))
	for _, a := range acls {
		e.Int32(a.Perms)
		e.String(a.Id.Scheme)
		e.String(a.Id.ID)
	}
}

// DecodeACLs reads a vector<ACL>.
func DecodeACLs(d *Decoder) []ACL {
	n, null := d.length("vector")
	if null {
		return nil
	}
	if n > d.Remaining()/12 { // perms + two length prefixes at least
		d.fail(ErrShortBuffer)
		return nil
	}
	out := make([]ACL, n)
	for i := range out {
		out[i].Perms = d.Int32()
		out[i].Id.Scheme = d.String()
		out[i].Id.ID = d.String()
	}
	if d.err != nil {
		return nil
	}
	return out
}

// ConnectRequest is the client's first frame.
type ConnectRequest struct {
	ProtocolVersion int32
	LastZxidSeen    int64
	TimeOut         int32
	SessionID       int64
	Passwd          []byte
	ReadOnly        bool
	// HasReadOnly is set by Decode when the optional trailing readOnly byte
	// was present. Encode always writes it.
	HasReadOnly bool
}

func (r *ConnectRequest) Encode(e *Encoder) {
	e.Int32(r.ProtocolVersion)
	e.Int64(r.LastZxidSeen)
	e.Int32(r.TimeOut)
	e.Int64(r.SessionID)
	e.Buffer(r.Passwd)
	e.Bool(r.ReadOnly)
}

func (r *ConnectRequest) Decode(d *Decoder) {
	r.ProtocolVersion = d.Int32()
	r.LastZxidSeen = d.Int64()
	r.TimeOut = d.Int32()
	r.SessionID = d.Int64()
	r.Passwd = d.Buffer()
	r.HasReadOnly = d.err == nil && d.Remaining() > 0
	if r.HasReadOnly {
		r.ReadOnly = d.Bool()
	}
}

// ConnectResponse is the server's first frame.
type ConnectResponse struct {
	ProtocolVersion int32
	TimeOut         int32
	SessionID       int64
	Passwd          []byte
	ReadOnly        bool
	// OmitReadOnly makes Encode leave out the trailing readOnly byte, as a
	// server does for a client that did not send one.
	OmitReadOnly bool
}

func (r *ConnectResponse) Encode(e *Encoder) {
	e.Int32(r.ProtocolVersion)
	e.Int32(r.TimeOut)
	e.Int64(r.SessionID)
	e.Buffer(r.Passwd)
	if !r.OmitReadOnly {
		e.Bool(r.ReadOnly)
	}
}

func (r *ConnectResponse) Decode(d *Decoder) {
	r.ProtocolVersion = d.Int32()
	r.TimeOut = d.Int32()
	r.SessionID = d.Int64()
	r.Passwd = d.Buffer()
	if d.err == nil && d.Remaining() > 0 {
		r.ReadOnly = d.Bool()
	} else {
		r.OmitReadOnly = true
	}
}

// RequestHeader precedes every request after the handshake.
type RequestHeader struct {
	Xid    int32
	OpCode int32
}

func (h *RequestHeader) Encode(e *Encoder) { e.Int32(h.Xid); e.Int32(h.OpCode) }
func (h *RequestHeader) Decode(d *Decoder) { h.Xid = d.Int32(); h.OpCode = d.Int32() }

// ReplyHeader precedes every reply after the handshake.
type ReplyHeader struct {
	Xid  int32
	Zxid int64
	Err  int32
}

func (h *ReplyHeader) Encode(e *Encoder) { e.Int32(h.Xid); e.Int64(h.Zxid); e.Int32(h.Err) }
func (h *ReplyHeader) Decode(d *Decoder) { h.Xid = d.Int32(); h.Zxid = d.Int64(); h.Err = d.Int32() }

// CreateRequest is the body of create, create2 and createContainer, and of
// createTTL when TTL is set (TTL is written only when IsTTL is true).
type CreateRequest struct {
	Path  string
	Data  []byte
	ACL   []ACL
	Flags int32
	// TTL in milliseconds; written and read only when IsTTL.
	TTL   int64
	IsTTL bool
}

func (r *CreateRequest) Encode(e *Encoder) {
	e.String(r.Path)
	e.Buffer(r.Data)
	EncodeACLs(e, r.ACL)
	e.Int32(r.Flags)
	if r.IsTTL {
		e.Int64(r.TTL)
	}
}

func (r *CreateRequest) Decode(d *Decoder) {
	r.Path = d.String()
	r.Data = d.Buffer()
	r.ACL = DecodeACLs(d)
	r.Flags = d.Int32()
	if r.IsTTL {
		r.TTL = d.Int64()
	}
}

// PathVersionRequest is DeleteRequest, CheckVersionRequest: a path and a version.
type PathVersionRequest struct {
	Path    string
	Version int32
}

func (r *PathVersionRequest) Encode(e *Encoder) { e.String(r.Path); e.Int32(r.Version) }
func (r *PathVersionRequest) Decode(d *Decoder) { r.Path = d.String(); r.Version = d.Int32() }

// PathWatchRequest is ExistsRequest, GetDataRequest, GetChildrenRequest and
// GetChildren2Request: a path and a watch flag.
type PathWatchRequest struct {
	Path  string
	Watch bool
}

func (r *PathWatchRequest) Encode(e *Encoder) { e.String(r.Path); e.Bool(r.Watch) }
func (r *PathWatchRequest) Decode(d *Decoder) { r.Path = d.String(); r.Watch = d.Bool() }

// PathRequest is GetACLRequest, SyncRequest, GetEphemeralsRequest and
// GetAllChildrenNumberRequest: just a path; it is also SyncResponse and
// CreateResponse.
type PathRequest struct {
	Path string
}

func (r *PathRequest) Encode(e *Encoder) { e.String(r.Path) }
func (r *PathRequest) Decode(d *Decoder) { r.Path = d.String() }

// SetDataRequest sets a node's data.
type SetDataRequest struct {
	Path    string
	Data    []byte
	Version int32
}

func (r *SetDataRequest) Encode(e *Encoder) { e.String(r.Path); e.Buffer(r.Data); e.Int32(r.Version) }
func (r *SetDataRequest) Decode(d *Decoder) {
	r.Path = d.String()
	r.Data = d.Buffer()
	r.Version = d.Int32()
}

// SetACLRequest sets a node's ACL; Version is compared with aversion.
type SetACLRequest struct {
	Path    string
	ACL     []ACL
	Version int32
}

func (r *SetACLRequest) Encode(e *Encoder) {
	e.String(r.Path)
	EncodeACLs(e, r.ACL)
	e.Int32(r.Version)
}
func (r *SetACLRequest) Decode(d *Decoder) {
	r.Path = d.String()
	r.ACL = DecodeACLs(d)
	r.Version = d.Int32()
}

// ReconfigRequest changes the ensemble membership.
type ReconfigRequest struct {
	JoiningServers string
	LeavingServers string
	NewMembers     string
	CurConfigID    int64
}

// Encode writes an empty argument as null: the server tells an
// incremental reconfig from a wholesale one by which arguments are null.
func (r *ReconfigRequest) Encode(e *Encoder) {
	for _, s := range []string{r.JoiningServers, r.LeavingServers, r.NewMembers} {
		if s == "" {
			e.Int32(-1)
		} else {
			e.String(s)
		}
	}
	e.Int64(r.CurConfigID)
}

func (r *ReconfigRequest) Decode(d *Decoder) {
	r.JoiningServers = d.String()
	r.LeavingServers = d.String()
	r.NewMembers = d.String()
	r.CurConfigID = d.Int64()
}

// PathTypeRequest is CheckWatchesRequest, RemoveWatchesRequest (Type is a
// WatcherType) and AddWatchRequest (Type is an AddWatch mode).
type PathTypeRequest struct {
	Path string
	Type int32
}

func (r *PathTypeRequest) Encode(e *Encoder) { e.String(r.Path); e.Int32(r.Type) }
func (r *PathTypeRequest) Decode(d *Decoder) { r.Path = d.String(); r.Type = d.Int32() }

// AuthPacket adds credentials to a connection.
type AuthPacket struct {
	Type   int32
	Scheme string
	Auth   []byte
}

func (r *AuthPacket) Encode(e *Encoder) { e.Int32(r.Type); e.String(r.Scheme); e.Buffer(r.Auth) }
func (r *AuthPacket) Decode(d *Decoder) {
	r.Type = d.Int32()
	r.Scheme = d.String()
	r.Auth = d.Buffer()
}

// SetWatches re-registers watches after a reconnect. With V2 set it is
// SetWatches2 and carries the persistent lists too.
type SetWatches struct {
	RelativeZxid        int64
	DataWatches         []string
	ExistWatches        []string
	ChildWatches        []string
	PersistentWatches   []string
	PersistentRecursive []string
	V2                  bool
}

func (r *SetWatches) Encode(e *Encoder) {
	e.Int64(r.RelativeZxid)
	e.Strings(nonNil(r.DataWatches))
	e.Strings(nonNil(r.ExistWatches))
	e.Strings(nonNil(r.ChildWatches))
	if r.V2 {
		e.Strings(nonNil(r.PersistentWatches))
		e.Strings(nonNil(r.PersistentRecursive))
	}
}

func (r *SetWatches) Decode(d *Decoder) {
	r.RelativeZxid = d.Int64()
	r.DataWatches = d.Strings()
	r.ExistWatches = d.Strings()
	r.ChildWatches = d.Strings()
	if r.V2 {
		r.PersistentWatches = d.Strings()
		r.PersistentRecursive = d.Strings()
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// CreateResponse (path only) and Create2Response (path and stat, when
// HasStat).
type CreateResponse struct {
	Path    string
	Stat    Stat
	HasStat bool
}

func (r *CreateResponse) Encode(e *Encoder) {
	e.String(r.Path)
	if r.HasStat {
		r.Stat.Encode(e)
	}
}

func (r *CreateResponse) Decode(d *Decoder) {
	r.Path = d.String()
	if r.HasStat {
		r.Stat.Decode(d)
	}
}

// StatResponse is ExistsResponse, SetDataResponse and SetACLResponse.
type StatResponse struct {
	Stat Stat
}

func (r *StatResponse) Encode(e *Encoder) { r.Stat.Encode(e) }
func (r *StatResponse) Decode(d *Decoder) { r.Stat.Decode(d) }

// GetDataResponse carries data and stat; also the reply to reconfig.
type GetDataResponse struct {
	Data []byte
	Stat Stat
}

func (r *GetDataResponse) Encode(e *Encoder) { e.Buffer(r.Data); r.Stat.Encode(e) }
func (r *GetDataResponse) Decode(d *Decoder) { r.Data = d.Buffer(); r.Stat.Decode(d) }

// GetACLResponse carries an ACL and the node's stat.
type GetACLResponse struct {
	ACL  []ACL
	Stat Stat
}

func (r *GetACLResponse) Encode(e *Encoder) { EncodeACLs(e, r.ACL); r.Stat.Encode(e) }
func (r *GetACLResponse) Decode(d *Decoder) { r.ACL = DecodeACLs(d); r.Stat.Decode(d) }

// ChildrenResponse is GetChildrenResponse, or GetChildren2Response with a
// stat when HasStat. It is also GetEphemeralsResponse (no stat).
type ChildrenResponse struct {
	Children []string
	Stat     Stat
	HasStat  bool
}

func (r *ChildrenResponse) Encode(e *Encoder) {
	e.Strings(nonNil(r.Children))
	if r.HasStat {
		r.Stat.Encode(e)
	}
}

func (r *ChildrenResponse) Decode(d *Decoder) {
	r.Children = d.Strings()
	if r.HasStat {
		r.Stat.Decode(d)
	}
}

// IntResponse is GetAllChildrenNumberResponse and ErrorResponse.
type IntResponse struct {
	Value int32
}

func (r *IntResponse) Encode(e *Encoder) { e.Int32(r.Value) }
func (r *IntResponse) Decode(d *Decoder) { r.Value = d.Int32() }

// ClientInfo is one entry of a whoAmI reply.
type ClientInfo struct {
	AuthScheme string
	User       string
}

// WhoAmIResponse lists the identities of a connection.
type WhoAmIResponse struct {
	Info []ClientInfo
}

func (r *WhoAmIResponse) Encode(e *Encoder) {
	e.Int32(int32(len(r.Info)))
	for _, c := range r.Info {
		e.String(c.AuthScheme)
		e.String(c.User)
	}
}

func (r *WhoAmIResponse) Decode(d *Decoder) {
	n, null := d.length("vector")
	if null {
		return
	}
	if n > d.Remaining()/8 {
		d.fail(ErrShortBuffer)
		return
	}
	r.Info = make([]ClientInfo, n)
	for i := range r.Info {
		r.Info[i].AuthScheme = d.String()
		r.Info[i].User = d.String()
	}
}

// WatcherEvent is the body of a notification (xid -1).
type WatcherEvent struct {
	Type  int32
	State int32
	Path  string
}

func (r *WatcherEvent) Encode(e *Encoder) { e.Int32(r.Type); e.Int32(r.State); e.String(r.Path) }
func (r *WatcherEvent) Decode(d *Decoder) {
	r.Type = d.Int32()
	r.State = d.Int32()
	r.Path = d.String()
}

// MultiHeader precedes each op and result of a multi.
type MultiHeader struct {
	Type int32
	Done bool
	Err  int32
}

func (h *MultiHeader) Encode(e *Encoder) { e.Int32(h.Type); e.Bool(h.Done); e.Int32(h.Err) }
func (h *MultiHeader) Decode(d *Decoder) { h.Type = d.Int32(); h.Done = d.Bool(); h.Err = d.Int32() }

// SASLToken is the body of a SASL request (GetSASLRequest) and of its
// reply (SetSASLResponse): one token.
type SASLToken struct {
	Token []byte
}

func (r *SASLToken) Encode(e *Encoder) { e.Buffer(r.Token) }
func (r *SASLToken) Decode(d *Decoder) { r.Token = d.Buffer() }
