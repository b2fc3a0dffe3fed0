package cm

import "github.com/ibemu/ibemu/stack/mad"

// SendRaw sends one CM MAD as this CM (tests: messages the CM never sends
// itself, such as LAP).
func (c *CM) SendRaw(to mad.Addr, m []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sendLocked(to, m, false)
}
