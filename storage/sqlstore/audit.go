package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// Compile-time check: the store supports verification and retention.
var _ audit.Retainer = (*Store)(nil)

// eventColumns are the columns of cs_audit_events, in the order of eventArgs and
// scanEvent.
const eventColumns = "tenant_id, seq, id, time, kind, action, actor_user, actor_role, actor_ip, " +
	"actor_user_agent, actor_session, actor_token, target_type, target_id, target_name, " +
	"project_id, outcome, reason, changes, details, prev_hash, hash, key_id"

const numEventColumns = 23

// eventsPerInsert bounds a multi-row INSERT on PostgreSQL to 500*23 = 11,500
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
// previous hash, KeyID = Options.Chain.CurrentKeyID() and Hash =
// Options.Chain.Link(PrevHash, event), inserts the events and
// moves the heads. Appends from any number of Stores and app instances sharing the
// database therefore extend one gap-free chain per tenant.
//
// Events must be prepared (audit.Recorder.Prepare): an event that fails
// audit.Event.Validate, lacks an ID or Time, or holds text that is not valid UTF-8 or
// contains NUL bytes is refused with an *audit.InvalidEventError and nothing is stored.
// An event ID already stored for the tenant, or repeated in the batch, is an error
// wrapping storage.ErrConflict and audit.ErrDuplicateEvent. The events passed in are
// not modified.
func (s *Store) Append(ctx context.Context, events ...audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	seen := make(map[[2]uuid.UUID]struct{}, len(events))
	for i := range events {
		if err := checkEvent(&events[i]); err != nil {
			return fmt.Errorf("sqlstore: append: %w", err)
		}
		k := [2]uuid.UUID{events[i].Tenant, events[i].ID}
		if _, dup := seen[k]; dup {
			return fmt.Errorf("sqlstore: append: event %s repeated in the batch: %w: %w",
				events[i].ID, storage.ErrConflict, audit.ErrDuplicateEvent)
		}
		seen[k] = struct{}{}
	}
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error { return s.appendTx(ctx, tx, events) })
	if err == nil {
		return nil
	}
	err = translate(err)
	if errors.Is(err, storage.ErrConflict) {
		// The only unique key an append can break is (tenant_id, id), unless a row
		// was written behind the store's back at the next seq; tell them apart.
		if dup, derr := s.anyStored(ctx, events); derr == nil && dup {
			err = fmt.Errorf("%w: %w", audit.ErrDuplicateEvent, err)
		}
	}
	return fmt.Errorf("sqlstore: append: %w", err)
}

// anyStored reports whether the ID of any of the events is stored for its tenant.
func (s *Store) anyStored(ctx context.Context, events []audit.Event) (bool, error) {
	byTenant := make(map[uuid.UUID][]any)
	for i := range events {
		byTenant[events[i].Tenant] = append(byTenant[events[i].Tenant], events[i].ID)
	}
	for tenant, ids := range byTenant {
		for start := 0; start < len(ids); start += eventsPerInsert {
			chunk := ids[start:min(start+eventsPerInsert, len(ids))]
			var b strings.Builder
			b.WriteString("SELECT count(*) FROM cs_audit_events WHERE tenant_id = $1 AND id IN (")
			for i := range chunk {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "$%d", i+2)
			}
			b.WriteByte(')')
			var n int64
			if err := s.db.QueryRowContext(ctx, b.String(), append([]any{tenant}, chunk...)...).Scan(&n); err != nil {
				return false, err
			}
			if n > 0 {
				return true, nil
			}
		}
	}
	return false, nil
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
	link, keyID := s.chain.Linker(), s.chain.CurrentKeyID()
	for i := range evs {
		e, h := &evs[i], heads[evs[i].Tenant]
		h.seq++
		e.Seq = h.seq
		e.PrevHash = h.hash
		e.KeyID = keyID
		e.Hash = link.Link(h.hash, e)
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
		string(e.Outcome), e.Reason, changes, details, prev, e.Hash, int64(e.KeyID),
	}
}

