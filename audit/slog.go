package audit

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/callshield/callshield/mask"
	"github.com/google/uuid"
)

// MirrorGroup is the group under which [LogEvent] writes an event's fields. It differs
// from the marker group of [NewSlogHandler] ("audit" by default), so that a mirrored
// event reaching an audit handler is logged, never recorded a second time.
const MirrorGroup = "audit_event"

// MirrorMessage is the message of the records that [LogEvent] writes.
const MirrorMessage = "audit event"

// LogEvent writes e to logger as one record at level Info with message [MirrorMessage]
// and the event's fields in the group [MirrorGroup]: id, tenant, seq (when stored),
// time (RFC 3339, UTC), kind, action, outcome, reason, actor.{user, role, ip,
// user_agent, session, token}, target.{type, id, name}, project, changes.N.{field, old,
// new, redacted} for the N-th change, and details.<key>. Empty fields are left out.
//
// It is how events are mirrored to a SIEM ([Options].Mirror, [WriterOptions].Mirror).
// Events hold no secrets; text fields are passed through [Clean] when they hold a
// character that could forge a log line (the event was sanitized already unless the
// caller built it by hand), so the record is injection-safe with any slog handler.
func LogEvent(ctx context.Context, logger *slog.Logger, e *Event) {
	if logger == nil || !logger.Enabled(ctx, slog.LevelInfo) {
		return
	}
	logger.LogAttrs(ctx, slog.LevelInfo, MirrorMessage, slog.Attr{Key: MirrorGroup, Value: slog.GroupValue(eventAttrs(e)...)})
}

