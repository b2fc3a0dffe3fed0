package wire

// NodeDescription is the NodeDescription attribute (IBTA Vol 1
// §14.2.5.2), AttrID 0x0010: 64 bytes of UTF-8 text, NUL-padded.
//
//	+---------------------------------------------------------------+
//	|                    NodeString (64 bytes)                      |  0
//	+---------------------------------------------------------------+
type NodeDescription []byte

// NodeDescriptionSize is the size of the NodeDescription attribute.
const NodeDescriptionSize = 64

// NodeDescriptionFields holds the description for Encode.
type NodeDescriptionFields struct {
	// NodeString is the text up to the first NUL; Encode cuts it to 64
	// bytes.
	NodeString string
}

// IsValid reports whether d holds a whole NodeDescription.
func (d NodeDescription) IsValid() bool { return len(d) >= NodeDescriptionSize }

// String returns the text up to the first NUL.
//
// Equivalent to: `smpquery nodedesc <lid>`.
func (d NodeDescription) String() string { return mfCString(d[:NodeDescriptionSize]) }

// SetString writes s, cut to 64 bytes, and NUL-pads the rest.
func (d NodeDescription) SetString(s string) { mfPutCString(d[:NodeDescriptionSize], s) }

// Encode writes f into d.
func (d NodeDescription) Encode(f *NodeDescriptionFields) { d.SetString(f.NodeString) }

// Fields decodes d.
func (d NodeDescription) Fields() NodeDescriptionFields {
	return NodeDescriptionFields{NodeString: d.String()}
}

// ParseNodeDescription returns the NodeDescription view over the first
// NodeDescriptionSize bytes of b.
func ParseNodeDescription(b []byte) (NodeDescription, error) {
	if err := mfCheckLen("nodedescription", b, NodeDescriptionSize); err != nil {
		return nil, err
	}
	return NodeDescription(b[:NodeDescriptionSize]), nil
}
