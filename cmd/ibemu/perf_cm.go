package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/cm"
	"github.com/ibemu/ibemu/stack/mad"
)

// -R: the QPs connect through the communication manager (stack/cm) of
// each side's port, as perftest's do through rdma_cm: an RC QP with REQ,
// REP and RTU on the fabric (QP1 MADs that cross the switches, count in
// the PMAs and show in captures), a UD QP with SIDR_REQ and SIDR_REP, and
// at the end the RC connections go down with DREQ and DREP (rdma_disconnect).
// The CM moves the RC QPs through INIT, RTR and RTS with what REQ and REP
// agree: starting PSNs, path MTU, responder resources and initiator depth,
// retry counts (--retry_count) and the local ACK timeout of the path.
//
// As perftest over rdma_cm, the service is port -p of rdma_cm's TCP
// port space (UDP for UD), and a REQ or SIDR_REQ starts its private data
// with rdma_cm's IP CM header. ibemu perf configures no IPoIB interfaces,
// so the header's addresses are the ones each port's interface would
// have, IPv6 link-local from the port GUID (fe80::, the GUID with its
// universal/local bit flipped, RFC 4391), and no address is resolved:
// the in-process run knows the peer's LID and GID, and the two-process
// run learns them over the out-of-band channel. The route is the SA's
// PathRecord in two processes, where a subnet manager runs (as
// rdma_resolve_route asks it), adjusted by -m, -S and -x; in process,
// where none runs, it is built from the peer's LID and GID with -S's SL,
// -m's MTU, the P_Key at --pkey_index, and with -x a GRH (hop limit 255,
// --tclass). What perftest exchanges over its connected QPs (rkey,
// address, outstanding reads) follows in the private data of REQ and REP
// (SIDR_REQ and SIDR_REP for UD).

// rdma_cm's port spaces (RDMA_PS_TCP, RDMA_PS_UDP): a service ID is
// 0x0000000001PPpppp with PP the port space and pppp the port.
const (
	perfPSTCP = 0x0106
	perfPSUDP = 0x0111
	// perfCMAHeaderSize is rdma_cm's struct cma_hdr: version, IP
	// version, source port, source and destination address.
	perfCMAHeaderSize = 36
)

// perfCMService is the service ID of -R on port p.
func perfCMService(conn string, p int) uint64 {
	ps := uint64(perfPSTCP)
	if conn == "UD" {
		ps = perfPSUDP
	}
	return ps<<16 | uint64(uint16(p))
}

// ipoibLinkLocal is the IPv6 link-local address of the IPoIB interface
// of the port with GID g.
func ipoibLinkLocal(g wire.GID) [16]byte {
	var a [16]byte
	a[0], a[1] = 0xfe, 0x80
	copy(a[8:], g[8:])
	a[8] ^= 0x02
	return a
}

// cmaHeader is the IP CM header of a REQ or SIDR_REQ from the side with
// GID src (source port srcPort) to the one with GID dst.
func cmaHeader(srcPort uint16, src, dst wire.GID) []byte {
	b := make([]byte, perfCMAHeaderSize)
	b[0] = 0x00   // CM version 0.0
	b[1] = 6 << 4 // IPv6
	binary.BigEndian.PutUint16(b[2:], srcPort)
	s, d := ipoibLinkLocal(src), ipoibLinkLocal(dst)
	copy(b[4:], s[:])
	copy(b[20:], d[:])
	return b
}

// stripCMAHeader checks a REQ's or SIDR_REQ's IP CM header and returns
// what follows it.
func stripCMAHeader(b []byte) ([]byte, error) {
	if len(b) < perfCMAHeaderSize || b[0] != 0 || (b[1]>>4 != 4 && b[1]>>4 != 6) {
		return nil, errors.New("-R: the peer's request has no rdma_cm IP CM header")
	}
	return b[perfCMAHeaderSize:], nil
}

// perfCMSourcePort is the source port the active side names in the IP
// CM header of QP i's request (rdma_cm binds each connection to its own
// ephemeral port).
func perfCMSourcePort(i int) uint16 { return uint16(49152 + i%16384) }

