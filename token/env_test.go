package token_test

import (
	"context"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage/memory"
	"github.com/callshield/callshield/token"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// never is an After that never fires: tests flush explicitly.
func never(time.Duration) <-chan time.Time { return nil }

// env is one tenant over the memory store, wired as a host would: access, authn (whose
// blocked and removed users end their tokens through Sessions), the batched audit
// writer and the token service.
type env struct {
	store    *memory.Store
	engine   *access.Engine
	acc      *access.Service
	accounts *authn.Service
	writer   *audit.Writer
	tokens   *token.Service
	outbox   *authn.Outbox
	clock    *clock
	tenant   access.Tenant
	roles    map[access.RoleKind]uuid.UUID
	// integrator is a custom role: Integrations and EditProfile.
	integrator uuid.UUID
	admin      access.Subject
	sales      access.Project
	support    access.Project
}

type envOptions struct {
	noSessions bool // authn does not end tokens: only the status check stops them
	location   func(uuid.UUID) *time.Location
}

const goodPassword = "correct horse battery staple 42"

func fastHasher() *authn.Hasher {
	return authn.NewHasher(authn.HasherOptions{Params: authn.Params{Memory: 256, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		QueueLen: 256, InsecureAllowWeakParams: true})
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{store: memory.New(memory.Options{}), outbox: &authn.Outbox{},
		clock: &clock{now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}}
	e.engine = access.NewEngine(e.store, access.EngineOptions{})
	e.acc = access.NewService(e.store, e.engine, access.ServiceOptions{Clock: e.clock.Now})
	e.writer = audit.NewWriter(e.store, audit.WriterOptions{Clock: e.clock.Now, FlushInterval: -1})
	var err error
	e.tokens, err = token.NewService(e.store, e.engine, token.Options{
		Users:    token.StatusFunc(e.userStatus),
		Actions:  e.writer,
		Clock:    e.clock.Now,
		After:    never,
		Location: o.location,
		Project:  projectOf,
	})
	require.NoError(t, err)
	opts := authn.Options{
		Mailer: e.outbox,
		LinkURL: func(p authn.Purpose, tok authn.LinkToken) string {
			return "https://app.example/" + string(p) + "#" + tok.Reveal()
		},
		Hasher: fastHasher(),
		Clock:  e.clock.Now,
	}
	if !o.noSessions {
		opts.Sessions = e.tokens
	}
	e.accounts, err = authn.NewService(e.store, e.engine, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = e.tokens.Close(context.Background())
		_ = e.writer.Close(context.Background())
	})

	e.tenant, err = e.acc.CreateTenant(ctx, "Acme Call Center")
	require.NoError(t, err)
	roles, err := e.store.Roles(ctx, e.tenant.ID)
	require.NoError(t, err)
	e.roles = map[access.RoleKind]uuid.UUID{}
	for _, r := range roles {
		e.roles[r.Kind] = r.ID
	}
	sys := access.System(e.tenant.ID)
	adminID := uuid.New()
	_, err = e.acc.SetMember(ctx, sys, adminID, e.roles[access.KindAdmin])
	require.NoError(t, err)
	e.admin = access.Subject{Tenant: e.tenant.ID, User: adminID, IP: netip.MustParseAddr("198.51.100.1")}
	r, err := e.acc.CreateRole(ctx, e.admin, access.RoleSpec{Name: "Integrator", Rights: []access.Right{access.Integrations, access.EditProfile}})
	require.NoError(t, err)
	e.integrator = r.ID
	e.sales, err = e.acc.CreateProject(ctx, e.admin, "Sales")
	require.NoError(t, err)
	e.support, err = e.acc.CreateProject(ctx, e.admin, "Support")
	require.NoError(t, err)
	return e
}

// userStatus is how the host tells token about its users: authn's status, read from
// the store (authn.Service.Status reads the same).
func (e *env) userStatus(ctx context.Context, tenant, user uuid.UUID) (authn.Status, error) {
	u, err := e.store.User(ctx, tenant, user)
	return u.Status, err
}

var linkRE = regexp.MustCompile(`csinv_[A-Za-z0-9_-]+`)

// onboard invites and accepts a user with role, member of projects; it returns the
// user's subject.
func (e *env) onboard(t testing.TB, email string, role uuid.UUID, projects ...uuid.UUID) access.Subject {
	t.Helper()
	ctx := context.Background()
	_, err := e.accounts.Invite(ctx, e.admin, authn.InviteRequest{Email: email, Name: "Test User", Role: role, Projects: projects})
	require.NoError(t, err)
	m, ok := e.outbox.Last(email)
	require.True(t, ok)
	u, err := e.accounts.AcceptInvitation(ctx, linkRE.FindString(m.Text), authn.NewPassword(goodPassword), authn.Meta{})
	require.NoError(t, err)
	return access.Subject{Tenant: u.Tenant, User: u.ID, IP: netip.MustParseAddr("198.51.100.2")}
}

// issue gives s a token named "CI".
func (e *env) issue(t testing.TB, s access.Subject) (token.Token, token.Secret) {
	t.Helper()
	tk, sec, err := e.tokens.Issue(context.Background(), s, token.IssueRequest{Name: "CI"})
	require.NoError(t, err)
	return tk, sec
}

// events returns the tenant's events of kind after flushing the writer's queue.
func (e *env) events(t *testing.T, kind audit.Kind) []audit.Event {
	t.Helper()
	e.drain(t)
	evs, err := e.store.Events(context.Background(), e.tenant.ID, audit.Query{Kind: kind, Limit: audit.MaxLimit})
	require.NoError(t, err)
	return evs
}

// drain waits until the writer has stored everything it accepted.
func (e *env) drain(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool { return e.writer.Stats().Queued == 0 }, 5*time.Second, time.Millisecond)
}

// allText is every stored event of the tenant, printed, for secret sweeps.
func (e *env) allText(t *testing.T) string {
	t.Helper()
	e.drain(t)
	evs, err := e.store.Events(context.Background(), e.tenant.ID, audit.Query{Limit: audit.MaxLimit})
	require.NoError(t, err)
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(fmtEvent(ev), "\n", " "), "\t", " "))
		b.WriteByte('\n')
	}
	return b.String()
}
