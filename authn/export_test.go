package authn

// HoldHashSlots takes every hashing slot of h, as a flood of sign-ins would, until the
// returned function gives them back.
func HoldHashSlots(h *Hasher) (release func()) {
	n := cap(h.slots)
	for range n {
		h.slots <- struct{}{}
	}
	return func() {
		for range n {
			<-h.slots
		}
	}
}
