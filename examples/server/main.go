// Command server is callshield's example call-center back office: the whole SDK wired
// into one runnable program with a JSON API and a server-rendered web UI.
//
//	go run ./examples/server
//
// starts it on 127.0.0.1:8080 with an embedded SQLite database (callshield-demo.db),
// migrates the schema and, on the first start, seeds a demo tenant "demo" whose admin
// is admin@demo.test (the password is printed once). The wiring reads top to bottom in
// wire.go; the handlers live in files named after their area (api_users.go, calls.go,
// web.go, ...). See README.md beside this file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/callshield/callshield/authn/totp"
)

// config is everything the flags and environment set.
type config struct {
	Addr           string
	DB             string // SQLite file
	Postgres       string // PostgreSQL DSN; when set, used instead of SQLite
	TrustedProxies []netip.Prefix
	Dev            bool
	PublicURL      string // the base of links in mails; default http://ADDR
	AdminPassword  string // the demo admin's password on first start; random if empty
	AuditKeyFile   string // where the audit chain's HMAC key lives; default DB + ".auditkey"
	TOTPKeyFile    string // where the key sealing TOTP secrets lives; default DB + ".totpkey"
	Seed           bool
	// AuditRetention is how long audit events are kept (-audit-retention-days); the
	// daily job deletes older ones behind a sealed checkpoint. 0 keeps them forever.
	AuditRetention time.Duration
	// TOTPRing is the TOTP keyring of -totp-keys or CALLSHIELD_TOTP_KEYS with
	// -totp-key-current; when given it replaces TOTPKeyFile (keys.go).
	TOTPRing keyRing
	// AuditRing is the audit chain's keyring of -audit-keys or CALLSHIELD_AUDIT_KEYS
	// with -audit-key-current; when given it replaces AuditKeyFile (keys.go).
	AuditRing keyRing
	// Reseal makes the program a one-shot command: move every stored sealed secret to
	// the current key (authn.ResealSecrets), print the report and exit (reseal.go).
	Reseal bool

	SMTPAddr, SMTPFrom, SMTPUser, SMTPPassword string
	SMTPInsecureNoTLS                          bool

	OIDC oidcConfig

	totpSealer *totp.Sealer // built by wire from the TOTP key
}

// oidcConfig holds the identity providers a tenant's users may link (wired when linked
// identities are available in the SDK).
type oidcConfig struct {
	GoogleClientID, GoogleClientSecret     string
	FacebookClientID, FacebookClientSecret string
	Issuer, ClientID, ClientSecret         string
}

type prefixList []netip.Prefix

func (p *prefixList) String() string {
	s := make([]string, len(*p))
	for i, x := range *p {
		s[i] = x.String()
	}
	return strings.Join(s, ",")
}

func (p *prefixList) Set(v string) error {
	x, err := netip.ParsePrefix(strings.TrimSpace(v))
	if err != nil {
		a, err2 := netip.ParseAddr(strings.TrimSpace(v))
		if err2 != nil {
			return fmt.Errorf("not a CIDR prefix or address: %q", v)
		}
		x = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
	}
	*p = append(*p, x.Masked())
	return nil
}

