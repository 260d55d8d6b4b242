package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
)

// eventColumns are the columns of cs_audit_events, in the order of eventArgs and
// scanEvent.
const eventColumns = "tenant_id, seq, id, time, kind, action, actor_user, actor_role, actor_ip, " +
	"actor_user_agent, actor_session, actor_token, target_type, target_id, target_name, " +
	"project_id, outcome, reason, changes, details, prev_hash, hash"

const numEventColumns = 22

// eventsPerInsert bounds a multi-row INSERT on PostgreSQL to 500*22 = 11,000
// parameters, well below its limit of 65,535.
const eventsPerInsert = 500

// changeJSON is the stored form of an audit.Change; its keys are part of the schema.
type changeJSON struct {
	Field    string `json:"field"`
	Old      string `json:"old"`
	New      string `json:"new"`
	Redacted bool   `json:"redacted"`
}

// Append stores the events, all or none, in the order given, as the next links of
// their tenants' hash chains (see [audit.Store]). Inside one transaction it locks the
// chain head of each tenant involved (in a fixed order, so that concurrent appends to
// several tenants cannot deadlock), gives each event Seq = previous+1, PrevHash = the
// previous hash and Hash = Options.Chain.Link(PrevHash, event), inserts the events and
// moves the heads. Appends from any number of Stores and app instances sharing the
// database therefore extend one gap-free chain per tenant.
//
// Events must be prepared (audit.Recorder.Prepare): an event that fails
// audit.Event.Validate, lacks an ID or Time, or holds text that is not valid UTF-8 or
// contains NUL bytes is refused with an *audit.InvalidEventError and nothing is stored.
// An event ID already stored for the tenant is storage.ErrConflict. The events passed
// in are not modified.
func (s *Store) Append(ctx context.Context, events ...audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	for i := range events {
		if err := checkEvent(&events[i]); err != nil {
			return fmt.Errorf("sqlstore: append: %w", err)
		}
	}
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error { return s.appendTx(ctx, tx, events) })
	if err != nil {
		return fmt.Errorf("sqlstore: append: %w", translate(err))
	}
	return nil
}

// checkEvent refuses an event that is not prepared or that a dialect could not store
// exactly: the hash chain covers the Go values, so a value the database would alter
// (invalid UTF-8 re-encoded by JSON, a NUL byte PostgreSQL rejects) must not get in.
func checkEvent(e *audit.Event) error {
	if err := e.Validate(); err != nil {
		return err
	}
	switch {
	case e.ID == uuid.Nil:
		return &audit.InvalidEventError{Field: "ID", Reason: "is required"}
	case e.Time.IsZero():
		return &audit.InvalidEventError{Field: "Time", Reason: "is required"}
	}
	texts := []struct{ field, s string }{
		{"Actor.Role", e.Actor.Role}, {"Actor.UserAgent", e.Actor.UserAgent},
		{"Target.ID", e.Target.ID}, {"Target.Name", e.Target.Name}, {"Reason", e.Reason},
	}
	for _, t := range texts {
		if !storableText(t.s) {
			return &audit.InvalidEventError{Field: t.field, Reason: "must be valid UTF-8 without NUL bytes"}
		}
	}
	for _, c := range e.Changes {
		if !storableText(c.Field) || !storableText(c.Old) || !storableText(c.New) {
			return &audit.InvalidEventError{Field: "Changes", Reason: "must be valid UTF-8 without NUL bytes"}
		}
	}
	for _, v := range e.Details {
		if !storableText(v) {
			return &audit.InvalidEventError{Field: "Details", Reason: "must be valid UTF-8 without NUL bytes"}
		}
	}
	return nil
}

