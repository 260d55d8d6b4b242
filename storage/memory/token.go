package memory

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/callshield/callshield/token"
	"github.com/google/uuid"
)

// Compile-time check: a *Store is a token.Store too.
var _ token.Store = (*Store)(nil)

// tokenState holds every tenant's API tokens and usage, under the store's one lock.
// Its maps are made on the first write.
type tokenState struct {
	byID   map[tokenKey]token.Token
	byHash map[hashKey]uuid.UUID
	// active indexes each user's unrevoked token: the one-token rule.
	active map[userKey]uuid.UUID
	usage  map[usageKey]token.Usage
}

type tokenKey struct{ tenant, id uuid.UUID }
type hashKey struct {
	tenant uuid.UUID
	hash   [32]byte
}
type userKey struct{ tenant, user uuid.UUID }
type usageKey struct {
	tenant, token uuid.UUID
	day           token.Day
}

func (ts *tokenState) init() {
	if ts.byID == nil {
		ts.byID = make(map[tokenKey]token.Token)
		ts.byHash = make(map[hashKey]uuid.UUID)
		ts.active = make(map[userKey]uuid.UUID)
		ts.usage = make(map[usageKey]token.Usage)
	}
}

// The token.Store methods.

// CreateToken stores t if its user has no unrevoked token (token.ErrExists and
// storage.ErrConflict otherwise).
func (s *Store) CreateToken(ctx context.Context, t token.Token, ev audit.Event) error {
	return s.unitOfWork(ctx, t.Tenant, ev, nil, func(*tenantState) (bool, error) {
		s.tokens.init()
		if _, ok := s.tokens.active[userKey{t.Tenant, t.User}]; ok {
			return false, fmt.Errorf("memory: token of user %s: %w: %w", t.User, token.ErrExists, storage.ErrConflict)
		}
		if err := s.tokenFree(t); err != nil {
			return false, err
		}
		s.putToken(t)
		return false, nil
	})
}

// CreateTokenAfter stores t if its user has no unrevoked token (token.ErrExists) and
// no token created after `after` (storage.ErrStale).
func (s *Store) CreateTokenAfter(ctx context.Context, t token.Token, after time.Time, ev audit.Event) error {
	return s.unitOfWork(ctx, t.Tenant, ev, nil, func(*tenantState) (bool, error) {
		s.tokens.init()
		if _, ok := s.tokens.active[userKey{t.Tenant, t.User}]; ok {
			return false, fmt.Errorf("memory: token of user %s: %w: %w", t.User, token.ErrExists, storage.ErrConflict)
		}
		if last, ok := s.latestToken(t.Tenant, t.User); ok && last.CreatedAt.After(after) {
			return false, fmt.Errorf("memory: token of user %s created after %s: %w", t.User, after.UTC().Format(time.RFC3339Nano), storage.ErrStale)
		}
		if err := s.tokenFree(t); err != nil {
			return false, err
		}
		s.putToken(t)
		return false, nil
	})
}

// latestToken is the user's token with the greatest CreatedAt (then ID), if any. It
// scans the store's tokens: the memory store is for tests and development.
func (s *Store) latestToken(tenant, user uuid.UUID) (token.Token, bool) {
	var last token.Token
	found := false
	for k, t := range s.tokens.byID {
		if k.tenant != tenant || t.User != user {
			continue
		}
		if !found || t.CreatedAt.After(last.CreatedAt) ||
			(t.CreatedAt.Equal(last.CreatedAt) && bytes.Compare(t.ID[:], last.ID[:]) > 0) {
			last, found = t, true
		}
	}
	return last, found
}

// ReplaceToken revokes old and stores t if old is t.User's unrevoked token
// (storage.ErrStale otherwise).
func (s *Store) ReplaceToken(ctx context.Context, old uuid.UUID, t token.Token, ev audit.Event) error {
	return s.unitOfWork(ctx, t.Tenant, ev, nil, func(*tenantState) (bool, error) {
		s.tokens.init()
		if cur, ok := s.tokens.active[userKey{t.Tenant, t.User}]; !ok || cur != old {
			return false, fmt.Errorf("memory: token %s is not the user's active token: %w", old, storage.ErrStale)
		}
		if err := s.tokenFree(t); err != nil {
			return false, err
		}
		s.revokeToken(t.Tenant, old, t.CreatedAt)
		s.putToken(t)
		return false, nil
	})
}

