package access

import (
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

// parseHostAddrReference is parseHostAddr as net/netip and net would write it (the
// port parsed and then ignored): parseHostAddr must answer as it does for every input.
func parseHostAddrReference(s string) netip.Addr {
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

var hostAddrSeeds = []string{
	"203.0.113.7:4711", "[2001:db8::1]:443", "[::ffff:10.0.0.1]:80", "[fe80::1%eth0]:80", "10.0.0.1",
	"2001:db8::1", "::1", "[::1]", "[::1]:", "1.2.3.4:", "1.2.3.4:notaport", "[1.2.3.4]:80", ":80", "[]:80",
	"", ":", "[", "]:1", "bad", "1.2.3.4:5:6", "[2001:db8::1]:443:1", "::ffff:1.2.3.4", "[[::1]]:1",
}

func TestParseHostAddrMatchesReference(t *testing.T) {
	for _, s := range hostAddrSeeds {
		assert.Equal(t, parseHostAddrReference(s), parseHostAddr(s), "%q", s)
	}
}

func FuzzParseHostAddr(f *testing.F) {
	for _, s := range hostAddrSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := parseHostAddr(s), parseHostAddrReference(s); got != want {
			t.Fatalf("parseHostAddr(%q) = %v, reference %v", s, got, want)
		}
	})
}
