package topology

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ibemu/ibemu/emu/wire"
)

// Rate is a link's active width and speed, as ibnetdiscover prints it
// ("4xQDR", "12xEDR", "4xFDR10").
type Rate struct {
	// Width is one wire.LinkWidth value (0 when unknown).
	Width wire.LinkWidth
	// Speed is one wire.LinkSpeed value (0 when unknown).
	Speed wire.LinkSpeed
	// FDR10 marks Mellanox FDR10, which PortInfo reports as QDR (Speed is
	// then wire.SpeedQDR).
	FDR10 bool
}

// String formats r the way ibnetdiscover does: lanes, a lower-case x and the
// speed name; unknown parts print as ibnetdiscover prints them ("??", "???").
func (r Rate) String() string {
	w := "??"
	if n := r.Width.Lanes(); n > 0 {
		w = strconv.Itoa(n) + "x"
	}
	return w + r.speedName()
}

func (r Rate) speedName() string {
	if r.FDR10 && r.Speed == wire.SpeedQDR {
		return "FDR10"
	}
	switch r.Speed {
	case wire.SpeedSDR, wire.SpeedDDR, wire.SpeedQDR, wire.SpeedFDR, wire.SpeedEDR, wire.SpeedHDR, wire.SpeedNDR:
		return r.Speed.String()
	}
	return "???"
}

// ParseRate parses ibnetdiscover's width-and-speed notation: 1x, 2x, 4x, 8x
// or 12x followed by SDR, DDR, QDR, FDR10, FDR, EDR, HDR or NDR (any case).
func ParseRate(s string) (Rate, error) {
	i := strings.IndexAny(s, "xX")
	if i <= 0 {
		return Rate{}, fmt.Errorf("topology: bad link rate %q: want <lanes>x<speed>, like 4xQDR", s)
	}
	var r Rate
	n, err := strconv.Atoi(s[:i])
	if err == nil {
		r.Width = wire.WidthFromLanes(n)
	}
	if r.Width == 0 {
		return Rate{}, fmt.Errorf("topology: bad link width %q in %q: want 1x, 2x, 4x, 8x or 12x", s[:i+1], s)
	}
	sp := s[i+1:]
	if strings.EqualFold(sp, "FDR10") {
		r.Speed, r.FDR10 = wire.SpeedQDR, true
		return r, nil
	}
	r.Speed, err = wire.ParseLinkSpeed(sp)
	if err != nil {
		return Rate{}, fmt.Errorf("topology: bad link speed %q in %q: want SDR, DDR, QDR, FDR10, FDR, EDR, HDR or NDR", sp, s)
	}
	return r, nil
}

// enabledFor is the set of enabled masks ibsim derives from a stated active
// rate: the width with its fall-backs (12x enables 1x, 4x and 12x; 4x
// enables 1x and 4x) and every speed up to the stated one (FDR and later
// also enable SDR-QDR and FDR10).
func enabledFor(r Rate) (width uint8, speed wire.LinkSpeed, fdr10 bool) {
	switch r.Width {
	case wire.Width12X:
		width = uint8(wire.Width1X | wire.Width4X | wire.Width12X)
	case wire.Width8X:
		width = uint8(wire.Width8X)
	case wire.Width4X:
		width = uint8(wire.Width1X | wire.Width4X)
	case wire.Width2X:
		width = uint8(wire.Width2X)
	case wire.Width1X:
		width = uint8(wire.Width1X)
	}
	const base = wire.SpeedSDR | wire.SpeedDDR | wire.SpeedQDR
	switch r.Speed {
	case wire.SpeedSDR:
		speed = wire.SpeedSDR
	case wire.SpeedDDR:
		speed = wire.SpeedSDR | wire.SpeedDDR
	case wire.SpeedQDR:
		speed, fdr10 = base, r.FDR10
	case wire.SpeedFDR:
		speed, fdr10 = base|wire.SpeedFDR, true
	case wire.SpeedEDR:
		speed, fdr10 = base|wire.SpeedFDR|wire.SpeedEDR, true
	case wire.SpeedHDR:
		speed, fdr10 = base|wire.SpeedFDR|wire.SpeedEDR|wire.SpeedHDR, true
	case wire.SpeedNDR:
		speed, fdr10 = base|wire.SpeedFDR|wire.SpeedEDR|wire.SpeedHDR|wire.SpeedNDR, true
	}
	return width, speed, fdr10
}
