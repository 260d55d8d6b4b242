package storetest

import (
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/callshield/callshield/token"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The cases of token.Store. Besides the rules of its doc comments, they hold adapters
// to these choices, which the contract leaves open:
//
//   - Tokens and Usage of an unknown tenant are storage.ErrNotFound, like access
//     lists; lookups (TokenByHash, Token, UserToken) of an unknown tenant are
//     storage.ErrNotFound as for an unknown token.
//   - CreateToken and ReplaceToken store the token unrevoked and unused, whatever its
//     RevokedAt and LastUsedAt say.
//   - RevokeUserTokens appends its event even when it revoked nothing.
//   - AddUsage refuses (with an error, storing nothing) a row with a malformed Day or
//     negative counts.

func runToken(t *testing.T, newStores Factory) {
	t.Helper()
	unsupported := false
	for _, g := range []group{
		{"tokens", tokenCases},
		{"usage", tokenUsageCases},
		{"isolation", tokenIsolationCases},
		{"retention", tokenRetentionCases},
		{"concurrency", tokenConcurrencyCases},
	} {
		t.Run(g.name, func(t *testing.T) {
			if unsupported {
				t.Skip("the adapter does not implement token.Store (Stores.Token is nil)")
			}
			s := newStores(t)
			if s.Token == nil {
				unsupported = true
				t.Skip("the adapter does not implement token.Store (Stores.Token is nil)")
			}
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					c.run(t, &fx{t: t, ctx: t.Context(), s: s})
				})
			}
		})
	}
}

// tokenValue returns a valid, unstored token of user in tenant.
func tokenValue(tenant, user uuid.UUID) token.Token {
	var h [32]byte
	_, _ = rand.Read(h[:])
	return token.Token{ID: newID(), Tenant: tenant, User: user, Name: "CRM sync 東京", Hash: h,
		CreatedBy: user, CreatedAt: at(6 * time.Hour), ExpiresAt: at(30 * 24 * time.Hour)}
}

func tokenEvent(t testing.TB, tenant uuid.UUID, action string) audit.Event {
	return changeEvent(t, tenant, action)
}

// createToken stores a new token of a new user of tenant.
func (f *fx) createToken(tenant uuid.UUID) token.Token {
	f.t.Helper()
	tk := tokenValue(tenant, newID())
	require.NoError(f.t, f.s.Token.CreateToken(f.ctx, tk, tokenEvent(f.t, tenant, "token.issue")))
	return tk
}

func assertToken(t testing.TB, want, got token.Token) {
	t.Helper()
	assertTime(t, want.CreatedAt, got.CreatedAt, "Token.CreatedAt")
	for _, p := range []struct {
		name      string
		want, got time.Time
	}{{"ExpiresAt", want.ExpiresAt, got.ExpiresAt}, {"LastUsedAt", want.LastUsedAt, got.LastUsedAt}, {"RevokedAt", want.RevokedAt, got.RevokedAt}} {
		if p.want.IsZero() {
			assert.True(t, p.got.IsZero(), "Token.%s: want zero, got %v", p.name, p.got)
		} else {
			assertTime(t, p.want, p.got, "Token."+p.name)
		}
	}
	want.CreatedAt, want.ExpiresAt, want.LastUsedAt, want.RevokedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	got.CreatedAt, got.ExpiresAt, got.LastUsedAt, got.RevokedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	assert.Equal(t, want, got)
}

