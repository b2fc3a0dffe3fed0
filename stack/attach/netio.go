package attach

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// network is how the server meets its clients: the control socket, and
// one data socket per slot connected to the client's own data socket.
type network interface {
	// listenCtl opens the control socket.
	listenCtl() (net.PacketConn, error)
	// replyAddr is where to send the reply to a control message from.
	replyAddr(from net.Addr) net.Addr
	// openSlot opens slot's data socket, connected to the data socket of
	// the client whose control socket is from and whose CONNECT id is id.
	openSlot(slot int, from net.Addr, id uint32) (net.Conn, error)
	// liveness returns a check of whether the client with CONNECT id id
	// may still exist, as of now.
	liveness() func(id uint32) bool
	// describe names the control socket for messages.
	describe() string
}

// udpNetwork is ibsim's remote mode: UDP/IPv4, control on port, slot i on
// port+1+i; a client's CONNECT id is the UDP port of its data socket.
type udpNetwork struct {
	ip   net.IP
	port int
}

// newUDPNetwork parses "ADDR:PORT", ":PORT" or "PORT"; without an address
// the server binds 127.0.0.1 only.
func newUDPNetwork(listen string) (*udpNetwork, error) {
	host, ps := "", listen
	if strings.Contains(listen, ":") {
		var err error
		if host, ps, err = net.SplitHostPort(listen); err != nil {
			return nil, fmt.Errorf("attach: listen address %q: %w", listen, err)
		}
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65000 {
		return nil, fmt.Errorf("attach: listen address %q: port must be 1..65000", listen)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil {
		ips, err := net.LookupIP(host)
		if err != nil {
			return nil, fmt.Errorf("attach: listen address %q: %w", listen, err)
		}
		for _, a := range ips {
			if a.To4() != nil {
				ip = a
				break
			}
		}
	}
	if ip == nil || ip.To4() == nil {
		return nil, fmt.Errorf("attach: listen address %q: libumad2sim speaks IPv4 only", listen)
	}
	return &udpNetwork{ip: ip.To4(), port: port}, nil
}

func (u *udpNetwork) listenCtl() (net.PacketConn, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: u.ip, Port: u.port})
	if err != nil {
		return nil, fmt.Errorf("attach: control socket: %w", err)
	}
	_ = c.SetReadBuffer(1 << 20)
	return c, nil
}

func (u *udpNetwork) replyAddr(from net.Addr) net.Addr { return from }

func (u *udpNetwork) openSlot(slot int, from net.Addr, id uint32) (net.Conn, error) {
	fa, ok := from.(*net.UDPAddr)
	if !ok || id == 0 || id > 65535 {
		return nil, fmt.Errorf("attach: slot %d: client %v gave data port %d", slot, from, id)
	}
	if u.port+1+slot > 65535 {
		return nil, fmt.Errorf("attach: slot %d: port %d is out of range", slot, u.port+1+slot)
	}
	c, err := net.DialUDP("udp4", &net.UDPAddr{IP: u.ip, Port: u.port + 1 + slot}, &net.UDPAddr{IP: fa.IP, Port: int(id)})
	if err != nil {
		return nil, fmt.Errorf("attach: slot %d: %w", slot, err)
	}
	_ = c.SetReadBuffer(4 << 20)
	_ = c.SetWriteBuffer(4 << 20)
	return c, nil
}

// liveness: a UDP client cannot be checked; a write to a gone client
// fails (ICMP port unreachable) and drops it.
func (u *udpNetwork) liveness() func(uint32) bool { return func(uint32) bool { return true } }

func (u *udpNetwork) describe() string {
	return "udp " + net.JoinHostPort(u.ip.String(), strconv.Itoa(u.port))
}
