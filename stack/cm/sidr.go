package cm

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// SIDRParams are the arguments of ResolveSIDR (ib_cm_sidr_req_param).
type SIDRParams struct {
	// ServiceID is the UD service to resolve.
	ServiceID uint64
	// Path leads to the service's port; when nil the SA is asked for the
	// path to DGID.
	Path *wire.PathRecordFields
	DGID wire.GID
	// PrivateData goes in the SIDR_REQ (at most 216 bytes).
	PrivateData []byte
	// Timeout is the wait for each SIDR_REP (DefaultSIDRTimeout) and
	// Retries the retransmissions (DefaultSIDRRetries; negative: none).
	Timeout time.Duration
	Retries int
}

// SIDRReply is a successful SIDR_REP: where to send UD datagrams for the
// service.
type SIDRReply struct {
	QPN       uint32
	QKey      uint32
	ServiceID uint64
	// PrivateData is the SIDR_REP's 136-byte private data area.
	PrivateData []byte
	// DLID and SL are the path the request went along, for the address
	// handle of the UD sends.
	DLID wire.LID
	SL   uint8
}

type sidrCall struct {
	c       *CM
	id      uint32
	addr    mad.Addr
	msg     []byte
	left    int
	timeout time.Duration
	timer   emu.Timer
	gen     uint64
	done    chan struct{}
	reply   SIDRReply
	err     error
}

// +checklocks:s.c.mu
func (s *sidrCall) stopLocked() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.gen++
}

// +checklocks:s.c.mu
func (s *sidrCall) armLocked() {
	s.stopLocked()
	gen := s.gen
	s.timer = s.c.clock.AfterFunc(s.timeout, func() { s.onTimer(gen) })
}

// +checklocks:s.c.mu
func (s *sidrCall) finishLocked(r SIDRReply, err error) {
	select {
	case <-s.done:
		return
	default:
	}
	s.reply, s.err = r, err
	close(s.done)
}

func (s *sidrCall) onTimer(gen uint64) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.gen != gen || c.sidrPending[s.id] != s {
		return
	}
	if s.left > 0 {
		s.left--
		_ = c.sendLocked(s.addr, s.msg, true)
		s.armLocked()
		return
	}
	c.stats.Timeouts++
	delete(c.sidrPending, s.id)
	s.finishLocked(SIDRReply{}, fmt.Errorf("cm: sidr_req for service 0x%016x to %s: %w", wire.CMSIDRREQ(msgOf(s.msg)).ServiceID(), s.addr, ErrTimeout))
}

// ResolveSIDR asks the CM of the service's port for the QPN and Q_Key of
// UD service p.ServiceID (IBTA Vol 1 §12.11): SIDR_REQ, retransmitted on
// p.Timeout, answered by SIDR_REP. A status other than success comes back
// as a *SIDRError.
func (c *CM) ResolveSIDR(ctx context.Context, p SIDRParams) (SIDRReply, error) {
	if len(p.PrivateData) > wire.CMSIDRREQPrivateDataSize {
		return SIDRReply{}, fmt.Errorf("cm: sidr: %w: %d bytes of private data, at most %d", ErrInvalid, len(p.PrivateData), wire.CMSIDRREQPrivateDataSize)
	}
	pi, err := c.portInfo()
	if err != nil {
		return SIDRReply{}, fmt.Errorf("cm: sidr: %w", err)
	}
	var pr wire.PathRecordFields
	if p.Path != nil {
		pr = *p.Path
	} else if pr, err = c.QueryPath(ctx, p.DGID); err != nil {
		return SIDRReply{}, fmt.Errorf("cm: sidr: %w", err)
	}
	fillPath(&pr, pi)
	if p.Timeout <= 0 {
		p.Timeout = DefaultSIDRTimeout
	}
	switch {
	case p.Retries == 0:
		p.Retries = DefaultSIDRRetries
	case p.Retries < 0:
		p.Retries = 0
	}
	s := &sidrCall{c: c, addr: mad.Addr{LID: pr.DLID, SL: pr.SL, QPN: 1, PKey: uint16(pr.PKey)}, left: p.Retries,
		timeout: p.Timeout, done: make(chan struct{})}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return SIDRReply{}, fmt.Errorf("cm: sidr: %w", ErrClosed)
	}
	for s.id == 0 || c.sidrPending[s.id] != nil {
		c.nextTID++
		s.id = c.nextTID
	}
	s.msg = newMsg(wire.AttrCMSIDRREQ, c.newTIDLocked(s.id))
	wire.CMSIDRREQ(msgOf(s.msg)).Encode(&wire.CMSIDRREQFields{RequestID: s.id, PKey: pr.PKey, ServiceID: p.ServiceID, PrivateData: p.PrivateData})
	c.sidrPending[s.id] = s
	err = c.sendLocked(s.addr, s.msg, false)
	s.armLocked()
	c.mu.Unlock()
	if err != nil {
		c.mu.Lock()
		s.stopLocked()
		delete(c.sidrPending, s.id)
		c.mu.Unlock()
		return SIDRReply{}, fmt.Errorf("cm: sidr: %w", err)
	}
	select {
	case <-s.done:
	case <-ctx.Done():
		c.mu.Lock()
		s.stopLocked()
		if c.sidrPending[s.id] == s {
			delete(c.sidrPending, s.id)
		}
		s.finishLocked(SIDRReply{}, fmt.Errorf("cm: sidr: %w", ctx.Err()))
		c.mu.Unlock()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.err == nil {
		s.reply.DLID, s.reply.SL = pr.DLID, pr.SL
	}
	return s.reply, s.err
}