var tokenCases = []testCase{
	{"CreateToken stores the token and its event; it reads back by hash, ID, user and in Tokens", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		before := len(f.allEvents(tn.ID))
		tk := tokenValue(tn.ID, newID())
		tk.RevokedAt, tk.LastUsedAt = at(time.Hour), at(time.Hour) // ignored: stored unrevoked, unused
		ev := tokenEvent(t, tn.ID, "token.issue")
		require.NoError(t, f.s.Token.CreateToken(f.ctx, tk, ev))
		tk.RevokedAt, tk.LastUsedAt = time.Time{}, time.Time{}

		got, err := f.s.Token.TokenByHash(f.ctx, tn.ID, tk.Hash)
		require.NoError(t, err)
		assertToken(t, tk, got)
		got, err = f.s.Token.Token(f.ctx, tn.ID, tk.ID)
		require.NoError(t, err)
		assertToken(t, tk, got)
		got, err = f.s.Token.UserToken(f.ctx, tn.ID, tk.User)
		require.NoError(t, err)
		assertToken(t, tk, got)
		list, err := f.s.Token.Tokens(f.ctx, tn.ID)
		require.NoError(t, err)
		require.Len(t, list, 1)
		assertToken(t, tk, list[0])

		evs := f.allEvents(tn.ID)
		require.Len(t, evs, before+1, "exactly the token's event is appended")
		assertEvent(t, ev, evs[len(evs)-1])
	}},
	{"a token without expiry reads back with the zero ExpiresAt", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		tk := tokenValue(tn.ID, newID())
		tk.ExpiresAt = time.Time{}
		require.NoError(t, f.s.Token.CreateToken(f.ctx, tk, tokenEvent(t, tn.ID, "token.issue")))
		got, err := f.s.Token.Token(f.ctx, tn.ID, tk.ID)
		require.NoError(t, err)
		assert.True(t, got.ExpiresAt.IsZero())
	}},
	{"CreateToken for a user with an unrevoked token is ErrExists (and ErrConflict) and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		first := f.createToken(tn.ID)
		before := f.snapshot(tn.ID)
		second := tokenValue(tn.ID, first.User)
		err := f.s.Token.CreateToken(f.ctx, second, tokenEvent(t, tn.ID, "token.issue"))
		assert.ErrorIs(t, err, token.ErrExists)
		assert.ErrorIs(t, err, storage.ErrConflict)
		f.assertUnchanged(before, tn.ID)
		_, err = f.s.Token.Token(f.ctx, tn.ID, second.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound)
	}},
	{"CreateToken with a stored ID or hash is ErrConflict", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		first := f.createToken(tn.ID)
		dupHash := tokenValue(tn.ID, newID())
		dupHash.Hash = first.Hash
		assert.ErrorIs(t, f.s.Token.CreateToken(f.ctx, dupHash, tokenEvent(t, tn.ID, "token.issue")), storage.ErrConflict)
		dupID := tokenValue(tn.ID, newID())
		dupID.ID = first.ID
		assert.ErrorIs(t, f.s.Token.CreateToken(f.ctx, dupID, tokenEvent(t, tn.ID, "token.issue")), storage.ErrConflict)
	}},
	{"ReplaceToken revokes the old token at the new one's CreatedAt and stores the new one", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		old := f.createToken(tn.ID)
		nt := tokenValue(tn.ID, old.User)
		nt.CreatedAt = at(7 * time.Hour)
		require.NoError(t, f.s.Token.ReplaceToken(f.ctx, old.ID, nt, tokenEvent(t, tn.ID, "token.regenerate")))
		got, err := f.s.Token.Token(f.ctx, tn.ID, old.ID)
		require.NoError(t, err)
		assertTime(t, nt.CreatedAt, got.RevokedAt, "old RevokedAt")
		cur, err := f.s.Token.UserToken(f.ctx, tn.ID, old.User)
		require.NoError(t, err)
		assertToken(t, nt, cur)
		byHash, err := f.s.Token.TokenByHash(f.ctx, tn.ID, old.Hash)
		require.NoError(t, err, "a revoked token still reads by hash")
		assert.False(t, byHash.RevokedAt.IsZero())
	}},
	{"ReplaceToken of a token that is not the user's unrevoked one is ErrStale and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		old := f.createToken(tn.ID)
		nt := tokenValue(tn.ID, old.User)
		require.NoError(t, f.s.Token.ReplaceToken(f.ctx, old.ID, nt, tokenEvent(t, tn.ID, "token.regenerate")))
		before := f.snapshot(tn.ID)
		for name, c := range map[string]struct {
			old uuid.UUID
			t   token.Token
		}{
			"revoked old":         {old.ID, tokenValue(tn.ID, old.User)},
			"unknown old":         {newID(), tokenValue(tn.ID, old.User)},
			"another user's old":  {nt.ID, tokenValue(tn.ID, newID())},
			"user without tokens": {newID(), tokenValue(tn.ID, newID())},
		} {
			err := f.s.Token.ReplaceToken(f.ctx, c.old, c.t, tokenEvent(t, tn.ID, "token.regenerate"))
			assert.ErrorIs(t, err, storage.ErrStale, name)
			_, err = f.s.Token.Token(f.ctx, tn.ID, c.t.ID)
			assert.ErrorIs(t, err, storage.ErrNotFound, name)
		}
		f.assertUnchanged(before, tn.ID)
		cur, err := f.s.Token.UserToken(f.ctx, tn.ID, old.User)
		require.NoError(t, err)
		assert.Equal(t, nt.ID, cur.ID)
	}},
	{"RevokeToken revokes once; then the token is not the user's and a new one may be created", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		tk := f.createToken(tn.ID)
		require.NoError(t, f.s.Token.RevokeToken(f.ctx, tn.ID, tk.ID, at(8*time.Hour), tokenEvent(t, tn.ID, "token.revoke")))
		got, err := f.s.Token.Token(f.ctx, tn.ID, tk.ID)
		require.NoError(t, err)
		assertTime(t, at(8*time.Hour), got.RevokedAt, "RevokedAt")
		before := f.snapshot(tn.ID)
		assert.ErrorIs(t, f.s.Token.RevokeToken(f.ctx, tn.ID, tk.ID, at(9*time.Hour), tokenEvent(t, tn.ID, "token.revoke")), storage.ErrNotFound)
		assert.ErrorIs(t, f.s.Token.RevokeToken(f.ctx, tn.ID, newID(), at(9*time.Hour), tokenEvent(t, tn.ID, "token.revoke")), storage.ErrNotFound)
		f.assertUnchanged(before, tn.ID)
		_, err = f.s.Token.UserToken(f.ctx, tn.ID, tk.User)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		list, err := f.s.Token.Tokens(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Empty(t, list, "Tokens lists unrevoked tokens only")
		require.NoError(t, f.s.Token.CreateToken(f.ctx, tokenValue(tn.ID, tk.User), tokenEvent(t, tn.ID, "token.issue")))
	}},
	{"RevokeUserTokens revokes the user's token and counts it; with none it appends its event and returns 0", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		tk := f.createToken(tn.ID)
		other := f.createToken(tn.ID)
		n, err := f.s.Token.RevokeUserTokens(f.ctx, tn.ID, tk.User, at(8*time.Hour), tokenEvent(t, tn.ID, "token.revoke"))
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		before := len(f.allEvents(tn.ID))
		n, err = f.s.Token.RevokeUserTokens(f.ctx, tn.ID, tk.User, at(9*time.Hour), tokenEvent(t, tn.ID, "token.revoke"))
		require.NoError(t, err)
		assert.Equal(t, 0, n)
		assert.Len(t, f.allEvents(tn.ID), before+1)
		got, err := f.s.Token.Token(f.ctx, tn.ID, tk.ID)
		require.NoError(t, err)
		assertTime(t, at(8*time.Hour), got.RevokedAt, "RevokedAt is the first revocation's")
		_, err = f.s.Token.UserToken(f.ctx, tn.ID, other.User)
		assert.NoError(t, err, "another user's token is untouched")
	}},
	{"Tokens lists unrevoked tokens ordered by user ID", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		var want []token.Token
		for range 5 {
			want = append(want, f.createToken(tn.ID))
		}
		list, err := f.s.Token.Tokens(f.ctx, tn.ID)
		require.NoError(t, err)
		require.Len(t, list, len(want))
		for i := 1; i < len(list); i++ {
			assert.Negative(t, compareUUIDs(list[i-1].User, list[i].User), "ordered by user ID")
		}
	}},
	{"CreateTokenAfter stores a token only if no token of the user, revoked ones included, was created after `after`", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		first := f.createToken(tn.ID) // created at(6h)
		next := tokenValue(tn.ID, first.User)
		next.CreatedAt = at(7 * time.Hour)
		err := f.s.Token.CreateTokenAfter(f.ctx, next, at(time.Hour), tokenEvent(t, tn.ID, "token.issue"))
		assert.ErrorIs(t, err, token.ErrExists, "an unrevoked token is ErrExists first")
		assert.ErrorIs(t, err, storage.ErrConflict)
		require.NoError(t, f.s.Token.RevokeToken(f.ctx, tn.ID, first.ID, at(6*time.Hour+time.Minute), tokenEvent(t, tn.ID, "token.revoke")))

		before := f.snapshot(tn.ID)
		for _, after := range []time.Time{at(time.Hour), at(6*time.Hour - time.Microsecond)} {
			err = f.s.Token.CreateTokenAfter(f.ctx, next, after, tokenEvent(t, tn.ID, "token.issue"))
			assert.ErrorIs(t, err, storage.ErrStale, "the revoked token was created after %v", after)
		}
		f.assertUnchanged(before, tn.ID)
		_, err = f.s.Token.Token(f.ctx, tn.ID, next.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound, "nothing stored")

		require.NoError(t, f.s.Token.CreateTokenAfter(f.ctx, next, at(6*time.Hour), tokenEvent(t, tn.ID, "token.issue")),
			"created exactly at `after` is not after it")
		cur, err := f.s.Token.UserToken(f.ctx, tn.ID, first.User)
		require.NoError(t, err)
		assertToken(t, next, cur)
		fresh := tokenValue(tn.ID, newID())
		require.NoError(t, f.s.Token.CreateTokenAfter(f.ctx, fresh, at(24*time.Hour), tokenEvent(t, tn.ID, "token.issue")),
			"a user without tokens: nothing was created after any time")
		assert.ErrorIs(t, f.s.Token.CreateTokenAfter(f.ctx, tokenValue(newID(), newID()), at(0), tokenEvent(t, tn.ID, "token.issue")),
			audit.ErrInvalidEvent, "an event of another tenant")
		ghost := newID()
		assert.ErrorIs(t, f.s.Token.CreateTokenAfter(f.ctx, tokenValue(ghost, newID()), at(0), tokenEvent(t, ghost, "token.issue")),
			storage.ErrNotFound, "an unknown tenant")
	}},
	{"LatestUserToken returns the user's most recently created token, revoked ones included", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		_, err := f.s.Token.LatestUserToken(f.ctx, tn.ID, newID())
		assert.ErrorIs(t, err, storage.ErrNotFound, "a user without tokens")
		first := f.createToken(tn.ID)
		got, err := f.s.Token.LatestUserToken(f.ctx, tn.ID, first.User)
		require.NoError(t, err)
		assertToken(t, first, got)
		second := tokenValue(tn.ID, first.User)
		second.CreatedAt = at(7 * time.Hour)
		require.NoError(t, f.s.Token.ReplaceToken(f.ctx, first.ID, second, tokenEvent(t, tn.ID, "token.regenerate")))
		require.NoError(t, f.s.Token.RevokeToken(f.ctx, tn.ID, second.ID, at(8*time.Hour), tokenEvent(t, tn.ID, "token.revoke")))
		got, err = f.s.Token.LatestUserToken(f.ctx, tn.ID, first.User)
		require.NoError(t, err)
		second.RevokedAt = at(8 * time.Hour)
		assertToken(t, second, got)
		other := f.createToken(tn.ID) // another user's later token is not this user's
		got, err = f.s.Token.LatestUserToken(f.ctx, tn.ID, first.User)
		require.NoError(t, err)
		assert.Equal(t, second.ID, got.ID)
		got, err = f.s.Token.LatestUserToken(f.ctx, tn.ID, other.User)
		require.NoError(t, err)
		assert.Equal(t, other.ID, got.ID)
		n, err := f.s.Token.PurgeTokens(f.ctx, tn.ID, at(30*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		_, err = f.s.Token.LatestUserToken(f.ctx, tn.ID, first.User)
		assert.ErrorIs(t, err, storage.ErrNotFound, "all of the user's tokens purged")
		_, err = f.s.Token.LatestUserToken(f.ctx, newID(), first.User)
		assert.ErrorIs(t, err, storage.ErrNotFound, "an unknown tenant")
	}},
	{"a mutation with an event of another tenant is refused and changes nothing", func(t *testing.T, f *fx) {
		a, b := f.createTenant("A"), f.createTenant("B")
		tk := tokenValue(a.ID, newID())
		err := f.s.Token.CreateToken(f.ctx, tk, tokenEvent(t, b.ID, "token.issue"))
		assert.ErrorIs(t, err, audit.ErrInvalidEvent)
		_, err = f.s.Token.Token(f.ctx, a.ID, tk.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound)
	}},
	{"mutations of an unknown tenant are ErrNotFound; its lists too", func(t *testing.T, f *fx) {
		ghost := newID()
		tk := tokenValue(ghost, newID())
		assert.ErrorIs(t, f.s.Token.CreateToken(f.ctx, tk, tokenEvent(t, ghost, "token.issue")), storage.ErrNotFound)
		assert.ErrorIs(t, f.s.Token.ReplaceToken(f.ctx, newID(), tk, tokenEvent(t, ghost, "token.regenerate")), storage.ErrNotFound)
		assert.ErrorIs(t, f.s.Token.RevokeToken(f.ctx, ghost, tk.ID, at(0), tokenEvent(t, ghost, "token.revoke")), storage.ErrNotFound)
		_, err := f.s.Token.RevokeUserTokens(f.ctx, ghost, tk.User, at(0), tokenEvent(t, ghost, "token.revoke"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		_, err = f.s.Token.Tokens(f.ctx, ghost)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		_, err = f.s.Token.Usage(f.ctx, ghost, token.UsageQuery{From: "2025-01-01", To: "2025-12-31"})
		assert.ErrorIs(t, err, storage.ErrNotFound)
		_, err = f.s.Token.TokenByHash(f.ctx, ghost, tk.Hash)
		assert.ErrorIs(t, err, storage.ErrNotFound)
	}},
}

func compareUUIDs(a, b uuid.UUID) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func usageRow(tk token.Token, day token.Day, requests, errs int64, last time.Time) token.Usage {
	return token.Usage{Tenant: tk.Tenant, Token: tk.ID, Day: day, Requests: requests, Errors: errs, LastUsed: last}
}

var tokenUsageCases = []testCase{
	{"AddUsage adds to the stored counters and moves last use forward only", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		tk := f.createToken(tn.ID)
		require.NoError(t, f.s.Token.AddUsage(f.ctx, []token.Usage{usageRow(tk, "2025-03-14", 10, 2, at(10*time.Hour))}))
		require.NoError(t, f.s.Token.AddUsage(f.ctx, []token.Usage{usageRow(tk, "2025-03-14", 5, 1, at(9*time.Hour))}))
		rows, err := f.s.Token.Usage(f.ctx, tn.ID, token.UsageQuery{From: "2025-03-14", To: "2025-03-14"})
		require.NoError(t, err)
		require.Len(t, rows, 1)
		assert.Equal(t, int64(15), rows[0].Requests)
		assert.Equal(t, int64(3), rows[0].Errors)
		assert.Equal(t, tk.User, rows[0].User, "the user is the token's")
		assert.Equal(t, tn.ID, rows[0].Tenant)
		assert.Equal(t, tk.ID, rows[0].Token)
		assertTime(t, at(10*time.Hour), rows[0].LastUsed, "LastUsed is the latest")
		got, err := f.s.Token.Token(f.ctx, tn.ID, tk.ID)
		require.NoError(t, err)
		assertTime(t, at(10*time.Hour), got.LastUsedAt, "Token.LastUsedAt follows the usage")
	}},
	{"Usage selects the period (both ends included) and the user, ordered by day then token", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		a, b := f.createToken(tn.ID), f.createToken(tn.ID)
		days := []token.Day{"2025-03-12", "2025-03-13", "2025-03-14", "2025-03-15"}
		var rows []token.Usage
		for i, d := range days {
			rows = append(rows, usageRow(a, d, int64(i+1), 0, at(0)), usageRow(b, d, int64(10*(i+1)), 1, at(0)))
		}
		require.NoError(t, f.s.Token.AddUsage(f.ctx, rows))
		all, err := f.s.Token.Usage(f.ctx, tn.ID, token.UsageQuery{From: "2025-03-13", To: "2025-03-14"})
		require.NoError(t, err)
		require.Len(t, all, 4)
		for i := 1; i < len(all); i++ {
			prev, cur := all[i-1], all[i]
			assert.True(t, prev.Day < cur.Day || prev.Day == cur.Day && compareUUIDs(prev.Token, cur.Token) < 0, "order at %d", i)
		}
		assert.Equal(t, token.Day("2025-03-13"), all[0].Day)
		assert.Equal(t, token.Day("2025-03-14"), all[3].Day)
		mine, err := f.s.Token.Usage(f.ctx, tn.ID, token.UsageQuery{User: a.User, From: "2025-03-01", To: "2025-03-31"})
		require.NoError(t, err)
		require.Len(t, mine, 4)
		var sum int64
		for _, r := range mine {
			assert.Equal(t, a.ID, r.Token)
			sum += r.Requests
		}
		assert.Equal(t, int64(1+2+3+4), sum)
		none, err := f.s.Token.Usage(f.ctx, tn.ID, token.UsageQuery{From: "2025-04-01", To: "2025-04-30"})
		require.NoError(t, err)
		assert.Empty(t, none)
	}},
	{"AddUsage skips rows of unknown tokens, and refuses malformed rows storing nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		tk := f.createToken(tn.ID)
		ghost := tokenValue(tn.ID, newID())
		require.NoError(t, f.s.Token.AddUsage(f.ctx, []token.Usage{usageRow(ghost, "2025-03-14", 1, 0, at(0)), usageRow(tk, "2025-03-14", 1, 0, at(0))}))
		for _, bad := range []token.Usage{usageRow(tk, "2025-3-14", 1, 0, at(0)), usageRow(tk, "2025-03-14", -1, 0, at(0)), usageRow(tk, "'; --", 1, 0, at(0))} {
			assert.Error(t, f.s.Token.AddUsage(f.ctx, []token.Usage{usageRow(tk, "2025-03-14", 1, 0, at(0)), bad}))
		}
		rows, err := f.s.Token.Usage(f.ctx, tn.ID, token.UsageQuery{From: "2025-01-01", To: "2025-12-31"})
		require.NoError(t, err)
		require.Len(t, rows, 1)
		assert.Equal(t, int64(1), rows[0].Requests)
	}},
	{"usage of a revoked token stays in the report", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		tk := f.createToken(tn.ID)
		require.NoError(t, f.s.Token.RevokeToken(f.ctx, tn.ID, tk.ID, at(7*time.Hour), tokenEvent(t, tn.ID, "token.revoke")))
		require.NoError(t, f.s.Token.AddUsage(f.ctx, []token.Usage{usageRow(tk, "2025-03-14", 3, 0, at(6*time.Hour))}))
		rows, err := f.s.Token.Usage(f.ctx, tn.ID, token.UsageQuery{User: tk.User, From: "2025-03-14", To: "2025-03-14"})
		require.NoError(t, err)
		require.Len(t, rows, 1)
		assert.Equal(t, int64(3), rows[0].Requests)
	}},
}

