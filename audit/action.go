package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/callshield/callshield/mask"
)

// SensitiveKeys are the parameter names whose values [ActionEvent] never records: a
// parameter is redacted when its name contains one of them, compared case-insensitively
// ("newPassword", "X-Api-Key", "card_number" and "otp_code" all match). Matching by
// substring redacts some harmless names too ("company" contains "pan", "zipcode"
// contains "code", "monkey" "key"); an audit log can afford to lose those, never a
// secret. Names are the first check only: values are looked at too (see
// [ActionEvent]).
var SensitiveKeys = []string{
	"password", "passwd", "pwd", "secret", "token", "api_key", "apikey", "api-key",
	"authorization", "auth", "cookie", "session", "code", "otp", "totp", "recovery",
	"card", "pan", "cvv", "cvc", "iban", "pin", "private", "credential", "signature",
	"jwt", "key", "link", "bearer", "assertion",
}

// Detail keys that [ActionEvent] fills.
const (
	DetailURL    = "url"    // the escaped path, without the query
	DetailMethod = "method" // GET, POST, ...
	DetailRoute  = "route"  // the ServeMux pattern that matched, if any
	// DetailParamsDropped counts parameters left out beyond ActionOptions.MaxParams.
	DetailParamsDropped = "params_dropped"
)

// DefaultMaxParams bounds the parameters [ActionEvent] records per request.
const DefaultMaxParams = 50

// ActionOptions configure [ActionEvent]. The zero value is valid.
type ActionOptions struct {
	// SensitiveKeys are more parameter names to redact, besides [SensitiveKeys]
	// (matched the same way: case-insensitive substrings). Add the names of the
	// product's own secret fields.
	SensitiveKeys []string
	// Body holds the request's body parameters, if the handler parsed them: r.PostForm
	// after r.ParseForm, or [ParamsFromJSON] of a JSON body. ActionEvent never reads
	// the request body itself.
	Body url.Values
	// MaxParams bounds the number of parameters recorded. If zero,
	// DefaultMaxParams.
	MaxParams int
	// Mask masks the personal data found in parameter values and path segments
	// (card numbers, phone numbers, e-mail addresses) with its Scrub. If nil, the
	// default rules of package mask apply (a card shows its last four digits, a
	// phone number its calling code and last two). A revealing Masker
	// (mask.ForViewer(true)) records them as sent. Secrets are redacted whatever
	// the Masker.
	Mask *mask.Masker
}