// RevokeToken revokes an unrevoked token (storage.ErrNotFound otherwise).
func (s *Store) RevokeToken(ctx context.Context, tenant, id uuid.UUID, at time.Time, ev audit.Event) error {
	return s.unitOfWork(ctx, tenant, ev, nil, func(*tenantState) (bool, error) {
		t, ok := s.tokens.byID[tokenKey{tenant, id}]
		if !ok || !t.RevokedAt.IsZero() {
			return false, notFound("active token", id)
		}
		s.revokeToken(tenant, id, at)
		return false, nil
	})
}

// RevokeUserTokens revokes the user's unrevoked token, if any.
func (s *Store) RevokeUserTokens(ctx context.Context, tenant, user uuid.UUID, at time.Time, ev audit.Event) (int, error) {
	n := 0
	err := s.unitOfWork(ctx, tenant, ev, nil, func(*tenantState) (bool, error) {
		if id, ok := s.tokens.active[userKey{tenant, user}]; ok {
			s.revokeToken(tenant, id, at)
			n = 1
		}
		return false, nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// PurgeTokens deletes the tenant's tokens revoked or expired before `before`, with
// their usage.
func (s *Store) PurgeTokens(ctx context.Context, tenant uuid.UUID, before time.Time) (int, error) {
	if err := live(ctx); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[tenant]; !ok {
		return 0, notFound("tenant", tenant)
	}
	n := 0
	for k, t := range s.tokens.byID {
		if k.tenant != tenant || !deadBefore(t, before) {
			continue
		}
		delete(s.tokens.byID, k)
		delete(s.tokens.byHash, hashKey{tenant, t.Hash})
		if cur, ok := s.tokens.active[userKey{tenant, t.User}]; ok && cur == t.ID {
			delete(s.tokens.active, userKey{tenant, t.User})
		}
		n++
	}
	if n > 0 {
		for k := range s.tokens.usage {
			if _, ok := s.tokens.byID[tokenKey{k.tenant, k.token}]; k.tenant == tenant && !ok {
				delete(s.tokens.usage, k)
			}
		}
	}
	return n, nil
}

// deadBefore reports whether t was revoked, or expired, before `before`.
func deadBefore(t token.Token, before time.Time) bool {
	return (!t.RevokedAt.IsZero() && t.RevokedAt.Before(before)) ||
		(!t.ExpiresAt.IsZero() && t.ExpiresAt.Before(before))
}

// TokenByHash returns the tenant's token with this hash.
func (s *Store) TokenByHash(ctx context.Context, tenant uuid.UUID, hash [32]byte) (token.Token, error) {
	var t token.Token
	err := s.read(ctx, tenant, func(*tenantState) error {
		id, ok := s.tokens.byHash[hashKey{tenant, hash}]
		if !ok {
			return errTokenNotFound
		}
		t = s.tokens.byID[tokenKey{tenant, id}]
		return nil
	})
	return t, err
}

// errTokenNotFound is the one allocation-free answer of an unknown hash: the lookup of
// every request should not allocate for a wrong token either.
var errTokenNotFound = fmt.Errorf("memory: token: %w", storage.ErrNotFound)

// Token returns one token of the tenant.
func (s *Store) Token(ctx context.Context, tenant, id uuid.UUID) (token.Token, error) {
	var t token.Token
	err := s.read(ctx, tenant, func(*tenantState) error {
		var ok bool
		if t, ok = s.tokens.byID[tokenKey{tenant, id}]; !ok {
			return notFound("token", id)
		}
		return nil
	})
	return t, err
}

// UserToken returns the user's unrevoked token.
func (s *Store) UserToken(ctx context.Context, tenant, user uuid.UUID) (token.Token, error) {
	var t token.Token
	err := s.read(ctx, tenant, func(*tenantState) error {
		id, ok := s.tokens.active[userKey{tenant, user}]
		if !ok {
			return notFound("active token of user", user)
		}
		t = s.tokens.byID[tokenKey{tenant, id}]
		return nil
	})
	return t, err
}

// LatestUserToken returns the user's most recently created token, revoked ones
// included.
func (s *Store) LatestUserToken(ctx context.Context, tenant, user uuid.UUID) (token.Token, error) {
	var t token.Token
	err := s.read(ctx, tenant, func(*tenantState) error {
		var ok bool
		if t, ok = s.latestToken(tenant, user); !ok {
			return notFound("token of user", user)
		}
		return nil
	})
	return t, err
}

// Tokens returns the tenant's unrevoked tokens ordered by user ID.
func (s *Store) Tokens(ctx context.Context, tenant uuid.UUID) ([]token.Token, error) {
	var out []token.Token
	err := s.read(ctx, tenant, func(*tenantState) error {
		for k, id := range s.tokens.active {
			if k.tenant == tenant {
				out = append(out, s.tokens.byID[tokenKey{tenant, id}])
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b token.Token) int { return bytes.Compare(a.User[:], b.User[:]) })
	return out, err
}

// AddUsage adds the rows' counters, skipping rows whose token is not of their tenant.
func (s *Store) AddUsage(ctx context.Context, rows []token.Usage) error {
	if err := live(ctx); err != nil {
		return err
	}
	for _, r := range rows {
		if !r.Day.Valid() || r.Requests < 0 || r.Errors < 0 {
			return fmt.Errorf("memory: usage row of token %s: invalid day or counts", r.Token)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens.init()
	for _, r := range rows {
		t, ok := s.tokens.byID[tokenKey{r.Tenant, r.Token}]
		if !ok {
			continue
		}
		k := usageKey{r.Tenant, r.Token, r.Day}
		u, ok := s.tokens.usage[k]
		if !ok {
			u = token.Usage{Tenant: r.Tenant, Token: r.Token, User: t.User, Day: r.Day}
		}
		u.Requests += r.Requests
		u.Errors += r.Errors
		last := utc(r.LastUsed)
		if last.After(u.LastUsed) {
			u.LastUsed = last
		}
		s.tokens.usage[k] = u
		if last.After(t.LastUsedAt) {
			t.LastUsedAt = last
			s.tokens.byID[tokenKey{r.Tenant, r.Token}] = t
		}
	}
	return nil
}

// Usage returns the tenant's usage rows of q's days, ordered by day, then token ID.
func (s *Store) Usage(ctx context.Context, tenant uuid.UUID, q token.UsageQuery) ([]token.Usage, error) {
	var out []token.Usage
	err := s.read(ctx, tenant, func(*tenantState) error {
		for k, u := range s.tokens.usage {
			if k.tenant == tenant && k.day >= q.From && k.day <= q.To && (q.User == uuid.Nil || u.User == q.User) {
				out = append(out, u)
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b token.Usage) int {
		if a.Day != b.Day {
			if a.Day < b.Day {
				return -1
			}
			return 1
		}
		return bytes.Compare(a.Token[:], b.Token[:])
	})
	return out, err
}

// tokenFree reports storage.ErrConflict if t's ID or hash is stored already.
func (s *Store) tokenFree(t token.Token) error {
	if _, dup := s.tokens.byID[tokenKey{t.Tenant, t.ID}]; dup {
		return fmt.Errorf("memory: token %s: %w", t.ID, storage.ErrConflict)
	}
	if _, dup := s.tokens.byHash[hashKey{t.Tenant, t.Hash}]; dup {
		return fmt.Errorf("memory: token hash: %w", storage.ErrConflict)
	}
	return nil
}

// putToken stores t, its times in UTC microseconds, as its user's active token.
// It is stored unrevoked and unused, whatever RevokedAt and LastUsedAt say.
func (s *Store) putToken(t token.Token) {
	t.RevokedAt, t.LastUsedAt = time.Time{}, time.Time{}
	t.CreatedAt = utc(t.CreatedAt)
	for _, p := range []*time.Time{&t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt} {
		if !p.IsZero() {
			*p = utc(*p)
		}
	}
	s.tokens.byID[tokenKey{t.Tenant, t.ID}] = t
	s.tokens.byHash[hashKey{t.Tenant, t.Hash}] = t.ID
	s.tokens.active[userKey{t.Tenant, t.User}] = t.ID
}

// revokeToken marks a stored token revoked at `at`.
func (s *Store) revokeToken(tenant, id uuid.UUID, at time.Time) {
	k := tokenKey{tenant, id}
	t := s.tokens.byID[k]
	t.RevokedAt = utc(at)
	s.tokens.byID[k] = t
	if cur, ok := s.tokens.active[userKey{tenant, t.User}]; ok && cur == id {
		delete(s.tokens.active, userKey{tenant, t.User})
	}
}
