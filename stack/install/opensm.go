package install

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/fabric"
	"github.com/ibemu/ibemu/stack/host"
	"github.com/ibemu/ibemu/stack/mad"
	"github.com/ibemu/ibemu/stack/sm"
)

// OpenSMLog is where the OpenSM service logs: %SystemRoot%\Temp\osm.log.
const OpenSMLog = `%SystemRoot%\Temp\osm.log`

// SMStartTimeout bounds how long the OpenSM service waits, when it
// starts, for its first sweep to bring the subnet up (or for it to settle
// as a standby).
var SMStartTimeout = 2 * time.Minute

// openSMService is the program behind the "InfiniBand Subnet Manager"
// service (opensm.exe --service): ibemu's subnet manager (package sm) on
// the first local HCA port whose link is up. Started, it erases its log
// (-e), brings the subnet up (or stands by for another master) and keeps
// running, reacting to traps and handovers, until the service stops. The
// SM's own log is written to osm.log when it starts and stops.
type openSMService struct{}

var _ host.ServiceAttacher = openSMService{}

func init() { host.RegisterServiceRunner("opensm.exe", openSMService{}) }

// smKey names a running SM: the Host (the emulating process's handle on
// the machine) and the service name.
type smKey struct {
	h       *host.Host
	service string
}

// liveSM is a subnet manager running for a service.
type liveSM struct {
	m      *sm.SM
	tr     mad.Transport
	cancel context.CancelFunc
	done   chan struct{}
	log    *lineLog
}

var liveSMs = struct {
	sync.Mutex
	m map[smKey]*liveSM
}{m: map[smKey]*liveSM{}}

// lineLog collects log lines from the SM's goroutine.
type lineLog struct {
	mu    sync.Mutex
	lines []string
	now   func() time.Time
}

func (l *lineLog) add(level byte, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, osmLine(l.now(), level, msg))
}

func (l *lineLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines
	l.lines = nil
	return out
}

// osmLine formats a line as OpenSM's log does: time, microseconds,
// thread, verbosity, message.
func osmLine(now time.Time, level byte, msg string) string {
	return fmt.Sprintf("%s %06d [%04X] 0x%02x -> %s", now.Format("Jan 02 15:04:05"), now.Nanosecond()/1000, 1, level, msg)
}

// slogHandler sends the SM's structured log to a lineLog.
type slogHandler struct {
	l     *lineLog
	attrs []slog.Attr
}

func (h slogHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h slogHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true }
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	level := byte(0x02)
	switch {
	case r.Level >= slog.LevelError:
		level = 0x01
	case r.Level >= slog.LevelWarn:
		level = 0x01
	case r.Level < slog.LevelInfo:
		level = 0x04
	}
	h.l.add(level, b.String())
	return nil
}
func (h slogHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return slogHandler{l: h.l, attrs: append(append([]slog.Attr(nil), h.attrs...), a...)}
}
func (h slogHandler) WithGroup(string) slog.Handler { return h }

// openSMVersion is the OpenSM version of the release whose opensm.exe
// the service runs.
func openSMVersion(h *host.Host, svc host.Service) string {
	if b, err := h.ReadFile(svc.ImagePath); err == nil {
		for _, r := range Releases() {
			if parseFields(b)["Product"] == r.Product+" "+r.Version {
				return r.OpenSMVersion
			}
		}
	}
	return "(unknown version)"
}

// Start implements host.ServiceRunner.
func (s openSMService) Start(h *host.Host, svc host.Service) error {
	log := &lineLog{now: h.Now}
	log.add(0x80, "OpenSM "+openSMVersion(h, svc))
	log.add(0x02, fmt.Sprintf("started as a Windows service: %s %s", svc.ImagePath, svc.Args))
	if err := s.run(h, svc, log); err != nil {
		return err
	}
	return h.WriteFile(OpenSMLog, []byte(strings.Join(log.take(), "\n")+"\n"))
}

