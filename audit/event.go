package audit

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Kind is the stream an event belongs to. The built-in kinds are the reports the
// products promise administrators; hosts may use their own kinds (lower-case, dotted
// names such as "crm.export") as long as they pass [ValidName].
type Kind string

// Built-in kinds.
const (
	// KindChange is the change log: who changed what, with field-level before/after.
	KindChange Kind = "change"
	// KindAction is the action log: pages and API calls, with their parameters redacted.
	KindAction Kind = "action"
	// KindLogin is the login log: every authentication attempt, its factor and outcome.
	KindLogin Kind = "login"
	// KindSession records sessions created, touched, ended and revoked.
	KindSession Kind = "session"
	// KindRecording records every access to a call recording (listen, download).
	KindRecording Kind = "recording"
	// KindAccess records authorization decisions worth keeping: denials.
	KindAccess Kind = "access"
)

// Outcome says how the recorded action ended.
type Outcome string

// Outcomes.
const (
	Success Outcome = "success"
	Failure Outcome = "failure" // the action was attempted and failed (bad password, ...)
	Denied  Outcome = "denied"  // the action was refused by authorization
)

// Actor is who acted. The zero Actor is the system itself (a purge job, a migration).
type Actor struct {
	User      uuid.UUID  // zero for the system or an unknown user
	Role      string     // the role name at the time of the event
	IP        netip.Addr // the client address as resolved by access.ClientIP; may be invalid
	UserAgent string
	Session   uuid.UUID // the session that acted, if any
	Token     uuid.UUID // the API token that acted, if any
}

// Target is what was acted upon.
type Target struct {
	Type string // "role", "user", "project", "recording", ... (a [ValidName])
	ID   string // the target's ID, usually a UUID
	Name string // a human label at the time of the event (not a secret)
}

// Change is one field's before and after. Fields that hold secrets are never stored:
// their Old and New are empty and Redacted is true, so the log says that the secret
// changed without saying what it was.
type Change struct {
	Field    string
	Old      string
	New      string
	Redacted bool
}

// Event is one entry of any audit stream. Build it with the fields that apply; [Recorder]
// fills ID and Time and validates it before it is stored.
//
// Events never carry secrets: passwords, tokens, TOTP secrets and recovery codes are
// redacted by the helpers that build Changes ([Changed], [Secret]), and the secret
// types of the other packages redact themselves.
type Event struct {
	ID      uuid.UUID // UUIDv7, filled by the Recorder when zero
	Tenant  uuid.UUID // required
	Time    time.Time // UTC; filled by the Recorder when zero
	Kind    Kind      // required
	Action  string    // what happened, a ValidName such as "role.update" or "login"
	Actor   Actor
	Target  Target
	Project uuid.UUID // the project the event belongs to, if any
	Outcome Outcome   // required
	Reason  string    // why it failed or was denied ("wrong_password", "ip_not_allowed")
	Changes []Change  // field-level diff, for change-log events
	// Details holds further structured facts (URL, method, redacted API parameters,
	// browser name and version). Keys are ValidNames.
	Details map[string]string

	// Seq is the event's position in its tenant's chain, set by the store on append.
	Seq int64
	// PrevHash and Hash link the event into its tenant's hash chain, set on append.
	PrevHash []byte
	Hash     []byte
	// KeyID is the ID of the chain key Hash was computed with ([Chain.CurrentKeyID]
	// when it was appended; 0 for an unkeyed link), set on append. It is covered by
	// Hash, and [Verify] checks the event with the key it names.
	KeyID uint32
}

// Validation errors returned by [Event.Validate]; wrapped in an *[InvalidEventError].
var ErrInvalidEvent = errors.New("audit: invalid event")

// InvalidEventError says which field of an event is unacceptable.
type InvalidEventError struct {
	Field  string
	Reason string
}

