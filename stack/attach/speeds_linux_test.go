//go:build linux

package attach

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
)

// speedsNet is a cluster of the FDR, EDR and HDR generations in
// ibnetdiscover's format, one link of each rate: a SwitchX-2 with a
// ConnectX-3 at 4xFDR and a ConnectX-3 Pro at 4xFDR10, an FDR link to a
// Switch-IB with a ConnectX-4 at 4xEDR, an EDR link to a Quantum (no
// devid: the rates pick the model) with a ConnectX-6 without devid at 4xHDR
// and one with it at 2xHDR (HDR100). The records without devid come first:
// ibnetdiscover's format carries vendid and devid over to later records.
const speedsNet = `

sysimgguid=0x2c90300000300
switchguid=0x2c90300000300(2c90300000300)
Switch	40 "S-0002c90300000300"		# "Quantum Mellanox Technologies" base port 0 lid 3 lmc 0
[1]	"S-0002c90300000200"[3]		# "SwitchIB Mellanox Technologies" lid 2 4xEDR
[2]	"H-0002c90300004000"[1](2c90300004001) 		# "cx6 mlx5_0" lid 13 4xHDR
[3]	"H-0002c90300005000"[1](2c90300005001) 		# "cx6b mlx5_0" lid 14 2xHDR

sysimgguid=0x2c90300004000
caguid=0x2c90300004000
Ca	1 "H-0002c90300004000"		# "cx6 mlx5_0"
[1](2c90300004001) 	"S-0002c90300000300"[2]		# lid 13 lmc 0 "Quantum Mellanox Technologies" lid 3 4xHDR

vendid=0x2c9
devid=0xc738
sysimgguid=0x2c90300000100
switchguid=0x2c90300000100(2c90300000100)
Switch	36 "S-0002c90300000100"		# "SwitchX -  Mellanox Technologies" base port 0 lid 1 lmc 0
[1]	"H-0002c90300001000"[1](2c90300001001) 		# "cx3 mlx4_0" lid 10 4xFDR
[2]	"H-0002c90300002000"[1](2c90300002001) 		# "cx3pro mlx4_0" lid 11 4xFDR10
[3]	"S-0002c90300000200"[1]		# "SwitchIB Mellanox Technologies" lid 2 4xFDR

vendid=0x2c9
devid=0xcb20
sysimgguid=0x2c90300000200
switchguid=0x2c90300000200(2c90300000200)
Switch	36 "S-0002c90300000200"		# "SwitchIB Mellanox Technologies" base port 0 lid 2 lmc 0
[1]	"S-0002c90300000100"[3]		# "SwitchX -  Mellanox Technologies" lid 1 4xFDR
[2]	"H-0002c90300003000"[1](2c90300003001) 		# "cx4 mlx5_0" lid 12 4xEDR
[3]	"S-0002c90300000300"[1]		# "Quantum Mellanox Technologies" lid 3 4xEDR

vendid=0x2c9
devid=0x1003
sysimgguid=0x2c90300001000
caguid=0x2c90300001000
Ca	1 "H-0002c90300001000"		# "cx3 mlx4_0"
[1](2c90300001001) 	"S-0002c90300000100"[1]		# lid 10 lmc 0 "SwitchX -  Mellanox Technologies" lid 1 4xFDR

vendid=0x2c9
devid=0x1007
sysimgguid=0x2c90300002000
caguid=0x2c90300002000
Ca	1 "H-0002c90300002000"		# "cx3pro mlx4_0"
[1](2c90300002001) 	"S-0002c90300000100"[2]		# lid 11 lmc 0 "SwitchX -  Mellanox Technologies" lid 1 4xFDR10

vendid=0x2c9
devid=0x1013
sysimgguid=0x2c90300003000
caguid=0x2c90300003000
Ca	1 "H-0002c90300003000"		# "cx4 mlx5_0"
[1](2c90300003001) 	"S-0002c90300000200"[2]		# lid 12 lmc 0 "SwitchIB Mellanox Technologies" lid 2 4xEDR

vendid=0x2c9
devid=0x101b
sysimgguid=0x2c90300005000
caguid=0x2c90300005000
Ca	1 "H-0002c90300005000"		# "cx6b mlx5_0"
[1](2c90300005001) 	"S-0002c90300000300"[3]		# lid 14 lmc 0 "Quantum Mellanox Technologies" lid 3 2xHDR
`

