package proto

import "fmt"

// MultiOp is one operation of a multi (14) or multiRead (22) request. Req is
// *CreateRequest for create (1), create2 (15), createContainer (19) and
// createTTL (21, with IsTTL set); *PathVersionRequest for delete (2) and
// check (13); *SetDataRequest for setData (5); *PathWatchRequest for getData
// (4) and getChildren (8).
type MultiOp struct {
	Type int32
	Req  Record
}

// MultiRequest is a MultiOperationRecord.
type MultiRequest struct {
	Ops []MultiOp
}

func (r *MultiRequest) Encode(e *Encoder) {
	for _, op := range r.Ops {
		h := MultiHeader{Type: op.Type, Done: false, Err: -1}
		h.Encode(e)
		op.Req.Encode(e)
	}
	h := MultiHeader{Type: -1, Done: true, Err: -1}
	h.Encode(e)
}

// NewMultiOpRecord returns an empty request record for a multi sub-op type,
// or nil for a type that may not appear in a multi.
func NewMultiOpRecord(typ int32) Record {
	switch typ {
	case OpCreate, OpCreate2, OpCreateContainer:
		return &CreateRequest{}
	case OpCreateTTL:
		return &CreateRequest{IsTTL: true}
	case OpDelete, OpCheck:
		return &PathVersionRequest{}
	case OpSetData:
		return &SetDataRequest{}
	case OpGetData, OpGetChildren:
		return &PathWatchRequest{}
	}
	return nil
}

func (r *MultiRequest) Decode(d *Decoder) {
	r.Ops = r.Ops[:0]
	for d.err == nil {
		var h MultiHeader
		h.Decode(d)
		if d.err != nil || h.Done {
			return
		}
		rec := NewMultiOpRecord(h.Type)
		if rec == nil {
			d.fail(fmt.Errorf("zk: malformed multi: op type %d cannot appear in a multi", h.Type))
			return
		}
		rec.Decode(d)
		r.Ops = append(r.Ops, MultiOp{Type: h.Type, Req: rec})
	}
}

// MultiResult is one result of a multi or multiRead. Type is the result type
// the server wrote: the sub-op's type on success, -1 (OpError) on failure,
// with Err holding the code. Path is set for create (1) and create2 (15);
// Stat for create2, setData (5) and getData (4); Data for getData; Children
// for getChildren (8).
type MultiResult struct {
	Type     int32
	Err      int32
	Path     string
	Stat     Stat
	Data     []byte
	Children []string
}

// MultiResponse is the reply to a multi or multiRead.
type MultiResponse struct {
	Results []MultiResult
	// Limit, when positive, is the most results Decode accepts: a server
	// answers with one result per op, so a caller that knows how many ops it
	// sent sets it, and a reply with more fails before its results are
	// built (each 9-byte result header would otherwise become a MultiResult
	// of some 150 bytes).
	Limit int
}

func (r *MultiResponse) Encode(e *Encoder) {
	for i := range r.Results {
		res := &r.Results[i]
		h := MultiHeader{Type: res.Type, Done: false, Err: res.Err}
		if res.Type != OpError {
			h.Err = 0
		}
		h.Encode(e)
		switch res.Type {
		case OpCreate:
			e.String(res.Path)
		case OpCreate2, OpCreateContainer, OpCreateTTL:
			e.String(res.Path)
			res.Stat.Encode(e)
		case OpSetData:
			res.Stat.Encode(e)
		case OpGetData:
			e.Buffer(res.Data)
			res.Stat.Encode(e)
		case OpGetChildren:
			e.Strings(nonNil(res.Children))
		case OpError:
			e.Int32(res.Err)
		}
	}
	h := MultiHeader{Type: -1, Done: true, Err: -1}
	h.Encode(e)
}

func (r *MultiResponse) Decode(d *Decoder) {
	r.Results = r.Results[:0]
	for d.err == nil {
		var h MultiHeader
		h.Decode(d)
		if d.err != nil || h.Done {
			return
		}
		if r.Limit > 0 && len(r.Results) == r.Limit {
			d.fail(fmt.Errorf("zk: malformed multi response: more than %d results", r.Limit))
			return
		}
		res := MultiResult{Type: h.Type, Err: h.Err}
		switch h.Type {
		case OpCreate:
			res.Path = d.String()
		case OpCreate2, OpCreateContainer, OpCreateTTL:
			res.Path = d.String()
			res.Stat.Decode(d)
		case OpSetData:
			res.Stat.Decode(d)
		case OpGetData:
			res.Data = d.Buffer()
			res.Stat.Decode(d)
		case OpGetChildren:
			res.Children = d.Strings()
		case OpDelete, OpCheck:
		case OpError:
			res.Err = d.Int32()
		default:
			d.fail(fmt.Errorf("zk: malformed multi response: result type %d", h.Type))
			return
		}
		if h.Type != OpError {
			res.Err = 0
		}
		r.Results = append(r.Results, res)
	}
}