// perfCMMagic starts ibemu perf's own part of the private data.
var perfCMMagic = [4]byte{'I', 'B', 'P', 'F'}

// perfCMPrivate is what one side tells the other of one QP in the CM's
// private data.
type perfCMPrivate struct {
	index int    // the QP's index (-q)
	outs  int    // outstanding reads this side announces
	qpn   uint32 // the QP's number (UD: SIDR_REQ names none)
	psn   uint32 // the QP's send PSN (UD: the CM sets none)
	rkey  uint32
	addr  uint64
}

const perfCMPrivateSize = 28

func (p perfCMPrivate) encode() []byte {
	b := make([]byte, perfCMPrivateSize)
	copy(b, perfCMMagic[:])
	b[4] = 1 // version
	b[5] = uint8(p.outs)
	binary.BigEndian.PutUint16(b[6:], uint16(p.index))
	binary.BigEndian.PutUint32(b[8:], p.qpn)
	binary.BigEndian.PutUint32(b[12:], p.psn)
	binary.BigEndian.PutUint32(b[16:], p.rkey)
	binary.BigEndian.PutUint64(b[20:], p.addr)
	return b
}

func parsePerfCMPrivate(b []byte) (perfCMPrivate, error) {
	if len(b) < perfCMPrivateSize || [4]byte(b[:4]) != perfCMMagic || b[4] != 1 {
		return perfCMPrivate{}, errors.New("-R: the peer's private data is not ibemu perf's (version 1)")
	}
	return perfCMPrivate{outs: int(b[5]), index: int(binary.BigEndian.Uint16(b[6:])), qpn: binary.BigEndian.Uint32(b[8:]),
		psn: binary.BigEndian.Uint32(b[12:]), rkey: binary.BigEndian.Uint32(b[16:]), addr: binary.BigEndian.Uint64(b[20:])}, nil
}

// parseRequestPrivate reads the private data of a REQ or SIDR_REQ.
func parseRequestPrivate(b []byte) (perfCMPrivate, error) {
	b, err := stripCMAHeader(b)
	if err != nil {
		return perfCMPrivate{}, err
	}
	return parsePerfCMPrivate(b)
}

// private describes QP i of s to its peer.
func (s *perfSide) private(i, outs int) []byte {
	return perfCMPrivate{index: i, outs: outs, qpn: s.qps[i].Num(), psn: perfPSN, rkey: s.mrs[i].RKey(), addr: s.mrs[i].Addr()}.encode()
}

// perfCM is one side's connection manager and connections.
type perfCM struct {
	tr mad.Transport
	cm *cm.CM
	ln *cm.Listener

	mu sync.Mutex
	// conns are the RC connections, by QP index; claimed marks the
	// indexes the peer named (RC and UD).
	conns   []*cm.Conn
	claimed []bool
	// peer is what the peer said of its QPs, by index.
	peer perfPeer
	// got counts the QPs the passive side connected; done is closed
	// when all are, or with err set when one failed.
	got  int
	err  error
	done chan struct{}
}

// openCM starts the CM on s's port.
func (env *perfEnv) openCM(s *perfSide) error {
	tr := mad.NewInProcess(env.emu, s.dev, s.port)
	m, err := cm.New(tr, s.ctx, s.port, cm.Options{})
	if err != nil {
		tr.Close()
		return fmt.Errorf("-R: %w", err)
	}
	n := len(s.qps)
	s.cm = &perfCM{tr: tr, cm: m, conns: make([]*cm.Conn, n), claimed: make([]bool, n), done: make(chan struct{}),
		peer: perfPeer{qpns: make([]uint32, n), rkeys: make([]uint32, n), addrs: make([]uint64, n), psns: make([]uint32, n), qkey: perfQKey}}
	return nil
}