// parseConfig reads the flags in args and the environment (getenv).
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	var proxies prefixList
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&c.DB, "db", "callshield-demo.db", "SQLite database file")
	fs.StringVar(&c.Postgres, "postgres", "", "PostgreSQL DSN (instead of SQLite), e.g. postgres://user@host/db")
	fs.Var(&proxies, "trusted-proxy", "CIDR of a reverse proxy whose X-Forwarded-For is believed (repeatable)")
	fs.BoolVar(&c.Dev, "dev", true, "development mode: mails go to an outbox page, cookies may travel over plain HTTP on loopback")
	fs.StringVar(&c.PublicURL, "public-url", "", "base URL of links in mails (default http://ADDR)")
	fs.StringVar(&c.AdminPassword, "admin-password", getenv("CALLSHIELD_DEMO_ADMIN_PASSWORD"), "password of admin@demo.test on first start (default: random, printed once; env CALLSHIELD_DEMO_ADMIN_PASSWORD)")
	fs.StringVar(&c.AuditKeyFile, "audit-key-file", "", "file holding the audit chain's HMAC key, created if missing (default: DB file + .auditkey; env CALLSHIELD_AUDIT_KEY overrides)")
	fs.StringVar(&c.TOTPKeyFile, "totp-key-file", "", "file holding the AES-256 key that seals TOTP secrets, created if missing (default: DB file + .totpkey; env CALLSHIELD_TOTP_KEY overrides)")
	totpKeys := fs.String("totp-keys", "", "TOTP keyring as ID:FILE,ID:FILE (each file 32 bytes in hex, made beforehand), instead of -totp-key-file; env CALLSHIELD_TOTP_KEYS gives ID:HEX,ID:HEX instead")
	totpCurrent := fs.String("totp-key-current", getenv("CALLSHIELD_TOTP_KEY_CURRENT"), "ID of the ring key that seals new TOTP secrets (needed when the ring has more than one key; env CALLSHIELD_TOTP_KEY_CURRENT)")
	auditKeys := fs.String("audit-keys", "", "audit chain keyring as ID:FILE,ID:FILE (each file 32 bytes in hex, made beforehand), instead of -audit-key-file; env CALLSHIELD_AUDIT_KEYS gives ID:HEX,ID:HEX instead")
	auditCurrent := fs.String("audit-key-current", getenv("CALLSHIELD_AUDIT_KEY_CURRENT"), "ID of the ring key that links new audit events (needed when the ring has more than one key; env CALLSHIELD_AUDIT_KEY_CURRENT)")
	fs.BoolVar(&c.Reseal, "reseal", false, "one-shot: reseal every stored TOTP secret under the current key, print the report and exit (0 when nothing was found under another key); no HTTP server")
	fs.BoolVar(&c.Seed, "seed", true, "seed the demo tenant on first start")
	auditDays := fs.Int("audit-retention-days", defaultAuditRetentionDays, "days audit events are kept before the daily job deletes them (every tenant; 0 keeps them forever)")
	fs.StringVar(&c.SMTPAddr, "smtp-addr", "", "SMTP relay host:port (used when -dev=false)")
	fs.StringVar(&c.SMTPFrom, "smtp-from", "callshield@localhost", "sender address of mails")
	fs.StringVar(&c.SMTPUser, "smtp-user", "", "SMTP user (the password comes from env CALLSHIELD_SMTP_PASSWORD)")
	fs.BoolVar(&c.SMTPInsecureNoTLS, "smtp-insecure-no-tls", false, "send without STARTTLS (a relay on localhost only)")
	fs.StringVar(&c.OIDC.GoogleClientID, "google-client-id", "", "Google OAuth client ID (secret: env CALLSHIELD_GOOGLE_CLIENT_SECRET)")
	fs.StringVar(&c.OIDC.FacebookClientID, "facebook-client-id", "", "Facebook app ID (secret: env CALLSHIELD_FACEBOOK_CLIENT_SECRET)")
	fs.StringVar(&c.OIDC.Issuer, "oidc-issuer", "", "issuer URL of a generic OpenID Connect provider")
	fs.StringVar(&c.OIDC.ClientID, "oidc-client-id", "", "client ID at the generic provider (secret: env CALLSHIELD_OIDC_CLIENT_SECRET)")
	err := fs.Parse(args)
	if err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *auditDays < 0 || *auditDays > maxAuditRetentionDays {
		return c, fmt.Errorf("-audit-retention-days must be 0 (keep forever) to %d", maxAuditRetentionDays)
	}
	c.AuditRetention = time.Duration(*auditDays) * 24 * time.Hour
	c.TrustedProxies = proxies
	c.SMTPPassword = getenv("CALLSHIELD_SMTP_PASSWORD")
	c.OIDC.GoogleClientSecret = getenv("CALLSHIELD_GOOGLE_CLIENT_SECRET")
	c.OIDC.FacebookClientSecret = getenv("CALLSHIELD_FACEBOOK_CLIENT_SECRET")
	c.OIDC.ClientSecret = getenv("CALLSHIELD_OIDC_CLIENT_SECRET")
	c.PublicURL = strings.TrimRight(c.PublicURL, "/") // empty: set from the listener in run
	c.AuditRing, err = parseKeyRing("-audit-keys", *auditKeys, "CALLSHIELD_AUDIT_KEYS", getenv("CALLSHIELD_AUDIT_KEYS"), "-audit-key-current", *auditCurrent)
	if err != nil {
		return c, err
	}
	if c.AuditRing.given() {
		if c.AuditKeyFile != "" || getenv("CALLSHIELD_AUDIT_KEY") != "" {
			return c, &keyRingError{Source: c.AuditRing.source, Reason: "replaces the single key: do not also give -audit-key-file or CALLSHIELD_AUDIT_KEY (list that key in the ring as ID 1)"}
		}
	} else if c.AuditKeyFile == "" && c.Postgres == "" {
		c.AuditKeyFile = c.DB + ".auditkey"
	}
	c.TOTPRing, err = parseKeyRing("-totp-keys", *totpKeys, "CALLSHIELD_TOTP_KEYS", getenv("CALLSHIELD_TOTP_KEYS"), "-totp-key-current", *totpCurrent)
	if err != nil {
		return c, err
	}
	if c.TOTPRing.given() {
		if c.TOTPKeyFile != "" || getenv("CALLSHIELD_TOTP_KEY") != "" {
			return c, &keyRingError{Source: c.TOTPRing.source, Reason: "replaces the single key: do not also give -totp-key-file or CALLSHIELD_TOTP_KEY (list that key in the ring as ID 1)"}
		}
	} else if c.TOTPKeyFile == "" && c.Postgres == "" {
		c.TOTPKeyFile = c.DB + ".totpkey"
	}
	if !c.Dev && c.SMTPAddr == "" {
		return c, errors.New("-dev=false needs -smtp-addr (mails must go somewhere)")
	}
	return c, nil
}

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.Reseal {
		done, err := reseal(ctx, cfg, os.Stdout, logger)
		stop()
		switch {
		case err != nil:
			fmt.Fprintln(os.Stderr, "server: reseal:", err)
			os.Exit(1)
		case !done:
			os.Exit(exitResealNotDone)
		}
		return
	}
	if err := run(ctx, cfg, os.Stdout, logger); err != nil {
		logger.Error("server stopped", "err", err)
		os.Exit(1)
	}
}

// run wires the server, serves until ctx ends, then shuts down gracefully: it stops
// accepting requests, waits for those in flight, and flushes the audit queue.
func run(ctx context.Context, cfg config, stdout io.Writer, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + ln.Addr().String()
	}
	a, err := wire(ctx, cfg, stdout, logger)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "callshield demo listening on http://%s\n", ln.Addr())

	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutdownCtx); serr != nil && err == nil {
		err = serr
	}
	if cerr := a.close(shutdownCtx); cerr != nil && err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