// scanEvent reads a row of eventColumns.
func scanEvent(rows *sql.Rows) (audit.Event, error) {
	var (
		e       audit.Event
		ip      string
		changes []changeJSON
		keyID   int64
	)
	err := rows.Scan(&e.Tenant, &e.Seq, &e.ID, timeCol{&e.Time}, &e.Kind, &e.Action,
		nullUUIDCol{&e.Actor.User}, &e.Actor.Role, &ip, &e.Actor.UserAgent,
		nullUUIDCol{&e.Actor.Session}, nullUUIDCol{&e.Actor.Token},
		&e.Target.Type, &e.Target.ID, &e.Target.Name, nullUUIDCol{&e.Project},
		&e.Outcome, &e.Reason, jsonCol{&changes}, jsonCol{&e.Details}, &e.PrevHash, &e.Hash, &keyID)
	if err != nil {
		return e, err
	}
	if keyID < 0 || keyID > math.MaxUint32 {
		return e, fmt.Errorf("%w: audit event %s seq %d: key_id %d out of range", ErrCorrupt, e.Tenant, e.Seq, keyID)
	}
	e.KeyID = uint32(keyID)
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

// Events returns the tenant's events matching q, in q.Order, at most
// q.EffectiveLimit() of them. The query leads with tenant_id on an index for every
// filter the reports use (see migrations 0002 and 0004): Seq orders and cursors use
// the (tenant_id, seq) primary key, time orders the (tenant_id, [kind,] [actor_user |
// target_id,] time, seq) indexes, read forwards or backwards with a (time, seq) keyset
// cursor, so that a page costs the same however deep it is. The target index leaves out
// the action log (migration 0005): a search of it by target reads the action log's
// (kind, time) range and filters.
func (s *Store) Events(ctx context.Context, tenant uuid.UUID, q audit.Query) ([]audit.Event, error) {
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("sqlstore: events: %w", err)
	}
	query, args := s.eventsQuery(tenant, q)
	evs, err := collect(ctx, s.db, scanEvent, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: events: %w", err)
	}
	return evs, nil
}

// eventsQuery returns the SELECT of Events and its arguments. q must be valid.
func (s *Store) eventsQuery(tenant uuid.UUID, q audit.Query) (string, []any) {
	where := []string{"tenant_id = $1"}
	args := []any{tenant}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	add := func(cond string, v any) { where = append(where, fmt.Sprintf(cond, arg(v))) }
	// Stored times have microsecond precision, so t >= From and t < To hold exactly
	// when they hold against From and To rounded up to the next microsecond.
	if !q.From.IsZero() {
		add("time >= %s", s.d.timeArg(ceilMicro(q.From)))
	}
	if !q.To.IsZero() {
		add("time < %s", s.d.timeArg(ceilMicro(q.To)))
	}
	if q.Kind != "" {
		add("kind = %s", string(q.Kind))
	}
	if q.Action != "" {
		add("action = %s", q.Action)
	}
	if q.User != uuid.Nil {
		add("actor_user = %s", q.User)
	}
	if q.Target != "" {
		add("target_id = %s", q.Target)
		if q.Kind != "" && q.Kind != audit.KindAction {
			// Implied by the kind, and spelled out so that planners match the
			// partial target index of migration 0005, which leaves out the action log.
			where = append(where, "kind <> 'action'")
		}
	}
	if q.Project != uuid.Nil {
		add("project_id = %s", q.Project)
	}
	if q.Outcome != "" {
		add("outcome = %s", string(q.Outcome))
	}
	if q.ID != uuid.Nil {
		add("id = %s", q.ID)
	}
	if len(q.Projects) > 0 {
		var in []string
		none := false
		for _, p := range q.Projects {
			if p == uuid.Nil {
				none = true
				continue
			}
			in = append(in, arg(p))
		}
		var conds []string
		if len(in) > 0 {
			conds = append(conds, "project_id IN ("+strings.Join(in, ", ")+")")
		}
		if none {
			conds = append(conds, "project_id IS NULL")
		}
		where = append(where, "("+strings.Join(conds, " OR ")+")")
	}
	if q.AfterSeq > 0 {
		add("seq > %s", q.AfterSeq)
	}
	if q.BeforeSeq > 0 {
		add("seq < %s", q.BeforeSeq)
	}
	order := "seq"
	switch q.Order {
	case audit.SeqDesc:
		order = "seq DESC"
	case audit.TimeAsc:
		order = "time, seq"
	case audit.TimeDesc:
		order = "time DESC, seq DESC"
	}
	if c := q.Cursor; c.Seq > 0 {
		switch q.Order {
		case audit.SeqAsc:
			add("seq > %s", c.Seq)
		case audit.SeqDesc:
			add("seq < %s", c.Seq)
		case audit.TimeAsc:
			where = append(where, fmt.Sprintf("(time, seq) > (%s, %s)", arg(s.d.timeArg(c.Time)), arg(c.Seq)))
		case audit.TimeDesc:
			where = append(where, fmt.Sprintf("(time, seq) < (%s, %s)", arg(s.d.timeArg(c.Time)), arg(c.Seq)))
		}
	}
	limit := arg(q.EffectiveLimit())
	return "SELECT " + eventColumns + " FROM cs_audit_events WHERE " + strings.Join(where, " AND ") +
		" ORDER BY " + order + " LIMIT " + limit, args
}