// run starts the SM (if a port is up) and waits for it to settle.
func (openSMService) run(h *host.Host, svc host.Service, log *lineLog) error {
	port, fh, guid := activePort(h)
	switch {
	case guid == 0:
		log.add(0x01, "no local HCA port is active; waiting for a link")
		return nil
	case fh == nil:
		log.add(0x02, fmt.Sprintf("bound to port GUID 0x%016x, which has no fabric attached; waiting", uint64(guid)))
		return nil
	}
	log.add(0x02, fmt.Sprintf("bound to port GUID 0x%016x (port %d of %s)", uint64(guid), port, fh.Topo.ID))
	tr := mad.NewInProcess(fh.Node.Fabric(), fh.Device, port)
	m, err := sm.New(tr, sm.Config{SweepInterval: -1, Logger: slog.New(slogHandler{l: log})})
	if err != nil {
		tr.Close()
		return fmt.Errorf("install: opensm: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &liveSM{m: m, tr: tr, cancel: cancel, done: make(chan struct{}), log: log}
	go func() {
		defer close(l.done)
		_ = m.Run(ctx)
	}()
	deadline := time.Now().Add(SMStartTimeout)
	for {
		st := m.State()
		if st == wire.SMStateMaster && m.Sweeps() > 0 {
			sn := m.Subnet()
			log.add(0x80, fmt.Sprintf("SUBNET UP: %d nodes, %d switches, LMC %d, %s routing", len(sn.Nodes), len(sn.Switches), sn.LMC, sn.Routing))
			break
		}
		if st == wire.SMStateStandby {
			log.add(0x80, "Entering STANDBY state: another subnet manager is master")
			break
		}
		if time.Now().After(deadline) {
			log.add(0x01, fmt.Sprintf("the subnet is not up after %v (state %v)", SMStartTimeout, st))
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	key := smKey{h, strings.ToLower(svc.Name)}
	liveSMs.Lock()
	old := liveSMs.m[key]
	liveSMs.m[key] = l
	liveSMs.Unlock()
	if old != nil {
		old.stop()
	}
	return nil
}

// stop ends the SM and its transport.
func (l *liveSM) stop() {
	l.cancel()
	<-l.done
	l.m.Close()
	l.tr.Close()
}

// take removes the running SM of a service.
func takeSM(h *host.Host, svc host.Service) *liveSM {
	key := smKey{h, strings.ToLower(svc.Name)}
	liveSMs.Lock()
	defer liveSMs.Unlock()
	l := liveSMs.m[key]
	delete(liveSMs.m, key)
	return l
}

// Stop implements host.ServiceRunner.
func (openSMService) Stop(h *host.Host, svc host.Service) error {
	var lines []string
	if l := takeSM(h, svc); l != nil {
		l.stop()
		lines = l.log.take()
	}
	lines = append(lines, osmLine(h.Now(), 0x80, "Exiting SM"))
	old, _ := h.ReadFile(OpenSMLog)
	return h.WriteFile(OpenSMLog, append(old, []byte(strings.Join(lines, "\n")+"\n")...))
}

// Attach implements host.ServiceAttacher: the service's SM runs again in
// this process (its log goes to the host's log file at Stop).
func (s openSMService) Attach(h *host.Host, svc host.Service) error {
	return s.run(h, svc, &lineLog{now: h.Now})
}

// Detach implements host.ServiceAttacher.
func (openSMService) Detach(h *host.Host, svc host.Service) {
	if l := takeSM(h, svc); l != nil {
		l.stop()
	}
}

// RunningSM returns the subnet manager the host's OpenSM service runs in
// this process, or nil.
func RunningSM(h *host.Host) *sm.SM {
	liveSMs.Lock()
	defer liveSMs.Unlock()
	if l := liveSMs.m[smKey{h, "opensm"}]; l != nil {
		return l.m
	}
	return nil
}

// activePort finds the first port with its link up of an HCA the IB
// stack runs.
func activePort(h *host.Host) (int, *fabric.HCA, wire.GUID) {
	for _, s := range h.HCAs() {
		if _, ok := ibHCA(h, s.Slot); !ok {
			continue
		}
		a, err := h.Adapter(s.Slot)
		if err != nil {
			continue
		}
		ports, err := a.Ports()
		if err != nil {
			continue
		}
		for _, p := range ports {
			if p.Phys != wire.PhysStateLinkUp {
				continue
			}
			if fa, ok := a.(interface{ HCA() *fabric.HCA }); ok {
				return p.Num, fa.HCA(), p.GUID
			}
			return p.Num, nil, p.GUID
		}
	}
	return 0, nil, 0
}
