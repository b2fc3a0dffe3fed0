package sm

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/ibemu/ibemu/emu/wire"
)

// Partitions is a partition configuration (IBTA Vol 1 §10.9): which ports
// belong to which P_Key and whether as full or limited members. It reads a
// subset of OpenSM's partitions.conf.
type Partitions struct {
	Parts []Partition
}

// Partition is one partition.
type Partition struct {
	Name string
	// PKey is the 15-bit partition key (the membership bit is added per
	// member).
	PKey wire.PKey
	// IPoIB asks for the partition's IPoIB broadcast group.
	IPoIB bool
	// Members maps port GUIDs to full (true) or limited membership;
	// All, CAs and Sws select whole classes (full when true), Self the
	// SM's own port (OpenSM's SELF).
	Members map[wire.GUID]bool
	All     *bool
	CAs     *bool
	Sws     *bool
	Self    *bool
	// Line is where the partition was defined.
	Line int
}

// FileError is an error at a line of a configuration file.
type FileError struct {
	File string
	Line int
	Msg  string
}

// Error implements error: "file:line: message".
func (e *FileError) Error() string { return fmt.Sprintf("sm: %s:%d: %s", e.File, e.Line, e.Msg) }

// Unwrap makes a FileError match ErrPartitionFile.
func (e *FileError) Unwrap() error { return ErrPartitionFile }

// DefaultPartitions is OpenSM's default: partition "Default", P_Key
// 0x7FFF, every port a full member, with IPoIB.
func DefaultPartitions() *Partitions {
	t := true
	return &Partitions{Parts: []Partition{{Name: "Default", PKey: 0x7FFF, IPoIB: true, All: &t, Members: map[wire.GUID]bool{}}}}
}

// LoadPartitions reads a partition file.
func LoadPartitions(path string) (*Partitions, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sm: partition file: %w", err)
	}
	return ParsePartitions(path, b)
}

// ParsePartitions parses partition definitions, one or more per line or
// spread over lines, each ending with ';':
//
//	# comment
//	Default=0x7fff, ipoib : ALL=full ;
//	storage=0x0002 : 0x0002c90300001234=full, 0x0002c90300005678 ;
//
// Members are ALL, ALL_CAS, ALL_SWITCHES, SELF (the SM's own port) or port GUIDs,
// each optionally "=full", "=limited" or "=both" (full). Flags after the
// P_Key are ipoib, mtu=N, rate=N, sl=N, scope=N, defmember=full|limited.
// Errors name file:line.
func ParsePartitions(name string, b []byte) (*Partitions, error) {
	ps := &Partitions{}
	var stmt strings.Builder
	stmtLine := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	seen := map[wire.PKey]int{}
	for ln := 1; sc.Scan(); ln++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for {
			if strings.TrimSpace(line) == "" {
				break
			}
			if stmt.Len() == 0 {
				stmtLine = ln
			}
			i := strings.IndexByte(line, ';')
			if i < 0 {
				stmt.WriteString(line)
				stmt.WriteByte(' ')
				break
			}
			stmt.WriteString(line[:i])
			p, err := parsePartition(name, stmtLine, stmt.String())
			if err != nil {
				return nil, err
			}
			if prev, dup := seen[p.PKey]; dup {
				return nil, &FileError{name, stmtLine, fmt.Sprintf("p_key 0x%04x already defined at line %d", uint16(p.PKey), prev)}
			}
			seen[p.PKey] = stmtLine
			ps.Parts = append(ps.Parts, p)
			stmt.Reset()
			line = line[i+1:]
		}
	}
	if strings.TrimSpace(stmt.String()) != "" {
		return nil, &FileError{name, stmtLine, "definition does not end with ';'"}
	}
	if len(ps.Parts) == 0 {
		return nil, &FileError{name, 1, "no partitions defined"}
	}
	return ps, nil
}

