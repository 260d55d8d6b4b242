package memory

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/google/uuid"
)

// Compile-time checks: a *Store is every callshield store.
var (
	_ access.Store = (*Store)(nil)
	_ audit.Store  = (*Store)(nil)
)

// Options configure a [Store]. The zero value is valid.
type Options struct {
	// Chain links each tenant's audit events into a hash chain. The zero Chain is
	// unkeyed (plain SHA-256); set Chain.Key (or a ring, Chain.Keys and
	// Chain.Current) to make the chain an HMAC that only holders of the key can
	// recompute. The keys are copied.
	Chain audit.Chain
}

// Store keeps every callshield store's state in process memory. It is safe for
// concurrent use; create it with [New].
type Store struct {
	chain audit.Chain
	// chainErr is chain.Validate(): with an invalid Chain, Append refuses every event
	// (fail closed) rather than chain it under a key the ring does not hold.
	chainErr error

	// mu guards everything below. Every method holds it for its whole duration (a
	// read lock for reads), which makes each method one atomic unit of work.
	mu      sync.RWMutex
	tenants map[uuid.UUID]*tenantState
	// roleIDs and projectIDs index every role and project ID of every tenant, so that
	// IDs stay unique store-wide as they do in the SQL adapters' primary keys.
	roleIDs    map[uuid.UUID]struct{}
	projectIDs map[uuid.UUID]struct{}
	// chains holds each tenant's audit events in Seq order. The audit log does not
	// depend on the tenant rows of the access store.
	chains map[uuid.UUID][]audit.Event
	// eventIDs indexes the stored audit events by tenant and ID: an event ID is unique
	// within its tenant, as in the SQL adapters' key (tenant_id, id), so one tenant's
	// IDs never block another tenant's events.
	eventIDs map[eventKey]struct{}
	// audit holds each tenant's chain head and retention checkpoint (audit.go).
	audit auditState
	// accounts holds each tenant's authn data (users, tickets, settings), created
	// with the tenant's first account mutation.
	accounts map[uuid.UUID]*authnState
	// identities holds linked identities and their flows (identity.go).
	identities identityState
	// tokens holds every tenant's API tokens and their usage (token.go).
	tokens tokenState
	// sessions holds sessions, pending sign-ins and session settings (session.go).
	sessions sessionState
	// tenantNames holds the tenants' slugs and domains (tenant_names.go).
	tenantNames tenantNameState
	// twoFactor holds every tenant's second factors (twofactor.go).
	twoFactor twoFactorState
	// watchers are told of session changes under the lock (WatchSessions).
	watchers []authn.SessionWatcher
}

// tenantState is one tenant's access data.
type tenantState struct {
	tenant         access.Tenant
	policyVersion  int64
	roles          map[uuid.UUID]access.Role
	projects       map[uuid.UUID]access.Project
	members        map[uuid.UUID]access.Member
	projectMembers map[uuid.UUID]map[uuid.UUID]access.ProjectMember // project → user
	allowlist      []netip.Prefix
	changes        *changeLog // the policy change log (policylog.go)
}

// New returns an empty store.
func New(opts Options) *Store {
	chain := opts.Chain.Clone()
	return &Store{
		chain:      chain,
		chainErr:   chain.Validate(),
		tenants:    make(map[uuid.UUID]*tenantState),
		roleIDs:    make(map[uuid.UUID]struct{}),
		projectIDs: make(map[uuid.UUID]struct{}),
		chains:     make(map[uuid.UUID][]audit.Event),
		eventIDs:   make(map[eventKey]struct{}),
		accounts:   make(map[uuid.UUID]*authnState),
	}
}

// utc returns t as the SQL adapters store it: in UTC, truncated to microseconds.
func utc(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// live returns ctx's error if it is already done, so that a cancelled caller does not
// change state.
func live(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	return nil
}