func storableText(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// checkEventFor is checkEvent for the event of an access mutation, which must belong to
// the tenant that the mutation changes.
func checkEventFor(tenant uuid.UUID, e *audit.Event) error {
	if err := checkEvent(e); err != nil {
		return err
	}
	if e.Tenant != tenant {
		return &audit.InvalidEventError{Field: "Tenant", Reason: "must be the tenant of the change"}
	}
	return nil
}

// chainHead is a tenant's last link: the Seq and Hash of its newest event.
type chainHead struct {
	seq  int64
	hash []byte
}

// appendTx appends checked events inside tx.
func (s *Store) appendTx(ctx context.Context, tx *sql.Tx, events []audit.Event) error {
	evs := slices.Clone(events) // Seq and hashes are set on a copy, never the caller's
	heads := make(map[uuid.UUID]*chainHead)
	var tenants []uuid.UUID
	for i := range evs {
		if _, ok := heads[evs[i].Tenant]; !ok {
			heads[evs[i].Tenant] = nil
			tenants = append(tenants, evs[i].Tenant)
		}
	}
	slices.SortFunc(tenants, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	for _, t := range tenants {
		h, err := s.lockHead(ctx, tx, t)
		if err != nil {
			return err
		}
		heads[t] = h
	}
	for i := range evs {
		e, h := &evs[i], heads[evs[i].Tenant]
		h.seq++
		e.Seq = h.seq
		e.PrevHash = h.hash
		e.Hash = s.chain.Link(h.hash, e)
		h.hash = e.Hash
	}
	if err := s.insertEvents(ctx, tx, evs); err != nil {
		return err
	}
	for _, t := range tenants {
		h := heads[t]
		if _, err := tx.ExecContext(ctx, "UPDATE cs_audit_heads SET seq = $2, hash = $3 WHERE tenant_id = $1",
			t, h.seq, h.hash); err != nil {
			return err
		}
	}
	return nil
}

// lockHead returns the tenant's chain head, locked until the end of tx: with SELECT ...
// FOR UPDATE on PostgreSQL, by the write transaction itself on SQLite. A tenant's first
// append creates its head (seq 0, no hash); ON CONFLICT DO NOTHING makes two first
// appends racing on PostgreSQL agree on one row, the loser then locking it.
func (s *Store) lockHead(ctx context.Context, tx *sql.Tx, tenant uuid.UUID) (*chainHead, error) {
	query := "SELECT seq, hash FROM cs_audit_heads WHERE tenant_id = $1" + s.d.lockSuffix()
	var h chainHead
	err := tx.QueryRowContext(ctx, query, tenant).Scan(&h.seq, &h.hash)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO cs_audit_heads (tenant_id, seq) VALUES ($1, 0) ON CONFLICT (tenant_id) DO NOTHING",
			tenant); err != nil {
			return nil, err
		}
		err = tx.QueryRowContext(ctx, query, tenant).Scan(&h.seq, &h.hash)
	}
	if err != nil {
		return nil, err
	}
	if len(h.hash) == 0 {
		h.hash = nil
	}
	return &h, nil
}

// insertEvents inserts the events. PostgreSQL gets multi-row INSERTs of up to
// eventsPerInsert rows, one round trip each. SQLite, which has no round trips to save
// and whose parser looks $N parameters up in a linear list, gets one prepared
// single-row INSERT executed per event.
func (s *Store) insertEvents(ctx context.Context, tx *sql.Tx, evs []audit.Event) error {
	if s.d == SQLite {
		stmt, err := tx.PrepareContext(ctx, insertEventsSQL(1))
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := range evs {
			if _, err := stmt.ExecContext(ctx, s.eventArgs(&evs[i])...); err != nil {
				return err
			}
		}
		return nil
	}
	for start := 0; start < len(evs); start += eventsPerInsert {
		batch := evs[start:min(start+eventsPerInsert, len(evs))]
		args := make([]any, 0, len(batch)*numEventColumns)
		for i := range batch {
			args = append(args, s.eventArgs(&batch[i])...)
		}
		if _, err := tx.ExecContext(ctx, insertEventsSQL(len(batch)), args...); err != nil {
			return err
		}
	}
	return nil
}

// insertEventsSQL returns an INSERT of rows events.
func insertEventsSQL(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO cs_audit_events (" + eventColumns + ") VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := range numEventColumns {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "$%d", i*numEventColumns+j+1)
		}
		b.WriteByte(')')
	}
	return b.String()
}

