package access_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/access"
)

// FuzzParsePrefixes feeds ParsePrefixes one entry per line. It must never panic; what it
// accepts must be valid, masked, zone-free prefixes, IPv4 in IPv4 form, that parse back
// to themselves; what it rejects must be reported as an *access.InvalidPrefixError
// naming the first bad entry.
func FuzzParsePrefixes(f *testing.F) {
	for _, s := range []string{
		"203.0.113.7",
		"10.1.2.3/8",
		"2001:db8::/32",
		" 2001:db8::1 \n192.0.2.0/24\t",
		"0.0.0.0/0\n::/0",
		"::ffff:10.0.0.0/104",
		"::ffff:1.2.3.4",
		"::ffff:0:0/95",
		"::ffff:1.2.3.4/96",
		"fe80::1%eth0",
		"fe80::/10%eth0",
		"",
		"10.0.0.0/8\n\n10.0.0.1",
		"1.2.3.4/33",
		"1.2.3.4/",
		"/24",
		"01.2.3.4",
		"1.2.3.4/024",
		"\u00a010.0.0.0/8\r",
		"2001:db8::1/128\n2001:db8::1/-1",
		"1.2.3.4 /24",
		strings.Repeat("1", 100),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		entries := strings.Split(s, "\n")
		prefixes, err := access.ParsePrefixes(entries)
		if err != nil {
			require.ErrorIs(t, err, access.ErrInvalidPrefix)
			assert.Nil(t, prefixes, "nothing is returned with an error")
			if len(entries) > access.MaxAllowlistEntries {
				return // the list as a whole is too long; no entry is to blame
			}
			var ipe *access.InvalidPrefixError
			require.ErrorAs(t, err, &ipe)
			require.True(t, ipe.Index >= 0 && ipe.Index < len(entries), "index %d of %d", ipe.Index, len(entries))
			want := entries[ipe.Index]
			if len(want) > 64 {
				want = want[:64]
			}
			assert.Equal(t, want, ipe.Entry)
			// It names the first bad entry: those before it parse on their own, it does not.
			_, err := access.ParsePrefixes(entries[:ipe.Index])
			require.NoError(t, err)
			_, err = access.ParsePrefixes(entries[ipe.Index : ipe.Index+1])
			require.Error(t, err)
			return
		}
		require.Len(t, prefixes, len(entries))
		strs := make([]string, len(prefixes))
		for i, p := range prefixes {
			require.True(t, p.IsValid(), "entry %q gave an invalid prefix", entries[i])
			require.Equal(t, p.Masked(), p, "entry %q: not masked", entries[i])
			require.Empty(t, p.Addr().Zone(), "entry %q: zone kept", entries[i])
			require.False(t, p.Addr().Is4In6(), "entry %q: IPv4-mapped prefix %s kept", entries[i], p)
			if a, err := netip.ParseAddr(strings.TrimSpace(entries[i])); err == nil {
				// a single address is a prefix holding exactly it
				a = a.Unmap()
				require.True(t, p.Contains(a) && p.Bits() == a.BitLen(), "entry %q gave %s", entries[i], p)
			}
			strs[i] = p.String()
		}
		again, err := access.ParsePrefixes(strs)
		require.NoError(t, err, "ParsePrefixes(%q) does not accept its own output %q", entries, strs)
		require.Equal(t, prefixes, again)
	})
}

// fuzzProxies are the trusted-proxy configurations FuzzClientIP chooses from.
var fuzzProxies = [][]netip.Prefix{
	nil,
	{netip.MustParsePrefix("10.0.0.0/8")},
	{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("::1/128"),
	},
	{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}, // every hop trusted
}

// xffEntries splits X-Forwarded-For lines into their comma-separated entries, trimmed.
func xffEntries(lines []string) []string {
	var out []string
	for _, l := range lines {
		for _, e := range strings.Split(l, ",") {
			out = append(out, strings.TrimSpace(e))
		}
	}
	return out
}

