package sm

import (
	"strings"
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

func FuzzApplyOpenSMOptions(f *testing.F) {
	f.Add([]byte("congestion_control TRUE\ncc_cct 0:1,2:3\ncc_sw_cong_setting_victim_mask 0xF\n"))
	f.Add([]byte("cc_ca_cong_setting_ccti_timer 3 0x10 # c\nrouting_engine ftree,minhop\nsm_priority '9'\n"))
	f.Add([]byte("lmc 8\nsubnet_prefix 0xfe80000000000000\nsweep_interval 0\n\"x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Config
		// Files named in the options are not read: only keys the fuzzer
		// cannot reach a real file with are exercised.
		if strings.Contains(string(b), "_file") {
			return
		}
		if _, err := c.ApplyOpenSMOptions("fuzz", strings.NewReader(string(b))); err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz:") {
				t.Fatalf("error without its file:line: %v", err)
			}
			return
		}
		if cc := c.CongestionControl; cc != nil {
			if err := cc.check(); err != nil {
				t.Fatalf("accepted settings the SM refuses: %v", err)
			}
		}
	})
}