var tokenIsolationCases = []testCase{
	{"no method reads, changes or counts another tenant's token", func(t *testing.T, f *fx) {
		a, b := f.createTenant("A"), f.createTenant("B")
		tk := f.createToken(a.ID)
		require.NoError(t, f.s.Token.AddUsage(f.ctx, []token.Usage{usageRow(tk, "2025-03-14", 7, 0, at(0))}))
		beforeA, beforeB := f.snapshot(a.ID), f.snapshot(b.ID)

		_, err := f.s.Token.TokenByHash(f.ctx, b.ID, tk.Hash)
		assert.ErrorIs(t, err, storage.ErrNotFound, "TokenByHash")
		_, err = f.s.Token.Token(f.ctx, b.ID, tk.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound, "Token")
		_, err = f.s.Token.UserToken(f.ctx, b.ID, tk.User)
		assert.ErrorIs(t, err, storage.ErrNotFound, "UserToken")
		_, err = f.s.Token.LatestUserToken(f.ctx, b.ID, tk.User)
		assert.ErrorIs(t, err, storage.ErrNotFound, "LatestUserToken")
		list, err := f.s.Token.Tokens(f.ctx, b.ID)
		require.NoError(t, err)
		assert.Empty(t, list, "Tokens")
		rows, err := f.s.Token.Usage(f.ctx, b.ID, token.UsageQuery{From: "2025-01-01", To: "2025-12-31"})
		require.NoError(t, err)
		assert.Empty(t, rows, "Usage")
		rows, err = f.s.Token.Usage(f.ctx, b.ID, token.UsageQuery{User: tk.User, From: "2025-01-01", To: "2025-12-31"})
		require.NoError(t, err)
		assert.Empty(t, rows, "Usage of the user")

		assert.ErrorIs(t, f.s.Token.RevokeToken(f.ctx, b.ID, tk.ID, at(0), tokenEvent(t, b.ID, "token.revoke")), storage.ErrNotFound, "RevokeToken")
		beforeB = f.snapshot(b.ID)
		intruder := tokenValue(b.ID, tk.User)
		assert.ErrorIs(t, f.s.Token.ReplaceToken(f.ctx, tk.ID, intruder, tokenEvent(t, b.ID, "token.regenerate")), storage.ErrStale, "ReplaceToken")
		f.assertUnchanged(beforeB, b.ID)
		n, err := f.s.Token.RevokeUserTokens(f.ctx, b.ID, tk.User, at(0), tokenEvent(t, b.ID, "token.revoke"))
		require.NoError(t, err)
		assert.Equal(t, 0, n, "RevokeUserTokens")
		// A usage row naming tenant B and A's token is skipped.
		require.NoError(t, f.s.Token.AddUsage(f.ctx, []token.Usage{{Tenant: b.ID, Token: tk.ID, Day: "2025-03-14", Requests: 100, LastUsed: at(0)}}))

		f.assertUnchanged(beforeA, a.ID)
		got, err := f.s.Token.Token(f.ctx, a.ID, tk.ID)
		require.NoError(t, err)
		assert.True(t, got.RevokedAt.IsZero(), "A's token is untouched")
		rows, err = f.s.Token.Usage(f.ctx, a.ID, token.UsageQuery{From: "2025-01-01", To: "2025-12-31"})
		require.NoError(t, err)
		require.Len(t, rows, 1)
		assert.Equal(t, int64(7), rows[0].Requests, "A's usage is untouched")
		// B may hold a token with the same hash: hashes are unique per tenant.
		same := tokenValue(b.ID, newID())
		same.Hash = tk.Hash
		require.NoError(t, f.s.Token.CreateToken(f.ctx, same, tokenEvent(t, b.ID, "token.issue")))
		got, err = f.s.Token.TokenByHash(f.ctx, a.ID, tk.Hash)
		require.NoError(t, err)
		assert.Equal(t, tk.ID, got.ID)
	}},
}

