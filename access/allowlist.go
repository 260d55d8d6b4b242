package access

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gaissmai/bart"
)

// MaxAllowlistEntries bounds a tenant's IP allowlist.
const MaxAllowlistEntries = 10000

// InvalidPrefixError reports the allowlist entry that could not be parsed. It wraps
// [ErrInvalidPrefix].
type InvalidPrefixError struct {
	Index int    // position in the input
	Entry string // the entry as given (cut to 64 bytes)
}

func (e *InvalidPrefixError) Error() string {
	return fmt.Sprintf("access: entry %d (%q) is not an IP address or CIDR prefix", e.Index, e.Entry)
}

// Unwrap makes errors.Is(err, ErrInvalidPrefix) true.
func (e *InvalidPrefixError) Unwrap() error { return ErrInvalidPrefix }

// ParsePrefixes parses allowlist entries: single addresses ("203.0.113.7",
// "2001:db8::1") and CIDR prefixes ("10.0.0.0/8", "2001:db8::/32"), IPv4 and IPv6.
// Surrounding spaces are ignored; a single address becomes a /32 or /128; host bits
// after the prefix length are cleared ("10.1.2.3/8" is 10.0.0.0/8); IPv4-mapped IPv6
// addresses are stored as IPv4. Zones ("fe80::1%eth0"), empty entries and anything else
// are rejected with an *[InvalidPrefixError], and nothing is returned. A list of more
// than MaxAllowlistEntries is rejected with an error wrapping ErrInvalidPrefix.
func ParsePrefixes(entries []string) ([]netip.Prefix, error) {
	if len(entries) > MaxAllowlistEntries {
		return nil, fmt.Errorf("%w: more than %d entries", ErrInvalidPrefix, MaxAllowlistEntries)
	}
	out := make([]netip.Prefix, 0, len(entries))
	for i, raw := range entries {
		p, ok := parsePrefix(strings.TrimSpace(raw))
		if !ok {
			if len(raw) > 64 {
				raw = raw[:64]
			}
			return nil, &InvalidPrefixError{Index: i, Entry: raw}
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, bool) {
	if s == "" || strings.ContainsRune(s, '%') {
		return netip.Prefix{}, false
	}
	if strings.IndexByte(s, '/') < 0 {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), true
}

// Allowlist is a compiled, immutable set of prefixes. Lookups cost no allocation and
// are independent of the list's length in practice (a BART trie).
// The zero value and a nil *Allowlist are empty lists.
type Allowlist struct {
	prefixes []netip.Prefix
	trie     *bart.Lite
}

// NewAllowlist compiles prefixes (see [ParsePrefixes]) into an Allowlist.
func NewAllowlist(prefixes []netip.Prefix) *Allowlist {
	a := &Allowlist{prefixes: append([]netip.Prefix(nil), prefixes...), trie: new(bart.Lite)}
	for _, p := range prefixes {
		if !p.IsValid() {
			continue
		}
		if ad := p.Addr(); ad.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(ad.Unmap(), p.Bits()-96)
		}
		a.trie.Insert(p.Masked())
	}
	return a
}

// Empty reports whether the list has no entries, which means no restriction.
func (a *Allowlist) Empty() bool { return a == nil || len(a.prefixes) == 0 }

// Prefixes returns a copy of the list's entries.
func (a *Allowlist) Prefixes() []netip.Prefix {
	if a == nil {
		return nil
	}
	return append([]netip.Prefix(nil), a.prefixes...)
}

// Allows reports whether a client at ip may connect: true for an empty list, else
// whether ip is inside one of the prefixes. An invalid ip is allowed only by an empty
// list. IPv4-mapped IPv6 addresses match their IPv4 form.
func (a *Allowlist) Allows(ip netip.Addr) bool {
	if a.Empty() {
		return true
	}
	if !ip.IsValid() {
		return false
	}
	return a.trie.Contains(ip.Unmap()) // the trie ignores zones
}