func parsePartition(file string, line int, s string) (Partition, error) {
	bad := func(f string, a ...any) (Partition, error) {
		return Partition{}, &FileError{file, line, fmt.Sprintf(f, a...)}
	}
	head, members, ok := strings.Cut(s, ":")
	if !ok {
		return bad("want \"Name=PKey[, flags] : members\"")
	}
	hf := strings.Split(head, ",")
	nm, key, ok := strings.Cut(strings.TrimSpace(hf[0]), "=")
	nm, key = strings.TrimSpace(nm), strings.TrimSpace(key)
	if !ok || nm == "" {
		return bad("partition %q has no P_Key (want Name=0xNNNN)", strings.TrimSpace(hf[0]))
	}
	k, err := strconv.ParseUint(key, 0, 16)
	if err != nil || k&0x7FFF == 0 || k > 0xFFFF {
		return bad("bad P_Key %q", key)
	}
	p := Partition{Name: nm, PKey: wire.PKey(k & 0x7FFF), Members: map[wire.GUID]bool{}, Line: line}
	defFull := false
	for _, f := range hf[1:] {
		f = strings.TrimSpace(f)
		fk, fv, _ := strings.Cut(f, "=")
		switch strings.ToLower(strings.TrimSpace(fk)) {
		case "ipoib":
			p.IPoIB = true
		case "mtu", "rate", "sl", "scope", "indx0":
			if _, err := strconv.ParseUint(strings.TrimSpace(fv), 0, 8); err != nil {
				return bad("flag %q needs a number", f)
			}
		case "defmember":
			switch strings.TrimSpace(fv) {
			case "full":
				defFull = true
			case "limited":
				defFull = false
			default:
				return bad("defmember must be full or limited, not %q", fv)
			}
		case "":
		default:
			return bad("unknown flag %q", f)
		}
	}
	for _, mem := range strings.Split(members, ",") {
		mem = strings.TrimSpace(mem)
		if mem == "" {
			continue
		}
		who, how, has := strings.Cut(mem, "=")
		who, how = strings.TrimSpace(who), strings.TrimSpace(how)
		full := defFull
		if has {
			switch how {
			case "full", "both":
				full = true
			case "limited":
				full = false
			default:
				return bad("member %q: membership must be full, limited or both", who)
			}
		}
		v := full
		switch strings.ToUpper(who) {
		case "ALL":
			p.All = &v
		case "ALL_CAS":
			p.CAs = &v
		case "ALL_SWITCHES":
			p.Sws = &v
		case "SELF":
			p.Self = &v
		default:
			g, err := strconv.ParseUint(who, 0, 64)
			if err != nil {
				return bad("member %q is neither a port GUID nor ALL, ALL_CAS, ALL_SWITCHES, SELF", who)
			}
			p.Members[wire.GUID(g)] = full
		}
	}
	return p, nil
}

// membership reports whether port p belongs to part and how; self is the
// SM's own port. A port that several members name is a full member when
// any of them makes it one (OpenSM's partition manager keeps the full bit
// of osm_prtn_add_port).
func (part *Partition) membership(p, self *Port) (member, full bool) {
	add := func(f bool) {
		member, full = true, full || f
	}
	if part.Self != nil && p == self {
		add(*part.Self)
	}
	if f, ok := part.Members[p.GUID]; ok {
		add(f)
	}
	if part.All != nil {
		add(*part.All)
	}
	if part.CAs != nil && !p.Node.IsSwitch() {
		add(*part.CAs)
	}
	if part.Sws != nil && p.Node.IsSwitch() {
		add(*part.Sws)
	}
	return member, full
}

// pkeysFor is the P_Key table of port p: its partitions' keys with the
// membership bit (0x8000) for full members, the default partition first
// when the port is in it, the rest in file order, zero-padded to a block.
func (ps *Partitions) pkeysFor(p, self *Port) []wire.PKey {
	var keys []wire.PKey
	for i := range ps.Parts {
		part := &ps.Parts[i]
		if mem, full := part.membership(p, self); mem {
			k := part.PKey
			if full {
				k |= 0x8000
			}
			keys = append(keys, k)
		}
	}
	sort.SliceStable(keys, func(i, j int) bool { return keys[i]&0x7FFF == 0x7FFF && keys[j]&0x7FFF != 0x7FFF })
	n := (len(keys) + wire.PKeyTableBlockEntries - 1) / wire.PKeyTableBlockEntries * wire.PKeyTableBlockEntries
	if n == 0 {
		n = wire.PKeyTableBlockEntries
	}
	if cap := int(p.Node.Info.PartitionCap); cap > 0 && n > cap {
		n = cap
	}
	out := make([]wire.PKey, n)
	copy(out, keys)
	return out
}
