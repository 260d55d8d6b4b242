package sqlstore_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage/sqlstore"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRowsWrittenBeforeKeyIDsVerifyAfterMigration writes a tenant's chain as the
// release before key IDs did (schema at migration 0019, links and checkpoint seal in
// the version 1 encoding, copied below from audit/chain.go of that release), applies
// migration 0020, and checks that the chain verifies unchanged with the old Chain, that
// every old row and the checkpoint read key ID 1, and that rotating to key 2 extends it
// into a chain that verifies with the ring; for an unkeyed chain too.
func TestRowsWrittenBeforeKeyIDsVerifyAfterMigration(t *testing.T) {
	oldKey := bytes.Repeat([]byte("the old chain key"), 2)
	newKey := bytes.Repeat([]byte("the new chain key"), 2)
	for _, c := range []struct {
		name    string
		old     audit.Chain
		key     []byte // what the release before key IDs linked with
		rotated audit.Chain
		newID   uint32
	}{
		{"keyed", audit.Chain{Key: oldKey}, oldKey, audit.Chain{Keys: map[uint32][]byte{1: oldKey, 2: newKey}, Current: 2}, 2},
		{"unkeyed", audit.Chain{}, nil, audit.Chain{}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
				ctx := context.Background()
				db := openDBs(t, d, 1)[0]
				s, err := sqlstore.New(db, d, sqlstore.Options{Chain: c.old})
				require.NoError(t, err)
				require.NoError(t, sqlstore.MigrateToForTest(ctx, s, 19))
				timeArg := sqlstore.TimeArgForTest(s)

				// The old release: events 1..6 linked, 1..2 purged behind a sealed
				// checkpoint, the head at 6.
				tenant := uuid.Must(uuid.NewV7())
				base := time.Date(2030, 1, 2, 3, 4, 5, 123000, time.UTC)
				_, err = db.ExecContext(ctx, "INSERT INTO cs_audit_heads (tenant_id, seq) VALUES ($1, 0)", tenant)
				require.NoError(t, err)
				var prev []byte
				var evs []audit.Event
				for i := range 6 {
					e := audit.Event{ID: uuid.Must(uuid.NewV7()), Tenant: tenant, Time: base.Add(time.Duration(i) * time.Minute),
						Kind: audit.KindChange, Action: "role.update", Outcome: audit.Success,
						Target: audit.Target{Type: "role", ID: "r1"}, Seq: int64(i + 1)}
					e.PrevHash, e.Hash = prev, v1Sum(c.key, v1AppendLink(nil, prev, &e))
					var prevArg any
					if prev != nil {
						prevArg = prev
					}
					_, err = db.ExecContext(ctx, "INSERT INTO cs_audit_events (tenant_id, seq, id, time, kind, action, "+
						"actor_role, actor_ip, actor_user_agent, target_type, target_id, target_name, outcome, reason, prev_hash, hash) "+
						"VALUES ($1, $2, $3, $4, $5, $6, '', '', '', $7, $8, '', $9, '', $10, $11)",
						tenant, e.Seq, e.ID, timeArg(e.Time), string(e.Kind), e.Action, e.Target.Type, e.Target.ID, string(e.Outcome), prevArg, e.Hash)
					require.NoError(t, err)
					evs = append(evs, e)
					prev = e.Hash
				}
				cp := audit.Checkpoint{Seq: 2, Hash: evs[1].Hash, Time: evs[1].Time}
				cp.MAC = v1Seal(c.key, tenant, cp)
				_, err = db.ExecContext(ctx, "INSERT INTO cs_audit_checkpoints (tenant_id, seq, hash, time, mac) VALUES ($1, $2, $3, $4, $5)",
					tenant, cp.Seq, cp.Hash, timeArg(cp.Time), cp.MAC)
				require.NoError(t, err)
				_, err = db.ExecContext(ctx, "DELETE FROM cs_audit_events WHERE tenant_id = $1 AND seq <= 2", tenant)
				require.NoError(t, err)
				_, err = db.ExecContext(ctx, "UPDATE cs_audit_heads SET seq = 6, hash = $2 WHERE tenant_id = $1", tenant, prev)
				require.NoError(t, err)

				require.NoError(t, s.Migrate(ctx), "migration 0020 over the old rows")
				for _, e := range allEvents(t, s, tenant) {
					assert.Equal(t, audit.LegacyKeyID, e.KeyID, "seq %d: the old rows get key ID 1", e.Seq)
				}
				st, err := s.AuditState(ctx, tenant)
				require.NoError(t, err)
				assert.Equal(t, audit.LegacyKeyID, st.Checkpoint.KeyID)

				res, err := audit.Verify(ctx, s, c.old, tenant, time.Time{}, time.Time{})
				require.NoError(t, err)
				assert.Nil(t, res.FirstBroken, "the old chain verifies unchanged with the old Chain")
				assert.Equal(t, 4, res.Checked)
				assert.Equal(t, map[uint32]int{1: 4}, res.KeyIDs)

				// An edit of an old row is still seen.
				_, err = db.ExecContext(ctx, "UPDATE cs_audit_events SET reason = 'x' WHERE tenant_id = $1 AND seq = 4", tenant)
				require.NoError(t, err)
				res, err = audit.Verify(ctx, s, c.old, tenant, time.Time{}, time.Time{})
				require.NoError(t, err)
				assert.Equal(t, &audit.BrokenLink{Seq: 4, EventID: evs[3].ID, Reason: audit.ReasonHashMismatch}, res.FirstBroken)
				_, err = db.ExecContext(ctx, "UPDATE cs_audit_events SET reason = '' WHERE tenant_id = $1 AND seq = 4", tenant)
				require.NoError(t, err)

				// Rotated (or, unkeyed, simply upgraded): new events carry their
				// key ID, and the chain verifies from the old checkpoint to them.
				s2, err := sqlstore.New(db, d, sqlstore.Options{Chain: c.rotated})
				require.NoError(t, err)
				rec := audit.NewRecorder(nil, audit.Options{Clock: func() time.Time { return base.Add(time.Hour) }})
				for range 2 {
					e := audit.Event{Tenant: tenant, Kind: audit.KindChange, Action: "role.update", Outcome: audit.Success}
					require.NoError(t, rec.Prepare(&e))
					require.NoError(t, s2.Append(ctx, e))
				}
				got := allEvents(t, s2, tenant)
				require.Len(t, got, 6)
				assert.Equal(t, []uint32{1, 1, 1, 1, c.newID, c.newID}, []uint32{got[0].KeyID, got[1].KeyID, got[2].KeyID, got[3].KeyID, got[4].KeyID, got[5].KeyID})
				res, err = audit.Verify(ctx, s2, c.rotated, tenant, time.Time{}, time.Time{})
				require.NoError(t, err)
				assert.Nil(t, res.FirstBroken)
				assert.Equal(t, map[uint32]int{1: 4, c.newID: 2}, res.KeyIDs)
				assert.Equal(t, audit.LegacyKeyID, res.AnchorKeyID)

				// Retention purges the old rows and seals its checkpoint under the
				// current key.
				pr, err := audit.Purge(ctx, s2, c.rotated, tenant, base.Add(30*time.Minute))
				require.NoError(t, err)
				assert.Equal(t, int64(4), pr.Deleted)
				assert.Equal(t, c.newID, pr.Checkpoint.KeyID)
				res, err = audit.Verify(ctx, s2, c.rotated, tenant, time.Time{}, time.Time{})
				require.NoError(t, err)
				assert.Nil(t, res.FirstBroken)
				assert.Equal(t, map[uint32]int{c.newID: 2}, res.KeyIDs)
			})
		})
	}
}

