package wire

// ServiceRecord is the SA ServiceRecord (IBTA Vol 1 §15.2.5.14), AttrID
// 0x0031, 176 bytes: register with SubnAdmSet, remove with SubnAdmDelete,
// look up with SubnAdmGet/GetTable.
//
//	+---------------------------------------------------------------+
//	|                         ServiceID (64)                        |  0
//	+---------------------------------------------------------------+
//	|                        ServiceGID (128)                       |  8
//	+-------------------------------+-------------------------------+
//	|          ServiceP_Key         |           reserved            |  24
//	+-------------------------------+-------------------------------+
//	|                          ServiceLease                         |  28
//	+---------------------------------------------------------------+
//	|                        ServiceKey (128)                       |  32
//	+---------------------------------------------------------------+
//	|             ServiceName (64 bytes, NUL-terminated)            |  48
//	+---------------------------------------------------------------+
//	|                     ServiceData8[0..15]                       |  112
//	+---------------------------------------------------------------+
//	|                     ServiceData16[0..7]                       |  128
//	+---------------------------------------------------------------+
//	|                     ServiceData32[0..3]                       |  144
//	+---------------------------------------------------------------+
//	|                     ServiceData64[0..1]                       |  160
//	+---------------------------------------------------------------+
type ServiceRecord []byte

// ServiceRecord sizes and values.
const (
	ServiceRecordSize = 176
	// ServiceLeaseInfinite is the lease that never expires.
	ServiceLeaseInfinite = 0xFFFFFFFF
	// ServiceNameSize is the size of ServiceName.
	ServiceNameSize = 64
)

const (
	srServiceID   = 0
	srServiceGID  = 8
	srServicePKey = 24
	srLease       = 28
	srKey         = 32
	srName        = 48
	srData8       = 112
	srData16      = 128
	srData32      = 144
	srData64      = 160
)

// ServiceRecord ComponentMask bits (IBTA Vol 1 §15.2.5.14; OpenSM
// IB_SR_COMPMASK_*). The ServiceData components are numbered from
// ServiceRecordCompData8(0) upward; use the helper functions.
const (
	ServiceRecordCompServiceID   ComponentMask = 1 << 0
	ServiceRecordCompServiceGID  ComponentMask = 1 << 1
	ServiceRecordCompServicePKey ComponentMask = 1 << 2
	ServiceRecordCompLease       ComponentMask = 1 << 4
	ServiceRecordCompKey         ComponentMask = 1 << 5
	ServiceRecordCompName        ComponentMask = 1 << 6
)

// ServiceRecordCompData8 is the component bit of ServiceData8[i] (0-15).
func ServiceRecordCompData8(i int) ComponentMask { return 1 << (7 + uint(i&15)) }

// ServiceRecordCompData16 is the component bit of ServiceData16[i] (0-7).
func ServiceRecordCompData16(i int) ComponentMask { return 1 << (23 + uint(i&7)) }

// ServiceRecordCompData32 is the component bit of ServiceData32[i] (0-3).
func ServiceRecordCompData32(i int) ComponentMask { return 1 << (31 + uint(i&3)) }

// ServiceRecordCompData64 is the component bit of ServiceData64[i] (0-1).
func ServiceRecordCompData64(i int) ComponentMask { return 1 << (35 + uint(i&1)) }

// ServiceRecordFields holds every ServiceRecord field for Encode.
type ServiceRecordFields struct {
	ServiceID     uint64
	ServiceGID    GID
	ServicePKey   PKey
	ServiceLease  uint32 // seconds; ServiceLeaseInfinite never expires
	ServiceKey    [16]byte
	ServiceName   string // up to the first NUL; Encode cuts it to 64 bytes
	ServiceData8  [16]uint8
	ServiceData16 [8]uint16
	ServiceData32 [4]uint32
	ServiceData64 [2]uint64
}

// IsValid reports whether r holds a whole ServiceRecord.
func (r ServiceRecord) IsValid() bool { return len(r) >= ServiceRecordSize }

// ServiceID returns ServiceID.
func (r ServiceRecord) ServiceID() uint64 { return mfU64(r, srServiceID) }

// ServiceGID returns ServiceGID.
func (r ServiceRecord) ServiceGID() GID { return mfGID(r, srServiceGID) }

// ServicePKey returns ServiceP_Key.
func (r ServiceRecord) ServicePKey() PKey { return PKey(mfU16(r, srServicePKey)) }

// ServiceLease returns ServiceLease in seconds.
func (r ServiceRecord) ServiceLease() uint32 { return mfU32(r, srLease) }

// ServiceKey returns ServiceKey.
func (r ServiceRecord) ServiceKey() (k [16]byte) {
	copy(k[:], r[srKey:srKey+16])
	return k
}

// ServiceName returns ServiceName up to the first NUL.
func (r ServiceRecord) ServiceName() string { return mfCString(r[srName : srName+ServiceNameSize]) }

// ServiceData8 returns ServiceData8[i] (0-15), 0 when i is out of range.
func (r ServiceRecord) ServiceData8(i int) uint8 {
	if i < 0 || i >= 16 {
		return 0
	}
	return r[srData8+i]
}