// ActionEvent returns the action-log event of an HTTP request: Kind KindAction, Action
// "http.request", the user agent, and the details url (the path), method, route (the
// ServeMux pattern), and one detail per parameter, "query.<name>" for the query string
// and "body.<name>" for opts.Body.
//
// Each parameter value and path segment goes through one rule, by default:
//   - the value of a sensitive name (see [SensitiveKeys]) is replaced by
//     [RedactedValue], and so is a path segment matched by a sensitive ServeMux
//     wildcard ("/invite/{token}", "/accept/{link}");
//   - a value or segment that holds a secret ([SecretValue]: callshield's own
//     token prefixes, a JWT) is replaced by RedactedValue whatever its name, and
//     whether or not the router set a pattern ("/accept/csinv_…", "?q=eyJ…");
//   - personal data in the others is masked with the rules of package mask
//     (opts.Mask's Scrub): card numbers (Luhn) keep their last four digits, phone
//     numbers their calling code and last two, e-mail addresses their first
//     character and domain. UUIDs, ISO 8601 dates and RFC 3339 date-times are
//     kept ("?from=2026-01-15&to=2026-02-01", "?at=2026-01-15T10:30:00Z"), and so is
//     a Unix timestamp under one of the [TimeParams] names ("?since=1764700000").
//
// Headers are never recorded: not Authorization, not Cookie, not X-Api-Key. Parameter
// names are turned into detail keys (lower-case, other characters as '_', at most 64
// bytes); a name used twice keeps its values as a JSON array.
//
// The caller fills what the request alone does not say: Tenant and Actor (user, role,
// session, and the API token that made the call) from the authenticated subject, the
// client address from access.ClientIP, the Outcome (see [ActionOutcome]) and the
// response status if wanted. Then it enqueues the event ([Writer.Enqueue]).
func ActionEvent(r *http.Request, opts ActionOptions) Event {
	red := newRedactor(opts.SensitiveKeys)
	red.mask = opts.Mask
	e := Event{Kind: KindAction, Action: "http.request", Actor: Actor{UserAgent: r.UserAgent()}}
	d := map[string]string{
		DetailMethod: r.Method,
		DetailURL:    red.path(r),
	}
	if r.Pattern != "" {
		d[DetailRoute] = r.Pattern
	}
	max := opts.MaxParams
	if max <= 0 {
		max = DefaultMaxParams
	}
	recorded, dropped := 0, 0
	add := func(prefix string, vals url.Values) {
		names := make([]string, 0, len(vals))
		for k := range vals {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, name := range names {
			if recorded >= max {
				dropped++
				continue
			}
			recorded++
			key := paramKey(prefix, name, d)
			vs := vals[name]
			switch {
			case red.sensitive(name):
				d[key] = RedactedValue
			case len(vs) == 1:
				d[key] = scrubParam(red.mask, name, vs[0])
			default:
				out := make([]string, len(vs))
				for i, v := range vs {
					out[i] = scrubParam(red.mask, name, v)
				}
				b, _ := json.Marshal(out) // strings always marshal
				d[key] = string(b)
			}
		}
	}
	if r.URL != nil {
		add("query.", r.URL.Query())
	}
	add("body.", opts.Body)
	if dropped > 0 {
		d[DetailParamsDropped] = strconv.Itoa(dropped)
	}
	e.Details = d
	return e
}

// ActionOutcome maps an HTTP status to an outcome: 401 and 403 are Denied, other
// statuses from 400 up are Failure, the rest Success.
func ActionOutcome(status int) Outcome {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return Denied
	case status >= 400:
		return Failure
	}
	return Success
}

// Sensitive reports whether a parameter named name is redacted by [ActionEvent] with
// extra keys besides [SensitiveKeys].
func Sensitive(name string, extra ...string) bool {
	return newRedactor(extra).sensitive(name)
}

// redactor matches parameter names against the sensitive keys, and masks values with
// mask (the default rules if nil).
type redactor struct {
	keys []string
	mask *mask.Masker
}

func newRedactor(extra []string) redactor {
	keys := SensitiveKeys
	if len(extra) > 0 {
		keys = slices.Clone(SensitiveKeys)
		for _, k := range extra {
			if k = strings.ToLower(strings.TrimSpace(k)); k != "" {
				keys = append(keys, k)
			}
		}
	}
	return redactor{keys: keys}
}

func (r redactor) sensitive(name string) bool {
	n := strings.ToLower(name)
	for _, k := range r.keys {
		if strings.Contains(n, k) {
			return true
		}
	}
	return false
}

// RequestPath returns the request's escaped path as [ActionEvent] records it with the
// default masking rules: the segments matched by ServeMux wildcards with sensitive names
// ([SensitiveKeys], plus extra) and the segments that hold a secret ([SecretValue])
// replaced by RedactedValue, so that neither "/invite/{token}" nor an unrouted
// "/accept/csinv_…" ever stores the token, and personal data in the other segments
// masked. Use it wherever an event records a path.
func RequestPath(req *http.Request, extra ...string) string {
	return newRedactor(extra).path(req)
}

// path returns the request's escaped path with the segments matched by sensitive
// ServeMux wildcards replaced by RedactedValue, and every other segment through
// scrubValue.
func (r redactor) path(req *http.Request) string {
	if req.URL == nil {
		return ""
	}
	seg := r.wildcards(req)
	for i := range seg {
		seg[i] = scrubSegment(r.mask, seg[i])
	}
	return strings.Join(seg, "/")
}

