package main

// SHIM(#9): a minimal in-process session table so that the API and the pages can be
// built and tested before authn's sessions land. It follows the sessions contract
// (256-bit secret shown once, only its SHA-256 kept, idle and absolute timeouts,
// authn.SessionEnder) but keeps its state in this process only: it does not survive a
// restart and is not shared by several instances. The whole file goes away when
// authn's sessions are on main.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/netip"
	"sync"
	"time"

	"github.com/google/uuid"
)

const (
	shimIdleTimeout     = 30 * time.Minute
	shimAbsoluteTimeout = 12 * time.Hour
)

type shimSession struct {
	ID, Tenant, User uuid.UUID
	CreatedAt        time.Time
	LastSeen         time.Time
	ExpiresAt        time.Time
	IP               netip.Addr
	UserAgent        string
}

type shimSessions struct {
	clock func() time.Time
	mu    sync.Mutex
	byKey map[[32]byte]*shimSession
}

func newShimSessions(clock func() time.Time) *shimSessions {
	return &shimSessions{clock: clock, byKey: map[[32]byte]*shimSession{}}
}

// create starts a session and returns its secret (for the cookie) and the session.
func (s *shimSessions) create(tenant, user uuid.UUID, ip netip.Addr, ua string) (string, shimSession, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", shimSession{}, err
	}
	secret := "css_" + base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.clock()
	ss := &shimSession{ID: uuid.Must(uuid.NewV7()), Tenant: tenant, User: user, CreatedAt: now, LastSeen: now,
		ExpiresAt: now.Add(shimAbsoluteTimeout), IP: ip, UserAgent: ua}
	s.mu.Lock()
	s.byKey[sha256.Sum256([]byte(secret))] = ss
	s.mu.Unlock()
	return secret, *ss, nil
}

// lookup returns the live session of a secret and marks it seen.
func (s *shimSessions) lookup(secret string) (shimSession, bool) {
	k := sha256.Sum256([]byte(secret))
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.byKey[k]
	if !ok {
		return shimSession{}, false
	}
	if !now.Before(ss.ExpiresAt) || now.Sub(ss.LastSeen) >= shimIdleTimeout {
		delete(s.byKey, k)
		return shimSession{}, false
	}
	ss.LastSeen = now
	return *ss, true
}

// end ends the session of a secret.
func (s *shimSessions) end(secret string) {
	s.mu.Lock()
	delete(s.byKey, sha256.Sum256([]byte(secret)))
	s.mu.Unlock()
}

// EndUserSessions implements authn.SessionEnder: blocking, archiving or removing a
// user ends their sessions at once.
func (s *shimSessions) EndUserSessions(_ context.Context, tenant, user, except uuid.UUID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, ss := range s.byKey {
		if ss.Tenant == tenant && ss.User == user && ss.ID != except {
			delete(s.byKey, k)
		}
	}
	return nil
}
