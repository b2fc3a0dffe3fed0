package attach

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// localNetwork is ibsim's local mode: datagram sockets in the Linux
// abstract namespace. The names carry a trailing NUL, as ibsim and
// libumad2sim bind them (ibsim-protocol.md §2.2): the server's control
// socket is "<base>:ctl", slot i is "<base>:out<i>", a client's sockets
// are "<base>:ctl<pid>" and "<base>:in<pid>".
type localNetwork struct{ base string }

func newLocalNetwork(base string) (network, error) {
	if strings.ContainsRune(base, 0) || len(base)+16 > 107 {
		return nil, fmt.Errorf("attach: socket name %q is unusable (no NULs, at most 91 bytes)", base)
	}
	return &localNetwork{base: base}, nil
}

// abstract is the address of an abstract socket named name, with the
// trailing NUL libumad2sim includes in its names.
func abstract(name string) *net.UnixAddr {
	return &net.UnixAddr{Name: "@" + name + "\x00", Net: "unixgram"}
}

func (l *localNetwork) listenCtl() (net.PacketConn, error) {
	c, err := net.ListenUnixgram("unixgram", abstract(l.base+":ctl"))
	if err != nil {
		return nil, fmt.Errorf("attach: control socket @%s:ctl (is another server using IBSIM_SOCKNAME=%s?): %w",
			l.base, l.base, err)
	}
	return c, nil
}

// replyAddr restores the trailing NUL the kernel's name of the peer lost
// (Go cuts abstract names at the first NUL).
func (l *localNetwork) replyAddr(from net.Addr) net.Addr {
	if u, ok := from.(*net.UnixAddr); ok && !strings.HasSuffix(u.Name, "\x00") {
		return &net.UnixAddr{Name: u.Name + "\x00", Net: "unixgram"}
	}
	return from
}

func (l *localNetwork) openSlot(slot int, _ net.Addr, id uint32) (net.Conn, error) {
	laddr := abstract(fmt.Sprintf("%s:out%d", l.base, slot))
	raddr := abstract(fmt.Sprintf("%s:in%d", l.base, id))
	c, err := net.DialUnix("unixgram", laddr, raddr)
	if err != nil {
		return nil, fmt.Errorf("attach: slot %d: connect @%s:out%d to @%s:in%d: %w", slot, l.base, slot, l.base, id, err)
	}
	return c, nil
}

// liveness reports a client alive while its data socket "<base>:in<id>"
// exists: the kernel lists bound abstract sockets in /proc/net/unix (with
// a leading and a trailing '@' for the NULs), and closes them when the
// process dies. Without /proc it asks whether process id exists.
func (l *localNetwork) liveness() func(uint32) bool {
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return func(id uint32) bool {
			return id == 0 || id > 1<<22 || !errors.Is(syscall.Kill(int(id), 0), syscall.ESRCH)
		}
	}
	text := string(b)
	prefix := "@" + l.base + ":in"
	return func(id uint32) bool {
		return strings.Contains(text, " "+prefix+strconv.FormatUint(uint64(id), 10)+"@\n")
	}
}

func (l *localNetwork) describe() string { return "@" + l.base + ":ctl" }

// dialLocal opens a client's local-mode sockets, as libumad2sim does:
// "<base>:ctl<id>" connected to the server's "<base>:ctl" (retrying while
// no server listens, until ctx is done) and the data socket "<base>:in<id>".
func dialLocal(ctx context.Context, base string, id uint32) (net.Conn, net.PacketConn, func(uint32) net.Addr, error) {
	var ctl *net.UnixConn
	for {
		var err error
		ctl, err = net.DialUnix("unixgram", abstract(fmt.Sprintf("%s:ctl%d", base, id)), abstract(base+":ctl"))
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, nil, nil, fmt.Errorf("attach: dial @%s:ctl: %w", base, err)
		}
		select {
		case <-ctx.Done():
			return nil, nil, nil, fmt.Errorf("attach: dial @%s:ctl: no server: %w", base, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	data, err := net.ListenUnixgram("unixgram", abstract(fmt.Sprintf("%s:in%d", base, id)))
	if err != nil {
		_ = ctl.Close()
		return nil, nil, nil, fmt.Errorf("attach: dial: data socket @%s:in%d: %w", base, id, err)
	}
	return ctl, data, func(slot uint32) net.Addr { return abstract(fmt.Sprintf("%s:out%d", base, slot)) }, nil
}
