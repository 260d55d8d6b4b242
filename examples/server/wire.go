package main

// The wiring of the example server, top to bottom: database, audit, access, mail,
// accounts and sessions, host data, seed, HTTP. Copy the parts you need.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // the PostgreSQL driver, for -postgres
	_ "modernc.org/sqlite"             // embedded SQLite, no cgo

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage/pglisten"
	"github.com/callshield/callshield/storage/sqlstore"
	"github.com/callshield/callshield/token"
)

// backend is what the SDK's services need from storage: one adapter implements all of
// it over one database (storage/sqlstore; storage/memory in the benchmarks).
type backend interface {
	access.Store
	authn.Store
	audit.Retainer
	token.Store
}

// app is the wired server.
type app struct {
	cfg   config
	log   *slog.Logger
	clock func() time.Time

	store    backend
	chain    audit.Chain
	recorder *audit.Recorder // synchronous: security-relevant events
	writer   *audit.Writer   // batched: the action log of every API call
	engine   *access.Engine
	access   *access.Service
	guard    *access.Guard // tenant-wide rights
	pguard   *access.Guard // project rights: the project comes from the request
	outbox   *authn.Outbox // dev mode: mails are kept here and shown on /outbox
	accounts *authn.Service
	tokens   *token.Service // API tokens: Bearer auth, their action log, daily usage
	calls    callStore
	web      *web

	handler http.Handler
	closers []func(context.Context) error
}

// wire builds the server described by cfg on a SQL database.
func wire(ctx context.Context, cfg config, stdout io.Writer, logger *slog.Logger) (*app, error) {
	// 1. The database: embedded SQLite by default, PostgreSQL with -postgres. The program
	// opens the *sql.DB and owns it; the adapter only uses it.
	var (
		db      *sql.DB
		dialect sqlstore.Dialect
		err     error
	)
	if cfg.Postgres != "" {
		db, err = sql.Open("pgx", cfg.Postgres)
		dialect = sqlstore.Postgres
		db.SetMaxOpenConns(20)
		db.SetMaxIdleConns(20)
	} else {
		db, err = sql.Open("sqlite", sqlstore.SQLiteDSN(cfg.DB))
		dialect = sqlstore.SQLite
		db.SetMaxIdleConns(4)
	}
	if err != nil {
		return nil, err
	}

	// 2. The audit chain's key: an HMAC key kept outside the database, so that someone
	// who can write to the database cannot recompute the chain after editing it.
	// A ring of keys by ID (-audit-keys) lets the key rotate (keys.go).
	chain, err := auditChain(cfg, !cfg.Reseal)
	if err != nil {
		db.Close()
		return nil, err
	}
	if !chain.Keyed() {
		logger.Warn("audit chain without a key: set CALLSHIELD_AUDIT_KEY, -audit-key-file or -audit-keys so that an edit of the database cannot be re-chained")
	} else {
		logger.Info("audit chain keyed", "chain", chain) // key IDs only
	}

	// 3. The storage adapter and its embedded migrations.
	store, err := sqlstore.New(db, dialect, sqlstore.Options{Chain: chain})
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := store.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}

	// 4. The host's own data (call records) lives in its own table beside callshield's.
	calls := &sqlCalls{db: db, dialect: dialect}
	if err := calls.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate calls: %w", err)
	}

	// 4b. The keys that seal users' TOTP secrets (AES-256-GCM), outside the database
	// too: one key (ID 1) from CALLSHIELD_TOTP_KEY or -totp-key-file, or a keyring by ID
	// with a current key (-totp-keys or CALLSHIELD_TOTP_KEYS, -totp-key-current) for
	// rotation; keys.go, and -reseal in reseal.go.
	cfg.totpSealer, err = totpSealer(cfg, !cfg.Reseal)
	if err != nil {
		db.Close()
		return nil, err
	}
	if cfg.totpSealer == nil {
		logger.Warn("no TOTP sealing key (CALLSHIELD_TOTP_KEY, -totp-key-file, -totp-keys or CALLSHIELD_TOTP_KEYS): two-factor enrolment is off")
	}

	a, err := assemble(cfg, store, chain, calls, time.Now, logger)
	if err != nil {
		db.Close()
		return nil, err
	}
	a.closers = append(a.closers, func(context.Context) error { return db.Close() })
	if cfg.Reseal { // the one-shot command needs the services only: no listener, seed or jobs
		return a, nil
	}

	// 4c. On PostgreSQL, the policy change listener (one connection per process): while
	// it is healthy the engine serves policies without reading their version, so that a
	// request costs the session lookup alone, and a change committed by another
	// instance is enforced here within the engine's ListenLease (250 ms by default;
	// p99 8-13 ms measured). Without it, or while it reconnects, the engine reads the
	// version per request (fail safe). Given the accounts service as Sessions, it also
	// keeps authn's session cache fresh (migration 0015's session notifications), so
	// that a session's repeat requests cost no read at all while the listener vouches,
	// and an end or block on any instance stops the session here within the same
	// lease. It stops before the database is closed.
	if dialect == sqlstore.Postgres {
		l, err := pglisten.New(db, a.engine, pglisten.Options{Logger: logger, Sessions: a.accounts})
		if err != nil {
			_ = a.close(ctx)
			return nil, err
		}
		lctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = l.Run(lctx)
		}()
		a.closers = append([]func(context.Context) error{func(context.Context) error { stop(); <-done; return nil }}, a.closers...)
	}

	// 5. The demo tenant, on the first start.
	if cfg.Seed {
		if err := seed(ctx, a, stdout); err != nil {
			_ = a.close(ctx)
			return nil, fmt.Errorf("seed: %w", err)
		}
	}

	// 6. Periodic jobs: session cleanup, the retention purge of archived users, the
	// removal of expired links and two-factor enrolments, audit retention
	// (-audit-retention-days).
	a.startJobs()
	return a, nil
}