// onSIDRREP completes a ResolveSIDR.
func (c *CM) onSIDRREP(rep wire.CMSIDRREP) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sidrPending[rep.RequestID()]
	if s == nil {
		c.stats.Unmatched++
		return
	}
	s.stopLocked()
	delete(c.sidrPending, s.id)
	if st := rep.Status(); st != wire.CMSIDRSuccess {
		s.finishLocked(SIDRReply{}, &SIDRError{Status: st, AdditionalInfo: append([]byte(nil), rep.AdditionalInfo()...),
			PrivateData: append([]byte(nil), rep.PrivateData()...)})
		return
	}
	s.finishLocked(SIDRReply{QPN: rep.QPN(), QKey: rep.QKey(), ServiceID: rep.ServiceID(),
		PrivateData: append([]byte(nil), rep.PrivateData()...)}, nil)
}

// SIDRRequest is a SIDR_REQ handed to a ListenSIDR handler.
type SIDRRequest struct {
	c        *CM
	req      wire.CMSIDRREQFields
	from     mad.Addr
	tid      uint64
	release  func()
	answered atomic.Bool
}

// ServiceID is the service asked for.
func (r *SIDRRequest) ServiceID() uint64 { return r.req.ServiceID }

// PKey is the partition the requester will send in.
func (r *SIDRRequest) PKey() wire.PKey { return r.req.PKey }

// PrivateData is the SIDR_REQ's 216-byte private data area.
func (r *SIDRRequest) PrivateData() []byte { return r.req.PrivateData }

// Source is where the SIDR_REQ came from.
func (r *SIDRRequest) Source() mad.Addr { return r.from }

// Context is cancelled when the CM closes.
func (r *SIDRRequest) Context() context.Context { return r.c.ctx }

// Reply answers with the UD QP of the service and its Q_Key, and private
// data (at most 136 bytes).
func (r *SIDRRequest) Reply(qpn, qkey uint32, privateData []byte) error {
	return r.send(wire.CMSIDRREPFields{Status: wire.CMSIDRSuccess, QPN: qpn, QKey: qkey, PrivateData: privateData})
}

// Reject answers with a status other than success, additional
// information (at most 72 bytes) and private data (at most 136).
func (r *SIDRRequest) Reject(status wire.CMSIDRStatus, info, privateData []byte) error {
	if status == wire.CMSIDRSuccess {
		return fmt.Errorf("cm: sidr reject: %w: status success", ErrInvalid)
	}
	return r.send(wire.CMSIDRREPFields{Status: status, AdditionalInfo: info, PrivateData: privateData})
}

func (r *SIDRRequest) send(f wire.CMSIDRREPFields) error {
	if len(f.PrivateData) > wire.CMSIDRREPPrivateDataSize || len(f.AdditionalInfo) > wire.CMAdditionalInfoSize {
		return fmt.Errorf("cm: sidr_rep: %w: private data %d bytes, additional info %d bytes", ErrInvalid, len(f.PrivateData), len(f.AdditionalInfo))
	}
	if !r.answered.CompareAndSwap(false, true) {
		return fmt.Errorf("cm: sidr_rep: already answered: %w", ErrState)
	}
	defer r.release()
	f.RequestID, f.ServiceID = r.req.RequestID, r.req.ServiceID
	c := r.c
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.sidrServing, sidrKey{r.from.LID, r.req.RequestID})
	return c.sendSIDRREPLocked(r.from.ReplyAddr(), r.tid, &f)
}

// +checklocks:c.mu
func (c *CM) sendSIDRREPLocked(to mad.Addr, tid uint64, f *wire.CMSIDRREPFields) error {
	m := newMsg(wire.AttrCMSIDRREP, tid)
	wire.CMSIDRREP(msgOf(m)).Encode(f)
	return c.sendLocked(to, m, false)
}

// onSIDRREQ hands a SIDR_REQ to its listener, or answers that the service
// is not supported.
func (c *CM) onSIDRREQ(from mad.Addr, tid uint64, req wire.CMSIDRREQ) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := req.Fields()
	key := sidrKey{from.LID, f.RequestID}
	if c.sidrServing[key] {
		// A retransmission while the handler decides (the Linux CM's
		// remote_sidr_table drops it too).
		c.stats.RxDuplicates[AttrIndex(wire.AttrCMSIDRREQ)]++
		return
	}
	l := c.sidrListeners[f.ServiceID]
	if l == nil {
		_ = c.sendSIDRREPLocked(from.ReplyAddr(), tid, &wire.CMSIDRREPFields{RequestID: f.RequestID,
			Status: wire.CMSIDRUnsupported, ServiceID: f.ServiceID})
		return
	}
	c.sidrServing[key] = true
	r := &SIDRRequest{c: c, req: f, from: from, tid: tid, release: c.hold()}
	if !c.goHandlerLocked(func() {
		defer r.release()
		l.sidrH(r)
		if !r.answered.Load() {
			_ = r.Reject(wire.CMSIDRReject, nil, nil)
		}
	}) {
		r.release()
	}
}