// ServiceData16 returns ServiceData16[i] (0-7), 0 when i is out of range.
func (r ServiceRecord) ServiceData16(i int) uint16 {
	if i < 0 || i >= 8 {
		return 0
	}
	return mfU16(r, srData16+2*i)
}

// ServiceData32 returns ServiceData32[i] (0-3), 0 when i is out of range.
func (r ServiceRecord) ServiceData32(i int) uint32 {
	if i < 0 || i >= 4 {
		return 0
	}
	return mfU32(r, srData32+4*i)
}

// ServiceData64 returns ServiceData64[i] (0-1), 0 when i is out of range.
func (r ServiceRecord) ServiceData64(i int) uint64 {
	if i < 0 || i >= 2 {
		return 0
	}
	return mfU64(r, srData64+8*i)
}

// SetServiceID sets ServiceID.
func (r ServiceRecord) SetServiceID(v uint64) { mfPut64(r, srServiceID, v) }

// SetServiceGID sets ServiceGID.
func (r ServiceRecord) SetServiceGID(g GID) { copy(r[srServiceGID:], g[:]) }

// SetServicePKey sets ServiceP_Key.
func (r ServiceRecord) SetServicePKey(k PKey) { mfPut16(r, srServicePKey, uint16(k)) }

// SetServiceLease sets ServiceLease.
func (r ServiceRecord) SetServiceLease(v uint32) { mfPut32(r, srLease, v) }

// SetServiceKey sets ServiceKey.
func (r ServiceRecord) SetServiceKey(k [16]byte) { copy(r[srKey:], k[:]) }

// SetServiceName writes s, cut to 64 bytes, NUL-padded.
func (r ServiceRecord) SetServiceName(s string) {
	mfPutCString(r[srName:srName+ServiceNameSize], s)
}

// SetServiceData8 sets ServiceData8[i]; i outside 0-15 is ignored.
func (r ServiceRecord) SetServiceData8(i int, v uint8) {
	if i >= 0 && i < 16 {
		r[srData8+i] = v
	}
}

// SetServiceData16 sets ServiceData16[i]; i outside 0-7 is ignored.
func (r ServiceRecord) SetServiceData16(i int, v uint16) {
	if i >= 0 && i < 8 {
		mfPut16(r, srData16+2*i, v)
	}
}

// SetServiceData32 sets ServiceData32[i]; i outside 0-3 is ignored.
func (r ServiceRecord) SetServiceData32(i int, v uint32) {
	if i >= 0 && i < 4 {
		mfPut32(r, srData32+4*i, v)
	}
}

// SetServiceData64 sets ServiceData64[i]; i outside 0-1 is ignored.
func (r ServiceRecord) SetServiceData64(i int, v uint64) {
	if i >= 0 && i < 2 {
		mfPut64(r, srData64+8*i, v)
	}
}

// Encode writes every field of f into r and zeroes the reserved bytes.
func (r ServiceRecord) Encode(f *ServiceRecordFields) {
	clear(r[:ServiceRecordSize])
	r.SetServiceID(f.ServiceID)
	r.SetServiceGID(f.ServiceGID)
	r.SetServicePKey(f.ServicePKey)
	r.SetServiceLease(f.ServiceLease)
	r.SetServiceKey(f.ServiceKey)
	r.SetServiceName(f.ServiceName)
	for i, v := range f.ServiceData8 {
		r.SetServiceData8(i, v)
	}
	for i, v := range f.ServiceData16 {
		r.SetServiceData16(i, v)
	}
	for i, v := range f.ServiceData32 {
		r.SetServiceData32(i, v)
	}
	for i, v := range f.ServiceData64 {
		r.SetServiceData64(i, v)
	}
}

// Fields decodes every field of r.
func (r ServiceRecord) Fields() ServiceRecordFields {
	f := ServiceRecordFields{
		ServiceID:    r.ServiceID(),
		ServiceGID:   r.ServiceGID(),
		ServicePKey:  r.ServicePKey(),
		ServiceLease: r.ServiceLease(),
		ServiceKey:   r.ServiceKey(),
		ServiceName:  r.ServiceName(),
	}
	for i := range f.ServiceData8 {
		f.ServiceData8[i] = r.ServiceData8(i)
	}
	for i := range f.ServiceData16 {
		f.ServiceData16[i] = r.ServiceData16(i)
	}
	for i := range f.ServiceData32 {
		f.ServiceData32[i] = r.ServiceData32(i)
	}
	for i := range f.ServiceData64 {
		f.ServiceData64[i] = r.ServiceData64(i)
	}
	return f
}

// ParseServiceRecord returns the ServiceRecord view over the first
// ServiceRecordSize bytes of b.
func ParseServiceRecord(b []byte) (ServiceRecord, error) {
	if err := mfCheckLen("servicerecord", b, ServiceRecordSize); err != nil {
		return nil, err
	}
	return ServiceRecord(b[:ServiceRecordSize]), nil
}