// wildcards returns the segments of the request's escaped path, those matched by
// sensitive ServeMux wildcards replaced by RedactedValue.
func (r redactor) wildcards(req *http.Request) []string {
	p := req.URL.EscapedPath()
	seg := strings.Split(p, "/")
	pattern := req.Pattern
	if pattern == "" {
		return seg
	}
	// A pattern is "[METHOD ][HOST]/PATH"; keep the path.
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = strings.TrimLeft(pattern[i+1:], " ")
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:]
	}
	pseg := strings.Split(pattern, "/")
	for i, ps := range pseg {
		if i >= len(seg) || !strings.HasPrefix(ps, "{") || !strings.HasSuffix(ps, "}") {
			continue
		}
		name := strings.TrimSuffix(strings.TrimSuffix(ps[1:len(ps)-1], "..."), "$")
		if name == "" || !r.sensitive(name) {
			continue
		}
		if strings.HasSuffix(ps, "...}") { // the rest of the path
			seg = append(seg[:i], RedactedValue)
			break
		}
		seg[i] = RedactedValue
	}
	return seg
}

// paramKey returns a detail key for a parameter name, not yet used in d: prefix plus
// the name in lower case with characters outside [a-z0-9._-] as '_', cut to fit 64
// bytes, with "-2", "-3", ... appended if needed.
func paramKey(prefix, name string, d map[string]string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for i := 0; i < len(name) && b.Len() < 58; i++ {
		c := name[i]
		switch {
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
			b.WriteByte(c)
		default:
			b.WriteByte('_')
		}
	}
	key := b.String()
	if _, used := d[key]; !used {
		return key
	}
	for n := 2; ; n++ {
		k := key + "-" + strconv.Itoa(n)
		if _, used := d[k]; !used {
			return k
		}
	}
}

// ErrParams is wrapped by the errors of [ParamsFromJSON].
var ErrParams = errors.New("audit: parameters")

// Limits of [ParamsFromJSON].
const (
	maxJSONDepth  = 16
	maxJSONParams = 1000
)

// ParamsFromJSON flattens a JSON request body into parameters for
// [ActionOptions].Body: nested object keys are joined with '.', array elements indexed
// ("items.0.sku"), and scalars kept as their JSON text (strings unquoted). A value
// under a sensitive key is redacted by ActionEvent whatever its depth, since its
// flattened name contains the key ("card.number"). It reads at most 1000 values 16
// levels deep; a body that is not a JSON object, or exceeds those, is an error wrapping
// [ErrParams].
func ParamsFromJSON(body []byte) (url.Values, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrParams, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON value", ErrParams)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: the body is not a JSON object", ErrParams)
	}
	out := url.Values{}
	n := 0
	var walk func(prefix string, v any, depth int) error
	walk = func(prefix string, v any, depth int) error {
		if depth > maxJSONDepth {
			return fmt.Errorf("%w: nested deeper than %d", ErrParams, maxJSONDepth)
		}
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if err := walk(join(prefix, k), c, depth+1); err != nil {
					return err
				}
			}
			return nil
		case []any:
			for i, c := range x {
				if err := walk(join(prefix, strconv.Itoa(i)), c, depth+1); err != nil {
					return err
				}
			}
			return nil
		}
		if n++; n > maxJSONParams {
			return fmt.Errorf("%w: more than %d values", ErrParams, maxJSONParams)
		}
		var s string
		switch x := v.(type) {
		case nil:
			s = "null"
		case string:
			s = x
		case bool:
			s = strconv.FormatBool(x)
		case json.Number:
			s = x.String()
		}
		out.Add(prefix, s)
		return nil
	}
	if err := walk("", obj, 0); err != nil {
		return nil, err
	}
	return out, nil
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}
