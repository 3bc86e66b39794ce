package zk_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/proto"
)

// TestMultiReplyWithExtraResultsIsRefusedEarly: a reply to a multi of one op
// that holds some 400,000 results (a 3.5 MiB frame, within the frame limit)
// must be refused without building them: each 9-byte result header would
// become a ~150-byte result, some 300 MiB of allocations for one frame.
func TestMultiReplyWithExtraResultsIsRefusedEarly(t *testing.T) {
	var e proto.Encoder
	e.B = make([]byte, 0, 4<<20)
	(&proto.ReplyHeader{Xid: 0}).Encode(&e)
	for len(e.B) < 3<<20+512<<10 {
		(&proto.MultiHeader{Type: proto.OpDelete}).Encode(&e)
	}
	(&proto.MultiHeader{Type: -1, Done: true, Err: -1}).Encode(&e)
	body := e.B

	hs := startHostile(t, func(n int, hc *hostileConn) {
		req, err := hc.readConnect()
		if err != nil || hc.acceptSession(req) != nil {
			return
		}
		hc.serve()
		for {
			r, ok := hc.next(waitTime)
			if !ok {
				return
			}
			if r.op != proto.OpMulti {
				hc.write(replyFrame(r.xid, 0, proto.ErrUnimplemented))
				continue
			}
			frame := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
			frame = append(frame, body...)
			binary.BigEndian.PutUint32(frame[4:], uint32(r.xid)) // the ReplyHeader's xid
			hc.write(frame)
		}
	})
	c := connect(t, hs.addr(), zk.WithSessionTimeout(20*time.Second))
	ctx := testCtx(t)
	before := totalAlloc()
	_, err := c.Multi(ctx, zk.DeleteOp{Path: "/a", Version: -1})
	alloc := totalAlloc() - before
	require.Error(t, err)
	t.Logf("Multi: %v; allocated %s", err, kib(alloc))
	require.Less(t, alloc, uint64(64<<20), "bytes allocated while refusing the reply")
}