// closeCM disconnects the RC connections this side made (DREQ) and stops
// the CM.
func (env *perfEnv) closeCM(ctx context.Context, s *perfSide) error {
	if s == nil || s.cm == nil {
		return nil
	}
	x := s.cm
	s.cm = nil
	var errs []error
	if s == env.client {
		for _, cn := range x.conns {
			if cn != nil {
				if err := cn.Disconnect(ctx, nil); err != nil {
					errs = append(errs, fmt.Errorf("-R: disconnect qp %d: %w", cn.QP().Num(), err))
				}
			}
		}
	}
	if x.ln != nil {
		_ = x.ln.Close()
	}
	errs = append(errs, x.cm.Close())
	x.tr.Close()
	return errors.Join(errs...)
}

// listenCM makes s the passive side: it accepts one connection (RC) or
// answers one SIDR_REQ (UD) for each of its QPs, naming the QP by index.
func (env *perfEnv) listenCM(s *perfSide) error {
	var err error
	sid := perfCMService(env.c.conn, env.c.port)
	if env.c.conn == "UD" {
		s.cm.ln, err = s.cm.cm.ListenSIDR(sid, func(r *cm.SIDRRequest) { env.answerSIDR(s, r) })
	} else {
		s.cm.ln, err = s.cm.cm.Listen(sid, func(r *cm.ConnRequest) { env.accept(s, r) })
	}
	if err != nil {
		return fmt.Errorf("-R: listen: %w", err)
	}
	return nil
}

// claim takes QP index p.index for the peer's QP once, or says why not.
func (x *perfCM) claim(p perfCMPrivate, n int) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case p.index >= n:
		return fmt.Errorf("-R: the peer connects qp %d of %d", p.index, n)
	case x.claimed[p.index]:
		return fmt.Errorf("-R: the peer connects qp %d twice", p.index)
	}
	x.claimed[p.index] = true
	return nil
}

// connected records the outcome of one QP on the passive side.
func (x *perfCM) connected(err error, n int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.err != nil || x.got == n {
		return
	}
	if err != nil {
		x.err = err
		close(x.done)
		return
	}
	if x.got++; x.got == n {
		close(x.done)
	}
}

// learn records what the peer said of its QP p.index, reached at lid.
func (x *perfCM) learn(p perfCMPrivate, lid wire.LID) {
	x.mu.Lock()
	defer x.mu.Unlock()
	i := p.index
	x.peer.qpns[i], x.peer.rkeys[i], x.peer.addrs[i], x.peer.psns[i] = p.qpn, p.rkey, p.addr, p.psn
	x.peer.outs, x.peer.lid = p.outs, lid
}

// adopt makes what the CM learnt s's view of its peer, once every QP is
// connected. The peer's node and GID stay as the caller set them.
func (s *perfSide) adopt() {
	x := s.cm
	x.mu.Lock()
	defer x.mu.Unlock()
	s.peer.qpns, s.peer.rkeys, s.peer.addrs, s.peer.psns = x.peer.qpns, x.peer.rkeys, x.peer.addrs, x.peer.psns
	s.peer.outs, s.peer.qkey = x.peer.outs, x.peer.qkey
	if s.peer.lid == 0 {
		s.peer.lid = x.peer.lid
	}
}

// claimRequest reads a REQ's or SIDR_REQ's private data and claims the
// QP it names.
func (x *perfCM) claimRequest(b []byte, n int) (perfCMPrivate, error) {
	p, err := parseRequestPrivate(b)
	if err == nil {
		err = x.claim(p, n)
	}
	return p, err
}

// accept answers a REQ for one of s's RC QPs with REP.
func (env *perfEnv) accept(s *perfSide, r *cm.ConnRequest) {
	c := env.c
	p, err := s.cm.claimRequest(r.PrivateData(), len(s.qps))
	if err != nil {
		_ = r.Reject(wire.CMRejectConsumerDefined, nil, nil)
		s.cm.connected(err, len(s.qps))
		return
	}
	qp := s.qps[p.index]
	cn, err := r.Accept(r.Context(), cm.AcceptParams{QP: qp, PrivateData: s.private(p.index, c.outReads),
		ResponderResources: uint8(c.outReads), InitiatorDepth: uint8(p.outs), RNRRetryCount: 7, SRQ: s.srq != nil})
	if err == nil {
		s.cm.mu.Lock()
		s.cm.conns[p.index] = cn
		s.cm.mu.Unlock()
		p.qpn, p.psn = cn.RemoteQPN(), 0
		if a, qerr := qp.Query(); qerr == nil {
			p.psn = a.RQPSN
		}
		s.cm.learn(p, r.Source().LID)
	} else {
		err = fmt.Errorf("-R: accept qp %d: %w", p.index, err)
	}
	s.cm.connected(err, len(s.qps))
}

