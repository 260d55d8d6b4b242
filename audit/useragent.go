package audit

import (
	"sync"

	useragent "github.com/medama-io/go-useragent"
)

// Detail keys that [Prepare] fills for login and session events from the user agent.
const (
	DetailBrowser        = "browser"
	DetailBrowserVersion = "browser_version"
	DetailOS             = "os"
	DetailDevice         = "device"
)

// UserAgent is what [ParseUserAgent] recognises in a User-Agent header. Fields the
// parser does not recognise are empty.
type UserAgent struct {
	Browser string // "Chrome", "Firefox", "Safari", "Edge", ...
	Version string // the browser's version, such as "118.0.0.0"
	OS      string // "Windows", "MacOS", "Linux", "Android", "iOS", ...
	Device  string // "Desktop", "Mobile", "Tablet", "TV", "Bot"
}

// uaParser is the User-Agent parser, built on first use: building its trie takes a few
// milliseconds and a few hundred kilobytes, which a program that never parses a user
// agent should not pay. The parser is safe for concurrent use.
var uaParser = sync.OnceValue(useragent.NewParser)

// ParseUserAgent parses a User-Agent header with github.com/medama-io/go-useragent, a
// trie-based parser that allocates nothing and takes well under a microsecond. The
// header is untrusted input: ParseUserAgent never fails, returning empty fields for
// anything it does not recognise, and reads at most the first 1024 bytes.
func ParseUserAgent(ua string) UserAgent {
	if ua == "" {
		return UserAgent{}
	}
	if len(ua) > maxUserAgentParse {
		ua = ua[:maxUserAgentParse]
	}
	a := uaParser().Parse(ua)
	return UserAgent{
		Browser: string(a.Browser()),
		Version: a.BrowserVersion(),
		OS:      string(a.OS()),
		Device:  string(a.Device()),
	}
}

// maxUserAgentParse bounds the part of a User-Agent that is parsed; real ones are a
// few hundred bytes.
const maxUserAgentParse = 1024

// Browser returns the browser name and version of a User-Agent header, such as
// "Firefox" and "128.0", or empty strings if the parser does not recognise them. It is
// what the login log shows (see [ParseUserAgent]).
func Browser(ua string) (name, version string) {
	a := ParseUserAgent(ua)
	return a.Browser, a.Version
}
