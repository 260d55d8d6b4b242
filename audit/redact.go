package audit

import (
	"net/url"
	"strings"

	"github.com/callshield/callshield/internal/secretfmt"
	"github.com/callshield/callshield/mask"
)

// SecretValue reports whether v holds a secret, whatever name it is given under: one
// of callshield's own secret prefixes followed by a token body (invitation and reset
// links "csinv_…" and "csrst_…", API tokens "cst_…", sessions "cssn_…", pending
// sign-ins, sign-in flows) or a JSON Web Token ("eyJ…" with a dot). Such a value has no
// place in an event: [Event.Sanitize], run on every event, replaces each free-text field
// that holds one with [RedactedValue], and [ActionEvent] and the slog bridge redact such
// parameter values before anything else. It errs on the side of redaction.
func SecretValue(v string) bool { return secretfmt.Contains(v) }

// redactSecret returns RedactedValue if v holds a secret, v otherwise.
func redactSecret(v string) string {
	if secretfmt.Contains(v) {
		return RedactedValue
	}
	return v
}

// scrubValue is the value rule of the action log and the slog bridge, for a value
// whose name is not sensitive: a secret is redacted whole; personal data in it (card
// numbers, phone numbers, e-mail addresses) is masked by m's Scrub, the default rules
// if m is nil. UUIDs, ISO 8601 dates and RFC 3339 date-times are kept (see
// mask.Masker.Scrub).
func scrubValue(m *mask.Masker, v string) string {
	if secretfmt.Contains(v) {
		return RedactedValue
	}
	return m.Scrub(v)
}

// scrubSegment applies scrubValue to one escaped path segment, comparing and masking
// its unescaped form, and returns it escaped again.
func scrubSegment(m *mask.Masker, seg string) string {
	if seg == "" || seg == RedactedValue {
		return seg
	}
	u, err := url.PathUnescape(seg)
	if err != nil {
		u = seg
	}
	s := scrubValue(m, u)
	if s == u {
		return seg
	}
	if s == RedactedValue {
		return s
	}
	// '*' is allowed in a path segment (RFC 3986 sub-delims): keep the mask readable.
	return strings.ReplaceAll(url.PathEscape(s), "%2A", "*")
}

// ScrubPath returns a request path (escaped or not) as it may be stored outside an
// event, such as a session's last URL: each segment that holds a secret
// ([SecretValue]) replaced by RedactedValue, and personal data in the others masked
// with the default rules of package mask, as [ActionEvent] records a path. It does not
// know the route's wildcards; where the *http.Request is at hand, [RequestPath] also
// redacts the segments of sensitive wildcards.
func ScrubPath(p string) string {
	seg := strings.Split(p, "/")
	for i, s := range seg {
		seg[i] = scrubValue(nil, s)
	}
	return strings.Join(seg, "/")
}
