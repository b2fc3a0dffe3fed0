package wire_test

import (
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
)

// The CM fuzz targets feed arbitrary bytes to each CM parser and check
// that Fields -> Encode -> Fields is stable for every buffer accepted.

func FuzzParseCMMAD(f *testing.F) {
	addSeeds(f, wire.MADSize)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := wire.ParseCMMAD(b)
		if err == nil && (len(m.Message()) != wire.CMMessageSize || m.MAD().MgmtClass() != wire.MgmtClassCM) {
			t.Fatalf("accepted %d bytes of class %s", len(b), m.MAD().MgmtClass())
		}
	})
}

func FuzzParseCMREQ(f *testing.F) {
	fuzzView(f, wire.CMMessageSize, wire.ParseCMREQ, wire.CMREQ.Fields, wire.CMREQ.Encode)
}

func FuzzParseCMMRA(f *testing.F) {
	fuzzView(f, wire.CMMessageSize, wire.ParseCMMRA, wire.CMMRA.Fields, wire.CMMRA.Encode)
}

func FuzzParseCMREJ(f *testing.F) {
	fuzzView(f, wire.CMMessageSize, wire.ParseCMREJ, wire.CMREJ.Fields, wire.CMREJ.Encode)
}

func FuzzParseCMREP(f *testing.F) {
	fuzzView(f, wire.CMMessageSize, wire.ParseCMREP, wire.CMREP.Fields, wire.CMREP.Encode)
}

func FuzzParseCMRTU(f *testing.F) {
	fuzzView(f, wire.CMMessageSize, wire.ParseCMRTU, wire.CMRTU.Fields, wire.CMRTU.Encode)
}

func FuzzParseCMDREQ(f *testing.F) {
	fuzzView(f, wire.CMMessageSize, wire.ParseCMDREQ, wire.CMDREQ.Fields, wire.CMDREQ.Encode)
}

func FuzzParseCMDREP(f *testing.F) {
	fuzzView(f, wire.CMMessageSize, wire.ParseCMDREP, wire.CMDREP.Fields, wire.CMDREP.Encode)
}

func FuzzParseCMSIDRREQ(f *testing.F) {
	fuzzView(f, wire.CMMessageSize, wire.ParseCMSIDRREQ, wire.CMSIDRREQ.Fields, wire.CMSIDRREQ.Encode)
}

func FuzzParseCMSIDRREP(f *testing.F) {
	fuzzView(f, wire.CMMessageSize, wire.ParseCMSIDRREP, wire.CMSIDRREP.Fields, wire.CMSIDRREP.Encode)
}

func FuzzParseCMLAP(f *testing.F) {
	fuzzView(f, wire.CMMessageSize, wire.ParseCMLAP, wire.CMLAP.Fields, wire.CMLAP.Encode)
}

func FuzzParseCMAPR(f *testing.F) {
	fuzzView(f, wire.CMMessageSize, wire.ParseCMAPR, wire.CMAPR.Fields, wire.CMAPR.Encode)
}