// eventAttrs returns the attributes LogEvent writes.
func eventAttrs(e *Event) []slog.Attr {
	a := make([]slog.Attr, 0, 16)
	str := func(k, v string) {
		if v != "" {
			a = append(a, slog.String(k, safeText(v)))
		}
	}
	id := func(k string, u uuid.UUID) {
		if u != uuid.Nil {
			a = append(a, slog.String(k, u.String()))
		}
	}
	id("id", e.ID)
	id("tenant", e.Tenant)
	if e.Seq > 0 {
		a = append(a, slog.Int64("seq", e.Seq))
	}
	if !e.Time.IsZero() {
		a = append(a, slog.String("time", e.Time.UTC().Format(time.RFC3339Nano)))
	}
	str("kind", string(e.Kind))
	str("action", e.Action)
	str("outcome", string(e.Outcome))
	str("reason", e.Reason)
	var actor []any
	if e.Actor.User != uuid.Nil {
		actor = append(actor, slog.String("user", e.Actor.User.String()))
	}
	for _, kv := range [][2]string{{"role", e.Actor.Role}, {"ip", addrText(e.Actor.IP)}, {"user_agent", e.Actor.UserAgent}} {
		if kv[1] != "" {
			actor = append(actor, slog.String(kv[0], safeText(kv[1])))
		}
	}
	if e.Actor.Session != uuid.Nil {
		actor = append(actor, slog.String("session", e.Actor.Session.String()))
	}
	if e.Actor.Token != uuid.Nil {
		actor = append(actor, slog.String("token", e.Actor.Token.String()))
	}
	if len(actor) > 0 {
		a = append(a, slog.Group("actor", actor...))
	}
	var target []any
	for _, kv := range [][2]string{{"type", e.Target.Type}, {"id", e.Target.ID}, {"name", e.Target.Name}} {
		if kv[1] != "" {
			target = append(target, slog.String(kv[0], safeText(kv[1])))
		}
	}
	if len(target) > 0 {
		a = append(a, slog.Group("target", target...))
	}
	id("project", e.Project)
	if len(e.Changes) > 0 {
		cs := make([]any, len(e.Changes))
		for i, c := range e.Changes {
			cs[i] = slog.Group(strconv.Itoa(i), slog.String("field", safeText(c.Field)), slog.String("old", safeText(c.Old)),
				slog.String("new", safeText(c.New)), slog.Bool("redacted", c.Redacted))
		}
		a = append(a, slog.Group("changes", cs...))
	}
	if len(e.Details) > 0 {
		keys := make([]string, 0, len(e.Details))
		for k := range e.Details {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		d := make([]any, 0, len(keys))
		for _, k := range keys {
			d = append(d, slog.String(safeText(k), safeText(e.Details[k])))
		}
		a = append(a, slog.Group("details", d...))
	}
	return a
}

// addrText is the text form of an address, "" for the zero Addr.
func addrText(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	return ip.String()
}

// safeText returns s unchanged if it holds nothing that could break a log line or a
// terminal (control characters, U+2028/U+2029, invalid UTF-8), and [Clean]ed
// otherwise. Unlike Clean it leaves a clean string's backslashes alone, so an event
// sanitized once is not escaped twice on its way out.
func safeText(s string) string {
	if !utf8.ValidString(s) || len(s) > MaxFieldLen {
		return Clean(s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == '\u2028' || r == '\u2029' {
			return Clean(s)
		}
	}
	return s
}

// Enqueuer accepts events for asynchronous writing; [*Writer] is one.
type Enqueuer interface {
	Enqueue(e Event) error
}

// Field names of the marker group that [NewSlogHandler] reads. Every other attribute
// of the group becomes a detail (nested groups as dotted keys, "http.status").
const (
	SlogTenant     = "tenant"      // required: the tenant's UUID
	SlogKind       = "kind"        // required: a ValidName
	SlogAction     = "action"      // required: a ValidName
	SlogOutcome    = "outcome"     // success (default), failure or denied
	SlogReason     = "reason"      //
	SlogUser       = "user"        // the actor's UUID
	SlogRole       = "role"        //
	SlogIP         = "ip"          // the actor's address (netip.Addr or its text)
	SlogUserAgent  = "user_agent"  //
	SlogSession    = "session"     // UUID
	SlogToken      = "token"       // UUID of the API token
	SlogTargetType = "target_type" //
	SlogTargetID   = "target_id"   //
	SlogTargetName = "target_name" //
	SlogProject    = "project"     // UUID
)

// SlogOptions configure [NewSlogHandler]. The zero value is valid.
type SlogOptions struct {
	// Group is the top-level group that marks a record as an audit event. If empty,
	// "audit".
	Group string
	// Next receives every record that is not an audit event, unchanged, and the
	// audit records that do not become events (below Level, or that could not be
	// enqueued, with an "audit_error" attribute). Those reach Next redacted as their
	// event would be: the value of every attribute of the audit group whose name is
	// [Sensitive] or whose value is a [SecretValue] (a token or session field that is
	// no UUID too) reads [RedactedValue], and the details and the message are masked
	// as the event's are (Mask), so that a full queue or a closed writer never sends a
	// secret or a card number to the log. The same holds for audit attributes given
	// with WithAttrs. If nil, such records are discarded.
	Next slog.Handler
	// Level is the lowest level at which a record may be an audit event. If nil,
	// every level.
	Level slog.Leveler
	// Mask masks the personal data in the details and the message of an event
	// (card numbers, phone numbers, e-mail addresses), as [ActionOptions].Mask
	// does for parameters; nil means the default rules of package mask. Secrets
	// ([SecretValue]) are redacted whatever the Masker.
	Mask *mask.Masker
	// OnError, if not nil, is called when a marked record cannot become an event
	// (a missing tenant, an invalid name, a full queue), besides the record being
	// passed to Next. Failures are counted in [SlogHandler.Failed] too.
	OnError func(error)
}

// SlogHandler is an slog.Handler that turns log records marked with an audit group into
// events (see [NewSlogHandler]).
type SlogHandler struct {
	w      Enqueuer
	opts   SlogOptions
	next   slog.Handler
	groups []string    // groups opened with WithGroup
	attrs  []slogField // attributes added with WithAttrs, with their group path
	failed *atomic.Int64
}

// slogField is one attribute with the group path it sits under.
type slogField struct {
	path []string
	attr slog.Attr
}

// NewSlogHandler returns a handler that turns selected log records into events and
// enqueues them on w. A record is selected when it carries the top-level group
// opts.Group ("audit"), directly or through Logger.With or WithGroup:
//
//	logger.Info("role changed",
//		slog.Group("audit", "tenant", tenantID, "kind", "change", "action", "role.update",
//			"user", userID, "target_type", "role", "target_id", roleID))
//
// The group's fields are listed with [SlogTenant] and the other Slog constants; its
// other attributes become details (redacted, like [ActionEvent]'s parameters, when
// their name is [Sensitive] or their value a [SecretValue], and masked with
// opts.Mask), and the message becomes the detail "message", masked too. The
// record's time is the event's time. Records without the group go to opts.Next, so the
// handler can wrap the program's usual handler.
//
// Use it for events that already flow through logging; code that records a
// security-relevant change should call [Recorder.Record] and act on its error.
func NewSlogHandler(w Enqueuer, opts SlogOptions) *SlogHandler {
	if opts.Group == "" {
		opts.Group = "audit"
	}
	return &SlogHandler{w: w, opts: opts, next: opts.Next, failed: new(atomic.Int64)}
}

// Failed returns how many marked records could not become events.
func (h *SlogHandler) Failed() int64 { return h.failed.Load() }

// Enabled reports whether a record at level may be handled: it may be an audit event,
// or Next wants it.
func (h *SlogHandler) Enabled(ctx context.Context, level slog.Level) bool {
	if h.opts.Level == nil || level >= h.opts.Level.Level() {
		return true
	}
	return h.next != nil && h.next.Enabled(ctx, level)
}

// WithAttrs returns a handler whose records carry attrs.
func (h *SlogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	c := *h
	c.attrs = slices.Clone(h.attrs)
	for _, a := range attrs {
		c.attrs = append(c.attrs, slogField{path: h.groups, attr: a})
	}
	if h.next != nil {
		red := make([]slog.Attr, len(attrs))
		for i, a := range attrs {
			red[i] = h.redact(h.groups, a)
		}
		c.next = h.next.WithAttrs(red)
	}
	return &c
}

// WithGroup returns a handler whose later attributes sit in the group name.
func (h *SlogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.groups = append(slices.Clip(h.groups), name)
	if h.next != nil {
		c.next = h.next.WithGroup(name)
	}
	return &c
}

// Handle enqueues a marked record as an event and passes any other record to Next.
func (h *SlogHandler) Handle(ctx context.Context, r slog.Record) error {
	fields, marked := h.auditFields(r)
	if !marked {
		if h.next != nil && h.next.Enabled(ctx, r.Level) {
			return h.next.Handle(ctx, r)
		}
		return nil
	}
	if h.opts.Level != nil && r.Level < h.opts.Level.Level() {
		if h.next != nil && h.next.Enabled(ctx, r.Level) {
			return h.next.Handle(ctx, h.redactRecord(r))
		}
		return nil
	}
	e, err := recordEvent(r, fields, h.opts.Mask)
	if err == nil {
		err = h.w.Enqueue(e)
	}
	if err == nil {
		return nil
	}
	h.failed.Add(1)
	if h.opts.OnError != nil {
		h.opts.OnError(err)
	}
	if h.next != nil && h.next.Enabled(ctx, r.Level) {
		r = h.redactRecord(r)
		r.AddAttrs(slog.String("audit_error", err.Error()))
		return h.next.Handle(ctx, r)
	}
	return err
}

// redactRecord returns a copy of the marked record r for Next, with the values an
// event would redact replaced (see [SlogOptions].Next).
func (h *SlogHandler) redactRecord(r slog.Record) slog.Record {
	out := slog.NewRecord(r.Time, r.Level, scrubValue(h.opts.Mask, r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.redact(h.groups, a))
		return true
	})
	return out
}

// redact returns a, which sits under the groups path, with the value of every
// attribute of the marker group that an event would redact replaced by
// RedactedValue. It follows the event path (auditFields, recordEvent): values are
// resolved, unnamed groups are inlined, and an attribute's name is its dotted path
// inside the marker group ("card.number"). Attributes outside the marker group are
// returned unchanged.
func (h *SlogHandler) redact(path []string, a slog.Attr) slog.Attr {
	inGroup := len(path) > 0 && path[0] == h.opts.Group
	if !inGroup && (len(path) > 0 || a.Key != "" && a.Key != h.opts.Group) {
		return a // can hold no attribute of the marker group
	}
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := path
		if a.Key != "" {
			p = append(slices.Clip(path), a.Key)
		}
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i := range g {
			out[i] = h.redact(p, g[i])
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	}
	if inGroup && a.Key != "" {
		key := strings.Join(append(slices.Clip(path[1:]), a.Key), ".")
		if redacted(key, v) {
			return slog.String(a.Key, RedactedValue)
		}
		if !eventField(key) { // a detail: masked as recordEvent masks it
			if s := v.String(); scrubValue(h.opts.Mask, s) != s {
				return slog.String(a.Key, scrubValue(h.opts.Mask, s))
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// eventField reports whether key is one of the marker group's fields that become the
// event's own fields rather than details.
func eventField(key string) bool {
	switch key {
	case SlogTenant, SlogKind, SlogAction, SlogOutcome, SlogReason, SlogUser, SlogRole, SlogIP, SlogUserAgent,
		SlogSession, SlogToken, SlogTargetType, SlogTargetID, SlogTargetName, SlogProject:
		return true
	}
	return false
}

// redacted reports whether the value of the marker group's field key is left out of
// what reaches Next. Any value that is a SecretValue is, as Event.Sanitize redacts it;
// a detail is also redacted when its name is Sensitive, as recordEvent redacts it; the
// event's own fields are kept otherwise, except a token or session field that is no
// UUID: the event keeps it as an ID, and a value that is not one may be the secret.
func redacted(key string, v slog.Value) bool {
	switch key {
	case SlogToken, SlogSession:
		_, err := uuid.Parse(v.String())
		return err != nil
	}
	if SecretValue(v.String()) {
		return true
	}
	return !eventField(key) && Sensitive(key)
}

// auditFields returns the attributes under the marker group, keyed by their path
// inside it ("tenant", "http.status"), and whether the record is marked.
func (h *SlogHandler) auditFields(r slog.Record) (map[string]slog.Value, bool) {
	var fields map[string]slog.Value
	marked := false
	var walk func(path []string, a slog.Attr)
	walk = func(path []string, a slog.Attr) {
		v := a.Value.Resolve()
		if v.Kind() == slog.KindGroup {
			if a.Key == "" { // an unnamed group is inlined
				for _, g := range v.Group() {
					walk(path, g)
				}
				return
			}
			p := append(slices.Clip(path), a.Key)
			if len(p) == 1 && a.Key == h.opts.Group {
				marked = true
			}
			for _, g := range v.Group() {
				walk(p, g)
			}
			return
		}
		if len(path) == 0 || path[0] != h.opts.Group || a.Key == "" {
			return
		}
		if fields == nil {
			fields = make(map[string]slog.Value)
		}
		key := strings.Join(append(slices.Clip(path[1:]), a.Key), ".")
		fields[key] = v
		marked = true
	}
	for _, f := range h.attrs {
		walk(f.path, f.attr)
	}
	r.Attrs(func(a slog.Attr) bool {
		walk(h.groups, a)
		return true
	})
	if len(h.groups) > 0 && h.groups[0] == h.opts.Group {
		marked = true
	}
	return fields, marked
}

// recordEvent builds the event of a marked record, masking its details and message
// with m.
func recordEvent(r slog.Record, fields map[string]slog.Value, m *mask.Masker) (Event, error) {
	e := Event{Time: r.Time, Outcome: Success}
	str := func(k string) string {
		v, ok := fields[k]
		if !ok {
			return ""
		}
		delete(fields, k)
		return v.String()
	}
	var err error
	id := func(k string) uuid.UUID {
		s := str(k)
		if s == "" {
			return uuid.Nil
		}
		u, perr := uuid.Parse(s)
		if perr != nil && err == nil {
			err = &InvalidEventError{Field: "slog " + k, Reason: "is not a UUID"}
		}
		return u
	}
	e.Tenant = id(SlogTenant)
	e.Kind = Kind(str(SlogKind))
	e.Action = str(SlogAction)
	if o := str(SlogOutcome); o != "" {
		e.Outcome = Outcome(o)
	}
	e.Reason = str(SlogReason)
	e.Actor.User = id(SlogUser)
	e.Actor.Role = str(SlogRole)
	if ip := str(SlogIP); ip != "" {
		a, perr := netip.ParseAddr(ip)
		if perr != nil && err == nil {
			err = &InvalidEventError{Field: "slog " + SlogIP, Reason: "is not an IP address"}
		}
		e.Actor.IP = a
	}
	e.Actor.UserAgent = str(SlogUserAgent)
	e.Actor.Session = id(SlogSession)
	e.Actor.Token = id(SlogToken)
	e.Target = Target{Type: str(SlogTargetType), ID: str(SlogTargetID), Name: str(SlogTargetName)}
	e.Project = id(SlogProject)
	if err != nil {
		return e, err
	}
	if len(fields) > 0 || r.Message != "" {
		e.Details = make(map[string]string, len(fields)+1)
		for k, v := range fields {
			if !ValidName(k) {
				return e, &InvalidEventError{Field: "slog " + fmt.Sprintf("%q", Clean(k)), Reason: "is not a lower-case name"}
			}
			if Sensitive(k) {
				e.Details[k] = RedactedValue
				continue
			}
			e.Details[k] = scrubValue(m, v.String())
		}
		if r.Message != "" {
			e.Details["message"] = scrubValue(m, r.Message)
		}
	}
	return e, nil
}