// answerSIDR answers a SIDR_REQ for one of s's UD QPs with its QPN and
// Q_Key.
func (env *perfEnv) answerSIDR(s *perfSide, r *cm.SIDRRequest) {
	p, err := s.cm.claimRequest(r.PrivateData(), len(s.qps))
	if err != nil {
		_ = r.Reject(wire.CMSIDRReject, nil, nil)
		s.cm.connected(err, len(s.qps))
		return
	}
	s.cm.learn(p, r.Source().LID)
	if err := r.Reply(s.qps[p.index].Num(), perfQKey, s.private(p.index, env.c.outReads)); err != nil {
		s.cm.connected(fmt.Errorf("-R: sidr reply for qp %d: %w", p.index, err), len(s.qps))
		return
	}
	s.cm.connected(nil, len(s.qps))
}

// awaitCM waits until the passive side s has all its QPs connected.
func (env *perfEnv) awaitCM(ctx context.Context, s *perfSide) error {
	select {
	case <-s.cm.done:
	case <-ctx.Done():
		return fmt.Errorf("-R: waiting for the client's connections: %w", ctx.Err())
	}
	s.cm.mu.Lock()
	defer s.cm.mu.Unlock()
	return s.cm.err
}

// cmPath is the path from s to its peer (see the comment at the top).
func (env *perfEnv) cmPath(ctx context.Context, s *perfSide) (*wire.PathRecordFields, error) {
	c := env.c
	if env.fb == nil {
		// Two processes: a subnet manager runs, and its SA gives the
		// path, as to rdma_resolve_route.
		return env.saPath(ctx, s)
	}
	pkey, err := s.ctx.QueryPKey(s.port, c.pkeyIndex)
	if err != nil {
		return nil, fmt.Errorf("-R: --pkey_index=%d: %w", c.pkeyIndex, err)
	}
	if pkey&0x7fff == 0 {
		// The CM takes a path's P_Key 0 for the default one; an empty
		// entry names no partition to connect in.
		return nil, fmt.Errorf("-R: --pkey_index=%d: entry %d of port %d's P_Key table is empty", c.pkeyIndex, c.pkeyIndex, s.port)
	}
	pr := &wire.PathRecordFields{DLID: s.peer.lid, SLID: s.lid, DGID: s.peer.gid, SGID: s.gid, SL: uint8(c.sl),
		MTU: perfMTUs[c.mtu], PKey: pkey, Reversible: true, NumbPath: 1}
	if c.gidIndex.n >= 0 {
		pr.HopLimit, pr.TClass = 0xff, uint8(c.tclass)
	}
	return pr, nil
}

// saPath asks the SA for the path to the peer's GID (PathRecord), as
// rdma_resolve_route does, and applies what the command line asks of it:
// -m lowers the MTU, -S sets the SL, -x a GRH (hop limit 255, --tclass);
// --pkey_index names the partition.
func (env *perfEnv) saPath(ctx context.Context, s *perfSide) (*wire.PathRecordFields, error) {
	c := env.c
	pr, err := s.cm.cm.QueryPath(ctx, s.peer.gid)
	if err != nil {
		return nil, fmt.Errorf("-R: the route to the server: %w", err)
	}
	pkey, err := s.ctx.QueryPKey(s.port, c.pkeyIndex)
	if err != nil || pkey&0x7fff == 0 {
		return nil, fmt.Errorf("-R: --pkey_index=%d: no P_Key at that entry of port %d's table", c.pkeyIndex, s.port)
	}
	pr.PKey = pkey
	if m := perfMTUs[c.mtu]; m != 0 && m < pr.MTU {
		pr.MTU = m
	}
	if c.given["S"] {
		pr.SL = uint8(c.sl)
	}
	if c.gidIndex.n >= 0 {
		pr.HopLimit, pr.TClass = 0xff, uint8(c.tclass)
	}
	return &pr, nil
}