// eventArgs returns e's column values in eventColumns order. Zero UUIDs, empty changes
// and details and the first event's missing PrevHash are stored as NULL.
func (s *Store) eventArgs(e *audit.Event) []any {
	ip, _ := e.Actor.IP.MarshalText() // never fails; "" for the zero Addr
	var changes, details, prev any
	if len(e.Changes) > 0 {
		cs := make([]changeJSON, len(e.Changes))
		for i, c := range e.Changes {
			cs[i] = changeJSON(c)
		}
		b, _ := json.Marshal(cs) // strings and bools always marshal
		changes = string(b)
	}
	if len(e.Details) > 0 {
		b, _ := json.Marshal(e.Details)
		details = string(b)
	}
	if len(e.PrevHash) > 0 {
		prev = e.PrevHash
	}
	return []any{
		e.Tenant, e.Seq, e.ID, s.d.timeArg(e.Time), string(e.Kind), e.Action,
		nullUUID(e.Actor.User), e.Actor.Role, string(ip), e.Actor.UserAgent,
		nullUUID(e.Actor.Session), nullUUID(e.Actor.Token),
		e.Target.Type, e.Target.ID, e.Target.Name, nullUUID(e.Project),
		string(e.Outcome), e.Reason, changes, details, prev, e.Hash,
	}
}

// scanEvent reads a row of eventColumns.
func scanEvent(rows *sql.Rows) (audit.Event, error) {
	var (
		e       audit.Event
		ip      string
		changes []changeJSON
	)
	err := rows.Scan(&e.Tenant, &e.Seq, &e.ID, timeCol{&e.Time}, &e.Kind, &e.Action,
		nullUUIDCol{&e.Actor.User}, &e.Actor.Role, &ip, &e.Actor.UserAgent,
		nullUUIDCol{&e.Actor.Session}, nullUUIDCol{&e.Actor.Token},
		&e.Target.Type, &e.Target.ID, &e.Target.Name, nullUUIDCol{&e.Project},
		&e.Outcome, &e.Reason, jsonCol{&changes}, jsonCol{&e.Details}, &e.PrevHash, &e.Hash)
	if err != nil {
		return e, err
	}
	if err := e.Actor.IP.UnmarshalText([]byte(ip)); err != nil {
		return e, fmt.Errorf("%w: audit event %s seq %d: actor_ip: %w", ErrCorrupt, e.Tenant, e.Seq, err)
	}
	if len(changes) > 0 {
		e.Changes = make([]audit.Change, len(changes))
		for i, c := range changes {
			e.Changes[i] = audit.Change(c)
		}
	}
	if len(e.Details) == 0 {
		e.Details = nil
	}
	if len(e.PrevHash) == 0 {
		e.PrevHash = nil
	}
	return e, nil
}

// Events returns the tenant's events matching q, oldest (lowest Seq) first, at most
// q.EffectiveLimit() of them. Every filter is a condition on an indexed, tenant-leading
// column, and the cursor (AfterSeq) uses the (tenant_id, seq) primary key.
func (s *Store) Events(ctx context.Context, tenant uuid.UUID, q audit.Query) ([]audit.Event, error) {
	where := []string{"tenant_id = $1"}
	args := []any{tenant}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	// Stored times have microsecond precision, so t >= From and t < To hold exactly
	// when they hold against From and To rounded up to the next microsecond.
	if !q.From.IsZero() {
		add("time >= $%d", s.d.timeArg(ceilMicro(q.From)))
	}
	if !q.To.IsZero() {
		add("time < $%d", s.d.timeArg(ceilMicro(q.To)))
	}
	if q.Kind != "" {
		add("kind = $%d", string(q.Kind))
	}
	if q.Action != "" {
		add("action = $%d", q.Action)
	}
	if q.User != uuid.Nil {
		add("actor_user = $%d", q.User)
	}
	if q.Target != "" {
		add("target_id = $%d", q.Target)
	}
	if q.Project != uuid.Nil {
		add("project_id = $%d", q.Project)
	}
	if q.Outcome != "" {
		add("outcome = $%d", string(q.Outcome))
	}
	if q.AfterSeq > 0 {
		add("seq > $%d", q.AfterSeq)
	}
	args = append(args, q.EffectiveLimit())
	query := "SELECT " + eventColumns + " FROM cs_audit_events WHERE " + strings.Join(where, " AND ") +
		fmt.Sprintf(" ORDER BY seq LIMIT $%d", len(args))
	evs, err := collect(ctx, s.db, scanEvent, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: events: %w", err)
	}
	return evs, nil
}

// ceilMicro rounds t up to a whole microsecond.
func ceilMicro(t time.Time) time.Time {
	if f := t.Truncate(time.Microsecond); !f.Equal(t) {
		return f.Add(time.Microsecond)
	}
	return t
}
