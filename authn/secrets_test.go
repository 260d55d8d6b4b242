package authn_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/internal/sqlitetest"
	"github.com/callshield/callshield/storage/sqlstore"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSecretSweep runs every account flow with known passwords and link secrets over the
// SQL adapter (SQLite), then searches every audit event, every log line, every returned
// error and every column of every table for them (ASVS 16.2.5, 11.5.1 for link secrets).
// Only hashes of the secrets may be stored; the mails, which carry the links, are the
// one place a link secret is meant to go.
func TestSecretSweep(t *testing.T) {
	ctx := context.Background()
	db := sqlitetest.DB(t)
	store, err := sqlstore.New(db, sqlstore.SQLite, sqlstore.Options{})
	require.NoError(t, err)
	require.NoError(t, store.Migrate(ctx))

	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	outbox := &authn.Outbox{}
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	clk := func() time.Time { return now }
	engine := access.NewEngine(store, access.EngineOptions{})
	acc := access.NewService(store, engine, access.ServiceOptions{Clock: clk})
	svc, err := authn.NewService(store, engine, authn.Options{Mailer: outbox, Hasher: fastHasher(), Clock: clk,
		Audit:   audit.NewRecorder(store, audit.Options{Clock: clk}),
		LinkURL: func(p authn.Purpose, tok authn.LinkToken) string { return "https://app.example/#" + tok.Reveal() }})
	require.NoError(t, err)

	tenant, err := acc.CreateTenant(ctx, "Sweep Co")
	require.NoError(t, err)
	roles, err := store.Roles(ctx, tenant.ID)
	require.NoError(t, err)
	kinds := map[access.RoleKind]uuid.UUID{}
	for _, r := range roles {
		kinds[r.Kind] = r.ID
	}
	admin := access.Subject{Tenant: tenant.ID, User: uuid.New(), IP: netip.MustParseAddr("198.51.100.1")}
	_, err = acc.SetMember(ctx, access.System(tenant.ID), admin.User, kinds[access.KindAdmin])
	require.NoError(t, err)

	secrets := []string{
		"Kx7q-Secret-Accept-PW-0001", "Kx7q-Secret-Changed-PW-0002", "Kx7q-Secret-Reset-PW-0003",
		"Kx7q-Secret-Wrong-PW-0004", "Kx7q-Weak", // a rejected password
	}
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	logSecrets := func(args ...any) { logger.Info("flow", args...) }

	_, err = svc.Invite(ctx, admin, authn.InviteRequest{Email: "sweep@example.com", Name: "Sweep", Role: kinds[access.KindAgent]})
	require.NoError(t, err)
	inv := tokenRE.FindString(mustMail(t, outbox, "sweep@example.com"))
	secrets = append(secrets, inv)
	_, err = svc.AcceptInvitation(ctx, inv, authn.NewPassword(secrets[4]), authn.Meta{})
	keep(err)
	require.Error(t, err)
	u, err := svc.AcceptInvitation(ctx, inv, authn.NewPassword(secrets[0]), authn.Meta{UserAgent: "Mozilla/5.0"})
	require.NoError(t, err)
	_, err = svc.AcceptInvitation(ctx, inv, authn.NewPassword(secrets[0]), authn.Meta{})
	keep(err)
	_, err = svc.Authenticate(ctx, tenant.ID, "sweep@example.com", authn.NewPassword(secrets[3]), authn.Meta{})
	keep(err)
	_, err = svc.Authenticate(ctx, tenant.ID, secrets[3], authn.NewPassword(secrets[3]), authn.Meta{}) // a password typed as the e-mail
	keep(err)
	_, err = svc.Authenticate(ctx, tenant.ID, "sweep@example.com", authn.NewPassword(secrets[0]), authn.Meta{})
	require.NoError(t, err)
	// Sessions: a sign-in, a request, a rotation, a pending sign-in completed, a logout.
	signed, err := svc.SignIn(ctx, tenant.ID, "sweep@example.com", authn.NewPassword(secrets[0]), authn.Meta{UserAgent: "Mozilla/5.0"})
	require.NoError(t, err)
	v, err := svc.ValidateSession(ctx, signed.Token.Reveal(), authn.Request{Path: "/x"}, time.Nanosecond)
	require.NoError(t, err)
	rotated, err := svc.RotateSession(ctx, v.Subject)
	require.NoError(t, err)
	_, err = svc.ValidateSession(ctx, signed.Token.Reveal(), authn.Request{}, 0)
	keep(err)
	authn.SetSecondFactor(svc, &authn.TestSecondFactor{Enrolled: map[uuid.UUID]bool{u.ID: true}, Code: "Kx7q-2fa-code-0005"})
	pending, err := svc.SignIn(ctx, tenant.ID, "sweep@example.com", authn.NewPassword(secrets[0]), authn.Meta{})
	require.NoError(t, err)
	_, err = svc.CompleteSignIn(ctx, pending.PendingToken.Reveal(), authn.FactorTOTP, "wrong", authn.Meta{})
	keep(err)
	done, err := svc.CompleteSignIn(ctx, pending.PendingToken.Reveal(), authn.FactorTOTP, "Kx7q-2fa-code-0005", authn.Meta{})
	require.NoError(t, err)
	authn.SetSecondFactor(svc, nil)
	require.NoError(t, svc.Logout(ctx, v.Subject))
	sessionTokens := []string{signed.Token.Reveal(), rotated.Reveal(), pending.PendingToken.Reveal(), done.Token.Reveal()}
	secrets = append(secrets, sessionTokens...)
	logSecrets("token", signed.Token, "result", signed, "session", v.Session)
	logger.Info(fmt.Sprintf("%v %+v %#v %s", rotated, rotated, done, done.Token))
	me := access.Subject{Tenant: tenant.ID, User: u.ID}
	keep(svc.ChangePassword(ctx, me, authn.NewPassword(secrets[3]), authn.NewPassword(secrets[1]), false))
	require.NoError(t, svc.ChangePassword(ctx, me, authn.NewPassword(secrets[0]), authn.NewPassword(secrets[1]), true))
	require.NoError(t, svc.ForcePasswordReset(ctx, admin, u.ID))
	rst := tokenRE.FindString(mustMail(t, outbox, "sweep@example.com"))
	secrets = append(secrets, rst)
	_, err = svc.ResetPassword(ctx, rst, authn.NewPassword(secrets[2]), authn.Meta{})
	require.NoError(t, err)
	_, err = svc.ResetPassword(ctx, rst, authn.NewPassword(secrets[2]), authn.Meta{})
	keep(err)
	require.NoError(t, svc.Block(ctx, admin, u.ID))
	_, err = svc.Authenticate(ctx, tenant.ID, "sweep@example.com", authn.NewPassword(secrets[2]), authn.Meta{})
	keep(err)
	require.NoError(t, svc.Remove(ctx, admin, u.ID))

	// The secret types are logged as a careless host would log them.
	pw := authn.NewPassword(secrets[0])
	logSecrets("password", pw, "struct", struct{ P authn.Password }{pw}, "mail", authn.Mail{To: "sweep@example.com", Text: inv})
	logger.Info(fmt.Sprintf("%v %+v %#v %s", pw, pw, pw, pw))

	// Search everything. A link secret is also looked for by its random part alone.
	needles := append([]string(nil), secrets...)
	for _, tok := range append([]string{inv, rst}, sessionTokens...) {
		raw, err := base64.RawURLEncoding.DecodeString(tok[strings.IndexByte(tok, '_')+1:])
		require.NoError(t, err)
		needles = append(needles, string(raw[16:]), base64.RawURLEncoding.EncodeToString(raw[16:]), fmt.Sprintf("%x", raw[16:]))
	}
	var haystacks []string
	events, err := store.Events(ctx, tenant.ID, audit.Query{Limit: audit.MaxLimit})
	require.NoError(t, err)
	require.NotEmpty(t, events)
	for _, e := range events {
		b, err := json.Marshal(e)
		require.NoError(t, err)
		haystacks = append(haystacks, "event "+e.Action+": "+string(b)+fmt.Sprintf("%+v", e))
	}
	haystacks = append(haystacks, "logs: "+logs.String())
	for _, err := range errs {
		haystacks = append(haystacks, "error: "+err.Error())
	}
	haystacks = append(haystacks, dumpTables(t, db)...)
	for _, h := range haystacks {
		for _, n := range needles {
			if strings.Contains(h, n) {
				t.Errorf("secret %q found in %.80s…", n[:min(len(n), 12)], h)
			}
		}
	}
	assert.GreaterOrEqual(t, len(haystacks), len(events)+4, "events, logs, errors and rows were all searched")
	assert.Contains(t, logs.String(), "[REDACTED]", "the secret types logged themselves redacted")
}

func mustMail(t *testing.T, o *authn.Outbox, to string) string {
	t.Helper()
	m, ok := o.Last(to)
	require.True(t, ok)
	return m.Text
}

// dumpTables returns one string per row of every table, every column as text.
func dumpTables(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		tables = append(tables, n)
	}
	require.NoError(t, rows.Close())
	require.Contains(t, tables, "cs_users")
	var out []string
	for _, tbl := range tables {
		r, err := db.Query(`SELECT * FROM "` + tbl + `"`)
		require.NoError(t, err)
		cols, err := r.Columns()
		require.NoError(t, err)
		for r.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, r.Scan(ptrs...))
			var b strings.Builder
			b.WriteString("table " + tbl + ":")
			for _, v := range vals {
				switch x := v.(type) {
				case []byte:
					b.Write(x)
					b.WriteString(" " + fmt.Sprintf("%x", x))
				default:
					fmt.Fprintf(&b, " %v", x)
				}
			}
			out = append(out, b.String())
		}
		require.NoError(t, r.Close())
	}
	return out
}