var tokenConcurrencyCases = []testCase{
	{"concurrent CreateToken for one user: exactly one succeeds, the others are ErrExists", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		for round := range 3 {
			user := newID()
			errs := raceAll(racers, func(int) error {
				return f.s.Token.CreateToken(f.ctx, tokenValue(tn.ID, user), tokenEvent(t, tn.ID, "token.issue"))
			})
			ok, exists := countErrs(t, errs, token.ErrExists)
			assert.Equal(t, 1, ok, "round %d", round)
			assert.Equal(t, racers-1, exists, "round %d", round)
			assertOneActive(t, f, tn.ID, user)
		}
	}},
	{"concurrent ReplaceToken of one token: exactly one wins, the others are ErrStale", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		old := f.createToken(tn.ID)
		for round := range 3 {
			errs := raceAll(racers, func(int) error {
				return f.s.Token.ReplaceToken(f.ctx, old.ID, tokenValue(tn.ID, old.User), tokenEvent(t, tn.ID, "token.regenerate"))
			})
			ok, stale := countErrs(t, errs, storage.ErrStale)
			assert.Equal(t, 1, ok, "round %d", round)
			assert.Equal(t, racers-1, stale, "round %d", round)
			old = assertOneActive(t, f, tn.ID, old.User)
		}
	}},
	{"concurrent revoke and CreateTokenAfter for one user: one creation per `after`, whatever the revocations", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		user := newID()
		for round := range 3 {
			after := at(time.Duration(round) * time.Hour)
			errs := raceAll(racers, func(int) error {
				if _, err := f.s.Token.RevokeUserTokens(f.ctx, tn.ID, user, after.Add(2*time.Minute), tokenEvent(t, tn.ID, "token.revoke")); err != nil {
					return err
				}
				tk := tokenValue(tn.ID, user)
				tk.CreatedAt = after.Add(time.Minute)
				err := f.s.Token.CreateTokenAfter(f.ctx, tk, after, tokenEvent(t, tn.ID, "token.issue"))
				if errors.Is(err, token.ErrExists) {
					return storage.ErrStale // refused too: count it with the stale ones
				}
				return err
			})
			ok, refused := countErrs(t, errs, storage.ErrStale)
			assert.Equal(t, 1, ok, "round %d", round)
			assert.Equal(t, racers-1, refused, "round %d", round)
			last, err := f.s.Token.LatestUserToken(f.ctx, tn.ID, user)
			require.NoError(t, err)
			assertTime(t, after.Add(time.Minute), last.CreatedAt, "round's token")
		}
	}},
	{"a recent token of one tenant does not hold back CreateTokenAfter of the same user ID in another", func(t *testing.T, f *fx) {
		a, b := f.createTenant("A"), f.createTenant("B")
		tk := f.createToken(a.ID)
		require.NoError(t, f.s.Token.RevokeToken(f.ctx, a.ID, tk.ID, at(7*time.Hour), tokenEvent(t, a.ID, "token.revoke")))
		inB := tokenValue(b.ID, tk.User)
		require.NoError(t, f.s.Token.CreateTokenAfter(f.ctx, inB, at(0), tokenEvent(t, b.ID, "token.issue")))
		got, err := f.s.Token.LatestUserToken(f.ctx, a.ID, tk.User)
		require.NoError(t, err)
		assert.Equal(t, tk.ID, got.ID, "B's token is not A's latest")
		again := tokenValue(a.ID, tk.User)
		assert.ErrorIs(t, f.s.Token.CreateTokenAfter(f.ctx, again, at(0), tokenEvent(t, a.ID, "token.issue")), storage.ErrStale,
			"A's own recent token still holds A back")
	}},
	{"concurrent AddUsage of one token and day sums every count", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		tk := f.createToken(tn.ID)
		other := f.createToken(tn.ID)
		const perWriter = 10
		errs := raceAll(writers, func(i int) error {
			for j := range perWriter {
				rows := []token.Usage{usageRow(tk, "2025-03-14", 1, int64(j%2), at(time.Duration(i*perWriter+j)*time.Second)),
					usageRow(other, "2025-03-14", 2, 0, at(0))}
				if i%2 == 1 { // the other order too: the store must not deadlock
					rows[0], rows[1] = rows[1], rows[0]
				}
				if err := f.s.Token.AddUsage(f.ctx, rows); err != nil {
					return err
				}
			}
			return nil
		})
		for _, err := range errs {
			require.NoError(t, err)
		}
		rows, err := f.s.Token.Usage(f.ctx, tn.ID, token.UsageQuery{User: tk.User, From: "2025-03-14", To: "2025-03-14"})
		require.NoError(t, err)
		require.Len(t, rows, 1)
		assert.Equal(t, int64(writers*perWriter), rows[0].Requests)
		assert.Equal(t, int64(writers*perWriter/2), rows[0].Errors)
		assertTime(t, at(time.Duration(writers*perWriter-1)*time.Second), rows[0].LastUsed, "LastUsed")
		rows, err = f.s.Token.Usage(f.ctx, tn.ID, token.UsageQuery{User: other.User, From: "2025-03-14", To: "2025-03-14"})
		require.NoError(t, err)
		require.Len(t, rows, 1)
		assert.Equal(t, int64(2*writers*perWriter), rows[0].Requests)
	}},
}

