package sm

import (
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
)

func FuzzParsePartitions(f *testing.F) {
	f.Add([]byte("Default=0x7fff, ipoib : ALL=full ;\n"))
	f.Add([]byte("a=0x1 : 0x0002c90300001234=limited, ALL_SWITCHES ;\nb=0x2, defmember=full :\n ALL_CAS ;"))
	f.Add([]byte("x=0x10 : ALL"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := ParsePartitions("fuzz", b)
		if err == nil && len(ps.Parts) == 0 {
			t.Fatal("no error and no partitions")
		}
	})
}

func FuzzComponentMatch(f *testing.F) {
	f.Add(uint16(wire.AttrMCMemberRecord), uint64(0x1FFFF), make([]byte, 60), make([]byte, 60))
	f.Add(uint16(wire.AttrServiceRecord), uint64(1<<36|1), make([]byte, 10), make([]byte, 176))
	f.Fuzz(func(t *testing.T, attr uint16, mask uint64, a, b []byte) {
		_ = matches(wire.AttrID(attr), wire.ComponentMask(mask), a, b)
		if matches(wire.AttrID(attr), wire.ComponentMask(mask), a, a) != matches(wire.AttrID(attr), wire.ComponentMask(mask), a, a) {
			t.Fatal("not deterministic")
		}
	})
}