// dialCM is the active side: it connects each of s's QPs to the peer's
// QP of the same index (RC: REQ, REP, RTU; UD: SIDR_REQ, SIDR_REP).
func (env *perfEnv) dialCM(ctx context.Context, s *perfSide) error {
	c := env.c
	path, err := env.cmPath(ctx, s)
	if err != nil {
		return err
	}
	sid := perfCMService(c.conn, c.port)
	for i, qp := range s.qps {
		priv := append(cmaHeader(perfCMSourcePort(i), s.gid, s.peer.gid), s.private(i, c.outReads)...)
		if c.conn == "UD" {
			rep, err := s.cm.cm.ResolveSIDR(ctx, cm.SIDRParams{ServiceID: sid, Path: path, PrivateData: priv})
			if err != nil {
				return fmt.Errorf("-R: resolve the server's qp %d: %w", i, err)
			}
			p, err := parsePerfCMPrivate(rep.PrivateData)
			if err != nil {
				return err
			}
			if p.index != i || p.qpn != rep.QPN {
				return fmt.Errorf("-R: the server answered qp %d with its qp %d (%#x, SIDR_REP %#x)", i, p.index, p.qpn, rep.QPN)
			}
			s.cm.learn(p, s.peer.lid)
			s.cm.mu.Lock()
			s.cm.peer.qkey = rep.QKey
			s.cm.mu.Unlock()
			continue
		}
		cn, err := s.cm.cm.Connect(ctx, cm.ConnectParams{ServiceID: sid, QP: qp, Path: path, PrivateData: priv,
			ResponderResources: uint8(c.outReads), InitiatorDepth: uint8(c.outReads), RetryCount: uint8(min(c.retryCnt, 7)),
			RNRRetryCount: 7, SRQ: s.srq != nil})
		if err != nil {
			return fmt.Errorf("-R: connect qp %d: %w", i, err)
		}
		s.cm.conns[i] = cn
		p, err := parsePerfCMPrivate(cn.PrivateData())
		if err != nil {
			return err
		}
		if p.index != i {
			return fmt.Errorf("-R: the server accepted qp %d with its qp %d", i, p.index)
		}
		p.qpn = cn.RemoteQPN()
		if a, err := qp.Query(); err == nil {
			p.psn = a.RQPSN
		}
		s.cm.learn(p, s.peer.lid)
	}
	s.adopt()
	return nil
}

// connectCMInProcess connects the two sides of an in-process run.
func (env *perfEnv) connectCMInProcess() error {
	ctx, cancel := context.WithTimeout(context.Background(), env.c.timeout)
	defer cancel()
	cl, sv := env.client, env.server
	for _, s := range []*perfSide{sv, cl} {
		if err := env.openCM(s); err != nil {
			return err
		}
	}
	cl.peer = perfPeer{lid: sv.lid, gid: sv.gid}
	sv.peer = perfPeer{lid: cl.lid, gid: cl.gid}
	if err := env.listenCM(sv); err != nil {
		return err
	}
	for _, s := range []*perfSide{sv, cl} {
		if err := env.udQPsUp(s); err != nil {
			return err
		}
	}
	if err := env.dialCM(ctx, cl); err != nil {
		return err
	}
	if err := env.awaitCM(ctx, sv); err != nil {
		return err
	}
	sv.adopt()
	return nil
}

// qpPSN is the send PSN of QP i of s.
func (s *perfSide) qpPSN(i int) uint32 {
	if a, err := s.qps[i].Query(); err == nil {
		return a.SQPSN
	}
	return perfPSN
}