// AuditState returns the tenant's checkpoint and chain head, read by one statement (one
// snapshot). A tenant without a chain has the zero state.
func (s *Store) AuditState(ctx context.Context, tenant uuid.UUID) (audit.ChainState, error) {
	var (
		st     audit.ChainState
		cpSeq  sql.NullInt64
		cpTime checkpointTimeCol
		cpKey  sql.NullInt64
	)
	err := s.db.QueryRowContext(ctx,
		"SELECT h.seq, h.hash, c.seq, c.hash, c.time, c.mac, c.key_id FROM cs_audit_heads h "+
			"LEFT JOIN cs_audit_checkpoints c ON c.tenant_id = h.tenant_id WHERE h.tenant_id = $1", tenant).
		Scan(&st.Head.Seq, &st.Head.Hash, &cpSeq, &st.Checkpoint.Hash, &cpTime, &st.Checkpoint.MAC, &cpKey)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return audit.ChainState{}, nil
	case err != nil:
		return audit.ChainState{}, fmt.Errorf("sqlstore: audit state: %w", err)
	}
	st.Checkpoint.Seq = cpSeq.Int64
	st.Checkpoint.Time = cpTime.t
	if cpKey.Int64 < 0 || cpKey.Int64 > math.MaxUint32 {
		return audit.ChainState{}, fmt.Errorf("sqlstore: audit state: %w: checkpoint of %s: key_id %d out of range", ErrCorrupt, tenant, cpKey.Int64)
	}
	st.Checkpoint.KeyID = uint32(cpKey.Int64)
	if len(st.Head.Hash) == 0 {
		st.Head.Hash = nil
	}
	return st, nil
}

// PurgeAudit deletes the tenant's events up to and including cp.Seq and records cp as
// its checkpoint, in one transaction (see audit.Retainer). Its first statement moves
// the checkpoint with a conditional upsert (... ON CONFLICT DO UPDATE ... WHERE seq <
// excluded.seq), which settles two purges racing on PostgreSQL: the second waits for the
// first and then finds the checkpoint passed. A checkpoint that is not after the stored
// one, or that names no stored event with its Hash, is an error wrapping
// audit.ErrCheckpointStale and storage.ErrStale, and nothing changes. Appends are not
// blocked: a purge does not touch the chain head.
func (s *Store) PurgeAudit(ctx context.Context, tenant uuid.UUID, cp audit.Checkpoint) (int64, error) {
	if cp.Seq <= 0 || len(cp.Hash) == 0 || len(cp.MAC) == 0 || cp.Time.IsZero() {
		return 0, fmt.Errorf("sqlstore: purge audit: %w", &audit.InvalidEventError{Field: "Checkpoint", Reason: "needs Seq, Hash, Time and MAC"})
	}
	stale := func(why string) error {
		return fmt.Errorf("sqlstore: purge audit to seq %d: %s: %w: %w", cp.Seq, why, audit.ErrCheckpointStale, storage.ErrStale)
	}
	var deleted int64
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx,
			"INSERT INTO cs_audit_checkpoints (tenant_id, seq, hash, time, mac, key_id) VALUES ($1, $2, $3, $4, $5, $6) "+
				"ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, time = excluded.time, mac = excluded.mac, key_id = excluded.key_id "+
				"WHERE cs_audit_checkpoints.seq < excluded.seq RETURNING seq",
			tenant, cp.Seq, cp.Hash, s.d.timeArg(cp.Time), cp.MAC, int64(cp.KeyID))
		if err != nil {
			return err
		}
		moved := rows.Next()
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		if !moved {
			return stale("the checkpoint is already there")
		}
		var hash []byte
		err = tx.QueryRowContext(ctx, "SELECT hash FROM cs_audit_events WHERE tenant_id = $1 AND seq = $2", tenant, cp.Seq).Scan(&hash)
		if errors.Is(err, sql.ErrNoRows) || err == nil && !bytes.Equal(hash, cp.Hash) {
			return stale("no stored event has this seq and hash")
		}
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM cs_audit_events WHERE tenant_id = $1 AND seq <= $2", tenant, cp.Seq)
		if err != nil {
			return err
		}
		deleted, err = res.RowsAffected()
		return err
	})
	if err = translate(err); errors.Is(err, storage.ErrNotFound) {
		// The checkpoint's foreign key: the tenant has no chain head.
		return 0, stale("the tenant has no chain")
	}
	if err != nil {
		return 0, fmt.Errorf("sqlstore: purge audit: %w", err)
	}
	return deleted, nil
}

// AuditTenants returns every tenant with an audit chain, ordered by ID.
func (s *Store) AuditTenants(ctx context.Context) ([]uuid.UUID, error) {
	ids, err := collect(ctx, s.db, func(rows *sql.Rows) (uuid.UUID, error) {
		var id uuid.UUID
		return id, rows.Scan(&id)
	}, "SELECT tenant_id FROM cs_audit_heads ORDER BY tenant_id")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: audit tenants: %w", err)
	}
	return ids, nil
}

// checkpointTimeCol scans the time of a checkpoint that may be absent (NULL reads as
// the zero time).
type checkpointTimeCol struct{ t time.Time }

// Scan implements sql.Scanner.
func (c *checkpointTimeCol) Scan(v any) error {
	if v == nil {
		c.t = time.Time{}
		return nil
	}
	return timeCol{&c.t}.Scan(v)
}

// ceilMicro rounds t up to a whole microsecond.
func ceilMicro(t time.Time) time.Time {
	if f := t.Truncate(time.Microsecond); !f.Equal(t) {
		return f.Add(time.Microsecond)
	}
	return t
}
