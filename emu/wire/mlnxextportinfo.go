package wire

// MlnxExtPortInfo is the Mellanox vendor-specific SM attribute
// MlnxExtPortInfo (AttrMlnxExtPortInfo, 0xFF90, in the range IBTA Vol 1
// §14.2.5 leaves to manufacturers). It carries the FDR10 speed PortInfo
// has no bit for: libibmad's IB_MLNX_EXT_PORT_* fields, `smpquery mepi`,
// `ibportstate ... fdr10` and OpenSM's "fdr10" option read and write it.
// The AttributeModifier is the port number.
//
// The attribute is 64 bytes (the whole SMP
// data field), as OpenSM's ib_mlnx_ext_port_info_t and libibmad lay it
// out: four 32-bit words whose low byte holds a field, then reserved.
//
//	 0               1               2               3
//	+-----------------------------------------------+---------------+
//	|                   reserved                    |StateChangeEnab|  0
//	+-----------------------------------------------+---------------+
//	|                   reserved                    |LinkSpeedSupp. |  4
//	+-----------------------------------------------+---------------+
//	|                   reserved                    |LinkSpeedEnab. |  8
//	+-----------------------------------------------+---------------+
//	|                   reserved                    |LinkSpeedActive| 12
//	+-----------------------------------------------+---------------+
//	|                      reserved (48 bytes)                      | 16
//
// The speed fields are masks of MlnxSpeed bits. A Set changes
// LinkSpeedEnabled only when StateChangeEnable has MlnxStateChangeSpeed.
type MlnxExtPortInfo []byte

// MlnxExtPortInfoSize is the size of the attribute: the SMP data field.
const MlnxExtPortInfoSize = 64

const (
	mepiStateChangeEnable = 3
	mepiSpeedSupported    = 7
	mepiSpeedEnabled      = 11
	mepiSpeedActive       = 15
)

// MlnxSpeed is a MlnxExtPortInfo speed mask.
type MlnxSpeed uint8

// MlnxExtPortInfo speed bits (OpenSM's and libibmad's FDR10).
const MlnxSpeedFDR10 MlnxSpeed = 0x01

// MlnxStateChangeSpeed is the StateChangeEnable bit that makes a Set apply
// LinkSpeedEnabled (ibportstate and OpenSM write 0x01 with it).
const MlnxStateChangeSpeed uint8 = 0x01

// MlnxExtPortInfoFields holds every MlnxExtPortInfo field for Encode.
type MlnxExtPortInfoFields struct {
	StateChangeEnable  uint8
	LinkSpeedSupported MlnxSpeed
	LinkSpeedEnabled   MlnxSpeed
	LinkSpeedActive    MlnxSpeed
}

// ParseMlnxExtPortInfo returns b as a MlnxExtPortInfo view, or an error
// when b is shorter than the attribute.
func ParseMlnxExtPortInfo(b []byte) (MlnxExtPortInfo, error) {
	if err := mfCheckLen("mlnx ext port info", b, MlnxExtPortInfoSize); err != nil {
		return nil, err
	}
	return MlnxExtPortInfo(b[:MlnxExtPortInfoSize]), nil
}

// IsValid reports whether m holds a whole attribute.
func (m MlnxExtPortInfo) IsValid() bool { return len(m) >= MlnxExtPortInfoSize }

// StateChangeEnable returns StateChangeEnable.
func (m MlnxExtPortInfo) StateChangeEnable() uint8 { return m[mepiStateChangeEnable] }

// LinkSpeedSupported returns LinkSpeedSupported.
func (m MlnxExtPortInfo) LinkSpeedSupported() MlnxSpeed { return MlnxSpeed(m[mepiSpeedSupported]) }

// LinkSpeedEnabled returns LinkSpeedEnabled.
func (m MlnxExtPortInfo) LinkSpeedEnabled() MlnxSpeed { return MlnxSpeed(m[mepiSpeedEnabled]) }

// LinkSpeedActive returns LinkSpeedActive.
func (m MlnxExtPortInfo) LinkSpeedActive() MlnxSpeed { return MlnxSpeed(m[mepiSpeedActive]) }

// Fields decodes every field.
func (m MlnxExtPortInfo) Fields() MlnxExtPortInfoFields {
	return MlnxExtPortInfoFields{
		StateChangeEnable:  m.StateChangeEnable(),
		LinkSpeedSupported: m.LinkSpeedSupported(),
		LinkSpeedEnabled:   m.LinkSpeedEnabled(),
		LinkSpeedActive:    m.LinkSpeedActive(),
	}
}

// Encode writes f into m and zeroes the reserved bytes.
func (m MlnxExtPortInfo) Encode(f *MlnxExtPortInfoFields) {
	clear(m[:MlnxExtPortInfoSize])
	m[mepiStateChangeEnable] = f.StateChangeEnable
	m[mepiSpeedSupported] = uint8(f.LinkSpeedSupported)
	m[mepiSpeedEnabled] = uint8(f.LinkSpeedEnabled)
	m[mepiSpeedActive] = uint8(f.LinkSpeedActive)
}
