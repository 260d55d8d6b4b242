package audit

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseUserAgent(t *testing.T) {
	cases := []struct {
		ua   string
		want UserAgent
	}{
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36",
			UserAgent{"Chrome", "118.0.0.0", "Windows", "Desktop"}},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
			UserAgent{"Firefox", "128.0", "Linux", "Desktop"}},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
			UserAgent{"Safari", "17.4", "MacOS", "Desktop"}},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
			UserAgent{"Safari", "17.4", "iOS", "Mobile"}},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
			UserAgent{"Edge", "124.0.2478.51", "Windows", "Desktop"}},
		{"", UserAgent{}},
		{"curl/8.5.0", UserAgent{Device: "Bot"}},
		{"\x00\xff\n garbage", UserAgent{}},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, ParseUserAgent(c.ua), "%q", c.ua)
	}
	name, version := Browser(cases[1].ua)
	assert.Equal(t, "Firefox", name)
	assert.Equal(t, "128.0", version)
}

func FuzzParseUserAgent(f *testing.F) {
	f.Add("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36")
	f.Add("Firefox/" + strings.Repeat("9.", 100))
	f.Add("(((((((")
	f.Fuzz(func(t *testing.T, ua string) {
		a := ParseUserAgent(ua) // must not panic on any input
		if len(a.Version) > 32 || len(a.Browser) > 64 || len(a.OS) > 64 || len(a.Device) > 64 {
			t.Fatalf("unbounded result %+v", a)
		}
	})
}

func BenchmarkParseUserAgent(b *testing.B) {
	const ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36"
	ParseUserAgent(ua) // build the parser outside the loop
	b.ReportAllocs()
	for b.Loop() {
		ParseUserAgent(ua)
	}
}