// TestNewRefusesAnInvalidRing: a ring whose current key is missing, or that mixes Key
// and Keys, is refused before any event could be linked under it; the error names key
// IDs only.
func TestNewRefusesAnInvalidRing(t *testing.T) {
	key := []byte("a key that must not be printed")
	for _, chain := range []audit.Chain{
		{Keys: map[uint32][]byte{1: key}, Current: 2},
		{Key: key, Keys: map[uint32][]byte{2: key}, Current: 2},
		{Keys: map[uint32][]byte{0: key}},
		{Keys: map[uint32][]byte{1: nil}, Current: 1},
	} {
		_, err := sqlstore.New(openDBs(t, sqlstore.SQLite, 1)[0], sqlstore.SQLite, sqlstore.Options{Chain: chain})
		require.ErrorIs(t, err, audit.ErrInvalidChain, "%v", chain)
		assert.NotContains(t, err.Error(), string(key))
	}
}

// The version 1 encoding, verbatim from audit/chain.go before key IDs (renamed): what
// the rows of the release before migration 0020 were linked with.

func v1Sum(key, b []byte) []byte {
	if len(key) > 0 {
		h := hmac.New(sha256.New, key)
		h.Write(b)
		return h.Sum(nil)
	}
	d := sha256.Sum256(b)
	return d[:]
}

func v1Seal(key []byte, tenant uuid.UUID, cp audit.Checkpoint) []byte {
	var stack [128]byte
	w := v1Encoder{b: stack[:0]}
	w.byte(0x80 | 1)
	w.bytes(tenant[:])
	w.int(cp.Seq)
	w.bytes(cp.Hash)
	w.int(cp.Time.UnixMicro())
	return v1Sum(key, w.b)
}

// v1AppendLink covers the fields the test's events set; the others are zero and
// encode as the release did (empty strings, zero UUIDs, the zero address, no
// changes or details).
func v1AppendLink(b []byte, prev []byte, e *audit.Event) []byte {
	w := v1Encoder{b: b}
	w.byte(1)
	w.bytes(prev)
	w.bytes(e.ID[:])
	w.bytes(e.Tenant[:])
	w.int(e.Seq)
	w.int(e.Time.UnixMicro())
	w.str(string(e.Kind))
	w.str(e.Action)
	w.bytes(e.Actor.User[:])
	w.str(e.Actor.Role)
	w.bytes(nil) // the zero Actor.IP
	w.str(e.Actor.UserAgent)
	w.bytes(e.Actor.Session[:])
	w.bytes(e.Actor.Token[:])
	w.str(e.Target.Type)
	w.str(e.Target.ID)
	w.str(e.Target.Name)
	w.bytes(e.Project[:])
	w.str(string(e.Outcome))
	w.str(e.Reason)
	w.int(0) // no changes
	w.int(0) // no details
	return w.b
}

type v1Encoder struct{ b []byte }

func (w *v1Encoder) byte(b byte) { w.b = append(w.b, b) }
func (w *v1Encoder) int(v int64) { w.b = binary.AppendVarint(w.b, v) }
func (w *v1Encoder) bytes(b []byte) {
	w.int(int64(len(b)))
	w.b = append(w.b, b...)
}
func (w *v1Encoder) str(s string) {
	w.int(int64(len(s)))
	w.b = append(w.b, s...)
}