const (
	sxID     = "S-0002c90300000100"
	sibID    = "S-0002c90300000200"
	quantum  = "S-0002c90300000300"
	cx3ID    = "H-0002c90300001000"
	cx3proID = "H-0002c90300002000"
	cx4ID    = "H-0002c90300003000"
	cx6ID    = "H-0002c90300004000"
)

// needTools skips the test (or, in CI, fails it) when a tool is missing,
// as needInterop does for the common ones.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	needInterop(t)
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			msg := fmt.Sprintf("interop: missing %s (Debian infiniband-diags; run make deps)", tool)
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// rates maps "guid/port" of every connected port to its link's rate as
// ibnetdiscover notation writes it.
func rates(topo *topology.Topology) map[string]string {
	m := map[string]string{}
	for _, n := range topo.Nodes {
		for _, p := range n.Ports[1:] {
			if p != nil && p.Connected() {
				m[fmt.Sprintf("%#x/%d", uint64(n.NodeGUID), p.Num)] = p.ActiveRate().String()
			}
		}
	}
	return m
}

// TestInteropSpeeds: a fabric of FDR, FDR10, EDR and HDR (4x and 2x)
// links comes up under OpenSM, and infiniband-diags show every link at
// its rate, as on a real cluster of these generations: ibnetdiscover
// writes the file's rates back (no "???"), iblinkinfo prints the
// extended speeds and FDR10, smpquery shows IsExtendedSpeedsSupported,
// LinkSpeedExt* and MlnxExtPortInfo. ibportstate's espeed and fdr10
// take effect at the reset that retrains the link.
func TestInteropSpeeds(t *testing.T) {
	needTools(t, "iblinkinfo", "ibportstate")
	in, err := topology.Parse("speeds.net", strings.NewReader(speedsNet))
	if err != nil {
		t.Fatal(err)
	}
	h := newInterop(t, in)
	for id, want := range map[string]uint16{sxID: 0xC738, sibID: 0xCB20, quantum: 0xD2F0, cx3ID: 0x1003,
		cx3proID: 0x1007, cx4ID: 0x1013, cx6ID: 0x101B} {
		var dev uint16
		_ = h.srv.Fabric().Do(func() { dev = h.srv.byID[id].sma.Node().DeviceID })
		if dev != want {
			t.Errorf("%s: device id %#04x, want %#04x", id, dev, want)
		}
	}
	log := h.opensmOnce(30*time.Second, nil)
	if strings.Contains(log, "ERR 0F11") {
		t.Errorf("opensm could not query MlnxExtPortInfo:\n%s", tail(log, 20))
	}

	// ibnetdiscover: the rates of the file, none unknown.
	out := h.mustRun(20*time.Second, nil, "ibnetdiscover")
	if strings.Contains(out, "???") || strings.Contains(out, "bad status") {
		t.Errorf("ibnetdiscover shows an unknown rate or an error:\n%s", out)
	}
	got, err := topology.Parse("ibnetdiscover", strings.NewReader(out))
	if err != nil {
		t.Fatalf("ibnetdiscover output does not load: %v\n%s", err, out)
	}
	if err := topology.Compare(in, got); err != nil {
		t.Errorf("ibnetdiscover graph differs: %v", err)
	}
	wantRates, gotRates := rates(in), rates(got)
	for k, w := range wantRates {
		if gotRates[k] != w {
			t.Errorf("port %s: ibnetdiscover rate %q, want %q", k, gotRates[k], w)
		}
	}
	for _, r := range []string{"4xFDR10", "4xFDR", "4xEDR", "4xHDR", "2xHDR"} {
		if !regexp.MustCompile(`\b` + r + `\b`).MatchString(out) {
			t.Errorf("ibnetdiscover shows no %s link:\n%s", r, out)
		}
	}

	// iblinkinfo: the speeds as it prints them.
	li := h.mustRun(20*time.Second, nil, "iblinkinfo")
	for _, re := range []string{
		`4X\s+14\.0625 Gbps Active/\s*LinkUp.*cx3 mlx4_0`,
		`4X\s+10\.0 Gbps \(FDR10\) Active/\s*LinkUp.*cx3pro mlx4_0`,
		`4X\s+14\.0625 Gbps Active/\s*LinkUp.*SwitchIB Mellanox Technologies`,
		`4X\s+25\.78125 Gbps Active/\s*LinkUp.*cx4 mlx5_0`,
		`4X\s+53\.125 Gbps Active/\s*LinkUp.*cx6 mlx5_0`,
		`2X\s+53\.125 Gbps Active/\s*LinkUp.*cx6b mlx5_0`,
	} {
		if !regexp.MustCompile(re).MatchString(li) {
			t.Errorf("iblinkinfo has no line matching %q:\n%s", re, li)
		}
	}
	if strings.Contains(li, "???") {
		t.Errorf("iblinkinfo shows an unknown speed:\n%s", li)
	}

	// smpquery: PortInfo of a ConnectX-3 and a ConnectX-6, MlnxExtPortInfo.
	cx3 := strconv.Itoa(int(h.lidOf(cx3ID)))
	f := fields(h.mustRun(10*time.Second, nil, "smpquery", "portinfo", cx3, "1"))
	if !strings.Contains(h.mustRun(10*time.Second, nil, "smpquery", "portinfo", cx3, "1"), "IsExtendedSpeedsSupported") {
		t.Errorf("ConnectX-3 CapMask %s lacks IsExtendedSpeedsSupported", f["CapMask"])
	}
	if f["LinkSpeedExtActive"] != "14.0625 Gbps" || f["LinkSpeedExtSupported"] != "14.0625 Gbps" {
		t.Errorf("ConnectX-3 LinkSpeedExt: active %q supported %q", f["LinkSpeedExtActive"], f["LinkSpeedExtSupported"])
	}
	// Beside an extended speed, LinkSpeedActive shows QDR, as Mellanox
	// firmware reports it.
	if f["LinkSpeedActive"] != "10.0 Gbps" {
		t.Errorf("ConnectX-3 at FDR: LinkSpeedActive %q, want 10.0 Gbps", f["LinkSpeedActive"])
	}
	// vendstat reads these models' firmware from GeneralInfo's extended
	// version words: the whole version, four-digit sub-minors and all.
	for id, want := range map[string]string{cx6ID: "20.39.1002", cx3ID: "02.42.5000", quantum: "27.2010.3118", sxID: "09.04.5110"} {
		out := h.mustRun(10*time.Second, nil, "vendstat", "-N", strconv.Itoa(int(h.lidOf(id))))
		if !strings.Contains(out, "fw_version:  "+want) {
			t.Errorf("vendstat -N %s: want fw_version %s:\n%s", id, want, out)
		}
	}
	cx6 := strconv.Itoa(int(h.lidOf(cx6ID)))
	f = fields(h.mustRun(10*time.Second, nil, "smpquery", "portinfo", cx6, "1"))
	if f["LinkSpeedExtActive"] != "53.125 Gbps" || !strings.Contains(f["LinkSpeedExtSupported"], "53.125 Gbps") ||
		!strings.Contains(f["LinkWidthSupported"], "2X") {
		t.Errorf("ConnectX-6: ext active %q, ext supported %q, widths %q", f["LinkSpeedExtActive"], f["LinkSpeedExtSupported"], f["LinkWidthSupported"])
	}
	cx3pro := strconv.Itoa(int(h.lidOf(cx3proID)))
	f = fields(h.mustRun(10*time.Second, nil, "smpquery", "portinfo", cx3pro, "1"))
	if f["LinkSpeedActive"] != "10.0 Gbps" || f["LinkSpeedExtActive"] != "No Extended Speed" {
		t.Errorf("ConnectX-3 Pro at FDR10: LinkSpeedActive %q, LinkSpeedExtActive %q; want 10.0 Gbps and none", f["LinkSpeedActive"], f["LinkSpeedExtActive"])
	}
	f = fields(h.mustRun(10*time.Second, nil, "smpquery", "mepi", cx3pro, "1"))
	if f["LinkSpeedSupported"] != "0x01" || f["LinkSpeedEnabled"] != "0x01" || f["LinkSpeedActive"] != "0x01" {
		t.Errorf("ConnectX-3 Pro MlnxExtPortInfo: %v", f)
	}
	// The file enables no FDR10 on the 4xFDR link; OpenSM's default
	// "fdr10 1" enables it through MlnxExtPortInfo (the link keeps FDR).
	f = fields(h.mustRun(10*time.Second, nil, "smpquery", "mepi", cx3, "1"))
	if f["LinkSpeedSupported"] != "0x01" || f["LinkSpeedEnabled"] != "0x01" || f["LinkSpeedActive"] != "0x00" {
		t.Errorf("ConnectX-3 MlnxExtPortInfo after OpenSM: %v", f)
	}
	cx4 := strconv.Itoa(int(h.lidOf(cx4ID)))
	f = fields(h.mustRun(10*time.Second, nil, "smpquery", "mepi", cx4, "1"))
	if f["LinkSpeedSupported"] != "0x00" || f["LinkSpeedActive"] != "0x00" {
		t.Errorf("ConnectX-4 MlnxExtPortInfo (no FDR10): %v", f)
	}

	// ibportstate on the SwitchX-2 port of the FDR10 link.
	sx := strconv.Itoa(int(h.lidOf(sxID)))
	mepi := func() map[string]string {
		return fields(h.mustRun(10*time.Second, nil, "smpquery", "mepi", sx, "2"))
	}
	active := func() (wire.LinkSpeed, bool) {
		var sp wire.LinkSpeed
		var up bool
		_ = h.srv.Fabric().Do(func() {
			p := h.srv.byID[sxID].en.Port(2)
			sp, up = p.Speed(), p.IsUp()
		})
		return sp, up
	}
	waitSpeed := func(want wire.LinkSpeed) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			sp, up := active()
			if up && sp == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("SwitchX-2 port 2: speed %v (up %v), want %v", sp, up, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Enable FDR (espeed 31: all supported) without a reset: the link
	// stays at FDR10 until it retrains.
	h.mustRun(10*time.Second, nil, "ibportstate", sx, "2", "espeed", "31")
	h.mustRun(10*time.Second, nil, "ibportstate", cx3pro, "1", "espeed", "31")
	if sp, _ := active(); sp != wire.SpeedFDR10 {
		t.Errorf("new enables changed the link before a reset: %v", sp)
	}
	if f := mepi(); f["LinkSpeedActive"] != "0x01" {
		t.Errorf("before reset: MlnxExtPortInfo %v", f)
	}
	h.mustRun(10*time.Second, nil, "ibportstate", sx, "2", "reset")
	waitSpeed(wire.SpeedFDR)
	f = fields(h.mustRun(10*time.Second, nil, "smpquery", "portinfo", sx, "2"))
	if f["LinkSpeedExtActive"] != "14.0625 Gbps" {
		t.Errorf("after espeed 31 + reset: LinkSpeedExtActive %q, want 14.0625 Gbps", f["LinkSpeedExtActive"])
	}
	// Extended speeds off (espeed 30), FDR10 on: the reset trains FDR10.
	out = h.mustRun(10*time.Second, nil, "ibportstate", sx, "2", "espeed", "30", "fdr10", "1", "reset")
	if !strings.Contains(out, "After MLNXExtendedPortInfo set") {
		t.Errorf("ibportstate fdr10 did not set MlnxExtPortInfo:\n%s", out)
	}
	waitSpeed(wire.SpeedFDR10)
	if f := mepi(); f["LinkSpeedActive"] != "0x01" || f["LinkSpeedEnabled"] != "0x01" {
		t.Errorf("after espeed 30 fdr10 1 reset: MlnxExtPortInfo %v", f)
	}
	// FDR10 off as well: QDR.
	h.mustRun(10*time.Second, nil, "ibportstate", sx, "2", "fdr10", "0", "reset")
	waitSpeed(wire.SpeedQDR)
	if f := mepi(); f["LinkSpeedActive"] != "0x00" || f["LinkSpeedEnabled"] != "0x00" || f["LinkSpeedSupported"] != "0x01" {
		t.Errorf("after fdr10 0 reset: MlnxExtPortInfo %v", f)
	}
	f = fields(h.mustRun(10*time.Second, nil, "smpquery", "portinfo", sx, "2"))
	if f["LinkSpeedActive"] != "10.0 Gbps" || f["LinkSpeedExtActive"] != "No Extended Speed" {
		t.Errorf("at QDR: LinkSpeedActive %q ext %q", f["LinkSpeedActive"], f["LinkSpeedExtActive"])
	}
}