func (e *InvalidEventError) Error() string {
	return fmt.Sprintf("audit: invalid event: %s %s", e.Field, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalidEvent) true.
func (e *InvalidEventError) Unwrap() error { return ErrInvalidEvent }

// MaxFieldLen bounds every free-text field of an event, in bytes.
const MaxFieldLen = 4096

// ValidName reports whether s is usable as a kind, action, target type or detail key:
// 1 to 64 bytes of lower-case ASCII letters, digits, '.', '_' and '-', starting with a
// letter. Names are machine keys: they are never user-supplied text.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Validate checks the event's required fields and names. Free-text fields (user agent,
// target name, reason, changes, details) may hold any valid UTF-8 up to MaxFieldLen;
// [Sanitize] makes them safe first.
func (e *Event) Validate() error {
	switch {
	case e.Tenant == uuid.Nil:
		return &InvalidEventError{"Tenant", "is required"}
	case !ValidName(string(e.Kind)):
		return &InvalidEventError{"Kind", "must be a lower-case name"}
	case !ValidName(e.Action):
		return &InvalidEventError{"Action", "must be a lower-case name"}
	case e.Outcome != Success && e.Outcome != Failure && e.Outcome != Denied:
		return &InvalidEventError{"Outcome", "must be success, failure or denied"}
	case e.Target.Type != "" && !ValidName(e.Target.Type):
		return &InvalidEventError{"Target.Type", "must be a lower-case name"}
	case !e.Time.IsZero() && e.Time.Location() != time.UTC:
		return &InvalidEventError{"Time", "must be UTC"}
	}
	for k := range e.Details {
		if !ValidName(k) {
			return &InvalidEventError{"Details", "keys must be lower-case names"}
		}
	}
	for _, c := range e.Changes {
		if c.Field == "" || len(c.Field) > 128 {
			return &InvalidEventError{"Changes", "field names must be 1 to 128 bytes"}
		}
	}
	return nil
}

// Sanitize makes every free-text field of the event safe to store and to print in a
// line-oriented log: invalid UTF-8 is replaced, control characters (CR, LF, ESC, ...)
// are escaped as \xNN, and each field is cut to MaxFieldLen bytes. It is the defence
// against log injection (OWASP Logging cheat sheet; ASVS 16.4.1) and the Recorder runs
// it on every event. A field that holds a secret ([SecretValue]: one of callshield's
// token prefixes, a JWT) becomes [RedactedValue], whichever code path built the event
// (ASVS 16.2.5); a change whose Old or New was one is marked Redacted.
func (e *Event) Sanitize() {
	e.Actor.UserAgent = redactSecret(Clean(e.Actor.UserAgent))
	e.Actor.Role = redactSecret(Clean(e.Actor.Role))
	e.Target.ID = redactSecret(Clean(e.Target.ID))
	e.Target.Name = redactSecret(Clean(e.Target.Name))
	e.Reason = redactSecret(Clean(e.Reason))
	if len(e.Changes) > 0 {
		cs := make([]Change, len(e.Changes))
		for i, c := range e.Changes {
			cs[i] = Change{Field: Clean(c.Field), Old: redactSecret(Clean(c.Old)), New: redactSecret(Clean(c.New)), Redacted: c.Redacted}
			if cs[i].Old != Clean(c.Old) || cs[i].New != Clean(c.New) {
				cs[i] = Change{Field: cs[i].Field, Redacted: true}
			}
		}
		e.Changes = cs
	}
	if len(e.Details) > 0 {
		d := make(map[string]string, len(e.Details))
		for k, v := range e.Details {
			d[k] = redactSecret(Clean(v))
		}
		e.Details = d
	}
}

// Clean returns s with invalid UTF-8 replaced by U+FFFD, control characters escaped
// as \xNN (and a backslash as \\), cut to at most MaxFieldLen bytes on a rune boundary.
// Clean is idempotent on its own output only in the sense that it never produces a
// control character; applying it twice escapes the backslashes again.
func Clean(s string) string {
	clean := len(s) <= MaxFieldLen && utf8.ValidString(s)
	if clean {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c == 0x7f || c == '\\' {
				clean = false
				break
			}
		}
		if clean {
			for _, r := range s {
				if r >= 0x80 && r < 0xa0 || r == '\u2028' || r == '\u2029' {
					clean = false
					break
				}
			}
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		var piece string
		switch {
		case r == '\\':
			piece = `\\`
		case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0:
			piece = fmt.Sprintf(`\x%02x`, r)
		case r == '\u2028' || r == '\u2029':
			piece = fmt.Sprintf(`\u%04x`, r)
		default:
			piece = string(r)
		}
		if b.Len()+len(piece) > MaxFieldLen {
			break
		}
		b.WriteString(piece)
	}
	return b.String()
}

// Changed returns the Change of a plain (non-secret) field, or false when old equals new.
func Changed(field, old, new string) (Change, bool) {
	if old == new {
		return Change{}, false
	}
	return Change{Field: field, Old: old, New: new}, true
}

// Secret returns the Change of a secret field: it records that the field changed,
// never its values.
func Secret(field string) Change {
	return Change{Field: field, Redacted: true}
}

// RedactedValue is what redacted values read as wherever a value must be shown.
const RedactedValue = "[REDACTED]"
