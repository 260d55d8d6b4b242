package access

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP returns the address of the client that made r.
//
// It reads X-Forwarded-For only when the direct peer (r.RemoteAddr) is inside one of
// trustedProxies, because any client can write that header. It then walks the header
// from right to left, skipping addresses of trusted proxies, and returns the first
// address that is not one: the rightmost untrusted address, which is the last hop that a
// trusted proxy saw. The leftmost entries are written by the client and are never
// believed (the mistake behind CVE-2020-28483). If TrustedProxies is empty the header is
// ignored.
//
// If an entry that trusted proxies vouch for cannot be parsed (a misconfigured proxy),
// ClientIP returns the invalid Addr, which every non-empty allowlist denies: it fails
// closed rather than guess. If every entry is a trusted proxy, it returns the leftmost.
// trustedProxies are matched against unmapped addresses: give IPv4 proxies as IPv4
// prefixes (ParsePrefixes does that). IPv4-mapped
// IPv6 addresses are returned as IPv4, zones are dropped. When r.RemoteAddr itself
// cannot be parsed the result is the invalid Addr, which every allowlist denies.
func ClientIP(r *http.Request, trustedProxies []netip.Prefix) netip.Addr {
	peer := parseHostAddr(r.RemoteAddr)
	if !peer.IsValid() || !trusted(peer, trustedProxies) {
		return peer
	}
	addr := peer
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for v != "" {
			var part string
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				part, v = v[j+1:], v[:j]
			} else {
				part, v = v, ""
			}
			a, ok := parseForwarded(strings.TrimSpace(part))
			if !ok {
				return netip.Addr{}
			}
			addr = a
			if !trusted(a, trustedProxies) {
				return a
			}
		}
	}
	return addr
}

// ForwardedByProxy reports whether r's direct peer is one of trustedProxies, so that
// ClientIP reads X-Forwarded-For. When it is not, ClientIP depends on r.RemoteAddr
// alone.
func ForwardedByProxy(r *http.Request, trustedProxies []netip.Prefix) bool {
	peer := parseHostAddr(r.RemoteAddr)
	return peer.IsValid() && trusted(peer, trustedProxies)
}

func trusted(a netip.Addr, proxies []netip.Prefix) bool {
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func parseHostAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// parseForwarded parses one X-Forwarded-For entry: an address, optionally with a port
// ("203.0.113.7:4711", "[2001:db8::1]:4711"), as some proxies write it.
func parseForwarded(s string) (netip.Addr, bool) {
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}
