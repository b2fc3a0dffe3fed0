package sm

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ibemu/ibemu/emu/wire"
)

// lidRange is the LIDs of one end port: base and 2^LMC - 1 more.
type lidRange struct {
	base wire.LID
	lmc  uint8
}

func (r lidRange) last() wire.LID { return r.base + wire.LID(1)<<r.lmc - 1 }

// GUIDTable is the persistent map from port GUIDs to LIDs, in the format of
// OpenSM's guid2lid file: one "0xGUID MINLID MAXLID" line per port.
type GUIDTable map[wire.GUID]lidRange

// LoadGUIDTable reads a GUID-to-LID file. A missing file is an empty table;
// a malformed line is an error naming file:line.
func LoadGUIDTable(path string) (GUIDTable, error) {
	t := GUIDTable{}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sm: guid file: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		bad := func(why string) error {
			return fmt.Errorf("sm: %s:%d: %s: %w", path, ln, why, ErrGUIDFile)
		}
		if len(f) != 3 {
			return nil, bad("want \"0xGUID MINLID MAXLID\"")
		}
		g, err1 := strconv.ParseUint(f[0], 0, 64)
		lo, err2 := strconv.ParseUint(f[1], 0, 16)
		hi, err3 := strconv.ParseUint(f[2], 0, 16)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, bad("not numbers")
		}
		n := hi - lo + 1
		if lo == 0 || hi < lo || wire.LID(hi) > wire.LIDUnicastMax || n&(n-1) != 0 || n > 128 || lo%n != 0 {
			return nil, bad(fmt.Sprintf("lid range %d-%d is not an aligned unicast block", lo, hi))
		}
		lmc := uint8(0)
		for 1<<lmc < n {
			lmc++
		}
		t[wire.GUID(g)] = lidRange{wire.LID(lo), lmc}
	}
	return t, nil
}

// Save writes the table atomically (a temporary file renamed over path).
func (t GUIDTable) Save(path string) error {
	guids := make([]wire.GUID, 0, len(t))
	for g := range t {
		guids = append(guids, g)
	}
	sort.Slice(guids, func(i, j int) bool { return guids[i] < guids[j] })
	var b bytes.Buffer
	b.WriteString("# ibemu sm guid-to-lid table: port GUID, first LID, last LID\n")
	for _, g := range guids {
		r := t[g]
		fmt.Fprintf(&b, "0x%016x %d %d\n", uint64(g), r.base, r.last())
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".guid2lid-*")
	if err != nil {
		return fmt.Errorf("sm: guid file: %w", err)
	}
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("sm: guid file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("sm: guid file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("sm: guid file: %w", err)
	}
	return nil
}

// assignLIDs gives every end port a LID range (IBTA Vol 1 §14.4.3,
// OpenSM's osm_lid_mgr): first the range the GUID table remembers, then
// the range the port already carries if it is aligned and free, then the
// lowest free aligned range. Switch port 0 gets LMC 0. The SM's own
// previous assignments (prev) come first of all, so LIDs stay put across
// sweeps.
func assignLIDs(sn *Subnet, lmc uint8, prev, table GUIDTable) error {
	used := make([]*Port, int(wire.LIDUnicastMax)+1)
	var ports []*Port
	for _, n := range sn.Nodes {
		for _, p := range n.Ports {
			if p == nil || !p.EndPort() || p.GUID == 0 {
				continue
			}
			if !p.Node.IsSwitch() && !p.LinkUp() && p != sn.Local {
				continue
			}
			p.LMC = lmc
			if p.Node.IsSwitch() {
				p.LMC = 0
			}
			ports = append(ports, p)
		}
	}
	fits := func(r lidRange, p *Port) bool {
		if r.base == 0 || r.lmc != p.LMC || r.base%(wire.LID(1)<<r.lmc) != 0 || r.last() > wire.LIDUnicastMax {
			return false
		}
		for l := r.base; l <= r.last(); l++ {
			if used[l] != nil {
				return false
			}
		}
		return true
	}
	take := func(r lidRange, p *Port) {
		p.LID = r.base
		for l := r.base; l <= r.last(); l++ {
			used[l] = p
		}
	}
	for _, src := range []GUIDTable{prev, table} {
		for _, p := range ports {
			if p.LID != 0 {
				continue
			}
			if r, ok := src[p.GUID]; ok && fits(lidRange{r.base, p.LMC}, p) {
				take(lidRange{r.base, p.LMC}, p)
			}
		}
	}
	for _, p := range ports {
		if p.LID == 0 && p.Read {
			if r := (lidRange{p.Info.LID, p.LMC}); fits(r, p) {
				take(r, p)
			}
		}
	}
	next := wire.LID(1)
	for _, p := range ports {
		if p.LID != 0 {
			continue
		}
		step := wire.LID(1) << p.LMC
		l := (next + step - 1) / step * step
		for ; l+step-1 <= wire.LIDUnicastMax; l += step {
			if fits(lidRange{l, p.LMC}, p) {
				break
			}
		}
		if l+step-1 > wire.LIDUnicastMax {
			return fmt.Errorf("sm: no free lid for %s: %w", p, ErrLIDsExhausted)
		}
		take(lidRange{l, p.LMC}, p)
		if p.LMC == 0 {
			next = l + 1
		}
	}
	top := wire.LID(0)
	for l := len(used) - 1; l > 0; l-- {
		if used[l] != nil {
			top = wire.LID(l)
			break
		}
	}
	sn.ByLID = used[:top+1]
	return nil
}

// lidTable returns the assignments of sn as a GUID table.
func lidTable(sn *Subnet) GUIDTable {
	t := GUIDTable{}
	for _, n := range sn.Nodes {
		for _, p := range n.Ports {
			if p != nil && p.EndPort() && p.LID != 0 {
				t[p.GUID] = lidRange{p.LID, p.LMC}
			}
		}
	}
	return t
}