// assemble wires the SDK's services and the HTTP handler over a store. wire calls it
// with the SQL adapter; the benchmarks with the memory store.
func assemble(cfg config, store backend, chain audit.Chain, calls callStore, clock func() time.Time, logger *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, log: logger, clock: clock, store: store, chain: chain, calls: calls}

	// Audit: Record for security-relevant events (the caller learns if it was not
	// stored); a Writer with group commit for the high-volume action log. Closing the
	// Writer flushes its queue (graceful shutdown, see app.close).
	a.recorder = audit.NewRecorder(store, audit.Options{Clock: clock})
	a.writer = audit.NewWriter(store, audit.WriterOptions{Clock: clock, Logger: logger})
	a.closers = append(a.closers, a.writer.Close)

	// Access: one Engine serves every tenant's compiled policy; the Service changes
	// roles, projects, memberships and allowlists; Guards are the middleware. The
	// project Guard reads the project from the route ({project}) or ?project=.
	a.engine = access.NewEngine(store, access.EngineOptions{Clock: clock})
	a.access = access.NewService(store, a.engine, access.ServiceOptions{Clock: clock})
	a.guard = &access.Guard{Engine: a.engine, Audit: a.recorder}
	a.pguard = &access.Guard{Engine: a.engine, Audit: a.recorder, Project: requestProject}

	// Mail: in dev mode mails go to an outbox page; otherwise to an SMTP relay.
	var mailer authn.Mailer
	if cfg.Dev {
		a.outbox = &authn.Outbox{}
		mailer = a.outbox
	} else {
		m := &authn.SMTPMailer{Addr: cfg.SMTPAddr, From: cfg.SMTPFrom, InsecureNoTLS: cfg.SMTPInsecureNoTLS}
		if cfg.SMTPUser != "" {
			m.Auth = smtpAuth(cfg)
		}
		mailer = m
	}

	// Accounts: invitations, passwords, sign-in with throttling, sessions, the user
	// lifecycle (blocking a user ends their sessions, and through Sessions their token). The mailed link
	// carries its secret in the URL fragment, which browsers never send to a server.
	// API tokens: one per user with the integrations right; a token acts as its user
	// with their current status (asked of the accounts below on every request), role,
	// projects and allowlist. Every token call goes to the action log; daily usage is
	// counted in memory and flushed in batches (Close flushes the rest).
	var err error
	a.tokens, err = token.NewService(store, a.engine, token.Options{
		Users: token.StatusFunc(func(ctx context.Context, tenant, user uuid.UUID) (authn.Status, error) {
			return a.accounts.Status(ctx, tenant, user)
		}),
		Actions:        a.writer,
		TrustedProxies: cfg.TrustedProxies,
		Project:        requestProject,
		Clock:          clock,
		Logger:         logger,
	})
	if err != nil {
		return nil, err
	}
	// At shutdown the token service flushes its usage counters first, then the Writer
	// its queue (which holds the token calls' action-log events): closers run in order.
	a.closers = append([]func(context.Context) error{a.tokens.Close}, a.closers...)

	// Linked identities: the providers the flags configure (none by default).
	providers, err := identityProviders(context.Background(), cfg)
	if err != nil {
		return nil, err
	}

	a.accounts, err = authn.NewService(store, a.engine, authn.Options{
		Mailer: mailer,
		LinkURL: func(p authn.Purpose, tok authn.LinkToken) string {
			page := "invite"
			switch p {
			case authn.PurposePasswordReset:
				page = "reset"
			case authn.PurposeIdentityConfirm:
				page = "confirm-identity"
			}
			return cfg.PublicURL + "/" + page + "#" + tok.Reveal()
		},
		Audit:    a.recorder,
		Sessions: a.tokens, // blocking, archiving or removing a user revokes their token
		Identity: authn.IdentityOptions{Providers: providers},
		// Two-factor: TOTP secrets are stored sealed with this key ring.
		TwoFactorSealer: cfg.totpSealer,
		Clock:           clock,
	})
	if err != nil {
		return nil, err
	}

	// HTTP: the routes, then the chain every request passes: security headers (with
	// HSTS whenever cookies are Secure, i.e. unless in loopback dev mode), cross-origin protection for state-changing requests, the client address (through
	// trusted proxies only), and the session that becomes an access.Subject.
	a.web, err = newWeb(a)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	a.routes(mux)
	var h http.Handler = mux
	h = a.authenticate(h)
	h = crossOrigin(h)
	h = securityHeaders(h, a.secureCookies())
	a.handler = h
	return a, nil
}

// close flushes the audit queue and closes the database, in that order.
func (a *app) close(ctx context.Context) error {
	var errs []error
	for _, c := range a.closers {
		if err := c(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// loadKey returns a 32-byte secret key kept outside the database: the environment
// variable env (hex), else the key file (created with 32 random bytes on first start
// when create is true; missing is an error otherwise), else none (PostgreSQL without
// either: the feature that needs it says what it lacks). The audit chain's HMAC key and
// the single TOTP sealing key come from here.
func loadKey(env, file string, create bool) ([]byte, error) {
	if v := os.Getenv(env); v != "" {
		k, err := hex.DecodeString(strings.TrimSpace(v))
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("%s must be 32 bytes in hex", env)
		}
		return k, nil
	}
	if file == "" {
		return nil, nil
	}
	if b, err := os.ReadFile(file); err == nil {
		k, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("%s: not a hex key of 32 bytes", file)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if !create {
		return nil, fmt.Errorf("%s: no such key file (the server creates it on its first start)", file)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.WriteFile(file, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return k, nil
}