// raceAll runs fn on n goroutines released at once and returns their errors.
func raceAll(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// countErrs counts the nil errors and those wrapping want; any other is a failure.
func countErrs(t *testing.T, errs []error, want error) (ok, matching int) {
	t.Helper()
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, want):
			matching++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	return ok, matching
}

// assertOneActive checks that user has exactly one unrevoked token and returns it.
func assertOneActive(t *testing.T, f *fx, tenant, user uuid.UUID) token.Token {
	t.Helper()
	list, err := f.s.Token.Tokens(f.ctx, tenant)
	require.NoError(t, err)
	var mine []token.Token
	for _, tk := range list {
		if tk.User == user {
			mine = append(mine, tk)
		}
	}
	require.Len(t, mine, 1, "exactly one active token")
	return mine[0]
}

var tokenRetentionCases = []testCase{
	{"PurgeTokens deletes only the tenant's tokens dead before the cutoff, with their usage", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		other := f.createTenant("Other")
		cutoff := at(9 * 24 * time.Hour)
		create := func(tenant uuid.UUID, expires time.Time) token.Token {
			t.Helper()
			tk := tokenValue(tenant, newID())
			tk.ExpiresAt = expires
			require.NoError(t, f.s.Token.CreateToken(f.ctx, tk, tokenEvent(t, tenant, "token.issue")))
			return tk
		}
		revoke := func(tk token.Token, when time.Time) {
			t.Helper()
			require.NoError(t, f.s.Token.RevokeToken(f.ctx, tk.Tenant, tk.ID, when, tokenEvent(t, tk.Tenant, "token.revoke")))
		}
		live := create(tn.ID, at(30*24*time.Hour))
		forever := create(tn.ID, time.Time{})
		oldRevoked := create(tn.ID, time.Time{})
		revoke(oldRevoked, at(7*time.Hour))
		oldExpired := create(tn.ID, at(8*time.Hour)) // never revoked
		recentRevoked := create(tn.ID, at(30*24*time.Hour))
		revoke(recentRevoked, at(10*24*time.Hour))
		atCutoff := create(tn.ID, time.Time{})
		revoke(atCutoff, cutoff)
		recentExpired := create(tn.ID, at(9*24*time.Hour+time.Second))
		theirs := create(other.ID, at(8*time.Hour))
		revoke(theirs, at(7*time.Hour))
		require.NoError(t, f.s.Token.AddUsage(f.ctx, []token.Usage{
			usageRow(live, "2025-03-14", 3, 0, at(time.Hour)),
			usageRow(oldRevoked, "2025-03-14", 5, 1, at(2*time.Hour)),
			usageRow(oldExpired, "2025-03-14", 7, 0, at(3*time.Hour)),
			usageRow(theirs, "2025-03-14", 11, 0, at(4*time.Hour)),
		}))
		events := len(f.allEvents(tn.ID))

		n, err := f.s.Token.PurgeTokens(f.ctx, tn.ID, cutoff)
		require.NoError(t, err)
		assert.Equal(t, 2, n, "the token revoked and the one expired before the cutoff")
		for _, gone := range []token.Token{oldRevoked, oldExpired} {
			_, err := f.s.Token.Token(f.ctx, tn.ID, gone.ID)
			assert.ErrorIs(t, err, storage.ErrNotFound)
			_, err = f.s.Token.TokenByHash(f.ctx, tn.ID, gone.Hash)
			assert.ErrorIs(t, err, storage.ErrNotFound)
		}
		_, err = f.s.Token.UserToken(f.ctx, tn.ID, oldExpired.User)
		assert.ErrorIs(t, err, storage.ErrNotFound, "the expired token was its user's unrevoked one")
		for _, kept := range []token.Token{live, forever, recentRevoked, atCutoff, recentExpired} {
			_, err := f.s.Token.Token(f.ctx, tn.ID, kept.ID)
			assert.NoError(t, err, "token %s is kept", kept.ID)
		}
		_, err = f.s.Token.Token(f.ctx, other.ID, theirs.ID)
		assert.NoError(t, err, "another tenant's old dead token stays")
		rows, err := f.s.Token.Usage(f.ctx, tn.ID, token.UsageQuery{From: "2025-03-14", To: "2025-03-14"})
		require.NoError(t, err)
		require.Len(t, rows, 1, "the purged tokens' usage goes with them")
		assert.Equal(t, live.ID, rows[0].Token)
		rows, err = f.s.Token.Usage(f.ctx, other.ID, token.UsageQuery{From: "2025-03-14", To: "2025-03-14"})
		require.NoError(t, err)
		require.Len(t, rows, 1, "another tenant's usage stays")
		assert.Len(t, f.allEvents(tn.ID), events, "a purge appends no event")

		// The user of the purged expired token may get a new one; a second purge finds
		// nothing; another tenant's purge is its own.
		fresh := tokenValue(tn.ID, oldExpired.User)
		require.NoError(t, f.s.Token.CreateToken(f.ctx, fresh, tokenEvent(t, tn.ID, "token.issue")))
		n, err = f.s.Token.PurgeTokens(f.ctx, tn.ID, cutoff)
		require.NoError(t, err)
		assert.Zero(t, n)
		n, err = f.s.Token.PurgeTokens(f.ctx, other.ID, cutoff)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		_, err = f.s.Token.PurgeTokens(f.ctx, newID(), cutoff)
		assert.ErrorIs(t, err, storage.ErrNotFound, "an unknown tenant")
	}},
}