// parseXFFEntry parses an entry as X-Forwarded-For writers do: an address, or an
// address with a port, IPv4-mapped addresses as IPv4, without zone.
func parseXFFEntry(e string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(e)
	if err != nil {
		ap, err := netip.ParseAddrPort(e)
		if err != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}

func trustedBy(a netip.Addr, proxies []netip.Prefix) bool {
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// FuzzClientIP checks ClientIP's promises for any peer address and any X-Forwarded-For
// lines (one per line of xff): it never panics; an untrusted peer's header is ignored;
// through a trusted peer the result is the peer or an address written in the header;
// and it is a trusted proxy only when every hop is one; a malformed hop that trusted
// proxies vouch for gives no address at all.
func FuzzClientIP(f *testing.F) {
	for _, s := range []struct {
		remote, xff string
		proxies     uint8
	}{
		{"10.0.0.1:1234", "1.2.3.4, 203.0.113.7", 1},
		{"203.0.113.9:5555", "10.0.0.1", 1},
		{"203.0.113.9:5555", "10.0.0.1", 0},
		{"[2001:db8::1]:443", "2001:db8::2, 198.51.100.7", 2},
		{"10.0.0.1:1", "garbage, 203.0.113.7\n10.0.0.2", 1},
		{"10.0.0.1:1", "203.0.113.7, garbage", 1},
		{"[::ffff:10.0.0.1]:80", "::ffff:203.0.113.5", 1},
		{"10.0.0.1:1", "[2001:db8::7]:4711, 203.0.113.7:4711", 3},
		{"10.0.0.1:1", "10.0.0.3, 10.0.0.2", 1},
		{"[::1]:1", "fe80::1%eth0", 2},
		{"10.0.0.1", "1.2.3.4,,5.6.7.8", 1},
		{"bad", "1.2.3.4", 3},
		{"", "", 0},
		{"10.0.0.1:1", "\n\n", 1},
		{"10.0.0.1:1", "1.2.3.4,", 1},
	} {
		f.Add(s.remote, s.xff, s.proxies)
	}
	f.Fuzz(func(t *testing.T, remote, xff string, which uint8) {
		proxies := fuzzProxies[int(which)%len(fuzzProxies)]
		lines := strings.Split(xff, "\n")
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": lines}}
		got := access.ClientIP(r, proxies)
		// The peer address, as ClientIP sees it without any header.
		peer := access.ClientIP(&http.Request{RemoteAddr: remote, Header: http.Header{}}, proxies)

		if got.IsValid() {
			assert.Empty(t, got.Zone(), "zone kept")
			assert.False(t, got.Is4In6(), "IPv4-mapped address %s returned", got)
		}
		proxied := peer.IsValid() && trustedBy(peer, proxies)
		require.Equal(t, proxied, access.ForwardedByProxy(r, proxies), "ForwardedByProxy of %q", remote)
		if !proxied {
			require.Equal(t, peer, got, "the header of an untrusted peer %q changed the result", remote)
			return
		}
		entries := xffEntries(lines)
		written, malformed, allTrusted := false, false, true
		for _, e := range entries {
			a, ok := parseXFFEntry(e)
			// ClientIP also refuses entries longer than any address with a port can be.
			if !ok || len(e) > 64 {
				malformed = true
				continue
			}
			written = written || a == got
			allTrusted = allTrusted && trustedBy(a, proxies)
		}
		if !got.IsValid() {
			require.True(t, malformed, "no address although %q is well-formed", lines)
			return
		}
		require.True(t, got == peer || written, "%s is neither the peer nor written in %q", got, lines)
		if trustedBy(got, proxies) {
			require.True(t, allTrusted || malformed,
				"returned the trusted proxy %s although %q holds an untrusted, well-formed hop", got, lines)
		}
	})
}

// TestClientIP pins ClientIP's answers for the cases a deployment meets, and the
// CVE-2020-28483 regression: addresses a client writes to the left of what the trusted
// proxy appended are never believed.
func TestClientIP(t *testing.T) {
	p := netip.MustParsePrefix
	one := []netip.Prefix{p("10.0.0.0/8")}
	chain := []netip.Prefix{p("10.0.0.0/8"), p("192.168.0.0/16"), p("2001:db8:ffff::/48")}
	cases := []struct {
		name    string
		remote  string
		xff     []string // header lines; nil: no header
		proxies []netip.Prefix
		want    string // "" is the invalid Addr
	}{
		{"no proxies, no header", "203.0.113.7:4711", nil, nil, "203.0.113.7"},
		{"no proxies configured, spoofed header ignored", "203.0.113.7:4711", []string{"198.51.100.1"}, nil, "203.0.113.7"},
		{"untrusted peer, spoofed header ignored", "203.0.113.7:4711", []string{"10.0.0.5"}, one, "203.0.113.7"},
		{"trusted proxy, no header", "10.0.0.1:4711", nil, one, "10.0.0.1"},
		{"trusted proxy, single entry", "10.0.0.1:4711", []string{"203.0.113.7"}, one, "203.0.113.7"},
		{"chain of trusted proxies", "10.0.0.1:4711", []string{"203.0.113.7, 192.168.1.1, 10.0.0.2"}, chain, "203.0.113.7"},
		{"every hop trusted: the leftmost", "10.0.0.1:4711", []string{"10.0.0.3, 10.0.0.2"}, one, "10.0.0.3"},
		{"CVE-2020-28483: spoofed leftmost entry ignored", "10.0.0.1:4711", []string{"1.2.3.4, 203.0.113.7"}, one, "203.0.113.7"},
		{"spoofed trusted-looking entries ignored", "10.0.0.1:4711", []string{"10.9.9.9, 1.2.3.4, 203.0.113.7"}, one, "203.0.113.7"},
		{"several header lines: the last line is the nearest", "10.0.0.1:4711", []string{"1.2.3.4", "203.0.113.7, 10.0.0.2"}, one, "203.0.113.7"},
		{"several header lines: walks into earlier lines", "10.0.0.1:4711", []string{"1.2.3.4, 203.0.113.7", "10.0.0.3", "10.0.0.2"}, one, "203.0.113.7"},
		{"IPv6 peer with port", "[2001:db8:ffff::1]:443", []string{"2001:db8::7"}, chain, "2001:db8::7"},
		{"IPv6 peer with port, untrusted", "[2001:db8::1]:443", []string{"203.0.113.7"}, chain, "2001:db8::1"},
		{"IPv4-mapped peer is trusted as IPv4", "[::ffff:10.0.0.1]:443", []string{"203.0.113.7"}, one, "203.0.113.7"},
		{"IPv4-mapped entry returned as IPv4", "10.0.0.1:4711", []string{"::ffff:203.0.113.7"}, one, "203.0.113.7"},
		{"IPv4-mapped untrusted peer returned as IPv4", "[::ffff:203.0.113.7]:443", nil, one, "203.0.113.7"},
		{"zone dropped", "10.0.0.1:4711", []string{"fe80::1%eth0"}, one, "fe80::1"},
		{"garbage left of the client ignored", "10.0.0.1:4711", []string{"garbage, 203.0.113.7"}, one, "203.0.113.7"},
		{"garbage a trusted hop vouches for: no address (fail closed)", "10.0.0.1:4711", []string{"203.0.113.7, garbage, 10.0.0.2"}, one, ""},
		{"garbage next to the peer: no address", "10.0.0.1:4711", []string{"203.0.113.7, unknown"}, one, ""},
		{"empty entry is garbage", "10.0.0.1:4711", []string{"203.0.113.7,"}, one, ""},
		{"over-long entry is garbage", "10.0.0.1:4711", []string{"203.0.113.7, " + strings.Repeat("1", 65)}, one, ""},
		{"IPv4 entry with port", "10.0.0.1:4711", []string{"203.0.113.7:4711"}, one, "203.0.113.7"},
		{"IPv6 entry with port", "10.0.0.1:4711", []string{"[2001:db8::7]:4711"}, one, "2001:db8::7"},
		{"trusted entry with port skipped", "10.0.0.1:4711", []string{"203.0.113.7, 10.0.0.2:80"}, one, "203.0.113.7"},
		{"spaces around entries", "10.0.0.1:4711", []string{"  203.0.113.7 ,\t10.0.0.2 "}, one, "203.0.113.7"},
		{"peer without port", "10.0.0.1", []string{"203.0.113.7"}, one, "203.0.113.7"},
		{"invalid RemoteAddr", "not an address", []string{"203.0.113.7"}, one, ""},
		{"empty RemoteAddr", "", []string{"203.0.113.7"}, one, ""},
		{"bracketed RemoteAddr without port", "[2001:db8::1]", nil, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
			for _, l := range tc.xff {
				r.Header.Add("X-Forwarded-For", l)
			}
			got := access.ClientIP(r, tc.proxies)
			if !access.ForwardedByProxy(r, tc.proxies) {
				assert.Equal(t, access.ClientIP(&http.Request{RemoteAddr: tc.remote}, nil), got,
					"without a trusted peer the answer is the peer's")
			}
			if tc.want == "" {
				assert.False(t, got.IsValid(), "got %s", got)
				return
			}
			assert.Equal(t, netip.MustParseAddr(tc.want), got)
		})
	}
}
